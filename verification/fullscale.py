"""Full-scale checks: run records of the torch backend judged against the theory.

Records are the JSON files written by ``python -m dfc_theory.torch.train`` (e.g. on a GPU
machine), read from the folder named by the environment variable ``DFC_RUNS`` (default
``runs/``).  Each claim below becomes one Result when the records it needs exist:

* ``fullscale_descent`` (Proposition 4): at the exact steady state every sample's
  Delta v = Q u_ss gives delta_L^T J Delta v > 0, i.e. a descent direction with per-layer
  rates eta / ||r_{i-1}||^2, for any Q with stable dynamics;
* ``fullscale_condition3`` (Theorem 6 -> Condition 3): learned feedback keeps every
  eigenvalue of J_ss Q right of -alpha;
* ``fullscale_stable`` (Fig 3E, "all stable"): the full linearised dynamics at the exact
  steady state are Hurwitz (a proxy of Proposition 5 when tau_v > 0 or k_p > 0);
* ``fullscale_linearisation`` (Lemma 1 / Fig 3F): DFC-SSA's update stays within a few
  degrees of the exact steady-state update and of the simulated DFC / DFC-SS updates;
* ``fullscale_condition2`` (Theorem 6, Fig 3A): learned feedback keeps a higher
  Condition-2 ratio than the fixed weight-product feedback;
* ``fullscale_alignment`` (Fig 3B): the alignment of the DFC update with the damped
  minimum-norm update degrades less during training with learned than with fixed feedback;
* ``fullscale_test_error`` (Table 1): the DFC variants' test error relative to BP's is
  within the paper's reported spread, on records of the full protocol (full data, the
  paper's epochs); reduced protocols are reported in ``fullscale_records``, not judged;
* ``fullscale_records``: the records themselves are complete and finite.

Without records, ``--full`` trains a small CPU version itself (the paper's network on the
offline 5000-digit subset, few epochs) and the default quick mode a tiny one (784-48-48-10,
1024 digits, 2 epochs, a few seconds); the Results say so.  Claims whose records are
missing produce no Result (listed in ``fullscale_records``): nothing is claimed for them.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from .result import Result

DFC = ("dfc", "dfc-ss", "dfc-ssa")
#: "a few degrees" (THEORY.md section 8, Fig 3F); also used for Lemma 1's linearisation error
FEW_DEGREES = 5.0


# ---------------------------------------------------------------------------- records
def _torch_modules():
    try:
        from dfc_theory.torch import records, train
    except ImportError:
        return None, None
    return records, train


def tiny_configs(full=False):
    """The small CPU runs made when no records exist: (config kwargs, seeds)."""
    if full:
        common = dict(dataset="mnist", epochs=3, log_every=7, device="cpu", dtype="float32",
                      abscissa_samples=2, fb_pretrain_epochs=5)
        runs = [dict(method="bp"), dict(method="dfa"),
                dict(method="dfc-ssa", feedback="trained"),
                dict(method="dfc-ssa", feedback="fixed"),
                dict(method="dfc-ss", feedback="trained", n_steps=300, n_train=1024,
                     epochs=2, log_every=2),
                dict(method="bp", n_train=1024, epochs=2, log_every=2)]
    else:
        common = dict(dataset="mnist", sizes=(784, 48, 48, 10), n_train=1024, epochs=2,
                      log_every=2, device="cpu", dtype="float32", abscissa_samples=2,
                      fb_pretrain_epochs=4)
        runs = [dict(method="bp"), dict(method="dfc-ssa", feedback="trained"),
                dict(method="dfc-ssa", feedback="fixed")]
    return [{**common, **r} for r in runs]


def make_records(out, full=False, seed=0, log=None):
    """Train the small CPU configurations of :func:`tiny_configs`; return their records."""
    records, train = _torch_modules()
    import torch
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is fastest and stable on 2 cores
    try:
        out_recs = []
        data_cache = {}
        for kw in tiny_configs(full):
            cfg = train.FullScaleConfig(**kw)
            key = (cfg.dataset, cfg.n_train)
            if key not in data_cache:
                data_cache[key] = train.load_data(cfg.dataset, None, seed=cfg.data_seed,
                                                  n_train=cfg.n_train)
            rec = train.train_run(cfg, seed=seed, data=data_cache[key], progress=False,
                                  out=out, overwrite=True)  # verify this code: never reuse
            rec["_path"] = str(Path(out) / records.record_name(cfg.to_dict(), seed))
            out_recs.append(rec)
            if log:
                log(f"  trained {cfg.label} ({rec['summary']['total_seconds']:.1f} s)")
    finally:
        torch.set_num_threads(n_threads)
    return out_recs


# ---------------------------------------------------------------------------- helpers
def _label(r):
    c = r["config"]
    name = c["method"].upper()
    if c["method"] in DFC and c.get("feedback") == "fixed":
        name += " (fixed)"
    return name


def _finite_rows(recs, key):
    """(record, finite logged values of ``key``) for the records that have any."""
    pairs = [(r, _rows(r, key)) for r in recs]
    return [(r, v[np.isfinite(v)]) for r, v in pairs if np.isfinite(v).any()]


def _rows(r, key, late=False):
    """Values of ``key`` over the logged batches (``late``: the second half of training,
    epochs > E/2, or all when there is one epoch)."""
    rows = r.get("alignment", [])
    if late:
        E = max((a["epoch"] for a in rows), default=0)
        if E > 1:
            rows = [a for a in rows if a["epoch"] > E / 2]
    return np.array([np.nan if a.get(key) is None else float(a[key]) for a in rows])


def _late_mean(recs, key):
    """Mean over seeds of the mean of ``key`` over the second half of training."""
    vals = [np.nanmean(v) for v in (_rows(r, key, late=True) for r in recs)
            if np.isfinite(v).any()]
    return float(np.mean(vals)) if vals else float("nan")


def _drift(r, key):
    """Mean of ``key`` over the last epoch's logged batches minus the first epoch's (first vs
    second half of the logged batches for a one-epoch run)."""
    rows = [a for a in r.get("alignment", []) if a.get(key) is not None]
    if len(rows) < 2:
        return float("nan")
    E0, E1 = rows[0]["epoch"], rows[-1]["epoch"]
    if E0 == E1:
        h = len(rows) // 2
        first, last = rows[:h], rows[h:]
    else:
        first = [a for a in rows if a["epoch"] == E0]
        last = [a for a in rows if a["epoch"] == E1]
    return float(np.mean([a[key] for a in last]) - np.mean([a[key] for a in first]))


def _seed_mean(vals):
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _ptag(r):
    """A readable protocol tag, e.g. "mnist-subset e3 n1024": only records with equal tags
    (data set and data, epochs, training-set size, widths) are compared with each other."""
    c = r["config"]
    parts = [c["dataset"] + ("" if c.get("data_dir") else "-subset"), f"e{c.get('epochs')}"]
    if c.get("n_train"):
        parts.append(f"n{c['n_train']}")
    default = [784, 256, 32, 256, 784] if c["dataset"] == "mnist_ae" else [784, 256, 256, 256, 10]
    if c.get("sizes") and list(c["sizes"]) != default:
        parts.append("w" + "-".join(str(n) for n in c["sizes"]))
    return " ".join(parts)


def _group(records):
    """{(protocol tag, method, feedback): records}."""
    g = defaultdict(list)
    for r in records:
        g[(_ptag(r), r["config"]["method"], r["config"].get("feedback"))].append(r)
    return g


def _names(recs):
    return sorted({f"{r['config']['dataset']}:{_label(r)}" for r in recs})


# ---------------------------------------------------------------------------- judging
def judge(records, source):
    """Results for a list of run records (see the module docstring)."""
    results, not_judged = [], []
    g = _group(records)
    dfc_recs = [r for r in records if r["config"]["method"] in DFC]
    trained = [r for r in dfc_recs if r["config"].get("feedback") == "trained"]
    suffix = f" [records: {source}]"

    # --- Proposition 4 -----------------------------------------------------------------
    fr, rel_min, n_b, n_skip = [], [], 0, 0
    for r in dfc_recs:
        for a in r.get("alignment", []):
            if a.get("descent_frac") is None:
                continue
            if a.get("abscissa_inst") is None or a["abscissa_inst"] >= 0:
                n_skip += 1  # Proposition 4 assumes stable dynamics
                continue
            n_b += 1
            fr.append(a["descent_frac"])
            rel_min.append(a.get("descent_min_rel", np.nan))
    if n_b:
        results.append(Result(
            name="fullscale_descent",
            claim=("at the exact steady state of every logged batch with stable dynamics, each "
                   "sample's delta_L^T J Delta v is > 0: the DFC update with per-layer rates "
                   "eta/||r_{i-1}||^2 is a descent direction for any Q" + suffix),
            reference="THEORY.md s.4, Proposition 4",
            predicted="fraction of samples with delta^T J Delta v > 0 = 1",
            measured={"min fraction": float(np.min(fr)),
                      "min delta^T J Delta v / ||delta||^2": float(np.nanmin(rel_min)),
                      "logged batches": n_b, "excluded (Condition 3 violated)": n_skip},
            tolerance="every sample of every logged batch (no slack)",
            why=("Proposition 4's inner product is delta^T JQ (JQ + alpha I)^{-1} delta = "
                 "||delta||^2 - alpha delta^T (JQ + alpha I)^{-1} delta, positive whenever alpha "
                 "is small against the spectrum of JQ; at alpha ~ 1e-3 only a near-violation of "
                 "Condition 3 could flip a sign, which is itself a finding.  Computed in float64 "
                 "from the Newton steady state, so rounding cannot decide the sign"),
            passed=bool(np.min(fr) == 1.0),
            details={"records": _names(dfc_recs)}))
    else:
        not_judged.append("fullscale_descent (no logged DFC batches)")

    # --- Condition 3 with learned feedback ------------------------------------------------
    ab = _finite_rows(trained, "abscissa_inst")
    if ab:
        worst = max(float(v.max()) for _, v in ab)
        results.append(Result(
            name="fullscale_condition3",
            claim=("learned feedback keeps Condition 3 during training: every eigenvalue of "
                   "J_ss Q has real part > -alpha at every logged batch" + suffix),
            reference="THEORY.md s.4, Theorem 6 (learned Q satisfies Conditions 2 and 3)",
            predicted="max Re eig(-(J_ss Q + alpha I)) < 0",
            measured={"max abscissa": worst, "per record": {_label(r) + " seed "
                                                             + str(r["seed"]): float(v.max())
                                                             for r, v in ab}},
            tolerance="< 0 at every logged batch, every sample",
            why="Condition 3 is a strict inequality; the feedback rule is designed to keep it",
            passed=worst < 0, details={"records": _names(trained)}))
    else:
        not_judged.append("fullscale_condition3 (no trained-feedback DFC records)")

    st = _finite_rows(dfc_recs, "abscissa")
    if st:
        worst = max(float(v.max()) for _, v in st)
        results.append(Result(
            name="fullscale_stable",
            claim=("the full linearised network-plus-controller dynamics are stable at the exact "
                   "steady state of every logged batch, for trained and fixed feedback" + suffix),
            reference="THEORY.md s.5 and s.8 (Fig 3E: all methods stay stable)",
            predicted="spectral abscissa of d(dz/dt)/dz at rest < 0",
            measured={"max abscissa": worst,
                      "per record": {_label(r) + " seed " + str(r["seed"]): float(v.max())
                                     for r, v in st}},
            tolerance="< 0 at every logged batch (first samples of the batch)",
            why=("local asymptotic stability is exactly a negative spectral abscissa; for "
                 "tau_v > 0 or k_p > 0 the paper's Condition 3 is only a proxy of it, so the "
                 "full matrix is what is measured"),
            passed=worst < 0, provenance="proxy", details={"records": _names(dfc_recs)}))
    else:
        not_judged.append("fullscale_stable (no DFC records with abscissa)")

    # --- linearisation (Lemma 1, Fig 3F) -------------------------------------------------
    lin = {}
    for r in dfc_recs:
        v = _rows(r, "angle_ssa_exact")
        if np.isfinite(v).any():
            lin[f"{_label(r)} seed {r['seed']}: SSA vs exact steady state"] = float(np.nanmedian(v))
        if r["config"]["method"] in ("dfc", "dfc-ss"):
            v = _rows(r, "angle_ssa")
            if np.isfinite(v).any():
                lin[f"{_label(r)} seed {r['seed']}: vs DFC-SSA"] = float(np.nanmedian(v))
    if lin:
        worst = max(lin.values())
        results.append(Result(
            name="fullscale_linearisation",
            claim=("the DFC-SSA update (linearised steady state) stays within a few degrees of "
                   "the exact steady-state update, and the simulated DFC / DFC-SS updates within a "
                   "few degrees of DFC-SSA" + suffix),
            reference="THEORY.md s.4 Lemma 1; s.8 (Fig 3F)",
            predicted=f"median angle <= {FEW_DEGREES:g} deg",
            measured={"max median angle [deg]": worst, "per record": lin},
            tolerance=f"median over logged batches <= {FEW_DEGREES:g} deg per record",
            why=("Lemma 1 makes the linearisation error O(lambda^2) against an O(lambda) "
                 "update (relative O(lambda), lambda = 0.078 with the 1/B batch-mean scaling), "
                 "and the paper reports DFC / DFC-SS within 'a few degrees' of DFC-SSA; "
                 "'a few' is read as 5"),
            passed=worst <= FEW_DEGREES, details={"records": _names(dfc_recs)}))
    else:
        not_judged.append("fullscale_linearisation (no DFC records)")

    # --- trained vs fixed ----------------------------------------------------------------
    pairs = [(d, m) for (d, m, f) in g if f == "trained" and (d, m, "fixed") in g]
    if pairs:
        c2 = {f"{d}:{m}": (_late_mean(g[(d, m, "trained")], "cond2"),
                           _late_mean(g[(d, m, "fixed")], "cond2")) for d, m in pairs}
        ok = all(t > f for t, f in c2.values())
        results.append(Result(
            name="fullscale_condition2",
            claim=("learned feedback keeps a higher Condition-2 ratio than the fixed "
                   "weight-product feedback over the second half of training" + suffix),
            reference="THEORY.md s.4 Theorem 6; s.8 (Fig 3A)",
            predicted="ratio(trained) > ratio(fixed)",
            measured={k: {"trained": t, "fixed": f} for k, (t, f) in c2.items()},
            tolerance="strict ordering of the seed means, per data set and method",
            why=("Theorem 6 drives learned Q towards a damped pseudoinverse (ratio -> 1) while "
                 "the weight product lacks the D_i factors of J^T and drifts as W is trained"),
            passed=bool(ok), details={"pairs": [f"{d}:{m}" for d, m in pairs]}))
        al = {}
        for d, m in pairs:
            t = _seed_mean([_drift(r, "angle_mn") for r in g[(d, m, "trained")]])
            f = _seed_mean([_drift(r, "angle_mn") for r in g[(d, m, "fixed")]])
            al[f"{d}:{m}"] = {"trained drift [deg]": t, "fixed drift [deg]": f,
                              "trained late [deg]": _late_mean(g[(d, m, "trained")], "angle_mn"),
                              "fixed late [deg]": _late_mean(g[(d, m, "fixed")], "angle_mn")}
        judged = {k: v for k, v in al.items()
                  if np.isfinite(v["trained drift [deg]"]) and np.isfinite(v["fixed drift [deg]"])}
        ok = all(v["trained drift [deg]"] < v["fixed drift [deg]"] for v in judged.values())
        if not judged:
            not_judged.append("fullscale_alignment (fewer than two logged batches per record)")
        else:
            results.append(Result(
                name="fullscale_alignment",
                claim=("during training the alignment of the DFC update with the damped "
                       "minimum-norm update degrades less with learned feedback than with fixed "
                       "feedback (the fixed weight product starts well and degrades)" + suffix),
                reference="THEORY.md s.4 Theorems 3 and 6; s.8 (Fig 3B)",
                predicted="drift(trained) < drift(fixed), drift = mean angle_mn of the last epoch "
                          "minus that of the first",
                measured=judged,
                tolerance="strict ordering of the seed means, per data set and method",
                why=("learned Q tracks a damped pseudoinverse of the current J (Theorem 6), so the "
                     "Condition-2 route to the minimum-norm update (Q (JQ)^{-1} = J^+) is kept; the "
                     "frozen weight product cannot follow J as W changes.  A drift rather than a "
                     "level: the damped reference itself moves during training (BP's angle to it "
                     "grows too), and on short runs fixed Q has not yet crossed learned Q"),
                passed=bool(ok)))
    else:
        not_judged.append("fullscale_condition2 / fullscale_alignment (need trained and fixed "
                          "records of the same method)")

    # --- Table 1: test error relative to BP ----------------------------------------------
    res, reduced = _test_error_result(records, g, suffix)
    if res is None:
        not_judged.append("fullscale_test_error (need BP and DFC classification records on "
                          "the full protocol: full data and the paper's epochs)")
    else:
        results.append(res)

    # --- the records themselves ---------------------------------------------------------
    bad = []
    for r in records:
        s = r.get("summary", {})
        ep = r.get("epochs", [])
        if s.get("status") != "complete" or len(ep) < 2:
            bad.append(f"{r.get('_path')}: status {s.get('status')}, {len(ep) - 1} epochs")
            continue
        if any(e.get("train_loss") is None or not math.isfinite(e["train_loss"]) for e in ep):
            bad.append(f"{r.get('_path')}: non-finite train loss")
        if r["config"]["method"] in DFC and not r.get("alignment"):
            bad.append(f"{r.get('_path')}: no alignment rows")
    n_red = sum(bool(r.get("summary", {}).get("reduced_data")) for r in records)
    results.append(Result(
        name="fullscale_records",
        claim=("every run record is complete: finite losses every epoch and alignment rows for "
               "every DFC run" + suffix),
        reference="issue 6 record format (dfc_theory/torch/records.py)",
        predicted="0 defective records", measured={"defective": len(bad), "records": len(records),
                                                   "on reduced data": n_red},
        tolerance="none defective",
        why="a diverged or truncated run cannot support any of the claims above",
        passed=not bad and bool(records), provenance="ours",
        details={"defects": bad, "not judged": not_judged, "source": source,
                 "test error on reduced protocols (reported, not judged)": reduced,
                 "records": [r.get("_path") for r in records]}))
    return results


def _test_error_result(records, g, suffix):
    from dfc_theory.torch.records import PAPER_TABLE1, PAPER_EPOCHS
    rows, reduced, ok = {}, {}, True
    for (tag, m, f), recs in g.items():
        d = recs[0]["config"]["dataset"]
        if m not in DFC or d == "mnist_ae" or (tag, "bp", None) not in g:
            continue  # DFC variants against BP of the same protocol (classification)
        bp = g[(tag, "bp", None)]
        lab = _label(recs[0])
        ours = float(np.mean([r["summary"]["test_metric_at_best_val"] for r in recs]))
        ours_bp = float(np.mean([r["summary"]["test_metric_at_best_val"] for r in bp]))
        pm, ps = PAPER_TABLE1[lab][d]
        bm, bs = PAPER_TABLE1["BP"][d]
        spread = math.hypot(ps, bs)
        full = all(not r["summary"].get("reduced_data") and
                   r["summary"].get("epochs_done", 0) >= PAPER_EPOCHS[d] for r in recs + bp)
        row = {"ours [%]": ours, "BP ours [%]": ours_bp, "paper [%]": pm,
               "paper BP [%]": bm, "seeds": len(recs)}
        if not full:
            # Table 1 compares converged training on the full data: a few epochs on a subset
            # (one seed) cannot support or refute it, so it is reported, not judged
            reduced[f"{tag}:{lab}"] = row
            continue
        bound = ours_bp + (pm - bm) + 2 * spread
        good = ours <= bound
        ok &= good
        rows[f"{tag}:{lab}"] = {**row, "bound [%]": bound, "full protocol": full,
                              "rule": "ours - BP_ours <= (paper - BP_paper) + 2 x paper spread"}
    if not rows:
        return None, reduced
    res = Result(
        name="fullscale_test_error",
        claim=("the DFC variants' test error (at the best validation epoch) relative to BP's is "
               "within the paper's reported spread" + suffix),
        reference="THEORY.md s.9 (Table 1)",
        predicted="DFC-variant error <= BP error + paper gap + 2 paper spreads",
        measured=rows, tolerance=("records on full data with >= the paper's epochs: ours - "
                                  "BP_ours <= (paper - BP_paper) + 2 sqrt(sd^2 + sd_BP^2)"),
        why=("Table 1 reports 5-seed means +- std; two combined standard deviations is the "
             "paper's own spread.  Records on reduced data or epochs are reported in "
             "fullscale_records, not judged: a few epochs on a subset cannot support or "
             "refute a claim about converged training"),
        passed=bool(ok), provenance="paper", details={"reduced protocols (not judged)": reduced})
    return res, reduced


# ---------------------------------------------------------------------------- entry point
def run(ctx):
    """The full-scale Results, all of kind "fullscale" (judged on run records: no random-draw
    sweep and no negative control, so they never count as verifying a theorem)."""
    results = _run(ctx)
    for r in results:
        r.kind = "fullscale"
    return results


def _run(ctx):
    records_mod, _ = _torch_modules()
    if records_mod is None:
        # not silently skipped: the full-scale claims are then unverified, which is a failure
        return [Result(
            name="fullscale_available",
            claim="the full-scale checks ran (they need the optional PyTorch backend)",
            reference="issue 6; THEORY.md s.9", predicted="torch importable",
            measured="PyTorch is not installed (pip install 'dfc-theory[torch]')",
            tolerance="-", why="a claim that could not be checked is not a passed check",
            passed=False)]
    folder = records_mod.default_runs_dir()
    records = records_mod.load_records(folder, complete_only=False)
    if records:
        return judge(records, f"{len(records)} record(s) in {folder}")
    out = Path(ctx.out) / ("fullscale_runs_full" if ctx.full else "fullscale_runs_quick")
    records = make_records(out, full=ctx.full, seed=ctx.seed)
    for r in records:  # paths relative to the report folder (built in a temporary folder)
        if r.get("_path"):
            try:
                r["_path"] = str(Path(r["_path"]).relative_to(Path(ctx.out)))
            except ValueError:
                pass
    what = ("small CPU version (784-256-256-256-10 on the 5000-digit subset, 2-3 epochs)"
            if ctx.full else "tiny CPU run (784-48-48-10, 1024 digits, 2 epochs)")
    # no time or temporary path in the text: results are identical from run to run (the
    # report is built in a temporary folder and renamed, --jobs runs in other processes)
    src = (f"no records in {folder} (set ${records_mod.RUNS_ENV}); ran a {what}, records in "
           f"{out.name}/ of the report folder")
    return judge(records, src)
