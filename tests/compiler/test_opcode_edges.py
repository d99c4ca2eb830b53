"""Per opcode group, the JIT against the stock interpreter on edge values, across forks.

Each test builds a program whose observable outcome (return data, storage, logs, gas) depends on
every edge case it exercises, pins down what the stock interpreter does with it (`expect`), and
asserts that the JIT reproduces the full outcome and really ran native code
(`differential.check`).
"""

from __future__ import annotations

import itertools

import pytest

from pyevm_jit.forks import fork_at_least, valid_opcodes
from pyevm_jit.opcodes import BY_NAME
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import (
    MAX_U256,
    AsmItem,
    Label,
    Ref,
    asm,
    push,
    return_stack,
    store_stack,
)
from pyevm_jit.testing.differential import (
    BURNER,
    CALLEE,
    DESTRUCTOR,
    MAIN_FORKS,
    REVERTER,
    RICH,
    STORER,
    Scenario,
    check,
    standard_accounts,
)

# forks where arithmetic gas/semantics differ: EXP byte cost (Spurious Dragon), shifts
# (Constantinople), then the newest two
ARITH_FORKS = ("frontier", "spurious-dragon", "constantinople", "cancun")

EDGES = (
    0, 1, 2, 31, 32, 255, 256, 2**63, 2**64 - 1, 2**64, 2**128 + 1,
    2**255 - 1, 2**255, MAX_U256 - 1, MAX_U256,
)  # fmt: skip
SMALL_EDGES = (0, 1, 2, 2**64 - 1, 2**64, 2**255, MAX_U256 - 1, MAX_U256)

BINARY = (
    "ADD", "MUL", "SUB", "DIV", "SDIV", "MOD", "SMOD", "EXP", "SIGNEXTEND",
    "LT", "GT", "SLT", "SGT", "EQ", "AND", "OR", "XOR", "BYTE", "SHL", "SHR", "SAR",
)  # fmt: skip
SHIFT_AMOUNTS = (0, 1, 8, 63, 64, 128, 255, 256, 257, 2**64, 2**64 + 1, 2**255, MAX_U256)


def _results(items: list[list[AsmItem]]) -> bytes:
    """Each item computes one word; the program returns all of them."""
    code = b""
    for i, item in enumerate(items):
        code += asm(*item, i * 32, "MSTORE")
    code += asm(len(items) * 32, 0, "RETURN")
    assert len(code) <= 24_576, "test program over the JIT's code size limit"
    return code


def _skip_absent(fork: str, *mnemonics: str) -> None:
    for name in mnemonics:
        if BY_NAME[name] not in valid_opcodes(fork):
            pytest.skip(f"{name} does not exist in {fork}")


# --- arithmetic, comparison, bitwise -----------------------------------------------------------


@pytest.mark.parametrize("fork", ARITH_FORKS)
@pytest.mark.parametrize("op", BINARY)
def test_binary_edges(op: str, fork: str) -> None:
    _skip_absent(fork, op)
    items: list[list[AsmItem]] = [[b, a, op] for a, b in itertools.product(EDGES, EDGES)]
    check(Scenario(code=_results(items), fork=fork, gas=3_000_000), expect="success")


@pytest.mark.parametrize("fork", ("byzantium", "cancun"))
@pytest.mark.parametrize("op", ("SHL", "SHR", "SAR"))
def test_shift_amounts(op: str, fork: str) -> None:
    _skip_absent(fork, op)
    values = (1, 2**255, MAX_U256, 2**255 - 1, 0x8000_0000_0000_0000)
    items: list[list[AsmItem]] = [[v, s, op] for s in SHIFT_AMOUNTS for v in values]
    check(Scenario(code=_results(items), fork=fork), expect="success")


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
@pytest.mark.parametrize("op", ("BYTE", "SIGNEXTEND"))
def test_index_ops_large_indexes(op: str, fork: str) -> None:
    indexes = (0, 1, 15, 30, 31, 32, 33, 255, 256, 2**64, 2**64 + 1, 2**255, MAX_U256)
    values = (0x0102030405060708091011121314151617181920212223242526272829303132, 0x80, 2**255)
    items: list[list[AsmItem]] = [[v, i, op] for i in indexes for v in values]
    check(Scenario(code=_results(items), fork=fork), expect="success")


