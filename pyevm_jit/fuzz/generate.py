"""Program generators, all driven by a `Source` of choices (so the same code serves the
fuzzer, with `random.Random`, and the hypothesis tests, with `HypothesisSource`):

- `generate_program`: stack-aware random bytecode for a fork: values pushed before the opcodes
  that need them, mostly-sane memory offsets and sizes, JUMPDESTs and jumps to them (and
  sometimes elsewhere), calls to the standard callee contracts, a random ending.
- `mutate`: mutations of contract code from the Ethereum state tests (byte flips, insertions,
  deletions, splices, edge-value immediates).
- `adversarial`: shapes that trip JITs: jumps into PUSH data, huge memory offsets, EXP/SHA3 with
  extreme sizes, nested CALL/CREATE with reverts, SSTORE near the 2300 stipend, truncated PUSH
  at the end, deep stacks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pyevm_jit.conformance.fixtures import ethereum_tests_dir
from pyevm_jit.files import load_json
from pyevm_jit.forks import valid_opcodes
from pyevm_jit.opcodes import BY_NAME as OP
from pyevm_jit.opcodes import JUMP, JUMPI, OPCODES, opcodes_where
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import (
    MAX_U256,
    U256,
    Label,
    Ref,
    asm,
    push,
    return_stack,
    store_stack,
)

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Stack effects and values


#: (inputs, outputs) of every opcode (from `opcodes.OPCODES`)
STACK_EFFECTS: dict[int, tuple[int, int]] = {
    op: (info.inputs, info.outputs) for op, info in OPCODES.items()
}

EDGE_VALUES: tuple[int, ...] = (
    0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 255, 256, 257,
    2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
    2**64 + 1, 2**127, 2**128 - 1, 2**128, 2**160 - 1, 2**192, 2**255 - 1, 2**255,
    2**255 + 1, 2**256 - 2, 2**256 - 1,
)  # fmt: skip

# Opcodes the generator emits with explicitly generated (mostly sane) arguments.
_MEMORY_ARGS = opcodes_where(memory=True)
_HALTS = opcodes_where(halts=True)
_JUMPS = {JUMP, JUMPI}
_STORAGE = opcodes_where(storage=True)
_CALLS = {OP[name] for name in ("CALL", "CALLCODE", "DELEGATECALL", "STATICCALL")}
_CREATES = {OP["CREATE"], OP["CREATE2"]}


class Source(Protocol):
    """Where a generator's choices come from."""

    def randint(self, lo: int, hi: int) -> int: ...


