"""Shared pytest configuration.

`--statetest-full` (or `PYEVM_JIT_FULL=1`) runs every Ethereum state test case instead of the
deterministic CI sample.

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
from typing import TYPE_CHECKING

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
