"""What every handle of one backend shares (`BackendState`) and the rules of its resident map:
a program is made resident within the code budget (least recently used evicted first),
idle programs are swept, and an evicted program is looked for in the store again."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyevm_jit.runtime.assertions import checked_linker
from pyevm_jit.runtime.config import RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.stats import new_counter
from pyevm_jit.runtime.types import InterpretReason, LookupDecision, ProgramKind
from pyevm_jit.runtime.usage import KeyUsage, usage_of
from pyevm_jit.runtime.workers import CompilerPool, default_compiler

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode
    from pyevm_jit.compiler.link import NativeProgram
    from pyevm_jit.compiler.target import EngineIdentity
    from pyevm_jit.runtime.types import CompiledProgram, LookupRequest, RuntimeCacheKey

monotonic = time.monotonic


class ResidentEntry:
    """A resident program and when it was last returned by a lookup."""

    __slots__ = (
        "decision",
        "program",
        "last_hit",
        "size",
        "hits",
        "tier_up_at",
        "native",
        "expect_len",
        "_tier_up_at",
    )

    def __init__(
        self,
        program: CompiledProgram,
        now: float,
        tuning: RuntimeTuning,
        tier_stored: bool = False,
        usage: KeyUsage | None = None,
    ) -> None:
        if usage is None:
            usage = KeyUsage()
        #: the key's count of native messages (`KeyUsage.native`), bumped by each hit
        self.native = usage.native
        program.usage = usage
        self.decision = LookupDecision.compiled(program)
        self.program = program
        self.last_hit = now
        self.size = program.code_bytes
        self.hits = 0
        #: hit count at which the program is recompiled at the tier-up level (0: never). JIT
        #: programs tier up; so do those loaded from a cache (`tier_stored`), which keeps what
        #: earlier runs compiled at the first tier, but not those of an AOT store.
        self.tier_up_at = (
            tuning.tier_up_after
            if (program.kind is ProgramKind.JIT or tier_stored)
            and program.opt_level is not None
            and program.opt_level < tuning.tier_up_opt_level
            else 0
        )
        #: a preloaded program's code length, checked on its key's first lookup (0: checked)
        self.expect_len = 0
        self._tier_up_at = 0

    def expect_length(self, length: int) -> None:
        """A preloaded program: the first hit checks the code's length. The check rides on the
        hit path's existing `tier_up_at` test (nonzero until then), so other hits pay nothing."""
        self.expect_len = length
        self._tier_up_at = self.tier_up_at
        self.tier_up_at = -1

    def length_verified(self) -> None:
        if self.expect_len:
            self.expect_len = 0
            self.tier_up_at = self._tier_up_at


@dataclass(eq=False, slots=True)
class Job:
    """One compilation on its way from a request to a resident program (`runtime.jobs`)."""

    key: RuntimeCacheKey
    code: bytes
    kind: ProgramKind
    generation: int
    #: a recompilation of a resident program at the tier-up level
    tier_up: bool = False
    started: float = field(init=False, default_factory=monotonic)
    done: threading.Event = field(init=False, default_factory=threading.Event)
    program: CompiledProgram | None = field(init=False, default=None)
    error: str | None = field(init=False, default=None)
    #: how the job's failure counts (a `CompileFailure` kind: "compile", "budget" or
    #: "transient"; set when the job fails)
    verdict: str = field(init=False, default="compile")
    #: the blocks it compiles (None: the whole contract; docs/regions.md)
    region: frozenset[int] | None = field(init=False, default=None)
    #: a recompilation of a resident region program with a grown region
    grow: bool = field(init=False, default=False)
    #: the optimisation level a grown region keeps (its program's)
    level: int | None = field(init=False, default=None)
    #: pcs a learning run recorded (its first region: the blocks that ran)
    learned: frozenset[int] | None = field(init=False, default=None)
    #: (level, region) of the region program this job replaces (a growth, a tier-up): its
    #: stored artifact is deleted once this job's program is stored
    replaces: tuple[int, frozenset[int]] | None = field(init=False, default=None)


def default_linker(obj: ObjectCode) -> NativeProgram:
    from pyevm_jit.compiler.link import link_object

    return link_object(obj)


