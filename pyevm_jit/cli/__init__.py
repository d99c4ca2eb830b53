"""The command layer: the `pyevm-jit` router (`router.py`) and one module per command, each with
`add_arguments(parser)` and `run(args) -> int`. Nothing outside this package imports it."""

from pyevm_jit.cli.router import main

__all__ = ["main"]
