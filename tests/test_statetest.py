"""The Ethereum state tests as parametrised pytest cases, in interp and jit mode.

By default a deterministic sample runs (every case whose id hashes to 0 modulo SAMPLE_EVERY,
plus the first case of every fixture folder, minus the known-slow cases); `--statetest-full`
or `PYEVM_JIT_FULL=1` runs every case.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from pyevm_jit.cli import UsageError
from pyevm_jit.statetest import Case, Status, VMFactory, discover_cases, run_case

MODES = ("interp", "jit")

# One case in SAMPLE_EVERY (by a stable hash of its id) is in the CI sample.
SAMPLE_EVERY = 64

# Cases that take many seconds on py-evm's interpreter (measured on the full interp run):
# never in the sample (the first case of their folder is replaced by the next one); the full
# run includes them.
SLOW_CASES: frozenset[str] = frozenset()


def statetest_full(config: pytest.Config) -> bool:
    """All cases (`--statetest-full`, registered in conftest.py, or PYEVM_JIT_FULL=1)?"""
    if config.getoption("--statetest-full", default=False):
        return True
    return os.environ.get("PYEVM_JIT_FULL", "").strip().lower() in ("1", "true", "yes", "on")


def _folder(case: Case) -> str:
    return case.id.split("::", 1)[0].rsplit("/", 1)[0]


def _is_slow(case: Case) -> bool:
    return case.id in SLOW_CASES


def _stable_hash(case_id: str) -> int:
    return int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big")


def select_sample(cases: list[Case], every: int = SAMPLE_EVERY) -> list[Case]:
    """Deterministic sample covering every folder: hash-selected cases plus, for each folder,
    its first case that is not known to be slow."""
    picked: list[Case] = []
    covered: set[str] = set()
    for case in cases:
        if _is_slow(case):
            continue
        folder = _folder(case)
        if folder not in covered or _stable_hash(case.id) % every == 0:
            picked.append(case)
            covered.add(folder)
    return picked


@functools.lru_cache(maxsize=1)
def _discover_all() -> tuple[list[Case], str | None]:
    from pyevm_jit.fixtures import general_state_tests_dir

    try:
        root = general_state_tests_dir()
    except UsageError as exc:
        return [], str(exc)
    return discover_cases([root]), None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "statetest_case" not in metafunc.fixturenames:
        return
    cases, problem = _discover_all()
    if problem is not None:
        metafunc.parametrize(
            "statetest_case", [pytest.param(None, marks=pytest.mark.skip(reason=problem))]
        )
        return
    if not statetest_full(metafunc.config):
        cases = select_sample(cases)
    metafunc.parametrize("statetest_case", cases, ids=[case.id for case in cases])


@pytest.fixture(scope="session")
def jit_backend() -> Iterator[Any]:
    try:
        from pyevm_jit.runtime import JitBackend, RuntimeConfig
        from pyevm_jit.vm import jit_vm  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"JIT modules not importable: {exc}")
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True))
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(scope="session")
def jit_factory(jit_backend: Any) -> VMFactory:
    from pyevm_jit.vm import jit_vm

    classes: dict[type[Any], type[Any]] = {}

    def factory(vm_class: type[Any]) -> type[Any]:
        if vm_class not in classes:
            classes[vm_class] = jit_vm(vm_class, jit_backend)
        return classes[vm_class]

    return factory


@pytest.mark.statetest
@pytest.mark.parametrize("mode", MODES)
def test_state(statetest_case: Case, mode: str, request: pytest.FixtureRequest) -> None:
    factory: VMFactory | None = None
    if mode == "jit":
        factory = request.getfixturevalue("jit_factory")
    result = run_case(statetest_case, factory)
    if result.status is Status.UNSUPPORTED:
        pytest.skip(result.reason)
    if result.status is Status.XFAIL:
        pytest.xfail(result.reason)
    assert result.status is Status.PASSED, result.reason


def test_sample_covers_every_folder() -> None:
    cases, problem = _discover_all()
    if problem is not None:
        pytest.skip(problem)
    sample = select_sample(cases)
    assert {_folder(case) for case in sample} == {_folder(case) for case in cases}
    assert sample == select_sample(list(cases))  # deterministic
    assert len(sample) < len(cases) / 10
    assert not any(_is_slow(case) for case in sample)


def test_jit_runs_native_code(jit_backend: Any, jit_factory: VMFactory) -> None:
    """In jit mode (blocking backend) a contract call runs native code."""
    from pyevm_jit.fixtures import general_state_tests_dir

    folder = general_state_tests_dir() / "VMTests" / "vmArithmeticTest" / "add.json"
    cases = discover_cases([folder], fork="Cancun")
    before = jit_backend.stats().lookup_hits
    result = run_case(cases[0], jit_factory)
    assert result.status is Status.PASSED, result.reason
    assert jit_backend.stats().lookup_hits > before
