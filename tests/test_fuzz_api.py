"""Fuzz of the public API with random values, shapes, dtypes and containers (issue 13,
item 6).

Every property has the same form: a call of a public entry point with one argument replaced
by a generated value either

* returns, when the value is valid, and the result is consistent (shapes; finite where
  ``converged``; a steady state flagged converged has an exact residual within the
  library's own tolerance tol * max(1, ||r_L*||)), or
* raises, when the value is invalid, a ValueError or TypeError *of the library* (not from
  inside NumPy/SciPy/torch) whose message starts with the argument's name or quotes it.

"Valid" is decided here from the documented contract (ranges, shapes, dtypes), never by
the call under test.  The classifier is the one of ``scripts/probe_api.py``
(:func:`names_argument`, :func:`raised_in`), so the probe table and this suite judge an
error the same way.  Hypothesis runs under the ``ci`` profile of tests/conftest.py
(derandomized); the bad inputs the issue reported are also given as explicit
``@example``s, so a regression does not depend on what the generator happens to draw.
The whole module runs in about a minute on 2 cores (``-m "not slow"``).

General properties
------------------
E1  the real-valued fields of Controller (6), FeedbackConfig (7) and TrainingConfig (7),
    given any scalar: floats with nan/inf/+-0, ints, bools, NumPy scalars, complex,
    strings, None, lists, dicts (``test_config_fields``).
E2  the scalar arguments the library range-checks in 14 entry points (tol, dt, lam,
    gamma, margin, alpha, beta, scale), same values up to 1e6 in magnitude
    (``test_scalar_arguments``).
E3  8 integer arguments (n_steps, max_iter, epochs, batch_size, n_steps_fb, ...) given
    ints, bools, NumPy ints and non-integral floats (``test_integer_arguments``).
E4  the input x of 14 entry points: arrays of random rank 0-3 and non-empty shape, dtype
    float64/float32/int64 (valid) or bool/complex/object (refused), as ndarray, list or
    tuple, sometimes with a nan/inf (``test_input_x``); E5 the output target r_L* of 7
    entry points and y of output_target, the same way (``test_output_target``,
    ``test_regression_targets_y``).
E6  Q of DFCSystem, and the matrix A of 5 spectral functions, checked against
    np.linalg.eigvals, empty batches included (``test_feedback_matrix_Q``,
    ``test_matrix_A``).
E7  lists, tuples and per-layer blocks give exactly what arrays give (7 entry points).
E8  an unknown keyword raises TypeError naming it, for the 11 entry points whose
    signature is closed (``test_unknown_keyword_rejected``).
E9  random DFC draws (dfc_theory.testing.strategies.systems): Newton's ``converged`` implies a finite u and
    an exact residual <= tol * max(1, ||r_L*||); the simulation's implies a finite state
    that did not diverge; SSA's implies a finite u; ``stable`` is ``converged`` and a
    negative spectral abscissa of ``A_system`` at the state, Newton and SSA
    (``test_steady_states_report_stability``).
E10 torch: NumPy arrays and lists give what tensors give in 9 functions; unknown keywords
    rejected where the signature is closed (3); non-finite NumPy inputs rejected naming the
    argument (5).
The classifier itself (``test_probe_classifier``) and every probe of scripts/probe_api.py
(``test_probe_suite_runs``: no probe broken by a moved public name) are tested too.

The defects issue 13 reported (fixed; strict xfails before), one case per entry point
------------------------------------------------------------------------------------
K1  unknown keywords: ``steady_state`` ("newton", "ssa"), ``forward_update`` ("dfc-ssa",
    "bp", "dfa"), torch ``forward_update``.
K2  complex arrays refused (x, target, Q, weights, r_L, J) or computed exactly
    (spectral_abscissa, spectral_radius, spectra).
K3  bools are not numbers: Network.random(sizes, gain, seed), bool arrays (x, Q, weights),
    cross-entropy labels.
K4  object arrays refused (x, Q, weights, A).
K5  integers: nan/inf/None/strings (max_iter, n_steps, log_every, max_tries); non-integral
    sizes, labels and batch sizes (Network.random, TrainingConfig, symbolic_system,
    cross-entropy labels, TimeAveragedRule).
K6  ranges: Network.random gain/bias_scale, simulate conv_tol/eps, ivp rtol/atol, linear
    sigma_out, feedback_metrics alpha, simulated_verdict converged_below, TrainingConfig
    dfa_scale, q_init_scale, decay_fb, sigma_fb, alpha_fb; random_gaussian(scale=-0.0).
K7  DFCSystem(net, Q.tolist(), ...) accepted (a list of rows is a matrix, a list of 2-D
    blocks is [Q_1; ...; Q_L]), also through forward_update and in torch.
K8  empty batches (B = 0): empty results of the right shape, or a clear error where a
    batch mean is undefined (the updates, feedback_update, feedback_metrics).
K9  flags: SSA's ``converged`` by its exact residual (far target), steady states report
    ``stable``, an overflowing target is not "converged" with residual inf, a singular
    J Q + alpha I is not "converged" on torch either (test_torch_contract).
K10 torch: the target functions, condition2_ratio and spectral_abscissa take NumPy arrays
    and lists; float64 NumPy weights stay float64; a NaN input tensor of feedback_update
    is named; output_target refuses a NaN y.
K11 condition1_deviation of a zero input: 0 (equal norms), without a RuntimeWarning.
"""
from __future__ import annotations

