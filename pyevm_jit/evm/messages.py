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
message methods. Anything else runs py-evm's opcode as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth import constants
from eth.exceptions import WriteProtection
from eth.vm.computation import BaseComputation
from eth.vm.logic import call as call_logic
from eth.vm.logic import flow as flow_logic
from eth.vm.message import Message
from eth.vm.opcode import _FastOpcode
from eth_typing import Address

from pyevm_jit.opcodes import CALL, CALLCODE, DELEGATECALL, SLOAD, STATICCALL

_ADDRESS_MASK = (1 << 160) - 1
STACK_DEPTH_LIMIT = constants.STACK_DEPTH_LIMIT

# (gas, value, to, sender, code_address, in_start, in_size, out_start, out_size,
#  should_transfer_value, is_static) from the opcode's inputs (top of the stack last)
Params = tuple[int, int, Address, Any, Any, int, int, int, int, bool, bool]


def _address(word: int) -> Address:
    return (word & _ADDRESS_MASK).to_bytes(20, "big")  # type: ignore[return-value]


def _call_params(computation: Any, w: list[int]) -> Params:
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


def _call_params_byzantium(computation: Any, w: list[int]) -> Params:
    params = _call_params(computation, w)
    if computation.msg.is_static and params[1] != 0:
        raise WriteProtection("Cannot modify state while inside of a STATICCALL context")
    return params


def _callcode_params(computation: Any, w: list[int]) -> Params:
    # CALL's stack items; the address is the code's, the call goes to this account
    params = _call_params(computation, w)
    here = computation.msg.storage_address
    return (params[0], params[1], here, here, params[2], *params[5:])


def _delegatecall_params(computation: Any, w: list[int]) -> Params:
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


def _staticcall_params(computation: Any, w: list[int]) -> Params:
    return (w[-1], 0, _address(w[-2]), None, None, w[-3], w[-4], w[-5], w[-6], False, True)


#: py-evm's get_call_params implementations and their equivalents on native inputs
_PARAMS: dict[Any, Callable[[Any, list[int]], Params]] = {
    call_logic.Call.get_call_params: _call_params,
    call_logic.CallByzantium.get_call_params: _call_params_byzantium,
    call_logic.CallCode.get_call_params: _callcode_params,
    call_logic.DelegateCall.get_call_params: _delegatecall_params,
    call_logic.StaticCall.get_call_params: _staticcall_params,
}

#: computation methods the lean path inlines or relies on being py-evm's
_CHILD_METHODS = (
    "prepare_child_message",
    "apply_child_computation",
    "generate_child_computation",
    "add_child_computation",
    "extend_memory",
    "memory_read_bytes",
    "memory_write",
    "consume_gas",
    "return_gas",
)


def lean_calls(
    computation_class: type, opcodes: Any
) -> dict[int, Callable[[Any, list[int]], Params]]:
    """opcode -> parameter reader, for the call opcodes of the table `opcodes` (of a message of
    `computation_class`) that `call` runs exactly as py-evm's opcode would (empty when the class
    changes how children run)."""
    for name in _CHILD_METHODS:
        if getattr(computation_class, name) is not getattr(BaseComputation, name):
            return {}
    found = {}
    for opcode in (CALL, CALLCODE, DELEGATECALL, STATICCALL):
        opcode_fn = opcodes.get(opcode)
        if opcode_fn is None or type(opcode_fn).__call__ is not call_logic.BaseCall.__call__:
            continue
        reader = _PARAMS.get(type(opcode_fn).get_call_params)
        if reader is not None:
            found[opcode] = reader
    return found


