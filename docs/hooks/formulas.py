"""Formulas to MathML at build time: the site needs no script, font or network to show them.

``pymdownx.arithmatex`` (generic mode) marks ``$...$`` as ``<span class="arithmatex">\\(...\\)
</span>`` and ``$$...$$`` as ``<div class="arithmatex">\\[...\\]</div>``, leaving code alone;
this hook replaces each with the MathML that ``latex2mathml`` makes of it, which browsers
render natively. A formula it cannot convert fails the build, naming the page and the formula.
"""

from __future__ import annotations

import html
import logging
import re

from latex2mathml.converter import convert

__all__ = ["FormulaError", "on_page_content", "to_mathml"]

log = logging.getLogger("mkdocs.hooks.formulas")  # under "mkdocs": a warning fails --strict

_MARKED = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*\\(?P<open>[(\[])(?P<tex>.*?)\\[)\]]\s*</(?P=tag)>',
    re.DOTALL)


class FormulaError(ValueError):
    """A formula that latex2mathml cannot convert."""


def _mathml(tex: str, display: str) -> str:
    try:
        return str(convert(tex, display=display))
    except Exception as error:  # latex2mathml raises many kinds, all meaning "cannot convert"
        raise FormulaError(f"cannot convert formula {tex!r} to MathML: {error}") from None


def to_mathml(page_html: str) -> str:
    """``page_html`` with every arithmatex formula replaced by MathML (block or inline).

    >>> out = to_mathml('<p>Let <span class="arithmatex">\\\\(x^2\\\\)</span>.</p>')
    >>> out.startswith("<p>Let <math "), "<msup><mi>x</mi><mn>2</mn></msup>" in out
    (True, True)
    """
    def replace(match: re.Match[str]) -> str:
        tex = html.unescape(match["tex"]).strip()
        if match["open"] == "[":
            return f'<div class="formula">{_mathml(tex, "block")}</div>'
        return _mathml(tex, "inline")
    return _MARKED.sub(replace, page_html)


def on_page_content(page_html: str, /, **kwargs: object) -> str:
    """MkDocs hook: a page's HTML, its formulas as MathML."""
    try:
        return to_mathml(page_html)
    except FormulaError as error:
        log.warning("%s: %s", kwargs.get("page"), error)
        return page_html