import importlib.util
import inspect
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import dfc_theory as dfc
from dfc_theory.testing.strategies import systems

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("probe_api", ROOT / "scripts" / "probe_api.py")
probe_api = sys.modules.setdefault("probe_api", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(probe_api)

HAS_TORCH = importlib.util.find_spec("torch") is not None


def needs_torch(test):
    """Marks ``torch`` and skips without the optional backend (the NumPy fuzz still runs)."""
    return pytest.mark.torch(pytest.mark.skipif(not HAS_TORCH, reason="needs the optional "
                                                "torch backend")(test))


#: the library's default Newton tolerance in float64 (steady_state's ``tol``)
NEWTON_TOL = 1e-12
#: more examples for the cheap properties (validation only), a multiple of the profile's
CHEAP = settings(max_examples=3 * settings.default.max_examples,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# ---------------------------------------------------------------------------- fixtures
NET = dfc.Network.random([3, 4, 2], activation="tanh", seed=0)
N, NL = NET.n_total, NET.n_out
_rng = np.random.default_rng(6)
X = _rng.standard_normal((5, 3))
R = NET.forward(X).output
T = R + 0.05 * _rng.standard_normal((5, 2))
D = T - R
Q = dfc.feedback.weight_product(NET)
CTRL = dfc.Controller(alpha=0.1, tau_v=0.2)
SYS = dfc.DFCSystem(NET, Q, CTRL)
SYS_INST = dfc.DFCSystem(NET, Q, dfc.Controller(alpha=0.1, tau_v=0.0))
A_STABLE = np.array([[-1.0, 2.0], [0.0, -3.0]])
X0, T0 = np.zeros((0, 3)), np.zeros((0, 2))
B_FB = dfc.dfa_feedback(NET, seed=0)
L_SHAPES = [w.shape for w in NET.weights]


def case(id_, *values):
    """A parametrised case with an id."""
    return pytest.param(*values, id=id_)


# ---------------------------------------------------------------------------- judging
def attempt(call, *args):
    """(value, None) or (None, exception)."""
    try:
        return call(*args), None
    except Exception as exc:  # judged by the caller
        return None, exc


def assert_named_error(exc, names):
    """A ValueError/TypeError raised by the library that names one of ``names``."""
    assert exc is not None, "invalid input accepted"
    assert isinstance(exc, (ValueError, TypeError)), \
        f"{type(exc).__name__} instead of ValueError/TypeError: {exc}"
    where = probe_api.raised_in(exc)
    assert where in ("dfc_theory", "signature"), f"raised inside {where}: {exc}"
    assert probe_api.names_argument(str(exc), names), \
        f"message does not start with / quote {names}: {exc}"


def judge(call, value, names, valid, check=None):
    """The property of the module docstring for one generated ``value``."""
    out, exc = attempt(call, value)
    if valid:
        assert exc is None, f"valid input rejected: {type(exc).__name__}: {exc}"
        if check is not None:
            check(out)
    else:
        assert exc is not None, f"invalid input {value!r:.80} accepted: returned {out!r:.160}"
        assert_named_error(exc, names)


def _require(ok, detail="predicate is False"):
    if not ok:
        raise AssertionError(detail)


def finite(a):
    return bool(np.all(np.isfinite(probe_api._np(a))))


def check_consistent(res, target=None, tol=NEWTON_TOL):
    """Flags of a steady state (with ``target`` = r_L*: a converged Newton state has an exact
    residual <= tol * max(1, ||r_L*||)) or a simulation, or finiteness of anything else."""
    if isinstance(res, dfc.SteadyState):
        if target is not None:
            target = np.broadcast_to(np.asarray(target, float), np.shape(res.u))
        tol = tol if (res.method == "newton" and target is not None) else None
        ok, detail = probe_api.flags_consistent(res, tol, target)
        assert ok, detail
    elif isinstance(res, dfc.SimulationResult):
        conv = np.atleast_1d(res.converged)
        u = np.atleast_2d(res.u_final)
        assert not np.any(conv & ~np.all(np.isfinite(u), axis=-1)), "converged, not finite"
        assert not np.any(conv & np.atleast_1d(res.diverged)), "converged and diverged"
    elif isinstance(res, dfc.Update):
        assert all(finite(w) for w in res.dW + (res.db or ())), "non-finite update"
    elif isinstance(res, dfc.learning.ForwardResult):
        check_consistent(res.update)
    elif isinstance(res, dfc.ForwardPass):
        assert finite(res.output)
    elif isinstance(res, dict):
        for v in res.values():
            if isinstance(v, np.ndarray) and v.dtype.kind in "fc":
                assert finite(v)
    elif isinstance(res, np.ndarray):
        assert finite(res)


# ---------------------------------------------------------------------------- strategies
SPECIAL_FLOATS = (0.0, -0.0, np.nan, np.inf, -np.inf, 1e-8, -1e-8)
ODD_SCALARS = (np.float32(0.5), np.float64(-2.0), np.int64(3), np.bool_(True), np.bool_(False),
               "0.5", "abc", None, [0.5], (1,), {"a": 1})


def scalars(max_magnitude=1e6):
    """Anything a user might pass where a real number is expected (no subnormal floats:
    1 / 5e-324 overflows, e.g. closed_form_feedback's beta; the probe table lists it)."""
    return st.one_of(st.floats(-max_magnitude, max_magnitude, allow_subnormal=False),
                     st.sampled_from(SPECIAL_FLOATS),
                     st.integers(-5, 5), st.booleans(), st.sampled_from(ODD_SCALARS),
                     st.complex_numbers(max_magnitude=10, allow_nan=False))


def is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) \
        and not isinstance(v, (bool, np.bool_))


def in_range(v, low, inclusive):
    return is_real(v) and math.isfinite(v) and (v > low or (inclusive and v == low))


@st.composite
def real_arrays(draw, valid_shapes, max_rank=3, dtypes=(np.float64, np.float32, np.int64),
                containers=("array", "list", "tuple"), nonfinite=True, min_dim=1):
    """A real array (maybe a nested list/tuple): half the time of one of ``valid_shapes``,
    otherwise of a random rank 0..max_rank and dims min_dim..5; float entries in [-3, 3],
    sometimes one nan/inf."""
    if draw(st.booleans()):
        shape = draw(st.sampled_from(valid_shapes))
    else:
        rank = draw(st.integers(0, max_rank))
        shape = tuple(draw(st.lists(st.integers(min_dim, 5), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = np.asarray(3 * rng.uniform(-1, 1, shape)).astype(dtype)
    if nonfinite and a.size and a.dtype.kind == "f" and draw(st.booleans()):
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf,
                                                                        -np.inf]))
    kind = draw(st.sampled_from(containers))
    if kind == "array" or a.ndim == 0:
        return a
    out = a.tolist()
    return _tuples(out) if kind == "tuple" else out


def _tuples(v):
    return tuple(_tuples(e) for e in v) if isinstance(v, list) else v


def valid_real(value, shapes):
    """Real numbers (float or integer dtype, not bool/complex/object), finite, of a valid
    shape."""
    a = np.asarray(value)
    return a.dtype.kind in "fiu" and a.shape in shapes and bool(np.all(np.isfinite(a)))


def keywords():
    return st.from_regex(r"\A[a-z][a-z_]{1,12}\Z", fullmatch=True)


# ============================================================================ E1
#: (class, field, lower bound, bound allowed, None allowed (its documented default))
CONFIG_FIELDS = [
    (dfc.Controller, "alpha", 0.0, True, False), (dfc.Controller, "k_p", 0.0, True, False),
    (dfc.Controller, "tau_v", 0.0, True, False), (dfc.Controller, "tau_u", 0.0, False, False),
    (dfc.Controller, "tau_A", 0.0, False, True), (dfc.Controller, "sigma", 0.0, True, False),
    (dfc.FeedbackConfig, "alpha_fb", 0.0, True, False),
    (dfc.FeedbackConfig, "k_p_fb", 0.0, True, False),
    (dfc.FeedbackConfig, "tau_u_fb", 0.0, False, False),
    (dfc.FeedbackConfig, "sigma_fb", 0.0, False, False),
    (dfc.FeedbackConfig, "lr_fb", 0.0, False, False),
    (dfc.FeedbackConfig, "beta", 0.0, True, False),
    (dfc.FeedbackConfig, "sigma_out", 0.0, True, True),
    (dfc.TrainingConfig, "lr", 0.0, False, False),
    (dfc.TrainingConfig, "rule_scale", 0.0, False, False),
    (dfc.TrainingConfig, "lr_fb", 0.0, False, False),
    (dfc.TrainingConfig, "lr_fb_init", 0.0, False, False),
    (dfc.TrainingConfig, "lam", 0.0, False, False),
    (dfc.TrainingConfig, "gn_damping", 0.0, True, False),
    (dfc.TrainingConfig, "clip", 0.0, False, True),
]


@CHEAP
@given(field=st.sampled_from(CONFIG_FIELDS), value=scalars())
@example(field=CONFIG_FIELDS[0], value=True)
@example(field=CONFIG_FIELDS[3], value=0.0)
def test_config_fields(field, value):
    """Controller, FeedbackConfig and TrainingConfig validate their real-valued fields."""
    cls, name, low, inclusive, optional = field
    base = {"alpha": 0.1} if cls is dfc.Controller else {}
    judge(lambda v: cls(**{**base, name: v}), value, (name,),
          (optional and value is None) or in_range(value, low, inclusive),
          lambda obj: _require(value is None or getattr(obj, name) == value,
                               f"{name} = {getattr(obj, name)}"))


# ============================================================================ E2
#: (id, argument, lower bound, bound allowed, None allowed (documented default), call)
SCALAR_ARGS = [
    case("steady_state tol", "tol", 0.0, False, True,  # judged with its own tol (test below)
         lambda v: dfc.steady_state(SYS, X, T, tol=v, max_iter=3)),
    case("simulate dt", "dt", 0.0, False, False,
         lambda v: dfc.simulate(SYS_INST, X, T, dt=v, n_steps=2)),
    case("output_target lam", "lam", 0.0, True, False, lambda v: dfc.output_target(R, T, v)),
    case("damped_pseudoinverse gamma", "gamma", 0.0, True, False,
         lambda v: dfc.feedback.damped_pseudoinverse(NET, X[0], v)),
    case("gn_update gamma", "gamma", 0.0, True, False,
         lambda v: dfc.gauss_newton.gn_update(NET, X, D, gamma=v)),
    case("min_norm_update gamma", "gamma", 0.0, True, False,
         lambda v: dfc.gauss_newton.min_norm_update(NET, X, D, gamma=v)),
    case("euler_stability dt", "dt", 0.0, False, False, lambda v: dfc.euler_stability(A_STABLE, v)),
    case("is_hurwitz margin", "margin", 0.0, True, False,
         lambda v: dfc.stability.is_hurwitz(A_STABLE, margin=v)),
    case("condition3 alpha", "alpha", 0.0, True, True, lambda v: dfc.condition3(SYS, X, alpha=v)),
    case("closed_form_feedback alpha", "alpha", 0.0, True, False,
         lambda v: dfc.closed_form_feedback(NET.jacobian(X[0]), v, 0.1)),
    case("closed_form_feedback beta", "beta", 0.0, False, False,
         lambda v: dfc.closed_form_feedback(NET.jacobian(X[0]), 0.1, v)),
    case("random_gaussian scale", "scale", 0.0, True, False,
         lambda v: dfc.feedback.random_gaussian(NET, seed=0, scale=v)),
    case("dfa_feedback scale", "scale", 0.0, False, False, lambda v: dfc.dfa_feedback(NET, scale=v)),
    case("reference_euler_matrix dt", "dt", 0.0, False, False,
         lambda v: dfc.stability.reference_euler_matrix(SYS_INST, X, v)),
]


@pytest.mark.parametrize("arg,low,inclusive,optional,call", SCALAR_ARGS)
@CHEAP
@given(value=scalars())
@example(value=-0.0)
def test_scalar_arguments(arg, low, inclusive, optional, call, value):
    judge(call, value, (arg,), (optional and value is None) or in_range(value, low, inclusive),
          lambda out: check_consistent(out, T, tol=value if arg == "tol" else NEWTON_TOL))


# ============================================================================ E3
INT_ARGS = [
    ("simulate n_steps", "n_steps", 1, lambda v: dfc.simulate(SYS, X, T, n_steps=v)),
    ("steady_state max_iter", "max_iter", 0, lambda v: dfc.steady_state(SYS, X, T, max_iter=v)),
    ("TrainingConfig epochs", "epochs", 1, lambda v: dfc.TrainingConfig(epochs=v)),
    ("TrainingConfig batch_size", "batch_size", 1, lambda v: dfc.TrainingConfig(batch_size=v)),
    ("TrainingConfig fb_pretrain_epochs", "fb_pretrain_epochs", 0,
     lambda v: dfc.TrainingConfig(fb_pretrain_epochs=v)),
    ("FeedbackConfig n_steps_fb", "n_steps_fb", 2,
     lambda v: dfc.FeedbackConfig(n_steps_fb=v)),
    ("train_feedback epochs", "epochs", 1,
     lambda v: dfc.train_feedback(NET, Q, X, epochs=v, seed=0)),
    ("train_feedback batch_size", "batch_size", 1,
     lambda v: dfc.train_feedback(NET, Q, X, batch_size=v, seed=0)),
]


def numeric_counts():
    """Ints, bools, NumPy ints and non-integral finite floats (integral floats such as 3.0
    are left out: whether they count as integers is for the fix to decide)."""
    return st.one_of(st.integers(-3, 6), st.booleans(), st.sampled_from([np.int64(2)]),
                     st.floats(-3, 6).filter(lambda f: f != int(f)))


def valid_count(v, low):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low


@pytest.mark.parametrize("name,arg,low,call", INT_ARGS, ids=[c[0] for c in INT_ARGS])
@given(value=numeric_counts())
def test_integer_arguments(name, arg, low, call, value):
    judge(call, value, (arg,), valid_count(value, low))


# ============================================================================ E4
def _delta_for(x):
    shape = np.shape(x)
    return np.zeros((shape[0] if len(shape) == 2 else 1, NL)) if len(shape) <= 2 else D


X_CALLS = [
    ("forward", lambda x: NET.forward(x)),
    ("jacobian", lambda x: NET.jacobian(x)),
    ("steady_state newton", lambda x: dfc.steady_state(SYS, x, T[0])),
    ("steady_state ssa", lambda x: dfc.steady_state(SYS, x, T[0], method="ssa")),
    ("simulate euler", lambda x: dfc.simulate(SYS, x, T[0], n_steps=5)),
    ("simulate linear", lambda x: dfc.simulate(SYS, x, T[0], "linear", n_steps=5)),
    ("system_matrices", lambda x: dfc.system_matrices(SYS, x)),
    ("condition3", lambda x: dfc.condition3(SYS, x)),
    ("initial_state", lambda x: SYS.initial_state(x)),
    ("bp_update", lambda x: dfc.gauss_newton.bp_update(NET, x, _delta_for(x))),
    ("gn_update", lambda x: dfc.gauss_newton.gn_update(NET, x, _delta_for(x))),
    ("forward_update dfc-ssa",
     lambda x: dfc.forward_update(NET, x, T[0], "dfc-ssa", Q=Q, controller=CTRL)),
    ("feedback_update", lambda x: dfc.feedback_update(NET, Q, x, seed=0)),
    ("layer_norms", lambda x: dfc.metrics.layer_norms(NET, x)),
]
X_SHAPES = [(3,), (1, 3), (4, 3)]
#: real dtypes (valid) and the ones a real array must refuse
ANY_DTYPES = (np.float64, np.float32, np.int64, np.bool_, np.complex128, object)


@pytest.mark.parametrize("name,call", X_CALLS, ids=[c[0] for c in X_CALLS])
@given(x=real_arrays(X_SHAPES, dtypes=ANY_DTYPES))
def test_input_x(name, call, x):
    valid = valid_real(x, [(3,)] + [(b, 3) for b in range(1, 6)])
    judge(call, x, ("x",), valid, lambda out: check_consistent(out, T[0]))


# ============================================================================ E5
T_CALLS = [
    ("steady_state newton", lambda t: dfc.steady_state(SYS, X, t)),
    ("steady_state ssa", lambda t: dfc.steady_state(SYS, X, t, method="ssa")),
    ("simulate euler", lambda t: dfc.simulate(SYS, X, t, n_steps=5)),
    ("simulate linear", lambda t: dfc.simulate(SYS, X, t, "linear", n_steps=5)),
    ("forward_update dfc-ssa",
     lambda t: dfc.forward_update(NET, X, t, "dfc-ssa", Q=Q, controller=CTRL)),
    ("system_matrices at steady_state",
     lambda t: dfc.system_matrices(SYS, X, t, at="steady_state")),
    ("linearise", lambda t: SYS.linearise(X, t)),
]
T_SHAPES = [(2,), (1, 2), (5, 2)]


@pytest.mark.parametrize("name,call", T_CALLS, ids=[c[0] for c in T_CALLS])
@given(t=real_arrays(T_SHAPES, dtypes=ANY_DTYPES))
def test_output_target(name, call, t):
    out, exc = attempt(call, t)
    if valid_real(t, T_SHAPES):
        assert exc is None or (name == "system_matrices at steady_state" and
                               probe_api.names_argument(str(exc), ("at",))), \
            f"valid target rejected: {type(exc).__name__}: {exc}"
        if exc is None:
            check_consistent(out, np.broadcast_to(np.asarray(t, float), (5, NL)))
    else:
        assert_named_error(exc, ("target",))


@CHEAP
@given(y=real_arrays([(5, 2)]))
def test_regression_targets_y(y):
    judge(lambda v: dfc.output_target(R, v, 0.1), y, ("y",), valid_real(y, [(5, 2)]),
          check_consistent)


# ============================================================================ E6
@CHEAP
@given(q=real_arrays([(N, NL)], containers=("array",)))
def test_feedback_matrix_Q(q):
    judge(lambda v: dfc.DFCSystem(NET, v, CTRL), q, ("Q",), valid_real(q, [(N, NL)]),
          lambda s: np.testing.assert_array_equal(s.Q, np.asarray(q, float)))


def _square(shape):
    return len(shape) in (2, 3) and shape[-1] == shape[-2] and shape[-1] >= 1


def _abscissa_oracle(A):
    lam = np.linalg.eigvals(np.asarray(A, float))
    return lam.real.max(axis=-1)


SPECTRAL_CALLS = [
    ("spectral_abscissa", dfc.spectral_abscissa,
     lambda A, out: np.testing.assert_allclose(out, _abscissa_oracle(A), rtol=1e-12,
                                               atol=1e-12)),
    ("spectral_radius", dfc.stability.spectral_radius,
     lambda A, out: np.testing.assert_allclose(
         out, np.abs(np.linalg.eigvals(np.asarray(A, float))).max(axis=-1), rtol=1e-12,
         atol=1e-12)),
    ("spectra", dfc.spectra,
     lambda A, out: np.testing.assert_allclose(
         np.sort_complex(np.asarray(out).reshape(-1)),
         np.sort_complex(np.linalg.eigvals(np.asarray(A, float)).reshape(-1)), atol=1e-12)),
    ("lyapunov_certificate", dfc.lyapunov_certificate,
     lambda A, out: np.testing.assert_array_equal(
         np.asarray(out.certified) & ~(_abscissa_oracle(A) < 0), False)),
    ("euler_stability", lambda A: dfc.euler_stability(A, 0.1), lambda A, out: None),
]


@pytest.mark.parametrize("name,call,check", SPECTRAL_CALLS, ids=[c[0] for c in SPECTRAL_CALLS])
@CHEAP
@given(A=real_arrays([(2, 2), (3, 3, 3), (0, 2, 2)], min_dim=0))
def test_matrix_A(name, call, check, A):
    judge(call, A, ("A",), valid_real(A, [np.shape(A)]) and _square(np.shape(A)),
          lambda out: check(A, out))


# ============================================================================ E7
CONTAINER_CALLS = [
    ("forward", lambda x, t: NET.forward(x).output),
    ("steady_state", lambda x, t: dfc.steady_state(SYS, x, t).u),
    ("simulate", lambda x, t: dfc.simulate(SYS, x, t, n_steps=5).u_final),
    ("output_target", lambda x, t: dfc.output_target(t, np.zeros((len(t), NL)), 0.1)),
    ("gn_update", lambda x, t: dfc.gauss_newton.gn_update(
        NET, x, np.asarray(t) - R[:len(t)]).vector()),
    ("bp_update", lambda x, t: dfc.gauss_newton.bp_update(
        NET, x, np.asarray(t) - R[:len(t)]).vector()),
    ("feedback_update", lambda x, t: dfc.feedback_update(NET, Q, x, seed=0)),
]


@pytest.mark.parametrize("name,call", CONTAINER_CALLS, ids=[c[0] for c in CONTAINER_CALLS])
@given(kind=st.sampled_from(["list", "tuple"]), B=st.integers(1, 5))
def test_containers_equal_arrays(name, call, kind, B):
    x, t = X[:B], T[:B]
    conv = list if kind == "list" else (lambda a: _tuples(a.tolist()))
    args = (x.tolist(), t.tolist()) if kind == "list" else (conv(x), conv(t))
    np.testing.assert_array_equal(call(*args), call(x, t))


def test_Q_as_per_layer_blocks():
    blocks = NET.split(Q.T)
    s = dfc.DFCSystem(NET, [b.T for b in blocks], CTRL)
    np.testing.assert_array_equal(s.Q, Q)


# ============================================================================ E8
def _parameters(*functions):
    """The keyword names the functions accept."""
    return set().union(*(inspect.signature(f).parameters for f in functions))


#: steady_state(method="simulate") passes its options on to the Euler loop, which also
#: takes ``chunk`` and ``max_steps`` (documented in steady_state's docstring)
SIMULATE_UNTIL_CONVERGED = {"chunk", "max_steps"}
CLOSED_SIGNATURES = [
    ("simulate", lambda: _parameters(dfc.simulate),
     lambda kw: dfc.simulate(SYS, X, T, n_steps=2, **kw)),
    ("system_matrices", lambda: _parameters(dfc.system_matrices),
     lambda kw: dfc.system_matrices(SYS, X, **kw)),
    ("Network.random", lambda: _parameters(dfc.Network.random),
     lambda kw: dfc.Network.random([3, 2], **kw)),
    ("train_feedback", lambda: _parameters(dfc.train_feedback),
     lambda kw: dfc.train_feedback(NET, Q, X, **kw)),
    ("output_target", lambda: _parameters(dfc.output_target),
     lambda kw: dfc.output_target(R, T, 0.1, **kw)),
    ("gn_update", lambda: _parameters(dfc.gauss_newton.gn_update),
     lambda kw: dfc.gauss_newton.gn_update(NET, X, D, **kw)),
    ("Controller", lambda: _parameters(dfc.Controller),
     lambda kw: dfc.Controller(alpha=0.1, **kw)),
    ("TrainingConfig", lambda: _parameters(dfc.TrainingConfig),
     lambda kw: dfc.TrainingConfig(**kw)),
    ("fig3_config", lambda: _parameters(dfc.TrainingConfig, dfc.fig3_config),
     lambda kw: dfc.fig3_config("dfc", **kw)),
    ("steady_state simulate",
     lambda: _parameters(dfc.simulate, dfc.steady_state) | SIMULATE_UNTIL_CONVERGED,
     lambda kw: dfc.steady_state(SYS, X, T, method="simulate", **kw)),
    ("forward_update dfc", lambda: _parameters(dfc.simulate, dfc.forward_update),
     lambda kw: dfc.forward_update(NET, X, T, "dfc", Q=Q, controller=CTRL, n_steps=2, **kw)),
]


@pytest.mark.parametrize("name,accepted,call", CLOSED_SIGNATURES,
                         ids=[c[0] for c in CLOSED_SIGNATURES])
@given(word=keywords())
def test_unknown_keyword_rejected(name, accepted, call, word):
    if word in accepted() | {"self", "cls", "overrides"}:
        return
    _, exc = attempt(call, {word: 1})
    assert_named_error(exc, (word,))


# ============================================================================ E9
@settings(deadline=None)
@given(case_=systems())
def test_steady_state_and_simulation_flags(case_):
    s, x, t = case_.system, case_.x, case_.target
    check_consistent(dfc.steady_state(s, x, t), t)
    ssa = dfc.steady_state(s, x, t, method="ssa")
    assert not np.any(ssa.converged & ~np.all(np.isfinite(ssa.u), axis=1))
    c = s.controller
    dt = 0.25 * c.tau_v if c.tau_v > 0 else 0.02 * c.tau_u
    check_consistent(dfc.simulate(s, x, t, dt=dt, n_steps=100, record="final"))


# ============================================================================ K1-K11 NumPy
SWALLOWED_KWARGS = [
    case("steady_state newton", lambda kw: dfc.steady_state(SYS, X, T, **kw)),
    case("steady_state ssa", lambda kw: dfc.steady_state(SYS, X, T, method="ssa", **kw)),
    case("forward_update dfc-ssa", lambda kw: dfc.forward_update(
        NET, X, T, "dfc-ssa", Q=Q, controller=CTRL, **kw)),
    case("forward_update bp", lambda kw: dfc.forward_update(NET, X, T, "bp", **kw)),
    case("forward_update dfa", lambda kw: dfc.forward_update(
        NET, X, T, "dfa", dfa_feedback=B_FB, **kw)),
]


@pytest.mark.parametrize("call", SWALLOWED_KWARGS)
@given(word=keywords().filter(lambda w: w not in _parameters(
    dfc.simulate, dfc.steady_state, dfc.forward_update) | SIMULATE_UNTIL_CONVERGED))
@example(word="max_iters")
def test_unknown_keyword_rejected_everywhere(call, word):
    _, exc = attempt(call, {word: 1})
    assert_named_error(exc, (word,))


def _complex(a):
    return np.asarray(a) * (1 + 0.5j)


COMPLEX_INPUTS = [
    case("forward x", "x", lambda: NET.forward(_complex(X))),
    case("steady_state target", "target", lambda: dfc.steady_state(SYS, X, _complex(T))),
    case("simulate x", "x", lambda: dfc.simulate(SYS, _complex(X), T, n_steps=2)),
    case("DFCSystem Q", "Q", lambda: dfc.DFCSystem(NET, _complex(Q), CTRL)),
    case("Network weights", "weights", lambda: dfc.Network([_complex(w) for w in NET.weights])),
    case("output_target r_L", "r_L", lambda: dfc.output_target(_complex(R), T, 0.1)),
    case("condition2_ratio J", "J", lambda: dfc.metrics.condition2_ratio(
        _complex(NET.jacobian(X[0])), Q)),
]


@pytest.mark.parametrize("arg,call", COMPLEX_INPUTS)
def test_complex_arrays_rejected(arg, call):
    assert_named_error(attempt(call)[1], (arg,))


COMPLEX_SPECTRAL = [
    case("spectral_abscissa", dfc.spectral_abscissa, lambda lam: lam.real.max()),
    case("spectral_radius", dfc.stability.spectral_radius, lambda lam: np.abs(lam).max()),
    case("spectra", lambda A: np.sort_complex(dfc.spectra(A)), np.sort_complex),
]


@pytest.mark.parametrize("call,oracle", COMPLEX_SPECTRAL)
@settings(max_examples=settings.default.max_examples)
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(2, 4))
@example(seed=0, M=2)
def test_complex_matrices_exact(call, oracle, seed, M):
    """The spectral functions of a complex matrix are those of its complex eigenvalues
    (np.linalg.eigvals), not of its real part: the issue asks for the computation."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, M)) + 1j * rng.standard_normal((M, M))
    np.testing.assert_allclose(call(A), oracle(np.linalg.eigvals(A)), rtol=1e-10, atol=1e-12)


BOOL_INPUTS = [
    case("Network.random sizes", "sizes", lambda: dfc.Network.random([3, True])),
    case("Network.random gain", "gain", lambda: dfc.Network.random([3, 2], gain=True)),
    case("Network.random seed", "seed", lambda: dfc.Network.random([3, 2], seed=True)),
    case("forward bool x", "x", lambda: NET.forward(X > 0)),
    case("DFCSystem bool Q", "Q", lambda: dfc.DFCSystem(NET, Q > 0, CTRL)),
    case("Network bool weights", "weights",
         lambda: dfc.Network([w > 0 for w in NET.weights])),
    case("cross-entropy bool labels", "y", lambda: dfc.loss_gradient(
        R, np.array([True, False, True, False, True]), "cross_entropy")),
    case("Controller alpha", "alpha", lambda: dfc.Controller(alpha=True)),
    case("simulate n_steps", "n_steps", lambda: dfc.simulate(SYS, X, T, n_steps=True)),
]


@pytest.mark.parametrize("arg,call", BOOL_INPUTS)
def test_bools_rejected(arg, call):
    assert_named_error(attempt(call)[1], (arg,))


def _obj(a):
    return np.array(a, dtype=object)


OBJECT_INPUTS = [
    case("forward x", "x", lambda: NET.forward(_obj(X))),
    case("DFCSystem Q", "Q", lambda: dfc.DFCSystem(NET, _obj(Q), CTRL)),
    case("Network weights", "weights", lambda: dfc.Network([_obj(w) for w in NET.weights])),
    case("spectral_abscissa A", "A", lambda: dfc.spectral_abscissa(_obj(A_STABLE))),
    case("forward object strings", "x", lambda: NET.forward(np.array([[1, "a", 2]], object))),
]


@pytest.mark.parametrize("arg,call", OBJECT_INPUTS)
def test_object_arrays_rejected(arg, call):
    assert_named_error(attempt(call)[1], (arg,))


def strict_counts():
    """What the fix must turn into clear errors: nan/inf, None, strings, and non-integral
    floats for sizes and labels."""
    return st.one_of(st.sampled_from([np.nan, np.inf, None, "abc", "", 2.5]),
                     st.text(max_size=3))


INTEGER_STRICT = [
    case("steady_state max_iter", "max_iter",
         lambda v: dfc.steady_state(SYS, X, T, max_iter=v), False),
    case("simulate n_steps", "n_steps", lambda v: dfc.simulate(SYS, X, T, n_steps=v), False),
    case("train_feedback log_every", "log_every",  # None: the documented default (per epoch)
         lambda v: dfc.train_feedback(NET, Q, X, log_every=v), True),
    case("random_condition2 max_tries", "max_tries", lambda v: dfc.feedback.random_condition2(
        NET, X[0], max_tries=v), False),
    case("Network.random sizes", "sizes", lambda v: dfc.Network.random([3, v]), False),
    case("TrainingConfig sizes", "sizes", lambda v: dfc.TrainingConfig(sizes=(15, v, 5)),
         False),
    case("symbolic_system sizes", "sizes", lambda v: dfc.symbolic.symbolic_system((1, v)),
         False),
    case("TimeAveragedRule batch_size", "batch_size",
         lambda v: dfc.TimeAveragedRule(NET, v), False),
    case("cross-entropy labels", "y", lambda v: dfc.loss_gradient(
        R, np.array([0, 1, 1, 0, v], dtype=object), "cross_entropy"), False),
]


@pytest.mark.parametrize("arg,call,none_ok", INTEGER_STRICT)
@given(value=strict_counts())
@example(value=2.5)
@example(value=np.nan)
def test_counts_must_be_integers(arg, call, none_ok, value):
    out, exc = attempt(call, value)
    if value is None and none_ok:
        assert exc is None, f"the default None rejected: {exc}"
    else:
        assert_named_error(exc, (arg,))


RANGES = [
    case("Network.random gain", "gain", lambda v: dfc.Network.random([3, 2], gain=v)),
    case("Network.random bias_scale", "bias_scale",
         lambda v: dfc.Network.random([3, 2], bias_scale=v)),
    case("simulate conv_tol", "conv_tol",
         lambda v: dfc.simulate(SYS, X, T, n_steps=2, conv_tol=v)),
    case("simulate eps", "eps", lambda v: dfc.simulate(SYS, X, T, n_steps=2, eps=v)),
    case("simulate ivp rtol", "rtol", lambda v: dfc.simulate(
        SYS, X, T, "ivp", dt=0.01, n_steps=2, rtol=v)),
    case("simulate ivp atol", "atol", lambda v: dfc.simulate(
        SYS, X, T, "ivp", dt=0.01, n_steps=2, atol=v)),
    case("simulate linear sigma_out", "sigma_out", lambda v: dfc.simulate(
        SYS, X, T, "linear", n_steps=2, sigma_out=v)),
    case("feedback_metrics alpha", "alpha",
         lambda v: dfc.feedback_learning.feedback_metrics(NET, Q, X, alpha=v)),
    case("simulated_verdict converged_below", "converged_below",
         lambda v: dfc.stability.simulated_verdict(SYS, X, T, 0.2, method="linear",
                                                   converged_below=v)),
    case("TrainingConfig dfa_scale", "dfa_scale", lambda v: dfc.TrainingConfig(dfa_scale=v)),
    case("TrainingConfig q_init_scale", "q_init_scale",
         lambda v: dfc.TrainingConfig(q_init_scale=v)),
    case("TrainingConfig decay_fb", "decay_fb", lambda v: dfc.TrainingConfig(decay_fb=v)),
    case("TrainingConfig sigma_fb", "sigma_fb", lambda v: dfc.TrainingConfig(sigma_fb=v)),
    case("TrainingConfig alpha_fb", "alpha_fb", lambda v: dfc.TrainingConfig(alpha_fb=v)),
]


@pytest.mark.parametrize("arg,call", RANGES)
@given(value=st.one_of(st.floats(max_value=-1e-6, allow_infinity=False),
                       st.sampled_from([np.nan, np.inf, -np.inf])))
@example(value=-1.0)
def test_ranges_checked(arg, call, value):
    """Negative and non-finite values of non-negative parameters are rejected naming them."""
    assert_named_error(attempt(call, value)[1], (arg,))


NESTED_Q = [
    case("DFCSystem Q.tolist()", lambda: dfc.DFCSystem(NET, Q.tolist(), CTRL).Q),
    case("DFCSystem tuple of rows", lambda: dfc.DFCSystem(NET, _tuples(Q.tolist()), CTRL).Q),
    case("forward_update Q.tolist()", lambda: dfc.forward_update(
        NET, X, T, "dfc-ssa", Q=Q.tolist(), controller=CTRL).u),
]


@pytest.mark.parametrize("call", NESTED_Q)
def test_nested_list_Q_accepted(call):
    out, exc = attempt(call)
    assert exc is None, f"{type(exc).__name__}: {exc}"
    want = Q if out.shape == Q.shape else dfc.forward_update(
        NET, X, T, "dfc-ssa", Q=Q, controller=CTRL).u
    np.testing.assert_array_equal(out, want)


def _shape_is(*shape):
    def check(out):
        assert np.shape(out) == shape, f"shape {np.shape(out)}, expected {shape}"
    return check


def _finite_update(upd):
    upd = getattr(upd, "update", upd)
    assert [w.shape for w in upd.dW] == L_SHAPES
    assert all(finite(w) for w in upd.dW + (upd.db or ())), "non-finite update"


EMPTY = ("x", "delta_L", "target", "r_L", "y", "v")
EMPTY_BATCH = [
    case("jacobian", lambda: NET.jacobian(X0), _shape_is(0, NL, N), False),
    case("weight_jacobian", lambda: NET.weight_jacobian(X0), _shape_is(0, NL, NET.n_params),
         False),
    case("output_target sum", lambda: dfc.output_target(T0, T0, 0.1), _shape_is(0, NL), False),
    case("output_target cross-entropy", lambda: dfc.output_target(
        T0, np.zeros(0, int), 0.1, "cross_entropy"), _shape_is(0, NL), True),
    case("steady_state ssa", lambda: dfc.steady_state(SYS, X0, T0, method="ssa").u,
         _shape_is(0, NL), False),
    case("simulate linear", lambda: dfc.simulate(SYS, X0, T0, "linear", n_steps=2).u_final,
         _shape_is(0, NL), False),
    case("simulate ivp", lambda: dfc.simulate(SYS, X0, T0, "ivp", dt=0.01, n_steps=2).u_final,
         _shape_is(0, NL), False),
    case("system_matrices", lambda: dfc.system_matrices(SYS, X0)["A_system"],
         _shape_is(0, N + NL, N + NL), False),
    case("condition3", lambda: dfc.condition3(SYS, X0).holds, _shape_is(0), False),
    case("gn_update", lambda: dfc.gauss_newton.gn_update(NET, X0, T0), _finite_update, True),
    case("bp_update", lambda: dfc.gauss_newton.bp_update(NET, X0, T0), _finite_update, True),
    case("dfa_update", lambda: dfc.dfa_update(NET, X0, T0, B_FB), _finite_update, True),
    case("rule_at_state", lambda: dfc.rule_at_state(NET, X0, np.zeros((0, N)),
                                                    np.zeros((0, N))),
         _finite_update, True),
    case("forward_update dfc-ssa", lambda: dfc.forward_update(
        NET, X0, T0, "dfc-ssa", Q=Q, controller=CTRL), _finite_update, True),
    case("forward_update dfc", lambda: dfc.forward_update(
        NET, X0, T0, "dfc", Q=Q, controller=CTRL, n_steps=2), _finite_update, True),
    case("feedback_update", lambda: dfc.feedback_update(NET, Q, X0, seed=0),
         lambda dQ: np.testing.assert_array_equal(np.isfinite(dQ), True), True),
    case("feedback_metrics", lambda: dfc.feedback_learning.feedback_metrics(NET, Q, X0),
         lambda m: None, True),
    # the entry points that already handle B = 0
    case("forward", lambda: NET.forward(X0).output, _shape_is(0, NL), False),
    case("steady_state newton", lambda: dfc.steady_state(SYS, X0, T0).u, _shape_is(0, NL),
         False),
    case("simulate euler", lambda: dfc.simulate(SYS, X0, T0, n_steps=2).u_final,
         _shape_is(0, NL), False),
    case("spectral_abscissa", lambda: dfc.spectral_abscissa(np.zeros((0, 2, 2))),
         _shape_is(0), False),
    case("condition1_deviation", lambda: dfc.condition1_deviation(NET, X0), _shape_is(0),
         False),
]


@pytest.mark.parametrize("call,check,mean_undefined", EMPTY_BATCH)
def test_empty_batch(call, check, mean_undefined):
    """B = 0 gives empty results of the right shape, or (where a batch mean is undefined) a
    clear error naming the batch argument."""
    out, exc = attempt(call)
    if exc is not None and mean_undefined:
        assert_named_error(exc, EMPTY)
        return
    assert exc is None, f"{type(exc).__name__}: {exc}"
    check(out)


def test_condition1_deviation_of_a_zero_input():
    """x = 0 with zero biases makes every layer norm 0: std/mean is 0/0.  Expected: a
    finite value or a clear error naming x, not NaN with a RuntimeWarning.  (Kept out of
    test_input_x, whose integer arrays often contain zero rows.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, exc = attempt(lambda: dfc.condition1_deviation(NET, np.zeros((2, 3))))
    if exc is not None:
        assert_named_error(exc, ("x",))
    else:
        assert finite(out), f"deviation {out}"


NET_TANH = dfc.Network.random([3, 4, 2], activation="tanh", output_activation="tanh", seed=0)
SYS_TANH = dfc.DFCSystem(NET_TANH, dfc.feedback.weight_product(NET_TANH),
                         dfc.Controller(alpha=0.01))


@settings(max_examples=settings.default.max_examples)
@given(level=st.floats(1.5, 10.0))
@example(level=3.0)
def test_ssa_converged_means_small_residual(level):
    """A tanh output asked to reach |r_L*| > 1: the linearised (SSA) state is far from rest;
    ``converged`` must say so (its residual within 1e-2 max(1, ||r_L*||))."""
    t = np.full((5, 2), level)
    ok, detail = probe_api.flags_consistent(dfc.steady_state(SYS_TANH, X, t, method="ssa"),
                                            1e-2, t)
    assert ok, detail


@settings(max_examples=settings.default.max_examples)
@given(exponent=st.floats(200, 307), method=st.sampled_from(["newton", "ssa"]))
@example(exponent=300.0, method="newton")
def test_huge_targets_not_converged_with_inf_residual(exponent, method):
    t = np.full((5, 2), 10.0 ** exponent)
    out, exc = attempt(lambda: dfc.steady_state(SYS, X, t, method=method))
    if exc is not None:
        assert_named_error(exc, ("target",))
        return
    ok, detail = probe_api.flags_consistent(out, NEWTON_TOL if method == "newton" else None, t)
    assert ok, detail


@settings(deadline=None, max_examples=settings.default.max_examples)
@given(case_=systems(), method=st.sampled_from(["newton", "ssa"]))
def test_steady_states_report_stability(case_, method):
    """``stable`` is ``converged`` and (spectral abscissa of A_system, the linearisation of
    stability.system_matrices, at the returned state < 0); a state that is not finite or
    not converged is never stable."""
    s, x, t = case_.system, case_.x, case_.target
    ss = dfc.steady_state(s, x, t, method=method)
    conv = np.atleast_1d(ss.converged)
    if conv.all():  # system_matrices needs every Newton state to exist
        a = dfc.spectral_abscissa(dfc.system_matrices(s, x, t, at="steady_state")["A_system"])
        np.testing.assert_allclose(ss.abscissa, a, rtol=1e-8, atol=1e-10)
        clear = np.abs(a) > 1e-8  # the sign is decided above rounding
        np.testing.assert_array_equal(np.atleast_1d(ss.stable)[clear], (a < 0)[clear])
    assert not np.any(np.atleast_1d(ss.stable) & ~conv)


# ============================================================================ torch
@pytest.fixture(scope="module")
def T_():
    """torch twins of the module fixtures (float64)."""
    import torch
    import dfc_theory.torch as dtt
    net = dtt.Network.from_numpy(NET)
    return {"torch": torch, "dtt": dtt, "net": net,
            "sys": dtt.DFCSystem.from_numpy(SYS), "Q": dtt.fixed_feedback(net)}


TORCH_STATE_CALLS = [
    ("forward", lambda t, x, tg: t["net"].forward(x).output),
    ("steady_state newton", lambda t, x, tg: t["dtt"].steady_state(t["sys"], x, tg).u),
    ("steady_state ssa", lambda t, x, tg: t["dtt"].steady_state(t["sys"], x, tg, "ssa").u),
    ("simulate", lambda t, x, tg: t["dtt"].simulate(t["sys"], x, tg, n_steps=5).u_final),
    ("feedback_update", lambda t, x, tg: t["dtt"].feedback_update(
        t["net"], t["Q"], x, seed=np.random.default_rng(0))),
    ("bp_update", lambda t, x, tg: t["dtt"].gauss_newton.bp_update(
        t["net"], x, np.asarray(tg) - R).vector()),
    ("gn_update", lambda t, x, tg: t["dtt"].gauss_newton.gn_update(
        t["net"], x, np.asarray(tg) - R).vector()),
    ("forward_update dfc-ssa", lambda t, x, tg: t["dtt"].forward_update(
        t["net"], x, tg, "dfc-ssa", Q=Q, controller=CTRL).update.vector()),
    ("condition1_deviation", lambda t, x, tg: t["dtt"].condition1_deviation(t["net"], x)),
]


@pytest.mark.parametrize("name,call", TORCH_STATE_CALLS, ids=[c[0] for c in TORCH_STATE_CALLS])
@pytest.mark.parametrize("container", ["numpy", "list"])
@needs_torch
def test_torch_accepts_numpy_and_lists(T_, name, call, container):
    torch = T_["torch"]
    conv = (lambda a: a) if container == "numpy" else (lambda a: a.tolist())
    got = call(T_, conv(X), conv(T))
    want = call(T_, torch.from_numpy(X), torch.from_numpy(T))
    np.testing.assert_allclose(probe_api._np(got), probe_api._np(want), rtol=1e-12, atol=0)


#: (id, the function (for its accepted keywords), the call with extra keywords)
TORCH_CLOSED = [
    ("steady_state", lambda t: t["dtt"].steady_state,
     lambda t, kw: t["dtt"].steady_state(t["sys"], X, T, **kw)),
    ("simulate", lambda t: t["dtt"].simulate,
     lambda t, kw: t["dtt"].simulate(t["sys"], X, T, n_steps=2, **kw)),
    ("train_feedback", lambda t: t["dtt"].train_feedback,
     lambda t, kw: t["dtt"].train_feedback(t["net"], Q, X, **kw)),
]


@pytest.mark.parametrize("name,function,call", TORCH_CLOSED, ids=[c[0] for c in TORCH_CLOSED])
@needs_torch
@given(word=keywords())
def test_torch_unknown_keyword_rejected(T_, name, function, call, word):
    if word in _parameters(function(T_)):
        return
    assert_named_error(attempt(call, T_, {word: 1})[1], (word,))


TORCH_NONFINITE = [
    ("steady_state x", "x", X, lambda t, a: t["dtt"].steady_state(t["sys"], a, T)),
    ("steady_state target", "target", T, lambda t, a: t["dtt"].steady_state(t["sys"], X, a)),
    ("simulate x", "x", X, lambda t, a: t["dtt"].simulate(t["sys"], a, T, n_steps=2)),
    ("feedback_update x", "x", X,
     lambda t, a: t["dtt"].feedback_update(t["net"], Q, a, seed=0)),
    ("DFCSystem Q", "Q", Q, lambda t, a: t["dtt"].DFCSystem(t["net"], a, CTRL)),
]


@pytest.mark.parametrize("name,arg,base,call", TORCH_NONFINITE,
                         ids=[c[0] for c in TORCH_NONFINITE])
@needs_torch
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), where=st.integers(0, 9))
def test_torch_nonfinite_numpy_rejected(T_, name, arg, base, call, bad, where):
    a = base.copy()
    a.flat[where] = bad
    assert_named_error(attempt(call, T_, a)[1], (arg,))


