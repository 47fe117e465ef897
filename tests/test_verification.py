"""The verification suite: the runner, each check passing on the real code with its negative
control failing, and each check FAILING when its premise is deliberately broken (a check that
cannot fail is a defect).  Sweeps run with a few judged draws (``Context(n=...)``) to stay
fast; ``python -m verification`` itself uses 8 (quick) or 50 (full)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import dfc_theory as dfc
import verification
from verification import Context
from verification.__main__ import main, run_checks

FAST = ["lemma1", "condition2", "theorem2", "theorem3", "proposition4", "identities",
        "dfc_variants"]
SLOW = ["stability", "theorem6"]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """As the runner does: small matrices are far faster (and reproducible) on one thread."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def ctx(tmp_path):
    return Context(mode="quick", seed=0, out=tmp_path, n=2)


def _run(ctx, name):
    return run_checks(ctx, [name], log=lambda *a, **k: None)


def _failed(ctx, name):
    return [r.name for r in _run(ctx, name) if not r.passed]


@pytest.mark.parametrize("name", FAST + [pytest.param(n, marks=pytest.mark.slow)
                                         for n in SLOW])
def test_check_passes_and_its_control_fails(ctx, name):
    if name == "stability":  # proposition5_timescale_limit's control needs a gap draw (j = 2)
        ctx.n = 3
    results = _run(ctx, name)
    assert results, f"{name} produced no result"
    for r in results:
        assert r.passed, (r.name, r.measured, r.details.get("why it failed"),
                          r.details.get("traceback"))
        assert r.claim and r.tolerance and r.why and r.reference
        assert r.kind in ("theorem", "consistency")
        assert r.draws["judged"] >= 2 and r.draws["tried"] >= r.draws["judged"]
        if r.kind == "theorem":
            assert r.control["passed"] is False and r.control["premise_broken"]
            assert r.per_draw and all("passed" in row for row in r.per_draw)
        if r.plot:
            assert (ctx.out / r.plot).exists()


def test_fast_subset_passes_at_several_seeds(tmp_path):
    """The verdict must not depend on the seed (quick-mode draw counts)."""
    for seed in (3, 17, 2**31 - 1):
        c = Context(mode="quick", seed=seed, out=tmp_path)
        for name in ("condition2", "proposition4"):
            for r in _run(c, name):
                assert r.passed, (seed, r.name, r.details.get("why it failed"))


# ---------------------------------------------------------------- the checks can fail
def test_lemma1_fails_for_first_order_error(ctx, monkeypatch):
    """An SSA with an O(lambda) error (slope 1) must be caught."""
    real = dfc.steady_state

    def broken(system, x, target, method="newton", **kw):
        res = real(system, x, target, method, **kw)
        if method == "ssa":
            rL = system.network.forward(x).output
            bump = 1e-2 * np.linalg.norm(np.asarray(target) - rL)
            return res.__class__(res.u + bump, *[getattr(res, f) for f in
                                 ("v", "r", "v_ff", "delta_v", "converged", "residual",
                                  "iterations", "method")])
        return res

    monkeypatch.setattr(dfc, "steady_state", broken)
    import verification.lemma1 as mod
    res = [mod._slope_sweep(ctx, "integral"), mod._slope_sweep(ctx, "total"),
           mod._constant_sweep(ctx)]
    assert not any(r.passed for r in res)


def test_lemma1_alpha_tilde_fails_with_swapped_convention(ctx, monkeypatch):
    """The check measures e/u from simulations: swapping the simulated conventions fails."""
    real_init = dfc.Controller.__post_init__

    def swapped(self):
        real_init(self)
        object.__setattr__(self, "leak", "total" if self.leak == "integral" else "integral")

    monkeypatch.setattr(dfc.Controller, "__post_init__", swapped)
    import verification.lemma1 as mod
    assert not mod._alpha_tilde(ctx).passed


def test_condition2_alpha_limit_fails_without_condition2(ctx, monkeypatch):
    import verification.condition2 as mod
    from verification._draws import break_condition2
    real = mod.q_jt_m
    monkeypatch.setattr(mod, "q_jt_m", lambda rng, J: (break_condition2(rng, J, real(rng, J)[0]),
                                                       None))
    # the premise filter would exclude every draw; measure anyway to see the claim fail
    real_pairs = mod.premise_pairs
    monkeypatch.setattr(mod, "premise_pairs", lambda draws, names, params=None: real_pairs(
        draws, [n for n in names if n != "condition2"], params))
    assert "condition2_alpha_limit" in _failed(ctx, "condition2")


