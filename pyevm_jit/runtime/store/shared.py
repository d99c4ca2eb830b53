"""A shared artifact store behind the local cache (`PYEVM_JIT_SHARED_STORE=URL`).

`SharedArtifactStore` keeps signed artifacts (`store.signing`) at any URL fsspec understands
(`file:///nfs/dir`, `s3://bucket/prefix`, `gs://...`, read-only `https://...`), laid out like a
local store: `{url}/{fork}/{code_hash}.O{opt}.{identity}.pjit`. The name is the artifact's full
key (code hash, fork, level and the engine identity: package, compiler sources -- which include
the fork, opcode and gas tables --, py-evm, LLVM, CPU), so an artifact is written once under its
key and never replaced: publishing a key that is there does nothing. What is published is
normalised (creation time 0) and Ed25519 signatures are deterministic, so two machines of one
engine and one signing key racing on a key write the same bytes; on a local or NFS folder the
first write wins atomically (a hard link of a complete temporary file), on an object store each
PUT is atomic and whole.

`TieredArtifactStore` is what a `RuntimeConfig` with a shared store uses: the local persistent
cache in front (an `ArtifactStore` like any other: listing, preloading, pruning are the local
cache's), the shared store behind it: a local miss asks the shared store (and copies what it
gets into the local cache), a program compiled here is stored locally and published.

Fail safe: what the shared store returns is linked only when a trusted key signed it, the
artifact agrees with itself (digest) and with the key it was asked for (engine identity
included); anything else is refused with one log line and the key is compiled locally. A store
that cannot be reached (or fsspec missing) gives one warning; the run goes on with the local
cache alone. A consumer without a signing key is read-only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from pyevm_jit.files import make_private_dirs, write_once
from pyevm_jit.runtime.store.format import (
    MAX_ARTIFACT_BYTES,
    MAX_MANIFEST_BYTES,
    ArtifactKey,
    StoredArtifact,
    artifact_digest,
)
from pyevm_jit.runtime.store.signing import (
    Signer,
    SigningKeyError,
    TrustedKeys,
    TrustError,
    signer_from_env,
    trusted_from_env,
)

if TYPE_CHECKING:
    from pyevm_jit.runtime.store.filestore import ArtifactStore

log = logging.getLogger(__name__)

SHARED_STORE_ENV = "PYEVM_JIT_SHARED_STORE"
#: keys remembered as absent from (or refused by) the shared store, at most
MAX_REMEMBERED = 1 << 16
_MAX_ENVELOPE = MAX_ARTIFACT_BYTES + MAX_MANIFEST_BYTES + 8192


def normalised(artifact: StoredArtifact) -> StoredArtifact:
    """The artifact as it is published: creation time 0 (so that it is a function of its key
    and object), the digest computed again."""
    m = dataclasses.replace(artifact.manifest, created=0.0)
    digest = artifact_digest(m.signed_fields(), artifact.object_bytes)
    return StoredArtifact(dataclasses.replace(m, digest=digest), artifact.object_bytes)


class SharedArtifactStore:
    """Signed artifacts at an fsspec URL (see the module doc). Thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        signer: Signer | None = None,
        trusted: TrustedKeys | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.signer = signer
        self.trusted = trusted if trusted is not None else TrustedKeys({})
        self.storage_options = storage_options or {}
        self.loaded = 0
        self.published = 0
        self.refused = 0
        self.unreachable_reason: str | None = None
        self._fs: Any = None
        self._root = ""
        self._local = False
        self._absent: set[ArtifactKey] = set()
        self._refused: set[ArtifactKey] = set()
        self._lock = threading.Lock()
        self._read_only_warned = False

    def __repr__(self) -> str:
        return f"SharedArtifactStore({self.url!r})"

    # --- the file system ---------------------------------------------------------------------

    def _filesystem(self) -> Any:
        """The fsspec file system (None once the store is found unusable)."""
        if self.unreachable_reason is not None:
            return None
        if self._fs is None:
            try:
                from fsspec.core import url_to_fs
                from fsspec.implementations.local import LocalFileSystem

                fs, root = url_to_fs(self.url, **self.storage_options)
            except ImportError:
                self._unreachable("fsspec is not installed (pip install 'pyevm-jit[cluster]')")
                return None
            except Exception as exc:  # noqa: BLE001 - a bad URL must not break the VM
                self._unreachable(f"{type(exc).__name__}: {exc}")
                return None
            self._fs, self._root = fs, str(root).rstrip("/")
            self._local = isinstance(fs, LocalFileSystem)
        return self._fs

    def _unreachable(self, reason: str) -> None:
        with self._lock:
            if self.unreachable_reason is not None:
                return
            self.unreachable_reason = reason
        log.warning(
            "pyevm-jit: shared artifact store %s unusable (%s); running with the local cache only",
            self.url,
            reason,
        )

    def _path(self, key: ArtifactKey) -> str:
        return f"{self._root}/{key.fork}/{key.file_name}"

    def _refuse(self, key: ArtifactKey, reason: str) -> None:
        with self._lock:
            self.refused += 1
            if len(self._refused) >= MAX_REMEMBERED:
                self._refused.clear()
            self._refused.add(key)
        log.warning(
            "pyevm-jit: shared artifact %s/%s refused: %s; compiling it locally",
            key.fork,
            key.stem,
            reason,
        )

    # --- reading -----------------------------------------------------------------------------

    def load(self, key: ArtifactKey) -> StoredArtifact | None:
        """The verified artifact of `key`, or None (absent, refused, store unusable)."""
        with self._lock:
            if key in self._absent or key in self._refused:
                return None
        if not self.trusted.keys:
            return None  # nothing could be linked: do not even ask
        fs = self._filesystem()
        if fs is None:
            return None
        try:
            data = bytes(fs.cat_file(self._path(key), start=0, end=_MAX_ENVELOPE + 1))
        except FileNotFoundError:
            with self._lock:
                if len(self._absent) >= MAX_REMEMBERED:
                    self._absent.clear()
                self._absent.add(key)
            return None
        except Exception as exc:  # noqa: BLE001 - network, permissions, anything
            self._unreachable(f"{type(exc).__name__}: {exc}")
            return None
        if len(data) > _MAX_ENVELOPE:
            self._refuse(key, "of insane size")
            return None
        try:
            artifact = StoredArtifact.read(self.trusted.unwrap(data), key)
        except (TrustError, ValueError) as exc:
            self._refuse(key, str(exc))
            return None
        with self._lock:
            self.loaded += 1
        return artifact

    # --- publishing --------------------------------------------------------------------------

    def publish(self, artifact: StoredArtifact) -> bool:
        """Sign and write an artifact unless its key is there (write once). False when nothing
        was written (no signing key, present, store unusable)."""
        if self.signer is None:
            return False
        fs = self._filesystem()
        if fs is None:
            return False
        key = artifact.key
        data = self.signer.wrap(normalised(artifact).to_bytes())
        path = self._path(key)
        try:
            if fs.exists(path):
                return False
            written = self._write_local(path, data) if self._local else self._put(fs, path, data)
        except Exception as exc:  # noqa: BLE001
            with self._lock:
                warned, self._read_only_warned = self._read_only_warned, True
            if not warned:
                log.warning(
                    "pyevm-jit: cannot publish to shared artifact store %s (%s: %s); "
                    "using it read-only",
                    self.url,
                    type(exc).__name__,
                    exc,
                )
            self.signer = None
            return False
        if written:
            with self._lock:
                self.published += 1
                self._absent.discard(key)
        return written

    @staticmethod
    def _put(fs: Any, path: str, data: bytes) -> bool:
        with contextlib.suppress(Exception):
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)  # object stores have no folders
        fs.pipe_file(path, data)
        return True

    @staticmethod
    def _write_local(path: str, data: bytes) -> bool:
        """The first publisher wins, a reader never sees a part (files.write_once)."""
        make_private_dirs(os.path.dirname(path), 0o755)
        return write_once(path, data, 0o644)


