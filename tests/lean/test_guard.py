"""The guard of the lean paths (pyevm_jit.lean.guard): every fingerprint it records is the
installed py-evm's, and a py-evm whose copied code differs keeps its own code."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from eth.vm.computation import BaseComputation

from pyevm_jit.evm.computation import JitComputationMixin
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.forks import fork_vm
from pyevm_jit.lean import guard
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm
from pyevm_jit.testing.differential import Scenario

LEAN = Path(guard.__file__).parent


@pytest.mark.parametrize("name", sorted(guard.PINNED))
def test_every_pinned_copy_is_the_installed_py_evms(name: str) -> None:
    """When py-evm changes a method a lean path copies, this fails: compare the copy with the
    new code, then record the new fingerprint in guard.PINNED."""
    assert guard.resolve(name) is not None, f"{name} is gone"
    assert guard.fingerprint(guard.resolve(name)) == guard.PINNED[name]
    assert guard.pinned(name)


def test_a_changed_method_is_not_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    from eth.vm.forks.london.state import LondonTransactionExecutor

    name = "eth.vm.forks.london.state:LondonTransactionExecutor.build_evm_message"
    assert guard.pinned(name)

    def build_evm_message(self: object, transaction: object) -> None:
        """Another body."""

    monkeypatch.setattr(LondonTransactionExecutor, "build_evm_message", build_evm_message)
    assert not guard.pinned(name)
    assert LondonTransactionExecutor.build_evm_message not in guard.pinned_build_evm_messages()


def test_a_changed_apply_computation_interprets_every_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A py-evm whose apply_computation is not the one the JIT computation's opening copies:
    jit_vm warns once and every message runs py-evm's own method (no native code), with
    py-evm's results."""
    code = asm(1, 0, "SSTORE", 2, "SLOAD", 0, "MSTORE", 32, 0, "RETURN")
    scenario = Scenario(code=code, fork="cancun")
    stock = d.run_stock(scenario)
    assert issubclass(
        d.jit_vm_class("cancun").get_state_class().computation_class,  # type: ignore[attr-defined]
        JitComputationMixin,
    )
    monkeypatch.setitem(guard.PINNED, "eth.vm.computation:BaseComputation.apply_computation", "0")
    assert not guard.apply_computation_pinned()
    backend = d.get_backend()
    with caplog.at_level(logging.WARNING):
        vm = jit_vm(fork_vm("cancun"), backend)
    assert any("apply_computation" in r.getMessage() for r in caplog.records)
    computation_class = vm.get_state_class().computation_class  # type: ignore[attr-defined]
    stock_method = vars(BaseComputation)["apply_computation"]
    assert vars(computation_class)["apply_computation"] is stock_method
    before = backend.stats()
    outcome = d.execute(scenario, vm)  # type: ignore[arg-type]
    after = backend.stats()
    assert d.compare(stock, outcome) == []
    assert after.lookup_hits == before.lookup_hits
    assert after.lookup_misses == before.lookup_misses


#: py-evm (and py-trie) classes a lean path could be tempted to compare with
_PY_EVM_NAMES = {
    "BaseComputation", "_FastOpcode", "BaseCall", "AccountDB", "AccountStorageDB",
    "StorageLookup", "KeyAccessLoggerDB", "HashTrie", "HexaryTrie",
}  # fmt: skip


def _py_evm_names(node: ast.AST) -> set[str]:
    """py-evm names in `node`: the classes above and anything of a py-evm logic module."""
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and (
            child.id in _PY_EVM_NAMES or child.id.endswith("_logic")
        ):
            found.add(child.id)
        elif isinstance(child, ast.Attribute) and child.attr in _PY_EVM_NAMES:
            found.add(child.attr)
    return found


def test_only_the_guard_checks_py_evm_objects() -> None:
    """The rule of pyevm_jit/lean: no module but guard.py (what lean copies may stand in for)
    and exact.py (what native code may stand in for at all: the customisation rule), with
    guard's part for calls (callguard.py, apart for size), compares an object with py-evm's
    (`x is <py-evm name>` or `type(x) is <py-evm class>`), so a py-evm upgrade is checked in
    those."""
    offenders = []
    for path in sorted(LEAN.rglob("*.py")):
        if path.name in ("guard.py", "exact.py", "callguard.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(
                isinstance(op, ast.Is | ast.IsNot) for op in node.ops
            ):
                if _py_evm_names(node):
                    offenders.append(f"{path.relative_to(LEAN)}: {ast.unparse(node)}")
    assert not offenders, offenders
