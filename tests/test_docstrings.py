"""Every public definition carries numpydoc sections and a runnable example (issue 12).

Public: the ``__all__`` of ``dfc_theory``, of the namespace modules the README names and of
``dfc_theory.torch``.  Functions need ``Parameters`` (when they take any), ``Returns`` (or
``Yields``) and an ``Examples`` doctest; classes need ``Parameters`` or ``Attributes`` and an
example.  The examples themselves run in ``pytest --doctest-modules dfc_theory`` (.ci/run).
"""
import importlib
import inspect

import pytest

NAMESPACES = ("dfc_theory", "dfc_theory.feedback", "dfc_theory.learning",
              "dfc_theory.stability", "dfc_theory.metrics", "dfc_theory.gauss_newton",
              "dfc_theory.symbolic", "dfc_theory.feedback_learning", "dfc_theory.training",
              "dfc_theory.targets", "dfc_theory.datasets", "dfc_theory.activations")


def _public():
    names = [(ns, n) for ns in NAMESPACES for n in importlib.import_module(ns).__all__]
    try:
        import dfc_theory.torch as dtt
        names += [("dfc_theory.torch", n) for n in dtt.__all__]
    except ImportError:
        pass
    seen, out = set(), []
    for ns, n in names:
        obj = getattr(importlib.import_module(ns), n)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and id(obj) not in seen:
            seen.add(id(obj))
            out.append(pytest.param(obj, id=f"{ns}.{n}"))
    return out


def missing_sections(obj):
    """The numpydoc sections ``obj``'s docstring lacks (an empty list when complete)."""
    doc = inspect.getdoc(obj) or ""
    sections = {line.strip() for line in doc.splitlines()}
    missing = []
    if inspect.isfunction(obj):
        if inspect.signature(obj).parameters and "Parameters" not in sections:
            missing.append("Parameters")
        if not {"Returns", "Yields"} & sections:
            missing.append("Returns")
    elif not {"Parameters", "Attributes"} & sections:
        missing.append("Parameters or Attributes")
    if "Examples" not in sections or ">>>" not in doc:
        missing.append("Examples")
    return missing


def test_the_checker_sees_a_missing_section():
    def documented(a):
        """Double.

        Parameters
        ----------
        a : float

        Returns
        -------
        float

        Examples
        --------
        >>> documented(1.0)
        2.0
        """
        return 2 * a

    def bare(a):
        """Double."""
        return 2 * a

    assert missing_sections(documented) == []
    assert missing_sections(bare) == ["Parameters", "Returns", "Examples"]


@pytest.mark.parametrize("obj", _public())
def test_public_definition_has_numpydoc_sections_and_an_example(obj):
    assert missing_sections(obj) == []
