"""figures/table1.py: Table 1 from run records, markers for reduced runs, the CLI options."""
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from figures import table1  # noqa: E402

pytestmark = pytest.mark.torch


def _record(dataset, method, feedback, seed, test, train_loss, reduced=True, epochs=3):
    from dfc_theory.torch.records import SCHEMA
    return {"schema": SCHEMA, "seed": seed,
            "config": {"dataset": dataset, "method": method, "feedback": feedback,
                       "epochs": epochs},
            "data": {"reduced": reduced}, "epochs": [],
            "summary": {"status": "complete", "test_metric_at_best_val": test,
                        "final_train_loss": train_loss, "reduced_data": reduced,
                        "epochs_done": epochs}}


def _write(folder, recs):
    folder.mkdir(parents=True, exist_ok=True)
    for k, r in enumerate(recs):
        (folder / f"r{k}.json").write_text(json.dumps(r))


def test_table_aggregates_seeds_marks_reduced_runs_and_prefers_the_full_protocol(tmp_path):
    runs = tmp_path / "runs"
    _write(runs, [_record("mnist", "bp", None, 0, 2.0, 1e-3),
                  _record("mnist", "bp", None, 1, 3.0, 3e-3),
                  # a full-protocol DFC-SSA record wins over a reduced one
                  _record("mnist", "dfc-ssa", "trained", 0, 9.0, 0.5),
                  _record("mnist", "dfc-ssa", "trained", 0, 2.2, 1e-4, reduced=False,
                          epochs=100),
                  _record("mnist_ae", "dfc-ssa", "fixed", 0, 0.3, 0.1, epochs=25),
                  {"schema": "not a record"}])
    res = table1.run(out=tmp_path / "out", runs=runs)
    t = res["table"]
    bp = t["BP"]["mnist"]["ours"]
    assert bp["n"] == 2 and bp["mean"] == pytest.approx(2.5) and bp["std"] == pytest.approx(0.5)
    assert t["BP"]["mnist_train_loss"]["ours"]["mean"] == pytest.approx(2e-3)
    ssa = t["DFC-SSA"]["mnist"]["ours"]
    assert ssa["mean"] == pytest.approx(2.2) and not ssa["reduced_data"] and ssa["epochs"] == 100
    assert t["DFC-SSA (fixed)"]["mnist_ae"]["ours"]["mean"] == pytest.approx(0.3)
    assert t["DFA"]["mnist"]["ours"] is None
    assert t["DFC"]["fashion_mnist"]["paper"] == (11.17, 0.27)
    md = (tmp_path / "out" / "table1.md").read_text()
    lines = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| ")}
    assert "2.50 +- 0.50 (n=2) [R, 3/100 ep]" in lines["BP"]
    assert "2.20 (n=1) |" in lines["DFC-SSA"] and "[R" not in lines["DFC-SSA"].split("|")[2]
    assert "0.3 (n=1) [R]" in lines["DFC-SSA (fixed)"]  # 25 = the paper's AE epochs
    assert (tmp_path / "out" / "table1.png").exists()


def test_empty_runs_folder_gives_the_paper_column_and_a_hint(tmp_path):
    (tmp_path / "empty").mkdir()
    res = table1.run(out=tmp_path, runs=tmp_path / "empty")
    assert res["records"] == 0 and "No run records" in res["summary"]
    assert "2.08 +- 0.15" in res["summary"]
    # a folder named explicitly must exist: a typo is an error, not an empty table
    with pytest.raises(FileNotFoundError, match="runs: folder .*none does not exist"):
        table1.run(out=tmp_path, runs=tmp_path / "none")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="runs: .*file"):
        table1.run(out=tmp_path, runs=tmp_path / "file")


def test_options_and_training_of_missing_records(tmp_path):
    opts = table1.parse_options(["--epochs", "1", "--seeds", "1", "--methods", "bp",
                                 "--runs", str(tmp_path / "runs")])
    assert opts == {"epochs": 1, "seeds": 1, "methods": ["bp"], "runs": str(tmp_path / "runs"),
                    "device": "cpu"}
    with pytest.raises(SystemExit, match="--data-dir"):
        table1.parse_options(["--bogus"])
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = table1.run(out=tmp_path / "out", **opts)
    finally:
        torch.set_num_threads(n)
    assert len(res["trained"]) == 1 and res["records"] == 1
    ours = res["table"]["BP"]["mnist"]["ours"]
    assert ours["reduced_data"] and ours["epochs"] == 1 and 0 < ours["mean"] < 100
    again = table1.run(out=tmp_path / "out", **opts)  # nothing missing any more
    assert again["trained"] == []
    with pytest.raises(FileNotFoundError, match="data_dir"):
        table1.run(out=tmp_path / "out", runs=tmp_path / "runs", datasets=["fashion_mnist"],
                   epochs=1)
    with pytest.raises(ValueError, match="methods"):
        table1.run(out=tmp_path / "out", runs=tmp_path / "runs", methods=["sgd"], epochs=1)


def test_figures_cli_passes_the_options(tmp_path, capsys):
    from figures.__main__ import main
    _write(tmp_path / "runs", [_record("mnist", "dfa", None, 0, 2.7, 1e-6)])
    assert main(["table1", "--out", str(tmp_path / "o"), "--runs", str(tmp_path / "runs")]) == 0
    assert "2.70 (n=1)" in capsys.readouterr().out
    assert np.isfinite(json.loads((tmp_path / "o" / "table1_summary.json").read_text())
                       ["table"]["DFA"]["mnist"]["ours"]["mean"])
