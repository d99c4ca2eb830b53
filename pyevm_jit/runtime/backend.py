"""`JitBackend`: the runtime deciding what runs natively (revmc's JitBackend, in Python).

Threads and processes
- the caller: `lookup` reads the resident map (one dict read) and, on a miss, appends the
  request to a bounded event deque (overflow dropped and counted). Nothing else.
- the backend thread (daemon, `config.thread_name`): drains events every
  `event_drain_interval`, counts misses per key, promotes a key to compilation at
  `hot_threshold`, handles explicit commands (`compile_jit`, `prepare_aot`...), sweeps idle
  programs.
- the compiler pool (`workers.py`): worker processes turn bytecode into object code; finished
  jobs are linked in this process (on the pool's thread) and become resident.

Keeping programs alive (what the JIT computation must do)
A `CompiledProgram` owns its machine code: `program.native` holds the LLVM resource tracker,
and the code is unmapped when the last reference to the program is dropped. Clearing and
eviction only remove the map's reference, so a frame that runs native code must keep a
reference to the `CompiledProgram` (or its `LookupDecision`) in a local variable for as long as
the native code may run, i.e. until `program.native.run(...)` has returned. Never keep only
`native.run` or `native.address`: those do not keep the code mapped. `with backend.hold(program):`
does the same and also counts the program in `stats().programs_in_use` (optional).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyevm_jit.runtime import artifacts, jobs, rtlib_cache
from pyevm_jit.runtime.config import RuntimeConfig
from pyevm_jit.runtime.report import BackendReport, build_report
from pyevm_jit.runtime.state import BackendState, ResidentEntry, monotonic
from pyevm_jit.runtime.stats import RuntimeStatsSnapshot, snapshot
from pyevm_jit.runtime.types import (
    AotRequest,
    CompiledProgram,
    InterpretReason,
    LookupDecision,
    LookupRequest,
    ProgramKind,
    RuntimeCacheKey,
)
from pyevm_jit.runtime.usage import KeyUsage, count_hit, count_miss, usage_of
from pyevm_jit.runtime.workers import make_pool

log = logging.getLogger("pyevm_jit.runtime")

_DISABLED = LookupDecision.interpret(InterpretReason.DISABLED)
_INELIGIBLE = LookupDecision.interpret(InterpretReason.INELIGIBLE)
_NOT_READY = LookupDecision.interpret(InterpretReason.NOT_READY)
#: the command that wakes the backend thread to drain the events now
_DRAIN = ("drain",)
_JIT_FAILED = LookupDecision.interpret(InterpretReason.JIT_FAILED)


class BackendError(Exception):
    """The backend cannot be started (for example its store is unusable)."""


_live: weakref.WeakSet[BackendState] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    for inner in list(_live):
        try:
            _shutdown(inner, timeout=1.0)
        except Exception:  # noqa: BLE001 - never disturb interpreter exit
            pass


def _after_fork_in_child() -> None:
    """A forked child inherits backends whose threads and workers stayed in the parent: switch
    them off (lookups answer Disabled) instead of letting them wait for threads that are gone."""
    for inner in list(_live):
        inner.lock = threading.RLock()
        inner.idle_cv = threading.Condition(inner.lock)
        inner.closed = True
        inner.enabled = False
        inner.thread = None
        inner.pool = None
        inner.local_pool = None
        inner.inflight.clear()
        inner.stale.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _register(handle: JitBackend) -> None:
    inner = handle._inner
    with inner.lock:
        inner.handles += 1
    finalizer = weakref.finalize(handle, _release, inner)
    finalizer.atexit = False  # exit is handled by _close_all_at_exit


def _release(inner: BackendState) -> None:
    """The last handle of a backend was garbage-collected: shut it down in the background (a
    finalizer may run on any thread, including the ones being shut down)."""
    with inner.lock:
        inner.handles -= 1
        last = inner.handles <= 0 and not inner.closed
    if last:
        try:
            threading.Thread(
                target=_shutdown,
                args=(inner, inner.tuning.shutdown_timeout),
                name="pyevm-jit-release",
                daemon=True,
            ).start()
        except RuntimeError:  # interpreter shutting down
            pass


def _wait_for_store(inner: BackendState) -> None:
    """Give compilations in flight up to `store_wait` seconds to finish and reach the store
    (only when there is a writable store: otherwise their programs die with the process)."""
    wait = inner.tuning.store_wait
    store = inner.config.store
    if wait <= 0 or store is None or not getattr(store, "writable", True):
        return
    if not inner.started or inner.closed or inner.thread is threading.current_thread():
        return
    deadline = monotonic() + wait
    with inner.idle_cv:
        while not inner.closed and (
            inner.inflight or inner.commands.unfinished_tasks or inner.events
        ):
            left = deadline - monotonic()
            if left <= 0:
                return
            inner.idle_cv.wait(min(left, 0.05))


def _shutdown(inner: BackendState, timeout: float) -> None:
    _wait_for_store(inner)
    with inner.lock:
        if inner.closed:
            return
        inner.closed = True
        inner.enabled = False
        thread, pool, local_pool = inner.thread, inner.pool, inner.local_pool
    if thread is not None:
        try:
            inner.commands.put(jobs.STOP, timeout=timeout)
        except queue.Full:
            pass
        if thread is not threading.current_thread():
            thread.join(timeout)
    if pool is not None:
        pool.shutdown(timeout)
    if local_pool is not None:
        local_pool.shutdown(timeout)
    with inner.lock:
        pending = list(inner.inflight.values()) + list(inner.stale)
        inner.inflight.clear()
        inner.stale.clear()
        inner.idle_cv.notify_all()
    for job in pending:  # nobody will finish these any more
        if not job.done.is_set():
            job.error = "backend closed"
            job.done.set()


class JitBackend:
    """JIT compilation backend with O(1) compiled-program lookup.

    Create with `JitBackend.new(config)` or `JitBackend.disabled()`. Copies (`copy.copy`) share
    the backend thread, the resident map and the statistics. Use `close()` or a `with` block to
    stop the thread and the workers; when the last copy is garbage-collected the backend shuts
    down by itself, and an unclosed backend never delays interpreter exit.
    """

    __slots__ = ("_inner", "__weakref__")

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self._inner = BackendState(config if config is not None else RuntimeConfig(enabled=False))
        _live.add(self._inner)
        _register(self)

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def disabled(cls) -> JitBackend:
        """A backend that compiles nothing and spawns nothing until `set_enabled(True)`.

        Every lookup answers Interpret(Disabled). Enabling later uses a default `RuntimeConfig`.
        """
        return cls(RuntimeConfig(enabled=False, store=None, dump_dir=None))

    @classmethod
    def new(cls, config: RuntimeConfig) -> JitBackend:
        """A backend from `config`; when `config.enabled`, the backend thread starts at once
        and the artifacts of `config.store` are preloaded (see `RuntimeConfig.preload`)."""
        backend = cls(config)
        if config.enabled:
            backend.set_enabled(True)
        return backend

    def __copy__(self) -> JitBackend:
        clone = JitBackend.__new__(JitBackend)
        clone._inner = self._inner
        _register(clone)
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> JitBackend:
        return self.__copy__()

    def __enter__(self) -> JitBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        inner = self._inner
        state = "closed" if inner.closed else ("enabled" if inner.enabled else "disabled")
        return f"<JitBackend {state} resident={len(inner.resident)} gen={inner.generation}>"

    @property
    def config(self) -> RuntimeConfig:
        return self._inner.config

    # --- hot path -----------------------------------------------------------------------------

    def lookup(self, req: LookupRequest) -> LookupDecision:
        """The decision for one message: a resident program, or why to interpret.

        Never blocks in normal mode (a dict read; on a miss, an append to a bounded deque). In
        blocking mode a miss compiles synchronously (see `lookup_blocking`).
        """
        inner = self._inner
        entry = inner.resident.get(req.key)
        if entry is not None and inner.enabled:
            if entry.tier_up_at:  # a tier-up to count, or a preloaded program's first hit
                if entry.expect_len and not artifacts.verify_length(inner, entry, req.code):
                    return self._miss(inner, req)
                self._count_hot_hit(inner, entry, req)
            entry.last_hit = monotonic()
            next(inner.hits)
            next(entry.native)
            return entry.decision
        if inner.blocking:
            return self.lookup_blocking(req)
        return self._miss(inner, req)

    def _count_hot_hit(self, inner: BackendState, entry: ResidentEntry, req: LookupRequest) -> None:
        # Racy on purpose (no lock on the hot path): a lost increment only delays the tier-up,
        # and a duplicate request is merged with the job already in flight.
        hits = entry.hits + 1
        entry.hits = hits
        if hits == entry.tier_up_at:
            try:
                inner.commands.put_nowait(("tier_up", req))
            except queue.Full:
                with inner.lock:
                    inner.commands_dropped += 1

    def _miss(self, inner: BackendState, req: LookupRequest) -> LookupDecision:
        if not inner.enabled:
            count_miss(inner, req.key, InterpretReason.DISABLED)
            return _DISABLED
        if req.key in inner.failed:
            count_miss(inner, req.key, InterpretReason.JIT_FAILED)
            return _JIT_FAILED
        if req.key in inner.ineligible:
            count_miss(inner, req.key, InterpretReason.INELIGIBLE)
            return _INELIGIBLE
        code_len = len(req.code)
        if code_len == 0 or code_len > inner.max_len:
            count_miss(inner, req.key, InterpretReason.INELIGIBLE)
            return _INELIGIBLE
        if inner.config.store is not None and req.key not in inner.probed:
            # the key's first lookup: code compiled once (here or by any process) runs now
            program = artifacts.first_lookup(inner, req)
            if program is not None:
                count_hit(inner, req.key)
                return LookupDecision.compiled(program)
        events = inner.events
        queued = len(events)
        if queued < inner.event_cap:
            events.append(req)
            if queued + 1 == inner.wake_events:  # once per drain at most
                try:
                    inner.commands.put_nowait(_DRAIN)
                except queue.Full:
                    pass  # the backend thread is awake anyway
        else:
            next(inner.events_dropped)
        count_miss(inner, req.key, InterpretReason.NOT_READY)
        return _NOT_READY

    def count_interpreted(
        self, reason: InterpretReason, key: RuntimeCacheKey | None = None
    ) -> LookupDecision:
        """Record a message interpreted without a lookup (for example a VM whose opcode table
        compiled code cannot honour), under its key when given (`report()`), and return that
        decision."""
        if key is None:
            next(self._inner.misses[reason])
        else:
            count_miss(self._inner, key, reason)
        return LookupDecision.interpret(reason)

    def lookup_blocking(self, req: LookupRequest) -> LookupDecision:
        """Like `lookup`, but a miss compiles now and waits: the answer is a compiled program,
        Interpret(Ineligible), Interpret(JitFailed), or Interpret(Disabled) when the runtime is
        off. (Interpret(NotReady) only when the pending-job limit is reached or the backend
        closes meanwhile.)"""
        inner = self._inner
        if not inner.enabled:
            count_miss(inner, req.key, InterpretReason.DISABLED)
            return _DISABLED
        key = req.key
        entry = inner.resident.get(key)
        if entry is None:
            if key in inner.failed:
                count_miss(inner, req.key, InterpretReason.JIT_FAILED)
                return _JIT_FAILED
            if key in inner.ineligible or not inner.tuning.should_compile(req.code):
                count_miss(inner, req.key, InterpretReason.INELIGIBLE)
                return _INELIGIBLE
            program = None
            if inner.config.store is not None and key not in inner.probed:
                program = artifacts.first_lookup(inner, req)
            if program is None:
                kind = ProgramKind.AOT if inner.config.aot else ProgramKind.JIT
                program = jobs.compile_and_wait(inner, req, kind)
            if program is not None:
                count_hit(inner, key)
                return LookupDecision.compiled(program)
            if key in inner.failed:
                count_miss(inner, req.key, InterpretReason.JIT_FAILED)
                return _JIT_FAILED
            if key in inner.ineligible:
                count_miss(inner, req.key, InterpretReason.INELIGIBLE)
                return _INELIGIBLE
            count_miss(inner, req.key, InterpretReason.NOT_READY)
            return _NOT_READY
        if entry.expect_len and not artifacts.verify_length(inner, entry, req.code):
            return self.lookup_blocking(req)
        entry.last_hit = monotonic()
        next(inner.hits)
        next(entry.native)
        return entry.decision

    def get_compiled(self, code_hash: bytes, fork: str) -> CompiledProgram | None:
        """The resident program for (code_hash, fork), without events or statistics. The
        programs of an AOT store are resident from `new` (the store preloaded: its programs are
        checked and linked there; each one's code length is checked by its first lookup)."""
        entry = self._inner.resident.get(RuntimeCacheKey(code_hash, fork))
        return entry.program if entry is not None else None

    def get_compiled_tracked(self, code_hash: bytes, fork: str) -> CompiledProgram | None:
        """Like `get_compiled`, but counts a hit or a (NotReady / Disabled) miss and refreshes
        the program's last use."""
        inner = self._inner
        key = RuntimeCacheKey(code_hash, fork)
        if not inner.enabled:
            count_miss(inner, key, InterpretReason.DISABLED)
            return None
        entry = inner.resident.get(key)
        if entry is None:
            count_miss(inner, key, InterpretReason.NOT_READY)
            return None
        entry.last_hit = monotonic()
        next(inner.hits)
        next(entry.native)
        return entry.program

    @contextmanager
    def hold(self, program: CompiledProgram) -> Iterator[CompiledProgram]:
        """Keep `program` referenced (and counted as in use) for the duration of a frame."""
        inner = self._inner
        ident = id(program)
        with inner.lock:
            inner.in_use[ident] = inner.in_use.get(ident, 0) + 1
        try:
            yield program
        finally:
            with inner.lock:
                left = inner.in_use[ident] - 1
                if left:
                    inner.in_use[ident] = left
                else:
                    del inner.in_use[ident]

    # --- explicit compilation -----------------------------------------------------------------

    def compile_jit(self, req: LookupRequest) -> None:
        """Enqueue a JIT compilation (blocks only while the command channel is full)."""
        self._command(("compile", req, ProgramKind.JIT))

    def compile_jit_sync(self, req: LookupRequest) -> bool:
        """Compile now and wait. True when a program for the key is resident afterwards
        (a failure is remembered and answers JitFailed; use `get_compiled` for the program)."""
        inner = self._inner
        if not inner.usable:
            return False
        if not inner.tuning.should_compile(req.code):
            return False
        jobs.compile_and_wait(inner, req, ProgramKind.JIT)
        return req.key in inner.resident

    def tier_up_sync(self, req: LookupRequest) -> bool:
        """Recompile a resident JIT program at the tier-up level now (instead of after
        `tuning.tier_up_after` hits) and wait. True when the resident program is then at that
        level; False when the key is not resident, is AOT, or the recompilation failed."""
        inner = self._inner
        if not inner.usable:
            return False
        job = jobs.start_job(inner, req, ProgramKind.JIT, tier_up=True)
        if job is not None:
            job.done.wait()
        entry = inner.resident.get(req.key)
        level = entry.program.opt_level if entry is not None else None
        return level is not None and level >= inner.tuning.tier_up_opt_level

    def prepare_aot(self, req: AotRequest) -> None:
        """Enqueue one AOT preparation: compiled on the pool, persisted in the store, and made
        resident as an AOT program. Returns at once."""
        self._command(("compile", LookupRequest(req.key, req.code), ProgramKind.AOT))

    def prepare_aot_batch(self, reqs: list[AotRequest]) -> None:
        """Enqueue several AOT preparations (blocks only while the command channel is full)."""
        for req in reqs:
            self.prepare_aot(req)

    def side_exits(self) -> dict[tuple[RuntimeCacheKey, int], int]:
        """Side exits of region programs taken so far, per (key, pc) (docs/regions.md)."""
        return dict(self._inner.side_exits)

    def side_exit_count(self) -> int:
        """Side exits of region programs taken so far, all of them."""
        return self._inner.side_exit_total

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no command or lookup event is queued and no compilation is pending.

        True when idle, False when `timeout` passed first. (Events are drained every
        `event_drain_interval`, so this can take that long.)"""
        inner = self._inner
        deadline = None if timeout is None else monotonic() + timeout
        with inner.idle_cv:
            while not inner.closed and (
                inner.inflight
                or inner.stale
                or inner.commands.unfinished_tasks
                or inner.events
                or inner.learning
            ):
                left = None if deadline is None else deadline - monotonic()
                if left is not None and left <= 0:
                    return False
                inner.idle_cv.wait(0.05 if left is None else min(left, 0.05))
        return True

    # --- maintenance --------------------------------------------------------------------------

    def clear_resident(self) -> None:
        """Forget every resident program, remembered failure, miss count and queued event.

        Compilations still running are discarded when they finish (the generation moves on).
        Programs held by running frames stay valid until those frames drop them.
        """
        inner = self._inner
        with inner.lock:
            inner.generation += 1
            inner.resident = {}
            inner.resident_bytes = 0
            inner.failed.clear()
            inner.ineligible.clear()
            inner.spent.clear()
            inner.miss_counts.clear()
            inner.learning.clear()
            inner.probed.clear()
            inner.stale.update(inner.inflight.values())
            inner.inflight.clear()
            inner.events.clear()
            inner.idle_cv.notify_all()

    def clear_persisted(self) -> None:
        """Delete every artifact of the configured store."""
        store = self._inner.config.store
        if store is not None:
            store.clear()

    def set_enabled(self, enabled: bool) -> None:
        """Switch the runtime on or off; the first switch-on starts the backend thread and
        preloads the store."""
        inner = self._inner
        if inner.closed:
            if enabled:
                raise BackendError("backend is closed")
            return
        if enabled:
            self._ensure_started()
        inner.enabled = enabled

    def close(self) -> None:
        """Stop the backend thread and the workers. Idempotent; lookups answer Disabled after.

        With a writable store, compilations in flight first get up to `tuning.store_wait`
        seconds to finish and be stored (the exit of the process does the same)."""
        _shutdown(self._inner, self._inner.tuning.shutdown_timeout)

    def stats(self) -> RuntimeStatsSnapshot:
        return snapshot(self._inner)

    def usage(self, key: RuntimeCacheKey) -> KeyUsage:
        """The key's running account (`report()` reads them all); the JIT computation adds
        the seconds of the messages it runs to it."""
        return usage_of(self._inner, key)

    def label(self, code_hash: bytes, name: str) -> None:
        """Name the code with `code_hash` in `report()` (a contract's name, a bench case)."""
        self._inner.labels[code_hash] = name

    def report(self) -> BackendReport:
        """What the JIT did for each (code hash, fork) so far: messages native and interpreted
        (by reason), seconds, compile seconds per tier, loads from the store, the estimated
        seconds saved; most time at stake first (`pyevm_jit.runtime.report`)."""
        return build_report(self._inner)

    def ineligible_reason(self, code_hash: bytes, fork: str) -> str | None:
        """Why the key answers Ineligible when the runtime decided it (code pathological to
        compile, or a compilation over its budget; see `runtime.budget`), else None."""
        return self._inner.ineligible.get(RuntimeCacheKey(code_hash, fork))

    def failure_reason(self, code_hash: bytes, fork: str) -> str | None:
        """Why the key answers JitFailed (None when it does not)."""
        return self._inner.failed.get(RuntimeCacheKey(code_hash, fork))

    # --- internals ----------------------------------------------------------------------------

    def _command(self, cmd: tuple[Any, ...]) -> None:
        inner = self._inner
        if not inner.usable:
            with inner.lock:
                inner.commands_dropped += 1
            log.debug("pyevm-jit: backend not started; %s dropped", cmd[0])
            return
        inner.commands.put(cmd)

    def _ensure_started(self) -> None:
        inner = self._inner
        with inner.lock:
            if inner.started:
                return
            cfg = inner.config
            artifacts.check_store(inner)
            rtlib_cache.register_for(cfg.store)  # the runtime library: beside the artifacts
            tuning = inner.tuning
            inner.pool = make_pool(
                inner.compiler,
                tuning.worker_count,
                timeout=tuning.compile_timeout,
                recycle_after=tuning.recycle_after,
                name=cfg.thread_name,
            )
            inner.thread = threading.Thread(
                target=jobs.backend_loop, args=(inner,), name=cfg.thread_name, daemon=True
            )
            inner.started = True
            inner.thread.start()
            jobs.prepare_for_regions(inner)
        if artifacts.should_preload(inner):
            artifacts.preload(inner)


__all__ = ["BackendError", "JitBackend"]
