"""titanoboa on the JIT (pyevm_jit.integrations.boa): each way titanoboa observes py-evm, with
native code, against stock py-evm in the same process.

Every test runs the same Vyper calls in a stock titanoboa environment and in one switched to
the JIT (a blocking backend: every contract is compiled before its first message), checks that
the JIT side really ran native code, and compares what titanoboa reports. Skipped when
titanoboa is not installed (`pip install -e '.[boa]'`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak

boa = pytest.importorskip("boa", reason="titanoboa is not installed (pip install -e '.[boa]')")

from boa.profiling import _SingleComputation, global_profile  # noqa: E402
from boa.vm.gas_meters import NoGasMeter, ProfilingGasMeter  # noqa: E402

from pyevm_jit import JitBackend  # noqa: E402
from pyevm_jit.integrations import boa as boa_jit  # noqa: E402


class Side:
    """One titanoboa environment (stock or JIT) and what ran in it."""

    def __init__(self, backend: JitBackend | None) -> None:
        self.env = boa.Env()
        self.backend = backend
        if backend is not None:
            boa_jit.enable(self.env, backend)

    def run(self, fn: Callable[[], Any]) -> Any:
        with boa.swap_env(self.env):
            return fn()

    def stats(self) -> Any:
        assert self.backend is not None
        return self.backend.stats()


@pytest.fixture
def sides(backend: JitBackend) -> tuple[Side, Side]:
    return Side(None), Side(backend)


def both(sides: tuple[Side, Side], fn: Callable[[], Any]) -> tuple[Any, Any]:
    """`fn` in the stock environment, then in the JIT one, which must run native code only."""
    stock, jit = sides
    expected = stock.run(fn)
    before = jit.stats()
    actual = jit.run(fn)
    after = jit.stats()
    assert after.lookup_hits > before.lookup_hits, "no message ran native code"
    assert after.lookup_misses == before.lookup_misses, "a message was interpreted"
    return expected, actual


def error_text(contract: Any, call: Callable[[], Any]) -> str:
    """What titanoboa prints for a failing call, with the contract's address made neutral."""
    with pytest.raises(boa.BoaError) as info:
        call()
    return str(info.value).replace(str(contract.address), "<contract>")


REVERTS = """
# pragma version ~=0.4.0
@external
def check(a: uint256) -> uint256:
    assert a < 10, "too big"
    return a

@external
def dev(a: uint256) -> uint256:
    assert a != 3  # dev: no threes
    return a * 2

@external
def overflow(a: uint256) -> uint256:
    return a * 2**255
"""


def test_revert_reasons_with_source_lines(sides: tuple[Side, Side]) -> None:
    def run() -> list[str]:
        c = boa.loads(REVERTS)
        with boa.reverts("too big"):
            c.check(11)
        with boa.reverts(dev="no threes"):
            c.dev(3)
        with boa.reverts(compiler="safemul"):
            c.overflow(2)
        return [error_text(c, lambda: c.check(12)), error_text(c, lambda: c.dev(3))]

    expected, actual = both(sides, run)
    assert actual == expected
    assert "assert a < 10" in actual[0] and "line 5" in actual[0]
    assert "no threes" in actual[1]


INNER = """
# pragma version ~=0.4.0
@external
def boom(x: uint256) -> uint256:
    assert x > 100, "inner says no"
    return x
"""
OUTER = """
# pragma version ~=0.4.0
interface Inner:
    def boom(x: uint256) -> uint256: nonpayable

@external
def relay(inner: address, x: uint256) -> uint256:
    y: uint256 = x + 1
    return extcall Inner(inner).boom(y)
"""


def test_stack_trace_through_a_nested_call(sides: tuple[Side, Side]) -> None:
    def run() -> str:
        inner, outer = boa.loads(INNER), boa.loads(OUTER)
        assert outer.relay(inner.address, 200) == 201
        text = error_text(outer, lambda: outer.relay(inner.address, 5))
        return text.replace(str(inner.address), "<inner>")

    expected, actual = both(sides, run)
    assert actual == expected
    assert "inner says no" in actual and "extcall Inner(inner).boom(y)" in actual


STORAGE = """
# pragma version ~=0.4.0
balances: public(HashMap[address, uint256])
grid: HashMap[uint256, HashMap[uint256, uint256]]
total: public(uint256)

@external
def put(who: address, v: uint256):
    self.balances[who] = v
    self.grid[v][v + 1] = v * 3
    self.total += v
"""
WHO = ["0x" + f"{i:02x}" * 20 for i in (1, 2, 3)]


