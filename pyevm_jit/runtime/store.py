"""Artifact stores: relocatable object code persisted with a manifest that binds it to its key.

Layout of a `FileArtifactStore(directory)`::

    {directory}/{fork}/{code_hash}.O{opt}.{identity}.pjit

One file per artifact, written as one atomic step (a temporary file in the same folder, fsync,
rename): a header line, the manifest (JSON) and the object bytes. `identity` is a short
fingerprint of the engine identity (`compiler.target.EngineIdentity`: package version, a hash
of the code generator's and the runtime library's sources, py-evm version, ABI version, LLVM,
target triple, CPU, features), so one store can serve machines and versions without one
overwriting another, and an artifact of another engine is skipped by its name alone.

The manifest repeats the key (code hash, fork, optimisation level), the full identity, the
entry symbol, the bytecode and object sizes, the creation time and a Keccak-256 digest of the
manifest and the object together. Before an artifact is handed out it must agree with its file
name, its entry symbol must be the one derived from (code hash, fork), and the digest must
match; the backend checks the digest once more right before linking, and the code length
against the code it is about to run. A bad artifact is rejected with a logged reason and counted
(`rejected`), never returned.

What the digest protects against: corruption (a truncated or damaged file, a disk or copy
error) and mix-ups (an artifact copied or renamed under another key, a manifest paired with
another object, code of another compiler). It cannot protect against someone who can write the
store as you: they can compute a valid digest. That is why every folder on the way from the
filesystem root to each file must belong to you (or root) and be writable by nobody else, and
why no symbolic link inside the store is followed.

A store directory that is unsafe (owned by someone else, writable by other users, a symlink
inside it) is refused as a whole: the reason is logged once, `unusable_reason` says why, every
load returns nothing and every store is a no-op (`check()` raises `StoreError` instead, for
command-line tools that prefer to stop). A directory that is safe but not writable (a read-only
mount, a system-wide store) is a read-only store: artifacts load, nothing is written.

A store created with `max_bytes` is a cache: after a write that takes it over that size, the
least recently used artifacts (by modification time, which a load refreshes) are removed until
it is under 90% of it. Many processes may share a store: writes are atomic renames, readers keep
what they opened, pruning is serialised by a lock file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import secrets
import shutil
import stat
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, get_type_hints, runtime_checkable

from eth_hash.auto import keccak

from pyevm_jit.compiler.target import EngineIdentity
from pyevm_jit.runtime.types import RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 2
#: the first bytes of every artifact file
MAGIC = b"pyevm-jit artifact 2\n"
SUFFIX = ".pjit"
#: refuse to read anything bigger than this as an artifact
MAX_ARTIFACT_BYTES = 64 << 20
MAX_MANIFEST_BYTES = 64 << 10
#: a load refreshes an artifact's modification time (its LRU age) at most this often
TOUCH_INTERVAL = 60.0
#: a bounded store counts its folder's size again after this many of its own writes or seconds
#: (in between it adds what it wrote; other processes write too)
RESCAN_WRITES = 16
RESCAN_SECONDS = 30.0
#: leftover temporary files older than this are removed when the store is pruned
STALE_TEMP_SECONDS = 3600.0
_DIGEST_DOMAIN = b"pyevm-jit artifact digest 2\0"
_HEADER = struct.Struct(">I")

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


class StoreError(Exception):
    """The store as a whole cannot be used (directory missing, not writable, unsafe)."""


def identity_fingerprint(identity: EngineIdentity) -> str:
    """A short, stable name for an engine identity (used in file names)."""
    text = json.dumps(identity.as_dict(), sort_keys=True)
    return keccak(text.encode()).hex()[:16]


def expected_entry_symbol(code_hash: bytes, fork: str) -> str:
    """The entry symbol an artifact for (code hash, fork) must export."""
    from pyevm_jit.compiler.compile import entry_symbol

    return entry_symbol(code_hash, fork)


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

    @property
    def file_name(self) -> str:
        return self.stem + SUFFIX

    @classmethod
    def for_identity(
        cls, key: RuntimeCacheKey, opt_level: int, identity: EngineIdentity
    ) -> ArtifactKey:
        return cls(key.code_hash, key.fork, opt_level, identity_fingerprint(identity))

    @classmethod
    def from_file_name(cls, fork: str, name: str) -> ArtifactKey | None:
        """The key a file name stands for, or None for anything else."""
        if not name.endswith(SUFFIX) or name.startswith("."):
            return None
        parts = name[: -len(SUFFIX)].split(".")
        if len(parts) != 3 or not parts[1].startswith("O") or len(parts[2]) != 16:
            return None
        try:
            code_hash = bytes.fromhex(parts[0])
            opt = int(parts[1][1:])
        except ValueError:
            return None
        if len(code_hash) != 32 or opt < 0 or not _safe_name(fork):
            return None
        return cls(code_hash, fork, opt, parts[2])


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


@dataclass(frozen=True)
class ArtifactManifest(EngineIdentity):
    """What an artifact says about its object: the engine identity that built it (the fields of
    `EngineIdentity`), the key, the entry symbol, the sizes, the creation time and the digest of
    this manifest and the object together."""

    format: int
    code_hash: str  # hex
    fork: str
    opt_level: int
    entry_symbol: str
    bytecode_len: int
    artifact_len: int
    created: float
    digest: str  # hex Keccak-256 of this manifest (without the digest) and the object bytes

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

    def signed_fields(self) -> dict[str, Any]:
        """Every field but the digest (what the digest covers, with the object)."""
        fields = dataclasses.asdict(self)
        del fields["digest"]
        return fields

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True) + "\n"

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
        extra = set(data) - set(types)
        if extra:
            raise ValueError(f"manifest has unknown fields {sorted(extra)}")
        manifest = cls(**values)
        try:
            if len(bytes.fromhex(manifest.code_hash)) != 32:
                raise ValueError
            if len(bytes.fromhex(manifest.digest)) != 32:
                raise ValueError
        except ValueError:
            raise ValueError("manifest code hash or digest is not 32 bytes of hex") from None
        if not _safe_name(manifest.fork):
            raise ValueError("manifest fork is not a plain name")
        return manifest


def artifact_digest(signed: dict[str, Any], object_bytes: bytes) -> str:
    """Keccak-256 over the manifest's fields (all but the digest) and the object bytes."""
    text = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    return keccak(_DIGEST_DOMAIN + _HEADER.pack(len(text)) + text + bytes(object_bytes)).hex()


