"""Runtime statistics: lock-free counters for the hot path and the public snapshot."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyevm_jit.runtime.state import BackendState


def new_counter() -> itertools.count[int]:
    """A counter several threads may bump without a lock: `next(counter)`.

    `next()` on an `itertools.count` is a single C call, so concurrent increments are never
    lost (unlike `x += 1` on an attribute, which can interleave between load and store).
    """
    return itertools.count()


def counter_value(counter: itertools.count[int]) -> int:
    """The number of increments so far; reading never advances the counter."""
    return int(repr(counter)[6:-1])  # repr is "count(N)"


@dataclass(frozen=True)
class RuntimeStatsSnapshot:
    """A point-in-time copy of the runtime's statistics.

    Every lookup is either a hit (a compiled program was returned) or a miss counted under the
    reason that was returned, so `lookup_hits + lookup_misses` is the number of lookups.
    """

    enabled: bool = False
    lookup_hits: int = 0
    lookup_misses: int = 0
    #: InterpretReason.value ("Disabled", "Ineligible", "NotReady", "JitFailed") -> count
    misses_by_reason: dict[str, int] = field(default_factory=dict)
    events_dropped: int = 0
    commands_dropped: int = 0
    events_queued: int = 0
    commands_queued: int = 0
    resident_entries: int = 0
    #: bytes of object code linked for the resident programs
    resident_code_bytes: int = 0
    #: failures remembered (these keys answer JitFailed)
    failed_entries: int = 0
    pending_jobs: int = 0
    evictions: int = 0
    idle_evictions: int = 0
    compilations_dispatched: int = 0
    compilations_succeeded: int = 0
    compilations_failed: int = 0
    #: finished after a clear: thrown away instead of becoming resident
    compilations_discarded: int = 0
    #: hot programs recompiled at the tier-up level and swapped in
    tier_ups: int = 0
    #: total wall-clock seconds of finished compilations (dispatch to linked)
    compile_seconds: float = 0.0
    worker_crashes: int = 0
    worker_timeouts: int = 0
    aot_loaded: int = 0
    artifacts_stored: int = 0
    artifacts_rejected: int = 0
    #: artifacts a shared store (`RuntimeConfig.shared_store`) gave that were signed and valid
    shared_loaded: int = 0
    #: artifacts this process published to a shared store
    shared_published: int = 0
    programs_in_use: int = 0
    generation: int = 0
    #: side exits region programs took (docs/regions.md)
    side_exits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot(inner: BackendState) -> RuntimeStatsSnapshot:
    """The statistics of one backend now."""
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
            + (store.rejected - inner.store_rejected_base if store is not None else 0),
            shared_loaded=int(getattr(store, "shared_loaded", 0)),
            shared_published=int(getattr(store, "shared_published", 0)),
            programs_in_use=len(inner.in_use),
            side_exits=inner.side_exit_total,
            generation=inner.generation,
        )
