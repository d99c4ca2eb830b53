"""The `pyevm-jit` command. Each subcommand lives in its own module exposing
`add_arguments(parser)` and `run(args) -> int`; this file only routes."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "statetest": ("pyevm_jit.statetest_cli", "run Ethereum state tests (interp, jit or aot mode)"),
    "bench": ("pyevm_jit.bench_cli", "benchmark the JIT against the stock interpreter"),
    "fuzz": ("pyevm_jit.fuzz_cli", "differential fuzzing of the JIT against stock py-evm"),
}


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyevm-jit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args))
    except UsageError as exc:
        print(f"pyevm-jit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run through the package module so that `UsageError` is the class subcommands raise.
    from pyevm_jit.cli import main as package_main

    sys.exit(package_main())
