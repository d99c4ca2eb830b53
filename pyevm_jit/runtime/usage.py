"""Per-contract accounting: what the JIT did for each (code hash, fork).

One `KeyUsage` per key, kept by the backend for the whole run (clearing the resident map does
not clear it). The backend counts each message where it counts the process-wide statistics
(a native message in `lookup`, an interpreted one under its reason), so the per-key counts add
up to `stats()`; the computation adds the message's own seconds (children excluded) where it
runs it; the compilation pipeline adds compile seconds per tier and loads from the store.

Per message: one counter increment and one float addition on an object the resident entry
already holds; nothing per opcode.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyevm_jit.runtime.stats import counter_value, new_counter
from pyevm_jit.runtime.types import InterpretReason, RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.runtime.state import BackendState

#: compile tiers, as the report names them
TIER_JIT = "jit"
TIER_UP = "tier-up"
TIER_AOT = "aot"


class KeyUsage:
    """What happened to the messages of one key. Counters are lock-free (`next()`); the
    seconds are plain float additions (a lost update under threads only blurs an estimate)."""

    __slots__ = (
        "native",
        "native_seconds",
        "interpreted",
        "interpreted_seconds",
        "interpreted_timed",
        "compile_seconds",
        "cache_loads",
        "learn",
    )

    def __init__(self) -> None:
        self.native: itertools.count[int] = new_counter()
        self.native_seconds = 0.0
        self.interpreted = {reason: new_counter() for reason in InterpretReason}
        #: own seconds of the interpreted messages that were timed (those the JIT computation
        #: ran: a lookup that is not followed by a message, such as `get_compiled_tracked`,
        #: counts but is not timed)
        self.interpreted_seconds = 0.0
        self.interpreted_timed = 0
        self.compile_seconds: dict[str, float] = {}
        self.cache_loads = 0
        #: set by the backend when the key is promoted with regions on: the next interpreted
        #: message records the blocks it runs and hands them to it (docs/regions.md)
        self.learn: Callable[[set[int]], None] | None = None

    def add_interpreted_time(self, seconds: float) -> None:
        self.interpreted_seconds += seconds
        self.interpreted_timed += 1

    def counts(self) -> tuple[int, dict[str, int]]:
        """(native messages, interpreted messages by reason value)."""
        return counter_value(self.native), {
            reason.value: counter_value(counter) for reason, counter in self.interpreted.items()
        }


_create_lock = threading.Lock()
#: keys with a record of their own at most (memory stays bounded, about 0.6 kB a record); the
#: messages of keys seen after that are accounted together under `OTHERS`
MAX_KEYS = 1024
#: the key of the shared record (the report calls it "other contracts")
OTHERS = RuntimeCacheKey(b"", "*")


def usage_of(inner: BackendState, key: RuntimeCacheKey) -> KeyUsage:
    """The key's record, created on first use (the shared `OTHERS` one beyond `MAX_KEYS`)."""
    usage = inner.usage.get(key)
    if usage is None:
        with _create_lock:
            usage = inner.usage.get(key)
            if usage is None:
                if len(inner.usage) >= MAX_KEYS:
                    usage = inner.usage.get(OTHERS)
                    if usage is None:
                        usage = inner.usage[OTHERS] = KeyUsage()
                else:
                    usage = inner.usage[key] = KeyUsage()
    return usage


def count_miss(inner: BackendState, key: RuntimeCacheKey, reason: InterpretReason) -> None:
    """One message interpreted for `reason`: the process-wide counter and the key's."""
    next(inner.misses[reason])
    next(usage_of(inner, key).interpreted[reason])


def count_hit(inner: BackendState, key: RuntimeCacheKey) -> None:
    """One message served by native code outside the resident fast path."""
    next(inner.hits)
    next(usage_of(inner, key).native)


def add_compile_time(inner: BackendState, key: RuntimeCacheKey, tier: str, seconds: float) -> None:
    """Caller holds the backend's lock."""
    spent = usage_of(inner, key).compile_seconds
    spent[tier] = spent.get(tier, 0.0) + seconds


__all__ = [
    "TIER_AOT",
    "TIER_JIT",
    "TIER_UP",
    "MAX_KEYS",
    "OTHERS",
    "KeyUsage",
    "add_compile_time",
    "count_hit",
    "count_miss",
    "usage_of",
]
