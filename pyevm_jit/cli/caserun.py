"""The case runner shared by `pyevm-jit statetest` and `pyevm-jit blocktest`.

A command discovers its cases, then hands them to `run_command` with a `CaseKind` (how to run
one case of that kind). The runner does the rest, the same way for every kind:

- modes: interp (stock py-evm VMs), jit (JIT VMs, every contract compiled before it runs) and
  aot (the cases' contract codes compiled into an artifact store first, by `pyevm-jit aot`'s
  machinery; the run then uses only what the store holds: nothing is compiled while it runs);
- `--jobs N`: worker processes fed batches of cases (grouped by file, slow folders first). A
  worker that dies (a crash in native code, say) fails the case it was running; the rest of its
  batch goes to a fresh worker, as does the rest of the batch of a worker over its memory bound
  (`--worker-rss-limit`). Each worker builds one backend and one JIT VM class per VM class
  (`cli.caseworkers`). `--cluster` (`cli.cluster`) runs the same worker processes on Dask
  workers;
- the progress bar, Ctrl-C and SIGTERM (the results so far are reported and written), the
  `native: ...` line with the backends' merged statistics, the summary line and `--json`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pyevm_jit.cli import regions_option, resume
from pyevm_jit.cli.aot import prepare_aot
from pyevm_jit.cli.caseworkers import CRASH_ON_ENV as CRASH_ON_ENV
from pyevm_jit.cli.caseworkers import (
    DEFAULT_RSS_LIMIT_MB,
    RSS_LIMIT_ENV,
    C,
    R,
    WorkerProcess,
    close_process,
    execute_parallel,
    rss_limit,
    setup_process,
)
from pyevm_jit.cli.caseworkers import CaseKind as CaseKind
from pyevm_jit.cli.caseworkers import RunSpec as RunSpec
from pyevm_jit.cli.caseworkers import StatsByProcess as StatsByProcess
from pyevm_jit.cli.caseworkers import stats_dict as stats_dict
from pyevm_jit.cli.output import check_output_file, write_json
from pyevm_jit.cli.progress import Progress
from pyevm_jit.conformance.fixtures import ETHEREUM_TESTS_ENV
from pyevm_jit.conformance.results import CaseStatus, Summary
from pyevm_jit.errors import UsageError

MODES = ("interp", "jit", "aot")

# Folders whose cases take long on the interpreter: scheduled first so that the pool does not
# finish with one worker grinding through them alone.
SLOW_FOLDERS = ("vmPerformance", "stTimeConsuming", "stQuadraticComplexityTest", "stStaticCall")

# --- The runtime -----------------------------------------------------------------------------


def merged_stats(stats: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The statistics of several processes summed (misses by reason too)."""
    merged: dict[str, Any] = {}
    reasons: dict[str, int] = defaultdict(int)
    for snapshot in stats.values():
        for key, value in snapshot.items():
            if key == "misses_by_reason":
                for reason, count in value.items():
                    reasons[reason] += count
            else:
                merged[key] = merged.get(key, 0) + value
    merged["misses_by_reason"] = dict(reasons)
    return merged


def native_line(merged: Mapping[str, Any]) -> str:
    """`native: N messages ran native code, M interpreted (reason: count, ...)`."""
    text = (
        f"native: {merged.get('lookup_hits', 0)} messages ran native code, "
        f"{merged.get('lookup_misses', 0)} interpreted"
    )
    reasons = {r: c for r, c in (merged.get("misses_by_reason") or {}).items() if c}
    if reasons:
        text += " (" + ", ".join(f"{r}: {c}" for r, c in sorted(reasons.items())) + ")"
    return text + regions_option.side_exits_note(merged)


# --- Running cases: in this process, or in worker processes ----------------------------------


def batches(cases: Sequence[C], size: int) -> list[list[C]]:
    """Cases grouped by file (each process caches the fixture files it reads), at most `size`
    to a batch, batches of the slow folders first (otherwise in order)."""
    by_file: dict[str, list[C]] = defaultdict(list)
    for case in cases:
        by_file[case.path].append(case)
    grouped = [
        group[start : start + size]
        for group in by_file.values()
        for start in range(0, len(group), size)
    ]

    def slow_rank(batch: list[C]) -> int:
        path = batch[0].path
        return 0 if any(f"/{name}/" in path for name in SLOW_FOLDERS) else 1

    grouped.sort(key=slow_rank)  # stable
    return grouped