def _with_nan(a):
    a = np.array(a, dtype=float)
    a.flat[-1] = np.nan
    return a


def _nan_tensor(torch, a):
    t = torch.from_numpy(a.copy())
    t[-1, -1] = float("nan")
    return t


def _equal(want):
    return lambda got: np.testing.assert_allclose(probe_api._np(got), want, rtol=1e-12,
                                                  atol=1e-15)


def _not_converged(ss):
    _require(not bool(ss.converged.any()),
             f"converged {ss.converged.tolist()} with residual {ss.residual.tolist()[:2]}")


T_FAR = np.full((5, 2), 3.0)
#: (call(T_), what is expected: "error" | "result" | "either", names an error must start
#: with, check of a result)
TORCH_CONTRACT = [
    case("forward_update dfc-ssa unknown keyword", lambda t: t["dtt"].forward_update(
        t["net"], X, T, "dfc-ssa", Q=Q, controller=CTRL, max_iters=1), "error", ("max_iters",),
         None),
    case("output_target NumPy", lambda t: t["dtt"].output_target(R, T, 0.1), "result", (),
         _equal(dfc.output_target(R, T, 0.1))),
    case("loss_gradient lists", lambda t: t["dtt"].loss_gradient(R.tolist(), T.tolist()),
         "result", (), _equal(dfc.loss_gradient(R, T))),
    case("condition2_ratio NumPy", lambda t: t["dtt"].condition2_ratio(NET.jacobian(X), Q),
         "result", (), _equal(dfc.metrics.condition2_ratio(NET.jacobian(X), Q))),
    case("spectral_abscissa NumPy", lambda t: t["dtt"].spectral_abscissa(A_STABLE), "result",
         (), _equal(-1.0)),
    case("DFCSystem Q.tolist()", lambda t: t["dtt"].DFCSystem(t["net"], Q.tolist(), CTRL).Q,
         "result", (), _equal(Q)),
    case("Network float64 NumPy weights", lambda t: t["dtt"].Network(list(NET.weights)),
         "result", (), lambda net: _require(str(net.dtype) == "torch.float64",
                                            f"dtype {net.dtype}")),
    case("feedback_update NaN tensor x", lambda t: t["dtt"].feedback_update(
        t["net"], t["Q"], _nan_tensor(t["torch"], X), seed=0), "error", ("x",), None),
    case("output_target NaN y", lambda t: t["dtt"].output_target(
        t["torch"].from_numpy(R), _with_nan(T), 0.1), "error", ("y",), None),
    case("ssa singular J Q + alpha I", lambda t: t["dtt"].steady_state(
        t["dtt"].DFCSystem(t["net"], 0 * t["Q"], dfc.Controller(alpha=0.0)), X, T,
        method="ssa"), "either", ("Q", "alpha", "system", "controller"), _not_converged),
    case("ssa far target", lambda t: t["dtt"].steady_state(
        t["dtt"].DFCSystem.from_numpy(SYS_TANH), X, T_FAR, method="ssa"), "result", (),
         lambda ss: _require(*probe_api.flags_consistent(ss, 1e-2, T_FAR))),
    case("empty batch ssa", lambda t: t["dtt"].steady_state(t["sys"], X0, T0, method="ssa").u,
         "result", (), lambda u: _require(tuple(u.shape) == (0, NL))),
    case("empty batch bp_update", lambda t: t["dtt"].gauss_newton.bp_update(
        t["net"], X0, T0).to_numpy(), "either", EMPTY, _finite_update),
    case("empty batch feedback_update", lambda t: t["dtt"].feedback_update(
        t["net"], t["Q"], X0, seed=0), "either", EMPTY,
         lambda dQ: _require(finite(dQ), "non-finite dQ")),
]


