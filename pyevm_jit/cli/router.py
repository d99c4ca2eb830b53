"""The `pyevm-jit` command. Each subcommand lives in its own module exposing
`add_arguments(parser)` and `run(args) -> int`; this file only routes."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pyevm_jit.errors import UsageError

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "statetest": ("pyevm_jit.cli.statetest", "run Ethereum state tests (interp, jit or aot mode)"),
    "bench": ("pyevm_jit.cli.bench", "benchmark the JIT against the stock interpreter"),
    "fuzz": ("pyevm_jit.cli.fuzz", "differential fuzzing of the JIT against stock py-evm"),
    "blocktest": ("pyevm_jit.cli.blocktest", "run Ethereum BlockchainTests (interp/jit/aot)"),
    "aot": ("pyevm_jit.cli.aot", "precompile contracts into an AOT artifact store"),
}


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first non-option word), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. Only the module of `command` is imported (none when None): one
    subcommand that cannot be imported does not take the others down."""
    parser = argparse.ArgumentParser(
        prog="pyevm-jit",
        description="py-evm with EVM bytecode compiled to native code (llvmlite). "
        "`pyevm-jit COMMAND --help` shows the options of a command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name != command:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            sub_parser.set_defaults(_import_error=f"{name} is not available ({exc})")
            sub_parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            continue
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(words)
    parser = build_parser(command)
    args = parser.parse_args(words)
    if getattr(args, "_import_error", None):
        print(f"pyevm-jit {args.command}: error: {args._import_error}", file=sys.stderr)
        return 2
    try:
        return int(args._module.run(args))
    except UsageError as exc:
        print(f"pyevm-jit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
