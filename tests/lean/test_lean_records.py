"""`lean.records`: py-evm's Message built without its validators' calls, and a spoofed
transaction's fields read without its Python `__getattr__`, against py-evm's own in one process."""

from __future__ import annotations

from typing import Any

import eth.vm.message as message_module
import pytest
from eth._utils.spoof import SpoofAttributes
from eth.vm.forks.cancun import CancunVM
from eth.vm.message import Message
from eth.vm.spoof import SpoofTransaction

from pyevm_jit.lean import guard, records

A, B, C = b"\x0a" * 20, b"\x0b" * 20, b"\x0c" * 20
_UNSET = object()

CASES: list[dict[str, Any]] = [
    dict(gas=100_000, to=A, sender=B, value=0, data=b"", code=b"\x00"),
    dict(gas=5, to=A, sender=B, value=10**18, data=b"\x01\x02", code=b"`\x00", depth=3,
         code_address=C, should_transfer_value=False, is_static=True),
    dict(gas=2**256 - 1, to=b"", sender=B, value=2**256 - 1, data=b"init", code=b"init",
         create_address=C, refund=7),
    dict(gas=0, to=A, sender=B, value=1, data=b"", code=b"", is_delegation=True),
]  # fmt: skip

BAD: list[dict[str, Any]] = [
    dict(gas=-1), dict(gas=True), dict(gas=2**256), dict(to=b"\x01" * 19), dict(sender="x" * 20),
    dict(value=-5), dict(data="text"), dict(depth=-1), dict(depth=1.0), dict(code=bytearray(b"")),
    dict(create_address=b"\x01"), dict(code_address=b"\x02" * 21), dict(is_static=1),
    dict(should_transfer_value=None), dict(is_delegation=0),
]  # fmt: skip


def _slots(message: Any) -> dict[str, Any]:
    names = [n for k in type(message).__mro__ for n in getattr(k, "__slots__", ())]
    return {name: getattr(message, name, _UNSET) for name in names} | {
        "storage_address": message.storage_address, "code_address": message.code_address,
        "is_delegation": message.is_delegation, "is_create": message.is_create,
    }  # fmt: skip


def test_message_is_pyevms_recorded_constructor() -> None:
    assert guard.message_is_pyevms(Message)
    assert not guard.message_is_pyevms(type("Sub", (Message,), {}))


@pytest.mark.parametrize("kwargs", CASES)
def test_new_message_is_pyevms_message(kwargs: dict[str, Any], monkeypatch: Any) -> None:
    stock = Message(**kwargs)
    checked: list[str] = []
    original = message_module.validate_uint256

    def spy(value: Any, title: str = "") -> None:
        checked.append(title)
        original(value, title)

    monkeypatch.setattr(message_module, "validate_uint256", spy)
    lean = records.new_message(Message, **kwargs)
    assert not checked  # built without py-evm's constructor
    assert type(lean) is Message
    assert _slots(lean) == _slots(stock)
    Message(**kwargs)
    assert checked  # py-evm's constructor calls it (the spy works)


@pytest.mark.parametrize("change", BAD)
def test_new_message_rejects_as_pyevm_does(change: dict[str, Any]) -> None:
    kwargs = CASES[1] | change
    with pytest.raises(Exception) as stock:
        Message(**kwargs)
    with pytest.raises(Exception) as lean:
        records.new_message(Message, **kwargs)
    assert (type(lean.value), str(lean.value)) == (type(stock.value), str(stock.value))


def test_new_message_accepts_what_pyevm_accepts() -> None:
    """Values only py-evm's validators judge (a memoryview, an int subclass) go to them."""

    class Gas(int):
        pass

    kwargs = CASES[0] | dict(data=memoryview(b"abc"), gas=Gas(9))
    assert _slots(records.new_message(Message, **kwargs)) == _slots(Message(**kwargs))


def test_patched_message_constructor_runs(monkeypatch: Any) -> None:
    built: list[Any] = []
    original = Message.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(kwargs["gas"])
        original(self, *args, **kwargs)

    monkeypatch.setattr(Message, "__init__", init)
    records.new_message(Message, **CASES[0])
    assert built == [100_000]


def test_other_message_class_is_constructed() -> None:
    class Mine(Message):
        pass

    assert type(records.new_message(Mine, **CASES[0])) is Mine


# --- spoofed transactions -----------------------------------------------------------------------
NAMES = ("gas", "sender", "value", "nonce", "type_id", "to", "data", "intrinsic_gas", "s",
         "max_fee_per_gas", "max_priority_fee_per_gas", "access_list", "validate", "r")  # fmt: skip