class BackendState:
    """State shared by every copy of a backend."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.tuning = config.tuning
        self.max_len = config.tuning.max_bytecode_len
        self.event_cap = config.tuning.event_queue_capacity
        #: queued events that wake the backend thread before its next drain (a key may be hot:
        #: its promotion need not wait up to `event_drain_interval`)
        self.wake_events = max(1, config.tuning.hot_threshold)
        self.blocking = config.blocking
        self.enabled = False
        self.started = False
        self.closed = False
        self.lock = threading.RLock()
        self.idle_cv = threading.Condition(self.lock)
        self.resident: dict[RuntimeCacheKey, ResidentEntry] = {}
        self.failed: dict[RuntimeCacheKey, str] = {}
        #: keys the runtime interprets by decision, with the reason (runtime.budget)
        self.ineligible: dict[RuntimeCacheKey, str] = {}
        #: CPU seconds the compilations of each key have cost so far (its cap, runtime.budget)
        self.spent: dict[RuntimeCacheKey, float] = {}
        self.inflight: dict[RuntimeCacheKey, Job] = {}
        #: jobs of older generations, still running; their results will be discarded
        self.stale: set[Job] = set()
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
        self.store_rejected_base = config.store.rejected if config.store is not None else 0
        self.in_use: dict[int, int] = {}
        #: what happened to each key's messages, for the whole run (`runtime.usage`)
        self.usage: dict[RuntimeCacheKey, KeyUsage] = {}
        #: names given to code hashes (`JitBackend.label`), used by the report
        self.labels: dict[bytes, str] = {}
        #: writes to the store that failed (a full disk...)
        self.store_failures = 0
        #: keys whose first lookup looked in the store (once per key; again after an eviction)
        self.probed: set[RuntimeCacheKey] = set()
        #: side exits of region programs taken, per (key, pc) (docs/regions.md)
        self.side_exits: dict[tuple[RuntimeCacheKey, int], int] = {}
        self.side_exit_total = 0  # all of them (the table above is bounded)
        #: the store is a cache (bounded): its first-tier programs tier up like JIT ones
        self.tier_stored = getattr(config.store, "max_bytes", None) is not None
        #: live JitBackend handles (copies included); the last one to go shuts the backend down
        self.handles = 0
        self.pool: CompilerPool | None = None
        #: compiles small regions in this process (no worker start-up to wait for; made on
        #: first use when `pool` is a process pool; docs/regions.md)
        self.local_pool: CompilerPool | None = None
        #: the process's linker is being built ahead of the first link (runtime/jobs.py)
        self.linker_prepared = False
        #: keys promoted with regions on whose learning run is awaited, with the time after
        #: which their first region is compiled without it (runtime/jobs.py)
        self.learning: dict[RuntimeCacheKey, tuple[LookupRequest, ProgramKind, float]] = {}
        self.thread: threading.Thread | None = None
        self.identity: EngineIdentity | None = None
        self.compiler = config.compiler or default_compiler
        linker = config.linker or default_linker
        self.linker = checked_linker(linker) if config.debug_assertions else linker

    @property
    def usable(self) -> bool:
        return self.started and not self.closed


def insert(inner: BackendState, program: CompiledProgram) -> None:
    """Make a program resident and evict down to the budget. Caller holds the lock."""
    key = program.key
    resident = inner.resident
    old = resident.pop(key, None)
    if old is not None:
        inner.resident_bytes -= old.size
    entry = ResidentEntry(
        program, monotonic(), inner.tuning, inner.tier_stored, usage_of(inner, key)
    )
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
            remember_stored(inner, victim_key, victim)


def sweep_idle(inner: BackendState, now: float) -> None:
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
            remember_stored(inner, key, entry)


def remember_stored(inner: BackendState, key: RuntimeCacheKey, entry: ResidentEntry) -> None:
    """An evicted program may still be in the store: its next lookup looks there again
    (without this, a store-only run would interpret it for good). Caller holds the lock."""
    if inner.config.store is not None:
        inner.probed.discard(key)


def code_size(native: NativeProgram, object_bytes: bytes) -> int:
    """Bytes of machine code a linked program holds (the object's size when the linker does
    not say)."""
    return native.code_size if native.code_size > 0 else len(object_bytes)


def describe_key(key: RuntimeCacheKey) -> str:
    return f"{key.fork}/{key.code_hash.hex()[:16]}"