def execute(
    cases: Sequence[C],
    spec: RunSpec[C, R],
    jobs: int,
    cluster: str | None = None,
    session: Any = None,
) -> Iterator[tuple[list[R], StatsByProcess]]:
    """Results as cases finish, each time with the latest native statistics per process (on
    the Dask cluster `cluster` when given, `cli.cluster`: the one `session`, a
    `cli.cluster.Session`, has started when given)."""
    stats: StatsByProcess = {}
    if cluster:
        from pyevm_jit.cli.cluster import BATCH_SIZE, execute_on_cluster

        yield from execute_on_cluster(
            batches(cases, BATCH_SIZE),
            spec,
            cluster,
            stats,
            start_runner=WorkerProcess,
            session=session,
        )
        return
    if jobs > 1:
        yield from execute_parallel(batches(cases, 8), spec, jobs, stats)
        return
    factory, backend = setup_process(spec)
    try:
        for batch in batches(cases, len(cases) or 1):
            for case in batch:
                result = spec.kind.run_case(case, factory)
                snapshot = stats_dict(backend)
                if snapshot is not None:
                    stats[os.getpid()] = snapshot
                yield [result], stats
    finally:
        close_process()


# --- The command -----------------------------------------------------------------------------


def _spec(kind: CaseKind[C, R], mode: str, rss_limit_mb: int | None) -> RunSpec[C, R]:
    """The spec of a run's worker processes (aot: its store folder is set when filled)."""
    crash_on = os.environ.get(CRASH_ON_ENV) or None
    return RunSpec(kind, mode, crash_on=crash_on, rss_limit=rss_limit(rss_limit_mb))


def check_arguments(args: argparse.Namespace) -> tuple[str, Path | None]:
    """The mode and the --json path of a case command's arguments (UsageError when bad)."""
    mode = str(args.mode).lower()
    if mode not in MODES:
        raise UsageError(f"unknown mode {args.mode!r} (choose from {', '.join(MODES)})")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    rss_limit(args.worker_rss_limit)  # UsageError when bad
    if getattr(args, "cluster", None):
        from pyevm_jit.cli.cluster import check_address

        args.cluster = check_address(args.cluster)
    if args.store and mode != "aot":
        raise UsageError("--store only applies to --mode aot")
    regions_option.apply_to_cases(args, mode)
    json_path = check_output_file(args.json_file) if args.json_file else None
    return mode, json_path


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """`--jobs N`: the case runner's worker processes, and their memory bound (every command
    that runs cases)."""
    parser.add_argument(
        "--jobs", "-j", type=int, default=1, metavar="N", help="worker processes (default 1)"
    )
    parser.add_argument(
        "--worker-rss-limit",
        type=int,
        metavar="MB",
        help="a worker process whose resident memory passes MB MiB after a case hands the rest "
        f"of its cases to a fresh one (default ${RSS_LIMIT_ENV}, else "
        f"{DEFAULT_RSS_LIMIT_MB}; 0: no bound)",
    )


def add_arguments(parser: argparse.ArgumentParser, folder: str, sample_note: str = "") -> None:
    """The arguments every case command has, for the cases of the ethereum/tests `folder`
    (the command adds its own selection options; it fills in its default when `paths` is
    empty)."""
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="fixture file or folder (default: the bundled sample of ethereum/tests, "
        f"fixtures/ethereum-tests-sample/{folder}{sample_note}; for the full corpus give its "
        f"folder, e.g. ${ETHEREUM_TESTS_ENV}/{folder})",
    )
    parser.add_argument(
        "--mode",
        default="interp",
        help="interp (stock py-evm VMs), jit (JIT VMs, every contract compiled before it runs) "
        "or aot (the contracts compiled into a store first, then run from it); default interp",
    )
    add_jobs_argument(parser)
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the cases on a Dask cluster: a scheduler address, or local:N for a local "
        "cluster of N worker processes (needs the [cluster] extra; docs/cluster.md)",
    )
    parser.add_argument(
        "-k", dest="substring", metavar="SUBSTRING", help="only cases whose id contains this"
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="SUBSTRING",
        help="leave out cases whose id contains this (repeatable; e.g. a case that takes hours)",
    )
    parser.add_argument(
        "--json",
        dest="json_file",
        metavar="FILE",
        help="write results as JSON (rewritten every "
        f"{resume.CHECKPOINT_SECONDS / 60:.0f} minutes while the run goes on)",
    )
    parser.add_argument(
        "--resume",
        metavar="FILE.json",
        help="take the results of an earlier run's --json file (finished, interrupted or a "
        "checkpoint; same command and mode) and run only the cases it lacks or failed",
    )
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="aot mode: artifact store folder (default: a temporary folder)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar or progress lines"
    )
    regions_option.add_argument(parser, "jit and aot modes: ")


