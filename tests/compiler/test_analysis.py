"""Bytecode analysis: decoding, jump destinations, blocks and their prepaid summaries."""

from __future__ import annotations

from pyevm_jit.compiler.analysis import build_blocks, decode, jump_destinations
from pyevm_jit.opcodes import fork_spec


def test_truncated_push_is_right_padded_with_zeros() -> None:
    (instr,) = decode(bytes.fromhex("62aabb"))  # PUSH3 with two of its three bytes
    assert instr.immediate == 0xAABB00
    assert instr.size == 4


def test_jumpdest_inside_push_data_is_not_a_destination() -> None:
    code = bytes.fromhex("615b5b5b")  # PUSH2 0x5b5b, JUMPDEST
    assert jump_destinations(decode(code)) == frozenset({3})


def test_blocks_start_at_jumpdests_and_after_host_operations() -> None:
    # PUSH1 0 SLOAD PUSH1 1 ADD JUMPDEST STOP
    code = bytes.fromhex("600054600101" + "5b00")
    blocks = build_blocks(code, fork_spec("cancun"))
    assert [b.start_pc for b in blocks] == [0, 3, 6]


def test_block_summary_excludes_host_operation_gas_and_stack() -> None:
    code = bytes.fromhex("6000600001" + "54")  # PUSH1 PUSH1 ADD SLOAD
    (block,) = build_blocks(code, fork_spec("cancun"))
    assert block.static_gas == 3 + 3 + 3
    assert block.min_stack == 0
    assert block.max_growth == 2


def test_block_needs_items_consumed_below_its_entry_height() -> None:
    code = bytes.fromhex("0101600100")  # ADD ADD PUSH1 STOP
    (block,) = build_blocks(code, fork_spec("cancun"))
    assert block.min_stack == 3
    assert block.max_growth == 0


def test_opcode_absent_from_the_fork_ends_the_block_without_gas() -> None:
    code = bytes.fromhex("60005f")  # PUSH1 0, PUSH0 (not in Berlin)
    (block,) = build_blocks(code, fork_spec("berlin"))
    assert block.static_gas == 3
    assert not block.falls_through
    (block,) = build_blocks(code, fork_spec("shanghai"))
    assert block.static_gas == 5
    assert block.falls_through


def test_static_gas_is_taken_from_the_forks_table() -> None:
    # BALANCE: 20 in Frontier, 400 from Tangerine Whistle, 0 in the table from Berlin on
    balance = [fork_spec(f).static_gas[0x31] for f in ("frontier", "tangerine-whistle", "berlin")]
    assert balance == [20, 400, 0]
    code = bytes.fromhex("600160010a00")  # EXP: 10 in Frontier and later
    (block,) = build_blocks(code, fork_spec("frontier"))
    assert block.static_gas == 3 + 3 + 10
