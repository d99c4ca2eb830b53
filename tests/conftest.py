"""Shared pytest configuration.

`--statetest-full` (or `PYEVM_JIT_FULL=1`) runs every Ethereum state test case instead of the
deterministic CI sample.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyevm-jit")
    group.addoption(
        "--statetest-full",
        action="store_true",
        default=False,
        help="run all Ethereum state tests, not the CI sample (same as PYEVM_JIT_FULL=1)",
    )
