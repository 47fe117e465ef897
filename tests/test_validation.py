"""Bad input raises a clear exception that names the offending argument (DESIGN.md
Conventions; issue 2: shape mismatches, non-finite values, negative alpha / k_p / time
constants, dt >= tau_v for Euler, unknown activation or method names).

One table: (id, call, exception type, regex the message must match).  Every regex starts
with the argument's name as the library spells it in its messages ("name: ...").
"""
import numpy as np
import pytest

from dfc_theory import (Controller, DFCSystem, Network, feedback, loss_gradient,
                        output_target, simulate, steady_state)

NET = Network.random([3, 4, 2], seed=0)
X = np.zeros((2, 3))
T = np.zeros((2, 2))
Q = np.ones((6, 2))
CTRL = Controller(alpha=0.1, k_p=0.5, tau_v=0.2)
SYS = DFCSystem(NET, Q, CTRL)
NOISY = DFCSystem(NET, Q, Controller(alpha=0.1, sigma=0.01))
INST_PI = DFCSystem(NET, Q, Controller(alpha=0.1, k_p=0.5, tau_v=0.0, leak="integral"))
INST = DFCSystem(NET, Q, Controller(alpha=0.1, tau_v=0.0))
SLOW_APICAL = DFCSystem(NET, Q, Controller(alpha=0.1, tau_v=0.2, tau_A=0.01))
W1, W2 = np.ones((4, 3)), np.ones((2, 4))
NAN = float("nan")


def _with_nan(shape):
    a = np.zeros(shape)
    a.flat[-1] = np.nan
    return a


