"""Native code counts gas itself, past py-evm's GasMeter: a message runs natively only while the
meter's charging methods are py-evm's own and no DEBUG2 logging would show each opcode and
charge (`guard.gas_meter_bypassed`); otherwise it is interpreted, with one warning. Each test
runs the same transaction on py-evm's interpreter and on `jit_vm` in the same process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.forks import CancunVM
from eth.vm.gas_meter import GasMeter
from eth_utils.logging import DEBUG2_LEVEL_NUM
from support import record_charges
from test_customised_vm import run, same

from pyevm_jit import JitBackend
from pyevm_jit.lean import guard
from pyevm_jit.testing.assembler import asm, return_stack
from pyevm_jit.testing.differential import Scenario

CODE = asm(1, 2, "ADD", 0, "MSTORE", 0, "SLOAD", 7, "MUL", *return_stack(1))


def test_consume_gas_patched_in_place_sees_every_charge(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    charges = record_charges(monkeypatch)
    result = run(backend, CancunVM, Scenario(code=CODE, storage={0: 4}))
    same(result)
    half = len(charges) // 2
    assert charges and charges[:half] == charges[half:]  # stock's charges, then the JIT's
    assert result.native == 0 and result.ineligible >= 1


def test_py_evms_own_meter_runs_natively(backend: JitBackend) -> None:
    result = run(backend, CancunVM, Scenario(code=CODE, storage={0: 4}))
    same(result)
    assert result.native >= 1 and result.ineligible == 0


@pytest.fixture
def debug2_computation_logs() -> Iterator[list[str]]:
    """DEBUG2 on for py-evm's computation logger (eth-utils caches whether a logger shows it,
    so the cache is cleared on the way in and out): the lines it logs."""
    from eth.vm.computation import BaseComputation

    logger: Any = BaseComputation.logger
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep(level=DEBUG2_LEVEL_NUM)
    level = logger.level

    def forget() -> None:
        logger.__dict__.pop("show_debug2", None)
        logger.__dict__.pop("debug2", None)

    forget()
    logger.setLevel(DEBUG2_LEVEL_NUM)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        forget()


def test_debug2_logging_sees_every_opcode(
    backend: JitBackend, debug2_computation_logs: list[str]
) -> None:
    result = run(backend, CancunVM, Scenario(code=CODE, storage={0: 4}))
    same(result)
    opcodes = [line for line in debug2_computation_logs if line.startswith("OPCODE:")]
    half = len(opcodes) // 2
    assert opcodes and opcodes[:half] == opcodes[half:]
    assert result.native == 0 and result.ineligible >= 1


@pytest.mark.parametrize("method", ["consume_gas", "return_gas", "refund_gas"])
def test_a_meter_with_a_method_of_its_own_is_not_bypassed(method: str) -> None:
    meter = GasMeter(1000)
    logger = GasMeter.logger
    assert guard.gas_meter_bypassed(meter, logger) == ""
    setattr(meter, method, lambda *args: None)
    assert guard.gas_meter_bypassed(meter, logger) == "a gas meter with a method of its own"


@pytest.mark.parametrize("method", ["consume_gas", "return_gas", "refund_gas"])
def test_a_patched_gas_meter_class_is_not_bypassed(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = getattr(GasMeter, method)
    monkeypatch.setattr(GasMeter, method, lambda self, *args: own(self, *args))
    reason = guard.gas_meter_bypassed(GasMeter(1000), GasMeter.logger)
    assert reason == "py-evm's GasMeter with a method patched"


def test_a_gas_meter_subclass_is_not_bypassed() -> None:
    class Profiling(GasMeter):
        pass

    reason = guard.gas_meter_bypassed(Profiling(1000), GasMeter.logger)
    assert reason == "a gas meter other than py-evm's"
