"""The backend's side of the artifact store.

Loading: a stored artifact is checked right before it is linked -- built by this very engine
(package version, compiler sources hash, py-evm, LLVM, CPU: `compatibility_problem`), manifest
and object agreeing (the digest covers both: `integrity_problem`, checked by the store and again
here), bound to the key it is used for and to the length of the code it will run
(`binding_problem`) -- and linked under the entry symbol derived from the key, so an object of
another contract cannot link. It happens on the first lookup of a key (`first_lookup`: no hot
threshold for code compiled once, in this process or any other), when a compilation starts
(`from_store`), or at start-up for every artifact of this engine (`preload`: resident at once,
as the reference's preloaded AOT programs are, so `get_compiled` finds them right after
`JitBackend.new`; the code length, unknown until then, is checked on the key's first lookup,
which drops a program whose length disagrees: `verify_length`). Artifacts of other
engines are skipped by their file names, unread, with one summary line.

Storing: every program compiled here (JIT, tier-up and AOT alike, region programs included) is
persisted once it is known to link (`persist`; best effort, failures logged and counted).

Region programs (docs/regions.md) are stored under a key that names what they cover (the count
and a digest of their blocks' start pcs, `store.format.region_tag`); their manifest lists the
blocks, covered by the digest like every field. A key's lookup takes the whole contract when
the store has it (best level first), else the largest region stored for the code (one listing
of the store's fork folder, `variants`); a region grown here is stored under its new key and
the one it grew from is deleted. A loaded region program counts its side exits and grows like
one compiled here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyevm_jit.runtime import regions
from pyevm_jit.runtime.state import BackendState, ResidentEntry, code_size, describe_key, insert
from pyevm_jit.runtime.store import ArtifactKey, StoredArtifact, identity_fingerprint
from pyevm_jit.runtime.types import CompiledProgram, ProgramKind, RuntimeCacheKey
from pyevm_jit.runtime.usage import usage_of

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode
    from pyevm_jit.compiler.target import EngineIdentity
    from pyevm_jit.runtime.types import LookupRequest

log = logging.getLogger("pyevm_jit.runtime")

#: keys remembered as looked up in the store at most (the set starts again beyond)
MAX_PROBED_KEYS = 1 << 16


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


def should_preload(inner: BackendState) -> bool:
    """`RuntimeConfig.preload`, or when it is None: preload an unbounded store (an AOT store),
    read a bounded one (a cache) lazily."""
    preload = inner.config.preload
    if preload is None:
        return getattr(inner.config.store, "max_bytes", None) is None
    return preload


def preload(inner: BackendState) -> None:
    """Verify and link the artifact of each key this engine built (its best level) and make it
    resident; its code length is checked on the key's first lookup (`verify_length`)."""
    store = inner.config.store
    if store is None:
        return
    try:
        keys = store.keys()
    except Exception as exc:  # noqa: BLE001 - a broken store must not break the VM
        log.warning("pyevm-jit: cannot read artifact store %r: %s", store, exc)
        return
    ours = identity_fingerprint(engine_identity(inner))
    best: dict[RuntimeCacheKey, ArtifactKey] = {}
    foreign = 0
    for key in keys:
        if key.identity != ours:
            foreign += 1
        elif key.runtime_key not in best or key.rank > best[key.runtime_key].rank:
            best[key.runtime_key] = key
    if foreign:
        log.log(
            logging.INFO if getattr(store, "max_bytes", None) is not None else logging.WARNING,
            "pyevm-jit: %d artifacts in %r were built by another engine (another version of "
            "pyevm-jit or of its code generator, py-evm, LLVM or CPU): skipped",
            foreign,
            store,
        )
    loaded = 0
    for runtime_key, key in best.items():
        if runtime_key in inner.resident:
            continue
        try:
            artifact = store.load(key)
        except Exception as exc:  # noqa: BLE001
            log.warning("pyevm-jit: artifact store read failed: %s", exc)
            continue
        if artifact is None:
            continue
        program = adopt(inner, artifact, runtime_key, None, count=True, resident=False)
        if program is not None:
            with inner.lock:
                if runtime_key not in inner.resident:
                    insert(inner, program)
                    entry = inner.resident.get(runtime_key)
                    if entry is not None:
                        entry.expect_length(artifact.manifest.bytecode_len)
            loaded += 1
    log.info("pyevm-jit: preloaded %d artifacts from %r", loaded, store)


def verify_length(inner: BackendState, entry: ResidentEntry, code: bytes) -> bool:
    """The first lookup of a preloaded program: True when it was built for code of this
    length (it is kept), else it is rejected and leaves the resident map."""
    expected = entry.expect_len
    if expected == len(code):
        entry.length_verified()
        return True
    key = entry.program.key
    with inner.lock:
        if inner.resident.get(key) is entry:
            del inner.resident[key]
            inner.resident_bytes -= entry.size
        inner.probed.add(key)  # the store's artifact is the one just rejected
    reject_key(inner, key, f"artifact for {expected} bytes of code, the code has {len(code)}")
    return False


