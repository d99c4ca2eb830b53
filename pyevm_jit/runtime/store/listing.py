"""The file names of a store's fork folders, listed once and kept while the folder is unchanged.

A lookup that finds no whole contract asks the store for the code's other artifacts (regions,
`FileArtifactStore.variants`); listing a fork folder of 10,000 artifacts for each such miss
took about 8 ms. A `FolderListings` keeps one listing per folder, indexed by code hash, and
takes it again when the folder may have changed:

- its identity or modification time (nanoseconds) differs from the listing's (another process
  wrote, renamed or removed a file there);
- this process wrote or removed a file there (`forget`: the store calls it after each write);
- the listing is not settled: the folder had changed less than `SETTLE_SECONDS` before it was
  taken. A file system stamps modification times at a coarse granularity (a clock tick; a
  second or two on some), so a change in the same tick as the listing would leave the time
  as it was; a listing is trusted only once the folder's time lies well behind it (git's
  "racily clean" rule).

A listing that misses a file (a clock skewed beyond `SETTLE_SECONDS` on a network file
system, say) costs a compilation, never a wrong program: names only point to files, which
`load` reads and verifies.
"""

from __future__ import annotations

import os
import threading
import time
from typing import NamedTuple

#: a listing is trusted only when its folder had not changed for this long when it was taken
SETTLE_SECONDS = 2.0


class _Listing(NamedTuple):
    stamp: tuple[int, int, int]  # the folder's (st_dev, st_ino, st_mtime_ns)
    settled: bool
    by_code: dict[str, list[str]]  # code hash (hex) -> file names


class FolderListings:
    """Listings of fork folders, by fork name (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listings: dict[str, _Listing] = {}
        self.taken = 0  # listings taken (statistics, tests)

    def names(self, fork: str, folder_fd: int, code_hex: str) -> list[str]:
        """The names in the folder (open as `folder_fd`) of the files of code `code_hex`."""
        st = os.fstat(folder_fd)
        stamp = (st.st_dev, st.st_ino, st.st_mtime_ns)
        with self._lock:
            listing = self._listings.get(fork)
        if listing is None or not listing.settled or listing.stamp != stamp:
            settled = time.time_ns() - st.st_mtime_ns > SETTLE_SECONDS * 1e9
            by_code: dict[str, list[str]] = {}
            for name in list_folder(folder_fd):  # after the stamp: a later change moves it
                by_code.setdefault(name.partition(".")[0], []).append(name)
            listing = _Listing(stamp, settled, by_code)
            with self._lock:
                self._listings[fork] = listing
                self.taken += 1
        return list(listing.by_code.get(code_hex, ()))

    def forget(self, fork: str | None = None) -> None:
        """This process changed the folder of `fork` (every folder when None)."""
        with self._lock:
            if fork is None:
                self._listings.clear()
            else:
                self._listings.pop(fork, None)


def list_folder(fd: int) -> list[str]:
    """The names in the open folder `fd` (none when it cannot be read)."""
    try:
        return os.listdir(fd)
    except OSError:
        return []
