"""Filling an artifact store ahead of time: which codes it lacks (`plan_aot`) and compiling
them into it on the runtime's worker pool (`compile_plan`). Used by `pyevm-jit aot` and by the
`--mode aot` runs of the conformance commands."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyevm_jit.compiler.target import engine_identity
from pyevm_jit.runtime import regions
from pyevm_jit.runtime.backend import JitBackend
from pyevm_jit.runtime.config import RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.stats import RuntimeStatsSnapshot
from pyevm_jit.runtime.store import ArtifactKey, ArtifactStore
from pyevm_jit.runtime.types import AotRequest, RuntimeCacheKey


@dataclass
class AotPlan:
    """What filling a store with some codes takes."""

    total: int  # distinct (code, fork) pairs asked for
    present: int  # already in the store (valid and built by this engine)
    todo: list[AotRequest]  # to compile
    too_large: int  # left out (over the size the runtime compiles)


def plan_aot(
    store: ArtifactStore,
    codes: Mapping[tuple[bytes, str], bytes],
    tuning: RuntimeTuning,
) -> AotPlan:
    """Which of `codes` ((code hash, py-evm fork) -> code) the store lacks."""
    identity = engine_identity()
    todo: list[AotRequest] = []
    present = 0
    for (code_hash, code_fork), code in sorted(codes.items()):
        runtime_key = RuntimeCacheKey(code_hash, code_fork)
        # with regions forced (`region_random`), what an AOT job compiles is a region
        region = regions.first(code, code_fork, tuning) if tuning.region_random else None
        full = ArtifactKey.for_identity(runtime_key, tuning.aot_opt_level, identity, region)
        if store.load(full) is not None:
            present += 1
        elif tuning.should_compile(code):
            todo.append(AotRequest(code_hash, code, code_fork))
    return AotPlan(len(codes), present, todo, len(codes) - present - len(todo))


def compile_plan(
    store: ArtifactStore,
    plan: AotPlan,
    tuning: RuntimeTuning,
    on_progress: Callable[[int, int], None] | None = None,
) -> RuntimeStatsSnapshot:
    """Compile what `plan` lists into `store` (on the runtime's worker pool) and wait for all
    of it; `on_progress(finished, failed)` is called while it waits. The backend's final stats
    (`artifacts_stored`, `compilations_failed`)."""
    config = RuntimeConfig(
        enabled=True,
        aot=True,
        store=store,
        dump_dir=None,
        # every request must be queued: none dropped over the pending-job limit
        tuning=tuning.replace(max_pending_jobs=max(tuning.max_pending_jobs, len(plan.todo) + 1)),
        preload=False,
    )
    with JitBackend.new(config) as backend:
        backend.prepare_aot_batch(plan.todo)
        while not backend.wait_idle(0.25):
            s = backend.stats()
            if on_progress is not None:
                on_progress(s.compilations_succeeded + s.compilations_failed, s.compilations_failed)
        return backend.stats()


def write_failures(store: ArtifactStore) -> str:
    """What could not be written into the store (a full disk, say), or "" when all was."""
    failed = int(getattr(store, "write_errors", 0))
    if not failed:
        return ""
    reason = getattr(store, "last_write_error", None) or "write failed"
    where = getattr(store, "directory", store)
    return f"{failed} could not be written to {where} ({reason})"
