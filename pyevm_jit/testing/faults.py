"""Stand-in compilers and linkers for tests and fault injection.

Compilers here are module-level functions, so they can be pickled into worker processes:
`RuntimeConfig(compiler=faults.fake_compiler, linker=faults.fake_linker)` exercises the whole
runtime without LLVM; the others raise, hang, crash or exit inside the worker. A compiler may
be steered per contract by the bytecode itself: `fault_compiler` looks for a marker prefix.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any, cast

from pyevm_jit.runtime.workers import CompileTask, register_warm_up

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode
    from pyevm_jit.compiler.link import NativeProgram

#: bytecode starting with one of these makes `fault_compiler` misbehave
RAISE_MARKER = b"\xfe\xfe\x01"
HANG_MARKER = b"\xfe\xfe\x02"
CRASH_MARKER = b"\xfe\xfe\x03"
EXIT_MARKER = b"\xfe\xfe\x04"
SLOW_MARKER = b"\xfe\xfe\x05"  # sleeps 0.3 s, then compiles
BURN_MARKER = b"\xfe\xfe\x06"  # spins on the CPU until stopped
#: creates the file named by the rest of the bytecode plus ".started", waits until the file
#: itself exists, then compiles (a test knows the compilation is under way, and lets it end)
GATE_MARKER = b"\xfe\xfe\x07"


def fake_compiler(task: CompileTask) -> ObjectCode:
    """Pretends to compile: the 'object code' is the bytecode itself, padded to 64 bytes."""
    from pyevm_jit.compiler.compile import ObjectCode, PhaseTimings, entry_symbol

    body = b"FAKEOBJ:" + task.code
    body += b"\0" * max(0, 64 - len(body))
    return ObjectCode(
        object_bytes=body,
        entry_symbol=entry_symbol(task.code_hash, task.fork),
        fork=task.fork,
        opt_level=task.opt_level,
        timings=PhaseTimings(0.001, 0.002, 0.003),
        ir="; fake ir\n" if task.keep_text else "",
        optimised_ir="; fake optimised ir\n" if task.keep_text else "",
        assembly="; fake assembly\n" if task.keep_text else "",
    )


def fault_compiler(task: CompileTask) -> ObjectCode:
    """`fake_compiler`, except for bytecode that starts with a marker."""
    code = task.code
    if code.startswith(RAISE_MARKER):
        raise RuntimeError("injected compiler failure")
    if code.startswith(HANG_MARKER):
        while True:
            time.sleep(3600)
    if code.startswith(CRASH_MARKER):
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(10)
    if code.startswith(EXIT_MARKER):
        os._exit(3)
    if code.startswith(SLOW_MARKER):
        time.sleep(0.3)
    if code.startswith(BURN_MARKER):
        while True:
            pass
    if code.startswith(GATE_MARKER):
        gate = code[len(GATE_MARKER) :].decode()
        with open(gate + ".started", "w"):
            pass
        while not os.path.exists(gate):
            time.sleep(0.01)
    return fake_compiler(task)


#: how long `slow_start_compiler`'s workers take to warm up
SLOW_START_SECONDS = 4.0


def slow_start_compiler(task: CompileTask) -> ObjectCode:
    """`fault_compiler` in workers that take `SLOW_START_SECONDS` to start (as on a loaded
    machine): a timeout must count from the worker being ready, not from dispatch."""
    return fault_compiler(task)


def _slow_warm_up() -> None:
    time.sleep(SLOW_START_SECONDS)


register_warm_up(slow_start_compiler, _slow_warm_up)


def raising_compiler(task: CompileTask) -> ObjectCode:
    raise RuntimeError("injected compiler failure")


class FakeNative:
    """What `fake_linker` returns: looks like a NativeProgram, runs nothing."""

    def __init__(self, obj: ObjectCode) -> None:
        self.entry_symbol = obj.entry_symbol
        self.code_size = len(obj.object_bytes)
        self.object_bytes = obj.object_bytes
        self.address = 0
        self.env_mask = 0

    def run(self, ctx: Any) -> int:
        raise RuntimeError("fake program cannot run")


def fake_linker(obj: ObjectCode) -> NativeProgram:
    if not obj.object_bytes.startswith(b"FAKEOBJ:"):
        from pyevm_jit.errors import CompileError

        raise CompileError("not a fake object")
    return cast("NativeProgram", FakeNative(obj))
