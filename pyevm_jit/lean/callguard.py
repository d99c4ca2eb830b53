"""The call guard: which of py-evm's call steps the lean call (`lean/calls.py`) may do itself
instead of calling the opcode's or the computation's method. Part of the checks of
`lean/guard.py` (see its docstring), kept apart for size; the fingerprints are in
`guard.PINNED`.

Every verdict here is read on every call (a handful of identity tests): the module-level
functions py-evm's methods call (`_mark_address_warm`, `compute_eip150_msg_gas` ...) can be
replaced at any time, and the opcode classes' methods are looked up on the entry's class.
"""

from __future__ import annotations

from typing import Any

from eth import constants
from eth._utils import state as state_utils
from eth.vm.computation import BaseComputation
from eth.vm.forks.berlin import logic as berlin_logic
from eth.vm.forks.prague import logic as prague_logic
from eth.vm.gas_meter import GasMeter
from eth.vm.logic import call as call_logic

from pyevm_jit.lean.guard import PINNED, pinned, resolve

PINNED.update({
    # calls.py: the account-load charge and code lookup of Berlin's and Prague's calls
    "eth.vm.forks.berlin.logic:BaseCallEIP2929.get_code_at_address": "79b18716aa672077",
    "eth.vm.forks.berlin.logic:BaseCallEIP2929.consume_account_load_gas": "39b96b9837676f40",
    "eth.vm.forks.berlin.logic:_mark_address_warm": "6f34bf13fafeb85c",
    "eth.vm.forks.berlin.logic:_account_load_cost": "c999c9513b39e451",
    "eth.vm.forks.prague.logic:BaseCallEIP7702.get_code_at_address": "c3c1372016d9d788",
    "eth._utils.state:code_is_delegation_designation": "7e15fa0b4f4b6393",
    # calls.py: the child's gas (EIP-150's 63/64 rule and the stipend)
    "eth.vm.logic.call:compute_eip150_msg_gas": "7db279cf28b27da6",
    "eth.vm.logic.call:max_child_gas_eip150": "50842fe2232a19d1",
    "eth.vm.logic.call:CallEIP150.compute_msg_gas": "9f887d2d3048f82f",
    "eth.vm.logic.call:CallCodeEIP150.compute_msg_gas": "9f887d2d3048f82f",
    "eth.vm.logic.call:DelegateCallEIP150.compute_msg_gas": "af5262ec7f2c758f",
})  # fmt: skip


def _pinned_or_none(name: str) -> Any:
    return resolve(name) if pinned(name) else object()


# --- the code lookup ------------------------------------------------------------------------------
#: how `code_lookup_kind` classifies a call opcode's `get_code_at_address`
CODE_OTHER, CODE_EIP2929, CODE_EIP7702 = 0, 1, 2
_GET_CODE = {
    _pinned_or_none("eth.vm.forks.berlin.logic:BaseCallEIP2929.get_code_at_address"): CODE_EIP2929,
    _pinned_or_none("eth.vm.forks.prague.logic:BaseCallEIP7702.get_code_at_address"): CODE_EIP7702,
}
_LOAD_GAS = _pinned_or_none("eth.vm.forks.berlin.logic:BaseCallEIP2929.consume_account_load_gas")
_MARK_ADDRESS_WARM = _pinned_or_none("eth.vm.forks.berlin.logic:_mark_address_warm")
_ACCOUNT_LOAD_COST = _pinned_or_none("eth.vm.forks.berlin.logic:_account_load_cost")
_IS_DELEGATION = _pinned_or_none("eth._utils.state:code_is_delegation_designation")
#: (cost of a cold account, of a warm one): what `_account_load_cost` returns
ACCOUNT_LOAD_COSTS = (
    berlin_logic.berlin_constants.COLD_ACCOUNT_ACCESS_COST,
    berlin_logic.berlin_constants.WARM_STORAGE_READ_COST,
)
#: the first bytes of an EIP-7702 delegation designation (23 bytes in all)
DELEGATION_PREFIX = state_utils.DELEGATION_DESIGNATION_PREFIX


