"""The IR text builder: shared small constants, folds, and output that depends only on the input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import llvmlite.binding as llvm

from pyevm_jit.compiler.codegen import irtext, irvalues, translate
from pyevm_jit.compiler.codegen.irtext import Constant, FunctionType, IRBuilder, Module, const
from pyevm_jit.compiler.codegen.types import c64, c256, i1, i64, i64p, i256
from pyevm_jit.compiler.target import _ensure_llvm

BENCH = Path(__file__).resolve().parents[2] / "fixtures" / "bench"


def _builder() -> tuple[Module, IRBuilder, list[object]]:
    module = Module("t")
    fn = irtext.Function(module, FunctionType(i64, [i1, i64p, i64]), "f", ["c", "p", "x"])
    b = IRBuilder(fn.append_basic_block("entry"))
    return module, b, fn.args


def test_small_constants_are_shared_large_ones_are_not() -> None:
    assert c64(7) is c64(7) and const(i64, 7) is c64(7)
    assert c256(5) is c256(5) and c256(5) is not c64(5)
    big = 1 << 200
    assert c256(big) is not c256(big)  # not kept: a worker compiles many programs
    assert c256(big).constant == big and c256(big).ref == str(big)
    assert c64(-1).constant == (1 << 64) - 1 and c64(-1).ref == str((1 << 64) - 1)
    assert len(irvalues._SMALL) <= 5 * irtext.SMALL_CONSTANT_LIMIT  # bounded by the limit per type


def test_select_of_equal_constants_folds_by_value() -> None:
    _, b, (cond, _, x) = _builder()
    assert b.select(cond, c64(9), c64(9)) is c64(9)
    big = 1 << 100
    folded = b.select(cond, Constant(i256, big), Constant(i256, big))
    assert isinstance(folded, Constant) and folded.constant == big
    assert b.lines == []  # nothing emitted
    chosen = b.select(cond, c64(1), x)
    assert not isinstance(chosen, Constant) and "select i1 %c, i64 1, i64 %x" in b.lines[-1]


def test_one_index_gep_is_written_as_the_general_form_is() -> None:
    _, b, (_, p, x) = _builder()
    assert b.gep(p, [c64(0)]).ref == p.ref  # folded: no instruction
    one = b.gep(p, [c64(3)])
    two = b.gep(p, [x], inbounds=True)
    assert b.lines == [
        f"  {one.ref} = getelementptr i64, ptr %p, i64 3",
        f"  {two.ref} = getelementptr inbounds i64, ptr %p, i64 %x",
    ]
    assert one.type.pointee is i64 and one.type is two.type  # type: ignore[attr-defined]


def _codes() -> list[bytes]:
    codes: list[bytes] = []
    for path in sorted(BENCH.glob("*.json")):
        for case in json.loads(path.read_text()).values():
            for account in case.get("pre", {}).values():
                code = bytes.fromhex(account.get("code", "0x")[2:])
                if code and code not in codes:
                    codes.append(code)
    return codes


def test_ir_text_depends_only_on_code_and_fork() -> None:
    """Translating other programs first (in any order, for other forks) changes nothing:
    caches shared between translations hold only values that never change."""
    codes = _codes()
    assert len(codes) >= 5
    alone = {code: translate(code, "cancun", "evm_x") for code in codes}
    for code in codes:
        translate(code, "frontier", "evm_x")
        translate(code, "prague", "evm_x")
    for code in reversed(codes):
        assert translate(code, "cancun", "evm_x") == alone[code]


def test_folded_module_is_valid_llvm() -> None:
    """Every module of the bundled contracts parses and verifies (the folds leave no dangling
    reference to a value that was not emitted)."""
    _ensure_llvm()
    for code in _codes():
        ir = translate(code, "cancun", "evm_x")
        assert not re.search(r"select i1 %v\d+, (i\d+) (\d+), \1 \2\n", ir)
        llvm.parse_assembly(ir).verify()