@pytest.mark.parametrize("fork", ARITH_FORKS)
@pytest.mark.parametrize("op", ("ADDMOD", "MULMOD"))
def test_ternary_edges(op: str, fork: str) -> None:
    # one program per first operand, to stay under the JIT's code size limit
    for a in SMALL_EDGES:
        items: list[list[AsmItem]] = [
            [n, b, a, op] for b, n in itertools.product(SMALL_EDGES, SMALL_EDGES)
        ]
        check(Scenario(code=_results(items), fork=fork), expect="success")


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_unary_edges(fork: str) -> None:
    items: list[list[AsmItem]] = [[v, op] for v in EDGES for op in ("ISZERO", "NOT")]
    check(Scenario(code=_results(items), fork=fork), expect="success")


def test_division_by_zero_and_sdiv_overflow() -> None:
    items: list[list[AsmItem]] = [
        [0, 7, "DIV"], [0, 7, "SDIV"], [0, 7, "MOD"], [0, 7, "SMOD"],
        [0, 0, "DIV"], [0, 5, 7, "ADDMOD"], [0, 5, 7, "MULMOD"],
        [MAX_U256, 2**255, "SDIV"], [MAX_U256, 2**255, "SMOD"],
        [2**255, 2**255, "SDIV"], [MAX_U256, MAX_U256, "SDIV"],
    ]  # fmt: skip
    for fork in ("frontier", "cancun"):
        check(Scenario(code=_results(items), fork=fork), expect="success")


@pytest.mark.parametrize("fork", ("frontier", "spurious-dragon", "cancun"))
def test_exp_large_exponents_and_gas(fork: str) -> None:
    items: list[list[AsmItem]] = [
        [e, b, "EXP"]
        for b in (0, 1, 2, 3, 255, 2**128, MAX_U256)
        for e in (0, 1, 2, 255, 256, 2**64, 2**128 - 1, 2**255, MAX_U256)
    ]
    check(Scenario(code=_results(items), fork=fork), expect="success")
    # out of gas half-way through the exponent bytes
    check(
        Scenario(code=asm(MAX_U256, 3, "EXP", 0, "SSTORE"), fork=fork, gas=21_000 + 500),
        expect="OutOfGas",
    )


# --- Keccak -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_keccak_sizes(fork: str) -> None:
    items: list[list[AsmItem]] = [
        [0, 0, "SHA3"],
        [0, 2**64, "SHA3"],  # size 0 at a huge offset: no expansion
        [1, 0, "SHA3"],
        [32, 0, "SHA3"],
        [33, 5, "SHA3"],
        [136, 0, "SHA3"],  # one Keccak block exactly
        [137, 0, "SHA3"],
        [1000, 7, "SHA3"],
        [100_000, 0, "SHA3"],
    ]
    setup = asm(0x0102030405060708, 0, "MSTORE", 0xAB, 100, "MSTORE8")
    check(Scenario(code=setup + _results(items), fork=fork, gas=2_000_000), expect="success")


@pytest.mark.parametrize("size", (2**32, 2**64 - 1, 2**64, MAX_U256))
def test_keccak_huge_size_is_out_of_gas(size: int) -> None:
    check(Scenario(code=asm(size, 0, "SHA3"), fork="cancun"), expect="OutOfGas")


# --- memory -------------------------------------------------------------------------------------

HUGE_OFFSETS = (2**32 - 32, 2**32, 2**64 - 32, 2**64 - 1, 2**64, 2**64 + 32, 2**255, MAX_U256)


