"""Recovered senders handed to identical transactions read back (pyevm_jit/lean/senders.py).

A sender given by `fill` must be the one py-evm recovers for that transaction object (compared
with a recovery on a third copy of the same bytes); nothing is given for another transaction,
for a class that recovers differently, or where py-evm's recovery is patched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.forks import CancunVM, LondonVM, PragueVM, SpuriousDragonVM, TangerineWhistleVM
from eth.vm.forks.london import transactions as london_transactions
from eth_keys import keys

from pyevm_jit.lean import senders

KEY = keys.PrivateKey(b"\x05" * 32)
TO = b"\x11" * 20


def _dynamic(vm_class: type, nonce: int = 0) -> Any:
    builder = vm_class.get_transaction_builder()
    unsigned = builder.new_unsigned_dynamic_fee_transaction(
        chain_id=1, nonce=nonce, max_priority_fee_per_gas=1, max_fee_per_gas=10**9,
        gas=50_000, to=TO, value=1, data=b"\x01\x02", access_list=(),
    )  # fmt: skip
    return unsigned.as_signed_transaction(KEY)


def _legacy(vm_class: type) -> Any:
    builder = vm_class.get_transaction_builder()
    unsigned = builder.create_unsigned_transaction(
        nonce=0, gas_price=10**9, gas=50_000, to=TO, value=1, data=b""
    )
    return unsigned.as_signed_transaction(KEY)


def _read_back(vm_class: type, transaction: Any) -> Any:
    """The transaction decoded again, as py-evm reads a block's transactions from the database."""
    return vm_class.get_transaction_builder().decode(transaction.encode())


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    senders._recent.clear()
    yield
    senders._recent.clear()


def test_sender_given_is_py_evms_recovery() -> None:
    applied = _dynamic(LondonVM)  # eth-tester builds London's typed transaction
    assert applied.sender == KEY.public_key.to_canonical_address()
    senders.note(applied)
    found = _read_back(PragueVM, applied)  # read back as Prague's, the same payload class
    assert type(found) is not type(applied) and "sender" not in found.__dict__
    assert senders.fill([found]) == 1
    assert found.__dict__["sender"] == _read_back(PragueVM, applied).sender == applied.sender


def test_nothing_given_for_another_transaction_or_recovery() -> None:
    applied = _dynamic(CancunVM)
    assert applied.sender  # recovered, as the lean transaction path reads it
    senders.note(applied)
    other = _read_back(CancunVM, _dynamic(CancunVM, nonce=1))
    assert senders.fill([other]) == 0 and "sender" not in other.__dict__
    # the same bytes under a legacy class that recovers differently (EIP-155 vs Frontier)
    legacy = _legacy(SpuriousDragonVM)
    assert legacy.sender
    senders.note(legacy)
    older = TangerineWhistleVM.get_transaction_builder().decode(legacy.encode())
    assert type(older) is not type(legacy)
    assert senders.fill([older]) == 0 and "sender" not in older.__dict__


def test_not_noted_without_a_recovered_sender() -> None:
    applied = _dynamic(CancunVM)
    senders.note(applied)  # its sender was never read: nothing to hand on
    assert senders.fill([_read_back(CancunVM, applied)]) == 0


@pytest.mark.parametrize("patch", ["get_sender", "extract_transaction_sender"])
def test_patched_recovery_runs_as_written(patch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    applied = _dynamic(CancunVM)
    assert applied.sender  # recovered, as the lean transaction path reads it
    senders.note(applied)
    calls: list[Any] = []
    if patch == "get_sender":
        owner: Any = london_transactions.DynamicFeeTransaction
        original = owner.get_sender
    else:
        owner = london_transactions
        original = london_transactions.extract_transaction_sender

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(owner, patch, counting)
    found = _read_back(CancunVM, applied)
    assert senders.fill([found]) == 0
    assert found.sender == applied.sender and len(calls) == 1
