"""Two shortcuts of the lean transaction (`lean/transaction.py`) past py-evm's one-line methods,
each taken only while the methods it stands for are py-evm's own objects:

- the gas purchase, the refund and the fee (`delta_balance` three times, `increment_nonce`) and
  the EIP-161 deletions (`delete_account`) call the state's account database as py-evm's
  `BaseState` methods do (`delta_balance` is `set_balance(a, get_balance(a) + delta)` on the
  state, each of those one call of `state._account_db`): `account_db(state)` gives that
  database while the state's class resolves those five names to `BaseState`'s functions (with
  the recorded fingerprints) and the instance sets none of them; the database's own methods
  run as they are, whatever its class;
- the end of a message without children: `finish_reads(computation)` gives what py-evm's
  `get_gas_remaining`, `get_gas_refund`, `get_accounts_for_deletion` and
  `get_self_destruct_beneficiaries` return, read from the same attributes those methods read,
  while the computation's class resolves them (and `is_error`, `is_success`,
  `should_burn_gas`) to `BaseComputation`'s (recorded fingerprints) and the instance sets none
  of them. A computation with children, or any other, is asked through its methods.

Both verdicts are kept per class under CPython's version tags (`exact.ClassVerdicts`): a method
patched on the class or a base later is seen by the next transaction."""

from __future__ import annotations

from typing import Any

from eth.vm.computation import BaseComputation
from eth.vm.state import BaseState

from pyevm_jit.lean import exact
from pyevm_jit.lean.guard import fingerprint

#: BaseState methods the account shortcut stands for -> py-evm 0.12.1b1's fingerprint
STATE_PINNED: dict[str, str] = {
    "get_balance": "dbb9659d8bba5ab1",
    "set_balance": "ab663b0afa869ed1",
    "delta_balance": "7c914e108f3e350a",
    "increment_nonce": "48cd63128d933904",
    "delete_account": "5bfa7f1cb2d29d45",
}
#: BaseComputation methods and properties the finish reads stand for -> fingerprint
COMPUTATION_PINNED: dict[str, str] = {
    "get_gas_refund": "8f2da59f52a1dc5f",
    "get_gas_remaining": "0cb1fa029b2bde85",
    "get_accounts_for_deletion": "f5ba4e61c26a0ca6",
    "get_self_destruct_beneficiaries": "d0d0777f222be2e7",
    "is_error": "2cd62ede7a0cc191",
    "is_success": "101659ef8bb476c6",
    "should_burn_gas": "bff0d84f8b844d75",
}
_STATE_NAMES = frozenset(STATE_PINNED)
_COMPUTATION_NAMES = frozenset(COMPUTATION_PINNED)


def _raw(owner: type, name: str) -> Any:
    raw = owner.__dict__.get(name)
    return raw.fget if isinstance(raw, property) else raw


def _pinned(owner: type, pins: dict[str, str]) -> dict[str, Any] | None:
    """{name: py-evm's object} when every pinned method has its recorded fingerprint."""
    found = {name: owner.__dict__.get(name) for name in pins}
    if all(fingerprint(_raw(owner, n)) == pin for n, pin in pins.items()):
        return found
    return None


_STATE_OBJECTS = _pinned(BaseState, STATE_PINNED)
_COMPUTATION_OBJECTS = _pinned(BaseComputation, COMPUTATION_PINNED)


def _resolves(cls: type, objects: dict[str, Any] | None) -> bool:
    """Whether `cls` resolves every name to that object (the first definition in its MRO)."""
    if objects is None:
        return False
    for name, expected in objects.items():
        for klass in cls.__mro__:
            if name in klass.__dict__:
                if klass.__dict__[name] is not expected:
                    return False
                break
        else:
            return False
    return True


_state_verdicts = exact.ClassVerdicts(lambda cls: _resolves(cls, _STATE_OBJECTS))
_computation_verdicts = exact.ClassVerdicts(lambda cls: _resolves(cls, _COMPUTATION_OBJECTS))


def account_db(state: Any) -> Any:
    """`state._account_db` when `state`'s `get_balance`, `set_balance`, `delta_balance`,
    `increment_nonce` and `delete_account` are BaseState's (so each is one call of it), else
    None (then the state's methods are called)."""
    if not _state_verdicts.get(state.__class__):
        return None
    instance = getattr(state, "__dict__", None)  # (none when every class has __slots__)
    if instance and not _STATE_NAMES.isdisjoint(instance):
        return None
    return state._account_db  # a slot of BaseState


def finish_reads(computation: Any) -> tuple[int, int, list[Any], list[Any]] | None:
    """(gas remaining, gas refund, accounts for deletion, self-destruct beneficiaries) as
    py-evm's BaseComputation methods return them, for a computation without children whose
    class keeps those methods; None otherwise (then the methods are called)."""
    if not _computation_verdicts.get(computation.__class__):
        return None
    instance = getattr(computation, "__dict__", None)
    if instance and not _COMPUTATION_NAMES.isdisjoint(instance):
        return None
    if computation.children:
        return None
    error = computation._error
    meter = computation._gas_meter
    refund = computation.msg.refund
    if error is not None:
        remaining = 0 if error.burns_gas else meter.gas_remaining
        return remaining, refund, [], []
    deletions = computation.accounts_to_delete
    beneficiaries = computation.beneficiaries
    return (
        meter.gas_remaining,
        refund + meter.gas_refunded,
        list(set(deletions)) if deletions else [],
        list(set(beneficiaries)) if beneficiaries else [],
    )