def run_from_arguments(
    args: argparse.Namespace,
    kind: CaseKind[C, R],
    discover: Callable[[], Sequence[C]],
    *,
    selection: Mapping[str, Any],
    skip: Callable[[C], R | None] | None = None,
) -> int:
    """A case command's `run`: check the arguments of `add_arguments`, `discover()` the cases,
    leave out those `skip` gives a result for (reported with it), run the rest. `selection`:
    the command's own selection options, for the --json document."""
    mode, json_path = check_arguments(args)
    with contextlib.ExitStack() as stack:
        session = None
        if args.cluster:  # started while the cases are discovered (aot: its spec comes later)
            from pyevm_jit.cli.cluster import Session

            early = None if mode == "aot" else _spec(kind, mode, args.worker_rss_limit)
            session = stack.enter_context(Session(args.cluster, early, WorkerProcess))
        cases = list(discover())
        excludes = [text for text in getattr(args, "exclude", None) or [] if text]
        if excludes:
            kept_ids = [c for c in cases if not any(text in c.id for text in excludes)]
            print(f"{len(cases) - len(kept_ids)} cases left out by --exclude", file=sys.stdout)
            cases = kept_ids
        regions = bool(getattr(args, "regions", False))
        resumed = None
        if getattr(args, "resume", None):
            resumed = resume.load(args.resume, kind=kind.name, mode=mode, regions=regions)
            resumed.order = {case.id: i for i, case in enumerate(cases)}
            resumed.results = {i: r for i, r in resumed.results.items() if i in resumed.order}
            cases = [case for case in cases if case.id not in resumed.results]
            print(
                f"{len(resumed.results)} cases' results taken from {resumed.path}",
                file=sys.stdout,
            )
        answers = [(case, skip(case) if skip is not None else None) for case in cases]
        skipped: list[R] = [result for _, result in answers if result is not None]
        cases = [case for case, result in answers if result is None]
        return run_command(
            kind,
            cases,
            mode=mode,
            jobs=args.jobs,
            worker_rss_limit=args.worker_rss_limit,
            cluster=args.cluster,
            store=args.store,
            json_path=json_path,
            selection={
                "paths": [str(p) for p in args.paths],
                **selection,
                "substring": args.substring,
                "exclude": excludes,
                "regions": regions,
            },
            progress=not args.no_progress,
            skipped=skipped,
            session=session,
            resumed=resumed,
        )


