"""Lean CALL, CALLCODE, DELEGATECALL and STATICCALL for native code.

py-evm's `BaseCall.__call__` runs through its stack (pops and pushes of boxed words), a tuple
of eleven call parameters, `prepare_child_message`, `apply_child_computation`,
`generate_child_computation`, `apply_message` and `add_child_computation`. `call(...)` below does
the same steps in the same order with the inputs the native frame already holds as integers:
every rule that differs between forks or that a VM may configure -- the static gas of the
opcode, the account-load cost and code lookup (`get_code_at_address`: EIP-2929 warm/cold
accounts, EIP-7702 delegations), the child's gas (`compute_msg_gas`: transfer and new-account
fees, the 63/64 rule, the stipend), the child message's execution (`apply_message` of the
computation class) -- is still the opcode object's or the computation class's own method.

What is inlined is only what py-evm's base classes do the same way for every fork: reading the
parameters off the stack (one function per py-evm `get_call_params`, chosen by identity, so an
opcode class with its own parameters is not handled here), memory expansion and reads through
the computation, the balance and depth checks, the child `Message`, and the bookkeeping of
`add_child_computation`. `lean_calls(computation_class)` says which call opcodes qualify: their
`__call__` and `get_call_params` are py-evm's and the computation class keeps py-evm's child
message methods (`guard.call_params_kind`, `guard.CHILD_METHODS`). Anything else runs py-evm's
opcode as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eth import constants
from eth.exceptions import WriteProtection
from eth.vm.message import Message
from eth_typing import Address

from pyevm_jit.lean import guard, records
from pyevm_jit.lean.exact import exact_paths
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
    return exact_paths(opcodes, calls, exact, guard.call_params_kind, _READERS)


def call(computation: Computation, opcode_fn: Any, reader: ParamsReader, inputs: list[int]) -> int:
    """Run one call opcode like `BaseCall.__call__`; returns the word it pushes (1 or 0)."""
    computation.consume_gas(opcode_fn.gas_cost, reason=opcode_fn.mnemonic)  # also when 0
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

    computation.extend_memory(in_start, in_size)
    computation.extend_memory(out_start, out_size)
    call_data = computation.memory_read_bytes(in_start, in_size)

    code_source = code_address if code_address else to
    code, delegation_address = opcode_fn.get_code_at_address(computation, code_source)
    child_msg_gas, child_msg_gas_fee = opcode_fn.compute_msg_gas(computation, gas, to, value)
    computation.consume_gas(child_msg_gas_fee, reason=opcode_fn.mnemonic)

    msg = computation.msg
    state = computation.state
    sender_balance = state.get_balance(msg.storage_address)
    if (should_transfer_value and sender_balance < value) or msg.depth + 1 > STACK_DEPTH_LIMIT:
        computation.return_data = b""
        computation.return_gas(child_msg_gas)
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
