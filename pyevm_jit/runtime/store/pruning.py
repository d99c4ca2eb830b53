"""Pruning a bounded store: least recently used artifacts out, serialised by a lock file.

A store created with `max_bytes` is a cache: after a write that takes it over that size, the
least recently used artifacts (by modification time, which a load refreshes) are removed until
it is under 90% of it, and leftovers of interrupted writes older than `STALE_TEMP_SECONDS` go
too. Many processes may share a store: one prunes at a time (a `flock` on `.prune.lock`), the
others skip it. The folder's size is counted now and then (other processes write too) and
estimated in between from what this process wrote.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from pyevm_jit.files import TEMP_PREFIX

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: a bounded store counts its folder's size again after this many of its own writes or seconds
#: (in between it adds what it wrote; other processes write too)
RESCAN_WRITES = 16
RESCAN_SECONDS = 30.0
#: leftover temporary files older than this are removed when the store is pruned
STALE_TEMP_SECONDS = 3600.0
#: a pruned store is brought under this share of its bound
PRUNE_TARGET = 0.9

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class StoreFile(NamedTuple):
    """A file a store holds: its fork folder, name, size and modification time."""

    fork: str
    name: str
    size: int
    mtime: float


class Pruner:
    """The size bound of one store in `directory`; `files` lists what the store holds."""

    def __init__(
        self, directory: Path, max_bytes: int | None, files: Callable[[], list[StoreFile]]
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._files = files
        self._lock = threading.Lock()
        self._size_estimate: int | None = None
        self._writes_since_scan = 0
        self._scanned_at = 0.0

    def size(self) -> int:
        """Bytes of the files the store holds (artifacts and leftovers)."""
        return sum(f.size for f in self._files())

    def emptied(self) -> None:
        """The store was cleared."""
        with self._lock:
            self._size_estimate = 0

    def after_write(self, written: int) -> None:
        """Prune when this write may have taken the store over its bound."""
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
            self.prune(self.max_bytes)

    def prune(self, limit: int) -> int:
        """Remove least recently used files until the store is under 90% of `limit`, and
        stale leftovers of interrupted writes. Bytes removed (0 when another process prunes)."""
        with self._prune_lock() as locked:
            if not locked:
                return 0
            files = self._files()
            now = time.time()
            total = sum(f.size for f in files)
            target = int(limit * PRUNE_TARGET)
            removed = 0
            victims = [
                f
                for f in files
                if f.name.startswith(TEMP_PREFIX) and now - f.mtime > STALE_TEMP_SECONDS
            ]
            victims += sorted(
                (f for f in files if not f.name.startswith(TEMP_PREFIX)), key=lambda f: f.mtime
            )
            for victim in victims:
                if total <= target and not victim.name.startswith(TEMP_PREFIX):
                    break
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / victim.fork / victim.name)
                    total -= victim.size
                    removed += victim.size
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
