"""Per-opcode facts (stack effect, immediates, how the JIT runs it) and per-fork tables taken
from py-evm: which opcodes exist in a fork and what they cost.

py-evm is the oracle: the opcode set and static gas of a fork are read from that fork's
`Computation.opcodes`; dynamic gas constants from `eth.constants` and the opcodes' own
configuration (e.g. EXP's per-byte cost is a curried keyword of its logic function).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any

from eth import constants as eth_constants


class Kind(enum.Enum):
    """How the compiled program executes an opcode."""

    NATIVE = "native"  # fully in native code
    ENV = "env"  # a per-message constant read from the context's environment words
    HOST = "host"  # native code suspends; py-evm's own opcode runs; native code resumes
    CONTROL = "control"  # ends a block: jumps and halts, handled natively


@dataclass(frozen=True)
class OpInfo:
    name: str
    inputs: int
    outputs: int
    kind: Kind
    immediate: int = 0


def _table() -> dict[int, OpInfo]:
    t: dict[int, OpInfo] = {}

    def add(code: int, name: str, ins: int, outs: int, kind: Kind = Kind.NATIVE) -> None:
        t[code] = OpInfo(name, ins, outs, kind)

    N, E, H, C = Kind.NATIVE, Kind.ENV, Kind.HOST, Kind.CONTROL
    add(0x00, "STOP", 0, 0, C)
    for code, name, ins in (
        (0x01, "ADD", 2), (0x02, "MUL", 2), (0x03, "SUB", 2), (0x04, "DIV", 2),
        (0x05, "SDIV", 2), (0x06, "MOD", 2), (0x07, "SMOD", 2), (0x08, "ADDMOD", 3),
        (0x09, "MULMOD", 3), (0x0A, "EXP", 2), (0x0B, "SIGNEXTEND", 2),
        (0x10, "LT", 2), (0x11, "GT", 2), (0x12, "SLT", 2), (0x13, "SGT", 2),
        (0x14, "EQ", 2), (0x15, "ISZERO", 1), (0x16, "AND", 2), (0x17, "OR", 2),
        (0x18, "XOR", 2), (0x19, "NOT", 1), (0x1A, "BYTE", 2), (0x1B, "SHL", 2),
        (0x1C, "SHR", 2), (0x1D, "SAR", 2), (0x20, "SHA3", 2),
    ):  # fmt: skip
        add(code, name, ins, 1, N)
    add(0x30, "ADDRESS", 0, 1, E)
    add(0x31, "BALANCE", 1, 1, H)
    add(0x32, "ORIGIN", 0, 1, E)
    add(0x33, "CALLER", 0, 1, E)
    add(0x34, "CALLVALUE", 0, 1, E)
    add(0x35, "CALLDATALOAD", 1, 1, N)
    add(0x36, "CALLDATASIZE", 0, 1, N)
    add(0x37, "CALLDATACOPY", 3, 0, N)
    add(0x38, "CODESIZE", 0, 1, N)
    add(0x39, "CODECOPY", 3, 0, N)
    add(0x3A, "GASPRICE", 0, 1, E)
    add(0x3B, "EXTCODESIZE", 1, 1, H)
    add(0x3C, "EXTCODECOPY", 4, 0, H)
    add(0x3D, "RETURNDATASIZE", 0, 1, N)
    add(0x3E, "RETURNDATACOPY", 3, 0, N)
    add(0x3F, "EXTCODEHASH", 1, 1, H)
    add(0x40, "BLOCKHASH", 1, 1, H)
    add(0x41, "COINBASE", 0, 1, E)
    add(0x42, "TIMESTAMP", 0, 1, E)
    add(0x43, "NUMBER", 0, 1, E)
    add(0x44, "PREVRANDAO", 0, 1, E)
    add(0x45, "GASLIMIT", 0, 1, E)
    add(0x46, "CHAINID", 0, 1, E)
    add(0x47, "SELFBALANCE", 0, 1, H)
    add(0x48, "BASEFEE", 0, 1, E)
    add(0x49, "BLOBHASH", 1, 1, H)
    add(0x4A, "BLOBBASEFEE", 0, 1, E)
    add(0x50, "POP", 1, 0, N)
    add(0x51, "MLOAD", 1, 1, N)
    add(0x52, "MSTORE", 2, 0, N)
    add(0x53, "MSTORE8", 2, 0, N)
    add(0x54, "SLOAD", 1, 1, H)
    add(0x55, "SSTORE", 2, 0, H)
    add(0x56, "JUMP", 1, 0, C)
    add(0x57, "JUMPI", 2, 0, C)
    add(0x58, "PC", 0, 1, N)
    add(0x59, "MSIZE", 0, 1, N)
    add(0x5A, "GAS", 0, 1, N)
    add(0x5B, "JUMPDEST", 0, 0, N)
    add(0x5C, "TLOAD", 1, 1, H)
    add(0x5D, "TSTORE", 2, 0, H)
    add(0x5E, "MCOPY", 3, 0, N)
    add(0x5F, "PUSH0", 0, 1, N)
    for n in range(1, 33):
        t[0x5F + n] = OpInfo(f"PUSH{n}", 0, 1, N, immediate=n)
    for n in range(1, 17):
        t[0x7F + n] = OpInfo(f"DUP{n}", n, n + 1, N)
        t[0x8F + n] = OpInfo(f"SWAP{n}", n + 1, n + 1, N)
    for n in range(5):
        add(0xA0 + n, f"LOG{n}", 2 + n, 0, H)
    add(0xF0, "CREATE", 3, 1, H)
    add(0xF1, "CALL", 7, 1, H)
    add(0xF2, "CALLCODE", 7, 1, H)
    add(0xF3, "RETURN", 2, 0, C)
    add(0xF4, "DELEGATECALL", 6, 1, H)
    add(0xF5, "CREATE2", 4, 1, H)
    add(0xFA, "STATICCALL", 6, 1, H)
    add(0xFD, "REVERT", 2, 0, C)
    add(0xFE, "INVALID", 0, 0, C)
    add(0xFF, "SELFDESTRUCT", 1, 0, H)
    return t


OPCODES: dict[int, OpInfo] = _table()

# Environment opcodes get one 32-byte slot each in the context's environment area.
ENV_OPCODES: tuple[int, ...] = tuple(sorted(op for op, i in OPCODES.items() if i.kind is Kind.ENV))
ENV_SLOT: dict[int, int] = {op: slot for slot, op in enumerate(ENV_OPCODES)}

STOP, JUMP, JUMPI, JUMPDEST = 0x00, 0x56, 0x57, 0x5B
RETURN, REVERT, INVALID, SELFDESTRUCT = 0xF3, 0xFD, 0xFE, 0xFF
SLOAD, SSTORE = 0x54, 0x55
PUSH0, PUSH1, PUSH32 = 0x5F, 0x60, 0x7F


@dataclass(frozen=True)
class GasSchedule:
    """Dynamic gas constants (from eth.constants and the fork's opcode configuration)."""

    memory: int
    memory_quad_denominator: int
    copy_word: int
    sha3_word: int
    exp_byte: int


@dataclass(frozen=True)
class ForkSpec:
    """What the code generator needs to know about one fork."""

    name: str
    static_gas: dict[int, int]  # opcode -> gas charged before its logic runs (valid opcodes only)
    gas: GasSchedule
    # Gas of an SLOAD of a slot this frame already read or wrote (warm, value known), when
    # py-evm's SLOAD logic for the fork is one we know; None disables the native SLOAD cache.
    sload_hit_cost: int | None = None

    def is_valid(self, opcode: int) -> bool:
        return opcode in self.static_gas


def _opcode_gas_cost(opcode_fn: Any) -> int:
    fn = getattr(opcode_fn, "__wrapped__", opcode_fn)
    return int(fn.gas_cost)


def _exp_byte_cost(exp_opcode: Any) -> int:
    keywords = getattr(exp_opcode.logic_fn, "keywords", None) or {}
    if "gas_per_byte" not in keywords:
        raise LookupError("cannot read EXP's per-byte gas from py-evm's opcode table")
    return int(keywords["gas_per_byte"])


def vm_classes() -> dict[str, type]:
    """py-evm's fork VM classes by their `fork` name, oldest first."""
    from eth.vm import forks

    classes = [
        forks.FrontierVM, forks.HomesteadVM, forks.TangerineWhistleVM,
        forks.SpuriousDragonVM, forks.ByzantiumVM, forks.ConstantinopleVM,
        forks.PetersburgVM, forks.IstanbulVM, forks.MuirGlacierVM, forks.BerlinVM,
        forks.LondonVM, forks.ArrowGlacierVM, forks.GrayGlacierVM, forks.ParisVM,
        forks.ShanghaiVM, forks.CancunVM, forks.PragueVM,
    ]  # fmt: skip
    return {cls.fork: cls for cls in classes}


@functools.cache
def fork_spec(fork: str) -> ForkSpec:
    classes = vm_classes()
    if fork not in classes:
        raise KeyError(f"unknown fork {fork!r}; known: {', '.join(classes)}")
    computation_class = classes[fork]._state_class.computation_class  # type: ignore[attr-defined]
    return spec_from_opcodes(fork, computation_class.opcodes)


def opcode_table_differences(fork: str, opcodes: dict[int, Any]) -> list[str]:
    """How a VM's opcode table departs from py-evm's table for `fork` in ways compiled code
    would not honour (empty when programs compiled for `fork` are exact for it).

    Host and environment opcodes run the VM's own logic, so a replaced one is fine as long as
    its static gas is the same; a replaced native or control opcode, an added or removed one,
    or a replaced SLOAD (the native SLOAD cache assumes py-evm's logic) is not."""
    classes = vm_classes()
    if fork not in classes:
        return [f"no py-evm fork named {fork!r}"]
    stock = classes[fork]._state_class.computation_class.opcodes  # type: ignore[attr-defined]
    differences = []
    for op in sorted(set(stock) | set(opcodes)):
        mine, theirs = opcodes.get(op), stock.get(op)
        if mine is theirs:
            continue
        name = OPCODES[op].name if op in OPCODES else f"0x{op:02x}"
        if mine is None or theirs is None:
            differences.append(f"{name} {'removed' if mine is None else 'added'}")
            continue
        info = OPCODES.get(op)
        runs_own_logic = info is not None and info.kind in (Kind.HOST, Kind.ENV) and op != 0x54
        if runs_own_logic and _opcode_gas_cost(mine) == _opcode_gas_cost(theirs):
            continue
        differences.append(f"{name} replaced")
    return differences


def spec_from_opcodes(fork: str, opcodes: dict[int, Any]) -> ForkSpec:
    static_gas = {op: _opcode_gas_cost(fn) for op, fn in opcodes.items()}
    gas = GasSchedule(
        memory=eth_constants.GAS_MEMORY,
        memory_quad_denominator=eth_constants.GAS_MEMORY_QUADRATIC_DENOMINATOR,
        copy_word=eth_constants.GAS_COPY,
        sha3_word=eth_constants.GAS_SHA3WORD,
        exp_byte=_exp_byte_cost(opcodes[0x0A]),
    )
    return ForkSpec(fork, static_gas, gas, _sload_hit_cost(opcodes))


def _sload_hit_cost(opcodes: dict[int, Any]) -> int | None:
    """What py-evm charges for an SLOAD of a slot already accessed in this frame.

    Frontier..Istanbul: the table's static cost only. Berlin on (EIP-2929): the table cost plus
    the warm read cost. Any other SLOAD logic (a user's override): unknown, so no cache.
    """
    from eth.vm.forks.berlin import constants as berlin_constants
    from eth.vm.forks.berlin import logic as berlin_logic
    from eth.vm.logic import storage

    sload = opcodes.get(0x54)
    logic = getattr(sload, "logic_fn", None)
    if logic is storage.sload:
        return _opcode_gas_cost(sload)
    if logic is berlin_logic.sload_eip2929:
        return _opcode_gas_cost(sload) + int(berlin_constants.WARM_STORAGE_READ_COST)
    return None
