"""A failing instruction in native code falls back to the interpreter at that instruction, so
the error is py-evm's own: its class, its message and the gas left are the interpreter's."""

from __future__ import annotations

import pytest

from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm, push
from pyevm_jit.testing.differential import Scenario

FAILURES = {
    # the block before the failure runs natively; the failing instruction is mid-block
    "memory expansion out of gas": asm(1, 2, "ADD", 1, 0x3FFFFF, "MSTORE", 3, "POP"),
    "memory offset of 2^64 and more": asm(1, 2, "ADD", 1, 2**70, "MSTORE", "STOP"),
    "sha3 words out of gas": asm(1, 0, "MSTORE", 0x30000, 0, "SHA3", "STOP"),
    "copy words out of gas": asm(1, 0, "MSTORE", 0x40000, 0, 0, "CALLDATACOPY", "STOP"),
    "exp bytes out of gas": asm(*[2**255, 3, "EXP", "POP"] * 60, "STOP"),
    "return data out of bounds": asm(1, 0, 0, "RETURNDATACOPY", "STOP"),
    "return out of gas": asm(1, 2, "ADD", 0x3FFFFF, 0, "RETURN"),
    "invalid opcode": asm(1, 2, "ADD", b"\x0c", "STOP"),
    "designated INVALID": asm(1, "POP", b"\xfe"),
    "jump to a non-JUMPDEST": asm(1, 2, "ADD", 3, "JUMP", "JUMPDEST", "STOP"),
    "jump to 2^64 + a JUMPDEST": asm(2**64 + 6, "JUMP", "JUMPDEST", "STOP"),
    "JUMPI to a huge target": asm(1, 2**200, "JUMPI", "JUMPDEST", "STOP"),
    "jump into push data": asm(4, "JUMP", push(0x5B5B, 2), "JUMPDEST", "STOP"),
    "dynamic jump into push data": asm(0, "CALLDATALOAD", 4, "ADD", "JUMP", push(0x5B5B, 2)),
}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_native_failures_are_py_evms_errors(name: str) -> None:
    scenario = Scenario(code=FAILURES[name], fork="cancun", gas=100_000)
    stock, jit = d.run_both(scenario)
    assert stock.status == "error"
    assert d.compare(stock, jit) == []
    assert jit.detail == stock.detail  # py-evm's own message
    assert jit.native_messages >= 1


# PUSH1 PUSH1 MSTORE (memory: 3 gas) PUSH1 PUSH1 PUSH1 STOP: 18 static gas, prepaid at the head
PREPAID = asm(0x20, 0, "MSTORE", 1, 2, 3, "STOP")


@pytest.mark.parametrize("gas", [19, 20, 21])
def test_a_charge_that_fails_only_because_the_block_was_prepaid(gas: int) -> None:
    """With the block's static gas prepaid, MSTORE's expansion does not fit natively although
    py-evm, which charges as it goes, pays it: py-evm runs on from MSTORE (19, 20: out of gas
    at a later PUSH1, with its own message; 21: success)."""
    scenario = Scenario(code=PREPAID, fork="cancun", gas=21_000 + gas)
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == []
    assert jit.detail == stock.detail
    assert stock.status == ("success" if gas == 21 else "error")
    assert jit.native_messages >= 1
