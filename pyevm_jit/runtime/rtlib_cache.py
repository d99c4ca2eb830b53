"""The runtime library's object code kept in an artifact store, so that a new process does not
build it again before its first native call (about 0.8 s).

Layout: `{store}/rtlib/rtlib.{identity}-{target}.pjit`, where `identity` is the engine
identity's fingerprint (it hashes the runtime library's sources, the LLVM and the CPU: a
library of another engine has another name and is never read) and `target` a hash of the
target triple and data layout. The file is written like an artifact (one atomic step, mode
0600, inside the store's checked folders, no symbolic link followed) and holds a header line,
a manifest (JSON: the engine identity, the triple, the data layout, the object's size and a
Keccak-256 digest of the manifest and the object together) and the object. A file that is
unreadable, of another engine or target, or whose digest does not match is rejected (logged
and counted in the store's `rejected`) and the library is built again (and the file
replaced); a write that fails is ignored. The file counts in the store's size bound like an
artifact, and `clear()` removes it.

A backend without such a store (`RuntimeConfig(store=None)`, a temporary store) keeps the
library in the user's cache all the same (`user_store`: the folder of the default persistent
cache, `PYEVM_JIT_STORE` or `$XDG_CACHE_HOME/pyevm-jit`), so that its process links the
library in milliseconds instead of building it (about 0.3 s of LLVM, serialised with the first
compilation by llvmlite's lock). Only the library goes there, never a program.
`PYEVM_JIT_RTLIB_CACHE=off` (or `PYEVM_JIT_STORE=off`) keeps nothing;
`PYEVM_JIT_RTLIB_CACHE=DIR` chooses another folder. A missing folder that cannot be created or
a read-only one means building in memory, as without a cache.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from pyevm_jit.compiler import rtlib
from pyevm_jit.compiler.target import engine_identity
from pyevm_jit.files import write_file_at
from pyevm_jit.runtime.config import (
    DEFAULT_STORE_MAX_BYTES,
    STORE_OFF,
    ConfigError,
    default_store,
)
from pyevm_jit.runtime.store import (
    MAX_ARTIFACT_BYTES,
    MAX_MANIFEST_BYTES,
    SUFFIX,
    FileArtifactStore,
    RuntimeArtifactStore,
    identity_fingerprint,
)
from pyevm_jit.runtime.store.format import fields_digest, frame, unframe

log = logging.getLogger(__name__)

#: where a backend without a store keeps the runtime library: a folder, or off (`user_store`)
ENV_CACHE = "PYEVM_JIT_RTLIB_CACHE"

#: the folder of the store that holds runtime libraries (not a fork: no artifact name fits it)
FOLDER = "rtlib"
MAGIC = b"pyevm-jit rtlib 1\n"
_DOMAIN = b"pyevm-jit rtlib digest 1\0"


def _digest(manifest: dict[str, Any], data: bytes) -> str:
    return fields_digest(_DOMAIN, manifest, data)


def _manifest(key: tuple[str, str], data: bytes) -> dict[str, Any]:
    return {
        **engine_identity().as_dict(),
        "target_triple": key[0],
        "data_layout": key[1],
        "object_len": len(data),
    }


def file_name(key: tuple[str, str]) -> str:
    target = keccak(f"{key[0]}\0{key[1]}".encode()).hex()[:16]
    return f"rtlib.{identity_fingerprint(engine_identity())}-{target}{SUFFIX}"


def encode(key: tuple[str, str], data: bytes) -> bytes:
    """The file for the runtime library `data` built for `key`."""
    manifest = _manifest(key, data)
    manifest["digest"] = _digest(manifest, data)
    return frame(MAGIC, json.dumps(manifest, sort_keys=True).encode(), data)


def decode(key: tuple[str, str], blob: bytes) -> tuple[bytes | None, str | None]:
    """(object, None) when `blob` is the runtime library of this engine for `key`, else
    (None, why not)."""
    try:
        head, data = unframe(blob, MAGIC, MAX_MANIFEST_BYTES, "runtime-library file")
    except ValueError as exc:
        return None, str(exc)
    try:
        manifest = json.loads(head.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"unreadable manifest: {exc}"
    if not isinstance(manifest, dict):
        return None, "manifest is not a JSON object"
    digest = manifest.pop("digest", None)
    expected = _manifest(key, data)
    for name, value in expected.items():
        if manifest.get(name) != value:
            return None, f"built for {name}={manifest.get(name)!r}, {value!r} wanted"
    if set(manifest) != set(expected):
        return None, "manifest has unknown or missing fields"
    if digest != _digest(manifest, data):
        return None, "Keccak-256 digest mismatch (manifest or object modified)"
    return data, None


class StoreRtlibCache:
    """`rtlib.ObjectCache` in a `FileArtifactStore` (see the module's description)."""

    def __init__(self, store: FileArtifactStore) -> None:
        self.store = store

    def load(self, key: tuple[str, str]) -> bytes | None:
        store = self.store
        name = file_name(key)
        label = f"{FOLDER}/{name.removesuffix(SUFFIX)}"
        try:
            blob = store._read_file(FOLDER, name, MAX_ARTIFACT_BYTES, "runtime-library file")
        except OSError as exc:
            store._reject(label, f"unreadable: {exc.strerror or exc}")
            return None
        if blob is None:
            return None
        data, problem = decode(key, blob)
        if problem is not None:
            store._reject(label, problem)
        return data

    def save(self, key: tuple[str, str], data: bytes) -> None:
        store = self.store
        try:
            if not store._ensure_directory() or store.read_only_reason is not None:
                return
            blob = encode(key, data)
            with store._folder(FOLDER, create=True) as folder:
                if folder is None:
                    return
                write_file_at(folder, file_name(key), blob)
        except OSError:
            return  # best effort: the next process builds it again
        store._pruner.after_write(len(blob))


_lock = threading.Lock()


def _cacheable(store: object) -> FileArtifactStore | None:
    store = getattr(store, "local", store)  # a tiered store's local cache
    if not isinstance(store, FileArtifactStore) or isinstance(store, RuntimeArtifactStore):
        return None  # a temporary store dies with the process
    return store


def register(store: object) -> bool:
    """Let `compile_rtlib_object` keep the runtime library in `store` (a `FileArtifactStore`;
    a tiered store's local cache; anything else is ignored: False). Idempotent per store
    folder."""
    found = _cacheable(store)
    if found is None:
        return False
    with _lock:
        for cache in rtlib.object_caches:
            if isinstance(cache, StoreRtlibCache) and cache.store.directory == found.directory:
                return True
        rtlib.object_caches.append(StoreRtlibCache(found))
    return True


def user_store(environ: Mapping[str, str] | None = None) -> FileArtifactStore | None:
    """The store whose `rtlib` folder keeps the runtime library for a backend without one:
    `PYEVM_JIT_RTLIB_CACHE` when set (a folder; `off` keeps nothing), else the default
    persistent cache's folder (None when `PYEVM_JIT_STORE=off`). Touches nothing on disk."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_CACHE)
    if text is None:
        return _cacheable(default_store(env))
    if text.strip().lower() in STORE_OFF:
        return None
    return FileArtifactStore(Path(text).expanduser(), max_bytes=DEFAULT_STORE_MAX_BYTES)


def register_for(store: object) -> None:
    """Keep the runtime library in a backend's `store`, or in the user's cache (`user_store`)
    when the backend has no store that can keep it."""
    if not register(store):
        try:
            user = user_store()
        except ConfigError as exc:  # a malformed PYEVM_JIT_STORE_MAX_BYTES: build in memory
            log.debug("pyevm-jit: no runtime-library cache: %s", exc)
            return
        register(user)
