"""Sleep-phase feedback learning (THEORY.md Theorem 6 and section 6) for torch networks:
the core's own rule and training (:mod:`dfc_theory.feedback_learning`; the decay term is
``FeedbackConfig.decay_term``)."""
from ..feedback_learning import (OPTIMIZERS, FeedbackConfig, feedback_metrics,  # noqa: F401
                                 feedback_update, train_feedback)

__all__ = ["FeedbackConfig", "feedback_update", "feedback_metrics", "train_feedback",
           "OPTIMIZERS"]
