"""`pyevm-jit blocktest PATH... [--mode interp|jit|aot] [--network NAME] [--jobs N]
[-k SUBSTRING] [--json FILE]`: run Ethereum BlockchainTests by importing their blocks into a
py-evm chain whose VM classes are the stock ones (interp) or their JIT VMs (jit, aot)."""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from pyevm_jit.blocktest import (
    SLOW_CASES,
    BlockCase,
    BlockCaseResult,
    BlockSummary,
    Status,
    VMFactory,
    contract_codes,
    discover_cases,
    run_case,
    skipped_result,
)
from pyevm_jit.cli import UsageError
from pyevm_jit.progress import Progress

MODES = ("interp", "jit", "aot")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="fixture file or folder")
    parser.add_argument(
        "--mode",
        default="interp",
        help="interp (stock py-evm VMs), jit (JIT VMs, every contract compiled before it runs) "
        "or aot (pre-state contracts compiled into a store first, then run from it); "
        "default interp",
    )
    parser.add_argument("--network", metavar="NAME", help="only this network (e.g. Cancun)")
    parser.add_argument(
        "--jobs", "-j", type=int, default=1, metavar="N", help="worker processes (default 1)"
    )
    parser.add_argument(
        "-k", dest="substring", metavar="SUBSTRING", help="only cases whose id contains this"
    )
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="write results as JSON")
    parser.add_argument(
        "--store", metavar="DIR", help="aot mode: artifact store folder (default: temporary)"
    )
    parser.add_argument(
        "--include-slow",
        action="store_true",
        help="also run the cases that take hours on the interpreter (skipped by default)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar or progress lines"
    )


# ---------------------------------------------------------------------------------------------
# Modes: each worker process builds one backend and one JIT class per VM class.
# ---------------------------------------------------------------------------------------------


@dataclass
class _ModeSpec:
    mode: str
    store_dir: str | None = None
    crash_on: str | None = None  # tests: a worker exits abruptly on this case id


CRASH_ON_ENV = "PYEVM_JIT_TEST_CRASH_ON"


class _Current:
    """This process's VM factory and backend (one per worker process)."""

    factory: VMFactory | None = None
    backend: Any = None


def _runtime_api() -> Any:
    try:
        from pyevm_jit import runtime
        from pyevm_jit.vm import jit_vm  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"the JIT is not available in this installation ({exc})") from None
    for name in ("JitBackend", "RuntimeConfig"):
        if not hasattr(runtime, name):
            raise UsageError(f"the JIT runtime lacks {name}; this mode is not available yet")
    return runtime


def _file_store(directory: str) -> Any:
    runtime = _runtime_api()
    store_class = getattr(runtime, "FileArtifactStore", None)
    if store_class is None:
        try:
            from pyevm_jit import store as store_module
        except ImportError as exc:
            raise UsageError(f"no FileArtifactStore available ({exc})") from None
        store_class = store_module.FileArtifactStore
    return store_class(Path(directory))


def _quiet_py_evm() -> None:
    """py-evm logs a warning for every block it rejects; invalid blocks are expected here."""
    logging.getLogger("eth").setLevel(logging.CRITICAL)


def _setup_worker(spec: _ModeSpec) -> None:
    _quiet_py_evm()
    if spec.mode == "interp":
        _Current.factory, _Current.backend = None, None
        return
    from pyevm_jit.chain import JitVMCache

    runtime = _runtime_api()
    if spec.mode == "jit":
        config = runtime.RuntimeConfig(enabled=True, blocking=True)
    else:
        assert spec.store_dir is not None
        config = runtime.RuntimeConfig(
            enabled=True, blocking=False, store=_file_store(spec.store_dir)
        )
    backend = runtime.JitBackend.new(config)
    _Current.backend = backend
    _Current.factory = JitVMCache(backend)


def _stats_dict(backend: Any) -> dict[str, Any] | None:
    if backend is None:
        return None
    snapshot = backend.stats()
    by_reason = getattr(snapshot, "misses_by_reason", {}) or {}
    stats: dict[str, Any] = {
        "lookup_hits": int(getattr(snapshot, "lookup_hits", 0)),
        "lookup_misses": int(getattr(snapshot, "lookup_misses", 0)),
        "misses_by_reason": {
            str(getattr(reason, "value", reason)): int(count) for reason, count in by_reason.items()
        },
    }
    for name in ("compilations_succeeded", "compilations_failed", "resident_entries"):
        if hasattr(snapshot, name):
            stats[name] = int(getattr(snapshot, name))
    return stats


def _worker_run(batch: list[BlockCase]) -> tuple[int, list[BlockCaseResult], dict[str, Any] | None]:
    results = [run_case(case, _Current.factory) for case in batch]
    return os.getpid(), results, _stats_dict(_Current.backend)


