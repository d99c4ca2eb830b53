"""py-evm's message records, built with less Python: `Message` and a spoofed transaction's fields.

- `new_message(cls, ...)`: py-evm's `Message(...)` (`cls`: the `Message` name the calling py-evm
  code would use). py-evm's constructor validates every argument, then sets the slots in
  order; here the arguments are checked with exact type tests that accept only values its
  validators accept (an `int` in range, 20 `bytes`, `True`/`False` ...) and the same
  assignments run on a new instance, through the class's own properties. Any other argument
  (an `int` subclass, a `memoryview`, a value out of range) goes to py-evm's constructor, which
  accepts it or raises its own error. Only while `cls` is py-evm's `Message` with the
  constructor this copies (`guard.message_is_pyevms`, fingerprint in `guard.PINNED`).
- `transaction_reader(transaction)`: a function reading a transaction's attribute. For py-evm's
  own `SpoofTransaction` (eth_call, estimate_gas), whose every read goes through its Python
  `__getattr__` (an override, else the wrapped transaction's attribute), the same lookup done
  directly (`guard.spoof_parts`); for anything else, `getattr`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from eth.constants import UINT_256_MAX
from eth.vm.spoof import SpoofTransaction

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