@dataclass(frozen=True)
class StoredArtifact:
    manifest: ArtifactManifest
    object_bytes: bytes

    @property
    def key(self) -> ArtifactKey:
        return self.manifest.key

    @property
    def runtime_key(self) -> RuntimeCacheKey:
        return self.manifest.key.runtime_key

    @classmethod
    def create(
        cls,
        key: RuntimeCacheKey,
        obj: ObjectCode,
        bytecode_len: int,
        identity: EngineIdentity,
    ) -> StoredArtifact:
        entry = expected_entry_symbol(key.code_hash, key.fork)
        if obj.entry_symbol != entry:
            raise ValueError(f"object code exports {obj.entry_symbol}, not {entry} of its key")
        fields: dict[str, Any] = {
            **identity.as_dict(),
            "format": MANIFEST_FORMAT,
            "code_hash": key.code_hash.hex(),
            "fork": key.fork,
            "opt_level": obj.opt_level,
            "entry_symbol": entry,
            "bytecode_len": bytecode_len,
            "artifact_len": len(obj.object_bytes),
            "created": time.time(),
        }
        data = bytes(obj.object_bytes)
        manifest = ArtifactManifest(**fields, digest=artifact_digest(fields, data))
        return cls(manifest, data)

    def integrity_problem(self) -> str | None:
        """Why the object bytes and the manifest do not belong together, or None."""
        m = self.manifest
        if len(self.object_bytes) != m.artifact_len:
            return (
                f"object is {len(self.object_bytes)} bytes, manifest says "
                f"{m.artifact_len} (truncated or replaced)"
            )
        if artifact_digest(m.signed_fields(), self.object_bytes) != m.digest:
            return "Keccak-256 digest mismatch (manifest or object modified)"
        entry = expected_entry_symbol(bytes.fromhex(m.code_hash), m.fork)
        if m.entry_symbol != entry:
            return f"entry symbol {m.entry_symbol!r} is not {entry!r} of its key"
        if m.bytecode_len <= 0:
            return "manifest names no bytecode"
        return None

    def binding_problem(self, key: RuntimeCacheKey, code_len: int | None) -> str | None:
        """Why this artifact is not the program of `key` (and of code `code_len` long)."""
        if self.runtime_key != key:
            m = self.manifest
            return f"artifact of {m.fork}/{m.code_hash[:16]} found under another key"
        if code_len is not None and code_len != self.manifest.bytecode_len:
            return (
                f"artifact for {self.manifest.bytecode_len} bytes of code, the code has {code_len}"
            )
        return None

    def compatibility_problem(
        self, identity: EngineIdentity, opt_level: int | None = None
    ) -> str | None:
        """Why this artifact cannot run in this process (another engine), or None."""
        ours = identity.as_dict()
        for name, theirs in self.manifest.identity.as_dict().items():
            if theirs != ours[name]:
                return f"built for {name}={theirs!r}, this process has {ours[name]!r}"
        if opt_level is not None and self.manifest.opt_level != opt_level:
            return f"built at -O{self.manifest.opt_level}, -O{opt_level} wanted"
        return None

    def to_object_code(self) -> ObjectCode:
        """The object code to link: its entry symbol derived from the key, never taken from the
        manifest's text (an object of another contract does not export it, so it never links)."""
        from pyevm_jit.compiler.compile import ObjectCode

        m = self.manifest
        return ObjectCode(
            object_bytes=self.object_bytes,
            entry_symbol=expected_entry_symbol(bytes.fromhex(m.code_hash), m.fork),
            fork=m.fork,
            opt_level=m.opt_level,
        )

    def to_bytes(self) -> bytes:
        """The artifact file: header, manifest, object."""
        text = self.manifest.to_json().encode()
        return MAGIC + _HEADER.pack(len(text)) + text + self.object_bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> StoredArtifact:
        """Parse an artifact file (ValueError when it is not one)."""
        if not data.startswith(MAGIC):
            raise ValueError("not an artifact file (bad header)")
        start = len(MAGIC) + _HEADER.size
        if len(data) < start:
            raise ValueError("artifact file truncated")
        (size,) = _HEADER.unpack_from(data, len(MAGIC))
        if size > MAX_MANIFEST_BYTES or len(data) < start + size:
            raise ValueError("artifact file truncated or its manifest oversized")
        manifest = ArtifactManifest.from_json(data[start : start + size].decode("utf-8"))
        return cls(manifest, bytes(data[start + size :]))


