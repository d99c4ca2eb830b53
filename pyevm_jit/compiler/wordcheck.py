"""A native comparison of machine words at given addresses, for checks on the hot path.

`words_differ(buffer)` reads `n` words, each at its own address, and compares each (masked) with
its expected value, in one call from Python (`lean.inplace` checks that py-evm's opcode objects
a program stands in for are unchanged this way: their slots, their classes, their classes'
version tags). The buffer is `n`, then `n` triples (address, mask, expected) of unsigned 64-bit
words; the answer is 0 when every word matches, else 1 + the index of the first that does not.

The function is built once per process (a few milliseconds, its own LLJIT) on first use.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence

import llvmlite.binding as llvm
import llvmlite.ir as ir

from pyevm_jit.compiler.target import target_machine

SYMBOL = "pyevmjit_words_differ"
#: called with the GIL held (it never calls back into Python)
WORDS_FUNCTYPE = ctypes.PYFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)

_lock = threading.Lock()
_built: tuple[object, object, Callable[[int], int]] | None = None


def _module() -> str:
    module = ir.Module(name="pyevmjit_wordcheck")
    module.triple = llvm.get_process_triple()
    i64 = ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(i64, [i64.as_pointer()]), SYMBOL)
    (buffer,) = fn.args
    start = fn.append_basic_block("start")
    head = fn.append_basic_block("head")
    body = fn.append_basic_block("body")
    same = fn.append_basic_block("same")
    differs = fn.append_basic_block("differs")
    b = ir.IRBuilder(start)
    count = b.load(buffer)
    b.branch(head)
    b.position_at_end(head)
    index = b.phi(i64, "index")
    index.add_incoming(ir.Constant(i64, 0), start)
    b.cbranch(b.icmp_unsigned("<", index, count), body, same)
    b.position_at_end(body)
    base = b.add(b.mul(index, ir.Constant(i64, 3)), ir.Constant(i64, 1))
    address = b.load(b.gep(buffer, [base]))
    mask = b.load(b.gep(buffer, [b.add(base, ir.Constant(i64, 1))]))
    expected = b.load(b.gep(buffer, [b.add(base, ir.Constant(i64, 2))]))
    word = b.load(b.inttoptr(address, i64.as_pointer()), align=1)
    following = b.add(index, ir.Constant(i64, 1))
    index.add_incoming(following, body)
    b.cbranch(b.icmp_unsigned("==", b.and_(word, mask), expected), head, differs)
    b.position_at_end(same)
    b.ret(ir.Constant(i64, 0))
    b.position_at_end(differs)
    b.ret(following)
    return str(module)


def words_differ() -> Callable[[int], int]:
    """The native function (built on first use; raises RuntimeError when it cannot be)."""
    global _built
    with _lock:
        if _built is None:
            lljit = llvm.create_lljit_compiler(target_machine())
            tracker = (
                llvm.JITLibraryBuilder()
                .add_ir(_module())
                .export_symbol(SYMBOL)
                .link(lljit, "pyevmjit_wordcheck")
            )
            address = tracker[SYMBOL]
            if not address:
                raise RuntimeError(f"{SYMBOL} not found after linking")
            _built = (lljit, tracker, WORDS_FUNCTYPE(address))
        return _built[2]


class WordBuffer:
    """The buffer `words_differ` reads: `n`, then (address, mask, expected) per word."""

    __slots__ = ("array", "address")

    def __init__(self, triples: Sequence[tuple[int, int, int]]) -> None:
        flat = [len(triples)]
        for address, mask, expected in triples:
            flat.extend((address, mask, expected & mask))
        self.array = (ctypes.c_uint64 * len(flat))(*flat)
        self.address = ctypes.addressof(self.array)
