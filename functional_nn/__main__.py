"""``python -m functional_nn``: the ``functional-nn`` command line."""

from __future__ import annotations

from .cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
