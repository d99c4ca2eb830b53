"""Recovered senders handed to an identical transaction read back from the chain database.

py-evm recovers a signed transaction's sender (`sender`, a cached property: `get_sender`, an
ECDSA public-key recovery, about 60 us with coincurve) once per transaction object. eth-tester
applies the transaction object it signed (py-evm recovers its sender), mines it, and later
serves its receipt from a transaction decoded again from the database
(`serialize_transaction_receipt` reads `transaction.sender`): a second recovery, of a
transaction with the same bytes, per web3 transfer.

`note(transaction)` (the lean transaction path, after it read a signed transaction's sender)
keeps the transaction (the last 16: eth-tester drops the object it applied);
`fill(transactions)` (the lean `get_block`, for the transactions a block built from the
database holds) gives each transaction that has no
sender yet the sender py-evm recovered for a noted transaction with the same hash -- the value
py-evm's own `sender` would compute, stored where its cached property stores it. Only where
py-evm's code would compute it the same way for both objects:

- the same class recovers both senders: a typed transaction's payload class (py-evm's
  `TypedTransaction.get_sender` asks the payload; eth-tester builds `LondonTypedTransaction`s
  that the database reads back as `PragueTypedTransaction`s around the same payload class),
  else the transaction's own class; both outer classes resolve the same `get_sender`;
- that class's `sender` is py-evm's cached property and its `get_sender` (and the inner
  payload's) one of py-evm's own methods, which call py-evm's `extract_transaction_sender` by
  module global (checked per call: a patched function keeps running, once per object, as
  written).

Anything else is left alone: py-evm recovers the sender when it is read.
"""

from __future__ import annotations

import importlib
import inspect
from collections import deque
from collections.abc import Iterable
from typing import Any

from eth._utils import transactions as transaction_utils
from eth.rlp.transactions import SignedTransactionMethods

#: py-evm's modules whose transaction classes recover senders with extract_transaction_sender
_MODULES = tuple(
    importlib.import_module(f"eth.vm.forks.{fork}.transactions")
    for fork in ("frontier", "berlin", "london", "cancun", "prague")
)
_EXTRACT = transaction_utils.extract_transaction_sender
_SENDER = inspect.getattr_static(SignedTransactionMethods, "sender")


def _pyevm_get_senders() -> frozenset[Any]:
    found = set()
    for module in _MODULES:
        for value in vars(module).values():
            if isinstance(value, type) and "get_sender" in vars(value):
                if value.__module__ == module.__name__:
                    found.add(vars(value)["get_sender"])
    return frozenset(found)


_GET_SENDERS = _pyevm_get_senders()
#: the signed transactions whose senders were read last (bounded)
_recent: deque[Any] = deque(maxlen=16)


def _recovers_as_pyevm(cls: type) -> bool:
    return (
        inspect.getattr_static(cls, "sender", None) is _SENDER
        and inspect.getattr_static(cls, "get_sender", None) in _GET_SENDERS
    )


def _signer_class(transaction: Any) -> type:
    """The class whose `get_sender` recovers the sender: a typed transaction's payload (py-evm's
    `TypedTransaction.get_sender` asks it), else the transaction's own class."""
    inner = transaction.__dict__.get("_inner")
    return type(inner) if inner is not None else type(transaction)


def _same_recovery(found: Any, kept: Any) -> bool:
    """Whether py-evm computes `sender` the same way for both objects (module doc)."""
    outer, kept_outer = type(found), type(kept)
    if not (_recovers_as_pyevm(outer) and _recovers_as_pyevm(kept_outer)):
        return False
    if inspect.getattr_static(outer, "get_sender") is not inspect.getattr_static(
        kept_outer, "get_sender"
    ):
        return False
    signer = _signer_class(found)
    if signer is not _signer_class(kept) or not _recovers_as_pyevm(signer):
        return False
    if transaction_utils.extract_transaction_sender is not _EXTRACT:
        return False
    return all(getattr(m, "extract_transaction_sender", _EXTRACT) is _EXTRACT for m in _MODULES)


def note(transaction: Any) -> None:
    """Remember `transaction`, whose sender py-evm has just recovered."""
    if "sender" in getattr(transaction, "__dict__", ()):
        _recent.append(transaction)


def fill(transactions: Iterable[Any]) -> int:
    """Give each of `transactions` without a sender the sender recovered for a remembered
    transaction with the same hash (module doc); how many were given one."""
    if not _recent:
        return 0
    given = 0
    for transaction in transactions:
        fields = getattr(transaction, "__dict__", None)
        if fields is None or "sender" in fields:
            continue
        kept = _kept_like(transaction)
        if kept is not None:
            fields["sender"] = kept.__dict__["sender"]
            given += 1
    return given


def _kept_like(transaction: Any) -> Any:
    signer = _signer_class(transaction)
    if not any(_signer_class(kept) is signer for kept in _recent):
        return None
    tx_hash = transaction.hash
    for kept in reversed(_recent):
        if _signer_class(kept) is signer and kept.hash == tx_hash:
            return kept if _same_recovery(transaction, kept) else None
    return None
