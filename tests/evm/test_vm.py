"""`jit_vm` over VM classes whose opcode table departs from py-evm's fork table."""

from __future__ import annotations

from typing import Any

from eth.vm.forks import CancunVM
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState
from eth.vm.opcode import as_opcode

from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.lean.exact import opcode_table_differences
from pyevm_jit.opcodes import _opcode_gas_cost
from pyevm_jit.runtime import JitBackend
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm


def vm_with(replacements: dict[int, Any]) -> type:
    opcodes = {**CancunComputation.opcodes, **replacements}
    computation = CancunComputation.configure(__name__="CustomComputation", opcodes=opcodes)
    state = CancunState.configure(__name__="CustomState", computation_class=computation)
    return CancunVM.configure(__name__="CustomVM", _state_class=state)  # type: ignore[no-any-return]


def add_plus_one(computation: Any) -> None:
    a, b = computation.stack_pop_ints(2)
    computation.stack_push_int((a + b + 1) % 2**256)


def balance_is_42(computation: Any) -> None:
    computation.stack_pop1_bytes()
    computation.stack_push_int(42)


def stats(backend: JitBackend) -> tuple[int, int]:
    s = backend.stats()
    return s.lookup_hits, s.misses_by_reason.get("Ineligible", 0)


def run(backend: JitBackend, vm_class: type, code: bytes) -> tuple[d.Outcome, d.Outcome]:
    scenario = d.Scenario(code=code, fork="cancun")
    return d.execute(scenario, vm_class), d.execute(scenario, jit_vm(vm_class, backend))


RETURN_SUM = asm(2, 3, "ADD", 0, "MSTORE", 32, 0, "RETURN")


def test_stock_tables_have_no_differences() -> None:
    assert opcode_table_differences("cancun", CancunComputation.opcodes) == []


def test_replaced_native_opcode_is_interpreted(backend: JitBackend) -> None:
    custom = vm_with({0x01: as_opcode(logic_fn=add_plus_one, mnemonic="ADD", gas_cost=3)})
    table = custom._state_class.computation_class.opcodes  # type: ignore[attr-defined]
    assert opcode_table_differences("cancun", table) == ["ADD replaced"]
    hits, ineligible = stats(backend)
    stock, jit = run(backend, custom, RETURN_SUM)
    assert int.from_bytes(stock.output, "big") == 6  # the custom ADD ran
    assert not d.compare(stock, jit)
    assert stats(backend) == (hits, ineligible + 1)  # interpreted, counted as Ineligible


def test_added_or_removed_opcode_is_a_difference() -> None:
    opcodes = dict(CancunComputation.opcodes)
    del opcodes[0x5F]  # PUSH0
    opcodes[0x0C] = as_opcode(logic_fn=add_plus_one, mnemonic="ADDONE", gas_cost=3)
    assert opcode_table_differences("cancun", opcodes) == ["0x0c added", "PUSH0 removed"]


def test_replaced_host_opcode_with_same_gas_still_runs_native(backend: JitBackend) -> None:
    stock_balance = CancunComputation.opcodes[0x31]
    custom = vm_with(
        {
            0x31: as_opcode(
                logic_fn=balance_is_42,
                mnemonic="BALANCE",
                gas_cost=_opcode_gas_cost(stock_balance),
            )
        }
    )
    code = asm(0, "BALANCE", 0, "MSTORE", 32, 0, "RETURN")
    hits, ineligible = stats(backend)
    stock, jit = run(backend, custom, code)
    assert int.from_bytes(stock.output, "big") == 42  # py-evm ran the custom BALANCE
    assert not d.compare(stock, jit)
    assert stats(backend) == (hits + 1, ineligible)  # native, the host op ran the VM's own logic


def test_replaced_host_opcode_with_other_gas_runs_as_a_host_operation(
    backend: JitBackend,
) -> None:
    """A host operation runs the table's entry, which charges its own gas (lean/exact.py)."""
    custom = vm_with({0x31: as_opcode(logic_fn=balance_is_42, mnemonic="BALANCE", gas_cost=7)})
    code = asm(0, "BALANCE", 0, "MSTORE", 32, 0, "RETURN")
    hits, ineligible = stats(backend)
    stock, jit = run(backend, custom, code)
    assert int.from_bytes(stock.output, "big") == 42
    assert not d.compare(stock, jit)
    assert stats(backend) == (hits + 1, ineligible)
