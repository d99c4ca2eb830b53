"""One test per known JIT bug class (the list at the end of ../shared/ARCHITECTURE.md), each the
JIT against the stock interpreter in the same process (`differential.check`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_hash.auto import keccak

from pyevm_jit.forks import FORKS, valid_opcodes
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import (
    MAX_U256,
    AsmItem,
    Label,
    Ref,
    asm,
    disasm,
    push,
    return_stack,
    store_stack,
)
from pyevm_jit.testing.differential import (
    CALLEE,
    MAIN_FORKS,
    STORER,
    Scenario,
    check,
    standard_accounts,
)

TX = 21_000  # intrinsic gas of a call transaction without data


# 1. failure order in prepaid blocks ------------------------------------------------------------


@pytest.mark.parametrize("fork", ("constantinople", "petersburg", "istanbul", "berlin", "cancun"))
def test_sstore_with_less_than_stipend_left(fork: str) -> None:
    """From Istanbul on, SSTORE with gas left <= 2300 fails (EIP-2200) even when its cost would
    fit; a block whose static gas was charged up front must still fail at the right point."""
    code = asm(1, 0, "SSTORE", 2, 1, "SSTORE", "STOP")
    for extra in (2299, 2300, 2301, 2302, 2306, 2310, 5005, 5006, 22_105, 22_106, 25_000):
        check(Scenario(code=code, fork=fork, gas=TX + extra))


@pytest.mark.parametrize("fork", ("frontier", "istanbul", "cancun"))
def test_error_class_when_block_gas_runs_out_before_a_stack_error(fork: str) -> None:
    """A block [JUMPDEST PUSH1 ADD]: with little gas py-evm fails OutOfGas at some op, with
    more it fails InsufficientStack at ADD; the JIT's up-front block check must not change
    which one."""
    code = asm("JUMPDEST", 1, "ADD", 1, 1, "SSTORE")
    for extra in range(0, 10):
        check(Scenario(code=code, fork=fork, gas=TX + extra), expect="error")
    # and an invalid opcode after expensive ones in the same block
    code = asm(1, 2, "MUL", 3, "EXP", "INVALID")
    for extra in range(0, 30, 3):
        check(Scenario(code=code, fork=fork, gas=TX + extra), expect="error")


@pytest.mark.parametrize("fork", ("byzantium", "istanbul", "cancun"))
def test_static_call_checks_order(fork: str) -> None:
    """Write attempts in a static context fail (WriteProtection); with little gas the order of
    the gas check and the static check decides the error, and the parent sees only success=0."""
    callees = (
        asm(1, 0, "SSTORE"),
        asm(0xAA, 0, 0, "LOG1"),
        asm(0, 0, 0, "CREATE"),
        asm(0, 0, 0, 0, 1, d.addr(CALLEE), 0, "CALL"),
        asm("CALLER", "SELFDESTRUCT"),
        asm(1, 1, "TSTORE") if 0x5D in valid_opcodes(fork) else asm(1, 0, "SSTORE"),
    )
    for callee in callees:
        accounts = {**standard_accounts(), STORER: Account(code=callee)}
        for gas_arg in (0, 2, 3, 5, 8, 100, 2300, 20_000, 40_000):
            code = asm(
                0, 0, 0, 0, d.addr(STORER), gas_arg, "STATICCALL", 0, "SSTORE",
                "RETURNDATASIZE", 1, "SSTORE", "GAS", 2, "SSTORE",
            )  # fmt: skip
            check(Scenario(code=code, fork=fork, accounts=accounts), expect="success")


# 2. opcodes not active in a fork ---------------------------------------------------------------


@pytest.mark.parametrize("fork", FORKS)
def test_opcodes_absent_from_fork_table_are_invalid(fork: str) -> None:
    """Every byte that is not in py-evm's table for the fork is invalid there (checked for the
    bytes that some fork defines, and a few never-defined ones)."""
    all_defined: set[int] = set()
    for other in FORKS:
        all_defined |= valid_opcodes(other)
    table = valid_opcodes(fork)
    absent = sorted((all_defined - table) | {0x0C, 0x21, 0x4B, 0xA5, 0xEF, 0xF6})
    for op in absent:
        code = asm(*([2] * 8), 9, 0, "SSTORE") + bytes([op]) + asm(1, 1, "SSTORE")
        check(Scenario(code=code, fork=fork), expect="InvalidInstruction")


# 3. stack length after suspend/resume ------------------------------------------------------------


@pytest.mark.parametrize("fork", ("frontier", "berlin", "cancun"))
def test_stack_preserved_across_host_operations(fork: str) -> None:
    """Host operations suspend the native code; the stack below their operands, their results
    and the items the block pushed before them must all be intact on resume."""
    host_ops: list[list[AsmItem]] = [
        [0, "SLOAD"],
        [d.addr(CALLEE), "BALANCE"],
        [d.addr(CALLEE), "EXTCODESIZE"],
        [d.BLOCK_NUMBER - 1, "BLOCKHASH"],
        [0xAB, 1, "SSTORE", 1, "SLOAD"],
        [0, 0, 0, 0, 0, d.addr(CALLEE), 30_000, "CALL"],
        [0, 0, 0, "CREATE"],
    ]
    for host in host_ops:
        code = asm(
            0x11, 0x22, 0x33, "DUP3", "DUP3", *host, 0x44, "SWAP2", "DUP6",
            *host, "ADD", 0x55, *return_stack(9),
        )  # fmt: skip
        check(
            Scenario(code=code, fork=fork, accounts=standard_accounts(), storage={0: 7}),
            expect="success",
        )


@pytest.mark.parametrize("fork", ("istanbul", "cancun"))
def test_host_operations_near_the_stack_limit(fork: str) -> None:
    for depth in (1015, 1016, 1017, 1022, 1023):
        code = asm(
            *(["PC"] * depth), 0, 0, 0, 0, 0, d.addr(CALLEE), 30_000, "CALL", "PC", "SLOAD",
            *store_stack(2),
        )  # fmt: skip
        check(Scenario(code=code, fork=fork, accounts=standard_accounts()))


def test_stack_items_of_deep_frames_survive_nested_calls() -> None:
    """A frame with items on its stack calls itself recursively (native frames must not pile up
    and each resume must see its own stack)."""
    code = asm(
        0xAA, 0xBB, 0, "SLOAD", 1, "ADD", "DUP1", 0, "SSTORE",
        0, 0, 0, 0, 0, "ADDRESS", "GAS", "CALL",
        "ADD", "ADD", "NUMBER", "SSTORE",
    )  # fmt: skip
    for fork in ("byzantium", "cancun"):
        check(Scenario(code=code, fork=fork, gas=5_000_000))


# 4. JUMPDEST bytes inside PUSH data -----------------------------------------------------------


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_jumpdest_byte_inside_push_data(fork: str) -> None:
    for n in (1, 2, 16, 32):
        for j in range(n):
            data = bytearray(n)
            data[j] = 0x5B
            target = 4 + 1 + j  # [PUSH2 t][JUMP][PUSHn data...]
            code = asm(push(target, 2), "JUMP", bytes([0x5F + n]) + bytes(data), "JUMPDEST")
            check(Scenario(code=code, fork=fork), expect="error")
    # a computed (dynamic) target into PUSH data, and the real JUMPDEST right after it
    # [PUSH1 a][PUSH1 b][ADD][JUMP][PUSH1 0x5b][JUMPDEST]: 7 is data, 8 the JUMPDEST
    code = asm(3, 4, "ADD", "JUMP", b"\x60\x5b", "JUMPDEST", 1, 0, "SSTORE")
    check(Scenario(code=code, fork=fork), expect="error")
    code = asm(4, 4, "ADD", "JUMP", b"\x60\x5b", "JUMPDEST", 1, 0, "SSTORE")
    check(Scenario(code=code, fork=fork), expect="success")


# 5. truncated PUSH at the end of the code ------------------------------------------------------


@pytest.mark.parametrize("n", (1, 2, 3, 20, 31, 32))
def test_truncated_push_at_end_of_code(n: int) -> None:
    for have in sorted({0, 1, n - 1}):
        if have >= n:
            continue
        tail = bytes([0x5F + n]) + b"\x5b" * have
        code = asm("CODESIZE", "PC", *store_stack(2)) + tail
        check(Scenario(code=code, fork="cancun"), expect="success")
        # CODECOPY past the end of such code reads zeros
        code = asm("CODESIZE", 0, 0, "CODECOPY", 64, 0, "RETURN") + tail
        check(Scenario(code=code, fork="cancun"), expect="success")
        # the truncated PUSH data is never a jump destination
        prefix_len = 4
        body = asm(1, 0, "SSTORE") + tail
        target = prefix_len + len(body) - 1 if have else prefix_len + len(body)
        check(Scenario(code=asm(push(target, 2), "JUMP") + body, fork="cancun"), expect="error")


# 6. division/modulo by zero and SDIV overflow -------------------------------------------------


@pytest.mark.parametrize("fork", ("frontier", "cancun"))
def test_division_by_zero_and_sdiv_overflow(fork: str) -> None:
    code = asm(
        0, 5, "DIV", 0, 5, "SDIV", 0, 5, "MOD", 0, 5, "SMOD", 0, 1, 2, "ADDMOD", 0, 3, 4, "MULMOD",
        0, MAX_U256, "SDIV", 0, 2**255, "SMOD",
        MAX_U256, 2**255, "SDIV", MAX_U256, 2**255, "SMOD", 2**255, MAX_U256, "SDIV",
        MAX_U256, MAX_U256, "SMOD", 2**64, 2**128, "DIV", 0, 0, "DIV",
        *return_stack(14),
    )  # fmt: skip
    check(Scenario(code=code, fork=fork), expect="success")


# 7. memory offsets beyond 2^64 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    (
        asm(2**64, "MLOAD"),
        asm(1, 2**64 + 1, "MSTORE"),
        asm(1, MAX_U256, "MSTORE8"),
        asm(32, 2**64, "SHA3"),
        asm(2**64, 0, "SHA3"),
        asm(1, 0, 2**64, "CALLDATACOPY"),
        asm(2**64, 0, 0, "CODECOPY"),
        asm(1, 2**64, "RETURN"),
        asm(2**64, 0, "REVERT"),
        asm(1, 2**64, "LOG0"),
        asm(0, 0, 2**64, 0, 0, d.addr(CALLEE), 1000, "CALL"),
        asm(2**64, 0, 0, 0, 0, d.addr(CALLEE), 1000, "CALL"),
        asm(2**64, 0, 0, "CREATE"),
        asm(1, 0, 2**64, "MCOPY"),
    ),
    ids=lambda c: disasm(c).split()[-1],
)
def test_memory_offsets_beyond_2_64_end_out_of_gas(code: bytes) -> None:
    check(Scenario(code=code, fork="cancun", accounts=standard_accounts()), expect="OutOfGas")


# 8. CALL stipend and the 63/64 rule --------------------------------------------------------------


@pytest.mark.parametrize("fork", ("frontier", "tangerine-whistle", "istanbul", "berlin", "cancun"))
def test_call_stipend_and_all_but_one_64th(fork: str) -> None:
    for value in (0, 1):
        for gas_arg in (0, 1, 2299, 2300, 2301, 10_000, 50_000, 63_000, 64_000, MAX_U256):
            code = asm(
                0, 0, 0, 0, value, d.addr(STORER), gas_arg, "CALL", 0, "SSTORE",
                "GAS", 1, "SSTORE",
            )  # fmt: skip
            check(
                Scenario(
                    code=code, fork=fork, gas=TX + 70_000, balance=5, accounts=standard_accounts()
                )
            )
    # the child asks for all gas: it gets all but one 64th (from Tangerine Whistle on)
    code = asm(0, 0, 0, 0, 0, d.addr(CALLEE), "GAS", "CALL", "GAS", *store_stack(2))
    check(Scenario(code=code, fork=fork, accounts=standard_accounts()))


# 9. SSTORE gas and refunds per fork ---------------------------------------------------------------


@pytest.mark.parametrize("fork", FORKS)
def test_sstore_gas_and_refunds_every_fork(fork: str) -> None:
    patterns = ((0, (1, 0)), (1, (0,)), (1, (2, 1)), (1, (0, 1)), (2, (0, 3, 0)), (0, (0,)))
    for original, writes in patterns:
        code = b"".join(asm(w, 0, "SSTORE", "GAS", 2, "SSTORE") for w in writes)
        code += asm(1, "SLOAD", 1, "SSTORE", 0, 1, "SSTORE")  # clear slot 1 (refund)
        check(Scenario(code=code, fork=fork, storage={0: original, 1: 9}), expect="success")


# 10. CODECOPY in AOT code after reload ----------------------------------------------------------


def test_codecopy_in_aot_code_after_reload(tmp_path: Path) -> None:
    """Object code must not embed process addresses: compiled ahead of time into a store, then
    loaded by a fresh backend, CODECOPY/CODESIZE/PUSH32 must see this code."""
    from pyevm_jit.runtime import AotRequest, JitBackend, RuntimeConfig
    from pyevm_jit.runtime.store import FileArtifactStore

    code = asm(
        "CODESIZE", 0, 0, "CODECOPY", 2**256 - 3, "CODESIZE", "MSTORE",
        Ref("end"), "JUMP", b"\xde\xad\xbe\xef", Label("end"),
        "CODESIZE", 32, "ADD", 0, "RETURN",
    )  # fmt: skip
    fork = "cancun"
    scenario = Scenario(code=code, fork=fork)
    first = JitBackend.new(RuntimeConfig(enabled=True, store=FileArtifactStore(tmp_path)))
    try:
        first.prepare_aot(AotRequest(keccak(code), code, fork))
        assert first.wait_idle(timeout=300)
    finally:
        first.close()
    second = JitBackend.new(RuntimeConfig(enabled=True, store=FileArtifactStore(tmp_path)))
    try:
        check(scenario, backend=second, expect="success")
        stats = second.stats()
        assert stats.aot_loaded >= 1, stats
        assert stats.compilations_dispatched == 0, stats  # the native code came from the store
    finally:
        second.close()


# the same program, through a contract that calls it (a second message of the same code) --------


def test_same_code_called_twice_in_one_transaction() -> None:
    callee = asm("CALLDATASIZE", 0, 0, "CALLDATACOPY", "CODESIZE", 0, "MSTORE", 32, 0, "RETURN")
    accounts = {**standard_accounts(), CALLEE: Account(code=callee)}
    code = asm(
        32, 0, 0, 0, 0, d.addr(CALLEE), 50_000, "CALL",
        32, 0, 0, 0, 0, d.addr(CALLEE), 50_000, "CALL", "ADD", 0, "MLOAD", "ADD", 0, "SSTORE",
    )  # fmt: skip
    for fork in MAIN_FORKS:
        out = check(Scenario(code=code, fork=fork, accounts=accounts))
        assert out.status == "success"


# memory shared across the native/host boundary ----------------------------------------------------


@pytest.mark.parametrize("fork", ("byzantium", "cancun"))
def test_memory_shared_with_host_operations(fork: str) -> None:
    """Host operations read memory the native code wrote and write memory (growing it) that the
    native code then reads; MSIZE and expansion gas must agree on both sides."""
    code = asm(
        0x1234, 0, "MSTORE",  # native write, read by the callee as calldata
        32, 1000, 32, 0, 0, d.addr(CALLEE), 50_000, "CALL", "POP",  # host writes at 1000
        "MSIZE", 1000, "MLOAD", "ADD", 0, "SSTORE",
        40, 0, 3000, d.addr(CALLEE), "EXTCODECOPY",  # host grows memory to 3040
        "MSIZE", 3000, "MLOAD", "ADD", 1, "SSTORE",
        0xAA, 64, 990, "LOG1",  # host reads what the call wrote
        0xBEEF, 5000, "MSTORE", 0xCD, 2, 5030, "LOG1", "MSIZE", 2, "SSTORE",
        "RETURNDATASIZE", 32, 0, 4000, "RETURNDATACOPY", 4000, "MLOAD", 3, "SSTORE",
    )  # fmt: skip
    check(Scenario(code=code, fork=fork, accounts=standard_accounts()), expect="success")
