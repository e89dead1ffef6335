"""The documentation site: it builds with ``mkdocs build --strict``, shows its formulas as
MathML and loads nothing from another host, quotes the code that runs, documents every public
name; the pages' Python passes ``mypy --strict``; the benchmark plot's table is the README's.

The pages' ``>>>`` examples run as doctests (``--doctest-glob=*.md`` in pyproject.toml).
"""

from __future__ import annotations

import csv
import html
import importlib
import importlib.util
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from docs.hooks import quotes
from tests.conftest import ROOT

DOCS = ROOT / "docs"
needs_docs = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("mkdocs", "griffe", "latex2mathml")),
    reason="the documentation tools are not installed (pip install -e '.[docs]')")

# The API pages, each module with the names it makes public.
API_MODULES = ["functional_nn.tree", "functional_nn.maps", "functional_nn.flat",
               "functional_nn.layers", "functional_nn.rules", "functional_nn.model",
               "functional_nn.losses", "functional_nn.optim", "functional_nn.train",
               "functional_nn.metrics", "functional_nn.checkpoint", "functional_nn.data",
               "functional_nn.recipes", "functional_nn.specs", "functional_nn.testing",
               "functional_nn.testing.strategies", "functional_nn.distributed",
               "functional_nn.export"]
# Pages whose Python is not checked, and why.
UNCHECKED_PAGES: dict[str, str] = {}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once with ``mkdocs build --strict`` (any warning fails the build)."""
    out = tmp_path_factory.mktemp("site")
    # not --quiet: it drops warnings before --strict counts them, and the build then passes
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    return out


def _pages(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text(encoding="utf-8")
            for p in sorted(site.rglob("*.html"))}


def _text(page_html: str) -> str:
    """A page's text: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page_html))


@needs_docs
def test_every_page_of_the_navigation_is_built(site: Path) -> None:
    pages = sorted(p.relative_to(DOCS) for p in DOCS.rglob("*.md"))
    assert len(pages) >= 20
    for page in pages:
        assert (site / page.with_suffix(".html")).is_file(), f"{page} was not built"


@needs_docs
def test_every_link_between_pages_names_a_file_so_the_site_opens_from_disk(site: Path) -> None:
    links = re.compile(r"<a\b[^>]*?\bhref=\"([^\"#?]+)[^\"]*\"", re.IGNORECASE)
    checked = 0
    for name, text in _pages(site).items():
        if name == "404.html":  # a web server's page, with links from the site's root
            continue
        for href in links.findall(text):
            if re.match(r"[a-z]+:|//", href, re.IGNORECASE):
                continue  # another host, mailto:
            target = (site / name).parent / html.unescape(href)
            assert target.is_file(), f"{name} links to {href}, which is not a file of the site"
            checked += 1
    assert checked > 100


@needs_docs
def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    assets = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)="
                        r"\"((?:[a-z]+:)?//[^\"]*)\"", re.IGNORECASE)
    for name, text in _pages(site).items():
        assert not assets.findall(text), f"{name} loads {assets.findall(text)}"
    for css in site.rglob("*.css"):
        found = re.findall(r"url\(\s*['\"]?((?:[a-z]+:)?//[^)'\"]*)", css.read_text("utf-8"))
        assert not found, f"{css.relative_to(site)} loads {found}"


@needs_docs
def test_formulas_are_mathml_made_at_build_time(site: Path) -> None:
    pages = _pages(site)
    tutorial = pages["tutorial/index.html"]
    assert tutorial.count("<math ") >= 40
    assert tutorial.count('display="block"') >= 10
    assert "<msqrt>" in tutorial
    assert "<mfrac>" in tutorial
    for name, text in pages.items():
        assert 'class="arithmatex"' not in text, f"{name} has a formula left unconverted"


@needs_docs
def test_the_tutorial_quotes_the_code_that_runs(site: Path) -> None:
    text = _text(_pages(site)["tutorial/index.html"])
    for path, name in [("functional_nn/rules/dense.py", "_dense_forward"),
                       ("functional_nn/rules/dense.py", "_sequential_vjp"),
                       ("functional_nn/losses.py", "CrossEntropy.value_and_grad"),
                       ("functional_nn/optim/transforms.py", "scale_by_adam")]:
        assert f"{path} · {name}" in text
        for line in quotes.definition(ROOT, path, name).splitlines():
            assert line.strip() in text, f"{path} {name}: {line!r} is not on the page"


@needs_docs
def test_every_public_name_has_an_api_entry(site: Path) -> None:
    ids = {i for text in _pages(site).values() for i in re.findall(r'id="([^"]+)"', text)}
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        assert module_name in ids, f"{module_name} has no API page"
        for name in module.__all__:
            obj = getattr(module, name)
            home = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            assert f"{module_name}.{name}" in ids or home in ids, f"{module_name}.{name}"
    import functional_nn as fnn

    documented = {name for m in API_MODULES for name in importlib.import_module(m).__all__}
    documented |= {m.rsplit(".", 1)[1] for m in API_MODULES}
    documented |= {name for name in fnn.__all__ if f"functional_nn.{name}" in ids}
    missing = set(fnn.__all__) - documented - {"__version__"}
    assert not missing, f"top-level names documented nowhere: {sorted(missing)}"


