"""AOT adoption: the backend's side of the artifact store. Stored artifacts are checked (engine
identity, then integrity), linked and made resident -- all at start-up (`preload`) or on the
first miss of a key the store holds (`index_store`, `from_store`); new AOT programs are
persisted once they are known to link (`persist`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyevm_jit.runtime.state import BackendState, code_size, insert
from pyevm_jit.runtime.store import ArtifactKey, StoredArtifact, identity_fingerprint
from pyevm_jit.runtime.types import CompiledProgram, ProgramKind, RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode
    from pyevm_jit.compiler.target import EngineIdentity

log = logging.getLogger("pyevm_jit.runtime")


def engine_identity(inner: BackendState) -> EngineIdentity:
    """This process's engine identity (computed once per backend)."""
    if inner.identity is None:
        from pyevm_jit.compiler.target import engine_identity as current

        inner.identity = current()
    return inner.identity


def check_store(inner: BackendState) -> None:
    """A store that refuses to work is logged and counted once; the backend runs without it
    (its loads return nothing and its stores do nothing)."""
    store = inner.config.store
    if store is None:
        return
    try:
        store.check()
    except Exception as exc:
        inner.artifacts_rejected += 1
        log.warning("pyevm-jit: %s; running without a store", exc)


def preload(inner: BackendState) -> None:
    store = inner.config.store
    if store is None:
        return
    try:
        artifacts = store.load_all()
    except Exception as exc:  # noqa: BLE001 - a broken store must not break the VM
        log.warning("pyevm-jit: cannot read artifact store %r: %s", store, exc)
        return
    loaded = 0
    for artifact in artifacts:
        key = artifact.key.runtime_key
        if key in inner.resident:
            continue
        if adopt(inner, artifact, key, count=True) is not None:
            loaded += 1
    log.info("pyevm-jit: preloaded %d AOT artifacts from %r", loaded, store)


def index_store(inner: BackendState) -> None:
    """Without preloading, remember which keys the store has, so that their first miss
    loads the artifact instead of waiting for the hot threshold."""
    store = inner.config.store
    if store is None:
        return
    ours = identity_fingerprint(engine_identity(inner))
    try:
        found = {k.runtime_key for k in store.keys() if k.identity == ours}
    except Exception as exc:  # noqa: BLE001
        log.warning("pyevm-jit: cannot list artifact store %r: %s", store, exc)
        return
    with inner.lock:
        inner.store_keys = found


def reject(inner: BackendState, artifact: StoredArtifact, reason: str) -> None:
    with inner.lock:
        inner.artifacts_rejected += 1
    m = artifact.manifest
    log.warning("pyevm-jit: artifact %s/%s rejected: %s", m.fork, m.code_hash, reason)


def adopt(
    inner: BackendState, artifact: StoredArtifact, key: RuntimeCacheKey, *, count: bool
) -> CompiledProgram | None:
    """Verify and link a stored artifact; make it resident. None when rejected."""
    problem = artifact.compatibility_problem(engine_identity(inner))
    if problem is None:
        problem = artifact.integrity_problem()  # verified again right before linking
    if problem is not None:
        reject(inner, artifact, problem)
        return None
    try:
        native = inner.linker(artifact.to_object_code())
    except Exception as exc:  # noqa: BLE001
        reject(inner, artifact, f"link failed: {exc}")
        return None
    program = CompiledProgram(
        key,
        ProgramKind.AOT,
        native,
        code_size(native, artifact.object_bytes),
        opt_level=artifact.manifest.opt_level,
    )
    with inner.lock:
        insert(inner, program)
        if count:
            inner.aot_loaded += 1
    return program


def from_store(inner: BackendState, key: RuntimeCacheKey) -> CompiledProgram | None:
    """The key's artifact at the AOT or the JIT level, adopted; None when the store has none
    that is usable."""
    store = inner.config.store
    if store is None:
        return None
    identity = engine_identity(inner)
    for opt in dict.fromkeys((inner.tuning.aot_opt_level, inner.tuning.jit_opt_level)):
        try:
            artifact = store.load(ArtifactKey.for_identity(key, opt, identity))
        except Exception as exc:  # noqa: BLE001
            log.warning("pyevm-jit: artifact store read failed: %s", exc)
            return None
        if artifact is not None:
            program = adopt(inner, artifact, key, count=True)
            if program is not None:
                return program
    return None


def persist(inner: BackendState, key: RuntimeCacheKey, obj: ObjectCode, code_len: int) -> None:
    """Store the object code of a new AOT program (best effort: a failure is logged)."""
    store = inner.config.store
    if store is None:
        return
    try:
        artifact = StoredArtifact.create(key, obj, code_len, engine_identity(inner))
        store.store(artifact)
        with inner.lock:
            inner.artifacts_stored += 1
    except Exception as exc:  # noqa: BLE001 - persisting is best effort
        log.warning("pyevm-jit: cannot store artifact for %s: %s", key, exc)
