"""Save and reload a draw (a counterexample) as plain JSON.

The file holds everything needed to rebuild the system without this package's help:

* ``claim``: the claim's name (or null);
* ``weights``: [W_1, ..., W_L], each a 2-D list (n_i rows of n_{i-1});
* ``biases``: [b_1, ..., b_L], each a list of n_i numbers;
* ``activation``, ``output_activation``: names of phi (hidden layers) and phi_L;
* ``Q`` (N x n_L), ``x`` (B x n_0), ``target`` (B x n_L): 2-D lists;
* ``controller``: ``alpha``, ``k_p``, ``tau_v``, ``tau_u``, ``leak`` (and ``tau_A``,
  ``sigma`` when they are not the defaults);
* ``measured``: the claim's measured value (and ``predicted``, ``what``, ``holds``,
  ``statement`` when a verdict is given), plus free ``extra`` facts.

Floats are written with Python's shortest round-trip representation, so a reloaded draw is
bit-for-bit the saved one.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .. import Controller, DFCSystem, Network
from .premises import Draw

__all__ = ["counterexample_dict", "draw_from_dict", "save_counterexample",
           "load_counterexample", "regression_test_source", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_REQUIRED = ("weights", "biases", "activation", "output_activation", "Q", "x", "target",
             "controller")


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else str(v)


def _plain(value):
    """JSON-ready copy: arrays to nested lists, non-finite floats to strings."""
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _num(value)
    return value


def counterexample_dict(draw, claim=None, verdict=None, extra=None):
    """The JSON-ready dict of a draw (see the module docstring for the keys).

    Parameters
    ----------
    draw : Draw
    claim : str or object with ``name`` (and ``statement``), optional
    verdict : object with ``holds``, ``measured``, ``predicted``, ``what``, optional
    extra : dict, optional
        Further facts (seed, number of examples, ...), stored under ``"extra"``.
    """
    if not isinstance(draw, Draw):
        raise TypeError(f"draw: expected a dfc_theory.testing.Draw, got {type(draw).__name__}")
    net, c = draw.network, draw.controller
    ctrl = {"alpha": c.alpha, "k_p": c.k_p, "tau_v": c.tau_v, "tau_u": c.tau_u, "leak": c.leak}
    if c.tau_A is not None:
        ctrl["tau_A"] = c.tau_A
    if c.sigma:
        ctrl["sigma"] = c.sigma
    out = {
        "format": FORMAT_VERSION,
        "claim": getattr(claim, "name", claim),
        "sizes": list(net.sizes),
        "weights": [w.tolist() for w in net.weights],
        "biases": [b.tolist() for b in net.biases],
        "activation": net.activation.name,
        "output_activation": net.output_activation.name,
        "Q": np.asarray(draw.Q).tolist(),
        "x": np.asarray(draw.x).tolist(),
        "target": np.asarray(draw.target).tolist(),
        "controller": ctrl,
        "measured": None,
    }
    if getattr(claim, "statement", None):
        out["statement"] = claim.statement
    if verdict is not None:
        out.update(measured=verdict.measured, predicted=verdict.predicted, what=verdict.what,
                   holds=verdict.holds)
    if draw.label:
        out["label"] = draw.label
    if extra:
        out["extra"] = dict(extra)
    return _plain(out)


def draw_from_dict(data):
    """Rebuild a :class:`Draw` from :func:`counterexample_dict`'s dict (``meta`` gets the
    claim, measured value and extra facts)."""
    if not isinstance(data, dict):
        raise TypeError(f"data: expected a dict, got {type(data).__name__}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"data: missing keys {missing}; expected {list(_REQUIRED)}")
    net = Network([np.array(w, dtype=np.float64) for w in data["weights"]],
                  [np.array(b, dtype=np.float64) for b in data["biases"]],
                  activation=data["activation"], output_activation=data["output_activation"])
    c = data["controller"]
    if not isinstance(c, dict):
        raise ValueError("data: 'controller' must be a dict with alpha, k_p, tau_v, tau_u, leak")
    ctrl = Controller(**{k: c[k] for k in ("alpha", "k_p", "tau_v", "tau_u", "leak", "tau_A",
                                           "sigma") if k in c})
    system = DFCSystem(net, np.array(data["Q"], dtype=np.float64), ctrl)
    meta = {k: data[k] for k in ("claim", "measured", "predicted", "what", "holds", "extra")
            if k in data}
    return Draw(system, np.array(data["x"], dtype=np.float64),
                np.array(data["target"], dtype=np.float64), data.get("label", ""), meta)


def save_counterexample(path, draw, claim=None, verdict=None, extra=None):
    """Write ``draw`` (with its claim and verdict) to ``path`` as JSON; returns the Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(counterexample_dict(draw, claim, verdict, extra), indent=1) + "\n")
    return path


