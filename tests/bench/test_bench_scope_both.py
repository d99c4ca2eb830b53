"""`--scope both`: the whole transaction timed beside the message, checked, and reported."""

from __future__ import annotations

import json
from pathlib import Path

from pyevm_jit import bench

COUNTER = Path(__file__).resolve().parents[2] / "fixtures" / "bench" / "counter.json"
FAST = bench.BenchOptions(min_time=0.01, min_reps=3, warmup=1, max_case_time=60.0)


def test_both_scopes_are_timed_checked_and_reported() -> None:
    # CPU time of this thread: another process on the machine does not inflate one side
    options = bench.BenchOptions(
        **{**FAST.__dict__, "scope": "both", "state": "warm", "clock": "cpu"}
    )
    (case,) = bench.load_cases(COUNTER)
    result = bench.measure_case(case, options)
    assert result.status == "ok", result.error
    assert result.stock_tx is not None and result.jit_tx is not None
    assert result.stock_tx.reps >= 3 and result.jit_tx.reps >= 3
    # a transaction does the message and more (stock: about 2.3x the message's CPU time; the
    # fastest repetitions are compared, which a busy machine's cache misses inflate least)
    assert result.stock_tx.min_ns > result.stock.min_ns
    assert result.speedup_tx == result.stock_tx.median_ns / result.jit_tx.median_ns
    header, rows, notes = bench.table_rows([result])
    assert header[5:8] == ["stock tx", "JIT tx", "speedup tx"]
    assert rows[0][7] == bench.fmt_ratio(result.speedup_tx)
    assert any("whole transaction" in note for note in notes)
    data = json.loads(json.dumps(bench.results_json([result], options)))
    again = bench.CaseResult.from_json(data["cases"][0])
    assert again.jit_tx == result.jit_tx and again.stock_tx == result.stock_tx


def test_both_is_an_option_not_a_runner_scope() -> None:
    assert "both" in bench.OPTION_SCOPES and "both" not in bench.SCOPES