def first_lookup(inner: BackendState, req: LookupRequest) -> CompiledProgram | None:
    """The first lookup of a key that is not resident (caller: `req.key not in inner.probed`):
    its artifact in the store (checked, linked, made resident). None when there is none, or
    when a compilation of the key is running (that looks in the store first itself)."""
    key = req.key
    with inner.lock:
        probed = inner.probed
        if len(probed) >= MAX_PROBED_KEYS:
            probed.clear()
        probed.add(key)
        busy = key in inner.inflight or key in inner.failed
    if busy:
        return None
    return from_store(inner, key, req.code)


def reject(inner: BackendState, artifact: StoredArtifact, reason: str) -> None:
    with inner.lock:
        inner.artifacts_rejected += 1
    m = artifact.manifest
    log.warning("pyevm-jit: artifact %s/%s rejected: %s", m.fork, m.code_hash, reason)


def reject_key(inner: BackendState, key: RuntimeCacheKey, reason: str) -> None:
    with inner.lock:
        inner.artifacts_rejected += 1
    log.warning("pyevm-jit: artifact %s rejected: %s", describe_key(key), reason)


def adopt(
    inner: BackendState,
    artifact: StoredArtifact,
    key: RuntimeCacheKey,
    code: bytes | None,
    *,
    count: bool,
    resident: bool = True,
) -> CompiledProgram | None:
    """Check and link a stored artifact for `key` (and for `code`, when known); make it
    resident unless `resident` is false. None when rejected."""
    problem = artifact.compatibility_problem(engine_identity(inner))
    if problem is None:
        problem = artifact.integrity_problem()  # verified again right before linking
    if problem is None:
        problem = artifact.binding_problem(key, None if code is None else len(code))
    if problem is not None:
        reject(inner, artifact, problem)
        return None
    region = artifact.manifest.covered  # (checked when the manifest was read)
    try:
        native = inner.linker(artifact.to_object_code())  # the entry symbol of `key`
    except Exception as exc:  # noqa: BLE001
        reject(inner, artifact, f"link failed: {exc}")
        return None
    if region is not None:
        # `code` is unknown only for a preloaded program; its first lookup checks the length
        native.side_exit = regions.SideExitAccount(inner, key, code, region)
    program = CompiledProgram(
        key,
        ProgramKind.AOT,
        native,
        code_size(native, artifact.object_bytes),
        opt_level=artifact.manifest.opt_level,
        region=region,
    )
    with inner.lock:
        if resident:
            insert(inner, program)
        if count:
            inner.aot_loaded += 1
            usage_of(inner, key).cache_loads += 1
    return program


def store_levels(inner: BackendState) -> list[int]:
    """The optimisation levels looked for in the store, best first."""
    t = inner.tuning
    levels = {t.aot_opt_level, t.jit_opt_level}
    if t.tier_up_after > 0:
        levels.add(t.tier_up_opt_level)
    return sorted(levels, reverse=True)


def _stored_regions(inner: BackendState, key: RuntimeCacheKey) -> list[ArtifactKey]:
    """The region programs of `key` the store holds for this engine, best first."""
    find = getattr(inner.config.store, "variants", None)
    if find is None:
        return []
    ours = identity_fingerprint(engine_identity(inner))
    found = [k for k in find(key.code_hash, key.fork, ours) if k.region]
    return sorted(found, key=lambda k: k.rank, reverse=True)


def from_store(inner: BackendState, key: RuntimeCacheKey, code: bytes) -> CompiledProgram | None:
    """The key's best stored program, checked and made resident: the whole contract at the best
    level stored, else its largest stored region; None when the store has none usable."""
    store = inner.config.store
    if store is None:
        return None
    identity = engine_identity(inner)
    try:
        wanted = [ArtifactKey.for_identity(key, opt, identity) for opt in store_levels(inner)]
        for index, artifact_key in enumerate(wanted):
            artifact = store.load(artifact_key)
            if artifact is None and index == len(wanted) - 1:
                wanted.extend(_stored_regions(inner, key))  # no whole contract: a region?
            if artifact is not None:
                program = adopt(inner, artifact, key, code, count=True)
                if program is not None:
                    return program
    except Exception as exc:  # noqa: BLE001
        log.warning("pyevm-jit: artifact store read failed: %s", exc)
    return None


def persist(
    inner: BackendState,
    key: RuntimeCacheKey,
    obj: ObjectCode,
    code_len: int,
    region: frozenset[int] | None = None,
    replaces: tuple[int, frozenset[int]] | None = None,
) -> None:
    """Store the object code of a program compiled here (`region`: the blocks it compiles,
    None for the whole contract; `replaces`: (level, region) of the region program it
    replaces, whose artifact is deleted once this one is stored). Best effort: a failure is
    counted and logged, the first as a warning."""
    store = inner.config.store
    if store is None:
        return
    identity = engine_identity(inner)
    try:
        artifact = StoredArtifact.create(key, obj, code_len, identity, region)
        written = store.store(artifact) is not False  # (None: a store of the older protocol)
        if written and replaces is not None:
            store.delete(ArtifactKey.for_identity(key, replaces[0], identity, replaces[1]))
    except Exception as exc:  # noqa: BLE001 - persisting is best effort
        with inner.lock:
            inner.store_failures += 1
            first = inner.store_failures == 1
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "pyevm-jit: cannot store artifact for %s in %r: %s",
            describe_key(key),
            store,
            exc,
        )
        return
    if written:
        with inner.lock:
            inner.artifacts_stored += 1
