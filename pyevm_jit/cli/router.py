"""The `pyevm-jit` command. Each subcommand lives in its own module exposing
`add_arguments(parser)` and `run(args) -> int`; this file only routes."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from pyevm_jit.errors import UsageError


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """Ctrl-C and SIGTERM alike in every command: both raise KeyboardInterrupt in the main
    thread, so a command ends its child processes and keeps what finished on the way out
    (`finally` blocks run; a plain SIGTERM would end the process where it stands and leave its
    children running). The command's children run in sessions of their own
    (`runtime.children`): the terminal's Ctrl-C reaches only this process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "statetest": ("pyevm_jit.cli.statetest", "run Ethereum state tests (interp, jit or aot mode)"),
    "bench": ("pyevm_jit.cli.bench", "benchmark the JIT against the stock interpreter"),
    "fuzz": ("pyevm_jit.cli.fuzz", "differential fuzzing of the JIT against stock py-evm"),
    "blocktest": ("pyevm_jit.cli.blocktest", "run Ethereum BlockchainTests (interp/jit/aot)"),
    "aot": ("pyevm_jit.cli.aot", "precompile contracts into an AOT artifact store"),
    "report": ("pyevm_jit.cli.report", "print the per-contract report a run saved"),
    "osaka-replay": (
        "pyevm_jit.cli.osaka_replay",
        "replay state test transactions under Osaka on the execution spec and OsakaVM",
    ),
    "osaka-fuzz": (
        "pyevm_jit.cli.osaka_fuzz",
        "fuzz programs under Osaka against the execution spec (OsakaVM, interp and jit)",
    ),
    "keygen": ("pyevm_jit.cli.keygen", "write an Ed25519 key pair to sign shared artifacts"),
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
        with interrupts():
            return int(args._module.run(args))
    except UsageError as exc:
        print(f"pyevm-jit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
