"""The lean entry of a message: py-evm's `apply_message` on a JIT computation class, with the
state's snapshot, touch and commit made as py-evm's own state methods make them.

py-evm's `FrontierComputation.apply_message` (every fork up to Prague uses it) takes a snapshot
of the state, checks the depth, moves the value, touches the storage address, calls the
class's `apply_computation` and commits or reverts the snapshot. On a JIT class whose
`apply_message` below the JIT mixin is that very function (identity, its source the version
this module was written against: `_PINNED`) and whose `apply_computation` is the JIT's own,
`apply_message` here does the same steps in the same order, except that:

- the class verdict of the computation (`evm.computation`) is read once for both methods;
- `state.snapshot()`, `state.touch_account()` and `state.commit()` are not called through the
  state when the state's class has py-evm's own `snapshot`, `commit`, `touch_account` and
  `state_root` (BaseState's, or Cancun's `snapshot` and `commit` with its `transient_storage`:
  identity, judged per state class and again whenever it or a base changes, `STATE_KINDS`):
  their bodies' calls on the account database (and the transient storage) are made here, the
  same calls with the same arguments in the same order. A reverted message calls
  `state.revert` itself.

Anything else (an own `apply_message`, an overridden `apply_computation`, a state class with
its own snapshot methods, a patch of any of them) runs py-evm's `apply_message` as written.
"""

from __future__ import annotations

from typing import Any

from eth.constants import STACK_DEPTH_LIMIT
from eth.exceptions import InsufficientFunds, StackDepthLimit
from eth.vm.forks.cancun.state import CancunState
from eth_utils import encode_hex

from pyevm_jit.lean import exact, guard

#: "module:qualified name" of the py-evm code this module reproduces -> its fingerprint in py-evm
#: 0.12.1b1 (`lean.guard.fingerprint`)
_PINNED: dict[str, str] = {
    "eth.vm.forks.frontier.computation:FrontierComputation.apply_message": "13a014f048192cd6",
    "eth.vm.state:BaseState.snapshot": "130bad435c0fb0cc",
    "eth.vm.state:BaseState.commit": "ebee8ec93b84b844",
    "eth.vm.state:BaseState.touch_account": "bfaca76a435bc3ba",
    "eth.vm.state:BaseState.state_root": "6668211cdf8d7eaf",
    "eth.vm.forks.cancun.state:CancunState.snapshot": "6763b744ce9f465e",
    "eth.vm.forks.cancun.state:CancunState.commit": "d9f1f8a66094ce70",
    "eth.vm.forks.cancun.state:CancunState.transient_storage": "4796a804727bb879",
}


def _pinned(name: str) -> Any:
    """py-evm's object `name` when it is the version written against, else a fresh object
    (identical to nothing)."""
    obj = guard.resolve(name)
    target = obj.fget if isinstance(obj, property) else obj
    if obj is None or guard.fingerprint(target) != _PINNED[name]:
        return object()
    return obj


APPLY_MESSAGE = _pinned("eth.vm.forks.frontier.computation:FrontierComputation.apply_message")
_BASE = (
    _pinned("eth.vm.state:BaseState.snapshot"),
    _pinned("eth.vm.state:BaseState.commit"),
    _pinned("eth.vm.state:BaseState.touch_account"),
    _pinned("eth.vm.state:BaseState.state_root"),
)
_CANCUN = (
    _pinned("eth.vm.forks.cancun.state:CancunState.snapshot"),
    _pinned("eth.vm.forks.cancun.state:CancunState.commit"),
    _pinned("eth.vm.forks.cancun.state:CancunState.transient_storage"),
)

#: what `_judge_state` finds: py-evm's snapshot methods (no transient storage, or Cancun's)
OTHER, BASE, CANCUN = 0, 1, 2
STATE_KINDS = (OTHER, BASE, CANCUN)


def _static(cls: type, name: str, after: type | None = None) -> Any:
    """The function (or property) `name` of `cls` as its method resolution order finds it
    (from the class after `after` in it, when given), None when none has it."""
    mro = cls.__mro__
    if after is not None:
        mro = mro[mro.index(after) + 1 :]
    for klass in mro:
        if name in klass.__dict__:
            value = klass.__dict__[name]
            return getattr(value, "__func__", value)
    return None


def _judge_state(cls: type) -> int:
    if _static(cls, "touch_account") is not _BASE[2] or _static(cls, "state_root") is not _BASE[3]:
        return OTHER
    snapshot, commit = _static(cls, "snapshot"), _static(cls, "commit")
    if snapshot is _BASE[0] and commit is _BASE[1]:
        return BASE
    if (
        snapshot is _CANCUN[0]
        and commit is _CANCUN[1]
        and _static(cls, "transient_storage") is _CANCUN[2]
        # what Cancun's methods reach through super(): BaseState's
        and _static(cls, "snapshot", CancunState) is _BASE[0]
        and _static(cls, "commit", CancunState) is _BASE[1]
    ):
        return CANCUN
    return OTHER


#: per state class: `_judge_state`
state_kinds = exact.ClassVerdicts(_judge_state)


def apply_message(
    cls: Any,
    apply: Any,
    verdict: Any,
    state: Any,
    message: Any,
    transaction_context: Any,
    parent_computation: Any,
) -> Any:
    """py-evm's `FrontierComputation.apply_message` for `cls` (module doc); `apply(cls, verdict,
    state, message, transaction_context, parent_computation)` stands for
    `cls.apply_computation` (the JIT's, `verdict` its class verdict already read)."""
    kind = state_kinds.get(state.__class__)
    if kind:
        own = state.__dict__
        if own and ("snapshot" in own or "commit" in own or "touch_account" in own):
            kind = OTHER
    if kind == OTHER:
        snapshot = state.snapshot()
    else:
        db = state._account_db
        root = db.state_root
        checkpoint = db.record()
        if kind == CANCUN:
            transient = state._transient_storage
            if transient is None:
                transient = state.transient_storage
            transient.record(checkpoint)
        snapshot = (root, checkpoint)

    if message.depth > STACK_DEPTH_LIMIT:
        raise StackDepthLimit("Stack depth limit reached")

    if message.should_transfer_value and message.value:
        sender_balance = state.get_balance(message.sender)

        if sender_balance < message.value:
            raise InsufficientFunds(f"Insufficient funds: {sender_balance} < {message.value}")

        state.delta_balance(message.sender, -1 * message.value)
        state.delta_balance(message.storage_address, message.value)

        cls.logger.debug2(
            f"TRANSFERRED: {message.value} from {encode_hex(message.sender)} -> "
            f"{encode_hex(message.storage_address)}"
        )

    if kind == OTHER:
        state.touch_account(message.storage_address)
    else:
        state._account_db.touch_account(message.storage_address)

    computation = apply(cls, verdict, state, message, transaction_context, parent_computation)

    if computation.is_error:
        state.revert(snapshot)
    elif kind == OTHER:
        state.commit(snapshot)
    else:
        state._account_db.commit(snapshot[1])
        if kind == CANCUN:
            state.transient_storage.commit(snapshot[1])

    return computation


def judge_class(cls: type, mixin: type) -> bool:
    """Whether `cls` (a JIT computation class, `mixin` the JIT's) may take `apply_message`
    above: the method below the JIT mixin is py-evm's Frontier one (pinned) and
    `cls.apply_computation` the mixin's (a subclass's own `apply_message` runs first, as
    written, and reaches this one through `super()`)."""
    return _static(cls, "apply_message", mixin) is getattr(
        APPLY_MESSAGE, "__func__", None
    ) and _static(cls, "apply_computation") is _static(mixin, "apply_computation")