def test_theorem2_fails_without_condition1(ctx, monkeypatch):
    import verification.theorem2 as mod
    monkeypatch.setattr(dfc, "rescale_to_condition1", lambda net, x, **kw: net)
    monkeypatch.setattr(mod, "PREMISES", [n for n in mod.PREMISES if n != "condition1"])
    monkeypatch.setattr(mod, "RULE_PREMISES", [n for n in mod.RULE_PREMISES
                                               if n != "condition1"])
    failed = set(_failed(ctx, "theorem2"))
    assert {"theorem2_gauss_newton", "theorem2_general_q", "theorem2_nonlinear_rule"} <= failed


def test_theorem2_excludes_draws_without_condition1(ctx, monkeypatch):
    """With the premise filter in place the same broken draws are excluded, and counted."""
    monkeypatch.setattr(dfc, "rescale_to_condition1", lambda net, x, **kw: net)
    res = {r.name: r for r in _run(ctx, "theorem2")}
    r = res["theorem2_gauss_newton"]
    assert not r.passed and r.draws["judged"] == 0
    assert r.draws["excluded"].get("condition1", 0) == r.draws["tried"]


def test_theorem2_nonlinear_rule_fails_against_plain_gauss_newton(ctx, monkeypatch):
    """The paper's rule converges to the phi'-transformed GN update; compared with the plain
    GN update the angle tends to angle(D a, a) > 0 and the check must fail."""
    import verification.theorem2 as mod
    real = mod.transformed_update
    monkeypatch.setattr(mod, "transformed_update",
                        lambda net, x, a, **kw: real(net, x, a, transform=False, **kw))
    assert "theorem2_nonlinear_rule" in _failed(ctx, "theorem2")


def test_theorem3_fails_without_condition2(ctx, monkeypatch):
    import verification.theorem3 as mod
    from verification._draws import break_condition2
    real_q, real_p = mod.q_jt_m, mod.q_pinv
    rng0 = np.random.default_rng(0)
    monkeypatch.setattr(mod, "q_jt_m", lambda rng, J: (break_condition2(rng, J, real_q(rng, J)[0]),
                                                       None))
    monkeypatch.setattr(mod, "q_pinv", lambda J, S: break_condition2(rng0, J, real_p(J, S)))
    monkeypatch.setattr(mod, "SS_PREMISES", [n for n in mod.SS_PREMISES if n != "condition2"])
    monkeypatch.setattr(mod, "RULE_PREMISES", [n for n in mod.RULE_PREMISES
                                               if n != "condition2"])
    assert {"theorem3_weighted_min_norm", "theorem3_nonlinear_rule"} <= set(
        _failed(ctx, "theorem3"))


def test_theorem3_fails_against_unweighted_min_norm(ctx, monkeypatch):
    import verification.theorem3 as mod
    from dfc_theory.gauss_newton import min_norm_update
    monkeypatch.setattr(mod, "weighted_min_norm_update",
                        lambda net, x, d: min_norm_update(net, x, d, include_bias=False))
    assert "theorem3_weighted_min_norm" in _failed(ctx, "theorem3")


def test_proposition4_fails_for_ascent_direction(ctx, monkeypatch):
    import verification.proposition4 as mod
    real = mod.bp_update
    monkeypatch.setattr(mod, "bp_update", lambda *a, **k: real(*a, **k) * -1.0)
    assert "proposition4_descent" in _failed(ctx, "proposition4")


def test_identities_fail_with_wrong_alpha_tilde(ctx, monkeypatch):
    monkeypatch.setattr(dfc.Controller, "alpha_eff", property(lambda self: self.alpha))
    assert "identity_integrators_agree" in _failed(ctx, "identities")


def test_dfc_variants_fail_when_ssa_uses_another_rule(ctx, monkeypatch):
    import verification.dfc_variants as mod
    real = mod.forward_update

    def mixed(net, x, t, method, **kw):
        if method == "dfc-ssa":
            kw["rule"] = "voltage"
        return real(net, x, t, method, **kw)

    monkeypatch.setattr(mod, "forward_update", mixed)
    assert "dfc_ss_vs_ssa_lambda" in _failed(ctx, "dfc_variants")