def run_command(
    kind: CaseKind[C, R],
    cases: Sequence[C],
    *,
    mode: str,
    jobs: int,
    store: str | None,
    json_path: Path | None,
    selection: Mapping[str, Any],
    progress: bool = True,
    skipped: Sequence[R] = (),
    cluster: str | None = None,
    session: Any = None,
    worker_rss_limit: int | None = None,
    resumed: resume.Resumed | None = None,
    checkpoint_seconds: float = resume.CHECKPOINT_SECONDS,
) -> int:
    """Run `cases` (after the `skipped` results, which are only reported) and report; the exit
    status (0 all passed, 1 some failed, 130 interrupted). `selection` names what was selected
    in the --json document (paths, substring, ...); `session`: the `cli.cluster.Session` of
    `cluster` when the caller has started it; `worker_rss_limit`: the workers' memory bound in
    MiB (`cli.caseworkers`; None: the environment's or the default); `resumed`: the results
    an earlier run's file gives (`cli.resume`), counted and written with this run's;
    `checkpoint_seconds`: how often the --json file is rewritten while the run goes on."""
    out = sys.stdout
    carried = resumed.results if resumed is not None else {}
    if not cases and not skipped and not carried:
        print("0 passed, 0 failed (no cases selected)", file=out)
        return 0
    spec = _spec(kind, mode, worker_rss_limit)
    summary = Summary()
    all_results: list[R] = list(skipped)
    for result in all_results:
        summary.add(result)
    resume.count(summary.counts, carried)
    stats: StatsByProcess = {}
    earlier: StatsByProcess = {}
    if resumed is not None and resumed.native is not None:
        earlier[0] = resumed.native  # no process has id 0: the earlier run's statistics

    def merged_now() -> dict[str, Any] | None:
        both = {**earlier, **stats}
        return merged_stats(both) if both else None

    jobs = max(1, min(jobs, len(cases)))
    interrupted = False
    temp_dir: tempfile.TemporaryDirectory[str] | None = None
    started = time.perf_counter()
    total = len(skipped) + len(cases) + len(carried)

    def write_document(partial: bool) -> None:
        assert json_path is not None
        if resumed is not None and resumed.order:
            order = resumed.order
        else:
            order = {c.id: i for i, c in enumerate([r.case for r in skipped] + list(cases))}
        entries = [result.to_json() for result in all_results] + list(carried.values())
        entries.sort(key=lambda entry: order[entry["id"]])
        document: dict[str, Any] = {
            "kind": kind.name,
            "mode": mode,
            **selection,
            "jobs": jobs,
            "cluster": cluster,
            "interrupted": interrupted,
            "partial": partial,
            "not_run": total - len(entries),
            "seconds": round(time.perf_counter() - started, 3),
            "summary": {status.value: summary.counts[status] for status in CaseStatus},
            "native": merged_now(),
            "results": entries,
        }
        if resumed is not None:
            document["resumed_from"] = {
                "file": str(resumed.path),
                "cases": len(carried),
                "seconds": round(resumed.seconds, 3),
            }
        write_json(json_path, document)

    try:
        if not cases:
            pass  # every selected case has a result already (--resume)
        elif mode == "aot":
            if store:
                spec.store_dir = store
            else:
                temp_dir = tempfile.TemporaryDirectory(prefix="pyevm-jit-aot-")
                spec.store_dir = temp_dir.name
            if prepare_aot(kind.contract_codes(cases), spec.store_dir, out, progress=progress):
                # a store-only run would interpret what is missing: its results would mislead
                print(f"{kind.name}: not run (the store lacks what could not be written)", file=out)
                return 1
            started = time.perf_counter()
        last_write = time.perf_counter()
        with Progress(
            len(cases), f"{kind.name} {mode}", enabled=progress, stream=sys.stderr
        ) as progress_bar:
            for results, latest in execute(cases, spec, jobs, cluster, session):
                stats = latest
                for result in results:
                    summary.add(result)
                    all_results.append(result)
                    if result.status is CaseStatus.FAILED:
                        progress_bar.write(f"FAIL {result.case.id}: {result.reason}")
                progress_bar.advance(
                    len(results), note=f"{summary.passed} passed, {summary.failed} failed"
                )
                if json_path is not None and time.perf_counter() - last_write >= checkpoint_seconds:
                    write_document(partial=True)
                    last_write = time.perf_counter()
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: report (and write) what has run so far.
        interrupted = True
    finally:
        if temp_dir is not None:
            temp_dir.cleanup()
    summary.seconds = time.perf_counter() - started

    merged = merged_now()
    if mode in ("jit", "aot"):
        print(native_line(merged or {}), file=out)
    if mode == "aot":
        dispatched = (merged or {}).get("compilations_dispatched", 0)
        print(f"aot: {dispatched} compilations while running (store only)", file=out)
    not_run = total - len(all_results) - len(carried)
    line = summary.line()
    if interrupted:
        line += f" (interrupted: {not_run} of {total} cases not run)"
    print(line, file=out, flush=True)

    if json_path is not None:
        write_document(partial=False)
    if interrupted:
        return 130
    return 1 if summary.failed else 0
