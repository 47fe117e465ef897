"""Forward learning rules (THEORY.md section 6) for torch networks: the core's own
(:mod:`dfc_theory.learning`), re-exported."""
from ..learning import (DFC_METHODS, FORWARD_METHODS, RULES, ForwardResult,  # noqa: F401
                        TimeAveragedRule, dfa_as_feedback, dfa_feedback, dfa_update,
                        fixed_feedback, forward_update, rule_at_state)

__all__ = ["FORWARD_METHODS", "DFC_METHODS", "RULES", "ForwardResult", "TimeAveragedRule",
           "rule_at_state", "forward_update", "dfa_update", "dfa_feedback", "dfa_as_feedback",
           "fixed_feedback"]