@runtime_checkable
class ArtifactStore(Protocol):
    """Where artifacts live. Every method is thread-safe.

    `load_all` and `load` only ever return artifacts whose manifest and object agree (digest,
    sizes, key, entry symbol); anything else is rejected, logged and counted in `rejected`.
    `keys` is a cheap listing from names (nothing read or verified). `check` raises
    `StoreError` when the store as a whole cannot be used (with `write`, also when it cannot be
    written); the backend then runs without it. `store` returns False when nothing was written
    (a read-only store) and raises OSError when a write fails.
    """

    rejected: int

    def check(self, *, write: bool = False) -> None: ...

    def keys(self) -> list[ArtifactKey]: ...

    def load_all(self) -> list[StoredArtifact]: ...

    def load(self, key: ArtifactKey) -> StoredArtifact | None: ...

    def store(self, artifact: StoredArtifact) -> bool: ...

    def delete(self, key: ArtifactKey) -> None: ...

    def clear(self) -> None: ...


# --- permissions --------------------------------------------------------------------------------


def _our_uid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def _owner_problem(st: os.stat_result, what: str) -> str | None:
    uid = _our_uid()
    if uid is not None and st.st_uid not in (uid, 0):
        return f"{what} is owned by another user (uid {st.st_uid})"
    return None


def _mode_problem(st: os.stat_result, what: str, *, sticky_ok: bool = False) -> str | None:
    mode = st.st_mode
    if not mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    if sticky_ok and mode & stat.S_ISVTX and stat.S_ISDIR(mode):
        return None  # like /tmp: others cannot rename or remove what is ours
    who = "other users" if mode & stat.S_IWOTH else "its group"
    return f"{what} is writable by {who} (mode {stat.S_IMODE(mode):o})"


