"""Every opcode the table says runs natively has one emitter, and every emitter is for such an
opcode: a native opcode added to `opcodes.OPCODES` without an emitter (or an emitter left for
an opcode that is no longer native) fails here, not at the first contract that uses it."""

from __future__ import annotations

import pytest

from pyevm_jit.compiler.codegen import ops
from pyevm_jit.opcodes import BY_NAME, OPCODES, Kind


def test_native_opcodes_and_emitters_match() -> None:
    native = {info.name for info in OPCODES.values() if info.kind is Kind.NATIVE}
    registered = set(ops.emitters())
    assert native - registered == set(), "native opcodes without an emitter"
    assert registered - native == set(), "emitters for opcodes that are not native"


def test_emitters_register_by_the_tables_names() -> None:
    with pytest.raises(ValueError):
        ops._op("ADD")(lambda *args: None)  # a second emitter for one opcode
    with pytest.raises(ValueError):
        ops._op("KECCAK256")(lambda *args: None)  # an alias, not the table's name
    assert ops.emitters()["ADD"] is ops._EMITTERS[BY_NAME["ADD"]]
