"""The package's layout: no import cycles (function-level imports count), the dependency
directions of the README, and small modules that say what they hold.

Imports are read from the source with ``ast`` (nothing is imported), so an import inside a
function, one under ``if TYPE_CHECKING:`` and one that only runs when an extra is installed
all count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "functional_nn"
MAX_LINES = 400


def modules(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of the same package that module ``name`` imports, wherever it does."""
    root = name.split(".")[0]
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # `from pkg import sub` imports the module pkg.sub when there is one
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known and target.split(".")[0] == root:
                target = target.rpartition(".")[0]  # `import pkg.mod.attr` imports pkg.mod
            if target in known and target != name:
                yield target


def graph(package: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    known = modules(package)
    return {name: set(imports(name, path, known)) for name, path in known.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or ``None``."""
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> list[str] | None:
        if name in trail:
            return [*trail[trail.index(name):], name]
        if name in done:
            return None
        for target in sorted(edges[name]):
            found = visit(target, [*trail, name])
            if found:
                return found
        done.add(name)
        return None

    for name in sorted(edges):
        found = visit(name, [])
        if found:
            return found
    return None


def test_no_import_cycle_anywhere_in_the_package() -> None:
    found = cycle(graph(PACKAGE))
    assert found is None, "import cycle: " + " -> ".join(found or [])


def test_the_cycle_check_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..a import g\n")
    assert graph(package) == {"pkg": set(), "pkg.sub": set(), "pkg.a": {"pkg.sub.b"},
                              "pkg.sub.b": {"pkg.a"}}
    assert cycle(graph(package)) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    (package / "sub" / "b.py").write_text("import pkg\nfrom pkg import sub\n")
    assert cycle(graph(package)) is None


def _outside(edges: dict[str, set[str]], part: str) -> set[str]:
    """What the modules of ``functional_nn.<part>`` import from the rest of the package."""
    inside = f"functional_nn.{part}"
    return {target for name, targets in edges.items()
            if name == inside or name.startswith(inside + ".") for target in targets
            if not (target == inside or target.startswith(inside + "."))}


LOW_LEVEL = {"functional_nn._array", "functional_nn._atomic", "functional_nn._validators",
             "functional_nn._static", "functional_nn._memory"}
MODEL = {"functional_nn.model", "functional_nn.layers", "functional_nn.rules",
         "functional_nn.specs", "functional_nn.losses", "functional_nn.train",
         "functional_nn.recipes"}


def test_the_dependency_directions() -> None:
    edges = graph(PACKAGE)
    assert _outside(edges, "tree") <= LOW_LEVEL  # generic: knows no layer, model or optimizer
    assert _outside(edges, "data") <= LOW_LEVEL  # files into arrays, knowing no model
    # a Flat is a tree stored as one buffer: generic too
    assert _outside(edges, "flat") <= LOW_LEVEL | {"functional_nn.tree"}
    assert not _outside(edges, "optim") & MODEL  # an optimizer works on any parameter tree
    assert not _outside(edges, "checkpoint") & (MODEL | {"functional_nn.optim"})
    # export writes a network at inference: it knows the model, never training, data or files
    training = ("train", "recipes", "optim", "metrics", "checkpoint", "data", "distributed")
    assert not {t for t in _outside(edges, "export") if t.split(".")[1:2] and
                t.split(".")[1] in training}
    for part in ("_array", "_atomic", "_validators", "_memory"):
        assert not _outside(edges, part)
    users_of_cli = {name for name, targets in edges.items()
                    if any(t.startswith("functional_nn.cli") for t in targets)}
    assert {n for n in users_of_cli if not n.startswith("functional_nn.cli")} == {
        "functional_nn.__main__"}  # nothing in the library imports the command line


@pytest.mark.parametrize("name", sorted(modules(PACKAGE)))
def test_each_module_is_small_and_says_what_it_holds(name: str) -> None:
    path = modules(PACKAGE)[name]
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_LINES, f"{path} is over {MAX_LINES} lines"
    assert ast.get_docstring(ast.parse(source)), f"{path} has no opening docstring"
