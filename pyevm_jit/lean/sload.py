"""The lean SLOAD of a native cache miss: py-evm's steps on the slot word the native frame holds.

A SLOAD that native code could not answer from its cache (a miss) suspends to py-evm. py-evm's
opcode (`_FastOpcode.__call__`: the static gas, then the logic function) pops the slot off
py-evm's stack and pushes the value; `sload(...)` below does the same steps in the same order
on the slot word the native frame holds, and returns the value instead of pushing it. It runs
only for py-evm's own opcode class and logic functions, checked by identity on every call
(`guard.sload_kind`: a replaced or patched SLOAD returns None and runs through the generic host
operation), and only for computation classes with py-evm's stack methods (`lean_sload`).
"""

from __future__ import annotations

from typing import Any, cast

from eth.abc import ComputationAPI
from eth.validation import validate_stack_int
from eth.vm import mnemonics
from eth.vm.forks.berlin import constants as berlin_constants
from eth.vm.forks.berlin import logic as berlin_logic

from pyevm_jit.lean import guard
from pyevm_jit.lean.protocols import Computation
from pyevm_jit.opcodes import SLOAD

_UINT256_LIMIT = 1 << 256


def lean_sload(computation_class: type) -> bool:
    """Whether messages of `computation_class` may read storage through `sload`."""
    return guard.keeps_pyevm_methods(computation_class, guard.SLOAD_STACK_METHODS)


def sload(computation: Computation, slot: int, journal: Any = None) -> int | None:
    """py-evm's SLOAD of `slot` for the computation's table: its gas, EIP-2929 access marks
    and state read, exactly as its opcode does them (its errors raised as it raises them);
    returns the value it would push. None, with nothing done, when the table's SLOAD is not
    py-evm's `sload` or `sload_eip2929` in py-evm's opcode class. `journal`: the state's
    native journal when the message's state plan is on (its view is read directly)."""
    opcode_fn: Any = computation.opcodes.get(SLOAD)
    kind = guard.sload_kind(opcode_fn)
    if kind == guard.SLOAD_OTHER:
        return None
    static = opcode_fn.gas_cost
    if journal is not None and kind == guard.SLOAD_BERLIN:
        # the native journal's flat view, as the state's py-evm methods would read it; the two
        # charges in one subtraction when py-evm's GasMeter would take both without a word
        # (`guard.quiet_gas_meter`), else each through consume_gas (its errors, its order)
        meter = computation._gas_meter
        quiet = guard.quiet_gas_meter(meter)
        if quiet and static <= meter.gas_remaining:
            meter.gas_remaining -= static
        else:
            computation.consume_gas(static, opcode_fn.mnemonic)
        address = computation.msg.storage_address
        if journal.jx_mark_slot_warm(address, slot):
            gas_cost = berlin_constants.COLD_SLOAD_COST
        else:
            gas_cost = berlin_constants.WARM_STORAGE_READ_COST
        if quiet and gas_cost <= meter.gas_remaining:
            meter.gas_remaining -= gas_cost
        else:
            computation.consume_gas(gas_cost, reason=mnemonics.SLOAD)
        return journal.jx_get(address, slot)
    computation.consume_gas(static, opcode_fn.mnemonic)
    state = computation.state
    address = computation.msg.storage_address
    if journal is not None and kind != guard.SLOAD_BERLIN_WARM_PATCHED:
        return journal.jx_get(address, slot)  # Frontier's SLOAD: no access marks
    if kind != guard.SLOAD_FRONTIER:
        if kind == guard.SLOAD_BERLIN_WARM_PATCHED:  # a replaced _mark_storage_warm: call it
            was_cold = berlin_logic._mark_storage_warm(cast(ComputationAPI, computation), slot)
        elif state.is_storage_warm(address, slot):  # py-evm's _mark_storage_warm, inlined
            was_cold = False
        else:
            state.mark_storage_warm(address, slot)
            was_cold = True
        if was_cold:
            gas_cost = berlin_constants.COLD_SLOAD_COST
        else:
            gas_cost = berlin_constants.WARM_STORAGE_READ_COST
        computation.consume_gas(gas_cost, reason=mnemonics.SLOAD)
    value: int = state.get_storage(address=address, slot=slot)
    if value.__class__ is not int or not 0 <= value < _UINT256_LIMIT:
        validate_stack_int(value)  # py-evm's push raises this error
    return value