def call(
    computation: Any, opcode_fn: Any, reader: Callable[[Any, list[int]], Params], inputs: list[int]
) -> int:
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

    child_msg = Message(
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


# --- transactions -----------------------------------------------------------------------------
# py-evm's `build_evm_message` formats a debug line (the transaction's repr, a keccak of its
# data, the contract's code in hex) before asking the logger whether debug output is on; that
# formatting is most of the method's time. `_build_evm_message` below does what py-evm's three
# versions of the method do (Frontier, London and Cancun: they differ only in the debug line and,
# from Cancun on, the blob data fee, the message refund and EIP-7702 code lookup), in the same
# order, with the same debug line written only when the logger shows it.
#
# Each lean method replaces py-evm's only when py-evm's method is the one it was written against:
# the source text of the installed method must have the fingerprint recorded with it (py-evm
# 0.12.1b1). Any other version of the method -- a py-evm upgrade that changes it -- is used as it
# is. After checking a changed method against `_build_evm_message`, record its new fingerprint
# (`method_fingerprint`).
import hashlib  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import textwrap  # noqa: E402

from eth._utils.address import generate_contract_address  # noqa: E402
from eth.constants import CREATE_CONTRACT_ADDRESS  # noqa: E402
from eth.vm.forks.cancun import state as cancun_state  # noqa: E402
from eth.vm.forks.frontier import state as frontier_state  # noqa: E402
from eth.vm.forks.london import state as london_state  # noqa: E402
from eth_utils import encode_hex, keccak  # noqa: E402

log = logging.getLogger(__name__)


def _build_evm_message(self: Any, transaction: Any, family: str) -> Any:
    """py-evm's `build_evm_message` of `family`: "frontier", "london" (only the debug line
    differs) or "cancun" (also the blob data fee, the message refund and delegations)."""
    cancun = family == "cancun"
    state = self.vm_state
    gas_fee = transaction.gas * state.get_gas_price(transaction)
    if cancun and transaction.type_id == cancun_state.BLOB_TX_TYPE:
        gas_fee += self.calc_data_fee(transaction)
    state.delta_balance(transaction.sender, -1 * gas_fee)
    state.increment_nonce(transaction.sender)
    refund = self.calc_message_refund(transaction) if cancun else 0
    message_gas = transaction.gas - transaction.intrinsic_gas
    is_delegation = False
    if transaction.to == CREATE_CONTRACT_ADDRESS:
        contract_address = generate_contract_address(
            transaction.sender, state.get_nonce(transaction.sender) - 1
        )
        data = b""
        code = transaction.data
    else:
        contract_address = None
        data = transaction.data
        if cancun:
            code, delegation_address = self.get_code_at_address(transaction.to)
            is_delegation = delegation_address is not None
        else:
            code = state.get_code(transaction.to)
    logger = state.logger
    if logger.show_debug2:
        logger.debug2(_debug_line(transaction, code, family))
    return Message(
        gas=message_gas,
        to=transaction.to,
        sender=transaction.sender,
        value=transaction.value,
        data=data,
        code=code,
        create_address=contract_address,  # type: ignore[arg-type]
        refund=refund,
        is_delegation=is_delegation,
    )


def _debug_line(transaction: Any, code: bytes, family: str) -> str:
    """The line py-evm's `build_evm_message` of `family` logs at level DEBUG2."""
    sender = encode_hex(transaction.sender)
    to = encode_hex(transaction.to)
    data_hash = encode_hex(keccak(transaction.data))
    if family == "frontier":
        return (
            f"TRANSACTION: sender: {sender} | to: {to} | value: {transaction.value} | "
            f"gas: {transaction.gas} | gas-price: {transaction.gas_price} | "
            f"s: {transaction.s} | r: {transaction.r} | y_parity: {transaction.y_parity} | "
            f"data-hash: {data_hash}"
        )
    line = f"TRANSACTION: {repr(transaction)}; sender: {sender} | to: {to} | data-hash: {data_hash}"
    if family == "cancun":
        line += f" | gas: {transaction.gas} | code: {encode_hex(code)} | "
    return line


def _lean_method(family: str) -> Callable[[Any, Any], Any]:
    """The lean `build_evm_message` of `family`, to stand in an executor class."""

    def build_evm_message(self: Any, transaction: Any) -> Any:
        return _build_evm_message(self, transaction, family)

    build_evm_message.__qualname__ = f"lean_{family}_build_evm_message"
    return build_evm_message


def method_fingerprint(method: Any) -> str | None:
    """A fingerprint of `method`'s source text (None when the source cannot be read)."""
    try:
        source = inspect.getsource(method)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(textwrap.dedent(source).encode()).hexdigest()[:16]


#: (py-evm class, its build_evm_message's fingerprint in py-evm 0.12.1b1, the lean copy)
_WRITTEN_AGAINST: tuple[tuple[type, str, Callable[[Any, Any], Any]], ...] = (
    (frontier_state.FrontierTransactionExecutor, "191e8e3049d06771", _lean_method("frontier")),
    (london_state.LondonTransactionExecutor, "3ef800f286d2d2e1", _lean_method("london")),
    (cancun_state.CancunTransactionExecutor, "0a3e38aac2aaffa9", _lean_method("cancun")),
)


def lean_methods() -> dict[Any, Callable[[Any, Any], Any]]:
    """py-evm's build_evm_message -> its lean copy, for each method of the installed py-evm that
    is the one its copy was written against."""
    table = {}
    for owner, recorded, lean in _WRITTEN_AGAINST:
        method = owner.__dict__.get("build_evm_message")
        if method is not None and method_fingerprint(method) == recorded:
            table[method] = lean
        else:
            log.debug("pyevm-jit: %s.build_evm_message is not the one of py-evm 0.12.1b1: "
                      "kept as it is", owner.__name__)  # fmt: skip
    return table


_BUILD_EVM_MESSAGE = lean_methods()


def lean_executor(executor_class: type) -> type | None:
    """`executor_class` with the lean `build_evm_message`, or None when its method is not one
    of py-evm's that a lean copy was written against."""
    method: Any = getattr(executor_class, "build_evm_message", None)
    lean = _BUILD_EVM_MESSAGE.get(method)
    if lean is None:
        return None
    return type(
        f"Lean{executor_class.__name__}",
        (executor_class,),
        {"build_evm_message": lean, "__module__": __name__},
    )


# --- environment words ------------------------------------------------------------------------
# The native program's environment block is filled, per message, by running py-evm's logic of
# each environment opcode it reads and popping the result off py-evm's stack. For py-evm's own
# logic functions the value is read directly from the same attribute the function pushes.
from eth.vm.logic import block as block_logic  # noqa: E402
from eth.vm.logic import context as context_logic  # noqa: E402


def _bytes_word(data: bytes) -> int:
    return int.from_bytes(data, "big")


_ENV_GETTERS: dict[Any, Callable[[Any], int]] = {
    context_logic.address: lambda c: _bytes_word(c.msg.storage_address),
    context_logic.origin: lambda c: _bytes_word(c.transaction_context.origin),
    context_logic.caller: lambda c: _bytes_word(c.msg.sender),
    context_logic.callvalue: lambda c: c.msg.value,
    context_logic.gasprice: lambda c: c.transaction_context.gas_price,
    context_logic.chain_id: lambda c: c.state.execution_context.chain_id,
    block_logic.coinbase: lambda c: _bytes_word(c.state.coinbase),
    block_logic.timestamp: lambda c: c.state.timestamp,
    block_logic.number: lambda c: c.state.block_number,
    block_logic.difficulty: lambda c: c.state.difficulty,
    block_logic.gaslimit: lambda c: c.state.gas_limit,
    block_logic.basefee: lambda c: c.state.base_fee,
    block_logic.mixhash: lambda c: _bytes_word(c.state.mix_hash),
    block_logic.blob_base_fee: lambda c: c.state.blob_base_fee,
}


def environment_getters(opcodes: Any, env_opcodes: Any) -> dict[int, Any]:
    """opcode -> value getter, for the environment opcodes of the table `opcodes` whose logic
    is one of py-evm's functions above (the others keep running their logic)."""
    found = {}
    for opcode in env_opcodes:
        opcode_fn = opcodes.get(opcode)
        getter = _ENV_GETTERS.get(getattr(opcode_fn, "logic_fn", None))
        if getter is not None:
            found[opcode] = getter
    return found


# --- storage reads ----------------------------------------------------------------------------
# A SLOAD that native code could not answer from its cache (a miss) suspends to py-evm. py-evm's
# opcode (`_FastOpcode.__call__`: the static gas, then the logic function) pops the slot off
# py-evm's stack and pushes the value; `sload(...)` below does the same steps in the same order
# on the slot word the native frame holds, and returns the value instead of pushing it. It runs
# only for py-evm's own opcode class and logic functions, checked by identity on every call
# (a replaced or patched SLOAD returns None and runs through the generic host operation), and
# only for computation classes with py-evm's stack methods (`lean_sload`).
from eth.validation import validate_stack_int  # noqa: E402
from eth.vm import mnemonics  # noqa: E402
from eth.vm.forks.berlin import constants as berlin_constants  # noqa: E402
from eth.vm.forks.berlin import logic as berlin_logic  # noqa: E402
from eth.vm.logic import storage as storage_logic  # noqa: E402

_UINT256_LIMIT = 1 << 256
_FAST_OPCODE_CALL = _FastOpcode.__call__
_MARK_STORAGE_WARM = berlin_logic._mark_storage_warm
#: computation methods py-evm's SLOAD logic calls, which `sload` does not call
_SLOAD_STACK_METHODS = ("stack_pop1_int", "stack_push_int")


def lean_sload(computation_class: type) -> bool:
    """Whether messages of `computation_class` may read storage through `sload`."""
    return all(
        getattr(computation_class, name) is getattr(BaseComputation, name)
        for name in _SLOAD_STACK_METHODS
    )


def sload(computation: Any, slot: int) -> int | None:
    """py-evm's SLOAD of `slot` for the computation's table: its gas, EIP-2929 access marks
    and state read, exactly as its opcode does them (its errors raised as it raises them);
    returns the value it would push. None, with nothing done, when the table's SLOAD is not
    py-evm's `sload` or `sload_eip2929` in py-evm's opcode class."""
    opcode_fn = computation.opcodes.get(SLOAD)
    if type(opcode_fn).__call__ is not _FAST_OPCODE_CALL:
        return None
    logic = opcode_fn.logic_fn
    if logic is berlin_logic.sload_eip2929:
        computation.consume_gas(opcode_fn.gas_cost, opcode_fn.mnemonic)
        state = computation.state
        address = computation.msg.storage_address
        if berlin_logic._mark_storage_warm is not _MARK_STORAGE_WARM:  # patched: call it
            was_cold = berlin_logic._mark_storage_warm(computation, slot)
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
    elif logic is storage_logic.sload:
        computation.consume_gas(opcode_fn.gas_cost, opcode_fn.mnemonic)
        state = computation.state
        address = computation.msg.storage_address
    else:
        return None
    value: int = state.get_storage(address=address, slot=slot)
    if value.__class__ is not int or not 0 <= value < _UINT256_LIMIT:
        validate_stack_int(value)  # py-evm's push raises this error
    return value


# --- per opcode table -------------------------------------------------------------------------
@dataclass(frozen=True)
class LeanPlan:
    """The lean paths a message may take with its opcode table (checked per table, like the
    rest of the computation's `TablePlan`: a table patched after `jit_vm` gets a new plan)."""

    calls: dict[int, Callable[[Any, list[int]], Params]]
    env: dict[int, Callable[[Any], int]]
    #: a SLOAD miss may go through `sload` (which checks the table's opcode on each call)
    sload: bool = False


NO_LEAN_PLAN = LeanPlan({}, {})


def lean_plan(computation_class: type, opcodes: Any, enabled: bool) -> LeanPlan:
    if not enabled:
        return NO_LEAN_PLAN
    from pyevm_jit.opcodes import ENV_SLOT

    return LeanPlan(
        lean_calls(computation_class, opcodes),
        environment_getters(opcodes, ENV_SLOT),
        lean_sload(computation_class),
    )


def runs_nothing(opcodes: Any) -> bool:
    """Whether a message without code does nothing with this table: its STOP is py-evm's (the
    interpreter would run it once: no gas, no state, no output)."""
    stop = opcodes.get(0)
    return type(stop) is _FastOpcode and stop.logic_fn is flow_logic.stop and stop.gas_cost == 0
