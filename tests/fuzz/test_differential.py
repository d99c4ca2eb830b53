"""Random stack-aware bytecode (hypothesis) through the JIT and the stock interpreter, comparing
the full outcome. Deterministic (derandomized, fixed example counts) and bounded in time."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyevm_jit import fuzz
from pyevm_jit.forks import FORKS as ALL_FORKS
from pyevm_jit.forks import valid_opcodes
from pyevm_jit.runtime import JitBackend
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm, return_stack

FORKS = d.MAIN_FORKS

SETTINGS = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def _scenario(data: st.DataObject, fork: str, max_ops: int) -> d.Scenario:
    src = fuzz.HypothesisSource(data)
    code = fuzz.generate_program(src, fork, max_ops=max_ops)
    calldata = data.draw(st.binary(max_size=68), label="calldata")
    gas = data.draw(st.sampled_from((30_000, 100_000, 300_000)), label="gas")
    return d.Scenario(
        code=code, fork=fork, calldata=calldata, gas=gas, accounts=d.standard_accounts()
    )


@pytest.mark.parametrize("fork", FORKS)
@SETTINGS
@given(data=st.data())
def test_random_programs_match_stock(fork: str, data: st.DataObject) -> None:
    scenario = _scenario(data, fork, max_ops=40)
    d.check(scenario)


@settings(SETTINGS, max_examples=20)
@given(data=st.data())
def test_random_long_programs_match_stock(data: st.DataObject) -> None:
    fork = data.draw(st.sampled_from(FORKS), label="fork")
    d.check(_scenario(data, fork, max_ops=150))


@settings(SETTINGS, max_examples=50)
@given(data=st.data())
def test_adversarial_shapes_match_stock(data: st.DataObject) -> None:
    fork = data.draw(st.sampled_from(FORKS), label="fork")
    d.check(fuzz.adversarial(fuzz.HypothesisSource(data), fork))


@settings(SETTINGS, max_examples=20)
@given(data=st.data())
def test_random_init_code_matches_stock(data: st.DataObject) -> None:
    """The program as the init code of a contract-creating transaction."""
    fork = data.draw(st.sampled_from(FORKS), label="fork")
    scenario = _scenario(data, fork, max_ops=30).with_(create=True, gas=400_000, calldata=b"")
    d.check(scenario)


# --- the harness itself (no JIT needed) ---------------------------------------------------------


def test_compare_reports_each_field() -> None:
    base = d.run_stock(d.Scenario(code=asm(7, 0, "SSTORE", 0xAA, 0, 0, "LOG1", 1, 0, "RETURN")))
    assert d.compare(base, base) == []
    other = d.run_stock(d.Scenario(code=asm(8, 0, "SSTORE", 0xAB, 0, 0, "LOG1", 1, 0, "RETURN")))
    diffs = d.compare(base, other)
    fields = {line.split(":")[0].split(" ")[0] for line in diffs}
    assert {"logs[0]", "state_root", "account"} <= fields, diffs
    assert any("storage[0x0]: expected 0x7, got 0x8" in line for line in diffs), diffs
    failing = d.run_stock(d.Scenario(code=asm(1, "ADD")))
    diffs = d.compare(base, failing)
    assert any(line.startswith("status:") for line in diffs)
    assert any(line.startswith("error:") for line in diffs)
    assert any(line.startswith("gas_remaining:") for line in diffs)


def test_stock_runs_are_deterministic_and_fresh() -> None:
    scenario = d.Scenario(code=asm(0, "SLOAD", 1, "ADD", 0, "SSTORE"), storage={0: 41})
    first, second = d.run_stock(scenario), d.run_stock(scenario)
    assert d.compare(first, second) == []
    assert first.accounts[d.CONTRACT].storage == {0: 42}


@pytest.mark.parametrize("fork", ALL_FORKS)
def test_every_fork_builds_and_runs(fork: str) -> None:
    out = d.run_stock(d.Scenario(code=asm("NUMBER", "TIMESTAMP", *return_stack(2)), fork=fork))
    assert out.status == "success"
    assert int.from_bytes(out.output[:32], "big") == d.TIMESTAMP
    assert int.from_bytes(out.output[32:], "big") == d.BLOCK_NUMBER


def test_generator_respects_fork_opcodes() -> None:
    import random

    src = fuzz.RandomSource(random.Random(5))
    for fork in ("frontier", "cancun"):
        table = valid_opcodes(fork)
        outcomes = set()
        for _ in range(40):
            code = fuzz.generate_program(src, fork, max_ops=30)
            outcome = d.run_stock(d.Scenario(code=code, fork=fork, gas=100_000))
            assert outcome.status != "crash", outcome.detail
            outcomes.add(outcome.status)
        assert "success" in outcomes
        # PUSH0 only exists from Shanghai on
        assert (0x5F in table) == (fork == "cancun")


def test_check_refuses_a_run_that_did_not_go_native() -> None:
    """With a disabled backend every message is interpreted: outcomes agree, but `check` must
    still fail, so a test cannot pass by silently interpreting."""
    disabled = JitBackend.disabled()
    try:
        with pytest.raises(AssertionError, match="no message ran native code"):
            d.check(d.Scenario(code=asm(1, 0, "SSTORE")), backend=disabled)
    finally:
        disabled.close()
