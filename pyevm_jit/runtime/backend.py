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
import itertools
import logging
import os
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyevm_jit.runtime.config import RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.events import CompilationEvent
from pyevm_jit.runtime.stats import RuntimeStatsSnapshot, counter_value, new_counter
from pyevm_jit.runtime.types import (
    AotRequest,
    CompiledProgram,
    InterpretReason,
    LookupDecision,
    LookupRequest,
    ProgramKind,
    RuntimeCacheKey,
)
from pyevm_jit.runtime.workers import (
    CompileFailure,
    CompilerPool,
    CompileTask,
    default_compiler,
    make_pool,
)

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode
    from pyevm_jit.compiler.link import NativeProgram
    from pyevm_jit.compiler.target import EngineIdentity
    from pyevm_jit.runtime.store import StoredArtifact

log = logging.getLogger("pyevm_jit.runtime")

_monotonic = time.monotonic

_DISABLED = LookupDecision.interpret(InterpretReason.DISABLED)
_INELIGIBLE = LookupDecision.interpret(InterpretReason.INELIGIBLE)
_NOT_READY = LookupDecision.interpret(InterpretReason.NOT_READY)
_JIT_FAILED = LookupDecision.interpret(InterpretReason.JIT_FAILED)

_STOP = object()
#: miss counters kept for at most this many distinct keys (oldest half dropped beyond)
_MAX_TRACKED_KEYS = 1 << 16


class BackendError(Exception):
    """The backend cannot be started (for example its store is unusable)."""


class _Entry:
    """A resident program and when it was last returned by a lookup."""

    __slots__ = ("decision", "program", "last_hit", "size", "hits", "tier_up_at")

    def __init__(self, program: CompiledProgram, now: float, tuning: RuntimeTuning) -> None:
        self.decision = LookupDecision.compiled(program)
        self.program = program
        self.last_hit = now
        self.size = program.code_bytes
        self.hits = 0
        #: hit count at which the program is recompiled at the tier-up level (0: never)
        self.tier_up_at = (
            tuning.tier_up_after
            if program.kind is ProgramKind.JIT
            and program.opt_level is not None
            and program.opt_level < tuning.tier_up_opt_level
            else 0
        )


class _Job:
    __slots__ = (
        "key",
        "code",
        "kind",
        "generation",
        "started",
        "done",
        "program",
        "error",
        "tier_up",
    )

    def __init__(
        self,
        key: RuntimeCacheKey,
        code: bytes,
        kind: ProgramKind,
        generation: int,
        tier_up: bool = False,
    ):
        self.key = key
        self.code = code
        self.kind = kind
        self.generation = generation
        #: a recompilation of a resident program at the tier-up level
        self.tier_up = tier_up
        self.started = _monotonic()
        self.done = threading.Event()
        self.program: CompiledProgram | None = None
        self.error: str | None = None


def _default_linker(obj: ObjectCode) -> NativeProgram:
    from pyevm_jit.compiler.link import link_object

    return link_object(obj)


