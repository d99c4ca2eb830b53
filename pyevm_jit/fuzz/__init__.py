"""Differential fuzzing of the JIT against stock py-evm.

Program generators (all driven by a `Source` of choices, so the same code serves the fuzzer,
with `random.Random`, and the hypothesis tests, with `HypothesisSource`):

- `generate_program`: stack-aware random bytecode for a fork: values pushed before the opcodes
  that need them, mostly-sane memory offsets and sizes, JUMPDESTs and jumps to them (and
  sometimes elsewhere), calls to the standard callee contracts, a random ending.
- `mutate`: mutations of contract code from the Ethereum state tests (byte flips, insertions,
  deletions, splices, edge-value immediates).
- `adversarial`: shapes that trip JITs: jumps into PUSH data, huge memory offsets, EXP/SHA3 with
  extreme sizes, nested CALL/CREATE with reverts, SSTORE near the 2300 stipend, truncated PUSH
  at the end, deep stacks.

`minimise` shrinks a diverging program by delta debugging on its bytes; `save_regression`
writes it as a fixture that `tests/test_regressions.py` replays. `fuzz` is the loop behind
`pyevm-jit fuzz`.
"""

from __future__ import annotations

import collections
import gc
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

from pyevm_jit.forks import fork_name, fork_opcodes, fork_vm
from pyevm_jit.testing import differential as d

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Stack effects (inputs, outputs) of every opcode of every fork.


def _stack_table() -> dict[int, tuple[int, int]]:
    t: dict[int, tuple[int, int]] = {0x00: (0, 0)}
    for op in range(0x01, 0x08):
        t[op] = (2, 1)
    t.update({0x08: (3, 1), 0x09: (3, 1), 0x0A: (2, 1), 0x0B: (2, 1)})
    for op in range(0x10, 0x15):
        t[op] = (2, 1)
    t.update({0x15: (1, 1), 0x16: (2, 1), 0x17: (2, 1), 0x18: (2, 1), 0x19: (1, 1)})
    t.update({0x1A: (2, 1), 0x1B: (2, 1), 0x1C: (2, 1), 0x1D: (2, 1), 0x20: (2, 1)})
    t.update({0x30: (0, 1), 0x31: (1, 1), 0x32: (0, 1), 0x33: (0, 1), 0x34: (0, 1)})
    t.update({0x35: (1, 1), 0x36: (0, 1), 0x37: (3, 0), 0x38: (0, 1), 0x39: (3, 0)})
    t.update({0x3A: (0, 1), 0x3B: (1, 1), 0x3C: (4, 0), 0x3D: (0, 1), 0x3E: (3, 0)})
    t.update({0x3F: (1, 1), 0x40: (1, 1)})
    for op in range(0x41, 0x49):
        t[op] = (0, 1)
    t.update({0x49: (1, 1), 0x4A: (0, 1)})
    t.update({0x50: (1, 0), 0x51: (1, 1), 0x52: (2, 0), 0x53: (2, 0), 0x54: (1, 1)})
    t.update({0x55: (2, 0), 0x56: (1, 0), 0x57: (2, 0), 0x58: (0, 1), 0x59: (0, 1)})
    t.update({0x5A: (0, 1), 0x5B: (0, 0), 0x5C: (1, 1), 0x5D: (2, 0), 0x5E: (3, 0)})
    for op in range(0x5F, 0x80):
        t[op] = (0, 1)
    for n in range(1, 17):
        t[0x7F + n] = (n, n + 1)  # DUPn
        t[0x8F + n] = (n + 1, n + 1)  # SWAPn
    for n in range(5):
        t[0xA0 + n] = (n + 2, 0)
    t.update({0xF0: (3, 1), 0xF1: (7, 1), 0xF2: (7, 1), 0xF3: (2, 0), 0xF4: (6, 1)})
    t.update({0xF5: (4, 1), 0xFA: (6, 1), 0xFD: (2, 0), 0xFE: (0, 0), 0xFF: (1, 0)})
    return t


STACK_EFFECTS: dict[int, tuple[int, int]] = _stack_table()

EDGE_VALUES: tuple[int, ...] = (
    0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 255, 256, 257,
    2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
    2**64 + 1, 2**127, 2**128 - 1, 2**128, 2**160 - 1, 2**192, 2**255 - 1, 2**255,
    2**255 + 1, 2**256 - 2, 2**256 - 1,
)  # fmt: skip

# Opcodes the generator emits with explicitly generated (mostly sane) arguments.
_MEMORY_ARGS = {
    0x20, 0x37, 0x39, 0x3C, 0x3E, 0x51, 0x52, 0x53, 0x5E, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4,
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xFA, 0xFD,
}  # fmt: skip
_HALTS = {0x00, 0xF3, 0xFD, 0xFE, 0xFF}
_JUMPS = {0x56, 0x57}


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
        return (v + src.randint(-2, 2)) % d.U256
    if kind == 8:
        return src.randint(0, 2**64)
    return src.randint(0, d.MAX_U256)


