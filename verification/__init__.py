"""The theorem verification suite: ``python -m verification [--quick | --full]``.

One module per result of THEORY.md section 4; each exposes ``run(ctx) -> list[Result]``.
CHECKS lists them in report order.  Every check is a sweep over independent random draws
behind named premises (``dfc_theory.testing.premises``); each Result has a ``kind``
("theorem", "consistency" or "fullscale"), and a theorem Result carries its draw counts and
its negative control (see ``verification._sweep``).
"""
from .result import Context, Result

CHECKS = [
    "lemma1",            # linearised vs exact steady state, O(lambda^2)
    "condition2",        # Condition-2 identities, Delta v -> J^+ delta_L with O(alpha)
    "theorem2",          # Gauss-Newton alignment under Conditions 1 and 2
    "theorem3",          # weighted minimum norm, per-layer factor ||r_{i-1}||^2
    "proposition4",      # descent direction for any Q
    "stability",         # Condition 3 / Proposition 5 vs simulated behaviour
    "theorem6",          # feedback learning -> damped pseudoinverse
    "identities",        # exact identities: Newton step = SSA, scale invariance, integrators
    "dfc_variants",      # DFC vs DFC-SS vs DFC-SSA updates as lambda -> 0
    "fullscale",         # full-scale records (torch backend) judged against the theory
]

__all__ = ["CHECKS", "Context", "Result"]
