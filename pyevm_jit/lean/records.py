"""py-evm's message records, built with less Python: `Message` and a spoofed transaction's fields.

- `new_message(cls, ...)`: py-evm's `Message(...)` (`cls`: the `Message` name the calling py-evm
  code would use). py-evm's constructor validates every argument, then sets the slots in
  order; here the arguments are checked with exact type tests that accept only values its
  validators accept (an `int` in range, 20 `bytes`, `True`/`False` ...) and the same
  assignments run on a new instance, through the class's own properties. Any other argument
  (an `int` subclass, a `memoryview`, a value out of range) goes to py-evm's constructor, which
  accepts it or raises its own error. Only while `cls` is py-evm's `Message` with the
  constructor this copies (`guard.message_is_pyevms`, fingerprint in `guard.PINNED`).
- `new_transaction_context(cls, gas_price, origin)`: py-evm's `cls(gas_price=..., origin=...)`
  for a context class whose constructor is `BaseTransactionContext.__init__` (recorded
  fingerprint) and `__new__` is `object.__new__`: its two validators skipped for a plain `int`
  in range and 20 plain `bytes` (anything else goes to the constructor), the same attributes
  set in the same order.
- `transaction_reader(transaction)`: a function reading a transaction's attribute. For py-evm's
  own `SpoofTransaction` (eth_call, estimate_gas), whose every read goes through its Python
  `__getattr__` (an override, else the wrapped transaction's attribute), the same lookup done
  directly (`guard.spoof_parts`); for anything else, `getattr`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial
from typing import Any

from eth.constants import UINT_256_MAX
from eth.vm.spoof import SpoofTransaction
from eth.vm.transaction_context import BaseTransactionContext

from pyevm_jit.lean import exact, guard

_new = object.__new__
#: whether SpoofTransaction and its base are py-evm's (judged again when they change)
_spoof_classes = exact.ClassVerdicts(guard.spoof_class_is_pyevms)


def _uint256(value: Any) -> bool:
    return value.__class__ is int and 0 <= value <= UINT_256_MAX


def _address(value: Any) -> bool:
    return value.__class__ is bytes and len(value) == 20


def new_message(
    cls: Any,
    gas: int,
    to: bytes,
    sender: bytes,
    value: int,
    data: bytes,
    code: bytes,
    depth: int = 0,
    create_address: Any = None,
    code_address: Any = None,
    should_transfer_value: bool = True,
    is_static: bool = False,
    is_delegation: bool = False,
    refund: int = 0,
) -> Any:
    """`cls(gas=gas, to=to, ...)`, the same object py-evm's `Message` builds (see above)."""
    if not (
        guard.message_is_pyevms(cls)
        and _uint256(gas)
        and (to.__class__ is bytes and (len(to) == 20 or not to))
        and _address(sender)
        and _uint256(value)
        and data.__class__ is bytes
        and depth.__class__ is int
        and depth >= 0
        and code.__class__ is bytes
        and (create_address is None or _address(create_address))
        and (code_address is None or _address(code_address))
        and (should_transfer_value is True or should_transfer_value is False)
        and (is_static is True or is_static is False)
        and (is_delegation is True or is_delegation is False)
    ):
        return cls(gas=gas, to=to, sender=sender, value=value, data=data, code=code,
                   depth=depth, create_address=create_address, code_address=code_address,
                   should_transfer_value=should_transfer_value, is_static=is_static,
                   is_delegation=is_delegation, refund=refund)  # fmt: skip
    message = _new(cls)
    message.gas = gas
    message.to = to
    message.sender = sender
    message.value = value
    message.data = data
    message.depth = depth
    message.code = code
    message.storage_address = create_address
    message.code_address = code_address
    message.should_transfer_value = should_transfer_value
    message.is_static = is_static
    message._is_delegation = is_delegation
    message.refund = refund
    return message


#: py-evm 0.12.1b1's BaseTransactionContext.__init__, when it is the installed one
_CONTEXT_INIT: Any = BaseTransactionContext.__init__
CONTEXT_INIT_PIN = "02831611e71c5db2"
if guard.fingerprint(_CONTEXT_INIT) != CONTEXT_INIT_PIN:
    _CONTEXT_INIT = None


def new_transaction_context(cls: Any, gas_price: int, origin: bytes) -> Any:
    """`cls(gas_price=gas_price, origin=origin)`, the object py-evm's constructor builds."""
    if (
        _CONTEXT_INIT is None
        or cls.__init__ is not _CONTEXT_INIT
        or cls.__new__ is not _new
        or not cls.__dictoffset__
        or not _uint256(gas_price)
        or not _address(origin)
    ):
        return cls(gas_price=gas_price, origin=origin)
    context = _new(cls)
    context._gas_price = gas_price
    context._origin = origin
    context._log_counter = itertools.count()
    context._blob_versioned_hashes = []
    context._authorization_list = []
    return context


def transaction_reader(transaction: Any) -> Callable[[str], Any]:
    """A function returning `getattr(transaction, name)` (see the module docstring)."""
    parts = guard.spoof_parts(transaction)
    if parts is None or not _spoof_classes.get(SpoofTransaction):
        return partial(getattr, transaction)
    target, overrides = parts

    def read(name: str) -> Any:
        if name in overrides:
            return overrides[name]
        return getattr(target, name)

    return read
