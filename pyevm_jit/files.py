"""Files the package writes and reads: the one atomic write, safe folder creation, JSON input.

Every file the package writes (artifacts, the runtime library cache, `--json` results, fuzz
reports and regressions, compiler dumps) goes through `write_file_at` / `atomic_write`: a
temporary file in the same folder, fsync, rename. The file then holds its old content or the
new one, never a part (a full disk, a crash, Ctrl-C).

What is already at the path decides what a write does (it never replaces what is not a
regular file):
- nothing, or a regular file: replaced in one atomic step;
- a symbolic link: written through: the file it points to is written by these same rules, the
  link stays a link (`--json latest.json` where latest.json links into a results folder);
- a FIFO or a character device (`/dev/null`, `/dev/stdout`, a terminal): written through:
  opened and written in place, never replaced (a FIFO write waits for its reader);
- anything else (a folder, a block device, a socket): refused with `NotWritableTarget` (an
  OSError); nothing is touched.
`write_file_at` (inside a folder opened by the caller, the artifact store's way) follows no
link and writes through nothing: anything but a regular file or nothing is refused there.

JSON input is decoded by `load_json`, which refuses documents nested deeper than `MAX_NESTING`
before the decoder sees them: py-evm raises the interpreter's recursion limit, so the C decoder
would otherwise overflow the C stack on `[[[[...` and the process would die with SIGSEGV.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)

#: prefix of the temporary files of atomic writes (a store prunes stale ones)
TEMP_PREFIX = ".tmp-"
#: JSON input nested deeper than this is refused (fixtures nest about 10 deep)
MAX_NESTING = 512


class NotWritableTarget(OSError):
    """What is at the path is neither a regular file nor something written through."""


#: what a file-system entry is, by the type bits of its mode (for messages)
_KINDS = {
    stat.S_IFREG: "a regular file",
    stat.S_IFDIR: "a folder",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
}


def kind_of(mode: int) -> str:
    """What an entry of this mode is, for a message ("a folder", "a FIFO", ...)."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def describe_entry(path: Path) -> str:
    """What is at `path` (links followed), for a message; "a dangling symbolic link" too."""
    try:
        return kind_of(path.stat().st_mode)
    except OSError:
        return "a dangling symbolic link" if path.is_symlink() else "unreadable"


def written_through(mode: int) -> bool:
    """Whether a write onto something of this mode goes into it in place (FIFO, character
    device) rather than replacing it."""
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def write_file_at(dir_fd: int, name: str, data: bytes, mode: int = 0o600) -> None:
    """Write `name` inside the open folder `dir_fd` as one atomic step (a temporary file with
    `mode`, fsync, rename). NotWritableTarget when `name` is there and is not a regular file
    (a symbolic link included: nothing is followed); OSError when the write fails (the old
    file is intact and no temporary file is left)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(st.st_mode):
            raise NotWritableTarget(f"{name} is {kind_of(st.st_mode)}; not replaced")
    tmp = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
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


def write_target(path: Path) -> Path:
    """Where a write onto `path` goes: symbolic links resolved (see the module doc).
    NotWritableTarget when that is a folder, a block device or a socket."""
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    if not (stat.S_ISREG(st.st_mode) or written_through(st.st_mode)):
        raise NotWritableTarget(f"{path} is {kind_of(st.st_mode)}; not written")
    return target


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` by the rules of the module doc: a regular file (or nothing) is
    replaced atomically (`mode`: the new file's mode; default 0666 less the umask, like a file
    opened for writing), a FIFO or character device is written in place, a link is followed."""
    target = write_target(Path(path))
    with contextlib.suppress(FileNotFoundError):
        if written_through(os.stat(target).st_mode):
            with open(target, "wb", buffering=0) as handle:
                handle.write(data)
            return
    fd = os.open(target.parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        write_file_at(fd, target.name, data, 0o666 & ~umask() if mode is None else mode)
    finally:
        os.close(fd)


def write_once(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> bool:
    """Write `data` at `path` unless something is there already (content-addressed stores: the
    first complete write wins, a reader never sees a part): a complete, synced temporary file
    hard-linked to its name. True when this call wrote it."""
    folder = os.path.dirname(os.fspath(path))
    tmp = os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def umask() -> int:
    """This process's umask, read without changing it (os.umask would, for all threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def make_private_dirs(path: str | os.PathLike[str], mode: int = 0o700) -> None:
    """Create `path` and its missing parents with `mode` (never more open than 0700 whatever
    the umask: under umask 000, `mkdir -p` would leave a new `~/.cache` writable by all)."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, mode & 0o700)
    if not missing and not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")


# --- JSON input -----------------------------------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(data: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (strings skipped)."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    return max(itertools.accumulate(_DEPTH_STEP[c] for c in brackets), default=0)


def loads_json(data: bytes | str) -> Any:
    """Decode JSON so that its nesting cannot crash the process: ValueError when it is nested
    deeper than MAX_NESTING or is not JSON (UnicodeDecodeError, a ValueError too, when it is
    not text)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if nesting_depth(raw) > MAX_NESTING:
        raise ValueError(f"JSON nested deeper than {MAX_NESTING} levels")
    try:
        return json.loads(raw)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError("JSON nested too deep for this interpreter") from None


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read and decode a JSON file (see `loads_json`); OSError when it cannot be read."""
    with open(path, "rb") as handle:
        return loads_json(handle.read())
