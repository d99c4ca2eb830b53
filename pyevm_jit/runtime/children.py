"""The one way the package starts a child Python process: compile workers, bench cases, fuzz
workers and replays, and the case runner's workers (`statetest`/`blocktest --jobs N`).

Every child is a fresh interpreter started with `subprocess` (never forked: the parent has
threads and LLVM state; and not multiprocessing's spawn, which re-imports the parent's
`__main__`), through this module's launcher:

    python -P -m pyevm_jit.runtime.launcher MODULE ARGS...

- the working directory stays off the child's `sys.path` (`-P`; on Python 3.10, which lacks it,
  a bootstrap drops `sys.path[0]` before anything is imported), and the child's `PYTHONPATH` is
  led by the folder this `pyevm_jit` was imported from, so it imports this same package;
- the child runs in a session of its own and ignores SIGINT: a Ctrl-C at the terminal is the
  parent's business. The parent ends its children when it is interrupted (every command turns
  SIGTERM into the same KeyboardInterrupt as Ctrl-C), and a child whose parent has gone (even
  one killed with SIGKILL) exits within a second (a watchdog thread);
- then MODULE runs as `__main__` with ARGS as its arguments.

`start` gives a `subprocess.Popen`; `start_connected` a child with two pipes (multiprocessing
`Connection`s, pickled messages) whose descriptors the child gets as its first two arguments
(`connect(argv)` on its side).
"""

from __future__ import annotations

import multiprocessing.connection
import os
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

#: the module every child starts with (it is imported by nothing else)
LAUNCHER = "pyevm_jit.runtime.launcher"

#: runs a module as `__main__` without the working directory on `sys.path` (Python 3.10, which
#: has no `-P`): `python -c BOOTSTRAP MODULE ARGS...`
_SAFE_PATH_BOOTSTRAP = (
    "import runpy, sys; del sys.path[0]; "
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)


def python_module_command(module: str, *args: str, safe_path_flag: bool | None = None) -> list[str]:
    """The command that runs `python -m module args...` in a child process without putting the
    working directory on its `sys.path` (a `pyevm_jit` folder there must not replace the
    package): `-P` on Python 3.11+, a bootstrap that drops `sys.path[0]` before importing on
    3.10 (`safe_path_flag` chooses one; default: the running version's)."""
    if safe_path_flag is None:
        safe_path_flag = sys.version_info >= (3, 11)
    if safe_path_flag:
        return [sys.executable, "-P", "-m", module, *args]
    return [sys.executable, "-c", _SAFE_PATH_BOOTSTRAP, module, *args]


def child_command(module: str, *args: str) -> list[str]:
    """The command of a child that runs `module` through the launcher (see the module doc)."""
    return python_module_command(LAUNCHER, module, *args)


#: the parent's pid, for the child's launcher: a child whose parent ends before the child has
#: started (Ctrl-C while it is being launched) is re-parented before it could ask `getppid`
PARENT_VARIABLE = "PYEVM_JIT_PARENT_PID"


def child_environment() -> dict[str, str]:
    """The environment of a child Python process: this one's, with `PYTHONPATH` set to this
    process's `sys.path`, led by the folder this `pyevm_jit` package was imported from (so the
    child imports the same package; a worktree run with `PYTHONPATH=...` keeps working)."""
    # this file is pyevm_jit/runtime/children.py: the folder above pyevm_jit
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [root, *(p for p in sys.path if p and os.path.abspath(p) != root)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env[PARENT_VARIABLE] = str(os.getpid())  # the launcher's watchdog (launcher.py)
    return env


def start(module: str, *args: str, **popen: Any) -> subprocess.Popen[Any]:
    """Start `module` as a child (see the module doc); `popen`: further `subprocess.Popen`
    arguments (pipes, `pass_fds`, `text`...)."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(
        child_command(module, *args),
        env=child_environment(),
        close_fds=True,
        start_new_session=True,
        **popen,
    )


def run(module: str, *args: str, timeout: float | None = None, **popen: Any) -> Any:
    """Run `module` as a child to its end (`subprocess.run` semantics: a CompletedProcess;
    the child is killed when the wait is interrupted or times out)."""
    with start(module, *args, **popen) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def start_connected(
    module: str, *args: str, **popen: Any
) -> tuple[subprocess.Popen[Any], Connection, Connection]:
    """Start `module` as a child with two pipes: (process, writer to it, reader from it). The
    child's first two arguments are the descriptors of its ends (see `connect`)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    try:
        proc = start(
            module,
            str(to_child_r),
            str(from_child_w),
            *args,
            pass_fds=(to_child_r, from_child_w),
            **popen,
        )
    except BaseException:
        os.close(to_child_w)
        os.close(from_child_r)
        raise
    finally:
        os.close(to_child_r)
        os.close(from_child_w)
    writer = Connection(to_child_w, readable=False)
    reader = Connection(from_child_r, writable=False)
    return proc, writer, reader


def connect(argv: list[str]) -> tuple[Connection, Connection]:
    """In a child started by `start_connected`: (reader from the parent, writer to it), taken
    from the first two arguments (removed from `argv`)."""
    in_fd, out_fd = int(argv.pop(0)), int(argv.pop(0))
    return (
        multiprocessing.connection.Connection(in_fd, writable=False),
        multiprocessing.connection.Connection(out_fd, readable=False),
    )
