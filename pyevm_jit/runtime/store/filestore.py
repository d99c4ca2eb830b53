"""The artifact store in a folder: `FileArtifactStore` (and its temporary kind).

Layout of a `FileArtifactStore(directory)`::

    {directory}/{fork}/{code_hash}.O{opt}.{identity}.pjit

One file per artifact (`store.format`), written as one atomic step by the package's one atomic
write (`pyevm_jit.files.write_file_at`: a temporary file in the same folder, fsync, rename). A
bad artifact is rejected with a logged reason and counted (`rejected`), never returned.

A store directory that is unsafe (`store.policy`: owned by someone else, writable by other
users, a symlink inside it) is refused as a whole: the reason is logged once, `unusable_reason`
says why, every load returns nothing and every store is a no-op (`check()` raises `StoreError`
instead, for command-line tools that prefer to stop). A directory that is safe but not writable
(a read-only mount, a system-wide store) is a read-only store: artifacts load, nothing is
written. A missing directory is created with its missing parents, each mode 0700 whatever the
umask.

A store created with `max_bytes` is a cache (`store.pruning`). Many processes may share a
store: writes are atomic renames, readers keep what they opened, pruning is serialised by a
lock file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from pyevm_jit.files import TEMP_PREFIX, make_private_dirs, write_file_at
from pyevm_jit.runtime.store.format import (
    MAX_ARTIFACT_BYTES,
    MAX_MANIFEST_BYTES,
    SUFFIX,
    ArtifactKey,
    StoredArtifact,
    safe_name,
)
from pyevm_jit.runtime.store.listing import FolderListings
from pyevm_jit.runtime.store.listing import list_folder as _list
from pyevm_jit.runtime.store.policy import directory_problem, entry_problem, writable_problem
from pyevm_jit.runtime.store.pruning import Pruner, StoreFile

log = logging.getLogger(__name__)

#: a load refreshes an artifact's modification time (its LRU age) at most this often
TOUCH_INTERVAL = 60.0

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_MAX_FILE = MAX_ARTIFACT_BYTES + MAX_MANIFEST_BYTES


class StoreError(Exception):
    """The store as a whole cannot be used (directory missing, not writable, unsafe)."""


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

    @property
    def rejected(self) -> int: ...

    def check(self, *, write: bool = False) -> None: ...

    def keys(self) -> list[ArtifactKey]: ...

    def load_all(self) -> list[StoredArtifact]: ...

    def load(self, key: ArtifactKey) -> StoredArtifact | None: ...

    def store(self, artifact: StoredArtifact) -> bool: ...

    def delete(self, key: ArtifactKey) -> None: ...

    def clear(self) -> None: ...


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
        self._pruner = Pruner(self.directory, max_bytes, self._files)
        self._listings = FolderListings()  # of the fork folders, for `variants`
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
                make_private_dirs(self.directory)
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
        if not safe_name(fork):
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

    @contextlib.contextmanager
    def _folder(self, name: str, *, create: bool = False) -> Iterator[int | None]:
        """The store's folder `name` (a fork's, or another of its own), opened and checked
        (`_root`, `_open_fork`); None when the store or the folder is not there."""
        with self._root() as root:
            fd = None if root is None else self._open_fork(root, name, create=create)
            if fd is None:
                yield None
                return
            try:
                yield fd
            finally:
                os.close(fd)

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
                    if entry.name.startswith(".") or not safe_name(entry.name):
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

    def _read_file(self, folder: str, name: str, limit: int, what: str) -> bytes | None:
        """The bytes of the file `name` in the store's folder `folder` (a fork's, or another of
        the store's own), read without following a link; None when it is absent, and rejected
        (as `{folder}/{name}` less its suffix) when it is no plain private file, larger than
        `limit` (`what` names it then) or unreadable. A read refreshes its LRU age."""
        with self._folder(folder) as folder_fd:
            return (
                None if folder_fd is None else self._read_in(folder_fd, folder, name, limit, what)
            )

    def _read_in(
        self, folder_fd: int, folder: str, name: str, limit: int, what: str
    ) -> bytes | None:
        label = f"{folder}/{name.removesuffix(SUFFIX)}"
        flags = os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(name, flags, dir_fd=folder_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._reject(label, f"cannot open: {exc.strerror or exc}")
            return None
        try:
            st = os.fstat(fd)
            problem = entry_problem(st, str(self.directory / folder / name), directory=False)
            if problem is None and st.st_size > limit:
                problem = f"{what} of insane size"
            if problem is not None:
                self._reject(label, problem)
                return None
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read(limit + 1)
            if time.time() - st.st_mtime > TOUCH_INTERVAL:
                with contextlib.suppress(OSError):
                    os.utime(fd)  # least recently used: this one was used now
        except OSError as exc:
            self._reject(label, f"unreadable: {exc.strerror or exc}")
            return None
        finally:
            os.close(fd)
        return data

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

    def variants(self, code_hash: bytes, fork: str, identity: str) -> list[ArtifactKey]:
        """The keys of the artifacts of one code and engine present (every level, the whole
        contract and each region stored: docs/regions.md), from file names only: the fork
        folder's listing, taken again only when the folder has changed (`store.listing`); a
        lookup asks for it only when the whole contract is absent."""
        out: list[ArtifactKey] = []
        with self._folder(fork) as fork_fd:
            names = [] if fork_fd is None else self._listings.names(fork, fork_fd, code_hash.hex())
        for name in names:
            key = ArtifactKey.from_file_name(fork, name)
            if key is not None and key.identity == identity:
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
        data = self._read_file(key.fork, key.file_name, _MAX_FILE, "artifact file")
        if data is None:
            return None
        try:
            return StoredArtifact.read(data, key)
        except ValueError as exc:
            self._reject(f"{key.fork}/{key.stem}", str(exc))
            return None

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
            with self._folder(key.fork, create=True) as fork_fd:
                if fork_fd is None:
                    return False
                try:
                    write_file_at(fork_fd, key.file_name, data)
                finally:
                    self._listings.forget(key.fork)
        except OSError as exc:
            with self._lock:
                self.write_errors += 1
                self.last_write_error = f"{exc.strerror or exc}"
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                self.read_only_reason = f"{self.directory}: {exc.strerror or exc}"
            raise
        self._pruner.after_write(len(data))
        return True

    def delete(self, key: ArtifactKey) -> None:
        if self.read_only_reason is not None:
            return
        with self._folder(key.fork) as fork_fd:
            if fork_fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(key.file_name, dir_fd=fork_fd)
                self._listings.forget(key.fork)

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
        self._listings.forget()
        self._pruner.emptied()

    def __len__(self) -> int:
        return len(self.keys())

    # --- size bound (store.pruning) ---------------------------------------------------------

    def size(self) -> int:
        """Bytes of the files this store holds (artifacts and leftovers)."""
        return self._pruner.size()

    def _files(self) -> list[StoreFile]:
        out: list[StoreFile] = []
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
                        out.append(StoreFile(fork, name, st.st_size, st.st_mtime))
        return out

    def prune(self, max_bytes: int | None = None) -> int:
        """Remove least recently used files until the store is under 90% of `max_bytes`
        (default: the store's own bound) and leftovers of interrupted writes. Bytes removed.
        One process prunes at a time (the others skip it)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        if limit is None or not self.writable or not self._checked:
            return 0
        return self._pruner.prune(limit)


def _ours(name: str) -> bool:
    """Files a store writes: artifacts, leftovers of interrupted writes, and the two files per
    artifact of the first format."""
    return name.endswith((SUFFIX, ".json", ".o")) or name.startswith(TEMP_PREFIX)


class RuntimeArtifactStore(FileArtifactStore):
    """A temporary store: files in a private temporary directory, removed on `close()` or when
    the store is garbage-collected (or at interpreter exit)."""

    def __init__(self) -> None:
        directory = tempfile.mkdtemp(prefix="pyevm-jit-aot-")
        super().__init__(directory, create=False)
        self._finalizer = weakref.finalize(self, shutil.rmtree, directory, True)

    def close(self) -> None:
        self._finalizer()