class TieredArtifactStore:
    """The local cache (`local`, may be None) in front of a shared store (see the module doc);
    an `ArtifactStore`."""

    def __init__(self, local: ArtifactStore | None, shared: SharedArtifactStore) -> None:
        self.local = local
        self.shared = shared

    def __repr__(self) -> str:
        return f"TieredArtifactStore({self.local!r}, {self.shared!r})"

    @property
    def rejected(self) -> int:
        return (self.local.rejected if self.local is not None else 0) + self.shared.refused

    @property
    def max_bytes(self) -> int | None:
        # a cache: loaded lazily, key by key (never preloaded from the shared store)
        return getattr(self.local, "max_bytes", None) or (1 << 62)

    @property
    def writable(self) -> bool:
        return bool(getattr(self.local, "writable", True)) or self.shared.signer is not None

    @property
    def shared_loaded(self) -> int:
        return self.shared.loaded

    @property
    def shared_published(self) -> int:
        return self.shared.published

    def check(self, *, write: bool = False) -> None:
        if self.local is not None:
            self.local.check(write=write)

    def keys(self) -> list[ArtifactKey]:
        return self.local.keys() if self.local is not None else []

    def load_all(self) -> list[StoredArtifact]:
        return self.local.load_all() if self.local is not None else []

    def variants(self, code_hash: bytes, fork: str, identity: str) -> list[ArtifactKey]:
        """The local cache's artifacts of one code (`FileArtifactStore.variants`): region
        programs live there only (below)."""
        find = getattr(self.local, "variants", None)
        return find(code_hash, fork, identity) if find is not None else []

    def load(self, key: ArtifactKey) -> StoredArtifact | None:
        if self.local is not None:
            found = self.local.load(key)
            if found is not None or key.region:  # (regions are never published: below)
                return found
        artifact = self.shared.load(key)
        if artifact is not None and self.local is not None:
            try:
                self.local.store(artifact)  # the next process finds it here
            except (OSError, ValueError) as exc:
                log.debug("pyevm-jit: cannot keep shared artifact locally: %s", exc)
        return artifact

    def store(self, artifact: StoredArtifact) -> bool:
        written = False
        error: OSError | None = None
        if self.local is not None:
            try:
                written = self.local.store(artifact)
            except OSError as exc:
                error = exc
        # a region program (docs/regions.md) stays in the local cache: it is what this
        # machine's runs happened to execute, found by listing the cache (`variants`), which a
        # shared store is not asked for (an https one cannot be listed); whole contracts are
        # published, found by their exact key
        published = not artifact.key.region and self.shared.publish(artifact)
        if error is not None and not published:
            raise error
        return written or published

    def delete(self, key: ArtifactKey) -> None:
        if self.local is not None:
            self.local.delete(key)

    def clear(self) -> None:
        """Clears the local cache only (a shared store is never emptied by a consumer)."""
        if self.local is not None:
            self.local.clear()


def shared_store_from(url: str) -> SharedArtifactStore:
    """A shared store at `url` with the keys of the environment (`PYEVM_JIT_SIGNING_KEY`,
    `PYEVM_JIT_TRUSTED_KEYS`); a key file that cannot be used is one warning (nothing is
    signed, or nothing trusted), never an error of the run."""
    signer: Signer | None = None
    trusted: TrustedKeys | None = None
    try:
        signer = signer_from_env()
    except SigningKeyError as exc:
        log.warning("pyevm-jit: signing key unusable (%s): nothing will be published", exc)
    try:
        trusted = trusted_from_env()
    except SigningKeyError as exc:
        log.warning("pyevm-jit: trusted keys unusable (%s): nothing shared will be linked", exc)
    if trusted is None or not trusted.keys:
        with _warned_lock:
            first = url not in _warned_urls
            _warned_urls.add(url)
        if first:
            log.warning(
                "pyevm-jit: no trusted keys (PYEVM_JIT_TRUSTED_KEYS): nothing from the shared "
                "artifact store %s will be linked",
                url,
            )
    return SharedArtifactStore(url, signer=signer, trusted=trusted)


_warned_urls: set[str] = set()
_warned_lock = threading.Lock()
