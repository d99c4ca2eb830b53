"""`lean.inplace`: the per-program guard of opcode entries patched in place, and the table's
version. The fast forms (one native call; one read of the dict's version) are the ones in use
on this CPython, and each kind of in-place change makes the guard fail until it is undone."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.opcode import _FastOpcode

from pyevm_jit.lean import inplace

ADD, SLOAD, CALL = 0x01, 0x54, 0xF1
CODE = bytes([0x60, 0x01, 0x60, 0x02, ADD, 0x60, 0x00, SLOAD, CALL, 0x00])


@pytest.fixture
def table() -> Iterator[dict[int, Any]]:
    yield dict(CancunComputation.opcodes)


def armed(table: dict[int, Any], code: bytes = CODE) -> inplace.EntryGuard:
    guard = inplace.TableSnapshot(table).guard(inplace.code_opcodes(code))
    assert guard.holds()
    return guard


def test_code_opcodes_skip_push_data() -> None:
    assert inplace.code_opcodes(bytes([0x61, ADD, SLOAD, 0x00])) == {0x61, 0x00}


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's object layout")
def test_the_fast_forms_are_in_use_here(table: dict[int, Any]) -> None:
    assert inplace.referents is not inplace._slow_referents
    assert inplace._LAYOUT is not None
    guard = armed(table)
    assert guard.words is not None  # the native form: one call per message
    assert len(guard.others) == 1  # CALL, a class-based opcode, compared in Python
    if sys.version_info < (3, 14):
        assert inplace._DICT_VERSION_OFFSET is not None


@pytest.mark.parametrize("attribute", ["logic_fn", "gas_cost", "mnemonic"])
def test_a_slot_replaced_in_place_is_seen_until_undone(
    table: dict[int, Any], monkeypatch: pytest.MonkeyPatch, attribute: str
) -> None:
    guard = armed(table)
    add = table[ADD]
    monkeypatch.setattr(
        add, attribute, {"logic_fn": len, "gas_cost": 4, "mnemonic": "X"}[attribute]
    )
    assert not guard.holds()
    monkeypatch.undo()
    assert guard.holds()


def test_an_equal_int_of_another_object_still_holds(
    table: dict[int, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The native words differ (another object), the exact comparison (ints by value) holds,
    and the guard is armed again with the new word."""
    sload = table[SLOAD]
    big = 10**30
    monkeypatch.setattr(sload, "gas_cost", big)
    guard = armed(table)
    monkeypatch.setattr(sload, "gas_cost", int(str(big)))  # equal, not the same object
    assert sload.gas_cost is not big
    first_words = guard.words
    assert guard.holds()
    assert guard.words is not first_words


def test_the_opcode_class_patched_is_seen(
    table: dict[int, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = armed(table)
    stock_call = _FastOpcode.__call__
    monkeypatch.setattr(_FastOpcode, "__call__", lambda self, c: stock_call(self, c))
    assert not guard.holds()


def test_a_class_based_opcode_given_an_attribute_is_seen(
    table: dict[int, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = armed(table)
    monkeypatch.setattr(table[CALL], "gas_cost", 0, raising=False)
    assert not guard.holds()
    monkeypatch.undo()
    assert guard.holds()


def test_an_entry_the_code_does_not_hold_is_not_checked(
    table: dict[int, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = armed(table)
    snapshot_all = inplace.TableSnapshot(table)
    monkeypatch.setattr(table[0x02], "gas_cost", 99)  # MUL: not in CODE
    assert guard.holds()
    assert not snapshot_all.unchanged()


def test_table_version_sees_every_change_of_the_entries() -> None:
    table = dict(CancunComputation.opcodes)
    reader, value = inplace.table_version(table)
    table[ADD] = table[ADD]  # the same entry again: nothing changed
    assert reader.value == value
    table[ADD] = table[0x02]
    assert reader.value != value
    reader, value = inplace.table_version(table)
    del table[ADD]
    assert reader.value != value


def test_table_version_of_a_mapping_that_is_not_a_dict() -> None:
    class Table(dict):  # type: ignore[type-arg]
        pass

    table = Table(CancunComputation.opcodes)
    reader, value = inplace.table_version(table)
    assert reader.value == value
    table[ADD] = table[0x02]
    assert reader.value != value
