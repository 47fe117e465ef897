"""``python -m verification search``: listing, bad command lines, a counterexample written to
JSON and recomputed independently, reproducibility, and a true claim with none found.

The independent recomputation rebuilds the network from ``counterexample.json`` with plain
NumPy (its own forward pass, activations, Newton iteration on the steady-state equation,
finite-difference Jacobians of its own right-hand side of THEORY.md section 2): nothing of
dfc_theory is used to confirm that Condition 3 holds at the exact steady state while the full
linearised system there is unstable.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from verification.search import main

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"claim", "weights", "biases", "activation", "output_activation", "Q", "x", "target",
        "controller", "measured"}


# ---------------------------------------------------------------------------- plain NumPy
def _phi(name, v):
    return {"linear": lambda: v, "tanh": lambda: np.tanh(v),
            "sigmoid": lambda: 1 / (1 + np.exp(-v)), "softplus": lambda: np.logaddexp(0, v),
            "relu": lambda: np.maximum(v, 0), "leaky_relu": lambda: np.where(v > 0, v, 0.01 * v),
            }[name]()


class Plain:
    """The DFC system of a counterexample.json in plain NumPy (one sample)."""

    def __init__(self, data, b=0):
        self.W = [np.array(w, float) for w in data["weights"]]
        self.b = [np.array(v, float) for v in data["biases"]]
        self.act, self.out = data["activation"], data["output_activation"]
        self.Q = np.array(data["Q"], float)
        self.x = np.array(data["x"], float)[b]
        self.t = np.array(data["target"], float)[b]
        c = data["controller"]
        self.alpha, self.k_p, self.tau_v, self.tau_u, self.leak = (
            c["alpha"], c["k_p"], c["tau_v"], c["tau_u"], c["leak"])
        self.sizes = [w.shape[0] for w in self.W]
        self.offs = np.cumsum([0] + self.sizes)

    def phi(self, i, v):  # layer i = 0..L-1
        return _phi(self.out if i == len(self.W) - 1 else self.act, v)

    def basal(self, v):
        """W_i phi(v_{i-1}) + b_i with r_0 = x, for a stacked v."""
        r, out = self.x, []
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            out.append(w @ r + b)
            r = self.phi(i, v[self.offs[i]:self.offs[i + 1]])
        return np.concatenate(out)

    def forward(self, u):
        """v(u): v_i = W_i phi(v_{i-1}) + b_i + Q_i u, layer by layer."""
        dv, r, v = self.Q @ u, self.x, []
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            vi = w @ r + b + dv[self.offs[i]:self.offs[i + 1]]
            v.append(vi)
            r = self.phi(i, vi)
        return np.concatenate(v), r

    def alpha_eff(self):
        return self.alpha / (1 + self.alpha * self.k_p) if self.leak == "integral" else self.alpha

    def F(self, u):
        return self.alpha_eff() * u - self.t + self.forward(u)[1]

    def steady_state(self):
        """Newton in u with a central-difference Jacobian, then polish."""
        u = np.zeros_like(self.t)
        for _ in range(60):
            G = fd_jacobian(self.F, u, 1e-6)
            step = np.linalg.solve(G, self.F(u))
            u = u - step
            if np.linalg.norm(step) < 1e-14 * max(1, np.linalg.norm(u)):
                break
        assert np.linalg.norm(self.F(u)) < 1e-11 * max(1, np.linalg.norm(self.t))
        return u

    def rhs(self, z):
        """dz/dt of THEORY.md s.2, z = [v; s] (s = u_int for 'integral', u for 'total')."""
        N = self.offs[-1]
        v, s = z[:N], z[N:]
        e = self.t - self.phi(len(self.W) - 1, v[self.offs[-2]:])
        u = s + self.k_p * e if self.leak == "integral" else s
        dv = (-v + self.basal(v) + self.Q @ u) / self.tau_v
        if self.leak == "integral":
            ds = (e - self.alpha * s) / self.tau_u
        else:   # tau_u du/dt = e - alpha u + k_p tau_u de/dt, de/dt = -phi_L'(v_L) dv_L/dt
            vL = v[self.offs[-2]:]
            h = 1e-7
            dphi = (self.phi(len(self.W) - 1, vL + h) - self.phi(len(self.W) - 1, vL - h)) / (2 * h)
            ds = (e - self.alpha * u) / self.tau_u - self.k_p * dphi * dv[self.offs[-2]:]
        return np.concatenate([dv, ds])


def fd_jacobian(f, z, h):
    return np.stack([(f(z + h * e) - f(z - h * e)) / (2 * h) for e in np.eye(z.size)], axis=1)


def independent_verdict(data, b=0):
    """(Condition-3 margin, spectral abscissa) at the exact steady state, in plain NumPy."""
    p = Plain(data, b)
    u = p.steady_state()
    v, rL = p.forward(u)
    JQ = fd_jacobian(lambda uu: p.forward(uu)[1], u, 1e-6)      # d r_L(u)/du = J_ss Q
    margin = float(np.min(np.linalg.eigvals(JQ).real) + p.alpha)
    s = u - p.k_p * (p.t - rL) if p.leak == "integral" else u
    z = np.concatenate([v, s])
    assert np.abs(p.rhs(z)).max() < 1e-9 * max(1, np.abs(z).max() / p.tau_v)
    A = fd_jacobian(p.rhs, z, 1e-6)
    return margin, float(np.max(np.linalg.eigvals(A).real))


# ---------------------------------------------------------------------------- CLI
def test_list_names_at_least_eight_claims(capsys):
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = lines[0::2]
    assert len(names) >= 8 and "condition3-implies-stable" in names
    assert "newton-matches-simulation" in names
    assert all(not n.startswith(" ") and " " not in n for n in names)
    assert all(s.startswith("    ") for s in lines[1::2])


@pytest.mark.parametrize("argv, option", [
    (["no-such-claim"], "claim"), (["--examples", "0", "lemma1-quadratic"], "--examples"),
    (["--seed", "x", "lemma1-quadratic"], "--seed"), ([], "claim"), (["--bogus"], "--bogus"),
    (["--list", "lemma1-quadratic"], "--list"),
])
def test_bad_command_lines_one_line_exit_2(argv, option, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err and "Traceback" not in err


def test_out_that_is_a_file_is_refused_before_the_search(tmp_path, capsys):
    """A file where the --out folder is expected: one line, exit 2, and no search run
    (it used to fail with a traceback after the search had found its counterexample)."""
    f = tmp_path / "a_file"
    f.write_text("")
    assert main(["pinv-limit-without-condition2", "--examples", "5", "--no-shrink",
                 "--quiet", "--out", str(f)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "Traceback" not in err
    assert "searching" not in captured.out


def test_dispatch_from_the_verification_command():
    out = subprocess.run([sys.executable, "-m", "verification", "search", "--list"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "condition3-implies-stable" in out.stdout


def _check_counterexample(path):
    data = json.loads(Path(path).read_text())
    assert KEYS <= set(data) and data["claim"] == "condition3-implies-stable"
    assert all(isinstance(w, list) and isinstance(w[0], list) for w in data["weights"])
    assert set(data["controller"]) >= {"alpha", "k_p", "tau_v", "tau_u", "leak"}
    assert data["controller"]["tau_v"] > 0
    for b in range(len(data["x"])):
        margin, abscissa = independent_verdict(data, b)
        assert margin > 0                      # Condition 3 at the exact steady state ...
        if abscissa > 1e-6:                    # ... while the full system is unstable
            break
    else:
        pytest.fail("no sample of the counterexample is unstable (independent check)")
    assert abscissa == pytest.approx(data["measured"], rel=1e-4, abs=1e-6)
    return data


def test_counterexample_found_written_and_confirmed_independently(tmp_path, capsys):
    """Fast variant (seed 2 finds one within ten examples; not shrunk)."""
    rc = main(["condition3-implies-stable", "--examples", "100", "--seed", "2", "--no-shrink",
               "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 1 and "COUNTEREXAMPLE" in out and "def test_" in out
    data = _check_counterexample(tmp_path / "counterexample.json")
    # reproducible: the same command gives the same counterexample
    rc = main(["condition3-implies-stable", "--examples", "100", "--seed", "2", "--no-shrink",
               "--out", str(tmp_path / "again"), "--quiet"])
    assert rc == 1
    again = json.loads((tmp_path / "again" / "counterexample.json").read_text())
    assert again == data
    # the printed regression test runs and pins the counterexample
    src = out.split("-" * 72)[1]
    ns = {}
    exec(compile(src, "regression.py", "exec"), ns)
    next(f for k, f in ns.items() if k.startswith("test_"))()


@pytest.mark.slow
def test_issue_command_condition3_implies_stable(tmp_path, capsys):
    """The issue's command: 300 examples, seed 0, shrunk; exit 1; confirmed independently."""
    rc = main(["condition3-implies-stable", "--examples", "300", "--seed", "0",
               "--out", str(tmp_path), "--quiet"])
    assert rc == 1
    data = _check_counterexample(tmp_path / "counterexample.json")
    print(capsys.readouterr().out)
    print("sizes", [len(data["weights"][0][0])] + [len(w) for w in data["weights"]])


def test_true_claim_short_search_exit_0(capsys):
    rc = main(["newton-matches-simulation", "--examples", "5", "--seed", "0", "--quiet"])
    assert rc == 0 and "no counterexample in 5 examples" in capsys.readouterr().out


@pytest.mark.slow
def test_issue_command_newton_matches_simulation(capsys):
    rc = main(["newton-matches-simulation", "--examples", "50", "--quiet"])
    assert rc == 0 and "no counterexample in 50 examples" in capsys.readouterr().out


# ---------------------------------------------------------------------------- README
def _readme_snippet():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Property-testing your own conjecture", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_users_test_file_outside_the_repository(tmp_path):
    """The README's test, saved by a user in their own folder, run by pytest with Hypothesis'
    default settings (no profile, every health check on) and only public names."""
    src = _readme_snippet()
    assert "import dfc_theory" in src or "from dfc_theory" in src
    assert "._" not in src and "tests" not in src
    (tmp_path / "test_my_conjecture.py").write_text(src)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HYPOTHESIS")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_my_conjecture.py"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "passed" in out.stdout and "HealthCheck" not in out.stdout