@pytest.mark.slow
def test_stability_checks_fail_with_wrong_verdicts(ctx, monkeypatch):
    import verification.stability as mod
    real_c3 = dfc.condition3

    def flipped(*a, **k):
        c = real_c3(*a, **k)
        return c.__class__(c.eigenvalues, c.alpha, -c.margin, ~c.holds)

    monkeypatch.setattr(dfc, "condition3", flipped)
    monkeypatch.setattr(mod, "_abscissa", lambda *a, **k: -_real_abscissa(*a, **k))
    real_rate = mod._envelope_rate
    monkeypatch.setattr(mod, "_envelope_rate", lambda *a: 1.1 * real_rate(*a))
    failed = set(_failed(ctx, "stability"))
    assert {"stability_prop5_instantaneous", "stability_pi_finite_tau",
            "stability_decay_rate", "proposition5_timescale_limit"} <= failed


def _real_abscissa(system, x, t, key="A_system"):
    from dfc_theory import stability as stab
    A = stab.system_matrices(system, x, t, at="steady_state")[key]
    return float(np.max(stab.spectral_abscissa(A)))


@pytest.mark.slow
def test_theorem6_fails_against_a_wrong_closed_form(ctx, monkeypatch):
    import verification.theorem6 as mod
    real = mod.closed_form_feedback
    monkeypatch.setattr(mod, "closed_form_feedback",
                        lambda J, a, b, horizon=np.inf: real(J, a, 2 * b, horizon))
    assert "theorem6_closed_form" in _failed(ctx, "theorem6")


def test_theorem_result_fails_when_its_control_passes(tmp_path):
    """A check whose negative control passes cannot tell the claim from its negation."""
    from verification._sweep import SweepRun, theorem_result
    run = SweepRun(Context(out=tmp_path, n=1), "x")
    for _ in run:
        run.judge([("p", True)])
        run.add({"passed": True, "control": True})
    r = theorem_result(run, name="x", claim="c", reference="r", predicted=0, tolerance="t",
                       why="w", measured={}, worst=None, control_premise="p",
                       control_measured=None)
    assert not r.passed and "control did not fail" in r.details["why it failed"]


