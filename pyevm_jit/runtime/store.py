"""AOT artifact stores: relocatable object code persisted with a manifest.

Layout of a `FileArtifactStore(directory)`::

    {directory}/{fork}/{code_hash}.O{opt}.{identity}.o      object code
    {directory}/{fork}/{code_hash}.O{opt}.{identity}.json   manifest (written last: the commit)

`identity` is a short fingerprint of the engine identity (ABI version, LLVM version, target
triple, CPU, features), so stores can be shared by machines without one overwriting another.
The manifest repeats the full identity, the key, the entry symbol, the sizes, the creation time
and the Keccak-256 digest of the object bytes. Everything is checked before an artifact is
handed out, and once more (the digest) by the backend right before linking. A bad artifact is
rejected with a logged reason and counted (`store.rejected`), never returned.

Writes are atomic: a temporary file in the same directory, fsync, `os.replace`.

A store directory that cannot be written, or that other users can write to (someone could
plant code there), is refused as a whole: the reason is logged once, `usable_reason` says why,
every load returns nothing and every store is a no-op (`check()` raises `StoreError` instead,
for command-line tools that prefer to stop).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, get_type_hints, runtime_checkable

from eth_hash.auto import keccak

from pyevm_jit.compiler.target import EngineIdentity
from pyevm_jit.runtime.types import RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
#: refuse to read anything bigger than this as an artifact
MAX_ARTIFACT_BYTES = 64 << 20
MAX_MANIFEST_BYTES = 64 << 10


class StoreError(Exception):
    """The store as a whole cannot be used (directory missing, not writable, unsafe)."""


def identity_fingerprint(identity: EngineIdentity) -> str:
    """A short, stable name for an engine identity (used in file names)."""
    text = json.dumps(identity.as_dict(), sort_keys=True)
    return keccak(text.encode()).hex()[:16]


@dataclass(frozen=True)
class ArtifactKey:
    """The full identity of an artifact: runtime key, optimisation level, engine identity."""

    code_hash: bytes
    fork: str
    opt_level: int
    identity: str  # identity_fingerprint(...)

    @property
    def runtime_key(self) -> RuntimeCacheKey:
        return RuntimeCacheKey(self.code_hash, self.fork)

    @property
    def stem(self) -> str:
        return f"{self.code_hash.hex()}.O{self.opt_level}.{self.identity}"

    @classmethod
    def for_identity(
        cls, key: RuntimeCacheKey, opt_level: int, identity: EngineIdentity
    ) -> ArtifactKey:
        return cls(key.code_hash, key.fork, opt_level, identity_fingerprint(identity))


@dataclass(frozen=True)
class ArtifactManifest(EngineIdentity):
    """What the JSON file beside an object says: the engine identity the code was built by (the
    fields of `EngineIdentity`), the key, the entry symbol, sizes, creation time, digest."""

    format: int
    code_hash: str  # hex
    fork: str
    opt_level: int
    entry_symbol: str
    bytecode_len: int
    artifact_len: int
    created: float
    digest: str  # hex Keccak-256 of the object bytes

    @property
    def identity(self) -> EngineIdentity:
        return EngineIdentity(**EngineIdentity.as_dict(self))

    @property
    def key(self) -> ArtifactKey:
        return ArtifactKey(
            bytes.fromhex(self.code_hash),
            self.fork,
            self.opt_level,
            identity_fingerprint(self.identity),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ArtifactManifest:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("manifest is not a JSON object")
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        types: dict[str, type] = get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, kind in types.items():
            if name not in data:
                raise ValueError(f"manifest lacks {name!r}")
            value = data[name]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"manifest field {name!r} has the wrong type")
            values[name] = value
        manifest = cls(**values)
        try:
            if len(bytes.fromhex(manifest.code_hash)) != 32:
                raise ValueError
            if len(bytes.fromhex(manifest.digest)) != 32:
                raise ValueError
        except ValueError:
            raise ValueError("manifest code hash or digest is not 32 bytes of hex") from None
        return manifest


@dataclass(frozen=True)
class StoredArtifact:
    manifest: ArtifactManifest
    object_bytes: bytes

    @property
    def key(self) -> ArtifactKey:
        return self.manifest.key

    @classmethod
    def create(
        cls,
        key: RuntimeCacheKey,
        obj: ObjectCode,
        bytecode_len: int,
        identity: EngineIdentity,
    ) -> StoredArtifact:
        manifest = ArtifactManifest(
            **identity.as_dict(),
            format=MANIFEST_FORMAT,
            code_hash=key.code_hash.hex(),
            fork=key.fork,
            opt_level=obj.opt_level,
            entry_symbol=obj.entry_symbol,
            bytecode_len=bytecode_len,
            artifact_len=len(obj.object_bytes),
            created=time.time(),
            digest=keccak(obj.object_bytes).hex(),
        )
        return cls(manifest, bytes(obj.object_bytes))

    def integrity_problem(self) -> str | None:
        """Why the object bytes do not match the manifest, or None."""
        if len(self.object_bytes) != self.manifest.artifact_len:
            return (
                f"object is {len(self.object_bytes)} bytes, manifest says "
                f"{self.manifest.artifact_len} (truncated or replaced)"
            )
        if keccak(self.object_bytes).hex() != self.manifest.digest:
            return "Keccak-256 digest mismatch (object modified)"
        return None

    def compatibility_problem(
        self, identity: EngineIdentity, opt_level: int | None = None
    ) -> str | None:
        """Why this artifact cannot run in this process (foreign engine), or None."""
        ours = identity.as_dict()
        for name, theirs in self.manifest.identity.as_dict().items():
            if theirs != ours[name]:
                return f"built for {name}={theirs!r}, this process has {ours[name]!r}"
        if opt_level is not None and self.manifest.opt_level != opt_level:
            return f"built at -O{self.manifest.opt_level}, -O{opt_level} wanted"
        return None

    def to_object_code(self) -> ObjectCode:
        from pyevm_jit.compiler.compile import ObjectCode

        return ObjectCode(
            object_bytes=self.object_bytes,
            entry_symbol=self.manifest.entry_symbol,
            fork=self.manifest.fork,
            opt_level=self.manifest.opt_level,
        )


@runtime_checkable
class ArtifactStore(Protocol):
    """Where AOT artifacts live. Every method is thread-safe.

    `load_all` and `load` only ever return artifacts whose manifest and object agree (digest,
    sizes, key); anything else is rejected, logged and counted in `rejected`. `keys` is a cheap
    listing (nothing verified): a backend created with `preload=False` uses it to load an
    artifact on the first miss of its key. `check` raises `StoreError` when the store as a
    whole cannot be used; the backend then runs without it.
    """

    rejected: int

    def check(self) -> None: ...

    def keys(self) -> list[ArtifactKey]: ...

    def load_all(self) -> list[StoredArtifact]: ...

    def load(self, key: ArtifactKey) -> StoredArtifact | None: ...

    def store(self, artifact: StoredArtifact) -> None: ...

    def delete(self, key: ArtifactKey) -> None: ...

    def clear(self) -> None: ...


def directory_problem(path: Path) -> str | None:
    """Why `path` cannot hold a store (missing, not a directory, unsafe, not writable)."""
    try:
        st = path.stat()
    except OSError as exc:
        return f"cannot access {path}: {exc.strerror or exc}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_mode & stat.S_IWOTH:
        return f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    if hasattr(os, "getuid") and st.st_uid not in (os.getuid(), 0):
        return f"{path} is owned by another user (uid {st.st_uid})"
    if st.st_mode & stat.S_IWGRP and hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{path} is group-writable and owned by another user"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is not writable"
    return None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class FileArtifactStore:
    """A persistent store in a directory (created with mode 0700 when missing)."""

    def __init__(self, directory: str | os.PathLike[str], *, create: bool = True) -> None:
        self.directory = Path(directory)
        self.rejected = 0
        self.rejections: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        if create and not self.directory.exists():
            try:
                self.directory.mkdir(mode=0o700, parents=True)
            except OSError as exc:
                log.debug("cannot create %s: %s", self.directory, exc)
        self.unusable_reason = directory_problem(self.directory)
        if self.unusable_reason is not None:
            self._reject(str(self.directory), "store refused: " + self.unusable_reason)

    def __repr__(self) -> str:
        return f"FileArtifactStore({str(self.directory)!r})"

    def check(self) -> None:
        """Raise StoreError when the directory is unusable."""
        if self.unusable_reason is not None:
            raise StoreError(f"artifact store refused: {self.unusable_reason}")

    def _reject(self, name: str, reason: str) -> None:
        with self._lock:
            self.rejected += 1
            if len(self.rejections) < 1000:
                self.rejections.append((name, reason))
        log.warning("pyevm-jit: artifact %s rejected: %s", name, reason)

    def _paths(self, key: ArtifactKey) -> tuple[Path, Path]:
        base = self.directory / key.fork / key.stem
        return base.with_name(base.name + ".o"), base.with_name(base.name + ".json")

    def _read(self, manifest_path: Path, expected: ArtifactKey | None) -> StoredArtifact | None:
        name = str(manifest_path.relative_to(self.directory).with_suffix(""))
        try:
            st = manifest_path.stat()
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MANIFEST_BYTES:
                self._reject(name, "manifest is not a regular file of sane size")
                return None
            manifest = ArtifactManifest.from_json(manifest_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            self._reject(name, f"unreadable manifest: {exc}")
            return None
        key = manifest.key
        if expected is not None and key != expected:
            self._reject(name, "manifest names another key than its file")
            return None
        if manifest_path.parent.name != manifest.fork or manifest_path.name != key.stem + ".json":
            self._reject(
                name,
                "manifest names another code hash, fork or engine identity than its file name",
            )
            return None
        object_path = manifest_path.with_name(key.stem + ".o")
        try:
            st = object_path.stat()
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ARTIFACT_BYTES:
                self._reject(name, "object is not a regular file of sane size")
                return None
            data = object_path.read_bytes()
        except FileNotFoundError:
            self._reject(name, "object file is missing")
            return None
        except OSError as exc:
            self._reject(name, f"unreadable object: {exc}")
            return None
        artifact = StoredArtifact(manifest, data)
        problem = artifact.integrity_problem()
        if problem is not None:
            self._reject(name, problem)
            return None
        return artifact

    def _manifests(self) -> Iterator[Path]:
        try:
            forks = sorted(p for p in self.directory.iterdir() if p.is_dir())
        except OSError:
            return
        for fork_dir in forks:
            try:
                yield from sorted(fork_dir.glob("*.json"))
            except OSError:
                continue

    def keys(self) -> list[ArtifactKey]:
        """The keys of the artifacts present, from file names only (nothing is read or
        verified: `load` does that)."""
        if self.unusable_reason is not None:
            return []
        out = []
        for path in self._manifests():
            parts = path.name[: -len(".json")].split(".")
            if len(parts) != 3 or not parts[1].startswith("O"):
                continue
            try:
                code_hash = bytes.fromhex(parts[0])
                opt = int(parts[1][1:])
            except ValueError:
                continue
            if len(code_hash) == 32:
                out.append(ArtifactKey(code_hash, path.parent.name, opt, parts[2]))
        return out

    def load_all(self) -> list[StoredArtifact]:
        if self.unusable_reason is not None:
            return []
        out = []
        for path in self._manifests():
            if path.name.startswith("."):
                continue
            artifact = self._read(path, None)
            if artifact is not None:
                out.append(artifact)
        return out

    def load(self, key: ArtifactKey) -> StoredArtifact | None:
        if self.unusable_reason is not None:
            return None
        return self._read(self._paths(key)[1], key)

    def store(self, artifact: StoredArtifact) -> None:
        if self.unusable_reason is not None:
            return
        problem = artifact.integrity_problem()
        if problem is not None:
            raise ValueError(f"refusing to store an inconsistent artifact: {problem}")
        object_path, manifest_path = self._paths(artifact.key)
        object_path.parent.mkdir(mode=0o700, exist_ok=True)
        # object first; the manifest is the commit point
        _atomic_write(object_path, artifact.object_bytes)
        _atomic_write(manifest_path, artifact.manifest.to_json().encode())

    def delete(self, key: ArtifactKey) -> None:
        if self.unusable_reason is not None:
            return
        object_path, manifest_path = self._paths(key)
        for path in (manifest_path, object_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def clear(self) -> None:
        if self.unusable_reason is not None:
            return
        for path in list(self._manifests()):
            stem = path.name[: -len(".json")]
            for victim in (path, path.with_name(stem + ".o")):
                try:
                    victim.unlink()
                except FileNotFoundError:
                    pass
        for fork_dir in list(self.directory.iterdir()):
            if fork_dir.is_dir():
                for leftover in fork_dir.glob(".tmp-*"):
                    try:
                        leftover.unlink()
                    except OSError:
                        pass
                try:
                    fork_dir.rmdir()
                except OSError:
                    pass

    def __len__(self) -> int:
        return sum(1 for _ in self._manifests())


class RuntimeArtifactStore(FileArtifactStore):
    """A temporary store: files in a private temporary directory, removed on `close()` or when
    the store is garbage-collected (or at interpreter exit)."""

    def __init__(self) -> None:
        directory = tempfile.mkdtemp(prefix="pyevm-jit-aot-")
        super().__init__(directory, create=False)
        self._finalizer = weakref.finalize(self, shutil.rmtree, directory, True)

    def __repr__(self) -> str:
        return f"RuntimeArtifactStore({str(self.directory)!r})"

    def close(self) -> None:
        self._finalizer()