CASES = [
    # ---- network
    ("weights-chain", lambda: Network([W1, np.ones((2, 5))]), ValueError,
     r"weights\[1\] \(W_2\): expected 4 columns"),
    ("weights-ndim", lambda: Network([np.ones(3)]), ValueError, r"weights\[0\] \(W_1\)"),
    ("weights-empty", lambda: Network([]), ValueError, r"weights: need at least one layer"),
    ("weights-nonfinite", lambda: Network([W1, W2 * NAN]), ValueError,
     r"weights\[1\] \(W_2\): contains non-finite"),
    ("weights-inf", lambda: Network([W1 * np.inf, W2]), ValueError,
     r"weights\[0\] \(W_1\): contains non-finite"),
    ("biases-count", lambda: Network([W1, W2], [np.zeros(4)]), ValueError,
     r"biases: expected 2 vectors"),
    ("biases-shape", lambda: Network([W1, W2], [np.zeros(4), np.zeros(3)]), ValueError,
     r"biases\[1\] \(b_2\): expected shape \(2\)"),
    ("biases-nonfinite", lambda: Network([W1, W2], [np.zeros(4), np.array([0, NAN])]),
     ValueError, r"biases\[1\] \(b_2\): contains non-finite"),
    ("activation-unknown", lambda: Network([W1, W2], activation="swish"), ValueError,
     r"^activation: unknown name 'swish'"),
    ("output-activation-unknown", lambda: Network([W1, W2], output_activation="softmax"),
     ValueError, r"^output_activation: unknown name 'softmax'"),
    ("random-sizes", lambda: Network.random([3]), ValueError, r"sizes:"),
    ("random-zero-width", lambda: Network.random([3, 0, 2]), ValueError, r"sizes\[1\]:"),
    ("random-init", lambda: Network.random([3, 2], init="he"), ValueError, r"init:"),
    ("forward-x-width", lambda: NET.forward(np.zeros((2, 4))), ValueError,
     r"x: expected shape \(B, 3\) or \(3,\)"),
    ("forward-x-ndim", lambda: NET.forward(np.zeros((2, 3, 1))), ValueError,
     r"x: expected 1 or 2 dimensions"),
    ("forward-x-nonfinite", lambda: NET.forward(_with_nan((2, 3))), ValueError,
     r"x: contains non-finite"),
    ("forward-x-type", lambda: NET.forward("abc"), TypeError, r"x: expected a numeric array"),
    ("forward-delta", lambda: NET.forward(X, delta=np.zeros((2, 5))), ValueError,
     r"delta: expected shape \(2, 6\)"),
    ("jacobian-v", lambda: NET.jacobian(X, np.zeros((3, 6))), ValueError,
     r"v: expected shape \(2, 6\)"),
    ("jacobian-v-nonfinite", lambda: NET.jacobian(X, _with_nan((2, 6))), ValueError,
     r"v: contains non-finite"),
    ("split", lambda: NET.split(np.zeros((2, 5))), ValueError, r"z: last axis must have length 6"),
    ("split-params", lambda: NET.split_params(np.zeros(3)), ValueError,
     r"theta: last axis must have length 26"),
    # ---- controller
    ("alpha-negative", lambda: Controller(alpha=-0.1), ValueError, r"alpha: must be >= 0"),
    ("alpha-nan", lambda: Controller(alpha=NAN), ValueError, r"alpha: must be finite"),
    ("alpha-inf", lambda: Controller(alpha=np.inf), ValueError, r"alpha: must be finite"),
    ("alpha-type", lambda: Controller(alpha="0.1"), TypeError, r"alpha: expected a real number"),
    ("alpha-bool", lambda: Controller(alpha=True), TypeError, r"alpha: expected a real number"),
    ("k_p-negative", lambda: Controller(alpha=0.1, k_p=-1), ValueError, r"k_p: must be >= 0"),
    ("tau_v-negative", lambda: Controller(alpha=0.1, tau_v=-0.2), ValueError,
     r"tau_v: must be >= 0"),
    ("tau_u-zero", lambda: Controller(alpha=0.1, tau_u=0.0), ValueError, r"tau_u: must be > 0"),
    ("tau_u-negative", lambda: Controller(alpha=0.1, tau_u=-1.0), ValueError,
     r"tau_u: must be > 0"),
    ("tau_A-zero", lambda: Controller(alpha=0.1, tau_A=0.0), ValueError, r"tau_A: must be > 0"),
    ("sigma-negative", lambda: Controller(alpha=0.1, sigma=-0.01), ValueError,
     r"sigma: must be >= 0"),
    ("leak-unknown", lambda: Controller(alpha=0.1, leak="proportional"), ValueError,
     r"leak: expected one of \['integral', 'total'\], got 'proportional'"),
    ("replace-validates", lambda: CTRL.replace(alpha=-1.0), ValueError, r"alpha: must be >= 0"),
    # ---- system
    ("system-network", lambda: DFCSystem("net", Q, CTRL), TypeError, r"network: expected"),
    ("system-controller", lambda: DFCSystem(NET, Q, {"alpha": 0.1}), TypeError,
     r"controller: expected"),
    ("system-Q-shape", lambda: DFCSystem(NET, np.ones((6, 3)), CTRL), ValueError,
     r"Q: expected shape \(6, 2\), got \(6, 3\)"),
    ("system-Q-transposed", lambda: DFCSystem(NET, np.ones((2, 6)), CTRL), ValueError,
     r"Q: expected shape \(6, 2\)"),
    ("system-Q-nonfinite", lambda: DFCSystem(NET, _with_nan((6, 2)), CTRL), ValueError,
     r"Q: contains non-finite"),
    ("rhs-target-shape", lambda: SYS.rhs(X, np.zeros((2, 3)), np.zeros((2, 8))), ValueError,
     r"target: expected shape \(2, 2\) or \(2,\)"),
    ("rhs-target-batch", lambda: SYS.rhs(X, np.zeros((3, 2)), np.zeros((2, 8))), ValueError,
     r"target: expected shape \(2, 2\)"),
    ("rhs-target-nonfinite", lambda: SYS.rhs(X, _with_nan((2, 2)), np.zeros((2, 8))),
     ValueError, r"target: contains non-finite"),
    ("linearise-z0", lambda: SYS.linearise(X, T, np.zeros((2, 7))), ValueError,
     r"z0: expected shape \(2, 8\)"),
    ("instantaneous-integral-PI", lambda: INST_PI.rhs(X, T, np.zeros((2, 2))), ValueError,
     r"controller: the instantaneous system"),
    # ---- simulate
    ("simulate-system", lambda: simulate(NET, X, T), TypeError, r"system: expected a dfc_theory.DFCSystem"),
    ("simulate-method", lambda: simulate(SYS, X, T, method="rk4"), ValueError,
     r"method: expected one of \['euler', 'ivp', 'linear'\], got 'rk4'"),
    ("simulate-ivp-method", lambda: simulate(SYS, X, T, method="ivp", ivp_method="Euler"),
     ValueError, r"ivp_method: expected one of"),
    ("simulate-record", lambda: simulate(SYS, X, T, record="all"), ValueError, r"record:"),
    ("simulate-dt-zero", lambda: simulate(SYS, X, T, dt=0.0), ValueError, r"dt: must be > 0"),
    ("simulate-dt-negative", lambda: simulate(SYS, X, T, dt=-0.01), ValueError,
     r"dt: must be > 0"),
    ("simulate-dt-nan", lambda: simulate(SYS, X, T, dt=NAN), ValueError, r"dt: must be finite"),
    ("euler-dt-equals-tau_v", lambda: simulate(SYS, X, T, dt=0.2), ValueError,
     r"dt: forward Euler needs dt < tau_v = 0.2"),
    ("euler-dt-above-tau_v", lambda: simulate(SYS, X, T, dt=0.5), ValueError,
     r"dt: forward Euler needs dt < tau_v"),
    ("euler-dt-above-tau_A", lambda: simulate(SLOW_APICAL, X, T, dt=0.02), ValueError,
     r"dt: must be <= tau_A"),
    ("euler-instantaneous-no-transmission",
     lambda: simulate(INST, X, T, instantaneous_transmission=False), ValueError,
     r"instantaneous_transmission:"),
    ("simulate-n_steps-zero", lambda: simulate(SYS, X, T, n_steps=0), ValueError, r"n_steps:"),
    ("simulate-n_steps-fraction", lambda: simulate(SYS, X, T, n_steps=2.5), ValueError,
     r"n_steps:"),
    ("simulate-n_steps-bool", lambda: simulate(SYS, X, T, n_steps=True), ValueError,
     r"n_steps:"),
    ("simulate-noise-ivp", lambda: simulate(NOISY, X, T, method="ivp"), ValueError,
     r"method: 'ivp' is deterministic"),
    ("simulate-noise-linear", lambda: simulate(NOISY, X, T, method="linear"), ValueError,
     r"method: 'linear' is deterministic"),
    ("simulate-sigma_out", lambda: simulate(SYS, X, T, sigma_out=-1.0), ValueError,
     r"sigma_out: must be >= 0"),
    ("simulate-x", lambda: simulate(SYS, np.zeros((2, 2)), T), ValueError, r"x: expected shape"),
    ("simulate-x-nonfinite", lambda: simulate(SYS, _with_nan((2, 3)), T), ValueError,
     r"x: contains non-finite"),
    ("simulate-target", lambda: simulate(SYS, X, np.zeros(3)), ValueError,
     r"target: expected shape"),
    ("ivp-instantaneous-integral-PI", lambda: simulate(INST_PI, X, T, method="ivp"),
     ValueError, r"controller: the instantaneous system"),
    # ---- steady state
    ("steady-system", lambda: steady_state(Q, X, T), TypeError, r"system: expected a dfc_theory.DFCSystem"),
    ("steady-method", lambda: steady_state(SYS, X, T, method="exact"), ValueError,
     r"method: expected one of \['newton', 'simulate', 'ssa'\], got 'exact'"),
    ("steady-tol", lambda: steady_state(SYS, X, T, tol=0.0), ValueError, r"tol: must be > 0"),
    ("steady-max_iter", lambda: steady_state(SYS, X, T, max_iter=-1), ValueError, r"max_iter:"),
    ("steady-max_iter-fraction", lambda: steady_state(SYS, X, T, max_iter=1.5), ValueError,
     r"max_iter:"),
    ("steady-target", lambda: steady_state(SYS, X, np.zeros((2, 5))), ValueError,
     r"target: expected shape"),
    ("steady-target-nonfinite", lambda: steady_state(SYS, X, _with_nan((2, 2))), ValueError,
     r"target: contains non-finite"),
    ("steady-simulate-dt", lambda: steady_state(SYS, X, T, method="simulate", dt=0.3),
     ValueError, r"dt: forward Euler needs dt < tau_v"),
    # ---- feedback and targets
    ("feedback-network", lambda: feedback.weight_product(NET.weights), TypeError, r"network:"),
    ("feedback-gamma", lambda: feedback.damped_pseudoinverse(NET, X[0], -1.0), ValueError,
     r"gamma: must be >= 0"),
    ("feedback-condition2-batch", lambda: feedback.random_condition2(NET, X), ValueError,
     r"x: random_condition2 takes a single input of shape \(3,\)"),
    ("feedback-scale", lambda: feedback.random_gaussian(NET, scale=-1.0), ValueError,
     r"scale: must be >= 0"),
    ("target-lam", lambda: output_target(T, T, -0.1), ValueError, r"lam: must be >= 0"),
    ("target-loss", lambda: output_target(T, T, 0.1, loss="l1"), ValueError, r"loss:"),
    ("target-reduction", lambda: output_target(T, T, 0.1, reduction="max"), ValueError,
     r"reduction:"),
    ("target-y-shape", lambda: loss_gradient(T, np.zeros((2, 3))), ValueError,
     r"y: expected shape \(2, 2\)"),
    ("target-labels", lambda: loss_gradient(T, np.array([0, 2]), "cross_entropy"), ValueError,
     r"y: expected 2 integer class labels in \[0, 2\)"),
    ("target-r-nonfinite", lambda: loss_gradient(_with_nan((2, 2)), T), ValueError,
     r"r_L: contains non-finite"),
]


