"""A griffe extension: the library's reST-flavoured docstrings as the Markdown mkdocstrings reads.

The docstrings are written to read well in ``help()`` and in a terminal: Sphinx roles
(``:func:`~.base.chain```), literal blocks after ``::`` and doctest examples (``>>> ...``).
Markdown would show the roles as text and the examples as nested quotes, so each docstring
becomes, before rendering:

- a role: its target as code, linked to its API entry when the site has one (an optional
  cross-reference: a target the site does not document stays plain code, without a warning);
- ``::`` ending a paragraph: ``:`` (the indented block after it is already a code block);
- a run of doctest lines: a ``pycon`` code block.

Named in ``mkdocs.yml`` under the Python handler's ``extensions``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import griffe

__all__ = ["ReSTDocstrings", "to_markdown"]

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")
_PROMPT = re.compile(r"^(?P<indent>[ \t]*)>>> ")

Resolver = Callable[[str], str | None]


def _roles(text: str, resolve: Resolver) -> str:
    def replace(match: re.Match[str]) -> str:
        target = match["target"]
        shown = target.rsplit(".", 1)[-1] if match["tilde"] else target.lstrip(".")
        identifier = resolve(target)
        code = f"<code>{shown}</code>"
        return code if identifier is None else (
            f'<autoref identifier="{identifier}" optional>{code}</autoref>')
    return _ROLE.sub(replace, text)


def _doctests(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        prompt = _PROMPT.match(lines[i])
        if prompt is None:
            out.append(lines[i])
            i += 1
            continue
        indent = prompt["indent"]
        if out and out[-1].strip():
            out.append("")  # a code block starts a paragraph of its own
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return out


def to_markdown(text: str, resolve: Resolver) -> str:
    """A docstring's text as Markdown; ``resolve`` maps a role's target to the identifier of
    its API entry (or ``None``).

    >>> to_markdown("See :func:`~.base.chain`::", lambda target: "pkg.base.chain")
    'See <autoref identifier="pkg.base.chain" optional><code>chain</code></autoref>:'
    >>> to_markdown("For example:\\n\\n>>> 1 + 1\\n2", lambda target: None).splitlines()
    ['For example:', '', '```pycon', '>>> 1 + 1', '2', '```']
    """
    lines = [re.sub(r"(\S)::$", r"\1:", line) for line in _roles(text, resolve).splitlines()]
    return "\n".join(_doctests(lines))


def _resolver(obj: griffe.Object) -> Resolver:
    """How a role's target names an object, seen from the docstring of ``obj``."""
    module = obj.module
    package = module.path if module.is_init_module else module.path.rpartition(".")[0]

    def resolve(target: str) -> str | None:
        if target.startswith("."):  # relative to the module's package, as imports are
            dots = len(target) - len(target.lstrip("."))
            base = package.split(".")
            return ".".join([*base[:len(base) - dots + 1], target.lstrip(".")])
        if target.startswith(f"{obj.package.name}."):
            return target
        first, _, rest = target.partition(".")
        try:
            found = obj.resolve(first) if not obj.is_module else module.resolve(first)
        except griffe.NameResolutionError:
            return None
        return f"{found}.{rest}" if rest else found
    return resolve


class ReSTDocstrings(griffe.Extension):
    """Rewrites every loaded docstring with :func:`to_markdown`, once each."""

    def __init__(self) -> None:
        super().__init__()
        self._done: set[str] = set()

    def _rewrite(self, obj: griffe.Object) -> None:
        if obj.docstring is not None and obj.path not in self._done:
            self._done.add(obj.path)
            obj.docstring.value = to_markdown(obj.docstring.value, _resolver(obj))

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader,
                  **kwargs: Any) -> None:
        self._rewrite(obj)

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader,
                   **kwargs: Any) -> None:
        self._rewrite(pkg)  # the top-level package is not among on_object's objects
