"""Blocking mode: a miss compiles in the caller and the answer is final."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import fake_backend, request

from pyevm_jit.runtime import (
    InterpretReason,
    JitBackend,
    ProgramKind,
    RuntimeTuning,
)
from pyevm_jit.testing import faults


@pytest.fixture
def backend() -> Iterator[JitBackend]:
    with fake_backend(blocking=True, tuning=RuntimeTuning(worker_count=0)) as b:
        yield b


def test_blocking_miss_compiles_and_hits(backend: JitBackend) -> None:
    req = request(b"\x60\x01\x60\x00\x55\x00")
    first = backend.lookup(req)
    assert first.is_compiled and first.reason is None
    assert first.program is not None
    assert first.program.key == req.key and first.program.kind is ProgramKind.JIT
    second = backend.lookup(req)
    assert second.program is first.program
    stats = backend.stats()
    assert stats.lookup_hits == 2 and stats.lookup_misses == 0
    assert stats.compilations_dispatched == 1 and stats.compilations_succeeded == 1
    assert stats.resident_entries == 1 and stats.resident_code_bytes > 0


def test_blocking_failure_is_jit_failed_and_remembered(backend: JitBackend) -> None:
    req = request(faults.RAISE_MARKER + b"\x00")
    assert backend.lookup(req).reason is InterpretReason.JIT_FAILED
    assert backend.lookup(req).reason is InterpretReason.JIT_FAILED
    stats = backend.stats()
    assert stats.compilations_dispatched == 1 and stats.compilations_failed == 1
    assert stats.misses_by_reason["JitFailed"] == 2
    reason = backend.failure_reason(req.key.code_hash, "cancun")
    assert reason is not None and "injected" in reason


def test_blocking_ineligible(backend: JitBackend) -> None:
    assert backend.lookup(request(b"")).reason is InterpretReason.INELIGIBLE
    big = b"\x5b" * (24576 + 1)
    assert backend.lookup(request(big)).reason is InterpretReason.INELIGIBLE
    # the longest eligible code (24,576 JUMPDESTs in a row would be pathological to compile:
    # Ineligible too, see test_budget.py)
    assert backend.lookup(request(b"\x60\x01\x50" * 8192)).is_compiled
    stats = backend.stats()
    assert stats.misses_by_reason["Ineligible"] == 2
    assert stats.compilations_dispatched == 1
