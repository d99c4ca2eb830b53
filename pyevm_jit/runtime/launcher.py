"""The launcher of every child process: `python -P -m pyevm_jit.runtime.launcher MODULE ARGS...`
(see `pyevm_jit.runtime.children`). It ignores SIGINT, exits when its parent has gone, and runs
MODULE as `__main__`. Nothing imports this module (`-m` would then warn that it was imported
before it ran)."""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time


def _watch_parent(parent: int) -> None:
    """Exit as soon as the parent has gone (the child is re-parented)."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(1.0)


def main() -> None:
    """Set the child up and run MODULE (`sys.argv[1]`) with the rest of the arguments."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # the pid the parent wrote (children.PARENT_VARIABLE; not imported: see the module doc):
    # when it ended while this process started, getppid() is already another process
    told = os.environ.pop("PYEVM_JIT_PARENT_PID", "")
    parent = int(told) if told.isdigit() else os.getppid()
    threading.Thread(
        target=_watch_parent, args=(parent,), name="pyevm-jit-watchdog", daemon=True
    ).start()
    module = sys.argv.pop(1)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
