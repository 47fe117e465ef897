"""The verification suite: the runner, each check passing on the real code, and each check
FAILING when its premise is deliberately broken (a check that cannot fail is a defect)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import dfc_theory as dfc
import verification
from verification import Context
from verification.__main__ import main, run_checks

QUICK = ["lemma1", "condition2", "theorem2", "theorem3", "proposition4", "identities",
         "dfc_variants", "theorem6"]


@pytest.fixture
def ctx(tmp_path):
    return Context(mode="quick", seed=0, out=tmp_path)


def _run(ctx, name):
    return run_checks(ctx, [name], log=lambda *a, **k: None)


@pytest.mark.parametrize("name", QUICK + [pytest.param("stability", marks=pytest.mark.slow)])
def test_check_passes(ctx, name):
    results = _run(ctx, name)
    assert results, f"{name} produced no result"
    for r in results:
        assert r.passed, (r.name, r.measured, r.details.get("traceback"))
        assert r.claim and r.tolerance and r.why and r.reference
        if r.plot:
            assert (ctx.out / r.plot).exists()


def test_runner_writes_reports_and_exit_code(tmp_path, capsys):
    assert main(["--only", "condition2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["meta"]["total"] == data["meta"]["passed"] == 3
    md = (tmp_path / "report.md").read_text()
    assert "3/3 checks passed" in md and "condition2_alpha_limit" in md
    assert "condition2_pinv_identity" in capsys.readouterr().out


def test_runner_rejects_unknown_check(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["--only", "no_such_check", "--out", str(tmp_path)])
    assert exc.value.code == 2


def test_runner_reports_crash_as_failure(tmp_path, monkeypatch):
    import verification.lemma1 as mod

    def boom(ctx):
        raise RuntimeError("deliberate")

    monkeypatch.setattr(mod, "run", boom)
    assert main(["--only", "lemma1", "--out", str(tmp_path)]) == 1
    data = json.loads((tmp_path / "report.json").read_text())
    assert not data["results"][0]["passed"]
    assert "deliberate" in data["results"][0]["measured"]


# ---------------------------------------------------------------- checks can fail
def _failed(ctx, name):
    return [r.name for r in _run(ctx, name) if not r.passed]


def test_lemma1_fails_for_first_order_error(ctx, monkeypatch):
    """An SSA with an O(lambda) error (slope 1) must be caught."""
    real = dfc.steady_state

    def broken(system, x, target, method="newton", **kw):
        res = real(system, x, target, method, **kw)
        if method == "ssa":
            rL = system.network.forward(x).r[-1]
            bump = 1e-2 * np.linalg.norm(np.asarray(target) - rL)
            return res.__class__(res.u + bump, *[getattr(res, f) for f in
                                 ("v", "r", "v_ff", "delta_v", "converged", "residual",
                                  "iterations", "method")])
        return res

    monkeypatch.setattr(dfc, "steady_state", broken)
    assert {"lemma1_integral", "lemma1_total"} <= set(_failed(ctx, "lemma1"))


def test_lemma1_alpha_tilde_fails_with_swapped_convention(ctx, monkeypatch):
    """The check measures e/u from simulations: swapping the simulated conventions must fail."""
    real_init = dfc.Controller.__post_init__

    def swapped(self):
        real_init(self)
        object.__setattr__(self, "leak", "total" if self.leak == "integral" else "integral")

    monkeypatch.setattr(dfc.Controller, "__post_init__", swapped)
    assert "lemma1_alpha_tilde" in _failed(ctx, "lemma1")


def test_theorem2_fails_without_condition1(ctx, monkeypatch):
    monkeypatch.setattr(dfc, "rescale_to_condition1", lambda net, x, **kw: net)
    assert "theorem2_gauss_newton" in _failed(ctx, "theorem2")


def test_theorem3_fails_against_unweighted_min_norm(ctx, monkeypatch):
    import verification.theorem3 as mod
    from dfc_theory.gauss_newton import min_norm_update
    monkeypatch.setattr(mod, "weighted_min_norm_update",
                        lambda net, x, d: min_norm_update(net, x, d, include_bias=False))
    assert "theorem3_weighted_min_norm" in _failed(ctx, "theorem3")


def test_condition2_fails_for_non_condition2_feedback(ctx, monkeypatch):
    monkeypatch.setattr(dfc.feedback, "jacobian_transpose",
                        lambda net, x: dfc.feedback.random_gaussian(net, seed=3))
    assert "condition2_ratio" in _failed(ctx, "condition2")


def test_proposition4_fails_for_ascent_direction(ctx, monkeypatch):
    import verification.proposition4 as mod
    real = mod.bp_update
    monkeypatch.setattr(mod, "bp_update", lambda *a, **k: real(*a, **k) * -1.0)
    assert "proposition4_descent" in _failed(ctx, "proposition4")


def test_identities_fail_with_wrong_alpha_tilde(ctx, monkeypatch):
    monkeypatch.setattr(dfc.Controller, "alpha_eff", property(lambda self: self.alpha))
    assert "identity_integrators_agree" in _failed(ctx, "identities")


def test_checks_registry_lists_modules():
    assert len(set(verification.CHECKS)) == len(verification.CHECKS)
    for name in QUICK:
        assert name in verification.CHECKS


def test_dfc_variants_fail_when_ssa_uses_another_rule(ctx, monkeypatch):
    import verification.dfc_variants as mod
    real = mod.forward_update

    def mixed(net, x, t, method, **kw):
        if method == "dfc-ssa":
            kw["rule"] = "voltage"
        return real(net, x, t, method, **kw)

    monkeypatch.setattr(mod, "forward_update", mixed)
    assert "dfc_ss_vs_ssa_lambda" in _failed(ctx, "dfc_variants")


def test_stability_check_fails_with_wrong_verdicts(ctx, monkeypatch):
    import verification.stability as mod
    monkeypatch.setattr(mod, "N_QUICK", 4)
    real = mod.stab.spectral_abscissa
    monkeypatch.setattr(mod.stab, "spectral_abscissa", lambda A: -real(A))
    failed = _failed(ctx, "stability")
    assert {"stability_prop5_instantaneous", "stability_pi_finite_tau",
            "stability_decay_rate"} & set(failed)
    assert "stability_prop5_instantaneous" in failed


def test_theorem6_fails_against_a_wrong_closed_form(ctx, monkeypatch):
    import verification.theorem6 as mod
    real = mod.closed_form_feedback
    monkeypatch.setattr(mod, "closed_form_feedback",
                        lambda J, a, b, horizon=np.inf: real(J, a, 2 * b, horizon))
    assert "theorem6_closed_form" in _failed(ctx, "theorem6")


def test_fullscale_without_torch_is_a_failed_check_not_a_silent_skip(ctx, monkeypatch):
    import verification.fullscale as mod
    monkeypatch.setattr(mod, "_torch_modules", lambda: (None, None))
    res = mod.run(ctx)
    assert [r.name for r in res] == ["fullscale_available"] and not res[0].passed
