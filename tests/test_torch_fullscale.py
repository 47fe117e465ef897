"""verification/fullscale.py: the full-scale checks pass on a tiny CPU run, judge records
from $DFC_RUNS when present, and FAIL when a record contradicts the claim they test."""
import copy
import json

import pytest

pytest.importorskip("torch")

from verification import Context  # noqa: E402
from verification import fullscale  # noqa: E402

pytestmark = pytest.mark.torch

NAMES = {"fullscale_descent", "fullscale_condition3", "fullscale_stable",
         "fullscale_linearisation", "fullscale_condition2", "fullscale_alignment",
         "fullscale_records"}  # + fullscale_test_error on full-protocol records only


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick-mode run without records: (results, records)."""
    out = tmp_path_factory.mktemp("vq")
    empty = tmp_path_factory.mktemp("no_runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("DFC_RUNS", str(empty))
    try:
        results = fullscale.run(Context(mode="quick", seed=0, out=out))
    finally:
        mp.undo()
    from dfc_theory.torch.records import load_records
    return results, load_records(out / "fullscale_runs_quick")


def _by_name(results):
    return {r.name: r for r in results}


def test_quick_mode_runs_a_tiny_cpu_version_and_every_claim_passes(quick):
    results, records = quick
    assert {r.name for r in results} == NAMES
    for r in results:
        assert r.passed, (r.name, r.measured)
        assert "tiny CPU run" in r.claim and r.tolerance and r.why and r.reference
    assert len(records) == 3
    # Table 1's claim is about converged training on the full data: reported, not judged
    rec = _by_name(results)["fullscale_records"].details
    assert any(n.startswith("fullscale_test_error") for n in rec["not judged"])
    assert rec["test error on reduced protocols (reported, not judged)"]


def test_records_in_dfc_runs_are_judged_instead_of_training(quick, tmp_path, monkeypatch):
    _, records = quick
    for r in records:
        r = {k: v for k, v in r.items() if k != "_path"}
        (tmp_path / f"{r['config']['method']}_{r['config']['feedback']}.json").write_text(
            json.dumps(r))
    monkeypatch.setenv("DFC_RUNS", str(tmp_path))
    results = fullscale.run(Context(mode="quick", seed=0, out=tmp_path / "out"))
    assert {r.name for r in results} == NAMES
    assert all(str(tmp_path) in r.claim for r in results)
    assert not (tmp_path / "out").exists()  # nothing was trained


def _mutated(records, label, fn):
    recs = copy.deepcopy(records)
    for r in recs:
        if fullscale._label(r) == label:
            fn(r)
    return recs


def _set_rows(key, value, first_only=False):
    def fn(r):
        rows = r["alignment"][:1] if first_only else r["alignment"]
        for a in rows:
            a[key] = value(a) if callable(value) else value
    return fn


@pytest.mark.parametrize("label,fn,name", [
    ("DFC-SSA", _set_rows("descent_frac", 0.99, first_only=True), "fullscale_descent"),
    ("DFC-SSA", _set_rows("abscissa_inst", 1e-3, first_only=True), "fullscale_condition3"),
    ("DFC-SSA (fixed)", _set_rows("abscissa", 0.5, first_only=True), "fullscale_stable"),
    ("DFC-SSA", _set_rows("angle_ssa_exact", 8.0), "fullscale_linearisation"),
    ("DFC-SSA", _set_rows("cond2", 0.5), "fullscale_condition2"),
    ("DFC-SSA", _set_rows("angle_mn", lambda a: a["angle_mn"] + 10 * a["epoch"]),
     "fullscale_alignment"),
])
def test_each_check_fails_when_a_record_contradicts_it(quick, label, fn, name):
    _, records = quick
    res = _by_name(fullscale.judge(_mutated(records, label, fn), "mutated"))
    assert not res[name].passed, res[name].measured
    others = [r.name for r in res.values() if not r.passed and r.name != name]
    assert others == [], others


def test_test_error_check_fails_for_a_much_worse_dfc_and_uses_the_paper_rule_on_full_data(
        quick):
    _, records = quick

    def full(dfc_error):  # pretend the paper's protocol: full data, 100 epochs, BP at 2.0 %
        recs = copy.deepcopy(records)
        for r in recs:
            r["summary"].update(reduced_data=False, epochs_done=100)
            r["summary"]["test_metric_at_best_val"] = \
                2.0 if r["config"]["method"] == "bp" else dfc_error
        return _by_name(fullscale.judge(recs, "m"))["fullscale_test_error"]

    # bound for DFC-SSA = our BP + (paper DFC-SSA - paper BP) + 2 sqrt(0.16^2 + 0.15^2) = 2.539
    ok, bad = full(2.5), full(2.6)
    m = next(v for k, v in ok.measured.items() if k.endswith(":DFC-SSA"))
    assert m["full protocol"] and abs(m["bound [%]"] - (2.0 + 0.10 + 2 * 0.2193171)) < 1e-6
    assert ok.provenance == "paper" and ok.passed
    assert not bad.passed


def test_records_check_fails_for_a_diverged_run(quick):
    _, records = quick

    def diverged(r):
        r["summary"]["status"] = "diverged"
        r["epochs"][-1]["train_loss"] = None
    res = _by_name(fullscale.judge(_mutated(records, "BP", diverged), "m"))
    assert not res["fullscale_records"].passed
    assert res["fullscale_records"].measured["defective"] == 1


def test_alignment_drift_needs_two_logged_batches_and_is_otherwise_not_judged(quick):
    _, records = quick

    def one_row(r):
        r["alignment"] = r["alignment"][:1]
    recs = copy.deepcopy(records)
    for r in recs:
        one_row(r)
    res = _by_name(fullscale.judge(recs, "m"))
    assert "fullscale_alignment" not in res
    assert any("fullscale_alignment" in s
               for s in res["fullscale_records"].details["not judged"])
