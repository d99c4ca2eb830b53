"""Shared pytest configuration.

`--statetest-full` (or `PYEVM_JIT_FULL=1`) runs every Ethereum state test case instead of the
deterministic CI sample.

The suite is hermetic: the persistent cache a `RuntimeConfig()` uses by default is switched off
(`PYEVM_JIT_STORE=off`, inherited by the commands tests run), so no test reads or writes the
user's real cache; the tests of the cache give it a temporary folder.
"""

from __future__ import annotations

import os

import pytest

os.environ["PYEVM_JIT_STORE"] = "off"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyevm-jit")
    group.addoption(
        "--statetest-full",
        action="store_true",
        default=False,
        help="run all Ethereum state tests, not the CI sample (same as PYEVM_JIT_FULL=1)",
    )
