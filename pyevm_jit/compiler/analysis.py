"""Bytecode analysis: instructions, valid jump destinations and basic blocks.

A block is a straight run of instructions that the compiled code enters only at its head. Its
static gas and stack requirements are checked once there. Blocks start at offset 0, at every
JUMPDEST and after every instruction that branches or suspends (JUMPI's fall-through, host
operations); they end before the next such start or at a terminator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyevm_jit.opcodes import (
    JUMP,
    JUMPDEST,
    OPCODES,
    PUSH1,
    PUSH32,
    SELFDESTRUCT,
    ForkSpec,
    Kind,
    opcodes_where,
)

# Opcodes after which execution never falls through to the next instruction (SELFDESTRUCT
# only where the fork has it: an invalid opcode fails when reached either way).
TERMINATORS = opcodes_where(halts=True) - {SELFDESTRUCT} | {JUMP}


@dataclass(frozen=True)
class Instruction:
    pc: int
    opcode: int
    immediate: int = 0  # PUSH value (right-padded with zeros when truncated by the code's end)
    size: int = 1  # bytes including the immediate


@dataclass
class Block:
    start_pc: int
    instructions: list[Instruction] = field(default_factory=list)
    static_gas: int = 0  # gas of the instructions run natively, charged at the head
    min_stack: int = 0  # items the block needs on entry
    max_growth: int = 0  # highest stack growth above the entry height within the block
    # set when the block ends in an instruction that falls through into the next block
    falls_through: bool = True

    @property
    def last(self) -> Instruction:
        return self.instructions[-1]


def decode(code: bytes) -> list[Instruction]:
    instructions = []
    pc = 0
    n = len(code)
    while pc < n:
        op = code[pc]
        if PUSH1 <= op <= PUSH32:
            width = op - PUSH1 + 1
            data = code[pc + 1 : pc + 1 + width]
            value = int.from_bytes(data.ljust(width, b"\x00"), "big")
            instructions.append(Instruction(pc, op, value, 1 + width))
            pc += 1 + width
        else:
            instructions.append(Instruction(pc, op))
            pc += 1
    return instructions


def jump_destinations(instructions: list[Instruction]) -> frozenset[int]:
    """Offsets of JUMPDEST instructions (never bytes inside PUSH data)."""
    return frozenset(i.pc for i in instructions if i.opcode == JUMPDEST)


def _ends_block(instr: Instruction, spec: ForkSpec) -> bool:
    if not spec.is_valid(instr.opcode):
        return True  # invalid in this fork: fails when reached
    kind = spec.kind(instr.opcode)
    if kind is None:
        return True
    return kind in (Kind.CONTROL, Kind.HOST)


def native_kind(opcode: int, spec: ForkSpec) -> Kind | None:
    """How the program runs `opcode` in this fork, or None when it is invalid there."""
    if not spec.is_valid(opcode):
        return None
    return spec.kind(opcode)


def build_blocks(code: bytes, spec: ForkSpec) -> list[Block]:
    instructions = decode(code)
    blocks: list[Block] = []
    current: Block | None = None
    for instr in instructions:
        if current is None or instr.opcode == JUMPDEST:
            if current is not None and current.instructions:
                blocks.append(current)
            current = Block(instr.pc)
        current.instructions.append(instr)
        if _ends_block(instr, spec):
            blocks.append(current)
            current = None
    if current is not None and current.instructions:
        blocks.append(current)
    for block in blocks:
        _summarise(block, spec)
    return blocks


def _summarise(block: Block, spec: ForkSpec) -> None:
    """Static gas and stack bounds of the natively run part of a block."""
    height = 0
    lowest = 0
    highest = 0
    gas = 0
    for instr in block.instructions:
        kind = native_kind(instr.opcode, spec)
        if kind is None or kind is Kind.HOST:
            # Host operations charge their own gas inside py-evm and check their own stack;
            # invalid opcodes fail with no gas charged.
            break
        info = OPCODES[instr.opcode]
        gas += spec.static_gas[instr.opcode]
        height -= info.inputs
        lowest = min(lowest, height)
        height += info.outputs
        highest = max(highest, height)
    block.static_gas = gas
    block.min_stack = -lowest
    block.max_growth = highest
    last = block.last.opcode
    block.falls_through = not (
        last in TERMINATORS
        or (last == SELFDESTRUCT and spec.is_valid(last))
        or not spec.is_valid(last)
        or last not in OPCODES
    )