_ADDRESSES: tuple[bytes, ...] = (
    *d.CALL_TARGETS,
    d.CONTRACT,
    d.SENDER,
    d.COINBASE,
    *(i.to_bytes(20, "big") for i in range(1, 11)),  # precompiles
    bytes.fromhex("dead" * 10),  # nonexistent
)


def _offset(src: Source) -> int:
    """A memory offset: mostly small, sometimes near or beyond 2^32 / 2^64."""
    r = src.randint(0, 99)
    if r < 85:
        return src.randint(0, 200)
    if r < 93:
        return src.randint(0, 4096)
    return choice(src, (2**32 - 1, 2**32, 2**64 - 32, 2**64, 2**255, d.MAX_U256, 0xFFFFFF))


def _size(src: Source) -> int:
    r = src.randint(0, 99)
    if r < 20:
        return 0
    if r < 85:
        return src.randint(1, 96)
    if r < 94:
        return src.randint(97, 2048)
    return choice(src, (2**32, 2**64, d.MAX_U256, 0x100000))


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
        if v == 0 and 0x5F in self.ops and chance(self.src, 50):
            self.out.append(0x5F)
        else:
            size = max(1, (v.bit_length() + 7) // 8)
            if chance(self.src, 10):
                size = self.src.randint(size, 32)  # wider PUSHes than needed
            self.out += d.push(v, size)
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
    value_arg = choice(src, (0, 0, 1, 10**6, d.MAX_U256))
    in_off, in_size, out_off, out_size = _offset(src), _size(src), _offset(src), _size(src)
    if chance(src, 70):
        in_size, out_size = min(in_size, 64), min(out_size, 64)
        in_off, out_off = min(in_off, 256), min(out_off, 256)
    tail = [in_off, in_size, out_off, out_size]
    if op in (0xF1, 0xF2):
        tail = [value_arg, *tail]
    for v in reversed(tail):
        b.push(v)
    b.push(to)
    if gas_kind == 0:
        b.emit(0x5A)  # GAS
    else:
        b.push(choice(src, (0, 100, 2300, 2301, 5000, 30_000, 100_000, d.MAX_U256)))
    b.emit(op)


def _create_args(b: _Builder, op: int) -> None:
    src = b.src
    # an init code in memory: small programs that return code, revert, or run out of gas
    init = choice(
        src,
        (
            d.asm(0x60FE, 0, "MSTORE", 2, 30, "RETURN"),  # deploys 0x60fe
            d.asm(0, 0, "REVERT"),
            d.asm(0xEF, 0, "MSTORE8", 1, 0, "RETURN"),  # 0xEF prefix (rejected from London)
            d.asm(1, 0, "SSTORE", "STOP"),
            d.asm(d.Label("l"), d.Ref("l"), "JUMP"),
            b"",
        ),
    )
    word = int.from_bytes(init.ljust(32, b"\0")[:32], "big")
    b.args(word, 0)
    b.emit(0x52)  # MSTORE at 0
    size = len(init) if chance(src, 85) else _size(src)
    value_arg = choice(src, (0, 0, 1, d.MAX_U256))
    if op == 0xF5:
        b.args(value_arg, 0, size, value(src))
    else:
        b.args(value_arg, 0, size)
    b.emit(op)


def _memory_op(b: _Builder, op: int) -> None:
    src = b.src
    if op in (0xF1, 0xF2, 0xF4, 0xFA):
        _call_args(b, op)
        return
    if op in (0xF0, 0xF5):
        _create_args(b, op)
        return
    if op == 0x51:  # MLOAD
        b.args(_offset(b.src))
    elif op in (0x52, 0x53):  # MSTORE, MSTORE8
        b.args(_offset(src), value(src))
    elif op in (0x20, 0xF3, 0xFD):  # SHA3, RETURN, REVERT
        b.args(_offset(src), _size(src))
    elif op in (0x37, 0x39, 0x3E):  # *COPY
        b.args(_offset(src), choice(src, (0, 1, 31, 32, 64, *EDGE_VALUES)), _size(src))
    elif op == 0x3C:  # EXTCODECOPY
        b.args(
            int.from_bytes(choice(src, _ADDRESSES), "big"),
            _offset(src),
            choice(src, (0, 1, 5, 2**64)),
            _size(src),
        )
    elif op == 0x5E:  # MCOPY dst src size
        b.args(_offset(src), _offset(src), _size(src))
    else:  # LOGn
        n = op - 0xA0
        b.args(_offset(src), _size(src), *(value(src) for _ in range(n)))
    b.emit(op)


def _weights(ops: frozenset[int]) -> list[int]:
    pool: list[int] = []
    for op in sorted(ops):
        if op in _HALTS or op in _JUMPS or 0x60 <= op <= 0x7F or op == 0x5B:
            continue
        weight = 1
        if op <= 0x1D or 0x80 <= op <= 0x9F:
            weight = 3
        pool += [op] * weight
    return pool


def generate_program(src: Source, fork: str, max_ops: int = 60) -> bytes:
    """Random stack-aware bytecode for `fork` (only opcodes that exist there, except for the
    occasional deliberately invalid byte)."""
    ops = fork_opcodes(fork)
    b = _Builder(src, fork, ops)
    pool = _weights(ops)
    n = src.randint(1, max_ops)
    for _ in range(n):
        r = src.randint(0, 99)
        if r < 22:
            b.push(value(src))
        elif r < 28:
            b.jumpdests.append(len(b.out))
            b.emit(0x5B)
        elif r < 32:
            # jump to a label fixed up later (PUSH2 placeholder)
            if chance(src, 50):
                b.push(choice(src, (0, 1)) if chance(src, 50) else value(src))
                b.refs.append(len(b.out) + 1)
                b.out += b"\x61\x00\x00"
                b.depth += 1
                b.emit(0x57)
            else:
                b.refs.append(len(b.out) + 1)
                b.out += b"\x61\x00\x00"
                b.depth += 1
                b.emit(0x56)
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
            if op in (0x54, 0x55, 0x5C, 0x5D) and chance(src, 70):
                b.push(src.randint(0, 4))  # a small slot
            b.emit(op)
        if b.depth > 1000:
            b.emit(0x50)
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
            b.emit(0x52)
        b.args(0, 32 * k)
        b.out.append(0xF3)
    elif r == 3:
        b.args(0, src.randint(0, 64))
        b.out.append(0xFD)
    elif r == 4:
        b.out.append(0x00)
    elif r == 5:
        b.out.append(0xFE)
    elif r == 6 and 0xFF in b.ops:
        b.args(int.from_bytes(choice(src, _ADDRESSES), "big"))
        b.out.append(0xFF)
    elif r == 7:
        n = src.randint(1, 32)
        b.out.append(0x5F + n)
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
    ops = fork_opcodes(fork)
    kind = src.randint(0, 11)
    gas = 200_000
    accounts = d.standard_accounts()
    if kind == 0:  # jump into PUSH data that holds a JUMPDEST byte
        k = src.randint(1, 32)
        imm = bytearray(src.randint(0, 255) for _ in range(k))
        j = src.randint(0, k - 1)
        imm[j] = 0x5B
        if chance(src, 50):  # [PUSH2 t][JUMP][PUSHk ...]: data starts at 5
            code = d.asm(d.push(5 + j, 2), "JUMP", bytes([0x5F + k]) + bytes(imm), 1, 0, "SSTORE")
        else:  # [PUSH1 1][PUSH2 t][JUMPI][PUSHk ...]: data starts at 7
            code = d.asm(
                1, d.push(7 + j, 2), "JUMPI", bytes([0x5F + k]) + bytes(imm), 1, 0, "SSTORE"
            )
    elif kind == 1:  # huge memory offsets
        op = choice(src, ("MLOAD", "MSTORE", "MSTORE8", "SHA3", "RETURN", "REVERT", "CALLDATACOPY"))
        big = choice(src, (2**32 - 32, 2**32, 2**64 - 1, 2**64, 2**64 + 32, 2**255, d.MAX_U256))
        if op == "MLOAD":
            code = d.asm(big, "MLOAD")
        elif op in ("MSTORE", "MSTORE8"):
            code = d.asm(1, big, op)
        elif op == "CALLDATACOPY":
            code = d.asm(32, 0, big, op)
        else:
            code = d.asm(choice(src, (1, 32, big)), big, op)
    elif kind == 2:  # EXP with extreme exponents
        code = d.asm(value(src), value(src), "EXP", *d.store_stack(1))
    elif kind == 3:  # SHA3 with extreme sizes
        code = d.asm(_size(src), _offset(src), "SHA3", *d.return_stack(1))
    elif kind == 4:  # nested CALL / CREATE with reverts
        inner = d.asm(1, 1, "SSTORE", 0, 0, "REVERT")
        word = int.from_bytes(inner.ljust(32, b"\0"), "big")
        code = d.asm(
            word, 0, "MSTORE", 0, 0, len(inner), 0, "CREATE", "POP",
            0, 0, 0, 0, 0, int.from_bytes(d.REVERTER, "big"), "GAS", "CALL",
            0, "SSTORE", "RETURNDATASIZE", 1, "SSTORE",
            32, 0, 32, 0, 0, int.from_bytes(d.CALLEE, "big"), 50_000, "CALL", 2, "SSTORE",
            0, "MLOAD", 3, "SSTORE",
        )  # fmt: skip
    elif kind == 5:  # SSTORE near the 2300 stipend (callee gets the stipend with value)
        gas_arg = choice(src, (0, 1, 2300, 2301, 2600, 5000, 20_000))
        value_arg = choice(src, (0, 1))
        code = d.asm(
            0, 0, 0, 0, value_arg, int.from_bytes(d.STORER, "big"), gas_arg, "CALL",
            0, "SSTORE",
        )  # fmt: skip
        gas = choice(src, (30_000, 50_000, 100_000))
    elif kind == 6:  # SSTORE with very little gas left in the frame itself
        code = d.asm(1, 0, "SSTORE")
        gas = 21_000 + choice(src, (2299, 2300, 2301, 2400, 5000, 5005, 20_005, 22_100))
    elif kind == 7:  # truncated PUSH at the end: the missing bytes read as zeros
        n = src.randint(1, 32)
        tail = bytes([0x5F + n]) + bytes(src.randint(0, 255) for _ in range(src.randint(0, n - 1)))
        code = d.asm("PC", "CODESIZE", *d.store_stack(2)) + tail
    elif kind == 8:  # deep stack: 1024 and 1025 items
        count = choice(src, (1023, 1024, 1025))
        code = d.asm(*(["PC"] * count), *d.store_stack(1))
    elif kind == 9:  # recursion through self-calls, deep
        code = d.asm(
            0, "SLOAD", 1, "ADD", "DUP1", 0, "SSTORE",
            0, 0, 0, 0, 0, "ADDRESS", "GAS", "CALL", "POP",
        )  # fmt: skip
        gas = 1_000_000
    elif kind == 10:  # copies with overlapping / out-of-range sources
        if 0x5E in ops:
            code = d.asm(value(src), 0, "MSTORE", _size(src) % 80, 1, 0, "MCOPY", 64, 0, "RETURN")
        else:
            code = d.asm(_size(src) % 100, choice(src, EDGE_VALUES), 0, "CODECOPY", 64, 0, "RETURN")
    else:  # RETURNDATACOPY out of bounds after a call
        code = d.asm(
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
    accounts: dict[bytes, d.Account]
    origin: str


def ethereum_tests_root() -> Path | None:
    try:
        from pyevm_jit.conformance.fixtures import ethereum_tests_dir

        return ethereum_tests_dir(must_exist=False)
    except Exception:  # noqa: BLE001 - the foundation module may not be there yet
        env = os.environ.get("PYEVM_JIT_ETHEREUM_TESTS")
        if env:
            return Path(env)
        return Path(__file__).resolve().parents[3] / "shared" / "ethereum-tests"


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
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for case in data.values():
            pre = case.get("pre", {}) if isinstance(case, dict) else {}
            accounts: dict[bytes, d.Account] = {}
            try:
                for addr, acc in pre.items():
                    accounts[_hex(addr)] = d.Account(
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
    ops = sorted(fork_opcodes(fork))
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
            out[pos:pos] = d.push(choice(src, EDGE_VALUES))
        elif kind == 4 and out:  # duplicate a range
            end = min(len(out), pos + src.randint(1, 16))
            out[pos:pos] = out[pos:end]
        elif kind == 5 and out:  # truncate
            del out[pos:]
        else:  # insert a JUMPDEST
            out[pos:pos] = b"\x5b"
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Minimisation and fixtures


def _signature(diffs: Sequence[str]) -> frozenset[str]:
    return frozenset(line.split(":", 1)[0].split(" ")[0] for line in diffs)


def minimise(
    scenario: d.Scenario,
    check: Callable[[d.Scenario], list[str]],
    *,
    budget: int = 300,
    deadline: float | None = None,
) -> tuple[d.Scenario, list[str]]:
    """Shrink `scenario.code` by delta debugging (removing chunks of bytes, then single bytes,
    then zeroing bytes) while `check` still reports a divergence of the same kind.
    Returns the smallest scenario found and its differences."""
    original = check(scenario)
    if not original:
        return scenario, original
    want = _signature(original)
    best, best_diffs = scenario, original
    tries = 0

    def still_fails(candidate: bytes) -> list[str] | None:
        nonlocal tries
        tries += 1
        diffs = check(best.with_(code=candidate))
        if diffs and (_signature(diffs) & want):
            return diffs
        return None

    def out_of_budget() -> bool:
        return tries >= budget or (deadline is not None and time.monotonic() > deadline)

    code = best.code
    n = 2
    while len(code) >= 2 and not out_of_budget():
        chunk = max(1, len(code) // n)
        reduced = False
        for start in range(0, len(code), chunk):
            candidate = code[:start] + code[start + chunk :]
            diffs = still_fails(candidate)
            if diffs is not None:
                code, best_diffs = candidate, diffs
                best = best.with_(code=code)
                n = max(n - 1, 2)
                reduced = True
                break
            if out_of_budget():
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(code), n * 2)
    # simplify remaining bytes: PUSH immediates towards zero
    i = 0
    while i < len(code) and not out_of_budget():
        if code[i] != 0:
            candidate = code[:i] + b"\x00" + code[i + 1 :]
            diffs = still_fails(candidate)
            if diffs is not None:
                code, best_diffs = candidate, diffs
                best = best.with_(code=code)
        i += 1
    return best, best_diffs


def regressions_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "fixtures" / "regressions"


def save_regression(
    scenario: d.Scenario,
    diffs: Sequence[str],
    out_dir: Path,
    *,
    found_by: str = "",
    history: Sequence[d.Scenario] = (),
    suffix: str = ".json",
) -> Path:
    """Write a regression fixture; its name is derived from the fork and the code. `history`
    holds programs to run first in the same process (a crash that needs them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(scenario.code + scenario.fork.encode()).hexdigest()[:12]
    path = out_dir / f"{scenario.fork}-{digest}{suffix}"
    payload: dict[str, Any] = {
        "scenario": scenario.to_json(),
        "asm": d.disasm(scenario.code),
        "differences": list(diffs),
        "found_by": found_by,
    }
    if history:
        payload["history"] = [h.to_json() for h in history]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def load_history(name: str, directory: Path | None = None) -> list[d.Scenario]:
    """The programs a fixture says to run first (usually none)."""
    directory = directory if directory is not None else regressions_dir()
    data = json.loads((directory / f"{name}.json").read_text())
    return [d.Scenario.from_json(h) for h in data.get("history", [])]


def _shrink_history(
    scenario: d.Scenario, history: list[d.Scenario], budget: int
) -> list[d.Scenario]:
    """Drop earlier programs (halves, then single ones) while the crash still recurs."""
    tries = 0
    chunk = max(1, len(history) // 2)
    while chunk >= 1 and tries < budget and history:
        start = 0
        while start < len(history) and tries < budget:
            candidate = history[:start] + history[start + chunk :]
            tries += 1
            if replay_in_subprocess(scenario, history=candidate):
                history = candidate
            else:
                start += chunk
        if chunk == 1:
            break
        chunk //= 2
    return history


def load_regressions(directory: Path | None = None) -> Iterator[tuple[str, d.Scenario]]:
    directory = directory if directory is not None else regressions_dir()
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        yield path.stem, d.Scenario.from_json(data["scenario"])


# ---------------------------------------------------------------------------------------------
# Coverage: which opcodes the stock interpreter executed


def traced_vm(fork: str, seen: collections.Counter[int]) -> Any:
    """The stock VM of `fork` with every opcode wrapped to count executions in `seen`."""
    vm = fork_vm(fork)
    state_cls: Any = vm._state_class  # type: ignore[attr-defined]
    comp_cls: Any = state_cls.computation_class

    def wrap(op: int, fn: Any) -> Any:
        def traced(computation: Any) -> Any:
            seen[op] += 1
            return fn(computation=computation)

        traced.mnemonic = getattr(fn, "mnemonic", d.MNEMONICS.get(op, hex(op)))  # type: ignore[attr-defined]
        return traced

    opcodes = {op: wrap(op, fn) for op, fn in comp_cls.opcodes.items()}
    traced_comp = comp_cls.configure(__name__="Traced" + comp_cls.__name__, opcodes=opcodes)
    traced_state = state_cls.configure(
        __name__="Traced" + state_cls.__name__, computation_class=traced_comp
    )
    return vm.configure(__name__="Traced" + vm.__name__, _state_class=traced_state)


# ---------------------------------------------------------------------------------------------
# The fuzz loop


@dataclass
class FuzzReport:
    seconds: float = 0.0
    programs: int = 0
    native_runs: int = 0
    interpreted_runs: int = 0
    divergences: int = 0
    by_generator: collections.Counter[str] = field(default_factory=collections.Counter)
    executed: collections.Counter[int] = field(default_factory=collections.Counter)
    fixtures: list[Path] = field(default_factory=list)
    forks: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        return self.programs / self.seconds if self.seconds > 0 else 0.0

    def coverage(self) -> tuple[int, int, list[str]]:
        """(opcodes executed, opcodes that exist in the fuzzed forks, missing mnemonics)."""
        universe: set[int] = set()
        for fork in self.forks:
            universe |= fork_opcodes(fork)
        hit = universe & set(self.executed)
        missing = sorted(universe - hit)
        return len(hit), len(universe), [d.MNEMONICS.get(op, hex(op)) for op in missing]

    def summary(self) -> str:
        hit, total, missing = self.coverage()
        lines = [
            f"programs: {self.programs} in {self.seconds:.1f}s ({self.rate:.1f}/s); "
            f"native runs {self.native_runs}, interpreted-only runs {self.interpreted_runs}",
            "by generator: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_generator.items())),
            f"opcode coverage: {hit}/{total} executed by the interpreter"
            + (f" (missing: {' '.join(missing)})" if missing else ""),
            f"divergences: {self.divergences}",
        ]
        lines += [f"  saved {p}" for p in self.fixtures]
        return "\n".join(lines)


def make_scenario(
    src: Source, rng: random.Random, fork: str, seeds: Sequence[SeedContract]
) -> tuple[str, d.Scenario]:
    """One fuzz case: (generator name, scenario)."""
    r = rng.random()
    calldata = bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 4, 32, 36, 68))))
    from pyevm_jit.fuzz import state_patterns  # storage, transient storage and log patterns

    if r >= 1.0 - state_patterns.share():
        return state_patterns.state_scenario(src, fork)
    if r < 0.55 or (r < 0.80 and not seeds):
        code = generate_program(src, fork, max_ops=rng.choice((10, 30, 60, 120)))
        create = rng.random() < 0.05
        gas = rng.choice((200_000, 300_000) if create else (30_000, 100_000, 200_000))
        return "random", d.Scenario(
            code=code,
            fork=fork,
            gas=gas,
            calldata=calldata,
            accounts=d.standard_accounts(),
            create=create,
            value=rng.choice((0, 0, 0, 1)),
        )
    if r < 0.80:
        seed = rng.choice(seeds)
        code = mutate(src, seed.code, fork)
        accounts = {**d.standard_accounts(), **seed.accounts}
        accounts.pop(d.SENDER, None)
        return "mutation", d.Scenario(
            code=code,
            fork=fork,
            gas=rng.choice((100_000, 400_000)),
            calldata=calldata,
            storage=seed.storage,
            accounts=accounts,
        )
    return "adversarial", adversarial(src, fork)


def fuzz(
    seconds: float,
    seed: int,
    forks: Sequence[str],
    out_dir: Path,
    *,
    stream: TextIO | None = None,
    max_programs: int | None = None,
    minimise_budget: int = 200,
    backend: Any = None,
    current_file: Path | None = None,
) -> FuzzReport:
    """Run the differential fuzzer for `seconds` (or `max_programs`), in this process.

    With `current_file`, each scenario is written there before the JIT runs it, so that a
    supervisor (`fuzz_isolated`) can tell which program killed the process."""
    stream = stream if stream is not None else sys.stderr
    rng = random.Random(seed)
    src = RandomSource(rng)
    forks = tuple(fork_name(f) for f in forks)
    seeds = load_seed_contracts(random.Random(seed))
    report = FuzzReport(forks=forks)
    traced = {fork: traced_vm(fork, report.executed) for fork in forks}
    seen_signatures: set[tuple[str, frozenset[str]]] = set()
    tty = bool(getattr(stream, "isatty", lambda: False)())
    start = time.monotonic()
    deadline = start + seconds
    last_progress = start

    # the programs this process ran before the current one (a crash may need them to recur)
    history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY_LENGTH)

    def check(s: d.Scenario) -> list[str]:
        stock = d.execute(s, fork_vm(s.fork))
        jit = d.run_jit(s, backend)
        return d.compare(stock, jit)

    while time.monotonic() < deadline and (max_programs is None or report.programs < max_programs):
        fork = forks[report.programs % len(forks)]
        generator, scenario = make_scenario(src, rng, fork, seeds)
        stock = d.execute(scenario, traced[fork])
        if current_file is not None:
            entry = scenario.to_json()
            _write_json(
                current_file,
                {
                    "scenario": entry,
                    "generator": generator,
                    "history": list(history),
                    "programs_before": report.programs,
                },
            )
            history.append(entry)
            _injected_crash(scenario)
        jit = d.run_jit(scenario, backend)
        if current_file is not None:
            gc.collect()  # heap corruption shows up here, blamed on this program
        report.programs += 1
        report.by_generator[generator] += 1
        if jit.ran_native:
            report.native_runs += 1
        else:
            report.interpreted_runs += 1
        diffs = d.compare(stock, jit)
        if diffs:
            report.divergences += 1
            key = (fork, _signature(diffs))
            if key not in seen_signatures:
                seen_signatures.add(key)
                small, small_diffs = minimise(
                    scenario, check, budget=minimise_budget, deadline=time.monotonic() + 120
                )
                path = save_regression(
                    small,
                    small_diffs,
                    out_dir,
                    found_by=f"pyevm-jit fuzz --seed {seed} ({generator})",
                )
                report.fixtures.append(path)
                print(
                    ("\n" if tty else "") + f"divergence ({generator}, {fork}): {small_diffs[0]}"
                    f" -> {path}",
                    file=stream,
                )
        now = time.monotonic()
        if now - last_progress >= (1.0 if tty else 15.0):
            last_progress = now
            hit, total, _ = report.coverage()
            report.seconds = now - start
            line = (
                f"[{report.seconds:6.0f}s] programs {report.programs} ({report.rate:.1f}/s) "
                f"native {report.native_runs} divergences {report.divergences} "
                f"coverage {hit}/{total}"
            )
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=stream, flush=True)
    report.seconds = time.monotonic() - start
    if tty:
        print(file=stream)
    return report


#: fault injection for the tests of the crash supervisor: a worker or replay process aborts
#: before running a program whose code contains these bytes (hex)
CRASH_MARKER_ENV = "PYEVM_JIT_FUZZ_ABORT_MARKER"


#: "<hex A>:<hex B>": abort on a program containing B once a program containing A has run in
#: the same process (a crash that needs earlier programs to recur)
CRASH_AFTER_ENV = "PYEVM_JIT_FUZZ_ABORT_AFTER"
_armed = False


def _injected_crash(scenario: d.Scenario) -> None:
    global _armed
    marker = os.environ.get(CRASH_MARKER_ENV)
    if marker and bytes.fromhex(marker) in scenario.code:
        os.abort()
    after = os.environ.get(CRASH_AFTER_ENV)
    if after:
        first, then = (bytes.fromhex(x) for x in after.split(":"))
        if _armed and then in scenario.code:
            os.abort()
        if first in scenario.code:
            _armed = True


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# Crash isolation: the fuzz loop runs in a worker process; a JIT crash (segfault, abort) kills
# only the worker, and the supervisor saves the program that was running and starts another.


def _report_to_json(report: FuzzReport) -> dict[str, Any]:
    return {
        "seconds": report.seconds,
        "programs": report.programs,
        "native_runs": report.native_runs,
        "interpreted_runs": report.interpreted_runs,
        "divergences": report.divergences,
        "by_generator": dict(report.by_generator),
        "executed": {str(k): v for k, v in report.executed.items()},
        "fixtures": [str(p) for p in report.fixtures],
    }


def _merge_report(total: FuzzReport, data: dict[str, Any]) -> None:
    total.programs += int(data["programs"])
    total.native_runs += int(data["native_runs"])
    total.interpreted_runs += int(data["interpreted_runs"])
    total.divergences += int(data["divergences"])
    total.by_generator.update(data["by_generator"])
    total.executed.update({int(k): v for k, v in data["executed"].items()})
    total.fixtures += [Path(p) for p in data["fixtures"]]


HISTORY_LENGTH = 40


def replay_in_subprocess(
    scenario: d.Scenario, timeout: float = 300.0, history: Sequence[d.Scenario] = ()
) -> list[str]:
    """Differences of `scenario` computed in a fresh process (after running the `history`
    programs there first); a process killed by a signal is reported as a crash difference."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pyevm-jit-replay-") as tmp:
        case = Path(tmp) / "case.json"
        case.write_text(
            json.dumps([h.to_json() for h in history] + [scenario.to_json()])
            if history
            else json.dumps(scenario.to_json())
        )
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pyevm_jit.fuzz", "replay", str(case)],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return [f"crash: replay timed out after {timeout:g}s"]
    if proc.returncode < 0 or proc.returncode not in (0, 1):
        tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
        return [f"crash: process died (status {proc.returncode}) {tail}".rstrip()]
    lines = proc.stdout.strip().splitlines()
    return list(json.loads(lines[-1])) if lines else ["crash: replay printed nothing"]


def fuzz_isolated(
    seconds: float,
    seed: int,
    forks: Sequence[str],
    out_dir: Path,
    *,
    stream: TextIO | None = None,
    max_programs: int | None = None,
    minimise_budget: int = 200,
    crash_minimise_budget: int = 30,
) -> FuzzReport:
    """`fuzz` in worker processes: when the JIT kills a worker, the program it was running is
    minimised (each candidate in a fresh process) and saved, and a new worker carries on with
    the next seed until the time is up."""
    import subprocess
    import tempfile

    stream = stream if stream is not None else sys.stderr
    forks = tuple(fork_name(f) for f in forks)
    total = FuzzReport(forks=forks)
    start = time.monotonic()
    deadline = start + seconds
    worker_seed = seed
    known_crashes: list[bytes] = []  # minimised crashing codes: a program containing one is
    # counted but not minimised again
    with tempfile.TemporaryDirectory(prefix="pyevm-jit-fuzz-") as tmp:
        current = Path(tmp) / "current.json"
        report_file = Path(tmp) / "report.json"
        while True:
            left = deadline - time.monotonic()
            if left <= 1 or (max_programs is not None and total.programs >= max_programs):
                break
            for path in (current, report_file):
                path.unlink(missing_ok=True)
            argv = [
                sys.executable, "-m", "pyevm_jit.fuzz", "worker",
                json.dumps({
                    "seconds": left,
                    "seed": worker_seed,
                    "forks": list(forks),
                    "out": str(out_dir),
                    "current": str(current),
                    "report": str(report_file),
                    "max_programs": None if max_programs is None else max_programs - total.programs,
                    "minimise_budget": minimise_budget,
                }),
            ]  # fmt: skip
            proc = subprocess.run(argv)
            if report_file.exists():
                _merge_report(total, json.loads(report_file.read_text()))
                if proc.returncode in (0, 1):
                    break
            if not current.exists():
                print(f"fuzz worker ended with status {proc.returncode}", file=stream)
                break
            # the worker died while the JIT ran `current`
            crashed = json.loads(current.read_text())
            scenario = d.Scenario.from_json(crashed["scenario"])
            total.programs += 1 + int(crashed.get("programs_before", 0))
            total.divergences += 1
            worker_seed += 1_000_003
            if any(known in scenario.code for known in known_crashes):
                print(f"\ncrash (status {proc.returncode}) of a known kind", file=stream)
                continue
            print(
                f"\ncrash (status {proc.returncode}) on {crashed.get('generator')} program "
                f"({scenario.fork}, {len(scenario.code)} bytes); minimising in fresh processes",
                file=stream,
            )
            found_by = f"pyevm-jit fuzz --seed {seed} (worker seed {worker_seed}, crash)"
            history = [d.Scenario.from_json(h) for h in crashed.get("history", [])]
            small, diffs = minimise(
                scenario,
                replay_in_subprocess,
                budget=crash_minimise_budget,
                deadline=time.monotonic() + 600,
            )
            if diffs:
                path = save_regression(small, diffs, out_dir, found_by=found_by)
            else:
                # not on its own: try again after the programs the worker ran before it
                diffs = replay_in_subprocess(scenario, history=history) if history else []
                if diffs:
                    history = _shrink_history(scenario, history, crash_minimise_budget)
                    diffs = [f"{diffs[0]} (after {len(history)} earlier programs)"]
                    path = save_regression(
                        scenario, diffs, out_dir, found_by=found_by, history=history
                    )
                else:
                    path = save_regression(
                        scenario,
                        [f"crash: process died (status {proc.returncode}); not reproduced"],
                        out_dir,
                        found_by=found_by,
                        history=history,
                        suffix=".unreproduced",
                    )
                    print(f"crash not reproduced in a fresh process -> {path}", file=stream)
                    continue
            total.fixtures.append(path)
            known_crashes.append(small.code)
            print(f"crash: {diffs[0]} -> {path}", file=stream)
    total.seconds = time.monotonic() - start
    return total


def _main(argv: Sequence[str]) -> int:
    """Entry points of the worker and replay processes (not a user command)."""
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # py-evm's SELFDESTRUCT notice
    if len(argv) == 2 and argv[0] == "replay":
        data = json.loads(Path(argv[1]).read_text())
        cases = [d.Scenario.from_json(x) for x in (data if isinstance(data, list) else [data])]
        for earlier in cases[:-1]:  # the same work the worker did before the crash
            d.run_stock(earlier)
            _injected_crash(earlier)
            d.run_jit(earlier)
        scenario = cases[-1]
        stock = d.run_stock(scenario)
        _injected_crash(scenario)
        jit = d.run_jit(scenario)
        gc.collect()
        diffs = d.compare(stock, jit)
        d.close_backend()
        print(json.dumps(diffs))
        return 1 if diffs else 0
    if len(argv) == 2 and argv[0] == "worker":
        opts = json.loads(argv[1])
        report = fuzz(
            float(opts["seconds"]),
            int(opts["seed"]),
            opts["forks"],
            Path(opts["out"]),
            max_programs=opts["max_programs"],
            minimise_budget=int(opts["minimise_budget"]),
            current_file=Path(opts["current"]),
        )
        Path(opts["current"]).unlink(missing_ok=True)
        _write_json(Path(opts["report"]), _report_to_json(report))
        d.close_backend()
        return 1 if report.divergences else 0
    print(
        "usage: python -m pyevm_jit.fuzz (worker OPTIONS_JSON | replay CASE_JSON)", file=sys.stderr
    )
    return 2