class RandomSource:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def randint(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class HypothesisSource:
    """Choices drawn from hypothesis (`st.data()`), so that it can shrink them."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def randint(self, lo: int, hi: int) -> int:
        from hypothesis import strategies as st

        return int(self.data.draw(st.integers(lo, hi)))


def choice(src: Source, items: Sequence[T]) -> T:
    return items[src.randint(0, len(items) - 1)]


def chance(src: Source, percent: int) -> bool:
    return src.randint(0, 99) < percent


def value(src: Source) -> int:
    """An interesting 256-bit value: an edge value, a small number, an address, or random."""
    kind = src.randint(0, 9)
    if kind <= 3:
        return choice(src, EDGE_VALUES)
    if kind <= 5:
        return src.randint(0, 64)
    if kind == 6:
        return int.from_bytes(choice(src, _ADDRESSES), "big")
    if kind == 7:
        v = choice(src, EDGE_VALUES)
        return (v + src.randint(-2, 2)) % U256
    if kind == 8:
        return src.randint(0, 2**64)
    return src.randint(0, MAX_U256)


_ADDRESSES: tuple[bytes, ...] = (
    *d.CALL_TARGETS,
    d.CONTRACT,
    d.SENDER,
    d.COINBASE,
    *(i.to_bytes(20, "big") for i in range(1, 11)),  # precompiles
    (0x100).to_bytes(20, "big"),  # P256VERIFY (Osaka, EIP-7951; an empty account before)
    bytes.fromhex("dead" * 10),  # nonexistent
)


def _offset(src: Source) -> int:
    """A memory offset: mostly small, sometimes near or beyond 2^32 / 2^64."""
    r = src.randint(0, 99)
    if r < 85:
        return src.randint(0, 200)
    if r < 93:
        return src.randint(0, 4096)
    return choice(src, (2**32 - 1, 2**32, 2**64 - 32, 2**64, 2**255, MAX_U256, 0xFFFFFF))


def _size(src: Source) -> int:
    r = src.randint(0, 99)
    if r < 20:
        return 0
    if r < 85:
        return src.randint(1, 96)
    if r < 94:
        return src.randint(97, 2048)
    return choice(src, (2**32, 2**64, MAX_U256, 0x100000))


# ---------------------------------------------------------------------------------------------
# Stack-aware random programs


@dataclass
class _Builder:
    src: Source
    fork: str
    ops: frozenset[int]
    out: bytearray = field(default_factory=bytearray)
    depth: int = 0
    jumpdests: list[int] = field(default_factory=list)
    refs: list[int] = field(default_factory=list)  # positions of PUSH2 immediates to patch

    def push(self, v: int) -> None:
        if v == 0 and OP["PUSH0"] in self.ops and chance(self.src, 50):
            self.out.append(OP["PUSH0"])
        else:
            size = max(1, (v.bit_length() + 7) // 8)
            if chance(self.src, 10):
                size = self.src.randint(size, 32)  # wider PUSHes than needed
            self.out += push(v, size)
        self.depth += 1

    def emit(self, op: int) -> None:
        ins, outs = STACK_EFFECTS.get(op, (0, 0))
        self.out.append(op)
        self.depth = max(0, self.depth - ins) + outs

    def args(self, *values: int) -> None:
        """Push arguments so that values[0] ends on top of the stack."""
        for v in reversed(values):
            self.push(v)


def _call_args(b: _Builder, op: int) -> None:
    src = b.src
    gas_kind = src.randint(0, 5)
    to = int.from_bytes(choice(src, _ADDRESSES), "big")
    value_arg = choice(src, (0, 0, 1, 10**6, MAX_U256))
    in_off, in_size, out_off, out_size = _offset(src), _size(src), _offset(src), _size(src)
    if chance(src, 70):
        in_size, out_size = min(in_size, 64), min(out_size, 64)
        in_off, out_off = min(in_off, 256), min(out_off, 256)
    tail = [in_off, in_size, out_off, out_size]
    if op in (OP["CALL"], OP["CALLCODE"]):
        tail = [value_arg, *tail]
    for v in reversed(tail):
        b.push(v)
    b.push(to)
    if gas_kind == 0:
        b.emit(OP["GAS"])
    else:
        b.push(choice(src, (0, 100, 2300, 2301, 5000, 30_000, 100_000, MAX_U256)))
    b.emit(op)


def _create_args(b: _Builder, op: int) -> None:
    src = b.src
    # an init code in memory: small programs that return code, revert, or run out of gas
    init = choice(
        src,
        (
            asm(0x60FE, 0, "MSTORE", 2, 30, "RETURN"),  # deploys 0x60fe
            asm(0, 0, "REVERT"),
            asm(0xEF, 0, "MSTORE8", 1, 0, "RETURN"),  # 0xEF prefix (rejected from London)
            asm(1, 0, "SSTORE", "STOP"),
            asm(Label("l"), Ref("l"), "JUMP"),
            b"",
        ),
    )
    word = int.from_bytes(init.ljust(32, b"\0")[:32], "big")
    b.args(word, 0)
    b.emit(OP["MSTORE"])  # at 0
    size = len(init) if chance(src, 85) else _size(src)
    value_arg = choice(src, (0, 0, 1, MAX_U256))
    if op == OP["CREATE2"]:
        b.args(value_arg, 0, size, value(src))
    else:
        b.args(value_arg, 0, size)
    b.emit(op)


def _memory_op(b: _Builder, op: int) -> None:
    src = b.src
    if op in _CALLS:
        _call_args(b, op)
        return
    if op in _CREATES:
        _create_args(b, op)
        return
    name = OPCODES[op].name
    if name == "MLOAD":
        b.args(_offset(b.src))
    elif name in ("MSTORE", "MSTORE8"):
        b.args(_offset(src), value(src))
    elif name in ("SHA3", "RETURN", "REVERT"):
        b.args(_offset(src), _size(src))
    elif name in ("CALLDATACOPY", "CODECOPY", "RETURNDATACOPY"):
        b.args(_offset(src), choice(src, (0, 1, 31, 32, 64, *EDGE_VALUES)), _size(src))
    elif name == "EXTCODECOPY":
        b.args(
            int.from_bytes(choice(src, _ADDRESSES), "big"),
            _offset(src),
            choice(src, (0, 1, 5, 2**64)),
            _size(src),
        )
    elif name == "MCOPY":  # dst src size
        b.args(_offset(src), _offset(src), _size(src))
    else:  # LOGn
        n = OPCODES[op].inputs - 2
        b.args(_offset(src), _size(src), *(value(src) for _ in range(n)))
    b.emit(op)


def _weights(ops: frozenset[int]) -> list[int]:
    pool: list[int] = []
    for op in sorted(ops):
        info = OPCODES.get(op)
        if op in _HALTS or op in _JUMPS or (info and info.immediate) or op == OP["JUMPDEST"]:
            continue
        weight = 1
        if op <= OP["SAR"] or OP["DUP1"] <= op <= OP["SWAP16"]:
            weight = 3
        pool += [op] * weight
    return pool


def generate_program(src: Source, fork: str, max_ops: int = 60) -> bytes:
    """Random stack-aware bytecode for `fork` (only opcodes that exist there, except for the
    occasional deliberately invalid byte)."""
    ops = valid_opcodes(fork)
    b = _Builder(src, fork, ops)
    pool = _weights(ops)
    n = src.randint(1, max_ops)
    for _ in range(n):
        r = src.randint(0, 99)
        if r < 22:
            b.push(value(src))
        elif r < 28:
            b.jumpdests.append(len(b.out))
            b.emit(OP["JUMPDEST"])
        elif r < 32:
            # jump to a label fixed up later (PUSH2 placeholder)
            if chance(src, 50):
                b.push(choice(src, (0, 1)) if chance(src, 50) else value(src))
                b.refs.append(len(b.out) + 1)
                b.out += b"\x61\x00\x00"
                b.depth += 1
                b.emit(JUMPI)
            else:
                b.refs.append(len(b.out) + 1)
                b.out += b"\x61\x00\x00"
                b.depth += 1
                b.emit(JUMP)
        elif r < 33:
            b.emit(src.randint(0, 255))  # any byte at all (invalid opcodes included)
        else:
            op = choice(src, pool)
            if op in _MEMORY_ARGS:
                _memory_op(b, op)
                continue
            need = STACK_EFFECTS.get(op, (0, 0))[0]
            underflow = chance(src, 1)
            while b.depth < need and not underflow:
                b.push(value(src))
            if op in _STORAGE and chance(src, 70):
                b.push(src.randint(0, 4))  # a small slot
            b.emit(op)
        if b.depth > 1000:
            b.emit(OP["POP"])
    _ending(b)
    _fix_jumps(b)
    return bytes(b.out)


def _ending(b: _Builder) -> None:
    src = b.src
    r = src.randint(0, 9)
    if r <= 2:
        # return up to 2 stack words
        k = min(b.depth, src.randint(0, 2))
        for i in range(k):
            b.args(i * 32)
            b.emit(OP["MSTORE"])
        b.args(0, 32 * k)
        b.out.append(OP["RETURN"])
    elif r == 3:
        b.args(0, src.randint(0, 64))
        b.out.append(OP["REVERT"])
    elif r == 4:
        b.out.append(OP["STOP"])
    elif r == 5:
        b.out.append(OP["INVALID"])
    elif r == 6 and OP["SELFDESTRUCT"] in b.ops:
        b.args(int.from_bytes(choice(src, _ADDRESSES), "big"))
        b.out.append(OP["SELFDESTRUCT"])
    elif r == 7:
        n = src.randint(1, 32)
        b.out.append(OP[f"PUSH{n}"])
        b.out += bytes(src.randint(0, 255) for _ in range(src.randint(0, n - 1)))  # truncated
    # else: run off the end (implicit STOP)


def _fix_jumps(b: _Builder) -> None:
    src = b.src
    for pos in b.refs:
        r = src.randint(0, 99)
        if b.jumpdests and r < 85:
            target = choice(src, b.jumpdests)
        elif r < 93:
            target = src.randint(0, max(0, len(b.out) - 1))  # anywhere (mostly invalid)
        else:
            target = choice(src, (len(b.out), 0xFFFF, pos))  # past the end, into PUSH data
        b.out[pos : pos + 2] = target.to_bytes(2, "big")


# ---------------------------------------------------------------------------------------------
# Adversarial shapes


def adversarial(src: Source, fork: str) -> d.Scenario:
    """One program of a shape that is known to trip JITs."""
    ops = valid_opcodes(fork)
    kind = src.randint(0, 11)
    gas = 200_000
    accounts = d.standard_accounts()
    if kind == 0:  # jump into PUSH data that holds a JUMPDEST byte
        k = src.randint(1, 32)
        imm = bytearray(src.randint(0, 255) for _ in range(k))
        j = src.randint(0, k - 1)
        imm[j] = OP["JUMPDEST"]
        if chance(src, 50):  # [PUSH2 t][JUMP][PUSHk ...]: data starts at 5
            code = asm(push(5 + j, 2), "JUMP", bytes([OP[f"PUSH{k}"]]) + bytes(imm), 1, 0, "SSTORE")
        else:  # [PUSH1 1][PUSH2 t][JUMPI][PUSHk ...]: data starts at 7
            code = asm(
                1, push(7 + j, 2), "JUMPI", bytes([OP[f"PUSH{k}"]]) + bytes(imm), 1, 0, "SSTORE"
            )
    elif kind == 1:  # huge memory offsets
        op = choice(src, ("MLOAD", "MSTORE", "MSTORE8", "SHA3", "RETURN", "REVERT", "CALLDATACOPY"))
        big = choice(src, (2**32 - 32, 2**32, 2**64 - 1, 2**64, 2**64 + 32, 2**255, MAX_U256))
        if op == "MLOAD":
            code = asm(big, "MLOAD")
        elif op in ("MSTORE", "MSTORE8"):
            code = asm(1, big, op)
        elif op == "CALLDATACOPY":
            code = asm(32, 0, big, op)
        else:
            code = asm(choice(src, (1, 32, big)), big, op)
    elif kind == 2:  # EXP with extreme exponents
        code = asm(value(src), value(src), "EXP", *store_stack(1))
    elif kind == 3:  # SHA3 with extreme sizes
        code = asm(_size(src), _offset(src), "SHA3", *return_stack(1))
    elif kind == 4:  # nested CALL / CREATE with reverts
        inner = asm(1, 1, "SSTORE", 0, 0, "REVERT")
        word = int.from_bytes(inner.ljust(32, b"\0"), "big")
        code = asm(
            word, 0, "MSTORE", 0, 0, len(inner), 0, "CREATE", "POP",
            0, 0, 0, 0, 0, int.from_bytes(d.REVERTER, "big"), "GAS", "CALL",
            0, "SSTORE", "RETURNDATASIZE", 1, "SSTORE",
            32, 0, 32, 0, 0, int.from_bytes(d.CALLEE, "big"), 50_000, "CALL", 2, "SSTORE",
            0, "MLOAD", 3, "SSTORE",
        )  # fmt: skip
    elif kind == 5:  # SSTORE near the 2300 stipend (callee gets the stipend with value)
        gas_arg = choice(src, (0, 1, 2300, 2301, 2600, 5000, 20_000))
        value_arg = choice(src, (0, 1))
        code = asm(
            0, 0, 0, 0, value_arg, int.from_bytes(d.STORER, "big"), gas_arg, "CALL",
            0, "SSTORE",
        )  # fmt: skip
        gas = choice(src, (30_000, 50_000, 100_000))
    elif kind == 6:  # SSTORE with very little gas left in the frame itself
        code = asm(1, 0, "SSTORE")
        gas = 21_000 + choice(src, (2299, 2300, 2301, 2400, 5000, 5005, 20_005, 22_100))
    elif kind == 7:  # truncated PUSH at the end: the missing bytes read as zeros
        n = src.randint(1, 32)
        tail = bytes([OP[f"PUSH{n}"]]) + bytes(
            src.randint(0, 255) for _ in range(src.randint(0, n - 1))
        )
        code = asm("PC", "CODESIZE", *store_stack(2)) + tail
    elif kind == 8:  # deep stack: 1024 and 1025 items
        count = choice(src, (1023, 1024, 1025))
        code = asm(*(["PC"] * count), *store_stack(1))
    elif kind == 9:  # recursion through self-calls, deep
        code = asm(
            0, "SLOAD", 1, "ADD", "DUP1", 0, "SSTORE",
            0, 0, 0, 0, 0, "ADDRESS", "GAS", "CALL", "POP",
        )  # fmt: skip
        gas = 1_000_000
    elif kind == 10:  # copies with overlapping / out-of-range sources
        if OP["MCOPY"] in ops:
            code = asm(value(src), 0, "MSTORE", _size(src) % 80, 1, 0, "MCOPY", 64, 0, "RETURN")
        else:
            code = asm(_size(src) % 100, choice(src, EDGE_VALUES), 0, "CODECOPY", 64, 0, "RETURN")
    else:  # RETURNDATACOPY out of bounds after a call
        code = asm(
            0, 0, 0, 0, 0, int.from_bytes(d.CALLEE, "big"), 50_000, "CALL", "POP",
            choice(src, (0, 1, 32, 33)), choice(src, (0, 1, 32, 2**64)), 0, "RETURNDATACOPY",
            32, 0, "RETURN",
        )  # fmt: skip
    return d.Scenario(code=code, fork=fork, gas=gas, accounts=accounts, calldata=b"\x01" * 32)


# ---------------------------------------------------------------------------------------------
# Mutations of state-test contracts


@dataclass(frozen=True)
class SeedContract:
    code: bytes
    storage: dict[int, int]
    accounts: dict[bytes, Account]
    origin: str


def ethereum_tests_root() -> Path:
    return ethereum_tests_dir(must_exist=False)


def _hex(text: str) -> bytes:
    text = text.strip()
    if text.startswith(":raw"):
        text = text[4:].strip()
    return bytes.fromhex(text.removeprefix("0x"))


def load_seed_contracts(
    rng: random.Random, max_files: int = 150, root: Path | None = None
) -> list[SeedContract]:
    """Contracts (with their pre-state neighbours) from a random sample of state-test files."""
    root = root if root is not None else ethereum_tests_root()
    if root is None:
        return []
    gst = root / "GeneralStateTests"
    if not gst.is_dir():
        return []
    files = sorted(gst.rglob("*.json"))
    rng.shuffle(files)
    seeds: list[SeedContract] = []
    for path in files[:max_files]:
        try:
            data = load_json(path)
        except (OSError, ValueError):
            continue
        for case in data.values():
            pre = case.get("pre", {}) if isinstance(case, dict) else {}
            accounts: dict[bytes, Account] = {}
            try:
                for addr, acc in pre.items():
                    accounts[_hex(addr)] = Account(
                        balance=int(acc.get("balance", "0x0"), 16),
                        nonce=int(acc.get("nonce", "0x0"), 16),
                        code=_hex(acc.get("code", "0x")),
                        storage={int(k, 16): int(v, 16) for k, v in acc.get("storage", {}).items()},
                    )
            except (ValueError, AttributeError):
                continue
            accounts.pop(d.SENDER, None)
            for addr, acc in accounts.items():
                if acc.code and len(acc.code) <= 24_576:
                    others = {a: x for a, x in accounts.items() if a not in (addr, d.CONTRACT)}
                    seeds.append(
                        SeedContract(
                            acc.code, dict(acc.storage), others, f"{path.name}:{addr.hex()}"
                        )
                    )
            break  # one case per file is plenty
    return seeds


def mutate(src: Source, code: bytes, fork: str) -> bytes:
    """A few random edits of `code`."""
    out = bytearray(code)
    ops = sorted(valid_opcodes(fork))
    for _ in range(src.randint(1, 4)):
        kind = src.randint(0, 6)
        pos = src.randint(0, len(out)) if out else 0
        if kind == 0 and out:  # flip a byte
            out[min(pos, len(out) - 1)] = src.randint(0, 255)
        elif kind == 1:  # insert an opcode of the fork
            out[pos:pos] = bytes([choice(src, ops)])
        elif kind == 2 and out:  # delete a range
            end = min(len(out), pos + src.randint(1, 8))
            del out[pos:end]
        elif kind == 3:  # insert an edge-value push
            out[pos:pos] = push(choice(src, EDGE_VALUES))
        elif kind == 4 and out:  # duplicate a range
            end = min(len(out), pos + src.randint(1, 16))
            out[pos:pos] = out[pos:end]
        elif kind == 5 and out:  # truncate
            del out[pos:]
        else:  # insert a JUMPDEST
            out[pos:pos] = b"\x5b"
    return bytes(out)
