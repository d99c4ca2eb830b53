"""In-process linking: one LLJIT per process, with the native runtime library (`rtlib`) linked
into it once; object code from `pyevm_jit.compiler.compile` becomes a callable `NativeProgram`."""

from __future__ import annotations

import ctypes
import threading

import llvmlite.binding as llvm

from pyevm_jit.abi import ABI_FINGERPRINT
from pyevm_jit.compiler.compile import ObjectCode
from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, target_machine
from pyevm_jit.errors import CompileError

RTLIB_LIBRARY = "pyevmjit_rt"

# Called with the GIL held (PYFUNCTYPE): native code never calls back into Python, and releasing
# and re-taking the GIL around every entry and resume made short messages bimodal (push0_proxy:
# 117 us or 155-160 us per message depending on when the backend thread had last woken).
ENTRY_FUNCTYPE = ctypes.PYFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)


class NativeProgram:
    """A linked program: its entry point and the resource tracker that keeps its code mapped."""

    __slots__ = ("entry_symbol", "address", "run", "env_mask", "code_size", "_tracker")

    def __init__(self, entry: str, tracker: object, address: int, env_mask: int, size: int):
        self.entry_symbol = entry
        self._tracker = tracker
        self.address = address
        self.run = ENTRY_FUNCTYPE(address)
        self.env_mask = env_mask
        self.code_size = size


class _Linker:
    """One LLJIT per process, with the runtime library linked once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lljit: llvm.LLJIT | None = None
        self._rt_tracker: object | None = None
        self._counter = 0

    def _ensure(self) -> llvm.LLJIT:
        if self._lljit is None:
            from pyevm_jit.compiler import rtlib

            tm = target_machine(DEFAULT_OPT_LEVEL)
            lljit = llvm.create_lljit_compiler(tm)
            builder = llvm.JITLibraryBuilder().add_current_process()
            builder.add_object_img(rtlib.compile_rtlib_object(tm))
            for name in rtlib.EXPORTED_SYMBOLS:
                builder.export_symbol(name)
            self._rt_tracker = builder.link(lljit, RTLIB_LIBRARY)
            self._lljit = lljit
        return self._lljit

    def prepare(self) -> None:
        with self._lock:
            self._ensure()

    def rtlib_address(self, name: str) -> int:
        with self._lock:
            self._ensure()
            return self._rt_tracker[name]  # type: ignore[index]

    def link(self, obj: ObjectCode) -> NativeProgram:
        with self._lock:
            lljit = self._ensure()
            self._counter += 1
            name = f"{obj.entry_symbol}#{self._counter}"
            meta = obj.entry_symbol + "_meta"
            try:
                tracker = (
                    llvm.JITLibraryBuilder()
                    .add_object_img(obj.object_bytes)
                    .add_jit_library(RTLIB_LIBRARY)
                    .add_current_process()
                    .export_symbol(obj.entry_symbol)
                    .export_symbol(meta)
                    .link(lljit, name)
                )
            except RuntimeError as exc:
                raise CompileError(f"link failed: {exc}") from exc
            address = tracker[obj.entry_symbol]
            meta_address = tracker[meta]
            if not address or not meta_address:
                raise CompileError(f"link failed: {obj.entry_symbol} not found in object code")
            env_mask = ctypes.c_uint64.from_address(meta_address).value
            layout = ctypes.c_uint64.from_address(meta_address + 8).value
            if layout != ABI_FINGERPRINT:
                # built against another context layout (an older store, a worker running
                # newer sources): running it would read the context wrongly
                raise CompileError(f"{obj.entry_symbol}: object code for another context layout")
            return NativeProgram(
                obj.entry_symbol, tracker, address, env_mask, len(obj.object_bytes)
            )


_linker = _Linker()


def link_object(obj: ObjectCode) -> NativeProgram:
    """Link object code into this process. Raises CompileError when the object is unusable."""
    return _linker.link(obj)


def prepare_linker() -> None:
    """Build this process's JIT linker and its runtime library now (once per process, about
    0.2 s), so that the first program's link time is its own."""
    _linker.prepare()


def rtlib_address(name: str) -> int:
    return _linker.rtlib_address(name)
