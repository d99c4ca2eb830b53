"""The runtime's side of region compilation (docs/regions.md): which region a job compiles,
and the side-exit account of a region program, which learns what the interpreter runs after
a new side exit and asks the backend thread to grow the region with it."""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING

from pyevm_jit.compiler.regions import block_count, first_region, ran, random_region
from pyevm_jit.runtime.types import LookupRequest, RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.runtime.config import RuntimeTuning
    from pyevm_jit.runtime.state import BackendState

#: (key, pc) side-exit counters kept at most (the oldest half is dropped beyond)
_MAX_COUNTERS = 1 << 16
#: side exits a program learns from at most (one per pc); a region still leaving at more
#: places after that many growths is a contract whose calls keep spreading
_MAX_LEARNED = 64


def whole_or(
    code: bytes, fork: str, region: frozenset[int], tuning: RuntimeTuning
) -> frozenset[int] | None:
    """`region`, or None (the whole contract) once it covers `region_whole_share` of it."""
    if len(region) >= tuning.region_whole_share * block_count(code, fork):
        return None
    return region


def enabled(tuning: RuntimeTuning) -> bool:
    return tuning.region_blocks > 0


def first(
    code: bytes, fork: str, tuning: RuntimeTuning, learned: frozenset[int] | None = None
) -> frozenset[int] | None:
    """The region of a contract's first JIT program (None: compile it whole): the blocks a
    learning run ran (`learned`), else a random half (`region_random`, the fuzzer's), else
    what pc 0 reaches statically within `region_blocks` blocks."""
    if not enabled(tuning):
        return None
    if tuning.region_random:
        region = random_region(code, fork, tuning.region_random)
    elif learned:
        region = ran(code, fork, learned)
    else:
        region = first_region(code, fork, tuning.region_blocks)
    return whole_or(code, fork, region, tuning)


def grown(
    code: bytes, fork: str, region: frozenset[int], learned: frozenset[int]
) -> frozenset[int]:
    """`region` with the blocks a learning run after a side exit ran."""
    return ran(code, fork, learned, region)


def forced_environment(seed: int = 1) -> dict[str, str]:
    """The environment under which every JIT program of a process (and of its children) is a
    region, in blocking mode too, never the whole contract: a random half of the blocks drawn
    with `seed` and the code, the rest side exits (conformance runs and the fuzzer)."""
    from pyevm_jit.runtime.config import ENV_PREFIX

    values = {"region_blocks": "16", "region_blocking": "1", "region_whole_share": "2",
              "region_random": str(seed)}  # fmt: skip
    return {ENV_PREFIX + name.upper(): value for name, value in values.items()}


class SideExitAccount:
    """What a region program calls at each FALLBACK exit (a FALLBACK inside the region is a
    failed head check, not a side exit, and is not counted). The first exit at a pc outside
    the region has the interpreter record what it runs (`exit` returns the set to fill), and
    `ran` asks the backend thread to grow the region with it. A program that must not grow
    learns nothing: one preloaded from a store before its code was seen (`code` None), or one
    of a backend that compiles nothing while it runs (`promote_hot` off: an AOT run)."""

    __slots__ = ("_inner", "_key", "_region", "_req", "_asked")

    def __init__(
        self,
        inner: BackendState,
        key: RuntimeCacheKey,
        code: bytes | None,
        region: frozenset[int],
    ) -> None:
        self._inner = inner
        self._key = key
        self._region = region
        grows = code is not None and inner.config.promote_hot
        self._req = LookupRequest(key, code) if grows and code is not None else None
        self._asked: set[int] = set()  # pcs learned from

    def exit(self, pc: int) -> set[int] | None:
        if pc in self._region:
            return None
        self._inner.side_exit_total += 1
        counts = self._inner.side_exits
        counts[(self._key, pc)] = counts.get((self._key, pc), 0) + 1
        if len(counts) > _MAX_COUNTERS:
            for old in list(counts)[: _MAX_COUNTERS // 2]:
                counts.pop(old, None)
        asked = self._asked
        if pc in asked or len(asked) >= _MAX_LEARNED or self._req is None:
            return None
        asked.add(pc)
        return set()

    def ran(self, pcs: set[int]) -> None:
        inner = self._inner
        if self._req is None:
            return
        try:
            inner.commands.put_nowait(("grow", self._req, frozenset(pcs)))
        except queue.Full:
            inner.commands_dropped += 1
            self._asked.difference_update(pcs)  # learn again at the next exit there


__all__ = ["SideExitAccount", "enabled", "first", "forced_environment", "grown", "whole_or"]
