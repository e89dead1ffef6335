"""The ``functional-nn`` command line: train, evaluate, predict, plot, sweep and
export.

A thin shell over the library's public API; nothing in the library imports it. The program
is :func:`functional_nn.cli.main.main`. Its modules, by what they hold:

* :mod:`.main` lists the sub-commands and :mod:`.shell` runs them: one parser, and the one
  path from an error (:mod:`.errors`) to an exit status;
* the sub-commands :mod:`.train`, :mod:`.evaluate`, :mod:`.predict`, :mod:`.plot`,
  :mod:`.sweep` and :mod:`.export`, which never import each other;
* what they share: :mod:`.options` (shared options and value parsers), :mod:`.output` (human
  lines and ``--json``), :mod:`.files` (checked, atomic writes), :mod:`.dataset` (a dataset
  with hints), :mod:`.loader` (a checkpoint's network), :mod:`.figures` (the PNG plots),
  :mod:`.images` (image files for ``predict``) and :mod:`.config` (a ``train`` run's recipe).
"""
