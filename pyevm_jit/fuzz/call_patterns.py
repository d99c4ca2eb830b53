"""Fuzz generator for chains of calls between native programs (docs/calls.md).

`call_chain` builds one contract with a section per call depth: the frame at depth k (its
depth is the first word of its call data; the transaction's frame reads 0) writes storage,
transient storage and a log, may move value, calls the next depth (this contract through CALL,
CALLCODE, DELEGATECALL or STATICCALL, or now and then a callee of the standard world, a
precompile or a CREATE), records the call's flag, return data size, returned word and its own
slot afterwards, and ends its own way: STOP, RETURN, REVERT, an invalid opcode, or running out
of gas. Every depth chooses independently, so reverts, failures and static violations happen at
every depth of the chain, over writes made at every other depth.
"""

from __future__ import annotations

from pyevm_jit.forks import valid_opcodes
from pyevm_jit.fuzz.generate import Source, chance, choice
from pyevm_jit.opcodes import BY_NAME
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import MAX_U256, Label, Ref, asm
from pyevm_jit.testing.differential import Scenario

Item = int | str | bytes | Label | Ref

_KINDS = ("CALL", "CALL", "DELEGATECALL", "CALLCODE", "STATICCALL")
_SLOTS = (0, 1, 2, 7)  # shared between depths: a revert at one depth undoes another's write
_VALUES = (0, 1, 2, 0xFF, MAX_U256)
#: precompiles that exist in every fork the fuzzer runs (ecrecover, sha256, ripemd160, identity)
_PRECOMPILES = (1, 2, 3, 4)
#: init code of a CREATE inside the chain: stores 1 at slot 0 of the new account, returns 1 byte
_INIT = asm(1, 0, "SSTORE", 1, 0, "RETURN")


def _supports(fork: str, op: str) -> bool:
    return BY_NAME[op] in valid_opcodes(fork)


def _ending(src: Source, k: int) -> list[Item]:
    kind = src.randint(0, 9)
    if kind <= 2:
        return ["STOP"]
    if kind <= 4:
        return [32, 0, "RETURN"]
    if kind <= 6:
        return [32, 0, "REVERT"]
    if kind == 7:
        return ["INVALID"]
    # out of gas: a loop that never ends
    return [Label(f"burn{k}"), Ref(f"burn{k}"), "JUMP"]


def _target(src: Source) -> tuple[int | str, bool]:
    """(the address item, whether it is this contract: the chain goes on)."""
    kind = src.randint(0, 9)
    if kind <= 6:
        return "ADDRESS", True
    if kind == 7:
        return int.from_bytes(choice(src, (d.CALLEE, d.REVERTER, d.STORER, d.RICH)), "big"), False
    return choice(src, _PRECOMPILES), False


def _section(src: Source, fork: str, k: int, last: bool) -> list[Item]:
    items: list[Item] = [Label(f"depth{k}"), "POP"]
    slot = choice(src, _SLOTS)
    items += [choice(src, _VALUES), slot, "SSTORE"]
    if _supports(fork, "TSTORE") and chance(src, 50):
        items += [k + 1, choice(src, _SLOTS), "TSTORE"]
    if chance(src, 50):
        items += [0xD0 + k, 0, 0, "LOG1"]
    if not last or chance(src, 20):
        if chance(src, 10) and _supports(fork, "CREATE"):
            word = int.from_bytes(_INIT.ljust(32, b"\0"), "big")
            items += [word, 0x400, "MSTORE", len(_INIT), 0x400, 0, "CREATE", 600 + k, "SSTORE"]
        kinds = [op for op in _KINDS if _supports(fork, op)]
        kind = choice(src, kinds)
        target, chained = _target(src)
        if last:
            bottom: list[int | str] = [d.addr(d.CALLEE), 4]
            target, chained = choice(src, bottom), False
        gas_choices: list[int | str] = ["GAS", "GAS", "GAS", 5_000, 40_000, 2**255]
        gas = choice(src, gas_choices)
        items += [k + 1, 0, "MSTORE", 32, 32, 32, 0]  # out (32, 32), in (0, 32): the depth
        if kind in ("CALL", "CALLCODE"):
            items.append(choice(src, (0, 0, 1, 3, 10**30)))  # 10**30: more than it holds
        items += [target, gas, kind, 100 + k, "SSTORE"]
        items += ["RETURNDATASIZE", 200 + k, "SSTORE", 32, "MLOAD", 300 + k, "SSTORE"]
        if chained and not last:
            items += [slot, "SLOAD", 400 + k, "SSTORE"]
            if _supports(fork, "TLOAD"):
                items += [slot, "TLOAD", 500 + k, "SSTORE"]
    items += [k, 0, "MSTORE", *_ending(src, k)]
    return items


def call_chain(src: Source, fork: str) -> Scenario:
    """A chain of 1 to 7 frames of this contract, each written, ended and called differently."""
    depth = src.randint(1, 7)
    dispatch: list[Item] = [0, "CALLDATALOAD"]
    for k in range(depth):
        dispatch += ["DUP1", k, "EQ", Ref(f"depth{k}"), "JUMPI"]
    dispatch += ["STOP"]
    sections: list[Item] = []
    for k in range(depth):
        sections += _section(src, fork, k, k == depth - 1)
    code = asm(*dispatch, *sections)
    return Scenario(
        code=code,
        fork=fork,
        gas=choice(src, (150_000, 1_000_000)),
        storage={slot: 3 for slot in _SLOTS[1:]},
        balance=choice(src, (0, 5)),
        accounts=d.standard_accounts(),
    )
