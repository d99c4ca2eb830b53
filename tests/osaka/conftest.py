"""Fixtures of the Osaka tests: the sides a case runs on (the execution specification when the
`osaka-spec` extra is installed, OsakaVM interpreted, OsakaVM through the JIT)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from osaka_cases import Sides

from pyevm_jit import JitBackend, RuntimeConfig
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.osaka import OsakaVM
from pyevm_jit.testing.osaka_spec import TxCase, TxResult, run_pyevm, run_spec, spec_available


@pytest.fixture(scope="session")
def jit_osaka() -> Iterator[type[Any]]:
    """`jit_vm(OsakaVM, backend)` on a blocking backend: every contract is compiled before its
    first message runs, so compiled code runs from the first call."""
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    try:
        yield jit_vm(OsakaVM, backend)
    finally:
        backend.close()


@pytest.fixture(scope="session")
def sides(jit_osaka: type[Any]) -> Sides:
    """Runs a case on every side: `spec` (when the `osaka-spec` extra is installed),
    `interp` and `jit`."""

    def run(case: TxCase) -> dict[str, TxResult]:
        results = {"interp": run_pyevm(case, OsakaVM), "jit": run_pyevm(case, jit_osaka)}
        if spec_available():
            results["spec"] = run_spec(case)
        return results

    return run
