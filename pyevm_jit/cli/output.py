"""Result files the commands write (`--json`): checked before a run, written atomically.

A run can take hours: its result file's folder is checked before anything runs (it exists and
takes a new file), and the file is written by the package's one atomic write
(`pyevm_jit.files.atomic_write`: a temporary file beside it, fsync, rename), so a full disk or
a crash leaves the previous results whole. What is at the path already decides (see
`pyevm_jit.files`): a regular file is replaced; a symbolic link is written through (the file it
points to is written, the link stays); a FIFO or a character device (`/dev/null`,
`/dev/stdout`) is written through in place, never replaced; a folder, a block device or a
socket is refused before the run with one line (exit status 2)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from pyevm_jit.errors import UsageError
from pyevm_jit.files import NotWritableTarget, atomic_write, write_target


def check_output_file(raw: str, option: str = "--json") -> Path:
    """The path of a result file, checked before a run: UsageError (naming `option`) when it
    is a folder or something else that is not written (a block device), or its folder is
    missing or cannot take a new file."""
    path = Path(raw)
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a folder")
    try:
        target = write_target(path)
    except NotWritableTarget as exc:
        raise UsageError(f"{option}: {exc}") from None
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(target).st_mode):  # written through (a FIFO, /dev/null)
            if not os.access(target, os.W_OK):
                raise UsageError(f"{option}: cannot write {path}")
            return path
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{option}: folder {folder} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write into {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


def write_json(path: Path, document: Any, *, indent: int = 1, option: str = "--json") -> None:
    """Write a JSON document atomically; UsageError (naming `option`) when it fails."""
    data = (json.dumps(document, indent=indent) + "\n").encode()
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None
