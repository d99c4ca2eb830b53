"""Fuzz generators for storage, transient storage and log patterns (the native state path).

Each generator builds one `Scenario` of a shape where a native state path could go wrong:
a slot written many times in a frame, writes undone by REVERT, writes read by a callee that
runs in the interpreter, nested writes with an inner revert, SSTORE with gas left near the
2300 stipend sentry, refunds at the cap, TSTORE across calls and reverts, LOG inside reverted
calls, SELFDESTRUCT of an account with storage, DELEGATECALL writing the caller's storage.
Values, slots, gas and fork vary with the source; the programs are small so that a divergence
is easy to read.

Programs that call themselves tell the outer frame from the inner one by CALLDATASIZE (empty:
outer). A callee meant to run in the interpreter is padded past EIP-170's code size limit:
the runtime never compiles it (Ineligible), whatever the backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from pyevm_jit.forks import valid_opcodes
from pyevm_jit.fuzz.generate import Source, chance, choice
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import MAX_U256, Label, Ref, asm, return_stack
from pyevm_jit.testing.differential import Scenario

#: fraction of the fuzzer's programs drawn from these patterns (default 0.1; 1: only these)
SHARE_ENV = "PYEVM_JIT_FUZZ_STATE_SHARE"
DEFAULT_SHARE = 0.1


def share() -> float:
    text = os.environ.get(SHARE_ENV, "")
    try:
        value = float(text) if text.strip() else DEFAULT_SHARE
    except ValueError:
        return DEFAULT_SHARE
    return min(max(value, 0.0), 1.0)


Item = int | str | bytes | Label | Ref

#: a callee that DELEGATECALLs nothing: it reads slot calldata[0] of the *caller's* storage
#: (run through DELEGATECALL) or its own (CALL) and returns it; padded past the code size
#: limit so that it always runs in the interpreter
INTERPRETED_READER = d._addr("ca11ee10")
#: a library for DELEGATECALL: SSTORE(calldata[0], calldata[32]), LOG1 of the value, STOP
WRITER_LIBRARY = d._addr("ca11ee11")
INELIGIBLE_PADDING = 24_577 + 64

VALUES = (0, 1, 2, 0xFF, 2**255, MAX_U256)


def _u(address: bytes) -> int:
    return int.from_bytes(address, "big")


def _accounts(src: Source) -> dict[bytes, Account]:
    reader = asm(0, "CALLDATALOAD", "SLOAD", 0, "MSTORE", 32, 0, "RETURN")
    reader += b"\x00" * (INELIGIBLE_PADDING - len(reader))  # STOP padding: never reached
    writer = asm(
        32, "CALLDATALOAD", "DUP1", 0, "CALLDATALOAD", "SSTORE",
        0, "MSTORE", 0x51, 32, 0, "LOG1", "STOP",
    )  # fmt: skip
    return {
        **d.standard_accounts(),
        INTERPRETED_READER: Account(code=reader),
        WRITER_LIBRARY: Account(code=writer),
    }


def _slot(src: Source) -> int:
    return choice(src, (0, 1, 2, 7, 0x100, 2**160 + 3, MAX_U256))


def _value(src: Source) -> int:
    return choice(src, VALUES)


def _self_call(kind: str, gas: int | str, arg: int = 1, out: int = 0x200) -> list[Item]:
    """CALL-like of this contract with one word of calldata (`arg`), 32 bytes back at `out`;
    leaves the success flag."""
    items: list[Item] = [arg, 0x300, "MSTORE", 32, out, 32, 0x300]
    if kind in ("CALL", "CALLCODE"):
        items.append(0)
    items += ["ADDRESS", gas, kind]
    return items


def _branch(outer: list[Item], inner: list[Item]) -> bytes:
    return asm("CALLDATASIZE", Ref("inner"), "JUMPI", *outer, Label("inner"), *inner)


# --- the patterns --------------------------------------------------------------------------
def many_writes(src: Source, fork: str) -> Scenario:
    """One slot written many times in a frame (set, reset, clear, restore), read back."""
    slot = _slot(src)
    original = choice(src, (0, 0, 1, 5))
    items: list[Item] = []
    for _ in range(src.randint(2, 9)):
        items += [choice(src, (*VALUES, original)), slot, "SSTORE"]
        if chance(src, 30):
            items += [slot, "SLOAD", "POP"]
    items += [slot, "SLOAD", "GAS", *return_stack(2)]
    storage = {slot: original} if original else {}
    return Scenario(
        code=asm(*items), fork=fork, storage=storage, gas=choice(src, (60_000, 200_000))
    )


def write_then_revert(src: Source, fork: str) -> Scenario:
    """Writes, logs, then REVERT (top level or in a child whose effects must vanish)."""
    slot, value = _slot(src), _value(src)
    body: list[Item] = [slot, "SLOAD", "POP", value, slot, "SSTORE", 7, 0, 0, "LOG1"]
    if chance(src, 50):
        code = asm(*body, 0, 0, "REVERT")
    else:
        inner = [*body, 32, 0, "REVERT"]
        outer = [*_self_call("CALL", "GAS"), slot, "SLOAD", *return_stack(2)]
        code = _branch(outer, inner)
    return Scenario(code=code, fork=fork, storage={slot: 3}, accounts=_accounts(src))


def write_then_interpreted_read(src: Source, fork: str) -> Scenario:
    """A write, then a call into a contract run by the interpreter that reads the slot
    (DELEGATECALL: the caller's storage), then a native read."""
    slot, value = _slot(src), _value(src)
    kind = choice(src, ("DELEGATECALL", "CALLCODE", "CALL"))
    call: list[Item] = [slot, 0x300, "MSTORE", 32, 0x200, 32, 0x300]
    if kind != "DELEGATECALL":
        call.append(0)
    call += [_u(INTERPRETED_READER), "GAS", kind]
    code = asm(
        slot, "SLOAD", "POP", value, slot, "SSTORE", *call,
        0x200, "MLOAD", slot, "SLOAD", *return_stack(3),
    )  # fmt: skip
    return Scenario(code=code, fork=fork, storage={slot: 9}, accounts=_accounts(src))


def nested_writes(src: Source, fork: str) -> Scenario:
    """Outer and inner frames write the same slot; the inner one reverts or fails."""
    slot = _slot(src)
    ends: tuple[list[Item], ...] = ([0, 0, "REVERT"], ["INVALID"], ["STOP"], [32, 0, "RETURN"])
    end = choice(src, ends)
    inner: list[Item] = [slot, "SLOAD", 1, "ADD", slot, "SSTORE", _value(src), slot, "SSTORE", *end]
    kind = choice(src, ("CALL", "DELEGATECALL", "CALLCODE"))
    outer: list[Item] = [
        _value(src), slot, "SSTORE", *_self_call(kind, "GAS"),
        slot, "SLOAD", _value(src), slot, "SSTORE", slot, "SLOAD", *return_stack(3),
    ]  # fmt: skip
    return Scenario(
        code=_branch(outer, inner), fork=fork, storage={slot: 2}, accounts=_accounts(src)
    )


def sstore_near_stipend(src: Source, fork: str) -> Scenario:
    """SSTORE of a warm, known slot with gas left near 2300 (the EIP-2200 sentry), in a child
    given a chosen gas, or at the top level with a chosen transaction gas."""
    slot, value = _slot(src), _value(src)
    if chance(src, 50):
        inner: list[Item] = [slot, "SLOAD", "POP", value, slot, "SSTORE", "STOP"]
        child_gas = src.randint(2_100, 5_200) if chance(src, 70) else choice(src, (2300, 2301))
        outer = [*_self_call("CALL", child_gas), slot, "SLOAD", *return_stack(2)]
        return Scenario(
            code=_branch(outer, inner), fork=fork, storage={slot: 4}, accounts=_accounts(src)
        )
    code = asm(slot, "SLOAD", "POP", value, slot, "SSTORE", "STOP")
    base = 21_000 + 2 * 3 + 2_100 + 2 + 2 * 3  # intrinsic, pushes, cold SLOAD, POP
    return Scenario(code=code, fork=fork, storage={slot: 4}, gas=base + src.randint(2_000, 5_200))


def refunds_at_cap(src: Source, fork: str) -> Scenario:
    """Many slots cleared (and some restored): the refund meets the transaction's cap."""
    count = src.randint(1, 12)
    storage = {slot: slot + 1 for slot in range(count)}
    items: list[Item] = []
    for slot in range(count):
        items += [slot, "SLOAD", "POP", 0, slot, "SSTORE"]
        if chance(src, 25):
            items += [slot + 1, slot, "SSTORE"]  # restore the original
        if chance(src, 15):
            items += [0, slot, "SSTORE"]
    items += ["GAS", *return_stack(1)]
    return Scenario(
        code=asm(*items), fork=fork, storage=storage, gas=choice(src, (80_000, 300_000))
    )


def transient_across_calls(src: Source, fork: str) -> Scenario:
    """TSTORE, a self-call that reads and writes transient storage and maybe reverts, TLOADs."""
    if 0x5C not in valid_opcodes(fork):
        return many_writes(src, fork)
    slot = _slot(src)
    ends: tuple[list[Item], ...] = ([0, 0, "REVERT"], ["STOP"], ["INVALID"])
    end = choice(src, ends)
    inner: list[Item] = [
        slot, "TLOAD", 1, "ADD", slot, "TSTORE", _value(src), 5, "TSTORE",
        slot, "TLOAD", 0x200, "MSTORE", *end,
    ]  # fmt: skip
    call = _self_call(choice(src, ("CALL", "DELEGATECALL", "STATICCALL")), "GAS")
    outer: list[Item] = [
        _value(src), slot, "TSTORE", slot, "TLOAD", "POP", *call,
        slot, "TLOAD", 5, "TLOAD", _value(src), slot, "TSTORE", slot, "TLOAD", *return_stack(4),
    ]  # fmt: skip
    return Scenario(code=_branch(outer, inner), fork=fork, accounts=_accounts(src))


def logs_in_reverted_calls(src: Source, fork: str) -> Scenario:
    """LOGs before, inside (reverted or not) and after calls; the order must be py-evm's."""
    call: list[Item] = [0, 0, 0, 0, 0, _u(d.CALLEE), "GAS", "CALL", "POP"]
    ends: tuple[list[Item], ...] = ([0, 0, "REVERT"], ["STOP"])
    inner: list[Item] = [
        0xAB, 0, "MSTORE8", 0xC1, 1, 0, "LOG1", *(call if chance(src, 50) else []),
        0xC2, 0xC3, 2, 0, "LOG2", *choice(src, ends),
    ]  # fmt: skip
    n = src.randint(0, 4)
    before: list[Item] = [*([0xB0 + k for k in range(n)]), 32, 0, f"LOG{n}"]
    outer: list[Item] = [
        *before, *_self_call("CALL", "GAS"), "POP",
        *_self_call(choice(src, ("CALL", "DELEGATECALL")), "GAS"), "POP",
        0xE0, src.randint(0, 40), 0, "LOG1", "STOP",
    ]  # fmt: skip
    return Scenario(code=_branch(outer, inner), fork=fork, accounts=_accounts(src))


def selfdestruct_with_storage(src: Source, fork: str) -> Scenario:
    """A contract created in this transaction writes its storage and SELFDESTRUCTs (or an
    existing one does); the caller reads around it."""
    slot, value = _slot(src), _value(src) or 1
    init = asm(value, slot, "SSTORE", slot, "SLOAD", "POP", "CALLER", "SELFDESTRUCT")
    word = int.from_bytes(init.ljust(32, b"\0"), "big")
    if len(init) <= 32 and chance(src, 60):
        code = asm(
            word, 0, "MSTORE", len(init), 0, 0, "CREATE", "DUP1",
            "EXTCODESIZE", 1, "SSTORE", 0, "SSTORE", "STOP",
        )  # fmt: skip
        return Scenario(code=code, fork=fork, accounts=_accounts(src))
    code = asm(value, slot, "SSTORE", slot, "SLOAD", "POP", "CALLER", "SELFDESTRUCT")
    return Scenario(code=code, fork=fork, storage={slot: 8, slot ^ 1: 9}, balance=5)


def delegatecall_writer(src: Source, fork: str) -> Scenario:
    """DELEGATECALL into a library that writes the caller's storage: the caller's later reads
    (native, cached before the call) must see the library's write."""
    slot, value = _slot(src), _value(src)
    gas_choices: tuple[Item, ...] = ("GAS", 30_000, 2_400)
    code = asm(
        slot, "SLOAD", "POP", _value(src), slot, "SSTORE",
        slot, 0, "MSTORE", value, 32, "MSTORE",
        32, 0x200, 64, 0, _u(WRITER_LIBRARY), choice(src, gas_choices),
        "DELEGATECALL",
        slot, "SLOAD", _value(src), slot, "SSTORE", slot, "SLOAD", *return_stack(3),
    )  # fmt: skip
    return Scenario(code=code, fork=fork, storage={slot: 6}, accounts=_accounts(src))


def cold_after_revert(src: Source, fork: str) -> Scenario:
    """A child reads (and maybe writes) slots and reverts: they stay read but cold. A second
    child of the same account, given all gas or a little, starts with them as cold cache
    entries (docs/state-reads.md) and reads and writes them again; then the caller does."""
    slots = [_slot(src) for _ in range(src.randint(1, 3))]
    inner: list[Item] = []
    for slot in slots:
        inner += [slot, "SLOAD", "POP"]
        if chance(src, 50):
            inner += [_value(src), slot, "SSTORE"]
    ends: tuple[list[Item], ...] = ([0, 0, "REVERT"], ["STOP"], ["INVALID"], [32, 0, "RETURN"])
    inner += [0, "CALLDATALOAD", 1, "EQ", Ref("again"), "JUMPI", 0, 0, "REVERT"]
    inner += [Label("again"), *choice(src, ends)]
    gas: int | str = src.randint(2_100, 9_000) if chance(src, 40) else "GAS"
    outer: list[Item] = [
        *_self_call(choice(src, ("CALL", "DELEGATECALL", "CALLCODE")), "GAS", arg=2), "POP",
        *_self_call(choice(src, ("CALL", "DELEGATECALL")), gas, arg=1), "POP",
    ]  # fmt: skip
    for slot in slots:
        if chance(src, 60):
            outer += [slot, "SLOAD", "POP"]
        if chance(src, 40):
            outer += [_value(src), slot, "SSTORE"]
    outer += [slots[0], "SLOAD", "GAS", *return_stack(2)]
    storage = {slot: choice(src, (0, 1, 5)) for slot in slots}
    return Scenario(code=_branch(outer, inner), fork=fork, storage=storage, accounts=_accounts(src))


GENERATORS: dict[str, Callable[[Source, str], Scenario]] = {
    "many_writes": many_writes,
    "write_then_revert": write_then_revert,
    "write_then_interpreted_read": write_then_interpreted_read,
    "nested_writes": nested_writes,
    "sstore_near_stipend": sstore_near_stipend,
    "refunds_at_cap": refunds_at_cap,
    "transient_across_calls": transient_across_calls,
    "logs_in_reverted_calls": logs_in_reverted_calls,
    "selfdestruct_with_storage": selfdestruct_with_storage,
    "delegatecall_writer": delegatecall_writer,
    "cold_after_revert": cold_after_revert,
}


def state_scenario(
    src: Source, fork: str, names: Sequence[str] | None = None
) -> tuple[str, Scenario]:
    """One scenario of a random (or given) storage/log pattern: (generator name, scenario)."""
    pool = tuple(names) if names else tuple(GENERATORS)
    name = choice(src, pool)
    return f"state:{name}", GENERATORS[name](src, fork)
