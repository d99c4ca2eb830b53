"""Lean CALL, CALLCODE, DELEGATECALL and STATICCALL for native code.

py-evm's `BaseCall.__call__` runs through its stack (pops and pushes of boxed words), a tuple
of eleven call parameters, `prepare_child_message`, `apply_child_computation`,
`generate_child_computation`, `apply_message` and `add_child_computation`. `call(...)` below does
the same steps in the same order with the inputs the native frame already holds as integers:
every rule that differs between forks or that a VM may configure -- the static gas of the
opcode, the account-load cost and code lookup (`get_code_at_address`: EIP-2929 warm/cold
accounts, EIP-7702 delegations), the child's gas (`compute_msg_gas`: transfer and new-account
fees, the 63/64 rule, the stipend), the child message's execution (`apply_message` of the
computation class) -- is the opcode object's or the computation class's own method, or the
same steps done here when that method is py-evm's own (below).

What is inlined is only what py-evm's base classes do the same way for every fork: reading the
parameters off the stack (one function per py-evm `get_call_params`, chosen by identity, so an
opcode class with its own parameters is not handled here), memory expansion and reads through
the computation, the balance and depth checks, the child `Message`, and the bookkeeping of
`add_child_computation`. `lean_calls(computation_class)` says which call opcodes qualify: their
`__call__` and `get_call_params` are py-evm's and the computation class keeps py-evm's child
message methods (`guard.call_params_kind`, `guard.CHILD_METHODS`). Anything else runs py-evm's
opcode as before.

Within such a call, the steps py-evm's own objects make without anything to observe -- quiet
gas charges and returns, memory steps of size 0, Berlin's and Prague's account-load charge and
code lookup, the EIP-150 63/64 rule, an error-free child's results -- are done in place while
`lean.callguard` finds those objects py-evm's (checked on every call; docs/calls.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eth import constants
from eth.exceptions import OutOfGas, WriteProtection
from eth.vm.message import Message
from eth_typing import Address

from pyevm_jit.lean import callguard, guard, records
from pyevm_jit.lean import exact as exact_rule
from pyevm_jit.lean.protocols import Computation
from pyevm_jit.opcodes import CALL, CALLCODE, DELEGATECALL, STATICCALL

_ADDRESS_MASK = (1 << 160) - 1
STACK_DEPTH_LIMIT = constants.STACK_DEPTH_LIMIT

# (gas, value, to, sender, code_address, in_start, in_size, out_start, out_size,
#  should_transfer_value, is_static) from the opcode's inputs (top of the stack last)
Params = tuple[int, int, Address, Any, Any, int, int, int, int, bool, bool]
#: reads a call opcode's parameters from its inputs (one per py-evm `get_call_params`)
ParamsReader = Callable[[Computation, list[int]], Params]


def _address(word: int) -> Address:
    return (word & _ADDRESS_MASK).to_bytes(20, "big")  # type: ignore[return-value]


def _call_params(computation: Computation, w: list[int]) -> Params:
    return (
        w[-1],
        w[-3],
        _address(w[-2]),
        None,
        None,
        w[-4],
        w[-5],
        w[-6],
        w[-7],
        True,
        computation.msg.is_static,
    )


def _call_params_byzantium(computation: Computation, w: list[int]) -> Params:
    params = _call_params(computation, w)
    if computation.msg.is_static and params[1] != 0:
        raise WriteProtection("Cannot modify state while inside of a STATICCALL context")
    return params


def _callcode_params(computation: Computation, w: list[int]) -> Params:
    # CALL's stack items; the address is the code's, the call goes to this account
    params = _call_params(computation, w)
    here = computation.msg.storage_address
    return (params[0], params[1], here, here, params[2], *params[5:])


def _delegatecall_params(computation: Computation, w: list[int]) -> Params:
    msg = computation.msg
    return (
        w[-1],
        msg.value,
        msg.storage_address,
        msg.sender,
        _address(w[-2]),
        w[-3],
        w[-4],
        w[-5],
        w[-6],
        False,
        msg.is_static,
    )


def _staticcall_params(computation: Computation, w: list[int]) -> Params:
    return (w[-1], 0, _address(w[-2]), None, None, w[-3], w[-4], w[-5], w[-6], False, True)


#: guard.CALL_PARAMS names -> readers of the same parameters from native inputs
_READERS: dict[str, ParamsReader] = {
    "call": _call_params,
    "call_byzantium": _call_params_byzantium,
    "callcode": _callcode_params,
    "delegatecall": _delegatecall_params,
    "staticcall": _staticcall_params,
}


def lean_calls(
    computation_class: type, opcodes: Mapping[int, Any], exact: frozenset[int] = frozenset()
) -> dict[int, ParamsReader]:
    """opcode -> parameter reader, for the call opcodes of the table `opcodes` (of a message of
    `computation_class`) that `call` runs exactly as py-evm's opcode would: their entries are
    py-evm's exact objects (`exact`, from `lean.exact`) and the class keeps py-evm's child
    message methods (empty otherwise)."""
    if not guard.keeps_pyevm_methods(computation_class, guard.CHILD_METHODS):
        return {}
    calls = (CALL, CALLCODE, DELEGATECALL, STATICCALL)
    return exact_rule.exact_paths(opcodes, calls, exact, guard.call_params_kind, _READERS)


def call(computation: Computation, opcode_fn: Any, reader: ParamsReader, inputs: list[int]) -> int:
    """Run one call opcode like `BaseCall.__call__`; returns the word it pushes (1 or 0).

    Where py-evm's own objects do them (`lean.callguard`, checked on every call), the steps
    with nothing to observe are done here: a charge the meter can pay (py-evm's quiet
    GasMeter: `gas_remaining -= amount`), a return of gas, memory steps of size 0 (py-evm's
    do nothing for them on the native frame's words), the account-load charge and code lookup
    (the state's own `is_address_warm`, `mark_address_warm` and `get_code`, in py-evm's order),
    the 63/64 rule after the opcode's own `compute_msg_extra_gas`, and the child's output and
    gas remaining when it ended without an error."""
    meter = computation._gas_meter
    quiet = callguard.quiet_call_meter(meter)
    _charge(computation, meter, quiet, opcode_fn.gas_cost, opcode_fn.mnemonic)  # also when 0
    (
        gas,
        value,
        to,
        sender,
        code_address,
        in_start,
        in_size,
        out_start,
        out_size,
        should_transfer_value,
        is_static,
    ) = reader(computation, inputs)

    # py-evm's extend_memory, memory_read_bytes and memory_write (`guard.CHILD_METHODS`) do
    # nothing for size 0 but check words that come from the native stack (always uint256)
    if in_size:
        computation.extend_memory(in_start, in_size)
    if out_size:
        computation.extend_memory(out_start, out_size)
    call_data = computation.memory_read_bytes(in_start, in_size) if in_size else b""

    code_source = code_address if code_address else to
    kind = callguard.code_lookup_kind(opcode_fn) if quiet else callguard.CODE_OTHER
    if kind == callguard.CODE_OTHER:
        code, delegation_address = opcode_fn.get_code_at_address(computation, code_source)
    else:
        code, delegation_address = _code_at(computation, meter, opcode_fn, code_source, kind)
    stipend = callguard.eip150_stipend(opcode_fn) if quiet else None
    if stipend is None:
        child_msg_gas, child_msg_gas_fee = opcode_fn.compute_msg_gas(computation, gas, to, value)
    else:  # compute_eip150_msg_gas
        extra_gas = opcode_fn.compute_msg_extra_gas(computation, gas, to, value)
        remaining = meter.gas_remaining
        if remaining < extra_gas:
            raise OutOfGas(
                f"Out of gas: Needed {extra_gas}"
                f" - Remaining {remaining}"
                f" - Reason: {opcode_fn.mnemonic}"
            )
        left = remaining - extra_gas
        gas = min(gas, left - left // 64)
        child_msg_gas_fee = gas + extra_gas
        child_msg_gas = gas + (stipend if value else 0)
    _charge(computation, meter, quiet, child_msg_gas_fee, opcode_fn.mnemonic)

    msg = computation.msg
    state = computation.state
    sender_balance = state.get_balance(msg.storage_address)
    if (should_transfer_value and sender_balance < value) or msg.depth + 1 > STACK_DEPTH_LIMIT:
        computation.return_data = b""
        _return(computation, meter, quiet, child_msg_gas)
        return 0

    child_msg = records.new_message(
        Message,
        gas=child_msg_gas,
        to=to,
        sender=sender if sender is not None else msg.storage_address,
        value=value,
        data=call_data,
        code=code,
        depth=msg.depth + 1,
        code_address=delegation_address or code_address,
        should_transfer_value=should_transfer_value,
        is_static=is_static,
        is_delegation=delegation_address is not None,
    )
    child = computation.apply_message(
        state, child_msg, computation.transaction_context, parent_computation=computation
    )
    # add_child_computation (a call's child is never a create)
    error = child._error
    if error is None and _plain_results.get(type(child)):
        output = child._output
        computation.return_data = output
        computation.children.append(child)
        size = min(out_size, len(output))
        if size:
            computation.memory_write(out_start, size, output[:size])
        _return(computation, meter, quiet, child._gas_meter.gas_remaining)
        return 1
    if error is not None and error.burns_gas:
        computation.return_data = b""
    else:
        computation.return_data = child.output
    computation.children.append(child)

    if error is None or not error.erases_return_data:
        output = child.output
        size = min(out_size, len(output))
        computation.memory_write(out_start, size, output[:size])
    if error is None or not error.burns_gas:
        computation.return_gas(child.get_gas_remaining())
    return 0 if error is not None else 1


#: per child computation class: whether its results may be read directly
#: (`callguard.plain_child_results`)
_plain_results = exact_rule.ClassVerdicts(callguard.plain_child_results)


def _charge(computation: Computation, meter: Any, quiet: bool, amount: int, reason: str) -> None:
    """`computation.consume_gas(amount, reason=reason)`: py-evm's quiet meter pays it in place."""
    if quiet and amount.__class__ is int and 0 <= amount <= meter.gas_remaining:
        meter.gas_remaining -= amount
    else:
        computation.consume_gas(amount, reason=reason)


def _return(computation: Computation, meter: Any, quiet: bool, amount: int) -> None:
    """`computation.return_gas(amount)`: py-evm's quiet meter takes it back in place."""
    if quiet and amount.__class__ is int and amount >= 0:
        meter.gas_remaining += amount
    else:
        computation.return_gas(amount)


def _code_at(
    computation: Computation, meter: Any, opcode_fn: Any, address: Address, kind: int
) -> tuple[bytes, Address | None]:
    """py-evm's Berlin `get_code_at_address` (and Prague's, `kind` CODE_EIP7702) with a quiet
    meter: `consume_account_load_gas` -- `_mark_address_warm`, `_account_load_cost`, the
    charge -- then the state's `get_code`."""
    state = computation.state
    _load_account(computation, meter, state, opcode_fn, address)
    code = state.get_code(address)
    delegated = len(code) == 23 and code[:3] == callguard.DELEGATION_PREFIX
    if kind == callguard.CODE_EIP7702 and delegated:
        delegation: Address = code[3:]  # type: ignore[assignment]
        _load_account(computation, meter, state, opcode_fn, delegation)
        return state.get_code(delegation), delegation
    return code, None


def _load_account(
    computation: Computation, meter: Any, state: Any, opcode_fn: Any, address: Address
) -> None:
    if state.is_address_warm(address):
        fee = callguard.ACCOUNT_LOAD_COSTS[1]
    else:
        state.mark_address_warm(address)
        fee = callguard.ACCOUNT_LOAD_COSTS[0]
    if fee > 0:
        if fee <= meter.gas_remaining:
            meter.gas_remaining -= fee
        else:
            computation.consume_gas(
                fee, reason=f"{opcode_fn.mnemonic} charges implicit account load for reading code"
            )