def _batches(cases: Sequence[BlockCase], size: int) -> list[list[BlockCase]]:
    """Cases grouped by file (each worker caches the fixture files it reads)."""
    by_file: dict[str, list[BlockCase]] = defaultdict(list)
    for case in cases:
        by_file[case.path].append(case)
    return [
        group[start : start + size]
        for group in by_file.values()
        for start in range(0, len(group), size)
    ]


def _execute(
    cases: Sequence[BlockCase], spec: _ModeSpec, jobs: int
) -> Iterator[tuple[list[BlockCaseResult], dict[int, dict[str, Any]]]]:
    stats: dict[int, dict[str, Any]] = {}
    batches = _batches(cases, size=8 if jobs > 1 else 1)
    if jobs <= 1:
        _setup_worker(spec)
        try:
            for batch in batches:
                pid, results, snapshot = _worker_run(batch)
                if snapshot is not None:
                    stats[pid] = snapshot
                yield results, stats
        finally:
            backend, _Current.backend = _Current.backend, None
            if backend is not None and hasattr(backend, "close"):
                backend.close()
        return
    yield from _execute_parallel(batches, spec, jobs, stats)


def _worker_main(conn: Connection, spec: _ModeSpec) -> None:
    """A worker process: receives batches, sends each case's result as soon as it has it (so a
    crash is pinned on the case that caused it), then its backend statistics."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    _setup_worker(spec)
    try:
        while True:
            batch = conn.recv()
            if batch is None:
                break
            for case in batch:
                if case.id == spec.crash_on:
                    os._exit(70)
                conn.send(("result", run_case(case, _Current.factory)))
            conn.send(("done", _stats_dict(_Current.backend)))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        if _Current.backend is not None and hasattr(_Current.backend, "close"):
            _Current.backend.close()


class _WorkerProcess:
    def __init__(self, context: Any, spec: _ModeSpec) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, spec), daemon=True)
        self.process.start()
        child.close()
        self.remaining: list[BlockCase] = []

    def give(self, batch: list[BlockCase]) -> None:
        self.remaining = list(batch)
        self.conn.send(batch)

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def _execute_parallel(
    batches: list[list[BlockCase]], spec: _ModeSpec, jobs: int, stats: dict[int, dict[str, Any]]
) -> Iterator[tuple[list[BlockCaseResult], dict[int, dict[str, Any]]]]:
    """Worker processes fed one batch at a time. A worker that dies (a crash in native code)
    fails the case it was running; the rest of its batch goes to a fresh worker."""
    context = multiprocessing.get_context("spawn")
    pending: deque[list[BlockCase]] = deque(batches)
    workers: list[_WorkerProcess] = []
    try:
        for _ in range(min(jobs, len(pending))):
            worker = _WorkerProcess(context, spec)
            worker.give(pending.popleft())
            workers.append(worker)
        while workers:
            ready = set(wait([w.conn for w in workers] + [w.process.sentinel for w in workers]))
            for worker in list(workers):
                if worker.conn in ready or worker.conn.poll():
                    try:
                        kind, payload = worker.conn.recv()
                    except (EOFError, OSError):
                        kind, payload = "died", None
                    if kind == "result":
                        worker.remaining.pop(0)
                        yield [payload], stats
                        continue
                    if kind == "done":
                        if payload is not None:
                            stats[worker.process.pid] = payload
                        if pending:
                            worker.give(pending.popleft())
                        else:
                            worker.stop()
                            worker.process.join(30)
                            worker.kill()
                            workers.remove(worker)
                        continue
                elif worker.process.sentinel not in ready:
                    continue
                # the process is gone, with nothing left in its pipe
                worker.process.join(5)
                code = worker.process.exitcode
                worker.kill()
                workers.remove(worker)
                if worker.remaining:
                    culprit, rest = worker.remaining[0], worker.remaining[1:]
                    reason = f"worker process died (exit code {code}) running this case"
                    yield [BlockCaseResult(culprit, Status.FAILED, reason)], stats
                    if rest:
                        pending.appendleft(rest)
                if pending:
                    replacement = _WorkerProcess(context, spec)
                    replacement.give(pending.popleft())
                    workers.append(replacement)
    finally:
        for worker in workers:
            worker.kill()


def _prepare_aot(cases: Sequence[BlockCase], store_dir: str, out: Any) -> int:
    runtime = _runtime_api()
    codes = contract_codes(cases)
    requests = [
        runtime.AotRequest(code_hash=code_hash, code=code, fork=fork)
        for (code_hash, fork), code in sorted(codes.items())
    ]
    print(f"aot: compiling {len(requests)} contract codes into {store_dir}", file=out, flush=True)
    started = time.perf_counter()
    backend = runtime.JitBackend.new(
        runtime.RuntimeConfig(enabled=True, blocking=True, store=_file_store(store_dir))
    )
    try:
        backend.prepare_aot_batch(requests)
        # preparation is asynchronous: wait until every program is compiled and stored
        wait_idle = getattr(backend, "wait_idle", None)
        if wait_idle is not None:
            with Progress(len(requests), "aot compile", stream=sys.stderr) as progress:
                while not wait_idle(0.5):
                    stats = _stats_dict(backend) or {}
                    finished = stats.get("compilations_succeeded", 0)
                    finished += stats.get("compilations_failed", 0)
                    progress.advance(max(0, finished - progress.done))
        stats = _stats_dict(backend) or {}
    finally:
        if hasattr(backend, "close"):
            backend.close()
    failed = stats.get("compilations_failed", 0)
    print(
        f"aot: done in {time.perf_counter() - started:.1f}s"
        + (f" ({failed} failed to compile)" if failed else ""),
        file=out,
        flush=True,
    )
    return len(requests)


def _merged_stats(stats: dict[int, dict[str, Any]]) -> dict[str, Any]:
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


def native_line(stats: dict[str, Any]) -> str:
    text = (
        f"native: {stats.get('lookup_hits', 0)} messages ran native code, "
        f"{stats.get('lookup_misses', 0)} interpreted"
    )
    reasons = {r: c for r, c in (stats.get("misses_by_reason") or {}).items() if c}
    if reasons:
        text += " (" + ", ".join(f"{r}: {c}" for r, c in sorted(reasons.items())) + ")"
    return text


def run(args: argparse.Namespace) -> int:
    mode = str(args.mode).lower()
    if mode not in MODES:
        raise UsageError(f"unknown mode {args.mode!r} (choose from {', '.join(MODES)})")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.store and mode != "aot":
        raise UsageError("--store only applies to --mode aot")
    json_path = Path(args.json_file) if args.json_file else None
    if json_path is not None and not json_path.parent.resolve().is_dir():
        raise UsageError(f"--json: folder {json_path.parent} does not exist")

    cases = discover_cases(args.paths, substring=args.substring, network=args.network)
    out = sys.stdout
    if not cases:
        print("0 passed, 0 failed (no cases selected)", file=out)
        return 0

    skipped = [] if args.include_slow else [c for c in cases if c.id in SLOW_CASES]
    if skipped:
        cases = [c for c in cases if c.id not in SLOW_CASES]

    spec = _ModeSpec(mode, crash_on=os.environ.get(CRASH_ON_ENV) or None)
    temp_dir: tempfile.TemporaryDirectory[str] | None = None
    if mode in ("jit", "aot"):
        _runtime_api()
    if mode == "aot":
        if args.store:
            store_dir = Path(args.store)
            if store_dir.exists() and not store_dir.is_dir():
                raise UsageError(f"--store: {store_dir} is not a folder")
            store_dir.mkdir(parents=True, exist_ok=True)
            spec.store_dir = str(store_dir)
        else:
            temp_dir = tempfile.TemporaryDirectory(prefix="pyevm-jit-aot-")
            spec.store_dir = temp_dir.name
        _prepare_aot(cases, spec.store_dir, out)

    summary = BlockSummary()
    all_results: list[BlockCaseResult] = [skipped_result(case) for case in skipped]
    for result in all_results:
        summary.add(result)
    stats: dict[int, dict[str, Any]] = {}
    jobs = max(1, min(args.jobs, len(cases)))
    started = time.perf_counter()
    interrupted = False
    try:
        with Progress(
            len(cases), f"blocktest {mode}", enabled=not args.no_progress, stream=sys.stderr
        ) as progress:
            for results, latest in _execute(cases, spec, jobs):
                stats = latest
                for result in results:
                    summary.add(result)
                    all_results.append(result)
                    if result.status is Status.FAILED:
                        progress.write(f"FAIL {result.case.id}: {result.reason}")
                progress.advance(
                    len(results), note=f"{summary.passed} passed, {summary.failed} failed"
                )
    except KeyboardInterrupt:  # report what ran so far (and write it to --json)
        interrupted = True
    finally:
        if temp_dir is not None:
            temp_dir.cleanup()
    summary.seconds = time.perf_counter() - started

    merged = _merged_stats(stats) if stats else None
    if mode in ("jit", "aot"):
        print(native_line(merged or {}), file=out)
    print(summary.line() + (" (interrupted)" if interrupted else ""), file=out, flush=True)

    if json_path is not None:
        order = {case.id: i for i, case in enumerate(skipped + cases)}
        all_results.sort(key=lambda r: order[r.case.id])
        document = {
            "mode": mode,
            "paths": [str(p) for p in args.paths],
            "network": args.network,
            "substring": args.substring,
            "jobs": jobs,
            "seconds": round(summary.seconds, 3),
            "interrupted": interrupted,
            "summary": {status.value: summary.counts[status] for status in Status},
            "native": merged,
            "results": [result.to_json() for result in all_results],
        }
        try:
            json_path.write_text(json.dumps(document, indent=1) + "\n")
        except OSError as exc:
            raise UsageError(f"--json: cannot write {json_path}: {exc.strerror or exc}") from None
    if interrupted:
        return 130
    return 1 if summary.failed else 0
