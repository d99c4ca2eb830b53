"""The fuzzer itself: generators, minimisation, fixtures, the command, and a short seeded run
against the JIT."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from pyevm_jit import fuzz
from pyevm_jit.cli import main
from pyevm_jit.conformance.fixtures import BUNDLED_ETHEREUM_TESTS, ETHEREUM_TESTS_ENV
from pyevm_jit.forks import valid_opcodes
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm


def test_generation_is_deterministic_per_seed() -> None:
    def programs(seed: int) -> list[bytes]:
        src = fuzz.RandomSource(random.Random(seed))
        return [fuzz.generate_program(src, "cancun") for _ in range(20)]

    assert programs(3) == programs(3)
    assert programs(3) != programs(4)


def test_generated_programs_use_only_fork_opcodes_mostly() -> None:
    src = fuzz.RandomSource(random.Random(11))
    table = valid_opcodes("frontier")
    foreign = total = 0
    for _ in range(100):
        code = fuzz.generate_program(src, "frontier", max_ops=50)
        i = 0
        while i < len(code):
            op = code[i]
            total += 1
            foreign += op not in table
            i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    assert total > 1000
    assert foreign / total < 0.05  # only the deliberate odd bytes


def test_adversarial_and_mutations_run_on_stock() -> None:
    rng = random.Random(7)
    src = fuzz.RandomSource(rng)
    statuses = set()
    for i in range(60):
        fork = d.MAIN_FORKS[i % len(d.MAIN_FORKS)]
        scenario = fuzz.adversarial(src, fork)
        out = d.run_stock(scenario)
        assert out.status != "crash", (d.describe(scenario, []), out.detail)
        statuses.add(out.status)
    assert {"success", "error"} <= statuses
    code = asm(1, 2, "ADD", 0, "SSTORE")
    mutants = {fuzz.mutate(src, code, "cancun") for _ in range(30)}
    assert len(mutants) > 10


@pytest.mark.parametrize("share", ["0.1", "0.5", "0.9"])
def test_every_generator_gets_programs_whatever_the_state_share(
    share: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state patterns take their share; call chains, random, mutation and adversarial
    programs keep their proportions of the rest (a share of 0.5 once left mutation and
    adversarial none)."""
    from pyevm_jit.fuzz.loop import CALL_CHAIN_SHARE, make_scenario
    from pyevm_jit.fuzz.state_patterns import SHARE_ENV

    monkeypatch.setenv(SHARE_ENV, share)
    rng = random.Random(5)
    src = fuzz.RandomSource(rng)
    seeds = fuzz.load_seed_contracts(random.Random(5))
    counts: dict[str, int] = {}
    for _ in range(600):
        name, _scenario = make_scenario(src, rng, "cancun", seeds)
        kind = name.split(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
    assert set(counts) == {"random", "mutation", "adversarial", "state", "calls"}, counts
    assert abs(counts["state"] / 600 - float(share)) < 0.08, counts
    calls_share = counts["calls"] / (600 - counts["state"])
    assert abs(calls_share - CALL_CHAIN_SHARE) < 0.06, counts


def test_seed_contracts_from_state_tests() -> None:
    root = fuzz.ethereum_tests_root()
    if root is None or not (root / "GeneralStateTests").is_dir():
        pytest.skip("no Ethereum tests checkout")
    seeds = fuzz.load_seed_contracts(random.Random(1), max_files=10)
    assert seeds
    assert all(s.code for s in seeds)


def test_minimise_shrinks_to_the_culprit() -> None:
    """A fake divergence: any program containing both EXP (0x0a) and a 0xAB byte "diverges"."""
    code = asm(1, 2, "ADD", 3, 0xAB, "EXP", 5, "MUL", 0, "SSTORE", 7, 8, 9, "POP", "POP")

    def check(s: d.Scenario) -> list[str]:
        return ["gas_remaining: x"] if (0x0A in s.code and 0xAB in s.code) else []

    small, diffs = fuzz.minimise(d.Scenario(code=code), check)
    assert diffs == ["gas_remaining: x"]
    assert 0x0A in small.code and 0xAB in small.code
    assert len(small.code) == 2, small.code.hex()


def test_regression_fixture_round_trip(tmp_path: Path) -> None:
    scenario = d.Scenario(
        code=asm(1, 0, "SSTORE"),
        fork="berlin",
        calldata=b"\x01\x02",
        storage={3: 4},
        accounts=d.standard_accounts(),
        gas=50_000,
    )
    path = fuzz.save_regression(scenario, ["status: x"], tmp_path, found_by="test")
    data = json.loads(path.read_text())
    assert data["differences"] == ["status: x"]
    [(name, loaded)] = list(fuzz.load_regressions(tmp_path))
    assert name == path.stem
    assert loaded == scenario
    assert d.compare(d.run_stock(loaded), d.run_stock(scenario)) == []


@pytest.mark.slow
def test_fuzz_loop_saves_a_minimised_divergence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a JIT side that gets SSTORE of 0xAB wrong, the loop finds it, minimises it and saves
    it (exercises the loop without needing the real JIT)."""

    def fake_run_jit(scenario: d.Scenario, backend: object = None) -> d.Outcome:
        out = d.run_stock(scenario)
        out.native_messages = 1
        if b"\x55" in scenario.code and b"\xab" in scenario.code:
            out.gas_remaining += 1
        return out

    monkeypatch.setattr(d, "run_jit", fake_run_jit)
    stream = io.StringIO()
    report = fuzz.fuzz(fuzz.FuzzPlan(60, 3, ["cancun"], tmp_path, max_programs=150), stream=stream)
    assert report.programs == 150
    assert report.divergences >= 1, report.summary()
    assert report.fixtures and all(p.exists() for p in report.fixtures)
    saved = json.loads(report.fixtures[0].read_text())
    code = bytes.fromhex(saved["scenario"]["code"])
    assert 0x55 in code and 0xAB in code and len(code) <= 8, saved
    hit, total, _missing_ops = report.coverage()
    assert 0 < hit <= total
    assert "programs: 150" in report.summary()


@pytest.mark.parametrize(
    "argv",
    (
        ["fuzz", "--fork", "nosuchfork", "--seconds", "1"],
        ["fuzz", "--seconds", "0"],
        ["fuzz", "--seconds", "1", "--max-programs", "0"],
    ),
)
def test_cli_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "error" in err


def test_short_seeded_fuzz_run_finds_no_divergence(tmp_path: Path) -> None:
    """What CI runs: a short, seeded, bounded fuzz against the real JIT."""
    report = fuzz.fuzz(
        fuzz.FuzzPlan(90, 1, d.MAIN_FORKS, tmp_path, max_programs=60, minimise_budget=60),
        stream=io.StringIO(),
    )
    assert report.programs > 0
    assert report.native_runs > 0, report.summary()
    assert report.divergences == 0, (
        report.summary() + "\n" + "\n".join(p.read_text() for p in report.fixtures)
    )


@pytest.mark.slow
def test_isolated_fuzz_survives_a_crashing_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed while the JIT runs a program (here an injected abort, for any program
    containing an SSTORE byte) is replaced, and the program is minimised and saved."""
    monkeypatch.setenv(fuzz.CRASH_MARKER_ENV, "55")  # abort on any program containing SSTORE
    # the seed contracts come from the bundled sample wherever the test runs, so that seed 1
    # makes the same programs (one with an SSTORE byte among the first three) everywhere
    monkeypatch.setenv(ETHEREUM_TESTS_ENV, str(BUNDLED_ETHEREUM_TESTS))
    report = fuzz.fuzz_isolated(
        fuzz.FuzzPlan(240, 1, ["cancun"], tmp_path, max_programs=3),
        stream=io.StringIO(),
        crash_minimise_budget=6,
    )
    assert report.divergences >= 1, report.summary()
    assert report.fixtures
    saved = json.loads(report.fixtures[0].read_text())
    assert any(line.startswith("crash") for line in saved["differences"]), saved
    assert "55" in saved["scenario"]["code"]


@pytest.mark.slow
def test_isolated_fuzz_replays_a_crash_after_earlier_programs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash that needs an earlier program in the same process (injected: a program with an
    SSTORE byte aborts once one with an EXP byte has run) is saved with that history, which
    the regression replay then runs first."""
    monkeypatch.setenv(fuzz.CRASH_AFTER_ENV, "0a:55")
    report = fuzz.fuzz_isolated(
        fuzz.FuzzPlan(300, 9, ["cancun"], tmp_path, max_programs=30),
        stream=io.StringIO(),
        crash_minimise_budget=4,
    )
    saved = [json.loads(p.read_text()) for p in report.fixtures if p.suffix == ".json"]
    assert saved, report.summary()
    assert saved[0]["history"], saved[0]
    assert "earlier programs" in saved[0]["differences"][0]
    history = [d.Scenario.from_json(h) for h in saved[0]["history"]]
    scenario = d.Scenario.from_json(saved[0]["scenario"])
    assert fuzz.replay_in_subprocess(scenario, history=history)  # still crashes
    assert not fuzz.replay_in_subprocess(scenario)  # but not on its own