def python_blocks(folder: Path) -> list[Path]:
    """Each page's ```python blocks, as scripts in ``folder`` (the pages' doctests run
    themselves; these are the examples that are not run)."""
    scripts = []
    for page in sorted(DOCS.rglob("*.md")):
        if str(page.relative_to(DOCS)) in UNCHECKED_PAGES:
            continue
        text = page.read_text(encoding="utf-8")
        blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
        for i, code in enumerate(blocks):
            script = folder / f"{page.stem.replace('-', '_')}_{i}.py"
            script.write_text(code, encoding="utf-8")
            scripts.append(script)
    return scripts


@needs_docs
def test_the_pages_python_and_the_docs_tools_pass_mypy_strict(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install -e '.[dev]')")
    scripts = python_blocks(tmp_path)
    assert len(scripts) >= 8
    if importlib.util.find_spec("distributed") is None:
        scripts = [s for s in scripts if "functional_nn.distributed" not in s.read_text("utf-8")]
    tools = [*sorted((DOCS / "hooks").glob("*.py")), DOCS / "conftest.py",
             ROOT / "benchmarks" / "plot_results.py"]
    out, err, status = api.run(["--strict", "--config-file", str(ROOT / "pyproject.toml"),
                                "--no-error-summary", *map(str, scripts + tools)])
    assert status == 0, out + err


def test_the_plots_table_holds_the_readmes_numbers() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected: set[tuple[object, ...]] = set()
    for net, batch, rate, numpy_loop, torch in re.findall(
            r"^\| (784-[\d-]+), (\d+) \| ([\d.]+)k \| ([\d.]+)x \| ([\d.]+)x \|", readme,
            re.MULTILINE):
        expected.add(("mlp", net, int(batch), float(rate) * 1000, float(numpy_loop),
                      float(torch)))
    for threads, rate, torch in re.findall(
            r"^\| (?:1 \(`--threads 1`\)|default \((\d)\)) \| ([\d,]+) .*?\| ([\d.]+)× \|",
            readme, re.MULTILINE):
        expected.add(("convnet", int(threads or 1), float(rate.replace(",", "")),
                      float(torch)))
    assert len(expected) == 5, "the README's benchmark tables changed shape: update this test"
    with (ROOT / "benchmarks" / "results.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    table: set[tuple[object, ...]] = set()
    for row in rows:
        rate, torch = float(row["functional_nn_samples_per_s"]), float(row["vs_pytorch"])
        if row["benchmark"] == "mlp":
            table.add(("mlp", row["network"], int(row["batch"]), rate,
                       float(row["vs_numpy_loop"]), torch))
        else:
            table.add(("convnet", int(row["threads"]), rate, torch))
    assert table == expected, ("benchmarks/results.csv differs from the README: update it and "
                               "run python benchmarks/plot_results.py")


def test_a_quote_of_something_missing_names_the_file_and_the_name() -> None:
    with pytest.raises(quotes.QuoteError, match=r"functional_nn/losses.py: no_such: no "
                                                 r"definition named 'no_such'"):
        quotes.definition(ROOT, "functional_nn/losses.py", "no_such")
    with pytest.raises(quotes.QuoteError, match=r"CrossEntropy\.nope: no definition named 'nope'"):
        quotes.definition(ROOT, "functional_nn/losses.py", "CrossEntropy.nope")
    with pytest.raises(quotes.QuoteError, match=r"functional_nn/gone.py: cannot read it"):
        quotes.definition(ROOT, "functional_nn/gone.py", "f")
    with pytest.raises(quotes.QuoteError, match=r"README.md: no section '## Nowhere'"):
        quotes.expand("<!-- readme: Nowhere -->\n", ROOT)


def test_a_broken_quote_is_a_warning_that_fails_the_strict_build(
        caplog: pytest.LogCaptureFixture) -> None:
    page = "text\n<!-- code: functional_nn/losses.py no_such -->\n"
    with caplog.at_level(logging.WARNING):
        assert quotes.on_page_markdown(page, page="guide.md", config=None) == page
    [record] = caplog.records
    assert record.name.startswith("mkdocs.")
    assert record.levelno == logging.WARNING
    assert "guide.md" in record.getMessage()
    assert "no_such" in record.getMessage()


@needs_docs
def test_a_formula_latex2mathml_cannot_read_is_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    formulas = importlib.import_module("docs.hooks.formulas")
    good = '<span class="arithmatex">\\(a &lt; b\\)</span>'
    assert "<mo>&#x0003C;</mo>" in formulas.to_mathml(good)  # entities are decoded first
    bad = '<div class="arithmatex">\\[x^\\]</div>'
    with caplog.at_level(logging.WARNING):
        assert formulas.on_page_content(bad, page="p.md") == bad
    [record] = caplog.records
    assert record.name.startswith("mkdocs.")
    assert "'x^'" in record.getMessage()
