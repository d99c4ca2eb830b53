"""The customisation fuzzer (`pyevm_jit.fuzz.customise`): a short run agrees everywhere, every
catalogue entry builds a VM that both sides run, and the fuzzer does find a customisation
that native code bypasses (here: the rule of lean/exact.py switched off for the state)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyevm_jit.fuzz import customise
from pyevm_jit.lean import exact
from pyevm_jit.runtime import JitBackend, RuntimeConfig


@pytest.fixture(scope="module")
def backend() -> Iterator[JitBackend]:
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as b:
        yield b


@pytest.mark.parametrize("name", sorted(customise.CATALOGUE))
def test_each_customisation_agrees(name: str, backend: JitBackend) -> None:
    native = 0
    for index in range(4):
        diffs, ran_native = customise.run_case(7, index, ("cancun",), backend, (name,))
        assert diffs == []
        native += ran_native
    if name not in ("apply_computation hook", "repriced consume_gas", "capped extend_memory",
                    "capped Memory class"):  # fmt: skip
        assert native  # the others leave native code on (with host operations)


def test_a_short_run_finds_nothing() -> None:
    report = customise.fuzz_customised(600, 11, max_cases=30)
    assert report.programs == 30 and report.divergences == []
    assert report.native_cases


def test_a_bypassed_state_override_is_found(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the state path left on for customised states, some case with a pinned slot or an
    always-cold state diverges (the fuzzer can fail)."""
    monkeypatch.setattr(exact, "state_path_exact", lambda *args: True)
    found = []
    for index in range(40):
        names = ("pinned slot", "always-cold state")
        diffs, _ = customise.run_case(3, index, ("cancun",), backend, names)
        found += diffs
        if found:
            break
    assert found
