"""Osaka's opcode table: Prague's with CLZ (EIP-7939) at 0x1e."""

from __future__ import annotations

import copy

from eth.abc import ComputationAPI, OpcodeAPI
from eth.vm.forks.prague.opcodes import PRAGUE_OPCODES
from eth.vm.opcode import as_opcode

from pyevm_jit.osaka.constants import CLZ, GAS_CLZ


def clz(computation: ComputationAPI) -> None:
    """CLZ: the number of leading zero bits of the top word (256 for zero)."""
    value = computation.stack_pop1_int()
    computation.stack_push_int(256 - value.bit_length())


OSAKA_OPCODES: dict[int, OpcodeAPI] = {
    **copy.deepcopy(PRAGUE_OPCODES),
    CLZ: as_opcode(logic_fn=clz, mnemonic="CLZ", gas_cost=GAS_CLZ),
}