@pytest.mark.parametrize("offset", HUGE_OFFSETS)
@pytest.mark.parametrize("op", ("MLOAD", "MSTORE", "MSTORE8"))
def test_memory_huge_offsets_out_of_gas(op: str, offset: int) -> None:
    code = asm(offset, "MLOAD") if op == "MLOAD" else asm(0x42, offset, op)
    check(Scenario(code=code, fork="cancun"), expect="OutOfGas")


@pytest.mark.parametrize(
    "template",
    (
        ("{o}", 1, "SHA3"),
        (1, "{o}", "RETURN"),
        (1, "{o}", "REVERT"),
        (1, 0, "{o}", "CALLDATACOPY"),
        (1, 0, "{o}", "CODECOPY"),
        (1, 0, "{o}", d.addr(CALLEE), "EXTCODECOPY"),
        (1, "{o}", "LOG0"),
        (1, 0, "{o}", "MCOPY"),
        (1, "{o}", 0, "MCOPY"),
        ("{o}", 0, 0, "MCOPY"),
    ),
    ids=lambda t: "-".join(str(x) for x in t if isinstance(x, str) and x != "{o}"),
)
@pytest.mark.parametrize("offset", (2**32, 2**64 - 1, 2**64 + 32, MAX_U256))
def test_memory_huge_operands_out_of_gas(template: tuple[AsmItem, ...], offset: int) -> None:
    items = [offset if x == "{o}" else x for x in template]
    check(Scenario(code=asm(*items), fork="cancun"), expect="OutOfGas")


def test_memory_zero_size_ignores_offset() -> None:
    for fork in ("frontier", "cancun"):
        code = asm(
            0, MAX_U256, "SHA3", 0, "SSTORE",
            0, 2**64, 2**64, "CALLDATACOPY",
            0, 2**64, 2**64, "CODECOPY",
            0, 2**64, "LOG0", "MSIZE", 1, "SSTORE",
            0, MAX_U256, "RETURN",
        )  # fmt: skip
        check(Scenario(code=code, fork=fork), expect="success")


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_msize_and_expansion_gas(fork: str) -> None:
    code = asm(
        "MSIZE", "GAS", 0, "MLOAD", "POP", "MSIZE", "GAS",
        1, 31, "MSTORE8", "MSIZE", 7, 33, "MSTORE", "MSIZE", "GAS",
        1000, "MLOAD", "POP", "MSIZE", "GAS", 0xFF, 32 * 1024, "MSTORE8", "MSIZE", "GAS",
        *return_stack(11),
    )  # fmt: skip
    check(Scenario(code=code, fork=fork), expect="success")


@pytest.mark.parametrize(
    "dst,src,size",
    ((0, 0, 64), (0, 5, 64), (5, 0, 64), (31, 32, 33), (32, 31, 33), (0, 200, 32), (64, 0, 0),
     (1, 0, 100), (0, 1, 100), (300, 250, 96)),
)  # fmt: skip
def test_mcopy_overlaps(dst: int, src: int, size: int) -> None:
    code = asm(
        0x0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20, 0, "MSTORE",
        0x2122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F40, 32, "MSTORE",
        0xABCDEF, 64, "MSTORE",
        size, src, dst, "MCOPY", "MSIZE", "GAS", 1, "SSTORE", 2, "SSTORE",
        "MSIZE", 0, "RETURN",
    )  # fmt: skip
    check(Scenario(code=code, fork="cancun"), expect="success")


def test_mcopy_absent_before_cancun() -> None:
    check(Scenario(code=asm(32, 0, 0, "MCOPY"), fork="shanghai"), expect="InvalidInstruction")


# --- calldata, code, return data ---------------------------------------------------------------

CALLDATA = bytes(range(1, 70))


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_calldataload_offsets(fork: str) -> None:
    offsets = (0, 1, 37, 68, 69, 70, 100, 2**32, 2**64 - 1, 2**64, MAX_U256)
    items: list[list[AsmItem]] = [[o, "CALLDATALOAD"] for o in offsets]
    items.append(["CALLDATASIZE"])
    check(Scenario(code=_results(items), fork=fork, calldata=CALLDATA), expect="success")


