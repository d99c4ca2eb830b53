"""`pyevm-jit osaka-replay [PATH...] [--mode interp|jit|both] [-k SUBSTRING] [--json FILE]`:
replay GeneralStateTests transactions under Osaka's rules on the execution specification and on
`OsakaVM` (interpreted, JIT or both), and report how many agree (see
`pyevm_jit.conformance.osaka_replay`). Needs the specification: `pip install
'pyevm-jit[osaka-spec]'`. Exit status 0 when every case agrees or is one the specification or
py-evm cannot express (listed), 1 on a difference or an error, 2 on bad input."""

from __future__ import annotations

import argparse
import time
from typing import Any

from pyevm_jit.cli.osaka_sides import osaka_sides, require_spec
from pyevm_jit.cli.output import check_output_file, write_json
from pyevm_jit.cli.progress import Progress
from pyevm_jit.conformance.fixtures import bundled_general_state_tests_dir
from pyevm_jit.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="state test file or folder (default: the bundled sample's GeneralStateTests)",
    )
    parser.add_argument(
        "--mode",
        choices=("interp", "jit", "both"),
        default="both",
        help="which OsakaVM runs against the specification (default: both)",
    )
    parser.add_argument("-k", dest="substring", help="only cases whose id contains this")
    parser.add_argument("--json", metavar="FILE", help="write every result to FILE (JSON)")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    from pyevm_jit.conformance import osaka_replay

    require_spec()
    json_path = check_output_file(args.json) if args.json else None
    paths = args.paths or [str(bundled_general_state_tests_dir())]
    cases = osaka_replay.discover(paths, args.substring)
    if not cases:
        raise UsageError("no state test transactions selected")
    sides, backend = osaka_sides(args.mode)
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        with Progress(len(cases), "osaka-replay", enabled=not args.no_progress) as progress:

            def seen(result: osaka_replay.ReplayResult) -> None:
                results.append(result.to_json())
                if result.status != "agree":
                    progress.write(f"{result.status.upper()} {result.case.id}: {result.detail}")
                progress.advance()

            counts = osaka_replay.replay_all(cases, sides, seen)
    finally:
        if backend is not None:
            backend.close()
    seconds = time.monotonic() - started
    line = ", ".join(f"{counts[s]} {s}" for s in osaka_replay.STATUSES)
    modes = "+".join(name for name, _ in sides)
    print(f"{len(cases)} transactions replayed under Osaka (spec vs {modes}): {line} "
          f"in {seconds:.1f}s")  # fmt: skip
    if json_path is not None:
        write_json(json_path, {"counts": counts, "modes": modes, "results": results})
    return 1 if counts["differ"] or counts["error"] else 0