def load_counterexample(path):
    """Reload a draw written by :func:`save_counterexample` (or ``python -m verification
    search ... --out DIR``, file ``DIR/counterexample.json``).

    Returns
    -------
    Draw, bit-for-bit the saved system, inputs and targets; ``draw.meta`` holds ``claim``,
    ``measured`` (and ``predicted``, ``holds``, ``extra`` when saved).

    Examples
    --------
    >>> from dfc_theory.testing import load_counterexample, CLAIMS  # doctest: +SKIP
    >>> draw = load_counterexample("out/counterexample.json")      # doctest: +SKIP
    >>> CLAIMS[draw.meta["claim"]](draw).holds                     # doctest: +SKIP
    False
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"path: no such file {str(path)!r}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"path: {str(path)!r} is not valid JSON ({exc})") from None
    return draw_from_dict(data)


def _arr(a):
    return f"np.array({np.asarray(a).tolist()!r})"


def regression_test_source(draw, claim, expect_holds=False, command=None):
    """Source code of a pytest regression test that rebuilds ``draw`` from literals (floats
    in round-trip precision) and asserts the claim's verdict.

    Parameters
    ----------
    draw : Draw
    claim : str
        Name of a claim of :data:`dfc_theory.testing.CLAIMS`.
    expect_holds : bool
        What the test asserts: False pins a counterexample of a known false claim (the test
        passes); True asserts the claim (for a believed result the test then fails until
        whatever made it fail is understood and fixed).
    command : str, optional
        The command that found the draw (quoted in the docstring).
    """
    if not isinstance(draw, Draw):
        raise TypeError(f"draw: expected a dfc_theory.testing.Draw, got {type(draw).__name__}")
    net, c = draw.network, draw.controller
    fn = "test_" + "".join(ch if ch.isalnum() else "_" for ch in str(claim)) + "_counterexample"
    ws = ",\n        ".join(_arr(w) for w in net.weights)
    bs = ",\n        ".join(_arr(b) for b in net.biases)
    extra = "".join(f", {k}={getattr(c, k)!r}" for k in ("tau_A", "sigma")
                    if getattr(c, k) not in (None, 0.0))
    found = f"Found by ``{command}``." if command else "A counterexample found by search."
    check = ("assert verdict.holds, verdict  # a result of the paper: this fails until explained"
             if expect_holds else
             "assert not verdict.holds, verdict  # a known false extrapolation")
    return f'''import numpy as np

import dfc_theory as dfc
from dfc_theory.testing import CLAIMS, Draw


def {fn}():
    """{found}"""
    net = dfc.Network(
        [{ws}],
        [{bs}],
        activation={net.activation.name!r}, output_activation={net.output_activation.name!r})
    Q = {_arr(draw.Q)}
    controller = dfc.Controller(alpha={c.alpha!r}, k_p={c.k_p!r}, tau_v={c.tau_v!r},
                                tau_u={c.tau_u!r}, leak={c.leak!r}{extra})
    draw = Draw(dfc.DFCSystem(net, Q, controller), x={_arr(draw.x)},
                target={_arr(draw.target)})
    claim = CLAIMS[{str(claim)!r}]
    assert claim.premise_failure(draw) is None
    verdict = claim(draw)
    {check}
'''
