"""Result files the commands write (`--json`): checked before a run, written atomically.

A run can take hours: its result file's folder is checked before anything runs (it exists and
takes a new file), and the file is written as one atomic step (a temporary file beside it,
fsync, rename), so a full disk or a crash leaves the previous results whole."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pyevm_jit.errors import UsageError


def check_output_file(raw: str, option: str = "--json") -> Path:
    """The path of a result file, checked before a run: UsageError (naming `option`) when it
    is a folder, or its folder is missing or cannot take a new file."""
    path = Path(raw)
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a folder")
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` by `data` in one step: the file holds its old content or the new one,
    never a part. OSError when the write fails (the old file is untouched)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # like a file opened for writing
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """This process's umask, read without changing it (os.umask would, for all threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_json(path: Path, document: Any, *, indent: int = 1, option: str = "--json") -> None:
    """Write a JSON document atomically; UsageError (naming `option`) when it fails."""
    data = (json.dumps(document, indent=indent) + "\n").encode()
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None
