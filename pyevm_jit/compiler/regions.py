"""Regions: the part of a contract a program compiles (docs/regions.md).

A region is a set of block start pcs. Blocks outside it are compiled as a *side exit*: the
program leaves with `Status.FALLBACK` at the block's start, where stack, memory and gas are
exact, and py-evm's interpreter runs the rest of the message. A region is made of the blocks
that ran (`ran`: the pcs a learning interpreter recorded, evm/run.py) or grown from seeds by
following what the code says statically: a block's fall-through and a jump whose target is the
constant pushed just before it (the usual `PUSH2 dest JUMP(I)`), breadth first, up to a budget
of blocks (`grow`).
"""

from __future__ import annotations

import bisect
import hashlib
import random
import threading
from collections import deque
from collections.abc import Iterable

from pyevm_jit.compiler.analysis import Block, build_blocks, jump_destinations
from pyevm_jit.opcodes import JUMP, JUMPDEST, JUMPI, PUSH1, PUSH32, ForkSpec, fork_spec


def _successors(blocks: list[Block], index: int, jumpdests: frozenset[int]) -> list[int]:
    """Block indices a block reaches statically: constant jump targets first, then fall-through."""
    block = blocks[index]
    out: list[int] = []
    instrs = block.instructions
    if instrs and instrs[-1].opcode in (JUMP, JUMPI) and len(instrs) >= 2:
        push = instrs[-2]
        if PUSH1 <= push.opcode <= PUSH32 and push.immediate in jumpdests:
            out.append(push.immediate)
    if block.falls_through and index + 1 < len(blocks):
        out.append(blocks[index + 1].start_pc)
    return out


def close_region(blocks: list[Block], region: Iterable[int]) -> frozenset[int]:
    """`region` (pcs that start blocks; others ignored) plus the block after every lone
    JUMPDEST in it that falls through (the code generator enters such chains as one)."""
    starts = {blk.start_pc for blk in blocks}
    out = {pc for pc in region if pc in starts}
    for blk, nxt in zip(blocks, blocks[1:], strict=False):
        if (
            blk.start_pc in out
            and blk.falls_through
            and len(blk.instructions) == 1
            and blk.instructions[0].opcode == JUMPDEST
        ):
            out.add(nxt.start_pc)
    return frozenset(out)


_Analysis = tuple[list[Block], dict[int, int], frozenset[int]]
#: (code, fork spec's id) -> (spec, analysis): the few codes whose regions grow at a time
_analyses: dict[tuple[bytes, int], tuple[ForkSpec, _Analysis]] = {}
_ANALYSES_KEPT = 8
_analyses_lock = threading.Lock()


def analysis(code: bytes, spec: ForkSpec) -> _Analysis:
    """(blocks, start pc -> index, JUMPDESTs) of a code (kept for the last few codes: the
    runtime finds a region and the code generator compiles it from one analysis). The blocks
    are shared: nothing may change them."""
    cache_key = (code, id(spec))
    with _analyses_lock:
        hit = _analyses.get(cache_key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    blocks = build_blocks(code, spec)
    index = {blk.start_pc: n for n, blk in enumerate(blocks)}
    found = (blocks, index, jump_destinations([i for blk in blocks for i in blk.instructions]))
    with _analyses_lock:
        if len(_analyses) >= _ANALYSES_KEPT:
            _analyses.pop(next(iter(_analyses)))
        _analyses[cache_key] = (spec, found)
    return found


def _spec(spec: ForkSpec | str) -> ForkSpec:
    return fork_spec(spec) if isinstance(spec, str) else spec


def ran(
    code: bytes, spec: ForkSpec | str, pcs: Iterable[int], region: Iterable[int] = ()
) -> frozenset[int]:
    """`region` plus the blocks that ran, from `pcs`: where a run started and where every JUMP
    and JUMPI it ran continued (what `run_interpreter_learning` records). A block that ran is
    followed into the next one unless it ends in a jump (a JUMPI not taken was recorded)."""
    blocks, index, _ = analysis(code, _spec(spec))
    starts = [blk.start_pc for blk in blocks]
    have = set(region)
    for pc in pcs:
        n = bisect.bisect_right(starts, pc) - 1
        while 0 <= n < len(blocks) and starts[n] not in have:
            blk = blocks[n]
            have.add(blk.start_pc)
            last = blk.instructions[-1].opcode if blk.instructions else None
            if not blk.falls_through or last in (JUMP, JUMPI):
                break
            n += 1
    return close_region(blocks, have)


def random_region(code: bytes, spec: ForkSpec | str, seed: int) -> frozenset[int]:
    """About half of the blocks, drawn with `seed` and the code (the fuzzer's side exits at
    random places); pc 0 is in it, so every message enters native code."""
    blocks, _, _ = analysis(code, _spec(spec))
    rng = random.Random(hashlib.sha256(seed.to_bytes(8, "big") + code).digest())
    chosen = {blk.start_pc for blk in blocks if rng.random() < 0.5}
    chosen.add(0)
    return close_region(blocks, chosen)


def grow(
    code: bytes, spec: ForkSpec | str, seeds: Iterable[int], budget: int,
    region: Iterable[int] = (),
) -> frozenset[int]:  # fmt: skip
    """`region` plus the blocks reached statically from `seeds`, at most `budget` new blocks."""
    blocks, index, jumpdests = analysis(code, _spec(spec))
    have = set(region)
    added = 0
    todo = deque(pc for pc in seeds if pc in index)
    while todo and added < budget:
        pc = todo.popleft()
        if pc in have:
            continue
        have.add(pc)
        added += 1
        todo.extend(_successors(blocks, index[pc], jumpdests))
    return close_region(blocks, have)


def first_region(code: bytes, spec: ForkSpec | str, budget: int) -> frozenset[int]:
    """The first region of a contract: what pc 0 reaches statically within `budget` blocks."""
    return grow(code, spec, [0], budget)


def block_count(code: bytes, spec: ForkSpec | str) -> int:
    return len(analysis(code, _spec(spec))[0])


def region_digest(region: frozenset[int] | None) -> str:
    """A short name of what a program covers ("" for the whole contract)."""
    if region is None:
        return ""
    text = ",".join(map(str, sorted(region))).encode()
    return hashlib.sha256(text).hexdigest()[:16]