@pytest.mark.parametrize("op", ("CALLDATACOPY", "CODECOPY"))
@pytest.mark.parametrize(
    "src,size",
    ((0, 32), (60, 32), (69, 10), (70, 5), (2**64, 32), (MAX_U256, 40), (MAX_U256, 0),
     (2**32, 64), (1, 200)),
)  # fmt: skip
def test_copy_out_of_bounds_zero_fills(op: str, src: int, size: int) -> None:
    code = asm(
        MAX_U256, 0, "MSTORE", MAX_U256, 32, "MSTORE", size, src, 3, op, "MSIZE", 0, "RETURN"
    )
    for fork in ("frontier", "cancun"):
        check(Scenario(code=code, fork=fork, calldata=CALLDATA), expect="success")


def test_codesize_codecopy_whole_code() -> None:
    code = asm("CODESIZE", 0, 0, "CODECOPY", "CODESIZE", 0, "RETURN", b"\x5b\xfe\x60")
    check(Scenario(code=code, fork="cancun"), expect="success")


@pytest.mark.parametrize("fork", ("byzantium", "cancun"))
@pytest.mark.parametrize(
    "src,size,ok",
    ((0, 32, True), (0, 33, False), (1, 32, False), (32, 0, True), (33, 0, False),
     (2**64, 0, False), (MAX_U256, 1, False), (0, 0, True)),
)  # fmt: skip
def test_returndatacopy_bounds(fork: str, src: int, size: int, ok: bool) -> None:
    code = asm(
        32, 0, 32, 0, 0, d.addr(CALLEE), 100_000, "CALL", 5, "SSTORE",
        "RETURNDATASIZE", 6, "SSTORE",
        size, src, 64, "RETURNDATACOPY", "MSIZE", 64, "RETURN",
    )  # fmt: skip
    check(
        Scenario(code=code, fork=fork, accounts=standard_accounts()),
        expect="success" if ok else "OutOfBoundsRead",
    )


def test_returndata_opcodes_absent_in_homestead() -> None:
    for op in ("RETURNDATASIZE", "RETURNDATACOPY"):
        check(Scenario(code=asm(0, 0, 0, op), fork="homestead"), expect="InvalidInstruction")


# --- control flow ------------------------------------------------------------------------------


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_jumps(fork: str) -> None:
    ok = asm(Ref("a"), "JUMP", "INVALID", Label("a"), 1, 0, "SSTORE")
    check(Scenario(code=ok, fork=fork), expect="success")
    # JUMPI not taken with an invalid target, taken with a valid one; loop with a counter
    loop = asm(
        0, 0xFFFF, "JUMPI", 5, Label("top"), 1, "SWAP1", "SUB", "DUP1", Ref("top"), "JUMPI",
        "PC", "GAS", *store_stack(2),
    )  # fmt: skip
    check(Scenario(code=loop, fork=fork), expect="success")
    for target in (1, 2**64 + 5, 2**256 - 1, 0xFFFF, 6):
        bad = asm(target, "JUMP", 0, 0, "JUMPDEST", "STOP")
        check(Scenario(code=bad, fork=fork), expect="InvalidJumpDestination")
        check(
            Scenario(code=asm(1, target, "JUMPI", "JUMPDEST", "STOP"), fork=fork),
            expect="InvalidJumpDestination",
        )


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_jump_into_push_data(fork: str) -> None:
    # PUSH2 0x5b5b: the 0x5b bytes at offsets 4 and 5 are data, not JUMPDESTs (py-evm reports
    # InvalidInstruction for a 0x5b in PUSH data, InvalidJumpDestination elsewhere)
    for target in (4, 5):
        code = asm(target, "JUMP", b"\x61\x5b\x5b", "JUMPDEST", "STOP")
        check(Scenario(code=code, fork=fork), expect="InvalidInstruction")
    code = asm(6, "JUMP", b"\x61\x5b\x5b", "JUMPDEST", 1, 0, "SSTORE")
    check(Scenario(code=code, fork=fork), expect="success")