def code_lookup_kind(opcode_fn: Any) -> int:
    """Which of py-evm's `get_code_at_address` the call opcode runs, with everything it calls
    py-evm's own: CODE_EIP2929 (Berlin to Cancun: the account-load charge, then the code),
    CODE_EIP7702 (Prague: the same, and a delegation designation's target charged and read the
    same way), else CODE_OTHER (the method is called)."""
    cls = type(opcode_fn)
    kind = _GET_CODE.get(getattr(cls, "get_code_at_address", None), CODE_OTHER)
    if (
        kind == CODE_OTHER
        or getattr(cls, "consume_account_load_gas", None) is not _LOAD_GAS
        or berlin_logic._mark_address_warm is not _MARK_ADDRESS_WARM
        or berlin_logic._account_load_cost is not _ACCOUNT_LOAD_COST
        or berlin_logic.berlin_constants.COLD_ACCOUNT_ACCESS_COST != ACCOUNT_LOAD_COSTS[0]
        or berlin_logic.berlin_constants.WARM_STORAGE_READ_COST != ACCOUNT_LOAD_COSTS[1]
    ):
        return CODE_OTHER
    if kind == CODE_EIP7702 and (
        prague_logic.code_is_delegation_designation is not _IS_DELEGATION
        or state_utils.DELEGATION_DESIGNATION_PREFIX != DELEGATION_PREFIX
    ):
        return CODE_OTHER
    return kind


# --- the child's gas ------------------------------------------------------------------------------
#: py-evm's EIP-150 `compute_msg_gas` methods -> the stipend they add to a call with value
_EIP150_STIPENDS = {
    _pinned_or_none("eth.vm.logic.call:CallEIP150.compute_msg_gas"): constants.GAS_CALLSTIPEND,
    _pinned_or_none("eth.vm.logic.call:CallCodeEIP150.compute_msg_gas"): constants.GAS_CALLSTIPEND,
    _pinned_or_none("eth.vm.logic.call:DelegateCallEIP150.compute_msg_gas"): 0,
}
_EIP150_MSG_GAS = _pinned_or_none("eth.vm.logic.call:compute_eip150_msg_gas")
_MAX_CHILD_GAS = _pinned_or_none("eth.vm.logic.call:max_child_gas_eip150")


def eip150_stipend(opcode_fn: Any) -> int | None:
    """The stipend of a call opcode whose `compute_msg_gas` is one of py-evm's EIP-150 methods
    (the opcode's `compute_msg_extra_gas`, then `compute_eip150_msg_gas`, both as they are),
    else None (the method is called)."""
    stipend = _EIP150_STIPENDS.get(getattr(type(opcode_fn), "compute_msg_gas", None))
    if (
        stipend is None
        or call_logic.compute_eip150_msg_gas is not _EIP150_MSG_GAS
        or call_logic.max_child_gas_eip150 is not _MAX_CHILD_GAS
    ):
        return None
    return stipend


# --- gas charges and the child's results ----------------------------------------------------------
_CONSUME = _pinned_or_none("eth.vm.gas_meter:GasMeter.consume_gas")
_RETURN = _pinned_or_none("eth.vm.gas_meter:GasMeter.return_gas")


def quiet_call_meter(meter: Any) -> bool:
    """Whether `meter` is py-evm's GasMeter with its own `consume_gas` and `return_gas` (on the
    class, as they were at import and pinned: `guard.gas_meter_bypassed`; none on the
    instance) and its DEBUG2 line off: a charge it can pay is then `gas_remaining -= amount`,
    a return `gas_remaining += amount`."""
    return (
        meter.__class__ is GasMeter
        and GasMeter.consume_gas is _CONSUME
        and GasMeter.return_gas is _RETURN
        and "consume_gas" not in meter.__dict__
        and "return_gas" not in meter.__dict__
        and not meter.logger.show_debug2
    )


#: what a call reads of its child computation, directly when the class keeps py-evm's own
CHILD_RESULT_METHODS = (
    "output",
    "get_gas_remaining",
    "should_erase_return_data",
    "should_burn_gas",
    "is_error",
    "is_success",
)


def plain_child_results(cls: type) -> bool:
    """Whether a computation of `cls` without an error has py-evm's results: `output` is its
    `_output` and `get_gas_remaining()` its meter's `gas_remaining`."""
    own = BaseComputation.__dict__
    return all(getattr(cls, name, None) is own[name] for name in CHILD_RESULT_METHODS)
