"""MkDocs build hooks (named in ``mkdocs.yml``): formulas to MathML, quoted source, docstrings.

MkDocs loads each hook module from its file, so none imports another.
"""