@pytest.mark.parametrize("n", (1, 2, 16, 32))
def test_truncated_push_at_end(n: int) -> None:
    # the PUSH runs off the end; its missing bytes read as zeros; its data is not a JUMPDEST
    code = asm("PC", 0, "SSTORE") + bytes([0x5F + n]) + b"\x5b" * (n // 2)
    check(Scenario(code=code, fork="cancun"), expect="success")
    target = 4 + (len(code) - 1 if n > 1 else len(code))
    jump = asm(push(target, 2), "JUMP")
    check(Scenario(code=jump + code, fork="cancun"), expect="error")


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_pc_gas_msize(fork: str) -> None:
    code = asm(
        "PC", "GAS", "MSIZE", 1, 2, "ADD", "PC", "GAS", 1, 64, "MSTORE", "MSIZE", "GAS",
        Label("x"), "PC", "GAS", *return_stack(10),
    )  # fmt: skip
    check(Scenario(code=code, fork=fork), expect="success")


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_stop_return_revert_invalid(fork: str) -> None:
    check(Scenario(code=asm(7, 0, "SSTORE", "STOP", 1, 1, "SSTORE"), fork=fork), expect="success")
    check(Scenario(code=asm(0xAB, 0, "MSTORE", 2, 30, "RETURN"), fork=fork), expect="success")
    check(Scenario(code=asm(7, 0, "SSTORE", "INVALID"), fork=fork), expect="InvalidInstruction")
    if fork_at_least(fork, "byzantium"):
        check(
            Scenario(code=asm(7, 0, "SSTORE", 0xAB, 0, "MSTORE", 2, 30, "REVERT"), fork=fork),
            expect="revert",
        )


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_stack_limits(fork: str) -> None:
    check(Scenario(code=asm(*(["PC"] * 1024), "SSTORE"), fork=fork), expect="success")
    check(Scenario(code=asm(*(["PC"] * 1025)), fork=fork), expect="FullStack")
    check(Scenario(code=asm(1, "ADD"), fork=fork), expect="InsufficientStack")
    check(Scenario(code=asm(*range(1, 16), "DUP16"), fork=fork), expect="InsufficientStack")
    check(Scenario(code=asm(*range(1, 17), "SWAP16"), fork=fork), expect="InsufficientStack")
    check(
        Scenario(code=asm(*range(1, 18), "SWAP16", "DUP16", *return_stack(17)), fork=fork),
        expect="success",
    )


# --- environment ------------------------------------------------------------------------------

ENV_OPS = (
    "ADDRESS", "ORIGIN", "CALLER", "CALLVALUE", "CALLDATASIZE", "CODESIZE", "GASPRICE",
    "COINBASE", "TIMESTAMP", "NUMBER", "PREVRANDAO", "GASLIMIT", "CHAINID", "SELFBALANCE",
    "BASEFEE", "BLOBBASEFEE", "RETURNDATASIZE", "PUSH0",
)  # fmt: skip


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_environment(fork: str) -> None:
    present = [op for op in ENV_OPS if BY_NAME[op] in valid_opcodes(fork)]
    items: list[list[AsmItem]] = [[op] for op in present]
    if BY_NAME["BLOBHASH"] in valid_opcodes(fork):
        items += [[0, "BLOBHASH"], [MAX_U256, "BLOBHASH"]]
    code = _results(items)
    check(
        Scenario(code=code, fork=fork, calldata=b"\x01\x02", value=5, balance=9), expect="success"
    )


# --- host operations --------------------------------------------------------------------------


@pytest.mark.parametrize("fork", MAIN_FORKS)
@pytest.mark.parametrize(
    "original,writes",
    (
        (0, (1,)), (0, (1, 0)), (1, (0,)), (1, (2,)), (1, (0, 1)), (1, (2, 1)),
        (1, (0, 2, 0)), (0, (0,)), (5, (5,)), (3, (0, 0, 3)),
    ),
)  # fmt: skip
def test_sstore_gas_and_refunds(fork: str, original: int, writes: tuple[int, ...]) -> None:
    code = b"".join(asm(w, 0, "SSTORE", "GAS", 1, "SSTORE") for w in writes)
    code += asm(0, "SLOAD", 2, "SSTORE")
    check(Scenario(code=code, fork=fork, storage={0: original, 1: 7}), expect="success")


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_sload_cold_warm(fork: str) -> None:
    code = asm(
        "GAS", 0, "SLOAD", "GAS", 0, "SLOAD", "GAS", MAX_U256, "SLOAD", "GAS", *return_stack(7)
    )
    check(Scenario(code=code, fork=fork, storage={0: 42, MAX_U256: 1}), expect="success")


@pytest.mark.parametrize("fork", ("shanghai", "cancun", "prague"))
def test_transient_storage(fork: str) -> None:
    code = asm(
        7, 0, "TSTORE", 0, "TLOAD", 1, "TLOAD", MAX_U256, MAX_U256, "TSTORE", MAX_U256, "TLOAD",
        "GAS", *return_stack(4),
    )  # fmt: skip
    expect = "success" if fork_at_least(fork, "cancun") else "InvalidInstruction"
    check(Scenario(code=code, fork=fork), expect=expect)


@pytest.mark.parametrize("fork", ("frontier", "byzantium", "cancun"))
def test_logs(fork: str) -> None:
    code = asm(
        0x1122334455, 0, "MSTORE",
        0, 0, "LOG0",
        5, 27, "LOG0",
        0xA1, 32, 0, "LOG1",
        0xB2, 0xB1, 1, 31, "LOG2",
        0xC3, 0xC2, MAX_U256, 64, 10, "LOG3",
        0xD4, 0xD3, 0xD2, 0xD1, 0, 100, "LOG4",
    )  # fmt: skip
    check(Scenario(code=code, fork=fork), expect="success")


def test_logs_reverted_and_in_static_context() -> None:
    code = asm(0xA1, 0, 0, "LOG1", 0, 0, "REVERT")
    check(Scenario(code=code, fork="cancun"), expect="revert")
    static = asm(0, 0, 0, 0, d.addr(CALLEE), 50_000, "STATICCALL", 0, "SSTORE")
    logging_callee = {**standard_accounts(), CALLEE: Account(code=asm(0, 0, "LOG0"))}
    check(Scenario(code=static, fork="cancun", accounts=logging_callee), expect="success")


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_balance_and_extcode(fork: str) -> None:
    targets = (d.CONTRACT, CALLEE, RICH, bytes.fromhex("dead" * 10), b"\x00" * 19 + b"\x01")
    items: list[list[AsmItem]] = []
    for t in targets:
        a = d.addr(t)
        items += [["GAS"], [a, "BALANCE"], ["GAS"], [a, "EXTCODESIZE"], ["GAS"]]
        if BY_NAME["EXTCODEHASH"] in valid_opcodes(fork):
            items.append([a, "EXTCODEHASH"])
    code = _results(items)
    check(Scenario(code=code, fork=fork, accounts=standard_accounts(), balance=3), expect="success")


@pytest.mark.parametrize("fork", ("frontier", "berlin", "cancun"))
def test_extcodecopy(fork: str) -> None:
    code = asm(
        40, 0, 0, d.addr(CALLEE), "EXTCODECOPY",
        10, 2**64, 50, d.addr(CALLEE), "EXTCODECOPY",
        33, 5, 100, 0xDEAD, "EXTCODECOPY",
        0, MAX_U256, MAX_U256, d.addr(CALLEE), "EXTCODECOPY",
        "MSIZE", 0, "RETURN",
    )  # fmt: skip
    check(Scenario(code=code, fork=fork, accounts=standard_accounts()), expect="success")


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_blockhash(fork: str) -> None:
    n = d.BLOCK_NUMBER
    items: list[list[AsmItem]] = [
        [q, "BLOCKHASH"] for q in (0, 1, n - 1, n - 256, n - 257, n, n + 1, 2**64, MAX_U256)
    ]
    check(Scenario(code=_results(items), fork=fork), expect="success")


def _call(op: str, to: bytes, gas: int | str = 100_000, value: int = 0) -> list[AsmItem]:
    args: list[AsmItem] = [32, 0, 32, 0]
    if op in ("CALL", "CALLCODE"):
        args.append(value)
    return [*args, d.addr(to), gas, op]


@pytest.mark.parametrize("fork", MAIN_FORKS)
@pytest.mark.parametrize("target", ("callee", "reverter", "burner", "storer", "destructor", "rich"))
@pytest.mark.parametrize("op", ("CALL", "CALLCODE", "DELEGATECALL", "STATICCALL"))
def test_calls(fork: str, target: str, op: str) -> None:
    _skip_absent(fork, op)
    to = {
        "callee": CALLEE, "reverter": REVERTER, "burner": BURNER, "storer": STORER,
        "destructor": DESTRUCTOR, "rich": RICH,
    }[target]  # fmt: skip
    returndata: list[AsmItem] = ["RETURNDATASIZE", 13, "SSTORE"]
    code = asm(
        0x42, 0, "MSTORE",
        *_call(op, to, value=3 if op in ("CALL", "CALLCODE") else 0),
        10, "SSTORE", "GAS", 11, "SSTORE", 0, "MLOAD", 12, "SSTORE",
        *(returndata if fork_at_least(fork, "byzantium") else []),
        *_call(op, to, gas="GAS"), 14, "SSTORE",
    )  # fmt: skip
    # (before Tangerine Whistle, CALL with all the GAS lets a burning child take the parent down)
    check(Scenario(code=code, fork=fork, accounts=standard_accounts(), balance=100, gas=300_000))


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_call_stipend_and_63_64(fork: str) -> None:
    for gas_arg, value in ((0, 1), (2300, 0), (2300, 1), (5000, 0), (MAX_U256, 0), (MAX_U256, 1)):
        code = asm(
            *_call("CALL", STORER, gas=gas_arg, value=value), 0, "SSTORE", "GAS", 1, "SSTORE"
        )
        for gas in (40_000, 100_000):
            check(
                Scenario(code=code, fork=fork, accounts=standard_accounts(), balance=10, gas=gas),
            )


@pytest.mark.parametrize("fork", ("frontier", "byzantium", "cancun"))
def test_call_depth_recursion(fork: str) -> None:
    code = asm(
        0, "SLOAD", 1, "ADD", 0, "SSTORE",
        0, 0, 0, 0, 0, "ADDRESS", "GAS", "CALL", 1, "SSTORE",
    )  # fmt: skip
    check(Scenario(code=code, fork=fork, gas=3_000_000))


INITCODES = {
    "ok": asm(0x60FE, 0, "MSTORE", 2, 30, "RETURN"),
    "revert": asm(0xEE, 0, "MSTORE", 32, 0, "REVERT"),
    "oog": asm(Label("l"), Ref("l"), "JUMP"),
    "empty": b"",
    "ef": asm(0xEF, 0, "MSTORE8", 1, 0, "RETURN"),
    "big": asm(0x6001, 0, "MSTORE", 24_577, 0, "RETURN"),
}


@pytest.mark.parametrize("fork", MAIN_FORKS)
@pytest.mark.parametrize("init", tuple(INITCODES))
@pytest.mark.parametrize("op", ("CREATE", "CREATE2"))
def test_create(fork: str, init: str, op: str) -> None:
    _skip_absent(fork, op)
    initcode = INITCODES[init]
    word = int.from_bytes(initcode.ljust(32, b"\0")[:32], "big") if initcode else 0
    salt: list[AsmItem] = [0x5A17] if op == "CREATE2" else []
    create = [*salt, len(initcode), 0, 0, op]
    code = asm(
        word, 0, "MSTORE", *create, 0, "SSTORE", "GAS", 1, "SSTORE",
        *create, 2, "SSTORE",  # again: CREATE2 collides with itself
        0, "SLOAD", "EXTCODESIZE", 3, "SSTORE",
    )  # fmt: skip
    expect = "success" if init == "ok" else None  # failing init code may starve the parent
    check(Scenario(code=code, fork=fork, gas=2_000_000, balance=5), expect=expect)


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_create_transaction(fork: str) -> None:
    init = asm(1, 0, "SSTORE", 0x60FE, 0, "MSTORE", 2, 30, "RETURN")
    check(Scenario(code=init, fork=fork, create=True, gas=300_000), expect="success")


@pytest.mark.parametrize("fork", MAIN_FORKS)
@pytest.mark.parametrize("beneficiary", ("self", "callee", "fresh"))
def test_selfdestruct(fork: str, beneficiary: str) -> None:
    to = {"self": d.CONTRACT, "callee": CALLEE, "fresh": bytes.fromhex("be" * 20)}[beneficiary]
    code = asm(1, 0, "SSTORE", d.addr(to), "SELFDESTRUCT")
    check(
        Scenario(code=code, fork=fork, balance=1000, storage={5: 5}, accounts=standard_accounts()),
        expect="success",
    )
    # a callee that self-destructs, then is called again in the same transaction
    code = asm(*_call("CALL", DESTRUCTOR), 0, "SSTORE", *_call("CALL", DESTRUCTOR), 1, "SSTORE")
    check(Scenario(code=code, fork=fork, accounts=standard_accounts()), expect="success")


@pytest.mark.parametrize("fork", ("byzantium", "cancun"))
def test_static_call_violations(fork: str) -> None:
    for callee_code in (
        asm(1, 0, "SSTORE"),
        asm(0, 0, "LOG0"),
        asm(0, 0, 0, "CREATE"),
        asm("CALLER", "SELFDESTRUCT"),
        asm(0, 0, 0, 0, 1, d.addr(CALLEE), 0, "CALL"),
        asm(0, 0, 0, 0, 0, d.addr(CALLEE), 10_000, "CALL", 0, "SSTORE"),
    ):
        accounts = {**standard_accounts(), STORER: Account(code=callee_code)}
        code = asm(
            0, 0, 0, 0, d.addr(STORER), 50_000, "STATICCALL", 0, "SSTORE", "GAS", 1, "SSTORE"
        )
        check(Scenario(code=code, fork=fork, accounts=accounts, balance=1), expect="success")


# --- opcodes that do not exist in a fork --------------------------------------------------------

NEW_OPCODES = (
    "DELEGATECALL", "REVERT", "RETURNDATASIZE", "RETURNDATACOPY", "STATICCALL", "SHL", "SHR",
    "SAR", "CREATE2", "EXTCODEHASH", "CHAINID", "SELFBALANCE", "BASEFEE", "PUSH0", "TLOAD",
    "TSTORE", "MCOPY", "BLOBHASH", "BLOBBASEFEE", "CLZ",
)  # fmt: skip
NEVER_VALID = (0x0C, 0x0F, 0x21, 0x2F, 0x4B, 0x4F, 0xA5, 0xB0, 0xEF, 0xF6, 0xFB, 0xFE)


@pytest.mark.parametrize("fork", MAIN_FORKS)
def test_absent_opcodes_are_invalid(fork: str) -> None:
    table = valid_opcodes(fork)
    absent = [BY_NAME[n] for n in NEW_OPCODES if BY_NAME[n] not in table]
    for op in [*absent, *NEVER_VALID]:
        code = asm(*([1] * 7), 5, 0, "SSTORE") + bytes([op]) + asm(1, 1, "SSTORE")
        check(Scenario(code=code, fork=fork), expect="InvalidInstruction")
