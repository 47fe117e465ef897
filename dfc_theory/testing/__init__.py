"""Tools for property-testing the theory: named premises of the paper's claims
(:mod:`dfc_theory.testing.premises`)."""
from .premises import PREMISES, Draw, Premise, PremiseOutcome, Sweep, check_premises

__all__ = ["PREMISES", "Draw", "Premise", "PremiseOutcome", "Sweep", "check_premises"]
