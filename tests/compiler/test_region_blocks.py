"""Regions in the compiler (compiler/regions.py, docs/regions.md): the blocks a recorded run
covers, and region programs that make a side-exit block only where something leads out of
the region, with one exit shared by every dynamic jump that leaves it."""

from __future__ import annotations

import re

from pyevm_jit.compiler.analysis import build_blocks
from pyevm_jit.compiler.codegen import translate
from pyevm_jit.compiler.regions import close_region, first_region, ran, random_region
from pyevm_jit.opcodes import fork_spec
from pyevm_jit.testing.assembler import Label, Ref, asm

FORK = "cancun"


def _dispatch(count: int) -> bytes:
    """A selector dispatch over `count` functions; function i returns i through an internal
    return (a dynamic jump)."""
    items: list[object] = [0, "CALLDATALOAD", 0xE0, "SHR"]
    for i in range(count):
        items += ["DUP1", i, "EQ", Ref(f"f{i}"), "JUMPI"]
    items += [0, "DUP1", "REVERT"]
    items += [Label("ret"), "JUMPDEST", 0, "MSTORE", 0x20, 0, "RETURN"]
    for i in range(count):
        items += [Label(f"f{i}"), "POP", i, Ref("ret"), "JUMP"]
    return asm(*items)


def _starts(code: bytes) -> list[int]:
    return [blk.start_pc for blk in build_blocks(code, fork_spec(FORK))]


def test_ran_follows_fall_through_but_not_past_a_jump() -> None:
    code = _dispatch(4)
    blocks = build_blocks(code, fork_spec(FORK))
    # a run that started at pc 0 and whose first JUMPI was not taken (continued after it)
    first_jumpi_end = next(blk for blk in blocks if blk.instructions[-1].opcode == 0x57)
    after = first_jumpi_end.instructions[-1].pc + 1
    region = ran(code, FORK, [0, after])
    assert 0 in region and after in region
    # the block after `after`'s block is only in it if `after`'s block falls into it
    # without a jump: the second dispatch entry ends in a JUMPI, so the third is not in it
    third = sorted(s for s in _starts(code) if s > after)[0]
    assert third not in region
    # a pc inside a block stands for its block
    assert ran(code, FORK, [1]) == ran(code, FORK, [0])


def test_random_region_holds_pc_0_and_depends_on_the_seed() -> None:
    code = _dispatch(40)
    one, two = random_region(code, FORK, 1), random_region(code, FORK, 2)
    assert 0 in one and 0 in two
    assert one == random_region(code, FORK, 1), "deterministic for a seed"
    assert one != two
    assert 0 < len(one) < len(_starts(code))


def test_side_exit_blocks_are_made_only_where_code_leaves_the_region() -> None:
    code = _dispatch(60)
    starts = _starts(code)
    region = close_region(build_blocks(code, fork_spec(FORK)), first_region(code, FORK, 4))
    ir = translate(code, FORK, "entry", region)
    exits = set(map(int, re.findall(r"^side_exit(\d+):", ir, re.MULTILINE)))
    assert exits, "the region leads out of itself"
    assert exits.isdisjoint(region)
    assert len(exits) < (len(starts) - len(region)) / 4, "not one per block outside"
    assert "jump_side_exit:" in ir, "one shared exit for dynamic jumps out of the region"
    whole = translate(code, FORK, "entry")
    assert "side_exit" not in whole and "jump_side_exit" not in whole
    assert len(ir) < len(whole) / 3