def test_sha3_and_sstore_traces(sides: tuple[Side, Side]) -> None:
    def run() -> tuple[dict[bytes, bytes], set[int], str]:
        env = boa.env
        c = boa.loads(STORAGE)
        env.sha3_trace, env.sstore_trace = {}, {}
        for i, who in enumerate(WHO):
            c.put(who, i + 7)
        # every Env's tracer records every message (they wrap one shared table): read this
        # run's entries before the other side runs
        slots = env.sstore_trace[c.address]
        return dict(env.sha3_trace), set(slots), repr(c._storage.dump())

    expected, actual = both(sides, run)
    assert actual == expected
    preimage = bytes(32) + bytes(12) + bytes.fromhex(WHO[0][2:])  # Vyper: slot 0, then the key
    assert actual[0][keccak(preimage)] == preimage
    assert "balances" in actual[2]


BRANCHES = """
# pragma version ~=0.4.0
@external
def pick(a: uint256) -> uint256:
    if a > 5:
        return a - 5
    return a + 5
"""


def test_branch_coverage_of_a_jumpi(sides: tuple[Side, Side]) -> None:
    def run() -> tuple[list[list[int]], list[int]]:
        env = boa.env
        c = boa.loads(BRANCHES)
        lines: list[int] = []
        env._coverage_enabled = True  # what titanoboa's coverage plugin turns on
        env._trace_cov = lambda filename, node: lines.append(node.lineno)
        traces = []
        for a in (7, 2):
            c.pick(a)
            traces.append(list(c._computation.code._trace))
        return traces, lines

    expected, actual = both(sides, run)
    assert actual == expected
    (taken, not_taken), lines = actual
    assert taken != not_taken  # the JUMPI went both ways
    assert {6, 7} <= set(lines)  # `return a - 5` and `return a + 5`


PROFILED = """
# pragma version ~=0.4.0
interface Inner:
    def boom(x: uint256) -> uint256: nonpayable

data: HashMap[uint256, uint256]

@external
def work(n: uint256, inner: address) -> uint256:
    acc: uint256 = 0
    buf: DynArray[uint256, 64] = []
    for i: uint256 in range(n, bound=64):
        buf.append(i * i)
        acc += convert(keccak256(convert(i, bytes32)), uint256) % 7
        self.data[i] = acc + i
    acc += extcall Inner(inner).boom(500)
    return acc + len(buf)
"""


def test_gas_profile_per_line_equals_stock(sides: tuple[Side, Side]) -> None:
    def run() -> tuple[list[Any], Any, Any]:
        env = boa.env
        inner, c = boa.loads(INNER), boa.loads(PROFILED)
        with env.gas_meter_class(ProfilingGasMeter):
            c.work(40, inner.address)
        computation = c._computation
        profile = _SingleComputation(c, computation)
        by_line = {key: vars(datum) for key, datum in profile.by_line.items()}
        by_pc = {pc: vars(datum) for pc, datum in profile.by_pc.items()}
        return list(computation._gas_meter._gas_used_of.items()), by_line, by_pc

    try:
        expected, actual = both(sides, run)
    finally:  # titanoboa's pytest plugin would print the profiles at the end of the session
        global_profile().call_profiles.clear()
        global_profile().line_profiles.clear()
    assert actual[0] == expected[0]  # per pc, in the order of first use
    assert actual[1] == expected[1]
    assert actual[2] == expected[2]
    assert len(actual[1]) > 5


MEMORY = """
# pragma version ~=0.4.0
@external
def grow(n: uint256) -> uint256:
    a: DynArray[uint256, 4000] = []
    for i: uint256 in range(n, bound=4000):
        a.append(i)
    return len(a)
"""


def test_out_of_gas_mid_block_is_py_evms_error(sides: tuple[Side, Side]) -> None:
    def run() -> tuple[str, list[int]]:
        c = boa.loads(MEMORY)
        assert c.grow(3) == 3
        with pytest.raises(boa.BoaError):
            c.grow(3000, gas=60_000)
        computation = c._computation
        return repr(computation.error), list(computation.code._trace[-20:])

    expected, actual = both(sides, run)
    assert actual == expected
    assert actual[0].startswith("OutOfGas('Out of gas: Needed")


def test_messages_native_code_cannot_serve_are_interpreted(
    sides: tuple[Side, Side],
) -> None:
    stock, jit = sides

    def run() -> int:
        c = boa.loads(BRANCHES)
        with boa.env.gas_meter_class(NoGasMeter):  # no gas metering: interpreted
            return int(c.pick(9))

    before = jit.stats()
    assert jit.run(run) == stock.run(run) == 4
    after = jit.stats()
    assert after.misses_by_reason["Ineligible"] > before.misses_by_reason["Ineligible"]


