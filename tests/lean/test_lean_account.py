"""`lean.account.new_account` builds the object `Account(...)` builds."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.rlp.accounts import Account

from pyevm_jit.lean.statedb import codec as account


@pytest.mark.parametrize(
    "fields",
    [
        (0, 0, BLANK_ROOT_HASH, EMPTY_SHA3),
        (1, 10**18, b"\x01" * 32, b"\x02" * 32),
        (2**64 - 1, 2**256 - 1, BLANK_ROOT_HASH, b"\xff" * 32),
    ],
)
def test_same_object_as_rlp_constructor(fields: tuple[Any, ...]) -> None:
    assert account._ACCOUNT_INIT is not None  # py-evm 0.12.1b1's Account: the fast path is used
    built, stock = account.new_account(*fields), Account(*fields)
    assert type(built) is Account
    assert built.__dict__ == stock.__dict__
    assert built == stock and hash(built) == hash(stock) and repr(built) == repr(stock)
    assert rlp.encode(built) == rlp.encode(stock)
    assert built.copy(balance=5) == stock.copy(balance=5)


def test_other_values_go_through_account() -> None:
    class Big(int):
        pass

    built = account.new_account(Big(3), 4, BLANK_ROOT_HASH, EMPTY_SHA3)
    assert built == Account(3, 4, BLANK_ROOT_HASH, EMPTY_SHA3)


def test_replaced_constructor_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    original = Account.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Account, "__init__", init)
    account.new_account(1, 2, BLANK_ROOT_HASH, EMPTY_SHA3)
    assert calls == [(1, 2, BLANK_ROOT_HASH, EMPTY_SHA3)]
