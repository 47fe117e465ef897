"""What only the torch backend has: its entry points, dtype and device rules, torch-only
oracles (autodiff), noise sources, the batched-solve workaround.  Every numerical function
is otherwise tested on both backends by the core's own tests (the ``backend`` fixture of
conftest.py), NumPy float64 being the oracle at the same tolerances.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dfc_theory as dt  # noqa: E402
import dfc_theory.torch as dtt  # noqa: E402
from dfc_theory import feedback, gauss_newton, learning  # noqa: E402
from dfc_theory._backend import solve  # noqa: E402

pytestmark = pytest.mark.torch

REL = 1e-10
F64 = torch.float64


def assert_close(got, want, rel=REL):
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(np.max(np.abs(want)), 1e-300)
    err = np.max(np.abs(got - want))
    assert err <= rel * scale, f"max abs error {err:.3e} > {rel:g} * {scale:.3e}"


def _case(sizes=(5, 6, 4, 3), seed=0, B=4, **ctrl):
    rng = np.random.default_rng(seed)
    net = dt.Network.random(sizes, seed=int(rng.integers(2**31)), bias_scale=0.2)
    x = rng.standard_normal((B, net.n_in))
    tgt = net.forward(x).output + 0.1 * rng.standard_normal((B, net.n_out))
    ctrl.setdefault("alpha", 0.2)
    sys_np = dt.DFCSystem(net, feedback.weight_product(net), dt.Controller(**ctrl))
    return sys_np, dtt.DFCSystem.from_numpy(sys_np, dtype=F64), x, tgt


# ------------------------------------------------------------------------- dtype and device
def test_dtype_and_device_follow_the_input():
    w64 = [np.random.default_rng(0).standard_normal((3, 2))]
    net = dtt.Network(w64)
    assert net.dtype == torch.float64 and net.device.type == "cpu"
    x = np.ones((2, 2))                                   # float64 NumPy input
    assert net(x).dtype == torch.float64
    sys_t = dtt.DFCSystem(net, np.ones((3, 3)), dt.Controller(alpha=0.5))
    for res in (dt.steady_state(sys_t, x, np.zeros((2, 3))),
                dt.steady_state(sys_t, x, np.zeros((2, 3)), method="ssa")):
        assert res.u.dtype == res.v.dtype == torch.float64
    assert dt.simulate(sys_t, x, np.zeros((2, 3)), dt=0.01, n_steps=5).u.dtype == torch.float64
    # float32 tensors stay float32 (and NumPy inputs are converted to them); dtype= wins
    net32 = dtt.Network([torch.as_tensor(w64[0], dtype=torch.float32)])
    assert net32.dtype == torch.float32 and net32(x).dtype == torch.float32
    assert dtt.Network(w64, dtype="float32").dtype == torch.float32
    assert dtt.Network.random([3, 2], seed=0).dtype == torch.get_default_dtype()
    assert dtt.Network.from_numpy(dt.Network(w64)).to(dtype="float32").dtype == torch.float32
    # the NumPy core stays NumPy float64 whatever the input
    assert isinstance(dt.Network(w64).forward(torch.ones(2)).output, np.ndarray)


def test_entry_points_are_the_core_functions():
    for name in ("simulate", "steady_state", "forward_update", "rule_at_state", "angle",
                 "condition2_ratio", "output_target", "feedback_update", "train_feedback",
                 "Controller", "SteadyState", "SimulationResult", "Update"):
        assert getattr(dtt, name) is getattr(dt, name) or \
            getattr(dtt, name) is getattr(learning, name, None), name
    assert issubclass(dtt.Network, dt.Network) and issubclass(dtt.DFCSystem, dt.DFCSystem)
    for name in dtt.__all__:
        assert hasattr(dtt, name), name
    from dfc_theory.torch import gauss_newton as tgn
    assert tgn.gn_update is gauss_newton.gn_update
    with pytest.raises(TypeError, match="network: expected a dfc_theory.torch.Network"):
        dtt.DFCSystem(dt.Network.random([2, 2], seed=0), np.eye(2), dt.Controller(alpha=1))


def test_torch_network_names_weights_that_are_not_a_nonempty_sequence():
    # the core's message, not len()'s "object of type 'NoneType' has no len()"
    for bad, exc in ((None, TypeError), (5, TypeError), ("abc", TypeError), ([], ValueError)):
        with pytest.raises(exc, match="^weights: "):
            dtt.Network(bad)


def test_random_network_draws_the_same_numbers_as_numpy():
    a = dt.Network.random([7, 5, 3], seed=11, bias_scale=0.1)
    b = dtt.Network.random([7, 5, 3], seed=11, bias_scale=0.1, dtype=F64)
    for w, tw in zip(a.weights + a.biases, b.weights + b.biases):
        assert_close(tw, w, rel=0)
    assert b.to_numpy().sizes == a.sizes


# ------------------------------------------------------------------------- autodiff oracles
def test_jacobian_matches_autodiff():
    # an independent oracle: J = d r_L / d delta at delta = 0 for the perturbed pass
    # v_i = W_i r_{i-1} + b_i + delta_i (THEORY.md section 1), by torch.func.jacrev
    sys_np, sys_t, x, _ = _case(sizes=(3, 5, 4, 2))
    tnet = sys_t.network
    xt = torch.as_tensor(x)
    zero = torch.zeros(tnet.n_total, dtype=F64)
    for b in range(x.shape[0]):
        J_auto = torch.func.jacrev(lambda d: tnet.forward(xt[b], delta=d).output)(zero)
        assert_close(J_auto, sys_np.network.jacobian(x[b]))
        assert_close(tnet.jacobian(xt[b]), J_auto.numpy())


def test_bp_update_equals_autograd_gradient():
    # independent oracle: -lambda * autograd gradient of the batch-mean loss
    sys_np, sys_t, x, _ = _case(sizes=(6, 7, 5, 3))
    tnet = sys_t.network
    y = torch.as_tensor(np.random.default_rng(9).standard_normal((x.shape[0], 3)))
    params = [p.clone().requires_grad_(True) for p in tnet.parameters()]
    net2 = tnet.clone()
    net2.weights, net2.biases = params[0::2], params[1::2]  # differentiable parameters
    loss = dtt.loss_value(net2(x), y, "mse", "batch_mean")
    grads = torch.autograd.grad(loss, params)
    lam = 0.3
    d = dtt.output_target(tnet(x), y, lam, "mse", "sum") - tnet(x)
    upd = gauss_newton.bp_update(tnet, x, d)
    assert_close(upd.vector(), torch.cat([-lam * g.reshape(-1) for g in grads]).numpy())


# ------------------------------------------------------------------------- noise sources
@pytest.mark.parametrize("sigma_out", [None, 0.0, 0.05])
def test_noise_sources(sigma_out):
    sys_np, sys_t, x, tgt = _case(leak="total", k_p=1.0, tau_v=0.2, tau_A=0.05, sigma=0.02)
    kw = dict(dt=0.01, n_steps=200, record="full", sigma_out=sigma_out)
    # a NumPy Generator gives NumPy's numbers on every backend
    a = dt.simulate(sys_np, x, tgt, seed=np.random.default_rng(42), **kw)
    b = dt.simulate(sys_t, x, tgt, seed=np.random.default_rng(42), **kw)
    for name in ("u", "v", "v_fb_final", "u_final"):
        assert_close(getattr(b, name), getattr(a, name))
    # the same noise passed pre-drawn gives the same trajectory again (both backends)
    pre = np.random.default_rng(42).standard_normal((200, x.shape[0], sys_np.network.n_total))
    assert_close(dt.simulate(sys_t, x, tgt, noise=pre, **kw).v, a.v)
    assert_close(dt.simulate(sys_np, x, tgt, noise=pre, **kw).v, a.v)
    # an int seed draws with a torch Generator on the device: reproducible, not NumPy's
    c1, c2 = (dt.simulate(sys_t, x, tgt, seed=7, **kw) for _ in range(2))
    assert torch.equal(c1.v, c2.v) and float((c1.v - b.v).abs().max()) > 1e-6


# ------------------------------------------------------------------------- solves
def test_batched_solves_work_around_the_cpu_lu_bug():
    # pytorch#142815: batched CPU LU solves of n > ~150 fail with > 1 thread; the backend's
    # solve must still return the right answer (here checked by the residual)
    n_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        A = torch.randn(3, 200, 200, dtype=F64, generator=g) + 20 * torch.eye(200, dtype=F64)
        b = torch.randn(3, 200, 2, dtype=F64, generator=g)
        assert float((A @ solve(A, b) - b).abs().max()) <= 1e-10
    finally:
        torch.set_num_threads(n_threads)


def test_singular_solves_fall_back_to_least_squares_on_both_backends():
    A = np.stack([np.eye(2), np.array([[1.0, 1.0], [1.0, 1.0]])])
    b = np.array([[[1.0], [2.0]], [[2.0], [2.0]]])
    want = np.stack([np.array([[1.0], [2.0]]), np.linalg.pinv(A[1]) @ b[1]])
    assert_close(solve(A, b), want)
    assert_close(solve(torch.as_tensor(A), torch.as_tensor(b)), want)


@pytest.mark.parametrize("module", ["dfc_theory.torch", "dfc_theory.torch.train"])
def test_command_line_runs_under_both_names(module):
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", module, "--help"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "--method" in res.stdout and "python -m dfc_theory.torch" in res.stdout
