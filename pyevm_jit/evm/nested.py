"""Calls between native programs: the child message of a call opcode run from native code,
without py-evm's generic dispatch in between (docs/calls.md).

A call opcode suspends the native program; `lean.calls.call` does py-evm's steps of the opcode
on the native frame's words and builds the child `Message`. py-evm would then run
`apply_message` (snapshot, depth check, value transfer, touch, `apply_computation`, commit or
revert) on the computation class. Where that class's `apply_message` is py-evm's own (Frontier's,
which every fork inherits: identity and source fingerprint) and its `apply_computation` is the JIT
computation's, `apply_child` below runs the same steps in the same order, calling the same state
methods, and then `run_child`: the child's computation is built as the JIT's `apply_computation`
builds it and, when its code is resident, run natively in a frame of the pool at once, with the
table plan and state verdicts of the parent's run where they are the same objects. Anything else
(a precompile, code that is not resident, an observer, a table or class changed since) goes
through the JIT's `apply_computation` as before. The child's computation is py-evm's object, in
the parent's `children`, as py-evm leaves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth.constants import STACK_DEPTH_LIMIT
from eth.exceptions import InsufficientFunds, StackDepthLimit
from eth_utils import encode_hex

from pyevm_jit.lean import exact, guard
from pyevm_jit.lean.protocols import Computation

#: py-evm's apply_message (a classmethod's function), when it is the one copied here
_APPLY_MESSAGE = guard.pyevm_apply_message()

#: runs a call's child message for the parent computation: (parent, child message) -> child
ChildPath = Callable[[Computation, Any], Any]


def _judge(cls: type) -> bool:
    apply_message = getattr(getattr(cls, "apply_message", None), "__func__", None)
    apply_computation = getattr(getattr(cls, "apply_computation", None), "__func__", None)
    return (
        _APPLY_MESSAGE is not None
        and apply_message is _APPLY_MESSAGE
        and apply_computation is not None
        # the JIT computation's own (evm/computation.py), not a subclass's override
        and apply_computation is getattr(cls, "jit_apply_computation", None)
    )


_verdicts = exact.ClassVerdicts(_judge)


def child_path(cls: type) -> ChildPath | None:
    """`apply_child` for the messages of computation class `cls` when it keeps py-evm's
    `apply_message` and the JIT's `apply_computation` (judged again when the class or a base
    changes), else None: the class's own `apply_message` runs."""
    return _apply_child if _verdicts.get(cls) else None


def apply_child(parent: Computation, message: Any) -> Any:
    """py-evm's `apply_message` (eth/vm/forks/frontier/computation.py) for a call's child."""
    cls = parent.__class__
    state = parent.state
    snapshot = state.snapshot()

    if message.depth > STACK_DEPTH_LIMIT:
        raise StackDepthLimit("Stack depth limit reached")

    if message.should_transfer_value and message.value:
        sender_balance = state.get_balance(message.sender)

        if sender_balance < message.value:
            raise InsufficientFunds(f"Insufficient funds: {sender_balance} < {message.value}")

        state.delta_balance(message.sender, -1 * message.value)
        state.delta_balance(message.storage_address, message.value)

        cls.logger.debug2(  # type: ignore[attr-defined]
            f"TRANSFERRED: {message.value} from {encode_hex(message.sender)} -> "
            f"{encode_hex(message.storage_address)}"
        )

    state.touch_account(message.storage_address)

    computation = cls.apply_computation(  # type: ignore[attr-defined]
        state, message, parent.transaction_context, parent_computation=parent
    )

    if computation.is_error:
        state.revert(snapshot)
    else:
        state.commit(snapshot)

    return computation


def _apply_child(parent: Computation, message: Any) -> Any:
    return apply_child(parent, message)  # looked up per call: tests count it
