"""Shared pytest configuration: Hypothesis profiles and common fixtures.

Hypothesis profiles (select with the environment variable HYPOTHESIS_PROFILE):

* ``ci`` (default): derandomized (the same examples on every run and machine), no
  deadline (timings on shared CI machines are noisy), a modest number of examples so the
  whole suite stays within a few minutes on 2 cores.
* ``dev``: random examples, more of them; use it locally to hunt for counterexamples,
  e.g. ``HYPOTHESIS_PROFILE=dev python -m pytest tests``.
"""
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# make ``import _cases`` (deterministic builders and oracles) work from every test module
sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=15, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile(
    "dev", derandomize=False, deadline=None, max_examples=100, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    """A fresh, explicitly seeded numpy Generator per test."""
    return np.random.default_rng(20210611)
