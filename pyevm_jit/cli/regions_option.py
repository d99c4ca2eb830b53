"""`--regions` of the case commands (statetest, blocktest) and of the fuzzer: every contract
compiled as a region, a random half of its blocks, the rest side exits to the interpreter
(docs/regions.md). The setting goes through the environment, so worker processes inherit it."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from pyevm_jit.errors import UsageError

HELP = (
    "compile every contract as a region, a random half of its blocks (drawn with the seed), "
    "the rest side exits to the interpreter (docs/regions.md)"
)


def add_argument(parser: argparse.ArgumentParser, note: str = "") -> None:
    parser.add_argument("--regions", action="store_true", help=note + HELP)


def apply(args: argparse.Namespace, problem: str | None = None, seed: int = 1) -> None:
    """With `--regions`: a usage error when `problem` names why it cannot apply; else set the
    environment of this process (and of the workers it starts)."""
    if not getattr(args, "regions", False):
        return
    if problem is not None:
        raise UsageError(problem)
    from pyevm_jit.runtime.regions import forced_environment

    os.environ.update(forced_environment(seed))


def apply_to_cases(args: argparse.Namespace, mode: str) -> None:
    """`apply` for a case command running in `mode`."""
    wrong = mode not in ("jit", "aot") or getattr(args, "cluster", None)
    apply(args, "--regions needs --mode jit or aot (and no --cluster)" if wrong else None)


def side_exits_note(stats: Mapping[str, Any]) -> str:
    """What the native line of a case command adds when region programs left (merged stats)."""
    count = stats.get("side_exits")
    return f"; {count} side exits of region programs" if count else ""