class _Inner:
    """State shared by every copy of a backend."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.tuning = config.tuning
        self.max_len = config.tuning.max_bytecode_len
        self.event_cap = config.tuning.event_queue_capacity
        self.blocking = config.blocking
        self.enabled = False
        self.started = False
        self.closed = False
        self.lock = threading.RLock()
        self.idle_cv = threading.Condition(self.lock)
        self.resident: dict[RuntimeCacheKey, _Entry] = {}
        self.failed: dict[RuntimeCacheKey, str] = {}
        self.inflight: dict[RuntimeCacheKey, _Job] = {}
        #: jobs of older generations, still running; their results will be discarded
        self.stale: set[_Job] = set()
        self.miss_counts: dict[RuntimeCacheKey, int] = {}
        self.events: deque[LookupRequest] = deque()
        self.commands: queue.Queue[Any] = queue.Queue(
            maxsize=max(1, config.tuning.channel_capacity)
        )
        self.generation = 0
        self.resident_bytes = 0
        # lock-free counters (bumped on the hot path)
        self.hits = new_counter()
        self.misses = {reason: new_counter() for reason in InterpretReason}
        self.events_dropped = new_counter()
        # counters changed under `lock`
        self.commands_dropped = 0
        self.evictions = 0
        self.idle_evictions = 0
        self.dispatched = 0
        self.succeeded = 0
        self.failed_count = 0
        self.discarded = 0
        self.tier_ups = 0
        self.compile_seconds = 0.0
        self.aot_loaded = 0
        self.artifacts_stored = 0
        self.artifacts_rejected = 0
        #: the store's own rejection count when this backend was created (stats are per backend)
        self.store_rejected_base = int(getattr(config.store, "rejected", 0) or 0)
        self.in_use: dict[int, int] = {}
        #: keys with an artifact in the store, not preloaded: loaded on their first miss
        self.store_keys: set[RuntimeCacheKey] = set()
        #: live JitBackend handles (copies included); the last one to go shuts the backend down
        self.handles = 0
        self.pool: CompilerPool | None = None
        self.thread: threading.Thread | None = None
        self.identity: EngineIdentity | None = None
        self.compiler = config.compiler or default_compiler
        self.linker = config.linker or _default_linker


_live: weakref.WeakSet[_Inner] = weakref.WeakSet()


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


def _release(inner: _Inner) -> None:
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


def _shutdown(inner: _Inner, timeout: float) -> None:
    with inner.lock:
        if inner.closed:
            return
        inner.closed = True
        inner.enabled = False
        thread, pool = inner.thread, inner.pool
    if thread is not None:
        try:
            inner.commands.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        if thread is not threading.current_thread():
            thread.join(timeout)
    if pool is not None:
        pool.shutdown(timeout)
    with inner.lock:
        jobs = list(inner.inflight.values()) + list(inner.stale)
        inner.inflight.clear()
        inner.stale.clear()
        inner.idle_cv.notify_all()
    for job in jobs:  # nobody will finish these any more
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
        self._inner = _Inner(config if config is not None else RuntimeConfig(enabled=False))
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
        and every matching AOT artifact of `config.store` is preloaded."""
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
            entry.last_hit = _monotonic()
            next(inner.hits)
            if entry.tier_up_at:
                self._count_hot_hit(inner, entry, req)
            return entry.decision
        if inner.blocking:
            return self.lookup_blocking(req)
        return self._miss(inner, req)

    def _count_hot_hit(self, inner: _Inner, entry: _Entry, req: LookupRequest) -> None:
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

    def _miss(self, inner: _Inner, req: LookupRequest) -> LookupDecision:
        if not inner.enabled:
            next(inner.misses[InterpretReason.DISABLED])
            return _DISABLED
        if req.key in inner.failed:
            next(inner.misses[InterpretReason.JIT_FAILED])
            return _JIT_FAILED
        code_len = len(req.code)
        if code_len == 0 or code_len > inner.max_len:
            next(inner.misses[InterpretReason.INELIGIBLE])
            return _INELIGIBLE
        events = inner.events
        if len(events) < inner.event_cap:
            events.append(req)
        else:
            next(inner.events_dropped)
        next(inner.misses[InterpretReason.NOT_READY])
        return _NOT_READY

    def count_interpreted(self, reason: InterpretReason) -> LookupDecision:
        """Record a message interpreted without a lookup (for example a VM whose opcode table
        compiled code cannot honour) and return that decision."""
        next(self._inner.misses[reason])
        return LookupDecision.interpret(reason)

    def lookup_blocking(self, req: LookupRequest) -> LookupDecision:
        """Like `lookup`, but a miss compiles now and waits: the answer is a compiled program,
        Interpret(Ineligible), Interpret(JitFailed), or Interpret(Disabled) when the runtime is
        off. (Interpret(NotReady) only when the pending-job limit is reached or the backend
        closes meanwhile.)"""
        inner = self._inner
        if not inner.enabled:
            next(inner.misses[InterpretReason.DISABLED])
            return _DISABLED
        key = req.key
        entry = inner.resident.get(key)
        if entry is None:
            if key in inner.failed:
                next(inner.misses[InterpretReason.JIT_FAILED])
                return _JIT_FAILED
            if not inner.tuning.should_compile(req.code):
                next(inner.misses[InterpretReason.INELIGIBLE])
                return _INELIGIBLE
            kind = ProgramKind.AOT if inner.config.aot else ProgramKind.JIT
            program = self._compile_and_wait(req, kind)
            if program is not None:
                next(inner.hits)
                return LookupDecision.compiled(program)
            if key in inner.failed:
                next(inner.misses[InterpretReason.JIT_FAILED])
                return _JIT_FAILED
            next(inner.misses[InterpretReason.NOT_READY])
            return _NOT_READY
        entry.last_hit = _monotonic()
        next(inner.hits)
        return entry.decision

    def get_compiled(self, code_hash: bytes, fork: str) -> CompiledProgram | None:
        """The resident program for (code_hash, fork), without events or statistics."""
        entry = self._inner.resident.get(RuntimeCacheKey(code_hash, fork))
        return entry.program if entry is not None else None

    def get_compiled_tracked(self, code_hash: bytes, fork: str) -> CompiledProgram | None:
        """Like `get_compiled`, but counts a hit or a (NotReady / Disabled) miss and refreshes
        the program's last use."""
        inner = self._inner
        if not inner.enabled:
            next(inner.misses[InterpretReason.DISABLED])
            return None
        entry = inner.resident.get(RuntimeCacheKey(code_hash, fork))
        if entry is None:
            next(inner.misses[InterpretReason.NOT_READY])
            return None
        entry.last_hit = _monotonic()
        next(inner.hits)
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
        if not self._usable():
            return False
        if not inner.tuning.should_compile(req.code):
            return False
        self._compile_and_wait(req, ProgramKind.JIT)
        return req.key in inner.resident

    def tier_up_sync(self, req: LookupRequest) -> bool:
        """Recompile a resident JIT program at the tier-up level now (instead of after
        `tuning.tier_up_after` hits) and wait. True when the resident program is then at that
        level; False when the key is not resident, is AOT, or the recompilation failed."""
        inner = self._inner
        if not self._usable():
            return False
        job = self._start_job(req, ProgramKind.JIT, tier_up=True)
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

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no command or lookup event is queued and no compilation is pending.

        True when idle, False when `timeout` passed first. (Events are drained every
        `event_drain_interval`, so this can take that long.)"""
        inner = self._inner
        deadline = None if timeout is None else _monotonic() + timeout
        with inner.idle_cv:
            while not inner.closed and (
                inner.inflight or inner.stale or inner.commands.unfinished_tasks or inner.events
            ):
                left = None if deadline is None else deadline - _monotonic()
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
            inner.miss_counts.clear()
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
        """Stop the backend thread and the workers. Idempotent; lookups answer Disabled after."""
        _shutdown(self._inner, self._inner.tuning.shutdown_timeout)

    def stats(self) -> RuntimeStatsSnapshot:
        inner = self._inner
        store = inner.config.store
        pool = inner.pool
        with inner.lock:
            misses = {r.value: counter_value(c) for r, c in inner.misses.items()}
            return RuntimeStatsSnapshot(
                enabled=inner.enabled,
                lookup_hits=counter_value(inner.hits),
                lookup_misses=sum(misses.values()),
                misses_by_reason=misses,
                events_dropped=counter_value(inner.events_dropped),
                commands_dropped=inner.commands_dropped,
                events_queued=len(inner.events),
                commands_queued=inner.commands.qsize(),
                resident_entries=len(inner.resident),
                resident_code_bytes=inner.resident_bytes,
                failed_entries=len(inner.failed),
                pending_jobs=len(inner.inflight) + len(inner.stale),
                evictions=inner.evictions,
                idle_evictions=inner.idle_evictions,
                compilations_dispatched=inner.dispatched,
                compilations_succeeded=inner.succeeded,
                compilations_failed=inner.failed_count,
                compilations_discarded=inner.discarded,
                tier_ups=inner.tier_ups,
                compile_seconds=inner.compile_seconds,
                worker_crashes=pool.crashes if pool is not None else 0,
                worker_timeouts=pool.timeouts if pool is not None else 0,
                aot_loaded=inner.aot_loaded,
                artifacts_stored=inner.artifacts_stored,
                artifacts_rejected=inner.artifacts_rejected
                + (
                    int(getattr(store, "rejected", 0)) - inner.store_rejected_base
                    if store is not None
                    else 0
                ),
                programs_in_use=len(inner.in_use),
                generation=inner.generation,
            )

    def failure_reason(self, code_hash: bytes, fork: str) -> str | None:
        """Why the key answers JitFailed (None when it does not)."""
        return self._inner.failed.get(RuntimeCacheKey(code_hash, fork))

    # --- internals ----------------------------------------------------------------------------

    def _usable(self) -> bool:
        inner = self._inner
        return inner.started and not inner.closed

    def _command(self, cmd: tuple[Any, ...]) -> None:
        inner = self._inner
        if not self._usable():
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
            store = cfg.store
            check = getattr(store, "check", None)
            if check is not None:
                try:
                    check()
                except Exception as exc:
                    inner.artifacts_rejected += 1
                    log.warning("pyevm-jit: %s; running without a store", exc)
            tuning = inner.tuning
            inner.pool = make_pool(
                inner.compiler,
                tuning.worker_count,
                timeout=tuning.compile_timeout,
                recycle_after=tuning.recycle_after,
                name=cfg.thread_name,
            )
            inner.thread = threading.Thread(
                target=_backend_loop, args=(self._inner,), name=cfg.thread_name, daemon=True
            )
            inner.started = True
            inner.thread.start()
        if inner.config.preload:
            self._preload()
        else:
            self._index_store()

    def _engine_identity(self) -> EngineIdentity:
        inner = self._inner
        if inner.identity is None:
            from pyevm_jit.compiler.target import engine_identity

            inner.identity = engine_identity()
        return inner.identity

    def _preload(self) -> None:
        inner = self._inner
        store = inner.config.store
        if store is None:
            return
        try:
            artifacts = store.load_all()
        except Exception as exc:  # noqa: BLE001 - a broken store must not break the VM
            log.warning("pyevm-jit: cannot read artifact store %r: %s", store, exc)
            return
        loaded = 0
        for artifact in artifacts:
            key = artifact.key.runtime_key
            if key in inner.resident:
                continue
            if self._adopt_artifact(artifact, key, count=True) is not None:
                loaded += 1
        log.info("pyevm-jit: preloaded %d AOT artifacts from %r", loaded, store)

    def _index_store(self) -> None:
        """Without preloading, remember which keys the store has, so that their first miss
        loads the artifact instead of waiting for the hot threshold."""
        inner = self._inner
        store = inner.config.store
        keys = getattr(store, "keys", None)
        if keys is None:
            return
        from pyevm_jit.runtime.store import identity_fingerprint

        ours = identity_fingerprint(self._engine_identity().as_dict())
        try:
            found = {k.runtime_key for k in keys() if k.identity == ours}
        except Exception as exc:  # noqa: BLE001
            log.warning("pyevm-jit: cannot list artifact store %r: %s", store, exc)
            return
        with inner.lock:
            inner.store_keys = found

    def _reject(self, artifact: StoredArtifact, reason: str) -> None:
        inner = self._inner
        with inner.lock:
            inner.artifacts_rejected += 1
        m = artifact.manifest
        log.warning("pyevm-jit: artifact %s/%s rejected: %s", m.fork, m.code_hash, reason)

    def _adopt_artifact(
        self, artifact: StoredArtifact, key: RuntimeCacheKey, *, count: bool
    ) -> CompiledProgram | None:
        """Verify and link a stored artifact; make it resident. None when rejected."""
        inner = self._inner
        problem = artifact.compatibility_problem(self._engine_identity())
        if problem is None:
            problem = artifact.integrity_problem()  # verified again right before linking
        if problem is not None:
            self._reject(artifact, problem)
            return None
        try:
            native = inner.linker(artifact.to_object_code())
        except Exception as exc:  # noqa: BLE001
            self._reject(artifact, f"link failed: {exc}")
            return None
        program = CompiledProgram(
            key,
            ProgramKind.AOT,
            native,
            _code_size(native, artifact),
            opt_level=getattr(artifact.manifest, "opt_level", None),
        )
        with inner.lock:
            self._insert(program)
            if count:
                inner.aot_loaded += 1
        return program

    def _from_store(self, key: RuntimeCacheKey) -> CompiledProgram | None:
        inner = self._inner
        store = inner.config.store
        if store is None:
            return None
        from pyevm_jit.runtime.store import ArtifactKey

        identity = self._engine_identity()
        for opt in dict.fromkeys((inner.tuning.aot_opt_level, inner.tuning.jit_opt_level)):
            try:
                artifact = store.load(ArtifactKey.for_identity(key, opt, identity))
            except Exception as exc:  # noqa: BLE001
                log.warning("pyevm-jit: artifact store read failed: %s", exc)
                return None
            if artifact is not None:
                program = self._adopt_artifact(artifact, key, count=True)
                if program is not None:
                    return program
        return None

    def _insert(self, program: CompiledProgram) -> None:
        """Make a program resident and evict down to the budget. Caller holds the lock."""
        inner = self._inner
        key = program.key
        resident = inner.resident
        old = resident.pop(key, None)
        if old is not None:
            inner.resident_bytes -= old.size
        entry = _Entry(program, _monotonic(), inner.tuning)
        resident[key] = entry
        inner.resident_bytes += entry.size
        budget = inner.tuning.resident_code_budget
        while inner.resident_bytes > budget and resident:
            victim_key, victim = min(resident.items(), key=lambda kv: kv[1].last_hit)
            if victim_key == key and len(resident) > 1:
                # the newcomer is never the first victim while others remain
                victim_key, victim = min(
                    ((k, e) for k, e in resident.items() if k != key),
                    key=lambda kv: kv[1].last_hit,
                )
            del resident[victim_key]
            inner.resident_bytes -= victim.size
            inner.evictions += 1
            if victim_key == key:
                inner.failed[key] = "program larger than the resident code budget"
            else:
                _remember_stored(inner, victim_key, victim)

    def _start_job(
        self, req: LookupRequest, kind: ProgramKind, *, tier_up: bool = False
    ) -> _Job | None:
        """Register (or find) the job for a key and start it. None when resident (an AOT request
        for a key resident as JIT still runs, to persist it; a tier-up runs only for a key
        resident below the tier-up level), failed, or over the pending limit."""
        inner = self._inner
        key = req.key
        with inner.lock:
            if inner.closed or key in inner.failed:
                return None
            entry = inner.resident.get(key)
            if tier_up:
                if entry is None or not entry.tier_up_at:
                    return None
            elif entry is not None and not (
                kind is ProgramKind.AOT
                and entry.program.kind is ProgramKind.JIT
                and inner.config.store is not None
            ):
                return None
            job = inner.inflight.get(key)
            if job is not None:
                return job
            if len(inner.inflight) + len(inner.stale) >= inner.tuning.max_pending_jobs:
                inner.commands_dropped += 1
                return None
            job = _Job(key, req.code, kind, inner.generation, tier_up)
            inner.inflight[key] = job
        self._run_job(job)
        return job

    def _compile_and_wait(self, req: LookupRequest, kind: ProgramKind) -> CompiledProgram | None:
        job = self._start_job(req, kind)
        if job is None:
            entry = self._inner.resident.get(req.key)
            return entry.program if entry is not None else None
        job.done.wait()
        return job.program

    def _run_job(self, job: _Job) -> None:
        inner = self._inner
        program = None if job.tier_up else self._from_store(job.key)
        if program is not None:
            self._complete(job, program, None, None, dispatched=False)
            return
        pool = inner.pool
        if pool is None:
            self._complete(job, None, "backend not started", None, dispatched=False)
            return
        opt = self._job_opt_level(job)
        task = CompileTask(
            code=job.code,
            fork=job.key.fork,
            opt_level=opt,
            code_hash=job.key.code_hash,
            keep_text=inner.config.dump_dir is not None,
            debug_assertions=inner.config.debug_assertions,
            background=job.tier_up,
        )
        with inner.lock:
            inner.dispatched += 1
        fut = pool.submit(task)
        fut.add_done_callback(lambda f: self._job_done(job, f))

    def _job_done(self, job: _Job, fut: Future[ObjectCode]) -> None:
        inner = self._inner
        cfg = inner.config
        try:
            obj = fut.result()
        except CompileFailure as exc:
            self._complete(job, None, str(exc), None)
            return
        except BaseException as exc:  # noqa: BLE001
            self._complete(job, None, f"{type(exc).__name__}: {exc}", None)
            return
        if cfg.dump_dir is not None:
            directory = Path(cfg.dump_dir) / job.key.fork / job.key.code_hash.hex()
            try:
                from pyevm_jit.compiler.compile import dump_object

                dump_object(obj, job.code, directory)
            except Exception as exc:  # noqa: BLE001
                log.warning("pyevm-jit: cannot dump to %s: %s", directory, exc)
        t0 = _monotonic()
        try:
            native = inner.linker(obj)
        except Exception as exc:  # noqa: BLE001
            self._complete(job, None, f"link failed: {exc}", obj)
            return
        link = _monotonic() - t0
        store = cfg.store
        if job.kind is ProgramKind.AOT and store is not None:
            # persisted only once it is known to link
            try:
                from pyevm_jit.runtime.store import StoredArtifact

                artifact = StoredArtifact.create(
                    job.key, obj, len(job.code), self._engine_identity()
                )
                store.store(artifact)
                with inner.lock:
                    inner.artifacts_stored += 1
            except Exception as exc:  # noqa: BLE001 - persisting is best effort
                log.warning("pyevm-jit: cannot store artifact for %s: %s", job.key, exc)
        program = CompiledProgram(
            job.key,
            job.kind,
            native,
            _code_size(native, obj),
            opt_level=self._job_opt_level(job),
        )
        self._complete(job, program, None, obj, link=link)

    def _job_opt_level(self, job: _Job) -> int:
        tuning = self._inner.tuning
        if job.tier_up:
            return tuning.tier_up_opt_level
        return tuning.aot_opt_level if job.kind is ProgramKind.AOT else tuning.jit_opt_level

    def _complete(
        self,
        job: _Job,
        program: CompiledProgram | None,
        error: str | None,
        obj: ObjectCode | None,
        *,
        dispatched: bool = True,
        link: float = 0.0,
    ) -> None:
        inner = self._inner
        duration = _monotonic() - job.started
        with inner.lock:
            if inner.inflight.get(job.key) is job:
                del inner.inflight[job.key]
            inner.stale.discard(job)
            if dispatched:
                inner.compile_seconds += duration
                if program is not None:
                    inner.succeeded += 1
                else:
                    inner.failed_count += 1
            if job.generation != inner.generation:
                inner.discarded += 1
            elif program is not None:
                if job.tier_up:
                    # swapped in; frames running the old program keep it alive until they end
                    inner.tier_ups += 1
                    self._insert(program)
                elif (
                    program.key not in inner.resident
                    or inner.resident[program.key].program is not program
                ):
                    self._insert(program)
            elif error is not None and not inner.closed and not job.tier_up:
                # a failed tier-up leaves the working program in place
                inner.failed[job.key] = error
            inner.idle_cv.notify_all()
        if error is not None and dispatched:
            log.info("pyevm-jit: compilation of %s failed: %s", _describe_key(job.key), error)
        job.program = program
        job.error = error
        job.done.set()
        callback = inner.config.on_compilation
        if callback is not None and dispatched:
            timings = obj.timings if obj is not None else None
            event = CompilationEvent(
                key=job.key,
                kind=job.kind,
                duration=duration,
                success=program is not None,
                translate=timings.translate if timings else 0.0,
                optimise=timings.optimise if timings else 0.0,
                codegen=timings.codegen if timings else 0.0,
                link=link,
                error=error,
                code_len=len(job.code),
                object_len=len(obj.object_bytes) if obj is not None else 0,
                opt_level=self._job_opt_level(job),
                tier_up=job.tier_up,
            )
            try:
                callback(event)
            except Exception:  # noqa: BLE001
                log.exception("pyevm-jit: on_compilation callback raised")

    # backend-thread work, also used by tests through the loop
    def _handle_command(self, cmd: tuple[Any, ...]) -> None:
        if cmd[0] == "compile":
            _, req, kind = cmd
            if self._inner.tuning.should_compile(req.code):
                self._start_job(req, kind)
        elif cmd[0] == "tier_up":
            self._start_job(cmd[1], ProgramKind.JIT, tier_up=True)


def _code_size(native: Any, source: Any) -> int:
    size = getattr(native, "code_size", None)
    if isinstance(size, int) and size > 0:
        return size
    data = getattr(source, "object_bytes", b"")
    return len(data)


def _describe_key(key: RuntimeCacheKey) -> str:
    return f"{key.fork}/{key.code_hash.hex()[:16]}"


def _backend_loop(inner: _Inner) -> None:
    handle = JitBackend.__new__(JitBackend)
    handle._inner = inner
    tuning = inner.tuning
    interval = max(0.001, tuning.event_drain_interval)
    next_sweep = _monotonic() + max(0.001, tuning.idle_sweep_interval)
    while True:
        try:
            cmd = inner.commands.get(timeout=interval)
        except queue.Empty:
            cmd = None
        if cmd is _STOP:
            inner.commands.task_done()
            return
        try:
            if cmd is not None:
                try:
                    handle._handle_command(cmd)
                finally:
                    inner.commands.task_done()
            _drain_events(handle, inner)
            now = _monotonic()
            if now >= next_sweep:
                next_sweep = now + max(0.001, tuning.idle_sweep_interval)
                _sweep_idle(inner, now)
        except Exception:  # noqa: BLE001 - the thread must survive anything
            log.exception("pyevm-jit: backend thread error")
        if inner.closed:
            return
        with inner.lock:
            inner.idle_cv.notify_all()


def _drain_events(handle: JitBackend, inner: _Inner) -> None:
    events = inner.events
    threshold = max(1, inner.tuning.hot_threshold)
    kind = ProgramKind.AOT if inner.config.aot else ProgramKind.JIT
    counts = inner.miss_counts
    promote = inner.config.promote_hot
    for _ in range(max(1, inner.tuning.events_per_wakeup)):
        try:
            req = events.popleft()
        except IndexError:
            return
        key = req.key
        if key in inner.resident or key in inner.failed or key in inner.inflight:
            continue
        if key in inner.store_keys:
            inner.store_keys.discard(key)
            counts.pop(key, None)
            handle._start_job(req, kind)
            continue
        if not promote:
            continue
        seen = counts.get(key, 0) + 1
        if seen >= threshold:
            counts.pop(key, None)
            handle._start_job(req, kind)
        else:
            counts[key] = seen
            if len(counts) > _MAX_TRACKED_KEYS:
                for old in list(itertools.islice(counts, _MAX_TRACKED_KEYS // 2)):
                    del counts[old]


def _sweep_idle(inner: _Inner, now: float) -> None:
    limit = inner.tuning.idle_evict_after
    if limit <= 0:
        return
    with inner.lock:
        stale = [k for k, e in inner.resident.items() if now - e.last_hit > limit]
        for key in stale:
            entry = inner.resident.pop(key)
            inner.resident_bytes -= entry.size
            inner.evictions += 1
            inner.idle_evictions += 1
            _remember_stored(inner, key, entry)


def _remember_stored(inner: _Inner, key: RuntimeCacheKey, entry: _Entry) -> None:
    """An evicted AOT program is still in the store: its next miss loads it again (without
    this, a store-only run would interpret it for good). Caller holds the lock."""
    if entry.program.kind is ProgramKind.AOT and inner.config.store is not None:
        inner.store_keys.add(key)


__all__ = ["BackendError", "JitBackend"]
