"""The torch backend on a CUDA device against the CPU (float64) and the NumPy core; skipped
without CUDA.  Run on a GPU machine with ``pytest -m gpu`` (scripts/gpu_check.sh does).

``DFC_TEST_DEVICE=cpu`` runs the same tests on the CPU (to check the tests themselves on a
machine without a GPU)."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dfc_theory as dt  # noqa: E402
import dfc_theory.torch as dtt  # noqa: E402
from dfc_theory import feedback, learning  # noqa: E402
from dfc_theory.torch import learning as tlearning  # noqa: E402

DEVICE = os.environ.get("DFC_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.torch, pytest.mark.gpu,
              pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(),
                                 reason="needs a CUDA device")]

REL = 1e-10  # float64 on both sides: different BLAS, same formulas (see test_torch_equivalence)


def close(got, want, rel=REL):
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    want = np.asarray(want)
    scale = max(np.max(np.abs(want)), 1e-300)
    assert np.max(np.abs(got - want)) <= rel * scale


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    net = dt.Network.random([6, 7, 5, 3], seed=1, bias_scale=0.2)
    x = rng.standard_normal((5, 6))
    tgt = net.forward(x).output + 0.1 * rng.standard_normal((5, 3))
    sys_np = dt.DFCSystem(net, feedback.weight_product(net),
                          dt.Controller(alpha=0.1, k_p=1.5, tau_v=0.2, leak="total",
                                        tau_A=0.05, sigma=0.01))
    return sys_np, dtt.DFCSystem.from_numpy(sys_np, dtype=torch.float64, device=DEVICE), x, tgt


def test_network_steady_states_and_simulation_on_cuda_match_numpy(case):
    sys_np, sys_c, x, tgt = case
    net, cnet = sys_np.network, sys_c.network
    assert cnet.device.type == torch.device(DEVICE).type
    close(cnet.forward(x).v_stacked, net.forward(x).v_stacked)
    close(cnet.jacobian(x), net.jacobian(x))
    M = np.random.default_rng(2).standard_normal((net.n_total, 3))
    close(cnet.jacobian_product(x, M), net.jacobian(x) @ M)
    for method in ("ssa", "newton"):
        close(dtt.steady_state(sys_c, x, tgt, method=method).u,
              dt.steady_state(sys_np, x, tgt, method=method).u)
    kw = dict(dt=0.01, n_steps=200, record="full")
    a = dt.simulate(sys_np, x, tgt, seed=np.random.default_rng(3), **kw)
    b = dtt.simulate(sys_c, x, tgt, seed=np.random.default_rng(3), **kw)
    close(b.v, a.v)
    close(b.u, a.u)
    # the fast path: noise from a torch Generator on the device, reproducible by seed
    c1 = dtt.simulate(sys_c, x, tgt, seed=7, **kw)
    c2 = dtt.simulate(sys_c, x, tgt, seed=7, **kw)
    assert torch.equal(c1.v, c2.v) and c1.v.device.type == torch.device(DEVICE).type


@pytest.mark.parametrize("method", ["dfc", "dfc-ss", "dfc-ssa", "bp", "dfa"])
def test_learning_rules_on_cuda_match_numpy(case, method):
    sys_np, sys_c, x, tgt = case
    ctrl = sys_np.controller.replace(sigma=0.0)
    kw = dict(method=method, controller=ctrl, dt=0.02, n_steps=100)
    a = learning.forward_update(sys_np.network, x, tgt, Q=sys_np.Q,
                                dfa_feedback=learning.dfa_feedback(sys_np.network, seed=1), **kw)
    b = tlearning.forward_update(sys_c.network, x, tgt, Q=sys_c.Q,
                                 dfa_feedback=tlearning.dfa_feedback(sys_c.network, seed=1), **kw)
    close(b.update.vector(), a.update.vector())


def test_float32_training_run_on_cuda(tmp_path):
    from dfc_theory.torch import records, train
    cfg = train.FullScaleConfig(method="dfc-ssa", sizes=(784, 64, 64, 10), n_train=512,
                                epochs=1, fb_pretrain_epochs=1, device=DEVICE, log_every=2)
    r = train.train_run(cfg, seed=0, progress=False, out=tmp_path)
    assert r["summary"]["status"] == "complete"
    assert r["environment"]["device"].startswith(DEVICE) and r["environment"]["device_name"]
    a = r["alignment"][0]
    assert a["descent_frac"] == 1.0 and a["abscissa"] < 0 and a["newton_converged"] == 128
    assert len(records.load_records(tmp_path)) == 1
