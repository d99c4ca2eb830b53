"""The runtime's side of region compilation (docs/regions.md): which region a job compiles,
and the side-exit counter of a region program, which asks the backend thread to grow the
region when a side exit keeps being taken."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyevm_jit.compiler.regions import block_count, first_region, grow
from pyevm_jit.runtime.types import LookupRequest, RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.runtime.config import RuntimeTuning
    from pyevm_jit.runtime.state import BackendState

#: (key, pc) side-exit counters kept at most (the oldest half is dropped beyond)
_MAX_COUNTERS = 1 << 16


def whole_or(
    code: bytes, fork: str, region: frozenset[int], tuning: RuntimeTuning
) -> frozenset[int] | None:
    """`region`, or None (the whole contract) once it covers `region_whole_share` of it."""
    if len(region) >= tuning.region_whole_share * block_count(code, fork):
        return None
    return region


def first(code: bytes, fork: str, tuning: RuntimeTuning) -> frozenset[int] | None:
    """The region of a contract's first JIT program (None: compile it whole)."""
    if tuning.region_blocks <= 0:
        return None
    return whole_or(code, fork, first_region(code, fork, tuning.region_blocks), tuning)


def side_exit_counter(
    inner: BackendState, key: RuntimeCacheKey, code: bytes, region: frozenset[int]
) -> Callable[[int], None]:
    """What a region program calls at each FALLBACK exit (a FALLBACK inside the region is a
    failed head check, not a side exit, and is not counted). Every `region_grow_after`-th exit
    at one pc asks the backend thread to grow the region from there."""
    counts = inner.side_exits
    every = max(1, inner.tuning.region_grow_after)
    req = LookupRequest(key, code)

    def side_exit(pc: int) -> None:
        if pc in region:
            return
        n = counts.get((key, pc), 0) + 1
        counts[(key, pc)] = n
        if len(counts) > _MAX_COUNTERS:
            for old in list(counts)[: _MAX_COUNTERS // 2]:
                counts.pop(old, None)
        if n % every == 0:
            try:
                inner.commands.put_nowait(("grow", req, pc))
            except queue.Full:
                inner.commands_dropped += 1

    return side_exit


__all__ = ["first", "grow", "side_exit_counter", "whole_or"]
