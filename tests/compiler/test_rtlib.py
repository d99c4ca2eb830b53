"""The native runtime library against Python integers and eth_hash's Keccak-256.

Every function is called through ctypes at its address in the process-wide LLJIT, with 32-byte
little-endian buffers, exactly as generated programs call it.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from functools import cache

import llvmlite.binding as llvm
import llvmlite.ir as ir
import pytest
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyevm_jit.compiler import rtlib
from pyevm_jit.compiler.link import rtlib_address
from pyevm_jit.compiler.target import target_machine

M = 1 << 256
MASK64 = (1 << 64) - 1

# --- reference semantics --------------------------------------------------------------------


def _signed(x: int) -> int:
    return x - M if x >> 255 else x


def ref_div(a: int, b: int) -> int:
    return a // b if b else 0


def ref_mod(a: int, b: int) -> int:
    return a % b if b else 0


def ref_sdiv(a: int, b: int) -> int:
    sa, sb = _signed(a), _signed(b)
    if sb == 0:
        return 0
    q = abs(sa) // abs(sb)
    return (-q if (sa < 0) != (sb < 0) else q) % M


def ref_smod(a: int, b: int) -> int:
    sa, sb = _signed(a), _signed(b)
    if sb == 0:
        return 0
    r = abs(sa) % abs(sb)
    return (-r if sa < 0 else r) % M


def ref_exp(a: int, b: int) -> int:
    return pow(a, b, M)


def ref_addmod(a: int, b: int, n: int) -> int:
    return (a + b) % n if n else 0


def ref_mulmod(a: int, b: int, n: int) -> int:
    return (a * b) % n if n else 0


BINARY: dict[str, Callable[[int, int], int]] = {
    "pyevmjit_udiv256": ref_div,
    "pyevmjit_umod256": ref_mod,
    "pyevmjit_sdiv256": ref_sdiv,
    "pyevmjit_smod256": ref_smod,
    "pyevmjit_exp256": ref_exp,
}
TERNARY: dict[str, Callable[[int, int, int], int]] = {
    "pyevmjit_addmod256": ref_addmod,
    "pyevmjit_mulmod256": ref_mulmod,
}

# --- calling the native code ------------------------------------------------------------------


@cache
def _portable_library() -> tuple[object, object]:
    """The portable library (the non-x86 code: reciprocal division) in its own LLJIT."""
    tm = target_machine()
    module = rtlib.build_rtlib_module(tm.triple, portable=True)
    obj = rtlib.emit_rtlib_object(module, tm)
    lljit = llvm.create_lljit_compiler(tm)
    builder = llvm.JITLibraryBuilder().add_object_img(obj)
    for name in rtlib.EXPORTED_SYMBOLS:
        builder.export_symbol(name)
    return lljit, builder.link(lljit, "pyevmjit_rt_portable")


def _portable_address(name: str) -> int:
    return _portable_library()[1][name]  # type: ignore[index,no-any-return]


VARIANTS: dict[str, Callable[[str], int]] = {
    "linked": rtlib_address,  # what generated programs call
    "portable": _portable_address,
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def lib(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@cache
def _word_fn(lib: str, name: str, nargs: int) -> Callable[..., None]:
    proto = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * (nargs + 1)))
    return proto(VARIANTS[lib](name))  # type: ignore[no-any-return]


def native(name: str, *args: int, lib: str = "linked") -> int:
    fn = _word_fn(lib, name, len(args))
    bufs = [ctypes.create_string_buffer(x.to_bytes(32, "little"), 32) for x in args]
    out = ctypes.create_string_buffer(b"\xa5" * 32, 32)
    fn(*[ctypes.addressof(buf) for buf in bufs], ctypes.addressof(out))
    return int.from_bytes(out.raw, "little")


def native_in_place(name: str, *args: int, out_index: int) -> int:
    """Call with the output pointer equal to input `out_index` (aliasing)."""
    fn = _word_fn("linked", name, len(args))
    bufs = [ctypes.create_string_buffer(x.to_bytes(32, "little"), 32) for x in args]
    fn(*[ctypes.addressof(buf) for buf in bufs], ctypes.addressof(bufs[out_index]))
    return int.from_bytes(bufs[out_index].raw, "little")


@cache
def _keccak_fn() -> Callable[[int, int, int], None]:
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p)
    return proto(rtlib_address("pyevmjit_keccak256"))  # type: ignore[no-any-return]


def native_keccak(data: bytes, offset: int = 0) -> bytes:
    buf = ctypes.create_string_buffer(b"\x00" * offset + data, offset + len(data) + 1)
    out = ctypes.create_string_buffer(32)
    _keccak_fn()(ctypes.addressof(buf) + offset, len(data), ctypes.addressof(out))
    return out.raw


# --- a model of algorithm D on 64-bit limbs, to know which inputs need the add-back step -------


def _limbs(x: int, n: int) -> list[int]:
    return [(x >> (64 * i)) & MASK64 for i in range(n)]


def _nlimbs(x: int) -> int:
    return max(1, (x.bit_length() + 63) // 64)


def _join(limbs: list[int]) -> int:
    return sum(limb << (64 * i) for i, limb in enumerate(limbs))


def knuth_events(a: int, d: int) -> set[str]:
    """The rare branches Knuth's algorithm D with 64-bit digits takes dividing a by d:
    "qhat_max" (top limbs equal), "rhat_overflow" (no correction test possible),
    "two_corrections" and "add_back"."""
    n, m = _nlimbs(d), _nlimbs(a)
    events: set[str] = set()
    if d == 0 or n == 1 or a < d:
        return events
    shift = 64 - (d >> (64 * (n - 1))).bit_length()
    un, vn = _limbs(a << shift, m + 1), _limbs(d << shift, n)
    divisor = _join(vn)
    for j in range(m - n, -1, -1):
        hi, lo, lo2 = un[j + n], un[j + n - 1], un[j + n - 2]
        if hi >= vn[n - 1]:
            events.add("qhat_max")
            qhat, rhat = MASK64, lo + vn[n - 1]
            if rhat >> 64:
                events.add("rhat_overflow")
        else:
            qhat, rhat = divmod((hi << 64) | lo, vn[n - 1])
        corrections = 0
        for _ in range(2):
            if rhat >> 64 == 0 and qhat * vn[n - 2] > (rhat << 64) | lo2:
                qhat, rhat = qhat - 1, rhat + vn[n - 1]
                corrections += 1
            else:
                break
        if corrections == 2:
            events.add("two_corrections")
        part = _join(un[j : j + n + 1]) - qhat * divisor
        if part < 0:
            events.add("add_back")
            part += divisor
        un[j : j + n + 1] = _limbs(part, n + 1)
    return events


def knuth_needs_add_back(a: int, d: int) -> bool:
    return "add_back" in knuth_events(a, d)


# (dividend, divisor) pairs taking each rare branch, found like the vectors below
RARE_BRANCHES: dict[str, list[tuple[int, int]]] = {
    "qhat_max": [
        (0x1800000000000000000000000000000010000000000000002, 0x180000000000000018000000000000000),
        (
            0xFFFFFFFFFFFFFFFE000000000000000000000000000000028000000000000001,
            0xFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF8000000000000000,
        ),
    ],
    "rhat_overflow": [
        (
            0xFFFFFFFFFFFFFFFE8000000000000000FFFFFFFFFFFFFFFF0000000000000000,
            0x7FFFFFFFFFFFFFFF7FFFFFFF00000000,
        ),
        (
            0xFFFFFFFFFFFFFFFE7FFFFFFFFFFFFFFF00000000000000017FFFFFFFFFFFFFFF,
            0xFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFE,
        ),
        (
            0xFFFFFFFFFFFFFFFF00000000000000010000000000000002FFFFFFFFFFFFFFFE,
            0xFFFFFFFFFFFFFFFF80000000000000000000000000000002,
        ),
    ],
    "two_corrections": [
        (
            0xFFFFFFFFFFFFFFFF000000000000000200000000000000000000000000000000,
            0x100000000000000017FFFFFFFFFFFFFFF0000000000000002,
        ),
        (
            0xFFFFFFFFFFFFFFFF80000000000000017FFFFFFFFFFFFFFF8000000000000000,
            0x8000000000000001FFFFFFFFFFFFFFFF,
        ),
        (0xFFFFFFFFFFFFFFFE80000000000000007FFFFFFFFFFFFFFF, 0x10000000000000001FFFFFFFFFFFFFFFE),
    ],
}

# Found by searching words built from the limbs below with the model above.
ADD_BACK_DIV = [
    (
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000000000027FFFFFFFFFFFFFFF,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE8000000000000000,
    ),
    (
        0xFFFFFFFFFFFFFFFE7FFFFFFFFFFFFFFF7FFFFFFFFFFFFFFF0000000000000001,
        0x1000000000000000080000000000000018000000000000001,
    ),
    (
        0xFFFFFFFFFFFFFFFF7FFFFFFFFFFFFFFF80000000000000017FFFFFFFFFFFFFFF,
        0x800000000000000100000000000000028000000000000001,
    ),
    (
        0x1000000000000000000000000000000028000000000000001,
        0x80000000000000000000000000000001FFFFFFFFFFFFFFFE,
    ),
    (
        0x800000000000000000000000000000010000000000000002FFFFFFFFFFFFFFFE,
        0x800000000000000000000000000000018000000000000001,
    ),
    (
        0xFFFFFFFFFFFFFFFF000000000000000200000000000000008000000000000000,
        0x7FFFFFFFFFFFFFFF800000000000000100000000000000018000000000000000,
    ),
]
ADD_BACK_MULMOD = [
    (
        0x80000000000000018000000000000001FFFFFFFFFFFFFFFF7FFFFFFFFFFFFFFF,
        0x7FFFFFFFFFFFFFFF0000000000000001FFFFFFFFFFFFFFFF7FFFFFFFFFFFFFFF,
        0x80000000000000018000000000000001FFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF,
    ),
    (
        0xFFFFFFFFFFFFFFFF8000000000000000FFFFFFFFFFFFFFFF8000000000000001,
        0x10000000000000000FFFFFFFFFFFFFFFE0000000000000001,
        0x100000000000000017FFFFFFFFFFFFFFF,
    ),
    (
        0x7FFFFFFF0000000000000000000000008000000000000000FFFFFFFFFFFFFFFF,
        0x800000000000000000000000000000027FFFFFFF00000000,
        0x7FFFFFFF000000000000000000000002FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE,
    ),
]
ADD_BACK_ADDMOD = [
    (
        0x1000000000000000100000000000000020000000000000002,
        0xFFFFFFFFFFFFFFFF0000000000000002FFFFFFFFFFFFFFFF0000000000000002,
        0x800000000000000000000000000000020000000000000002,
    ),
    (
        0xFFFFFFFFFFFFFFFE000000000000000080000000000000008000000000000001,
        0x8000000000000001FFFFFFFFFFFFFFFF8000000000000001FFFFFFFFFFFFFFFF,
        0x80000000000000000000000000000000FFFFFFFFFFFFFFFF0000000000000002,
    ),
]

EDGES = sorted(
    {
        0,
        1,
        2,
        3,
        7,
        10,
        MASK64 - 1,
        MASK64,
        1 << 64,
        (1 << 64) + 1,
        (1 << 127) - 1,
        1 << 127,
        (1 << 128) - 1,
        1 << 128,
        (1 << 128) + 1,
        (1 << 192) - 1,
        1 << 192,
        (1 << 192) | MASK64,
        (1 << 192) + 1,  # top limb small
        (1 << 255) - 1,
        1 << 255,
        (1 << 255) + 1,
        M - 2,
        M - 1,
        0x8000000000000000FFFFFFFFFFFFFFFF0000000000000000FFFFFFFFFFFFFFFF,
    }
)

_LIMB_CHOICES = [
    0,
    1,
    2,
    MASK64,
    MASK64 - 1,
    1 << 63,
    (1 << 63) - 1,
    (1 << 63) + 1,
    0x7FFFFFFF << 32,
]

# --- strategies ------------------------------------------------------------------------------

structured_words = st.lists(st.sampled_from(_LIMB_CHOICES), min_size=1, max_size=4).map(_join)
words = st.one_of(
    st.integers(0, M - 1),
    st.sampled_from(EDGES),
    st.integers(0, 8).flatmap(lambda k: st.integers(0, (1 << (32 * k)) - 1)),
    structured_words,
)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- API -------------------------------------------------------------------------------------


def test_exported_symbols_resolve() -> None:
    assert set(rtlib.EXPORTED_SYMBOLS) == set(rtlib.SIGNATURES)
    for name in rtlib.EXPORTED_SYMBOLS:
        assert rtlib_address(name) != 0


def test_declare_rtlib_is_idempotent_and_matches() -> None:
    module = ir.Module(name="program")
    first = rtlib.declare_rtlib(module)
    second = rtlib.declare_rtlib(module)
    assert set(first) == set(rtlib.EXPORTED_SYMBOLS)
    for name in rtlib.EXPORTED_SYMBOLS:
        assert first[name] is second[name]
        assert first[name].is_declaration
        # callers may keep other memory in registers across the call
        assert {"nounwind", "argmemonly"} <= set(first[name].attributes)
    built = rtlib.build_rtlib_module()
    for name in rtlib.EXPORTED_SYMBOLS:
        assert str(built.globals[name].function_type) == str(first[name].function_type)
    llvm.parse_assembly(str(module)).verify()


def test_compile_is_cached_and_avoids_wide_division() -> None:
    tm = target_machine()
    obj = rtlib.compile_rtlib_object(tm)
    assert rtlib.compile_rtlib_object(tm) is obj
    # no compiler-rt helpers (the memory helpers call libc's realloc, memset and memcpy)
    for symbol in (b"__udivti3", b"__umodti3"):
        assert symbol not in obj
    text = str(rtlib.build_rtlib_module())
    for op in ("udiv i256", "urem i256", "udiv i512", "urem i512", "udiv i320", "urem i320"):
        assert op not in text


def test_other_targets_get_portable_ir() -> None:
    """Without x86-64 there is no inline assembly and no 128-bit division (a library call)."""
    text = str(rtlib.build_rtlib_module("aarch64-unknown-linux-gnu"))
    assert "divq" not in text and " asm " not in text
    assert "udiv i128" not in text and "urem i128" not in text
    llvm.parse_assembly(text).verify()
    assert "divq" in str(rtlib.build_rtlib_module("x86_64-unknown-linux-gnu"))
    obj = rtlib.emit_rtlib_object(rtlib.build_rtlib_module(portable=True), target_machine())
    assert b"__udivti3" not in obj and b"__umodti3" not in obj


def test_only_exported_functions_are_external() -> None:
    module = rtlib.build_rtlib_module()
    defined = {
        fn.name for fn in module.functions if not fn.is_declaration and fn.linkage != "internal"
    }
    assert defined == set(rtlib.EXPORTED_SYMBOLS)


# --- arithmetic ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_edges(lib: str, name: str) -> None:
    ref = BINARY[name]
    for a, b in itertools.product(EDGES, repeat=2):
        assert native(name, a, b, lib=lib) == ref(a, b), (name, hex(a), hex(b))


@pytest.mark.parametrize("name", sorted(TERNARY))
def test_ternary_edges(lib: str, name: str) -> None:
    ref = TERNARY[name]
    for a, b, n in itertools.product(EDGES, repeat=3):
        assert native(name, a, b, n, lib=lib) == ref(a, b, n), (name, hex(a), hex(b), hex(n))


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(a=words, b=words)
def test_binary_random(lib: str, name: str, a: int, b: int) -> None:
    assert native(name, a, b, lib=lib) == BINARY[name](a, b)


@pytest.mark.parametrize("name", sorted(TERNARY))
@SETTINGS
@given(a=words, b=words, n=words)
def test_ternary_random(lib: str, name: str, a: int, b: int, n: int) -> None:
    assert native(name, a, b, n, lib=lib) == TERNARY[name](a, b, n)


@SETTINGS
@given(q=words, d=words, r=st.integers(0, M - 1))
def test_division_identity(lib: str, q: int, d: int, r: int) -> None:
    """Dividends built as q*d + r with r < d: exact quotients and remainders near the edges."""
    if d == 0:
        return
    r %= d
    a = q * d + r
    if a >= M:
        return
    assert native("pyevmjit_udiv256", a, d, lib=lib) == q
    assert native("pyevmjit_umod256", a, d, lib=lib) == r


def test_add_back_vectors(lib: str) -> None:
    for a, d in ADD_BACK_DIV:
        assert knuth_needs_add_back(a, d)
        assert native("pyevmjit_udiv256", a, d, lib=lib) == a // d
        assert native("pyevmjit_umod256", a, d, lib=lib) == a % d
        for sa, sd in ((M - a, d), (a, M - d), (M - a, M - d)):
            assert native("pyevmjit_sdiv256", sa, sd, lib=lib) == ref_sdiv(sa, sd)
            assert native("pyevmjit_smod256", sa, sd, lib=lib) == ref_smod(sa, sd)
    for a, b, n in ADD_BACK_MULMOD:
        assert knuth_needs_add_back(a * b, n)
        assert native("pyevmjit_mulmod256", a, b, n, lib=lib) == (a * b) % n
    for a, b, n in ADD_BACK_ADDMOD:
        assert a + b >= M and knuth_needs_add_back(a + b, n)
        assert native("pyevmjit_addmod256", a, b, n, lib=lib) == (a + b) % n


@pytest.mark.parametrize("branch", sorted(RARE_BRANCHES))
def test_rare_branch_vectors(lib: str, branch: str) -> None:
    for a, d in RARE_BRANCHES[branch]:
        assert branch in knuth_events(a, d)
        assert native("pyevmjit_udiv256", a, d, lib=lib) == a // d
        assert native("pyevmjit_umod256", a, d, lib=lib) == a % d
        # the same division inside a 512-bit MULMOD product and a 257-bit ADDMOD sum
        assert native("pyevmjit_mulmod256", a, M - 1, d, lib=lib) == a * (M - 1) % d
        assert native("pyevmjit_addmod256", a, M - 1, d, lib=lib) == (a + M - 1) % d


def test_structured_words_reach_add_back(lib: str) -> None:
    """The structured-limb strategy does exercise the add-back branch (guards the model)."""
    values = [_join(list(c)) for c in itertools.product(_LIMB_CHOICES[:6], repeat=3)]
    hits = 0
    for a, b in itertools.product(values[::7], values[::5]):
        x, d = (a << 64) | 0xFFFF, b
        if x < M and knuth_needs_add_back(x, d):
            hits += 1
            assert native("pyevmjit_udiv256", x, d, lib=lib) == x // d
            assert native("pyevmjit_umod256", x, d, lib=lib) == x % d
    assert hits > 0


def test_signed_specials() -> None:
    minus = lambda v: (-v) % M  # noqa: E731
    int_min = 1 << 255
    assert native("pyevmjit_sdiv256", int_min, minus(1)) == int_min
    assert native("pyevmjit_smod256", int_min, minus(1)) == 0
    assert native("pyevmjit_sdiv256", minus(7), 2) == minus(3)
    assert native("pyevmjit_smod256", minus(7), 2) == minus(1)
    assert native("pyevmjit_smod256", 7, minus(2)) == 1
    assert native("pyevmjit_sdiv256", minus(7), 0) == 0
    assert native("pyevmjit_smod256", minus(7), 0) == 0


def test_exp_specials() -> None:
    assert native("pyevmjit_exp256", 0, 0) == 1
    assert native("pyevmjit_exp256", 0, M - 1) == 0
    assert native("pyevmjit_exp256", M - 1, M - 1) == M - 1
    assert native("pyevmjit_exp256", 3, M - 1) == pow(3, M - 1, M)
    assert native("pyevmjit_exp256", 2, 255) == 1 << 255
    assert native("pyevmjit_exp256", 2, 256) == 0


@pytest.mark.parametrize("name", sorted(BINARY))
def test_output_may_alias_inputs_binary(name: str) -> None:
    a, b = 0xDEADBEEF << 150 | 12345, (1 << 130) + 987654321
    for index in (0, 1):
        assert native_in_place(name, a, b, out_index=index) == BINARY[name](a, b)


@pytest.mark.parametrize("name", sorted(TERNARY))
def test_output_may_alias_inputs_ternary(name: str) -> None:
    a, b, n = M - 3, (1 << 200) + 77, (1 << 190) + 5
    for index in (0, 1, 2):
        assert native_in_place(name, a, b, n, out_index=index) == TERNARY[name](a, b, n)


# --- Keccak-256 ------------------------------------------------------------------------------


def _pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 131 + seed * 7 + (i >> 3)) & 0xFF for i in range(n))


def test_keccak_known_vector() -> None:
    assert native_keccak(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_keccak_lengths() -> None:
    for n in range(0, 301):
        data = _pattern(n, n)
        assert native_keccak(data) == keccak(data), n


@pytest.mark.parametrize("n", [135, 136, 137, 271, 272, 273, 408, 1000, 4096 + 3])
def test_keccak_block_boundaries(n: int) -> None:
    for fill in (0x00, 0xFF):
        data = bytes([fill]) * n
        assert native_keccak(data) == keccak(data)
    data = _pattern(n, 3)
    assert native_keccak(data) == keccak(data)


@pytest.mark.parametrize("offset", [1, 3, 7])
def test_keccak_unaligned_input(offset: int) -> None:
    for n in (5, 64, 136, 200):
        data = _pattern(n, offset)
        assert native_keccak(data, offset) == keccak(data)


@SETTINGS
@given(data=st.binary(min_size=0, max_size=700))
def test_keccak_random(data: bytes) -> None:
    assert native_keccak(data) == keccak(data)