def _spoofed(cls: type = SpoofTransaction) -> Any:
    unsigned = CancunVM.create_unsigned_transaction(
        nonce=3, gas_price=10**9, gas=50_000, to=A, value=5, data=b"\x01"
    )
    return cls(unsigned, from_=B)


def _read_all(read: Any) -> list[Any]:
    return [read(name) if name != "validate" else read(name).__func__ for name in NAMES]


def test_spoof_reader_reads_what_getattr_reads() -> None:
    tx = _spoofed()
    assert guard.spoof_parts(tx) is not None and guard.spoof_class_is_pyevms(type(tx))
    assert _read_all(records.transaction_reader(tx)) == _read_all(lambda n: getattr(tx, n))


def test_spoof_attribute_set_on_instance_is_read() -> None:
    tx = _spoofed()
    tx.gas = 1234  # found before __getattr__ is asked
    assert guard.spoof_parts(tx) is None
    assert records.transaction_reader(tx)("gas") == 1234


def test_spoof_subclass_and_patched_class_are_asked(monkeypatch: Any) -> None:
    class Tracing(SpoofTransaction):
        def __getattr__(self, name: str) -> Any:
            return 77 if name == "gas" else super().__getattr__(name)

    assert guard.spoof_parts(_spoofed(Tracing)) is None
    assert records.transaction_reader(_spoofed(Tracing))("gas") == 77
    original = SpoofAttributes.__getattr__

    def patched(self: Any, name: str) -> Any:
        return 88 if name == "gas" else original(self, name)

    monkeypatch.setattr(SpoofAttributes, "__getattr__", patched)
    tx = _spoofed()
    assert not guard.spoof_class_is_pyevms(SpoofTransaction)
    assert records.transaction_reader(tx)("gas") == 88
    monkeypatch.undo()
    monkeypatch.setattr(SpoofTransaction, "gas", 99, raising=False)  # a class attribute wins
    assert not guard.spoof_class_is_pyevms(SpoofTransaction)
    assert records.transaction_reader(tx)("gas") == 99


# --- new_transaction_context ----------------------------------------------------------------------
def _context_parts(context: Any) -> tuple[Any, ...]:
    counter = context._log_counter
    return (
        type(context), context._gas_price, context._origin, type(counter), next(counter),
        context._blob_versioned_hashes, context._authorization_list,
        sorted(getattr(context, "__dict__", {})),
    )  # fmt: skip


def test_new_transaction_context_is_pyevms() -> None:
    from eth.vm.forks.cancun.transaction_context import CancunTransactionContext

    assert records._CONTEXT_INIT is not None  # the recorded constructor is installed
    for gas_price, origin in ((0, b"\x11" * 20), (2**256 - 1, b"\x00" * 20)):
        lean = records.new_transaction_context(CancunTransactionContext, gas_price, origin)
        stock = CancunTransactionContext(gas_price=gas_price, origin=origin)
        assert _context_parts(lean) == _context_parts(stock)
        assert lean._blob_versioned_hashes is not stock._blob_versioned_hashes


class _IntLike(int):
    pass


@pytest.mark.parametrize(
    "gas_price, origin",
    [(-1, b"\x11" * 20), (2**256, b"\x11" * 20), (1.0, b"\x11" * 20), (1, b"\x11" * 19),
     (1, "0x" + "11" * 20), (1, bytearray(20))],
)  # fmt: skip
def test_new_transaction_context_rejects_as_pyevm_does(gas_price: Any, origin: Any) -> None:
    from eth.vm.forks.cancun.transaction_context import CancunTransactionContext

    with pytest.raises(Exception) as stock:
        CancunTransactionContext(gas_price=gas_price, origin=origin)
    with pytest.raises(type(stock.value)) as lean:
        records.new_transaction_context(CancunTransactionContext, gas_price, origin)
    assert str(lean.value) == str(stock.value)


def test_context_class_with_own_constructor_is_called() -> None:
    from eth.vm.forks.cancun.transaction_context import CancunTransactionContext

    built: list[Any] = []

    class Recording(CancunTransactionContext):
        def __init__(self, gas_price: int, origin: Any) -> None:
            built.append((gas_price, origin))
            super().__init__(gas_price, origin)

    lean = records.new_transaction_context(Recording, _IntLike(5), b"\x11" * 20)
    assert built == [(5, b"\x11" * 20)] and type(lean) is Recording
    # an int subclass goes to py-evm's constructor, which accepts it
    plain = records.new_transaction_context(CancunTransactionContext, _IntLike(5), b"\x11" * 20)
    assert _context_parts(plain) == _context_parts(
        CancunTransactionContext(gas_price=_IntLike(5), origin=b"\x11" * 20)
    )
