"""Quote the repository into pages at build time, so that a page cannot drift from its source.

Two directives, each an HTML comment alone on a line of a page's Markdown:

- ``<!-- code: functional_nn/losses.py CrossEntropy.value_and_grad softmax -->``: each named
  definition (a dotted path through classes and functions, nested ones too), with the comment
  lines just above it, as a Python code block titled with its file and name;
- ``<!-- readme: Performance -->``: the body of the README's ``## Performance`` section;
  ``<!-- readme: Convolutional networks from `benchmarks/bench_conv.py` -->``: its part from
  the paragraph holding that text on.

A name or section that is not there fails the build, naming the page, the file and the name.
"""

from __future__ import annotations

import ast
import logging
import re
import textwrap
from pathlib import Path

__all__ = ["QuoteError", "definition", "expand", "on_page_markdown", "readme_section"]

log = logging.getLogger("mkdocs.hooks.quotes")  # under "mkdocs": a warning fails --strict

_DIRECTIVE = re.compile(r"^<!-- (?P<kind>code|readme): (?P<args>.+?) -->[ \t]*$", re.MULTILINE)
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


class QuoteError(ValueError):
    """A quoted file, definition or README section that does not exist."""


def _find(body: list[ast.stmt], parts: list[str], where: str) -> Definition:
    for node in body:
        if isinstance(node, Definition) and node.name == parts[0]:
            return node if len(parts) == 1 else _find(node.body, parts[1:], where)
    raise QuoteError(f"{where}: no definition named {parts[0]!r}")


def definition(root: Path, path: str, name: str) -> str:
    """The source of definition ``name`` (``f``, ``Class.method``, ``outer.inner``) in the
    file ``path`` under ``root``, dedented, with the comment lines right above it."""
    file = root / path
    try:
        source = file.read_text(encoding="utf-8")
    except OSError as error:
        raise QuoteError(f"{path}: cannot read it ({error.strerror})") from None
    node = _find(ast.parse(source, filename=path).body, name.split("."), f"{path}: {name}")
    lines = source.splitlines()
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    while first > 0 and lines[first - 1].strip().startswith("#"):
        first -= 1
    end = node.end_lineno if node.end_lineno is not None else node.lineno
    return textwrap.dedent("\n".join(lines[first:end]))


def readme_section(root: Path, heading: str, start: str | None = None) -> str:
    """The body of the README's ``## heading`` section, up to the next ``##`` heading; with
    ``start``, from the beginning of the paragraph that holds it."""
    text = (root / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}[ \t]*\n(?P<body>.*?)(?=^## |\Z)", text,
                      re.MULTILINE | re.DOTALL)
    if match is None:
        raise QuoteError(f"README.md: no section '## {heading}'")
    body = match["body"].strip("\n")
    if start is None:
        return body
    at = body.find(start)
    if at < 0:
        raise QuoteError(f"README.md: section '## {heading}' has no {start!r}")
    return body[body.rfind("\n\n", 0, at) + 2:]


def _code_blocks(root: Path, args: str) -> str:
    path, *names = args.split()
    if not names:
        raise QuoteError(f"<!-- code: {args} -->: name the definitions to quote after the file")
    return "\n\n".join(f'```python title="{path} · {name}"\n{definition(root, path, name)}\n```'
                       for name in names)


def expand(markdown: str, root: Path) -> str:
    """``markdown`` with every directive replaced by what it quotes from ``root``.

    >>> page = "Softmax:\\n\\n<!-- code: functional_nn/losses.py softmax -->\\n"
    >>> print(expand(page, Path(__file__).resolve().parents[2]).splitlines()[2])
    ```python title="functional_nn/losses.py · softmax"
    """
    def replace(match: re.Match[str]) -> str:
        if match["kind"] == "code":
            return _code_blocks(root, match["args"])
        heading, _, start = match["args"].partition(" from ")
        return readme_section(root, heading.strip(), start.strip() or None)
    return _DIRECTIVE.sub(replace, markdown)


def on_page_markdown(markdown: str, /, **kwargs: object) -> str:
    """MkDocs hook: a page's Markdown with its quotes filled in from the repository."""
    config = kwargs.get("config")
    config_file = getattr(config, "config_file_path", None) or "mkdocs.yml"
    try:
        return expand(markdown, Path(str(config_file)).resolve().parent)
    except QuoteError as error:
        log.warning("%s: %s", kwargs.get("page"), error)
        return markdown
