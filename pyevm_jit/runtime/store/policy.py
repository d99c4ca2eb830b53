"""The file-system policy of a store: which folders and files can be trusted.

An artifact's digest cannot protect against someone who can write the store as you: they can
compute a valid digest. That is why every folder on the way from the filesystem root to each
file must belong to you (or root) and be writable by nobody else, and why no symbolic link
inside the store is followed. Writes go through the package's one atomic write
(`pyevm_jit.files.write_file_at`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


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
