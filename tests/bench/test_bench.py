"""The benchmark harness: case loading, outcome checks (a mismatch is an error row, never a
speed figure), repetitions, reporting, the command. No timing is asserted."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from eth.vm.forks import CancunVM
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState
from eth_hash.auto import keccak

from pyevm_jit import bench
from pyevm_jit.cli import main
from pyevm_jit.runtime.report import BackendReport

# SSTORE(0, 1); MSTORE(0, 42); RETURN(0, 32)
CODE = "0x6001600055602a60005260206000f3"
# Cancun: 2 PUSH1 (6) + cold SSTORE 0 -> 1 (2100 + 20000) + 2 PUSH1 + MSTORE with one word of
# memory (3 + 3 + 3 + 3) + 2 PUSH1 + RETURN (3 + 3 + 0)
CODE_GAS = 6 + 22100 + 12 + 6

FAST = bench.BenchOptions(min_time=0.01, min_reps=3, warmup=1, max_case_time=30.0)


def _case_file(tmp_path: Path, code: str = CODE, name: str = "tiny") -> Path:
    case = {
        name: {
            "env": {
                "currentBaseFee": "0x0",
                "currentCoinbase": "0x" + "00" * 20,
                "currentGasLimit": "0x7fffffffffffffff",
                "currentNumber": "0x1",
                "currentTimestamp": "0x1",
            },
            "pre": {
                "0x" + "11" * 20: {
                    "balance": "0xffffffffffff",
                    "code": "0x",
                    "nonce": "0x0",
                    "storage": {},
                },
                "0x" + "cc" * 20: {"balance": "0x0", "code": code, "nonce": "0x1", "storage": {}},
            },
            "transaction": [
                {
                    "data": "0x",
                    "gasLimit": "0x1000000",
                    "gasPrice": "0x0",
                    "nonce": "0x0",
                    "sender": "0x" + "11" * 20,
                    "to": "0x" + "cc" * 20,
                    "value": "0x0",
                }
            ],
        }
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(case))
    return path


def _tiny(tmp_path: Path) -> bench.BenchCase:
    (case,) = bench.load_cases(_case_file(tmp_path))
    return case


def test_shared_bench_cases_load() -> None:
    directory = bench.default_bench_dir()
    if not directory.is_dir():
        pytest.skip("no bench directory")
    cases = [c for f in bench.discover_files([directory]) for c in bench.load_cases(f)]
    assert len(cases) >= 10
    for case in cases:
        assert case.codes(), case.name
        accounts = bench.parse_pre_state(case.pre)
        assert accounts[case.tx.to]["code"], case.name


def test_bad_bench_input(tmp_path: Path) -> None:
    with pytest.raises(bench.BenchInputError):
        bench.discover_files([tmp_path / "missing"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": {"env": {}}}')
    with pytest.raises(bench.BenchInputError):
        bench.load_cases(bad)


def test_reference_outcome_matches_hand_computed_gas(tmp_path: Path) -> None:
    runner = bench.PyEvmRunner(_tiny(tmp_path), CancunVM)
    outcome = runner.reference()
    assert outcome.success and outcome.gas_used == CODE_GAS
    assert int.from_bytes(outcome.output, "big") == 42
    # repetitions are reverted: the slot is fresh (cold, zero) every time
    for _ in range(3):
        _ns, again = runner.timed()
        assert again.differences(outcome, with_root=False) == []


def test_stock_both_measures_every_side(tmp_path: Path) -> None:
    options = bench.BenchOptions(**{**FAST.__dict__, "stock_both": True})
    result = bench.measure_case(_tiny(tmp_path), options)
    assert result.status == "ok", result.error
    assert result.gas_used == CODE_GAS
    assert result.stock.reps >= 3 and result.jit.reps >= 3
    assert result.stock.median_ns > 0 and not math.isnan(result.speedup)
    if bench.pyrevm_available():
        assert result.pyrevm is not None and result.pyrevm_error == ""
        assert result.tx_gas_used == 21000 + CODE_GAS


class _ExtraGasComputation(CancunComputation):
    """Behaves like the interpreter but charges one more gas per message: a wrong 'JIT'."""

    @classmethod
    def apply_computation(cls, *args: Any, **kwargs: Any) -> Any:
        computation = super().apply_computation(*args, **kwargs)
        if computation.is_success:
            computation.consume_gas(1, reason="test: deliberate mismatch")
        return computation


_WrongVM = CancunVM.configure(
    __name__="WrongVM",
    _state_class=CancunState.configure(computation_class=_ExtraGasComputation),
)


def test_mismatch_is_an_error_row_without_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def wrong_side(case: Any, stock_vm: Any, *, stock_both: bool, **_: Any) -> bench.JitSide:
        return bench.JitSide(_WrongVM, None, 0.0, 0, 0)

    monkeypatch.setattr(bench.measure, "make_jit_side", wrong_side)
    result = bench.measure_case(_tiny(tmp_path), FAST)
    assert result.status == "error" and "gas_used" in result.error
    assert math.isnan(result.speedup) and result.jit.reps == 0
    table = bench.format_table([result])
    assert "ERROR" in table and "gas_used" in table
    assert "x" not in table.splitlines()[2].split("ERROR", 1)[1]  # no ratio on the error row


def test_table_and_geometric_mean() -> None:
    def ok(name: str, stock: int, jit: int) -> bench.CaseResult:
        result = bench.CaseResult(name, "f.json", "cancun", gas_used=1000, native=True)
        result.stock = bench.SideStats(median_ns=stock, reps=3)
        result.jit = bench.SideStats(median_ns=jit, reps=3)
        return result

    results = [ok("a", 400, 100), ok("b", 900, 100)]
    results.append(bench.CaseResult("c", "f.json", "cancun", status="error", error="boom"))
    assert bench.geometric_mean(r.speedup for r in results) == pytest.approx(6.0)
    header, rows, notes = bench.table_rows(results)
    assert rows[-1][0] == "geometric mean" and rows[-1][header.index("speedup")] == "6.00x"
    assert rows[2][1] == "ERROR" and any("boom" in n for n in notes)
    data = bench.results_json(results, FAST)
    assert data["geometric_mean"]["speedup"] == pytest.approx(6.0)
    assert bench.CaseResult.from_json(data["cases"][0]).stock.median_ns == 400


def test_pyrevm_gas_tolerance() -> None:
    assert bench.pyrevm_gas_ok(50000, 50000, 0)
    assert not bench.pyrevm_gas_ok(50000, 49999, 0)
    assert bench.pyrevm_gas_ok(50000, 45200, 1)
    assert not bench.pyrevm_gas_ok(50000, 50001, 3)


def test_case_in_its_own_process(tmp_path: Path) -> None:
    options = bench.BenchOptions(**{**FAST.__dict__, "stock_both": True, "pyrevm": False})
    notes: list[str] = []
    path = _case_file(tmp_path)
    result = bench.run_case_in_subprocess(path, "tiny", options, 300, progress=notes.append)
    assert result.status == "ok", result.error
    assert result.gas_used == CODE_GAS and result.stock.reps >= 3
    assert "checking" in notes
    late = bench.run_case_in_subprocess(path, "tiny", options, timeout=0.05)
    assert late.status == "error" and "timed out" in late.error


def test_command(tmp_path: Path, capsys: Any) -> None:
    assert main(["bench", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    path = _case_file(tmp_path)
    out = tmp_path / "r.json"
    args = ["bench", str(path), "--stock-both", "--min-time", "0.01", "--warmup", "1"]
    assert main([*args, "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "geometric mean" in captured.out and "tiny" in captured.err
    data = json.loads(out.read_text())
    assert data["cases"][0]["status"] == "ok" and data["cases"][0]["gas_used"] == CODE_GAS
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert main([*args, "--plot", str(tmp_path / "p.png")]) == 2
        assert "matplotlib" in capsys.readouterr().err


def test_real_jit_side(tmp_path: Path) -> None:
    result = bench.measure_case(_tiny(tmp_path), FAST)
    assert result.status == "ok", result.error
    assert result.native and result.contracts_compiled == result.contracts == 1
    assert result.compile_seconds > 0
    # the timed program is the tier-up build; its compile time is reported on its own
    assert result.tier_up_seconds > 0
    assert "tier-up" in bench.format_table([result])


def test_real_jit_side_first_tier(tmp_path: Path) -> None:
    options = bench.BenchOptions(**{**asdict(FAST), "tier_up": False})
    result = bench.measure_case(_tiny(tmp_path), options)
    assert result.status == "ok", result.error
    assert result.native and result.compile_seconds > 0 and result.tier_up_seconds == 0


def test_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = bench.CaseResult("a", "f.json", "cancun", gas_used=1000, native=True)
    result.stock = bench.SideStats(median_ns=400, reps=3)
    result.jit = bench.SideStats(median_ns=100, reps=3)
    result.pyrevm = bench.SideStats(median_ns=50, reps=3)
    bench.plot_speedups([result], str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 0


def test_compile_times(tmp_path: Path, capsys: Any) -> None:
    path = _case_file(tmp_path)
    _case_file(tmp_path, code="0x600160020160005260206000f3", name="other")
    assert bench.corpus_codes([tmp_path]) == [
        bytes.fromhex("600160020160005260206000f3"),
        bytes.fromhex(CODE[2:]),
    ]
    out = tmp_path / "ct.json"
    args = ["bench", "--compile-times", str(path), "--time-to-native", "0", "--json", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "1 contracts compiled for cancun: median" in printed
    assert "max " in printed.split("CPU time:")[1] and "(15 bytes)" in printed
    data = json.loads(out.read_text())
    assert data["contracts"] == 1 and data["failed"] == 0
    assert data["times"][0]["seconds"] > 0 and data["times"][0]["code_len"] == 15


def test_transaction_scope(tmp_path: Path) -> None:
    options = bench.BenchOptions(**{**FAST.__dict__, "stock_both": True, "scope": "transaction"})
    result = bench.measure_case(_tiny(tmp_path), options)
    assert result.status == "ok", result.error
    assert result.gas_used == CODE_GAS  # the message inside the transaction
    with pytest.raises(bench.BenchInputError):
        bench.PyEvmRunner(_tiny(tmp_path), CancunVM, "block")


def test_baseline_reuses_stock_figures_and_still_checks(tmp_path: Path) -> None:
    case = _tiny(tmp_path)
    both = bench.BenchOptions(**{**FAST.__dict__, "stock_both": True, "pyrevm": False})
    first = bench.measure_case(case, both)
    assert first.status == "ok" and first.reference["gas_used"] == CODE_GAS
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps(bench.results_json([first], both)))

    options = bench.BenchOptions(**{**both.__dict__, "baseline": str(baseline)})
    again = bench.measure_case(case, options)
    assert again.status == "ok", again.error
    assert again.stock == first.stock and again.baseline == str(baseline)
    assert again.jit.reps >= 3

    data = json.loads(baseline.read_text())
    data["cases"][0]["reference"]["gas_used"] += 1  # a stock outcome the JIT cannot match
    baseline.write_text(json.dumps(data))
    wrong = bench.measure_case(case, options)
    assert wrong.status == "error" and "gas_used" in wrong.error

    data["options"]["scope"] = "transaction"
    baseline.write_text(json.dumps(data))
    with pytest.raises(bench.BenchInputError):
        bench.measure_case(case, options)


def test_path_outcome_differences_name_each_field_in_order() -> None:
    from pyevm_jit.bench.sides import PathOutcome

    base = PathOutcome(True, "", 100, 0, b"\x01", (), b"r")
    other = PathOutcome(False, "Revert", 90, 5, b"\x02", ((b"a", (1,), b""),), b"s")
    assert base.differences(base) == []
    assert base.differences(other) == [
        "success True != False",
        "error - != Revert",
        "gas used 100 != 90",
        "gas refund 0 != 5",
        "output 0x01 != 0x02",
        "logs (0) != (1)",
        "state (storage/balances/nonces/code) differs",
    ]
    assert base.differences(other, with_root=False)[-1] == "logs (0) != (1)"
    same_but_root = PathOutcome(True, "", 100, 0, b"\x01", (), b"s")
    assert base.differences(same_but_root, with_root=False) == []


def test_report_names_each_contract_and_adds_up(tmp_path: Path, capsys: Any) -> None:
    """`--report`: the JIT backend's per-contract report after the table, named after the
    case; its native messages are the JIT side's hits, and one more run with the runtime off
    (Disabled) gives the saved estimate."""
    path = _case_file(tmp_path)
    out, saved = tmp_path / "r.json", tmp_path / "report.json"
    args = ["bench", str(path), "--no-pyrevm", "--min-time", "0.01", "--warmup", "1"]
    assert main([*args, "--json", str(out), "--report"]) == 0
    text = capsys.readouterr().out
    assert "pyevm-jit report: 1 contracts" in text and "tiny (" in text
    case = json.loads(out.read_text())["cases"][0]
    (row,) = case["jit_report"]["contracts"]
    assert row["label"] == "tiny" and row["code_hash"] == keccak(bytes.fromhex(CODE[2:])).hex()
    assert row["native"] == case["jit_counters"]["lookup_hits"] > 0
    assert row["interpreted"]["Disabled"] == 1 and sum(row["interpreted"].values()) == 1
    assert row["saved_seconds"] is not None and row["compile_seconds"]["jit"] > 0
    assert main([*args, "--report", str(saved)]) == 0
    assert BackendReport.load(saved).contracts[0].label == "tiny"
