"""The documentation site's sources: Markdown pages, and the build hooks in :mod:`docs.hooks`."""
