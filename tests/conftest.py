"""Shared pytest configuration: Hypothesis profiles and common fixtures.

Hypothesis profiles (select with the environment variable HYPOTHESIS_PROFILE):

* ``ci`` (default): derandomized (the same examples on every run and machine), no
  deadline (timings on shared CI machines are noisy), a modest number of examples so the
  whole suite stays within a few minutes on 2 cores.
* ``dev``: random examples, more of them; use it locally to hunt for counterexamples,
  e.g. ``HYPOTHESIS_PROFILE=dev python -m pytest tests``.

Backends: the ``backend`` fixture runs a test once per array backend of the core -- NumPy
(float64, the exact reference) and, when torch is installed, torch on the CPU in float64
(marked ``torch``).  Tests build their cases with NumPy (the oracles stay NumPy), move them
to the backend with ``backend.net`` / ``backend.system`` / ``backend.arr``, and bring results
back with ``backend.np`` before asserting (``backend.call(f, *args)`` does both around one
call); torch float64 must then meet the NumPy tolerances.
"""
import dataclasses
import importlib.util
import os
import signal
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# make ``import _cases`` (deterministic builders and oracles) work from every test module
sys.path.insert(0, os.path.dirname(__file__))

# a runner that starts the suite in the background (nohup, `cmd &`) hands it SIGINT ignored;
# the Ctrl-C tests need Python's own handler (child processes then start with SIG_DFL)
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=15, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture])
settings.register_profile(
    "dev", derandomize=False, deadline=None, max_examples=100, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HAVE_TORCH = importlib.util.find_spec("torch") is not None


class Backend:
    """Conversions between the NumPy test cases and one backend (see module docstring)."""

    def __init__(self, name):
        self.name = name
        self.torch = name == "torch"

    def __repr__(self):
        return f"Backend({self.name!r})"

    def arr(self, a):
        """A NumPy array (or a tuple of them) as this backend's float64 array."""
        if isinstance(a, (tuple, list)):
            return type(a)(self.arr(b) for b in a)
        if not self.torch or a is None:
            return a
        import torch
        return torch.as_tensor(np.array(a, dtype=np.float64))  # a copy: inputs may be read-only

    def net(self, network):
        """The network on this backend (torch: float64 on the CPU)."""
        if not self.torch:
            return network
        import dfc_theory.torch as dtt
        return dtt.Network.from_numpy(network)

    def system(self, system):
        """The DFC system on this backend."""
        if not self.torch:
            return system
        import dfc_theory.torch as dtt
        return dtt.DFCSystem.from_numpy(system)

    def np(self, a):
        """Results back in NumPy: arrays, tuples, dicts and result dataclasses (steady states,
        simulations, updates); floats and other values unchanged."""
        from dfc_theory._backend import to_numpy
        from dfc_theory._validation import is_tensor
        if dataclasses.is_dataclass(a) and not isinstance(a, type):
            return dataclasses.replace(a, **{  # a namespace field is resolved again
                f.name: None if f.name == "xp" else self.np(getattr(a, f.name))
                for f in dataclasses.fields(a) if f.init})
        if isinstance(a, dict):
            return {k: self.np(v) for k, v in a.items()}
        if isinstance(a, (tuple, list)):
            return type(a)(self.np(b) for b in a)
        if is_tensor(a) or isinstance(a, np.ndarray):
            return to_numpy(a)
        return a

    def to(self, a):
        """An argument on this backend: arrays, networks, systems, and tuples of them."""
        import dfc_theory as dfc
        if isinstance(a, dfc.DFCSystem):
            return self.system(a)
        if isinstance(a, dfc.Network):
            return self.net(a)
        if isinstance(a, (tuple, list)):
            return type(a)(self.to(b) for b in a)
        return self.arr(a) if isinstance(a, np.ndarray) else a

    def call(self, fn, *args, **kwargs):
        """``fn`` on this backend: arguments moved to it, the result brought back to NumPy."""
        return self.np(fn(*(self.to(a) for a in args),
                          **{k: self.to(v) for k, v in kwargs.items()}))


BACKENDS = [pytest.param("numpy", id="numpy"),
            pytest.param("torch", id="torch", marks=[
                pytest.mark.torch,
                pytest.mark.skipif(not HAVE_TORCH, reason="needs the torch extra")])]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each array backend of the core (module docstring)."""
    return Backend(request.param)


@pytest.fixture
def rng():
    """A fresh, explicitly seeded numpy Generator per test."""
    return np.random.default_rng(20210611)
