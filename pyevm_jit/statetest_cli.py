"""`pyevm-jit statetest PATH... [--mode interp|jit|aot] [--fork NAME] [--jobs N] [-k SUBSTRING]
[--json FILE]`: run Ethereum state tests on py-evm's interpreter, with the JIT, or from an AOT
store."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from pyevm_jit.cli import UsageError
from pyevm_jit.progress import Progress
from pyevm_jit.statetest import (
    Case,
    CaseResult,
    Status,
    Summary,
    VMFactory,
    contract_codes,
    discover_cases,
    run_case,
)

MODES = ("interp", "jit", "aot")

# Folders whose cases take long on the interpreter: scheduled first so that the pool does not
# finish with one worker grinding through them alone.
_SLOW_FIRST = ("vmPerformance", "stTimeConsuming", "stQuadraticComplexityTest", "stStaticCall")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="fixture file or folder")
    parser.add_argument(
        "--mode",
        default="interp",
        help="interp (stock py-evm), jit (compile every contract before it runs) or aot "
        "(compile all contracts into a store first, then run from it); default interp",
    )
    parser.add_argument("--fork", metavar="NAME", help="only this fork (e.g. Cancun)")
    parser.add_argument(
        "--jobs", "-j", type=int, default=1, metavar="N", help="worker processes (default 1)"
    )
    parser.add_argument(
        "-k", dest="substring", metavar="SUBSTRING", help="only cases whose id contains this"
    )
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="write results as JSON")
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="aot mode: artifact store folder (default: a temporary folder)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar or progress lines"
    )


# ---------------------------------------------------------------------------------------------
# Modes: each worker builds its VM factory once (one backend per process).
# ---------------------------------------------------------------------------------------------


@dataclass
class _ModeSpec:
    mode: str
    store_dir: str | None = None
    # Fault injection for tests: a worker process dies when it reaches the case with this id.
    crash_on: str | None = None


@dataclass
class _WorkerState:
    factory: VMFactory | None = None
    backend: Any = None
    classes: dict[type[Any], type[Any]] = field(default_factory=dict)


_WORKER = _WorkerState()


def _runtime_api() -> Any:
    """The runtime module (imported lazily: only jit and aot modes need it)."""
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


def _make_backend(spec: _ModeSpec) -> Any:
    runtime = _runtime_api()
    if spec.mode == "jit":
        return runtime.JitBackend.new(runtime.RuntimeConfig(enabled=True, blocking=True))
    assert spec.store_dir is not None
    # aot runs only what the store holds: no promotion, so a run compiles nothing.
    return runtime.JitBackend.new(
        runtime.RuntimeConfig(
            enabled=True, blocking=False, promote_hot=False, store=_file_store(spec.store_dir)
        )
    )


def _setup_worker(spec: _ModeSpec) -> None:
    if spec.mode == "interp":
        _WORKER.factory = None
        return
    from pyevm_jit.vm import jit_vm

    backend = _make_backend(spec)
    classes: dict[type[Any], type[Any]] = {}

    def factory(vm_class: type[Any]) -> type[Any]:
        wrapped = classes.get(vm_class)
        if wrapped is None:
            wrapped = classes[vm_class] = jit_vm(vm_class, backend)
        return wrapped

    _WORKER.factory = factory
    _WORKER.backend = backend
    _WORKER.classes = classes


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


def _worker_run(batch: list[Case]) -> tuple[int, list[CaseResult], dict[str, Any] | None]:
    results = [run_case(case, _WORKER.factory) for case in batch]
    return os.getpid(), results, _stats_dict(_WORKER.backend)


def _worker_main(conn: Connection, spec: _ModeSpec) -> None:
    """A worker process: receives batches, sends one result per case as it finishes (so that a
    crash can be pinned on the case that caused it), then the stats after each batch."""
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
                conn.send(("result", run_case(case, _WORKER.factory)))
            conn.send(("done", _stats_dict(_WORKER.backend)))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        if _WORKER.backend is not None:
            _WORKER.backend.close()


class _Worker:
    def __init__(self, context: Any, spec: _ModeSpec) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, spec), daemon=True)
        self.process.start()
        child.close()
        self.remaining: list[Case] = []

    def give(self, batch: list[Case]) -> None:
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


def _batches(cases: Sequence[Case], size: int = 8) -> list[list[Case]]:
    """Cases grouped by file (fixture files are cached per worker), slow folders first."""
    by_file: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_file[case.path].append(case)
    batches: list[list[Case]] = []
    for group in by_file.values():
        for start in range(0, len(group), size):
            batches.append(group[start : start + size])

    def slow_rank(batch: list[Case]) -> int:
        path = batch[0].path
        return 0 if any(f"/{name}/" in path for name in _SLOW_FIRST) else 1

    batches.sort(key=slow_rank)  # stable: keeps file order within each rank
    return batches


def _execute(
    cases: Sequence[Case], spec: _ModeSpec, jobs: int
) -> Iterator[tuple[list[CaseResult], dict[int, dict[str, Any]]]]:
    """Yield results batch by batch, with the latest native stats per process."""
    stats: dict[int, dict[str, Any]] = {}
    batches = _batches(cases, size=8 if jobs > 1 else 64)
    if jobs <= 1:
        _setup_worker(spec)
        try:
            for batch in batches:
                pid, results, snapshot = _worker_run(batch)
                if snapshot is not None:
                    stats[pid] = snapshot
                yield results, stats
        finally:
            if _WORKER.backend is not None:
                _WORKER.backend.close()
                _WORKER.backend = None
        return
    yield from _execute_parallel(batches, spec, jobs, stats)


def _execute_parallel(
    batches: list[list[Case]], spec: _ModeSpec, jobs: int, stats: dict[int, dict[str, Any]]
) -> Iterator[tuple[list[CaseResult], dict[int, dict[str, Any]]]]:
    """Worker processes fed one batch at a time. A worker that dies (a crash in native code,
    say) fails the case it was running; the rest of its batch goes to a fresh worker."""
    context = multiprocessing.get_context("spawn")
    pending: deque[list[Case]] = deque(batches)
    workers: list[_Worker] = []
    try:
        for _ in range(min(jobs, len(pending))):
            worker = _Worker(context, spec)
            worker.give(pending.popleft())
            workers.append(worker)
        while workers:
            waitables: list[Any] = [w.conn for w in workers] + [w.process.sentinel for w in workers]
            ready = set(wait(waitables))
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
                # The process is gone (and nothing is left in its pipe).
                worker.process.join(5)
                code = worker.process.exitcode
                worker.kill()
                workers.remove(worker)
                if worker.remaining:
                    culprit, rest = worker.remaining[0], worker.remaining[1:]
                    yield (
                        [
                            CaseResult(
                                culprit,
                                Status.FAILED,
                                f"error: worker process died (exit code {code}) running this case",
                            )
                        ],
                        stats,
                    )
                    if rest:
                        pending.appendleft(rest)
                if pending:
                    replacement = _Worker(context, spec)
                    replacement.give(pending.popleft())
                    workers.append(replacement)
    finally:
        for worker in workers:
            worker.kill()


def _prepare_aot(cases: Sequence[Case], store_dir: str, out: Any) -> int:
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
        # Preparation is asynchronous: wait until the backend has compiled and stored them all.
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
        backend.close()
    failed = stats.get("compilations_failed", 0)
    compiled = stats.get("compilations_succeeded", 0)
    stored = stats.get("resident_entries", 0) - compiled
    print(
        f"aot: done in {time.perf_counter() - started:.1f}s: {compiled} compiled, "
        f"{max(0, stored)} already in the store"
        + (f", {failed} failed to compile" if failed else ""),
        file=out,
        flush=True,
    )
    return len(requests)


def _native_line(stats: dict[int, dict[str, Any]]) -> str:
    hits = sum(s["lookup_hits"] for s in stats.values())
    misses = sum(s["lookup_misses"] for s in stats.values())
    reasons: dict[str, int] = defaultdict(int)
    for snapshot in stats.values():
        for reason, count in snapshot["misses_by_reason"].items():
            reasons[reason] += count
    text = f"native: {hits} messages ran native code, {misses} interpreted"
    shown = {reason: count for reason, count in reasons.items() if count}
    if shown:
        text += " (" + ", ".join(f"{r}: {c}" for r, c in sorted(shown.items())) + ")"
    return text


def _merged_stats(stats: dict[int, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"misses_by_reason": defaultdict(int)}
    for snapshot in stats.values():
        for key, value in snapshot.items():
            if key == "misses_by_reason":
                for reason, count in value.items():
                    merged["misses_by_reason"][reason] += count
            else:
                merged[key] = merged.get(key, 0) + value
    merged["misses_by_reason"] = dict(merged["misses_by_reason"])
    return merged


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

    cases = discover_cases(args.paths, fork=args.fork, substring=args.substring)
    out = sys.stdout
    if not cases:
        print("0 passed, 0 failed (no cases selected)", file=out)
        return 0

    temp_dir: tempfile.TemporaryDirectory[str] | None = None
    spec = _ModeSpec(mode)
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

    summary = Summary()
    all_results: list[CaseResult] = []
    stats: dict[int, dict[str, Any]] = {}
    jobs = min(args.jobs, len(cases))
    started = time.perf_counter()
    interrupted = False
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        with Progress(
            len(cases), f"statetest {mode}", enabled=not args.no_progress, stream=sys.stderr
        ) as progress:
            for results, latest_stats in _execute(cases, spec, jobs):
                stats = latest_stats
                for result in results:
                    summary.add(result)
                    all_results.append(result)
                    if result.status is Status.FAILED:
                        progress.write(f"FAIL {result.case.id}: {result.reason}")
                progress.advance(
                    len(results),
                    note=f"{summary.passed} passed, {summary.failed} failed",
                )
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: report (and write) what has run so far.
        interrupted = True
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous_sigterm)
        if temp_dir is not None:
            temp_dir.cleanup()
    summary.seconds = time.perf_counter() - started

    if mode in ("jit", "aot"):
        print(_native_line(stats), file=out)
    if mode == "aot":
        dispatched = sum(s.get("compilations_dispatched", 0) for s in stats.values())
        print(f"aot: {dispatched} compilations while running (store only)", file=out)
    line = summary.line()
    if interrupted:
        line += f" (interrupted: {len(cases) - len(all_results)} of {len(cases)} cases not run)"
    print(line, file=out, flush=True)

    if json_path is not None:
        order = {case.id: i for i, case in enumerate(cases)}
        all_results.sort(key=lambda r: order[r.case.id])
        document = {
            "mode": mode,
            "paths": [str(p) for p in args.paths],
            "fork": args.fork,
            "substring": args.substring,
            "jobs": jobs,
            "interrupted": interrupted,
            "not_run": len(cases) - len(all_results),
            "seconds": round(summary.seconds, 3),
            "summary": {status.value: summary.counts[status] for status in Status},
            "native": _merged_stats(stats) if stats else None,
            "results": [result.to_json() for result in all_results],
        }
        try:
            json_path.write_text(json.dumps(document, indent=1) + "\n")
        except OSError as exc:
            raise UsageError(f"--json: cannot write {json_path}: {exc.strerror or exc}") from None
    if interrupted:
        return 130
    return 1 if summary.failed else 0


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
