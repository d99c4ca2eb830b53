"""`pyevm-jit osaka-replay [PATH...] [--mode interp|jit|aot|both] [--jobs N] [--cap-gas]
[-k SUBSTRING] [--store DIR] [--json FILE]`: replay GeneralStateTests transactions under
Osaka's rules on the execution specification and on `OsakaVM` (interpreted, JIT, from an AOT
store, or interpreted and JIT), and report how many agree (see
`pyevm_jit.conformance.osaka_replay`; `--cap-gas` replays the transactions over the EIP-7825 gas
cap with the cap). Needs the specification: `pip install 'pyevm-jit[osaka-spec]'`.

The modes and `--jobs` are the case runner's (`cli.caserun`): in aot mode the cases' contract
codes are compiled into an artifact store first, then the replay runs only from the store
(nothing is compiled while it runs). Exit status 0 when every case agrees or is one the
specification or py-evm cannot express (listed), 1 on a difference or an error, 2 on bad
input, 130 when interrupted (the results so far are reported and written)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from pyevm_jit.cli import caserun
from pyevm_jit.cli.aot import prepare_aot
from pyevm_jit.cli.caseworkers import rss_limit
from pyevm_jit.cli.osaka_sides import require_spec
from pyevm_jit.cli.output import check_output_file, write_json
from pyevm_jit.cli.progress import Progress
from pyevm_jit.conformance import osaka_replay
from pyevm_jit.conformance.fixtures import bundled_general_state_tests_dir
from pyevm_jit.conformance.osaka_replay import ReplayCase, ReplayResult
from pyevm_jit.errors import UsageError
from pyevm_jit.forks import VMFactory

MODES = ("interp", "jit", "aot", "both")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="state test file or folder (default: the bundled sample's GeneralStateTests)",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="both",
        help="which OsakaVM runs against the specification: interp, jit, aot (compile the "
        "contracts into a store first, then run from it) or both (interp and jit; default)",
    )
    caserun.add_jobs_argument(parser)
    parser.add_argument(
        "--cap-gas",
        action="store_true",
        help="replay a transaction whose gas limit is above Osaka's cap (EIP-7825) with the cap "
        "(as written it is only rejected); its id ends in ::gas-capped",
    )
    parser.add_argument("-k", dest="substring", help="only cases whose id contains this")
    parser.add_argument(
        "--store", metavar="DIR", help="aot mode: artifact store folder (default: a temporary one)"
    )
    parser.add_argument("--json", metavar="FILE", help="write every result to FILE (JSON)")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


# The case kinds, one per set of sides (worker processes receive them pickled: module-level
# functions only). The case runner gives each process a VM factory in jit and aot mode.


def _osaka_vm() -> type[Any]:
    from pyevm_jit.osaka import OsakaVM

    return OsakaVM


def _replay_jit(case: ReplayCase, factory: VMFactory | None) -> ReplayResult:
    assert factory is not None
    return osaka_replay.replay(case, [("jit", factory(_osaka_vm()))])


def _replay_aot(case: ReplayCase, factory: VMFactory | None) -> ReplayResult:
    assert factory is not None
    return osaka_replay.replay(case, [("aot", factory(_osaka_vm()))])


def _replay_interp(case: ReplayCase, factory: VMFactory | None) -> ReplayResult:
    return osaka_replay.replay(case, [("interp", _osaka_vm())])


def _replay_both(case: ReplayCase, factory: VMFactory | None) -> ReplayResult:
    assert factory is not None
    return osaka_replay.replay(case, [("interp", _osaka_vm()), ("jit", factory(_osaka_vm()))])


def _died(case: ReplayCase, reason: str) -> ReplayResult:
    return ReplayResult(case, "error", reason)


def _kind(mode: str) -> caserun.CaseKind[Any, Any]:
    run_case = {
        "interp": _replay_interp,
        "jit": _replay_jit,
        "aot": _replay_aot,
        "both": _replay_both,
    }[mode]
    return caserun.CaseKind("osaka-replay", run_case, _died, osaka_replay.contract_codes)


def _check(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    rss_limit(args.worker_rss_limit)  # UsageError when bad
    if args.store and args.mode != "aot":
        raise UsageError("--store only applies to --mode aot")


def run(args: argparse.Namespace) -> int:
    _check(args)
    require_spec()
    json_path = check_output_file(args.json) if args.json else None
    paths = args.paths or [str(bundled_general_state_tests_dir())]
    cases = osaka_replay.discover(paths, args.substring, cap_gas=args.cap_gas)
    if not cases:
        raise UsageError("no state test transactions selected")
    # the case runner's modes: both runs interp in the same process as the jit side
    runner_mode = {"both": "jit"}.get(args.mode, args.mode)
    spec: caserun.RunSpec[Any, Any] = caserun.RunSpec(
        _kind(args.mode), runner_mode, rss_limit=rss_limit(args.worker_rss_limit)
    )
    out = sys.stdout
    temp_dir: tempfile.TemporaryDirectory[str] | None = None
    try:
        if args.mode == "aot":
            if args.store:
                spec.store_dir = args.store
            else:
                temp_dir = tempfile.TemporaryDirectory(prefix="pyevm-jit-aot-")
                spec.store_dir = temp_dir.name
            codes = osaka_replay.contract_codes(cases)
            if prepare_aot(codes, spec.store_dir, out, progress=not args.no_progress):
                print("osaka-replay: not run (the store lacks what could not be written)")
                return 1
        return _replay(cases, spec, args, json_path)
    finally:
        if temp_dir is not None:
            temp_dir.cleanup()


def _replay(
    cases: Sequence[ReplayCase],
    spec: caserun.RunSpec[Any, Any],
    args: argparse.Namespace,
    json_path: Any,
) -> int:
    results: list[ReplayResult] = []
    counts = {status: 0 for status in osaka_replay.STATUSES}
    stats: caserun.StatsByProcess = {}
    jobs = max(1, min(args.jobs, len(cases)))
    interrupted = False
    started = time.monotonic()
    try:
        with Progress(len(cases), "osaka-replay", enabled=not args.no_progress) as progress:
            for batch, latest in caserun.execute(cases, spec, jobs):
                stats = latest
                for result in batch:
                    results.append(result)
                    counts[result.status] += 1
                    if result.status != "agree":
                        progress.write(f"{result.status.upper()} {result.case.id}: {result.detail}")
                progress.advance(len(batch), note=f"{counts['agree']} agree")
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C or SIGTERM: what ran is reported and written
    seconds = time.monotonic() - started
    merged = caserun.merged_stats(stats) if stats else None
    if spec.mode in ("jit", "aot"):
        print(caserun.native_line(merged or {}))
    if spec.mode == "aot":
        dispatched = (merged or {}).get("compilations_dispatched", 0)
        print(f"aot: {dispatched} compilations while running (store only)")
    line = ", ".join(f"{counts[s]} {s}" for s in osaka_replay.STATUSES)
    modes = {"both": "interp+jit"}.get(args.mode, args.mode)
    not_run = len(cases) - len(results)
    print(f"{len(results)} transactions replayed under Osaka (spec vs {modes}): {line} "
          f"in {seconds:.1f}s" + (f" (interrupted: {not_run} not run)" if interrupted else ""),
          flush=True)  # fmt: skip
    if json_path is not None:
        order = {case.id: i for i, case in enumerate(cases)}
        results.sort(key=lambda r: order[r.case.id])
        write_json(
            json_path,
            {
                "counts": counts,
                "modes": modes,
                "jobs": jobs,
                "interrupted": interrupted,
                "not_run": not_run,
                "seconds": round(seconds, 3),
                "native": merged,
                "results": [r.to_json() for r in results],
            },
        )
    if interrupted:
        return 130
    return 1 if counts["differ"] or counts["error"] else 0