@pytest.mark.parametrize("call,exc,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_the_good_inputs_next_to_the_bad_ones_are_accepted():
    """The table's fixtures are valid, and the boundary values are accepted: each bad case
    above differs from a working call in exactly the argument it names."""
    Controller(alpha=0.0, k_p=0.0, tau_v=0.0, sigma=0.0)          # all boundaries inclusive
    simulate(SYS, X, T, dt=0.19, n_steps=2)                        # dt just below tau_v
    simulate(SLOW_APICAL, X, T, dt=0.01, n_steps=2)                # dt = tau_A
    simulate(INST, X, T, dt=0.5, n_steps=2)                        # tau_v = 0: any dt
    simulate(INST_PI, X, T, dt=0.01, n_steps=2)                    # Euler lags u: explicit
    steady_state(INST_PI, X, T)                                     # alpha_tilde is defined
    steady_state(SYS, X, T, max_iter=0)
    simulate(SYS, X, T, method="ivp", ivp_method="BDF", dt=0.1, n_steps=2)
    simulate(SYS, X, T, method="ivp", ivp_method="LSODA", dt=0.1, n_steps=2)
    simulate(SYS, X, T, method="ivp", ivp_method="RK45", dt=0.1, n_steps=2)
    simulate(NOISY, X, T, dt=0.01, n_steps=2, seed=0)
    Network([W1, W2], [np.zeros(4), np.zeros(2)], "relu", "sigmoid").forward(X[0])
    feedback.random_condition2(NET, X[0], seed=0)
    loss_gradient(T, np.array([0, 1]), "cross_entropy")
