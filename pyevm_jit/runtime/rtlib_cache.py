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
"""

from __future__ import annotations

import json
import threading
from typing import Any

from eth_hash.auto import keccak

from pyevm_jit.compiler import rtlib
from pyevm_jit.compiler.target import engine_identity
from pyevm_jit.files import write_file_at
from pyevm_jit.runtime.store import (
    MAX_ARTIFACT_BYTES,
    MAX_MANIFEST_BYTES,
    SUFFIX,
    FileArtifactStore,
    RuntimeArtifactStore,
    identity_fingerprint,
)
from pyevm_jit.runtime.store.format import fields_digest, frame, unframe

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


def register(store: object) -> None:
    """Let `compile_rtlib_object` keep the runtime library in `store` (a `FileArtifactStore`;
    anything else is ignored; a tiered store's local cache). Idempotent per store folder."""
    store = getattr(store, "local", store)
    if not isinstance(store, FileArtifactStore) or isinstance(store, RuntimeArtifactStore):
        return  # a temporary store dies with the process
    with _lock:
        for cache in rtlib.object_caches:
            if isinstance(cache, StoreRtlibCache) and cache.store.directory == store.directory:
                return
        rtlib.object_caches.append(StoreRtlibCache(store))
