"""`ReadCache`: a bounded (database, trie root, key) -> value map with root-to-root links,
shared by every state that reads from the same database (see the package docstring for why an
entry can never be stale)."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from lru import LRU

#: default bound of the shared cache (about 300 bytes per entry)
DEFAULT_ENTRIES = 100_000
#: links followed at most per read before walking the trie
MAX_LINK_DEPTH = 16
#: a batch of writes larger than this is not linked (its changes would take too much memory)
MAX_LINK_CHANGES = 4096


class ReadCache:
    """Bounded (namespace, root, key) -> value map with root-to-root links. Thread-safe: every
    operation is a few calls on C-implemented LRU maps under the GIL, and each entry is correct
    on its own, so concurrent readers and writers can only miss, never read a wrong value."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES, max_links: int = 4096) -> None:
        self.max_entries = max(16, int(max_entries))
        self._values: LRU[tuple[int, bytes, bytes], bytes] = LRU(self.max_entries)
        self._links: LRU[tuple[int, bytes], tuple[bytes, dict[bytes, bytes]]] = LRU(
            max(16, int(max_links)), self._link_dropped
        )
        # changed keys held by all links together: at most half the entry bound
        self._link_changes = 0
        # id(database) -> (weak reference to it, namespace number)
        self._namespaces: dict[int, tuple[weakref.ref[Any], int]] = {}
        self._lock = threading.Lock()
        self._next_namespace = 1
        self.hits = 0
        self.misses = 0

    def namespace(self, db: Any) -> int:
        """A number for the database `db`, by identity (0: `db` cannot be referenced weakly,
        and nothing is cached for it). The number is never reused for another database."""
        key = id(db)
        entry = self._namespaces.get(key)
        if entry is not None and entry[0]() is db:
            return entry[1]
        with self._lock:
            try:
                ref = weakref.ref(db, self._forget)
            except TypeError:
                return 0
            number = self._next_namespace
            self._next_namespace += 1
            self._namespaces[key] = (ref, number)
            return number

    def _forget(self, ref: weakref.ref[Any]) -> None:
        for key, (held, _number) in list(self._namespaces.items()):
            if held is ref:
                del self._namespaces[key]

    def get(self, namespace: int, root: bytes, key: bytes) -> bytes | None:
        """The value of `key` in the trie at `root`, or None when not known."""
        values = self._values
        value = values.get((namespace, root, key))
        if value is not None:
            self.hits += 1
            return value
        links = self._links
        at = root
        for _ in range(MAX_LINK_DEPTH):
            link = links.get((namespace, at))
            if link is None:
                break
            at, changes = link
            value = changes.get(key)
            if value is None:
                value = values.get((namespace, at, key))
            if value is not None:
                values[(namespace, root, key)] = value
                self.hits += 1
                return value
        self.misses += 1
        return None

    def put(self, namespace: int, root: bytes, key: bytes, value: bytes) -> None:
        self._values[(namespace, root, key)] = value

    def link(
        self, namespace: int, before: bytes, after: bytes, changes: dict[bytes, bytes]
    ) -> None:
        """The trie at `after` is the trie at `before` with `changes` (b"": deleted)."""
        if before == after or len(changes) > MAX_LINK_CHANGES:
            return
        key = (namespace, after)
        links = self._links
        with self._lock:
            old = links.pop(key, None)
            if old is not None:
                self._link_changes -= len(old[1])
            links[key] = (before, changes)
            self._link_changes += len(changes)
            while self._link_changes > self.max_entries // 2 and len(links) > 1:
                _key, dropped = links.popitem()  # the least recently used
                self._link_changes -= len(dropped[1])

    def _link_dropped(self, _key: Any, link: tuple[bytes, dict[bytes, bytes]]) -> None:
        # called by the LRU when it drops a link for its size (not for pop or popitem)
        self._link_changes -= len(link[1])

    def clear(self) -> None:
        """Forget every entry (never needed for correctness; frees the memory)."""
        with self._lock:
            self._values.clear()
            self._links.clear()
            self._link_changes = 0

    def resize(self, max_entries: int) -> None:
        self.max_entries = max(16, int(max_entries))
        self._values.set_size(self.max_entries)

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._values),
            "max_entries": self.max_entries,
            "links": len(self._links),
            "link_changes": self._link_changes,
            "hits": self.hits,
            "misses": self.misses,
        }

    def __len__(self) -> int:
        return len(self._values)


_shared: ReadCache | None = None
_shared_lock = threading.Lock()


def shared_read_cache(max_entries: int = DEFAULT_ENTRIES) -> ReadCache:
    """The process's read cache, shared by every JIT VM class; a request for more entries than
    it holds makes it larger."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ReadCache(max_entries)
        elif max_entries > _shared.max_entries:
            _shared.resize(max_entries)
        return _shared
