"""The bench's two kinds of repetition (one state reverted after each run: warm; a fresh copy of
the persisted pre-state per run: cold) and its clocks. No timing is asserted."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from pyevm_jit import bench
from pyevm_jit.bench import measure, sides
from pyevm_jit.cli import main
from pyevm_jit.lean.statedb import readcache

# SLOAD(0) + 1 -> SSTORE(0); RETURN the old value: reads a pre-state slot, writes it
CODE = "0x60005460018101600055600052602060" + "00f3"
FAST = bench.BenchOptions(min_time=0.01, min_reps=3, warmup=1, max_case_time=30.0, pyrevm=False)


def _case(tmp_path: Path) -> bench.BenchCase:
    case = {
        "modes": {
            "env": {"currentGasLimit": "0x7fffffffffffffff", "currentNumber": "0x1"},
            "pre": {
                "0x" + "11" * 20: {"balance": "0xffffffffffff", "code": "0x", "nonce": "0x0"},
                "0x" + "cc" * 20: {"code": CODE, "nonce": "0x1", "storage": {"0x0": "0x29"}},
            },
            "transaction": [
                {
                    "data": "0x",
                    "gasLimit": "0x1000000",
                    "sender": "0x" + "11" * 20,
                    "to": "0x" + "cc" * 20,
                    "value": "0x0",
                }  # fmt: skip
            ],
        }
    }
    path = tmp_path / "modes.json"
    path.write_text(json.dumps(case))
    return bench.load_cases(path)[0]


def test_a_fresh_pre_state_is_the_persisted_one_in_a_new_database(tmp_path: Path) -> None:
    case = _case(tmp_path)
    stock_vm = bench.bench_vm_class("cancun")
    pre = bench.PreState(case, stock_vm)
    first, second = pre.open(stock_vm), pre.open(stock_vm)
    built = sides.build_state(case, stock_vm)
    assert first.state_root == second.state_root == built.state_root
    assert (
        first._account_db._raw_store_db.wrapped_db
        is not second._account_db._raw_store_db.wrapped_db
    )
    address = bytes.fromhex("cc" * 20)
    assert first.get_storage(address, 0) == 0x29
    first.set_storage(address, 0, 7)
    first.persist()
    assert second.get_storage(address, 0) == 0x29  # copies, not one database


def test_cold_repetitions_start_with_an_empty_read_cache(tmp_path: Path) -> None:
    """The JIT's read cache is per database: a fresh copy has no entries, whatever earlier runs
    on other copies read."""
    case = _case(tmp_path)
    side = bench.make_jit_side(case, bench.bench_vm_class("cancun"), stock_both=False)
    try:
        runner = bench.PyEvmRunner(case, side.vm_class)
        runner.pre_state = bench.PreState(case, bench.bench_vm_class("cancun"))
        cache = readcache.shared_read_cache()
        outcomes = set()
        for _ in range(3):
            misses = cache.misses
            _ns, outcome = runner.timed_cold()
            outcomes.add(outcome)
            assert cache.misses > misses  # the slot and the accounts were walked again
        assert len(outcomes) == 1
        assert outcomes == {runner.timed()[1]}
    finally:
        side.backend.close()


@pytest.mark.parametrize("state", ["warm", "cold", "both"])
def test_state_modes_measure_their_columns(tmp_path: Path, state: str) -> None:
    options = bench.BenchOptions(**{**asdict(FAST), "state": state, "clock": "cpu"})
    result = bench.measure_case(_case(tmp_path), options)
    assert result.status == "ok", result.error
    assert (result.jit.reps > 0) == (state != "cold")
    assert (result.jit_cold is not None) == (state != "warm")
    if state != "warm":
        assert result.stock_cold is not None and result.stock_cold.reps >= 3
        assert result.speedup_cold > 0
    again = bench.CaseResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again.jit_cold == result.jit_cold and again.stock_cold == result.stock_cold
    header, rows, _notes = bench.table_rows([result])
    assert ("JIT cold" in header) == (state != "warm")
    assert all(len(row) == len(header) for row in rows)


def test_a_baseline_without_cold_figures_is_refused_for_cold_runs(tmp_path: Path) -> None:
    case = _case(tmp_path)
    warm = bench.BenchOptions(**{**asdict(FAST), "state": "warm", "stock_both": True})
    first = bench.measure_case(case, warm)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(bench.results_json([first], warm)))
    both = bench.BenchOptions(**{**asdict(FAST), "state": "both", "baseline": str(baseline)})
    with pytest.raises(bench.BenchInputError, match="cold"):
        bench.measure_case(case, both)
    other_clock = bench.BenchOptions(
        **{**asdict(FAST), "state": "warm", "clock": "cpu", "baseline": str(baseline)}
    )
    with pytest.raises(bench.BenchInputError, match="clock"):
        bench.measure_case(case, other_clock)


def test_clocks() -> None:
    for name in bench.CLOCKS:
        clock = bench.clock_function(name)
        assert clock() <= clock()
    with pytest.raises(bench.BenchInputError):
        bench.clock_function("sundial")


def test_command_options(tmp_path: Path, capsys: Any) -> None:
    _case(tmp_path)
    path = str(tmp_path / "modes.json")
    code = main(["bench", path, "--stock-both", "--no-pyrevm", "--min-time", "0.01",
                 "--min-reps", "3", "--state", "cold", "--clock", "cpu"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "JIT cold" in out and "speedup cold" in out
    with pytest.raises(SystemExit) as exc:
        main(["bench", path, "--state", "lukewarm"])
    assert exc.value.code == 2


def _fake_runners(cost_ns: dict[str, int], order: list[str]) -> dict[str, Any]:
    """Runners that take no time but report `cost_ns` per repetition, recording their order."""

    def runner(side: str) -> Any:
        def run() -> int:
            order.append(side)
            return cost_ns[side]

        return run

    return {side: runner(side) for side in cost_ns}


def test_batches_keep_one_path_running_for_the_batch_time() -> None:
    options = bench.BenchOptions(min_time=0.5, min_reps=3, warmup=1, batch_time=0.02)
    batches = measure._batches({"stock": 120_000, "jit": 60_000, "slow": 50_000_000}, options)
    assert batches == {"stock": 20_000_000 // 120_000, "jit": 20_000_000 // 60_000, "slow": 1}
    # a minimum time too short for the batch time still alternates five times within it
    short = bench.BenchOptions(min_time=0.01, min_reps=3, warmup=1, batch_time=0.02)
    assert measure._batches({"jit": 100_000}, short) == {"jit": 2_000_000 // 100_000}
    # without a batch time: paths keep pace with the slowest, as before
    single = bench.BenchOptions(min_time=0.5, min_reps=3, warmup=1, batch_time=0)
    assert measure._batches({"stock": 120_000, "jit": 60_000}, single) == {"stock": 1, "jit": 2}


@pytest.mark.parametrize("batch_time", [0.0, 0.001])
def test_alternate_runs_paths_in_batches_and_flips_the_order(batch_time: float) -> None:
    options = bench.BenchOptions(min_time=0.02, min_reps=3, warmup=1, batch_time=batch_time)
    order: list[str] = []
    cost = {"stock": 200_000, "jit": 100_000}
    samples = measure._alternate(_fake_runners(cost, order), options, lambda _m: None)
    timed = order[2:]  # after one warm-up run each
    runs: list[tuple[str, int]] = []
    for side in timed:
        if runs and runs[-1][0] == side:
            runs[-1] = (side, runs[-1][1] + 1)
        else:
            runs.append((side, 1))
    expected = measure._batches(cost, options)
    # 1 ms of each path per round; or keeping pace with the slowest
    assert expected == ({"stock": 5, "jit": 10} if batch_time else {"stock": 1, "jit": 2})
    # whole batches (two merge where the order flips), the paths taking turns
    assert all(count % expected[side] == 0 for side, count in runs)
    assert {side for side, _ in runs} == {"stock", "jit"} and len(runs) >= 5
    for values in samples.values():
        assert sum(values) >= options.min_time * 1e9 and len(values) >= options.min_reps


def test_batch_time_must_not_be_negative(capsys: Any) -> None:
    assert main(["bench", "--batch-time", "-1"]) == 2
    assert "--batch-time" in capsys.readouterr().err
