"""CLZ compiled natively: the opcode table's entry and its emitter (LLVM's ctlz), valid only where
py-evm's fork table (OsakaVM's) has it, and identical to the interpreter on edge values."""

from __future__ import annotations

import pytest

from pyevm_jit.compiler.analysis import native_kind
from pyevm_jit.compiler.codegen import translate
from pyevm_jit.opcodes import BY_NAME, OPCODES, Kind, fork_spec
from pyevm_jit.osaka.constants import CLZ
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import AsmItem, asm

EDGES = (0, 1, 2, 3, 0x7F, 0x80, 0xFF, 2**63, 2**64 - 1, 2**64, 2**128 - 1, 2**128,
         2**255 - 1, 2**255, 2**256 - 1)  # fmt: skip


def test_clz_is_in_the_table_and_native_from_osaka_on() -> None:
    assert BY_NAME["CLZ"] == CLZ and OPCODES[CLZ].name == "CLZ"
    assert native_kind(CLZ, fork_spec("osaka")) is Kind.NATIVE
    assert native_kind(CLZ, fork_spec("bpo2")) is Kind.NATIVE
    assert native_kind(CLZ, fork_spec("prague")) is None  # invalid there: the interpreter says
    assert fork_spec("osaka").static_gas[CLZ] == 5


def test_clz_compiles_to_ctlz() -> None:
    code = asm(0, "CALLDATALOAD", "CLZ", 0, "MSTORE", 32, 0, "RETURN")
    assert "@llvm.ctlz.i256" in translate(code, "osaka", "entry")
    folded = translate(asm(2**200, "CLZ", 0, "MSTORE", 32, 0, "RETURN"), "osaka", "entry")
    assert "ctlz" not in folded  # a constant operand is counted at compile time


def _program(words: int) -> bytes:
    """CLZ of each calldata word (a runtime value) and of each edge value as a constant, all
    returned."""
    items: list[AsmItem] = []
    for i in range(words):
        items += [32 * i, "CALLDATALOAD", "CLZ", 32 * i, "MSTORE"]
    for j, value in enumerate(EDGES):
        items += [value, "CLZ", 32 * (words + j), "MSTORE"]
    items += ["GAS", 32 * (words + len(EDGES)), "MSTORE"]
    items += [32 * (words + len(EDGES) + 1), 0, "RETURN"]
    return asm(*items)


@pytest.mark.parametrize("width", [64, 256])
def test_native_clz_matches_the_interpreter(width: int) -> None:
    values = [v for v in EDGES if v < 2**width]
    calldata = b"".join(v.to_bytes(32, "big") for v in values)
    scenario = d.Scenario(code=_program(len(values)), fork="osaka", calldata=calldata)
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == []
    assert jit.ran_native
    counts = [int.from_bytes(stock.output[32 * i : 32 * i + 32], "big") for i in range(len(values))]
    assert counts == [256 - v.bit_length() for v in values]


def test_clz_underflow_matches_the_interpreter() -> None:
    scenario = d.Scenario(code=asm("CLZ", 0, "MSTORE", 32, 0, "RETURN"), fork="osaka")
    stock, jit = d.run_both(scenario)
    assert stock.error == "InsufficientStack"
    assert d.compare(stock, jit) == []