def entry_problem(st: os.stat_result, what: str, *, directory: bool) -> str | None:
    """Why a folder or file inside a store cannot be trusted, or None."""
    if stat.S_ISLNK(st.st_mode):
        return f"{what} is a symbolic link"
    if directory and not stat.S_ISDIR(st.st_mode):
        return f"{what} is not a directory"
    if not directory and not stat.S_ISREG(st.st_mode):
        return f"{what} is not a regular file"
    return _owner_problem(st, what) or _mode_problem(st, what)


def path_problem(path: Path) -> str | None:
    """Why the folders from the filesystem root down to `path` (a store's root, symbolic links
    resolved) could let someone else replace it: each must belong to us or root, and only
    sticky folders like /tmp may be writable by others. The store root itself must not be
    writable by others at all."""
    real = Path(os.path.realpath(path))
    chain = [real, *real.parents]
    for index, folder in enumerate(chain):
        try:
            st = os.stat(folder)
        except OSError as exc:
            return f"cannot access {folder}: {exc.strerror or exc}"
        what = str(folder)
        if index == 0:
            problem = entry_problem(st, what, directory=True)
        else:
            problem = _owner_problem(st, what) or _mode_problem(st, what, sticky_ok=True)
        if problem is not None:
            return problem if index == 0 else f"{problem}, above the store"
    return None


def directory_problem(path: Path) -> str | None:
    """Why `path` cannot hold a store (missing, not a directory, unsafe), or None. A safe
    directory that is not writable is fine (a read-only store); see `writable_problem`."""
    return path_problem(path)


def writable_problem(path: Path) -> str | None:
    """Why nothing can be written into the store at `path`, or None."""
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is not writable"
    return None


