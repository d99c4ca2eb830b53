"""py-evm's own opcodes told apart from hooks patched into its fork tables in place.

Frameworks (titanoboa) wrap opcodes of a fork class's table in place; that table is py-evm's
module-level table, so the reference for "py-evm's table" must not be whatever it holds now.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth.vm.logic import arithmetic
from eth.vm.opcode import as_opcode

from pyevm_jit.lean.exact import opcode_table_differences
from pyevm_jit.opcodes import (
    fork_opcodes,
    fork_spec,
    is_py_evm_opcode,
    py_evm_opcode,
    spec_from_opcodes,
    vm_classes,
)

FORK = "istanbul"  # a fork other tests running in this process rarely compile for
SHA3, SSTORE, ADD = 0x20, 0x55, 0x01


class WrappingHook:
    """Like titanoboa's Sha3PreimageTracer: keeps py-evm's opcode and calls it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def __call__(self, computation: Any) -> None:
        self.calls += 1
        self.inner(computation)


def _table(fork: str) -> dict[int, Any]:
    return vm_classes()[fork]._state_class.computation_class.opcodes  # type: ignore[attr-defined, no-any-return]


@contextmanager
def patched_in_place(fork: str, op: int, make: Any) -> Iterator[Any]:
    """Replace `op` in py-evm's own (module-level) table of `fork`, then restore it."""
    table = _table(fork)
    original = table[op]
    table[op] = hook = make(original)
    fork_opcodes.cache_clear()
    fork_spec.cache_clear()
    try:
        yield hook
    finally:
        table[op] = original
        fork_opcodes.cache_clear()
        fork_spec.cache_clear()


def test_every_entry_of_every_py_evm_table_is_py_evms_own() -> None:
    for fork in vm_classes():
        table = _table(fork)
        assert [hex(op) for op, fn in table.items() if not is_py_evm_opcode(fn)] == [], fork
        assert fork_opcodes(fork) == table


def test_user_opcodes_are_not_py_evms() -> None:
    def subtract(computation: Any) -> None:
        arithmetic.sub(computation)

    assert is_py_evm_opcode(as_opcode(arithmetic.sub, "SUB", 3))
    assert not is_py_evm_opcode(as_opcode(subtract, "ADD", 3))
    assert not is_py_evm_opcode(WrappingHook(_table(FORK)[ADD]))
    assert not is_py_evm_opcode(lambda computation: None)


def test_a_wrapped_opcode_is_found_through_chains_of_hooks() -> None:
    sha3 = _table(FORK)[SHA3]
    assert py_evm_opcode(sha3) is sha3
    assert py_evm_opcode(WrappingHook(WrappingHook(WrappingHook(sha3)))) is sha3
    assert py_evm_opcode(lambda computation: None) is None


def test_fork_spec_ignores_hooks_patched_into_py_evms_table() -> None:
    pristine = spec_from_opcodes(FORK, dict(_table(FORK)))
    with patched_in_place(FORK, SHA3, WrappingHook), patched_in_place(FORK, SSTORE, WrappingHook):
        assert fork_spec(FORK) == pristine
        assert fork_opcodes(FORK)[SHA3] is py_evm_opcode(_table(FORK)[SHA3])


def test_hooks_patched_into_py_evms_table_are_differences() -> None:
    with patched_in_place(FORK, SHA3, WrappingHook):
        # the class's own (patched) table is not py-evm's: native SHA3 would bypass the hook
        assert opcode_table_differences(FORK, _table(FORK)) == ["SHA3 replaced"]
    with patched_in_place(FORK, SSTORE, WrappingHook):
        # a host operation calls the table's entry; same gas as the one it wraps: honoured
        assert opcode_table_differences(FORK, _table(FORK)) == []


def test_a_replacement_wrapping_nothing_makes_the_fork_table_unknown() -> None:
    def make(original: Any) -> Any:
        return as_opcode(lambda computation: None, "ADD", 3)

    with patched_in_place(FORK, ADD, make):
        with pytest.raises(LookupError, match="ADD"):
            fork_spec(FORK)
        assert opcode_table_differences(FORK, _table(FORK))[0].startswith("py-evm's istanbul")
    assert fork_spec(FORK).static_gas[ADD] == 3
