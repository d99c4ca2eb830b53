"""The runtime with the real compiler and linker (`compile_object` and `link_object`)."""

from __future__ import annotations

import ctypes
import gc
import weakref
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from support import request

from pyevm_jit.runtime import (
    CompilationEvent,
    JitBackend,
    ProgramKind,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.runtime.store import FileArtifactStore

SSTORE = b"\x60\x01\x60\x00\x55\x00"  # PUSH1 1 PUSH1 0 SSTORE STOP
ADD = b"\x60\x02\x60\x03\x01\x50\x00"  # PUSH1 2 PUSH1 3 ADD POP STOP


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker-process"])
def test_blocking_compiles_real_code(workers: int, tmp_path: Path) -> None:
    seen: list[CompilationEvent] = []
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        store=None,
        dump_dir=tmp_path,
        on_compilation=seen.append,
        tuning=RuntimeTuning(worker_count=workers),
    )
    with JitBackend.new(config) as backend:
        decision = backend.lookup(request(SSTORE))
        assert decision.is_compiled, backend.failure_reason(keccak(SSTORE), "cancun")
        program = decision.program
        assert program is not None and program.kind is ProgramKind.JIT
        assert program.native.address != 0 and program.code_bytes > 0
        assert backend.stats().compilations_succeeded == 1
    assert len(seen) == 1 and seen[0].success
    assert seen[0].optimise > 0 and seen[0].codegen > 0
    folder = tmp_path / "cancun" / keccak(SSTORE).hex()
    assert "define" in (folder / "unopt.ll").read_text()
    assert (folder / "program.s").read_text()


def test_cleared_program_stays_mapped_while_referenced() -> None:
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        store=None,
        dump_dir=None,
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as backend:
        program = backend.lookup(request(ADD)).program
        assert program is not None
        tracker = weakref.ref(program.native._tracker)  # type: ignore[attr-defined]
        first = ctypes.string_at(program.native.address, 16)
        backend.clear_resident()
        gc.collect()
        assert tracker() is not None
        assert ctypes.string_at(program.native.address, 16) == first  # still mapped, unchanged
        del program
        gc.collect()
        assert tracker() is None  # released once the last holder is gone


def test_aot_round_trip_with_real_objects(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        aot=True,
        store=FileArtifactStore(store_dir),
        dump_dir=None,
        tuning=RuntimeTuning(worker_count=1),
    )
    with JitBackend.new(config) as backend:
        assert backend.lookup(request(SSTORE)).is_compiled
        assert backend.stats().artifacts_stored == 1
    config = RuntimeConfig(
        enabled=True,
        store=FileArtifactStore(store_dir),
        dump_dir=None,
        tuning=RuntimeTuning(worker_count=1),
    )
    with JitBackend.new(config) as backend:
        s = backend.stats()
        assert s.aot_loaded == 1 and s.compilations_dispatched == 0
        decision = backend.lookup(request(SSTORE))
        assert decision.is_compiled and decision.program is not None
        assert decision.program.kind is ProgramKind.AOT