def test_enable_disable_and_new_vms(backend: JitBackend) -> None:
    env = boa.Env()

    def call() -> int:
        with boa.swap_env(env):
            return int(boa.loads(BRANCHES).pick(1))

    assert not boa_jit.is_enabled(env)
    assert boa_jit.enable(env, backend) is backend
    assert boa_jit.enable(env) is backend  # idempotent
    hits = backend.stats().lookup_hits
    assert call() == 6
    assert backend.stats().lookup_hits > hits
    env.evm._init_vm()  # what fork_rpc does: a new VM from the chain, still on the JIT
    hits = backend.stats().lookup_hits
    assert call() == 6
    assert backend.stats().lookup_hits > hits
    boa_jit.disable(env)
    assert not boa_jit.is_enabled(env)
    hits = backend.stats().lookup_hits
    assert call() == 6
    assert backend.stats().lookup_hits == hits


def test_enable_for_new_envs(backend: JitBackend) -> None:
    boa_jit.enable_for_new_envs(backend)
    try:
        env = boa.Env()
        assert boa_jit.is_enabled(env)
    finally:
        boa_jit.disable_for_new_envs()
        boa_jit.disable(env)
        boa_jit.disable()
    assert not boa_jit.is_enabled(boa.Env())


def test_many_environments(backend: JitBackend) -> None:
    """Every titanoboa environment wraps SHA3 and SSTORE of py-evm's shared table once more:
    after hundreds of them the JIT still recognises the chains and runs messages natively."""
    envs = [boa.Env() for _ in range(300)]
    jit = Side(backend)
    assert jit.run(lambda: int(boa.loads(STORAGE).total())) == 0
    del envs
    before = jit.stats()
    stock = Side(None).run(lambda: _put_and_dump())
    assert jit.run(lambda: _put_and_dump()) == stock
    after = jit.stats()
    assert after.lookup_hits > before.lookup_hits
    assert after.lookup_misses == before.lookup_misses


def _put_and_dump() -> tuple[int, dict[bytes, bytes]]:
    boa.env.sha3_trace = {}
    c = boa.loads(STORAGE)
    c.put(WHO[1], 5)
    return int(c.total()), dict(boa.env.sha3_trace)


def test_fork_tables_after_import_boa() -> None:
    """titanoboa wraps SHA3 and SSTORE of py-evm's Prague table in place: programs are still
    compiled for py-evm's own table, and the wrapped table is not mistaken for it."""
    from pyevm_jit.compiler.codegen import translate
    from pyevm_jit.lean.exact import opcode_table_differences
    from pyevm_jit.opcodes import fork_spec, vm_classes

    table = vm_classes()["prague"]._state_class.computation_class.opcodes  # type: ignore[attr-defined]
    assert type(table[0x20]).__name__ == "Sha3PreimageTracer"
    assert fork_spec("prague").static_gas[0x20] == 30
    assert opcode_table_differences("prague", table) == ["SHA3 replaced"]
    assert "define" in translate(bytes.fromhex("6001600101"), "prague", "probe")


SUITE = '''
import boa

SOURCE = """
# pragma version ~=0.4.0
@external
def triple(x: uint256) -> uint256:
    return x * 3
"""


def test_triple():
    assert boa.loads(SOURCE, name="Triple").triple(5) == 15
'''


def test_a_suites_second_run_is_native_from_its_first_message(tmp_path: Path) -> None:
    """The pytest plugin with its default backend: the first run compiles in the background and
    stores what it compiled before the session ends; the second runs every message natively,
    from programs loaded from the store."""
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = dict(os.environ, PYEVM_JIT_STORE=str(tmp_path / "store"))
    env.pop("PYEVM_JIT_BLOCKING", None)
    env.pop("PYEVM_JIT_HOT_THRESHOLD", None)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    args += ["-p", "pyevm_jit.integrations.boa_pytest", "test_suite.py"]
    summaries = []
    for extra in ([], ["--pyevm-jit-report"]):
        done = subprocess.run(args + extra, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        line = re.search(
            r"pyevm-jit: (\d+) messages ran native code, (\d+) were interpreted .*; programs: "
            r"(\d+) compiled, (\d+) loaded from the store, (\d+) failed",
            done.stdout,
        )
        assert line is not None, done.stdout[-2000:]
        summaries.append([int(n) for n in line.groups()])
        report = re.search(
            r"pyevm-jit report: (\d+) contracts, (\d+) messages native, (\d+) interpreted",
            done.stdout,
        )
        if not extra:
            assert report is None
            continue
        # the per-contract report of the session adds up to its statistics, one row a code
        assert report is not None, done.stdout[-2000:]
        contracts, native, interpreted = (int(n) for n in report.groups())
        assert (native, interpreted) == tuple(summaries[-1][:2])
        assert contracts == summaries[-1][3]  # each code loaded from the store has its row
        assert "pyevm-jit report" not in done.stderr  # printed once, not again at exit
        assert "Triple (" in done.stdout  # contracts named as titanoboa names them
    first, second = summaries
    assert first[2] >= 2 and first[4] == 0  # the deployment's and the contract's code
    native, interpreted, compiled, loaded, _ = second
    assert native >= 2 and interpreted == 0
    assert compiled == 0 and loaded == first[2]