# ---------------------------------------------------------------- the runner
def test_runner_writes_reports_and_exit_code(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["--only", "condition2", "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["meta"]["total"] == data["meta"]["passed"] == 3
    kinds = {r["name"]: r["kind"] for r in data["results"]}
    assert kinds == {"condition2_pinv_identity": "consistency",
                     "condition2_ratio": "consistency", "condition2_alpha_limit": "theorem"}
    th = [r for r in data["results"] if r["kind"] == "theorem"][0]
    assert th["control"]["passed"] is False and th["draws"]["judged"] >= 8
    assert data["meta"]["cpu_seconds"] > 0
    md = (out / "report.md").read_text()
    assert "3/3 checks passed" in md and "## Theorem checks" in md
    assert "## Consistency checks" in md
    assert "condition2_pinv_identity" in capsys.readouterr().out


@pytest.mark.parametrize("args, option", [
    (["--seed", "-1"], "--seed"), (["--seed", "abc"], "--seed"), (["--seed", str(2**63)], "--seed"),
    (["--jobs", "0"], "--jobs"), (["--only", "no_such_check"], "--only"),
    (["--bogus"], "--bogus"), (["--quick", "--full"], "--full")])
def test_runner_rejects_bad_command_lines_in_one_line(tmp_path, capsys, args, option):
    assert main(args + ["--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and option in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_runner_rejects_out_that_is_a_file_or_unwritable(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["--only", "condition2", "--out", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out" in err and "\n" not in err
    assert main(["--only", "condition2", "--out", str(f / "sub" / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out" in err and "\n" not in err


def test_runner_reports_crash_as_failure(tmp_path, monkeypatch):
    import verification.lemma1 as mod

    def boom(ctx):
        raise RuntimeError("deliberate")

    monkeypatch.setattr(mod, "run", boom)
    assert main(["--only", "lemma1", "--out", str(tmp_path)]) == 1
    data = json.loads((tmp_path / "report.json").read_text())
    assert not data["results"][0]["passed"]
    assert "deliberate" in data["results"][0]["measured"]


def test_report_is_replaced_atomically(tmp_path, monkeypatch, capsys):
    import verification.__main__ as runner
    out = tmp_path / "rep"
    assert main(["--only", "condition2", "--out", str(out)]) == 0
    (out / "stale_plot.png").write_text("old")
    before = (out / "report.json").read_text()

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_checks", interrupted)
    assert main(["--only", "condition2", "--out", str(out)]) == 130
    assert (out / "report.json").read_text() == before  # untouched
    assert (out / "stale_plot.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep")]  # no leftovers
    monkeypatch.undo()
    assert main(["--only", "condition2", "--out", str(out), "--seed", "5"]) == 0
    assert not (out / "stale_plot.png").exists()  # a new report replaces the old one whole
    assert json.loads((out / "report.json").read_text())["meta"]["seed"] == 5


def test_internal_error_is_one_line_without_debug(tmp_path, monkeypatch, capsys):
    import verification.__main__ as runner
    monkeypatch.setattr(runner, "write_reports", lambda *a, **k: 1 / 0)
    assert main(["--only", "condition2", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip()
    assert "ZeroDivisionError" in err and "\n" not in err
    with pytest.raises(ZeroDivisionError):
        main(["--only", "condition2", "--out", str(tmp_path / "r"), "--debug"])


def _strip(report):
    for r in report["results"]:
        r.pop("seconds")
    return report["results"]


@pytest.mark.slow
def test_jobs_give_bit_identical_results(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--only", "condition2", "proposition4", "identities", "fullscale", "--seed", "11"]
    assert main(args + ["--out", str(a)]) == 0
    assert main(args + ["--out", str(b), "--jobs", "2"]) == 0
    ra = json.loads((a / "report.json").read_text())
    rb = json.loads((b / "report.json").read_text())
    assert _strip(ra) == _strip(rb)


def test_search_dispatch(monkeypatch, capsys):
    import sys
    import types
    fake = types.ModuleType("verification.search")
    fake.main = lambda argv: 7 if argv == ["claim", "--x"] else 0
    monkeypatch.setitem(sys.modules, "verification.search", fake)
    assert main(["search", "claim", "--x"]) == 7


def test_search_missing_is_one_line(monkeypatch, capsys):
    import verification.__main__ as runner
    real = runner.importlib.import_module

    def missing(name, *a):
        if name == "verification.search":
            err = ModuleNotFoundError(f"No module named {name!r}")
            err.name = name
            raise err
        return real(name, *a)

    monkeypatch.setattr(runner.importlib, "import_module", missing)
    assert main(["search", "anything"]) == 2
    err = capsys.readouterr().err.strip()
    assert "search" in err and "\n" not in err


def test_checks_registry_lists_modules():
    assert len(set(verification.CHECKS)) == len(verification.CHECKS)
    for name in FAST + SLOW:
        assert name in verification.CHECKS


def test_fullscale_without_torch_is_a_failed_check_not_a_silent_skip(ctx, monkeypatch):
    import verification.fullscale as mod
    monkeypatch.setattr(mod, "_torch_modules", lambda: (None, None))
    res = mod.run(ctx)
    assert [r.name for r in res] == ["fullscale_available"] and not res[0].passed
    assert res[0].kind == "fullscale"


# ---------------------------------------------------------------- README table
def _report():
    return {"meta": {"mode": "quick", "seed": 3, "passed": 1, "total": 2},
            "results": [
                {"name": "c", "kind": "consistency", "passed": True,
                 "draws": {"tried": 8, "judged": 8, "excluded": {}},
                 "worst": {"what": "max err", "value": 1e-14}},
                {"name": "t", "kind": "theorem", "passed": False,
                 "draws": {"tried": 10, "judged": 8, "excluded": {"stable": 2}},
                 "worst": {"what": "max |slope - 1|", "value": 0.2},
                 "control": {"premise_broken": "Condition 2; control: ...",
                             "draws failing": "8/8", "passed": False}}]}


def test_readme_table_generator(tmp_path, capsys):
    from verification import readme_table
    text = readme_table.table(_report())
    lines = text.splitlines()
    rows = [ln for ln in lines if ln.startswith("| `")]
    assert rows[0].startswith("| `t` | theorem | 8/10 | stable 2 | max |slope - 1|".replace(
        "|slope - 1|", "\\|slope - 1\\|"))
    assert "Condition 2: fails on 8/8" in rows[0] and rows[0].endswith("**FAIL** |")
    assert rows[1].startswith("| `c` | consistency | 8/8 | - |") and rows[1].endswith("PASS |")
    assert "seed 3" in lines[0]
    rep = tmp_path / "report.json"
    rep.write_text(json.dumps(_report()))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{readme_table.START}\nold\n{readme_table.END}\nrest\n")
    assert readme_table.main([str(rep), "--update", str(readme)]) == 0
    s = readme.read_text()
    assert "old" not in s and text in s and s.startswith("intro\n") and s.endswith("rest\n")
    readme.write_text("no markers")
    assert readme_table.main([str(rep), "--update", str(readme)]) == 2
    assert readme_table.main([str(tmp_path / "missing.json")]) == 2
