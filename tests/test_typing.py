"""The public API's static types under both checkers, and the README's code under both.

mypy checks ``tests/typing/`` with the rest of ``tests/`` (the README's test command); here
pyright checks it in strict mode, and both check the README's Python examples as a user's
script would be checked (pyright the documentation pages' too; mypy checks those in
``tests/test_docs.py``). See ``tests/typing/README.md`` for how rejections are asserted.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_docs import python_blocks

ROOT = Path(__file__).resolve().parent.parent
TYPE_TESTS = ROOT / "tests" / "typing"

needs_pyright = pytest.mark.skipif(importlib.util.find_spec("pyright") is None,
                                   reason="pyright is not installed (pip install -e '.[dev]')")

Diagnostics = list[dict[str, Any]]  # pyright's JSON report


def readme_scripts(folder: Path) -> list[Path]:
    """The README's Python examples, each written to ``folder`` as a script of its own.

    Examples that import ``functional_nn.distributed`` are left out without Dask installed.
    """
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert blocks, "the README has no Python examples"
    dask = importlib.util.find_spec("distributed") is not None
    scripts = []
    for i, code in enumerate(blocks):
        if "functional_nn.distributed" in code and not dask:
            continue
        script = folder / f"readme_example_{i}.py"
        script.write_text(code, encoding="utf-8")
        scripts.append(script)
    return scripts


def pyright(config: Path, files: list[Path]) -> Diagnostics:
    """pyright's errors (as its JSON report gives them) in ``files``, with ``config``."""
    done = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable,
         "-p", str(config), *map(str, files)],
        capture_output=True, text=True, check=False, timeout=300, cwd=ROOT,
        env={**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"})
    if done.returncode not in (0, 1):  # 0: no errors, 1: errors; anything else: no report
        raise RuntimeError(f"pyright failed ({done.returncode}): {done.stderr or done.stdout}")
    report = json.loads(done.stdout[done.stdout.index("{"):])
    assert report["summary"]["filesAnalyzed"] >= len(files), report["summary"]  # all checked
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"]


def describe(errors: Diagnostics) -> str:
    lines = []
    for e in errors:
        start = e["range"]["start"]
        lines.append(f"{e['file']}:{start['line'] + 1}: {e['message']} ({e.get('rule', '')})")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def pyright_errors(tmp_path_factory: pytest.TempPathFactory) -> Diagnostics:
    """One strict pyright run over ``tests/typing/``, the README's examples and the pages'."""
    folder = tmp_path_factory.mktemp("readme")
    settings = json.loads((TYPE_TESTS / "pyrightconfig.json").read_text(encoding="utf-8"))
    settings.update(extraPaths=[str(ROOT)], stubPath=str(ROOT / "typings"))  # from elsewhere
    config = folder / "pyrightconfig.json"
    config.write_text(json.dumps(settings), encoding="utf-8")
    pages = folder / "pages"
    pages.mkdir()
    return pyright(config, [*sorted(TYPE_TESTS.rglob("*.py")), *readme_scripts(folder),
                            *page_scripts(pages)])


def page_scripts(folder: Path) -> list[Path]:
    """The documentation pages' ```python examples as scripts (without Dask, those that
    import ``functional_nn.distributed`` are left out)."""
    dask = importlib.util.find_spec("distributed") is not None
    return [s for s in python_blocks(folder)
            if dask or "functional_nn.distributed" not in s.read_text(encoding="utf-8")]


def in_folder(errors: Diagnostics, folder: Path) -> Diagnostics:
    return [e for e in errors if Path(str(e["file"])).is_relative_to(folder)]


@needs_pyright
def test_type_tests_pass_pyright_strict(pyright_errors: Diagnostics) -> None:
    errors = in_folder(pyright_errors, TYPE_TESTS)
    assert not errors, describe(errors)


@needs_pyright
def test_readme_examples_pass_pyright_strict(pyright_errors: Diagnostics) -> None:
    errors = [e for e in pyright_errors if Path(str(e["file"])).name.startswith("readme_")]
    assert not errors, describe(errors)


@needs_pyright
def test_the_pages_examples_pass_pyright_strict(pyright_errors: Diagnostics,
                                                tmp_path: Path) -> None:
    assert len(page_scripts(tmp_path)) >= 8  # the pages still have examples to check
    errors = [e for e in pyright_errors if Path(str(e["file"])).parent.name == "pages"]
    assert not errors, describe(errors)


@needs_pyright
def test_every_error_is_in_a_checked_group(pyright_errors: Diagnostics) -> None:
    # the three tests above split the report by place: an error elsewhere would pass them all
    places = [Path(str(e["file"])) for e in pyright_errors]
    assert all(p.is_relative_to(TYPE_TESTS) or p.name.startswith("readme_")
               or p.parent.name == "pages" for p in places), describe(pyright_errors)


def test_readme_examples_pass_mypy_strict(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install -e '.[dev]')")
    scripts = readme_scripts(tmp_path)
    out, err, status = api.run(["--strict", "--config-file", str(ROOT / "pyproject.toml"),
                                "--no-error-summary", *map(str, scripts)])
    assert status == 0, out + err
