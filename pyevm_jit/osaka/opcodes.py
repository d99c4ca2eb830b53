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


def _own_copies(table: dict[int, OpcodeAPI]) -> dict[int, OpcodeAPI]:
    """One new object per entry, as py-evm's `deepcopy` of the previous fork gives, so that an
    entry patched in place in one fork's table is not patched in the other. Per entry and
    shallow: an entry a framework imported before this module wrapped (titanoboa's hooks hold
    generators) cannot be deep-copied, and importing the package must not fail for it."""
    return {number: copy.copy(opcode) for number, opcode in table.items()}


OSAKA_OPCODES: dict[int, OpcodeAPI] = {
    **_own_copies(PRAGUE_OPCODES),
    CLZ: as_opcode(logic_fn=clz, mnemonic="CLZ", gas_cost=GAS_CLZ),
}