def _write_file_at(dir_fd: int, name: str, data: bytes) -> None:
    """Write `name` inside the open folder `dir_fd` as one atomic step."""
    tmp = f".tmp-{os.getpid()}-{secrets.token_hex(6)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file as one atomic step (a temporary file beside it, fsync, rename): the file
    holds either its old content or the new one, never a part."""
    fd = os.open(path.parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        _write_file_at(fd, path.name, data)
    finally:
        os.close(fd)


#: refusals already logged by this process (each is logged once)
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


class FileArtifactStore:
    """A persistent store in a directory (created with mode 0700 on the first write).

    `max_bytes`: prune the least recently used artifacts beyond this size (None: unbounded).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        create: bool = True,
        max_bytes: int | None = None,
    ) -> None:
        self.directory = Path(os.path.expanduser(os.fspath(directory)))
        self.max_bytes = max_bytes
        self.rejected = 0
        self.rejections: list[tuple[str, str]] = []
        #: writes that failed (disk full, permissions...): their count and the last reason
        self.write_errors = 0
        self.last_write_error: str | None = None
        self._create = create
        self._lock = threading.Lock()
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the checked root
        self._size_estimate: int | None = None
        self._writes_since_scan = 0
        self._scanned_at = 0.0
        self.unusable_reason: str | None = None
        self.read_only_reason: str | None = None
        self._checked = False
        self._refresh()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.directory)!r})"

    # --- state ------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Check the directory (once when it exists; a missing one is checked when created)."""
        if not os.path.lexists(self.directory) and self._create:
            self.unusable_reason = None
            self.read_only_reason = None
            self._checked = False
            return
        self._checked = True
        problem = directory_problem(self.directory)
        self.unusable_reason = problem
        if problem is not None:
            self._reject(str(self.directory), "store refused: " + problem, once=True)
            return
        st = os.stat(self.directory)
        self._identity = (st.st_dev, st.st_ino)
        self.read_only_reason = writable_problem(self.directory)

    @property
    def writable(self) -> bool:
        return self.unusable_reason is None and self.read_only_reason is None

    def check(self, *, write: bool = False) -> None:
        """Raise StoreError when the directory is unusable (or, with `write`, read-only)."""
        if write and not self._checked:
            self._ensure_directory()
        if self.unusable_reason is not None:
            raise StoreError(f"artifact store refused: {self.unusable_reason}")
        if write and self.read_only_reason is not None:
            raise StoreError(f"artifact store is read-only: {self.read_only_reason}")

    def _ensure_directory(self) -> bool:
        """Create the missing directory (mode 0700) and check it. False when unusable."""
        if not self._checked:
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                self._checked = True
                self.unusable_reason = f"cannot create {self.directory}: {exc.strerror or exc}"
                return False
            self._refresh()
        return self.unusable_reason is None

    def _reject(self, name: str, reason: str, *, once: bool = False) -> None:
        """Count and log a rejection (`once`: log it once per process, e.g. a refused store
        that every `RuntimeConfig()` would otherwise report again)."""
        with self._lock:
            self.rejected += 1
            if len(self.rejections) < 1000:
                self.rejections.append((name, reason))
        if once:
            with _warned_lock:
                if (name, reason) in _warned:
                    log.debug("pyevm-jit: artifact %s rejected: %s", name, reason)
                    return
                _warned.add((name, reason))
        log.warning("pyevm-jit: artifact %s rejected: %s", name, reason)

    @contextlib.contextmanager
    def _root(self) -> Iterator[int | None]:
        """The store's root folder, opened and checked to be the folder that was checked
        (None when the store is unusable or missing)."""
        if not self._checked:
            self._refresh()  # created meanwhile (by another process, say)?
        if self.unusable_reason is not None or not self._checked:
            yield None
            return
        try:
            fd = os.open(self.directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        except OSError:
            yield None
            return
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != self._identity:
                self._reject(str(self.directory), "store folder replaced since it was checked")
                yield None
                return
            problem = entry_problem(st, str(self.directory), directory=True)
            if problem is not None:
                self._reject(str(self.directory), problem)
                yield None
                return
            yield fd
        finally:
            os.close(fd)

    def _open_fork(self, root: int, fork: str, *, create: bool = False) -> int | None:
        """The fork folder inside the root, opened without following links and checked."""
        if not _safe_name(fork):
            return None
        flags = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
        try:
            fd = os.open(fork, flags, dir_fd=root)
        except FileNotFoundError:
            if not create:
                return None
            with contextlib.suppress(FileExistsError):
                os.mkdir(fork, 0o700, dir_fd=root)
            fd = os.open(fork, flags, dir_fd=root)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                self._reject(f"{fork}/", f"{self.directory / fork} is a symbolic link or no folder")
                return None
            raise
        problem = entry_problem(os.fstat(fd), str(self.directory / fork), directory=True)
        if problem is not None:
            os.close(fd)
            self._reject(f"{fork}/", problem)
            return None
        return fd

    def _fork_folders(self, root: int) -> Iterator[tuple[str, int]]:
        """(name, open descriptor) of each fork folder in the root that opens and checks out;
        the descriptor is closed when the loop moves on (or ends)."""
        for fork in self._fork_names(root):
            fork_fd = self._open_fork(root, fork)
            if fork_fd is None:
                continue
            try:
                yield fork, fork_fd
            finally:
                os.close(fork_fd)

    def _fork_names(self, root: int) -> list[str]:
        """The fork folders in the root (a symbolic link among them is rejected)."""
        names = []
        try:
            with os.scandir(root) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not _safe_name(entry.name):
                        continue
                    if entry.is_symlink():
                        self._reject(
                            f"{entry.name}/", f"{self.directory / entry.name} is a symbolic link"
                        )
                    elif entry.is_dir(follow_symlinks=False):
                        names.append(entry.name)
        except OSError:
            pass
        return sorted(names)

    # --- reading ----------------------------------------------------------------------------

    def _read_at(self, fork_fd: int, key: ArtifactKey) -> StoredArtifact | None:
        name = f"{key.fork}/{key.stem}"
        flags = os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(key.file_name, flags, dir_fd=fork_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._reject(name, f"cannot open: {exc.strerror or exc}")
            return None
        try:
            st = os.fstat(fd)
            problem = entry_problem(
                st, str(self.directory / key.fork / key.file_name), directory=False
            )
            if problem is None and st.st_size > MAX_ARTIFACT_BYTES + MAX_MANIFEST_BYTES:
                problem = "artifact file of insane size"
            if problem is not None:
                self._reject(name, problem)
                return None
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read(MAX_ARTIFACT_BYTES + MAX_MANIFEST_BYTES + 1)
            if time.time() - st.st_mtime > TOUCH_INTERVAL:
                with contextlib.suppress(OSError):
                    os.utime(fd)  # least recently used: this one was used now
        except OSError as exc:
            self._reject(name, f"unreadable: {exc.strerror or exc}")
            return None
        finally:
            os.close(fd)
        try:
            artifact = StoredArtifact.from_bytes(data)
        except (ValueError, UnicodeDecodeError) as exc:
            self._reject(name, f"unreadable manifest: {exc}")
            return None
        if artifact.key != key:
            self._reject(
                name, "manifest names another code hash, fork, level or engine than its file name"
            )
            return None
        problem = artifact.integrity_problem()
        if problem is not None:
            self._reject(name, problem)
            return None
        return artifact

    def keys(self) -> list[ArtifactKey]:
        """The keys of the artifacts present, from file names only (nothing is read or
        verified: `load` does that)."""
        out: list[ArtifactKey] = []
        with self._root() as root:
            if root is None:
                return out
            for fork, fork_fd in self._fork_folders(root):
                for name in sorted(_list(fork_fd)):
                    key = ArtifactKey.from_file_name(fork, name)
                    if key is not None:
                        out.append(key)
        return out

    def load_all(self, identity: str | None = None) -> list[StoredArtifact]:
        """Every valid artifact (of engine fingerprint `identity` only, when given: others are
        skipped by their names, unread)."""
        out = []
        for key in self.keys():
            if identity is None or key.identity == identity:
                artifact = self.load(key)
                if artifact is not None:
                    out.append(artifact)
        return out

    def load(self, key: ArtifactKey) -> StoredArtifact | None:
        with self._root() as root:
            if root is None:
                return None
            fork_fd = self._open_fork(root, key.fork)
            if fork_fd is None:
                return None
            try:
                return self._read_at(fork_fd, key)
            finally:
                os.close(fork_fd)

    def __contains__(self, key: object) -> bool:
        """Whether a file for `key` is present (by name; not verified)."""
        if not isinstance(key, ArtifactKey) or not self._checked or self.unusable_reason:
            return False
        return os.path.lexists(self.directory / key.fork / key.file_name)

    # --- writing ----------------------------------------------------------------------------

    def store(self, artifact: StoredArtifact) -> bool:
        """Write an artifact (replacing one of the same key) as one atomic step. False when the
        store is read-only or unusable (nothing written); OSError when the write fails (the
        previous artifact, if any, is intact; the failure is counted in `write_errors`)."""
        problem = artifact.integrity_problem()
        if problem is not None:
            raise ValueError(f"refusing to store an inconsistent artifact: {problem}")
        if not self._ensure_directory() or self.read_only_reason is not None:
            return False
        data = artifact.to_bytes()
        key = artifact.key
        try:
            with self._root() as root:
                if root is None:
                    return False
                fork_fd = self._open_fork(root, key.fork, create=True)
                if fork_fd is None:
                    return False
                try:
                    _write_file_at(fork_fd, key.file_name, data)
                finally:
                    os.close(fork_fd)
        except OSError as exc:
            with self._lock:
                self.write_errors += 1
                self.last_write_error = f"{exc.strerror or exc}"
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                self.read_only_reason = f"{self.directory}: {exc.strerror or exc}"
            raise
        self._after_write(len(data))
        return True

    def delete(self, key: ArtifactKey) -> None:
        with self._root() as root:
            if root is None or self.read_only_reason is not None:
                return
            fork_fd = self._open_fork(root, key.fork)
            if fork_fd is None:
                return
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(key.file_name, dir_fd=fork_fd)
            finally:
                os.close(fork_fd)

    def clear(self) -> None:
        """Remove every artifact (of every engine, older formats included) and leftovers."""
        with self._root() as root:
            if root is None or self.read_only_reason is not None:
                return
            for fork in self._fork_names(root):
                fork_fd = self._open_fork(root, fork)
                if fork_fd is None:
                    continue
                try:
                    for name in _list(fork_fd):
                        if _ours(name):
                            with contextlib.suppress(OSError):
                                os.unlink(name, dir_fd=fork_fd)
                finally:
                    os.close(fork_fd)
                with contextlib.suppress(OSError):
                    os.rmdir(fork, dir_fd=root)
        with self._lock:
            self._size_estimate = 0

    def __len__(self) -> int:
        return len(self.keys())

    # --- size bound -------------------------------------------------------------------------

    def size(self) -> int:
        """Bytes of the files this store holds (artifacts and leftovers)."""
        return sum(size for _fork, _name, size, _mtime in self._files())

    def _files(self) -> list[tuple[str, str, int, float]]:
        out: list[tuple[str, str, int, float]] = []
        with self._root() as root:
            if root is None:
                return out
            for fork, fork_fd in self._fork_folders(root):
                for name in _list(fork_fd):
                    if not _ours(name):
                        continue
                    try:
                        st = os.stat(name, dir_fd=fork_fd, follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        out.append((fork, name, st.st_size, st.st_mtime))
        return out

    def _after_write(self, written: int) -> None:
        """Prune when this write may have taken the store over its bound. The size is counted
        from the folder now and then (other processes write too) and estimated in between."""
        if self.max_bytes is None:
            return
        now = time.monotonic()
        with self._lock:
            stale = (
                self._size_estimate is None
                or self._writes_since_scan >= RESCAN_WRITES
                or now - self._scanned_at > RESCAN_SECONDS
            )
            if not stale:
                assert self._size_estimate is not None
                self._size_estimate += written
                self._writes_since_scan += 1
                estimate = self._size_estimate
        if stale:
            estimate = self.size()
            with self._lock:
                self._size_estimate = estimate
                self._writes_since_scan = 0
                self._scanned_at = now
        if estimate > self.max_bytes:
            self.prune()

    def prune(self, max_bytes: int | None = None) -> int:
        """Remove least recently used files until the store is under 90% of `max_bytes`
        (default: the store's own bound) and leftovers of interrupted writes. Bytes removed.
        One process prunes at a time (the others skip it)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        if limit is None or not self.writable or not self._checked:
            return 0
        with self._prune_lock() as locked:
            if not locked:
                return 0
            files = self._files()
            now = time.time()
            total = sum(f[2] for f in files)
            target = int(limit * 0.9)
            removed = 0
            victims = [
                f for f in files if f[1].startswith(".tmp-") and now - f[3] > STALE_TEMP_SECONDS
            ]
            victims += sorted(
                (f for f in files if not f[1].startswith(".tmp-")), key=lambda f: f[3]
            )
            for fork, name, size, _mtime in victims:
                if total <= target and not name.startswith(".tmp-"):
                    break
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / fork / name)
                    total -= size
                    removed += size
            with self._lock:
                self._size_estimate = total
            if removed:
                log.info("pyevm-jit: pruned %d bytes from %s", removed, self.directory)
            return removed

    @contextlib.contextmanager
    def _prune_lock(self) -> Iterator[bool]:
        if fcntl is None:
            yield True
            return
        try:
            fd = os.open(
                self.directory / ".prune.lock",
                os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC,
                0o600,
            )
        except OSError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            yield True
        finally:
            os.close(fd)


def _list(fd: int) -> list[str]:
    try:
        return os.listdir(fd)
    except OSError:
        return []


def _ours(name: str) -> bool:
    """Files a store writes: artifacts, leftovers of interrupted writes, and the two files per
    artifact of the first format."""
    return name.endswith((SUFFIX, ".json", ".o")) or name.startswith(".tmp-")


class RuntimeArtifactStore(FileArtifactStore):
    """A temporary store: files in a private temporary directory, removed on `close()` or when
    the store is garbage-collected (or at interpreter exit)."""

    def __init__(self) -> None:
        directory = tempfile.mkdtemp(prefix="pyevm-jit-aot-")
        super().__init__(directory, create=False)
        self._finalizer = weakref.finalize(self, shutil.rmtree, directory, True)

    def close(self) -> None:
        self._finalizer()
