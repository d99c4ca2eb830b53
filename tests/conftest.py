"""Shared pytest configuration.

`--statetest-full` (or `PYEVM_JIT_FULL=1`) runs every Ethereum state test case instead of the
deterministic CI sample.

Any environment the README's extras make runs the suite alike: titanoboa's pytest plugin is
kept out (pyproject.toml's addopts) and, once titanoboa is imported (collecting
tests/integrations/test_boa.py imports it in every worker), the hooks it installs in py-evm's
shared opcode tables are taken out for the duration of every test but titanoboa's own
(`_py_evm_tables_as_shipped`).

The suite is hermetic: the persistent cache a `RuntimeConfig()` uses by default is switched off
(`PYEVM_JIT_STORE=off`, inherited by the commands tests run), so no test reads or writes the
user's real cache; the tests of the cache give it a temporary folder.

Tests live in folders that mirror the package's layers (tests/compiler/, tests/runtime/, ...);
this folder is put on `sys.path` here so that every one of them imports the shared helpers as
`from support import ...`, whatever the rootdir or import mode.

Every test has a time limit (pytest-timeout; `timeout` in pyproject.toml); tests marked `slow`
get `SLOW_TIMEOUT` unless they set their own `timeout` mark. The default run leaves the `slow`
ones out (`-m "not slow"` in pyproject.toml); `python -m pytest -m slow` runs them (.ci/run does).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pyevm_jit.runtime import JitBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ["PYEVM_JIT_STORE"] = "off"

#: the time limit of a test marked `slow` (seconds) that sets none of its own
SLOW_TIMEOUT = 1800


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyevm-jit")
    group.addoption(
        "--statetest-full",
        action="store_true",
        default=False,
        help="run all Ethereum state tests, not the CI sample (same as PYEVM_JIT_FULL=1)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))


@pytest.fixture(scope="session")
def backend() -> Iterator[JitBackend]:
    """The real JIT (llvmlite compiler and linker), blocking (every code is compiled before its
    first message) and without a store; one per test process. Tests read its statistics as
    differences. Modules that need another configuration define their own `backend`."""
    from pyevm_jit.runtime import JitBackend, RuntimeConfig

    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as jit_backend:
        yield jit_backend


#: test modules that run titanoboa (its hooks stay in py-evm's tables for them)
TITANOBOA_TESTS = {"test_boa.py"}


@pytest.fixture(autouse=True)
def _py_evm_tables_as_shipped(request: pytest.FixtureRequest) -> Iterator[None]:
    """titanoboa wraps SHA3 and SSTORE of py-evm's shared fork tables for every environment it
    makes (its module-level `boa.env` among them); other VMs of the process would then run
    titanoboa's tracers and be interpreted by the JIT. For every test but titanoboa's the
    wrappers are replaced by the py-evm opcodes they wrap, and put back afterwards."""
    if "boa" not in sys.modules or request.path.name in TITANOBOA_TESTS:
        yield
        return
    from pyevm_jit.opcodes import is_py_evm_opcode, py_evm_opcode, vm_classes

    changed: list[tuple[dict[int, Any], int, Any]] = []
    for vm_class in vm_classes().values():
        table = vm_class._state_class.computation_class.opcodes  # type: ignore[attr-defined]
        for op, fn in list(table.items()):
            if type(fn).__module__.startswith("boa.") and not is_py_evm_opcode(fn):
                own = py_evm_opcode(fn)
                if own is not None:
                    changed.append((table, op, fn))
                    table[op] = own
    try:
        yield
    finally:
        for table, op, fn in changed:
            table[op] = fn
