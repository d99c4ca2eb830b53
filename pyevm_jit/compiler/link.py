"""In-process linking: object code from `pyevm_jit.compiler.compile` becomes a callable
`NativeProgram`, linked into an LLJIT that has the native runtime library (`rtlib`). Every link
is undone completely when its program goes: the code is unmapped with the program's resource
tracker, and the LLJIT itself (with what its session keeps of each link) with its last program
(see `_Generation`)."""

from __future__ import annotations

import ctypes
import threading
from typing import Protocol

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


class SideExits(Protocol):
    """A region program's side-exit account (runtime/regions.py)."""

    def exit(self, pc: int) -> set[int] | None:
        """A FALLBACK exit at `pc`; a set to record the interpreter's run into, to learn it."""

    def ran(self, pcs: set[int]) -> None:
        """What the interpreter ran after the exit (`exit`'s set, filled)."""


class NativeProgram:
    """A linked program: its entry point, and what keeps its code mapped: the resource tracker
    of its library and the generation (the LLJIT and the runtime library) it was linked into."""

    __slots__ = (
        "entry_symbol", "address", "run", "env_mask", "code_size", "_tracker", "_generation",
        "side_exit",
    )  # fmt: skip

    def __init__(
        self,
        entry: str,
        tracker: object,
        address: int,
        env_mask: int,
        size: int,
        generation: object = None,
    ):
        self.entry_symbol = entry
        self._tracker = tracker
        self._generation = generation
        self.address = address
        self.run = ENTRY_FUNCTYPE(address)
        self.env_mask = env_mask
        self.code_size = size
        #: a region program's side-exit counter, called with the pc of every FALLBACK exit
        #: (set by the runtime; None for a whole program)
        self.side_exit: SideExits | None = None


#: programs linked into one LLJIT before the next link starts a new one (see `_Generation`)
LINKS_PER_GENERATION = 32


class _Generation:
    """One LLJIT with the runtime library linked into it, and the programs linked after it.

    Dropping a program's resource tracker unmaps its code, but llvmlite cannot remove the
    program's JITDylib from the LLJIT's session: its name, symbol tables and search generator
    stay behind (about 10 KB a link, and every later link gets slower). So after
    `LINKS_PER_GENERATION` links a fresh LLJIT takes over (about 0.5 ms: the runtime library's
    object code is built once per process), and an old one is destroyed, with everything its
    session kept, when its last program goes: every program holds its generation, and the C++
    side keeps an LLJIT alive while any tracker of it exists.

    The price: a generation kept by one live program keeps all of it (about 0.5 MB: the LLJIT,
    its runtime library, the shells of its dead links). Programs linked close in time usually
    go together; the worst case (one survivor in every generation) is about 0.5 MB per live
    program, all of it returned when the programs go.
    """

    __slots__ = ("lljit", "rtlib", "links", "__weakref__")

    def __init__(self) -> None:
        from pyevm_jit.compiler import rtlib

        tm = target_machine(DEFAULT_OPT_LEVEL)
        self.lljit = llvm.create_lljit_compiler(tm)
        builder = llvm.JITLibraryBuilder().add_current_process()
        builder.add_object_img(rtlib.compile_rtlib_object(tm))
        for name in rtlib.EXPORTED_SYMBOLS:
            builder.export_symbol(name)
        self.rtlib = builder.link(self.lljit, RTLIB_LIBRARY)
        self.links = 0


class _Linker:
    """Links programs into the current generation (see `_Generation`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: _Generation | None = None
        #: a generation of its own for `rtlib_address` (kept for the life of the process)
        self._library: _Generation | None = None
        self.generations = 0

    def _generation(self) -> _Generation:
        current = self._current
        if current is None or current.links >= LINKS_PER_GENERATION:
            current = self._current = _Generation()
            self.generations += 1
        return current

    def prepare(self) -> None:
        with self._lock:
            self._generation()

    def rtlib_address(self, name: str) -> int:
        with self._lock:
            if self._library is None:
                self._library = _Generation()
            return self._library.rtlib[name]

    def link(self, obj: ObjectCode) -> NativeProgram:
        with self._lock:
            generation = self._generation()
            generation.links += 1
            name = f"{obj.entry_symbol}#{generation.links}"
            meta = obj.entry_symbol + "_meta"
            try:
                tracker = (
                    llvm.JITLibraryBuilder()
                    .add_object_img(obj.object_bytes)
                    .add_jit_library(RTLIB_LIBRARY)
                    .add_current_process()
                    .export_symbol(obj.entry_symbol)
                    .export_symbol(meta)
                    .link(generation.lljit, name)
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
                obj.entry_symbol, tracker, address, env_mask, len(obj.object_bytes), generation
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
    """The address of a runtime-library function (in a library kept for the whole process)."""
    return _linker.rtlib_address(name)