@pytest.mark.parametrize("call,expect,names,check", TORCH_CONTRACT)
@needs_torch
def test_torch_contract(T_, call, expect, names, check):
    out, exc = attempt(call, T_)
    if expect == "error" or (expect == "either" and exc is not None):
        assert_named_error(exc, names)
    else:
        assert exc is None, f"{type(exc).__name__}: {exc}"
        check(out)


# ============================================================================ the probes
def test_probe_classifier():
    """The classes of scripts/probe_api.py on synthetic calls whose class is known."""
    def probe(expect, call, args=("x",), check=lambda r: True):
        return probe_api.run_probe(probe_api.Probe("numpy", "g", "n", call, expect, args,
                                                   check))

    assert probe("error", lambda: dfc.output_target(R, T, -1.0), ("lam",)).outcome == \
        "clear error"
    assert probe("error", lambda: dfc.output_target(R, T, -1.0), ("y",)).outcome == \
        "unclear error"
    assert probe("error", lambda: np.linalg.solve(np.zeros((2, 2)), np.ones(2))).outcome == \
        "deep error"
    assert probe("error", lambda: 1 / 0).outcome == "deep error"
    assert probe("error", lambda: dfc.Controller(alpha=0.1).replace(alfa=1), ("alfa",)
                 ).outcome == "clear error"
    assert probe("error", lambda: R.copy()).outcome == "silently accepted"
    assert probe("result", lambda: R.copy()).outcome == "correct result"
    assert probe("result", lambda: R.copy(), check=lambda r: False).outcome == "wrong result"
    assert probe("result", lambda: dfc.output_target(R, T, -1.0)).outcome == "valid rejected"
    assert probe("either", lambda: dfc.output_target(R, T, -1.0), ("lam",)).outcome == \
        "clear error"


def test_probe_suite_runs():
    """Every probe of scripts/probe_api.py runs against the current public API (a public
    name that moves or disappears breaks a probe here, not silently in the measurement)."""
    probes, outcomes, _ = probe_api.run()
    assert len(outcomes) == len(probes) > 200
    bugs = [(o.api, o.name, o.detail) for o in outcomes if o.outcome == probe_api.PROBE_BUG]
    assert not bugs, bugs
    assert {o.outcome for o in outcomes} <= set(probe_api.CLASSES)
    assert all(p.args for p in probes if p.expect != "result")
    assert all(p.check is not None for p in probes if p.expect != "error")
