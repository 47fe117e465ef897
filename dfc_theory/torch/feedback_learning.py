"""Sleep-phase feedback learning (THEORY.md Theorem 6 and section 6) for torch networks:
the core's own rule and training (:mod:`dfc_theory.feedback_learning`)."""
from ..feedback_learning import (OPTIMIZERS, FeedbackConfig, feedback_metrics,  # noqa: F401
                                 feedback_update, train_feedback)

__all__ = ["FeedbackConfig", "feedback_update", "feedback_metrics", "train_feedback",
           "decay_term", "OPTIMIZERS"]


def decay_term(config, Q):
    """beta Q (weight decay) or beta (||Q||_F^2 - C) Q (homeostatic):
    ``config.decay_term(Q)``."""
    return config.decay_term(Q)
