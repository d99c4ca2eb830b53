"""Where the shared test data lives: the Ethereum tests and the benchmark cases.

Both locations are configurable with an environment variable; neither is ever committed into
the project.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyevm_jit.errors import UsageError

ETHEREUM_TESTS_ENV = "PYEVM_JIT_ETHEREUM_TESTS"
BENCH_ENV = "PYEVM_JIT_BENCH"

REPO_ROOT = Path(__file__).resolve().parents[2]


def _configured(env: str) -> Path | None:
    value = os.environ.get(env, "").strip()
    return Path(value).expanduser() if value else None


def ethereum_tests_dir(*, must_exist: bool = True) -> Path:
    """The checkout of ethereum/tests (the folder holding GeneralStateTests).

    `$PYEVM_JIT_ETHEREUM_TESTS` when set; otherwise `<repo>/fixtures/ethereum-tests` when it
    exists, else `<repo>/../shared/ethereum-tests`. Raises UsageError when the folder is missing
    and `must_exist` is true.
    """
    configured = _configured(ETHEREUM_TESTS_ENV)
    if configured is not None:
        path = configured
        origin = f"${ETHEREUM_TESTS_ENV}"
    else:
        local = REPO_ROOT / "fixtures" / "ethereum-tests"
        path = local if local.is_dir() else (REPO_ROOT.parent / "shared" / "ethereum-tests")
        origin = "the default location"
    if must_exist and not path.is_dir():
        raise UsageError(
            f"Ethereum tests not found at {path} ({origin}); clone "
            f"https://github.com/ethereum/tests there or set {ETHEREUM_TESTS_ENV}"
        )
    return path


def general_state_tests_dir(*, must_exist: bool = True) -> Path:
    """`<ethereum tests>/GeneralStateTests`."""
    path = ethereum_tests_dir(must_exist=must_exist) / "GeneralStateTests"
    if must_exist and not path.is_dir():
        raise UsageError(f"no GeneralStateTests folder in {path.parent}")
    return path


def bench_dir(*, must_exist: bool = True) -> Path:
    """The benchmark cases: `$PYEVM_JIT_BENCH`, default `<repo>/../shared/bench`."""
    configured = _configured(BENCH_ENV)
    path = configured if configured is not None else REPO_ROOT.parent / "shared" / "bench"
    if must_exist and not path.is_dir():
        raise UsageError(f"benchmark cases not found at {path}; set {BENCH_ENV}")
    return path
