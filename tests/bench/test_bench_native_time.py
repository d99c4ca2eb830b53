"""Time to native (`bench.native_time`): the synthetic large contract runs the same on the JIT
and on stock py-evm, and the loop reports the first native call and the first tier-up call. No
timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyevm_jit.bench.native_time import (
    MAX_CODE,
    format_time_to_native,
    synthetic_case,
    synthetic_contract,
    time_to_native,
)
from pyevm_jit.bench.sides import PyEvmRunner, bench_vm_class
from pyevm_jit.cli import main
from pyevm_jit.runtime import RuntimeConfig, RuntimeTuning


def test_synthetic_contract_fills_the_limit() -> None:
    code, selectors = synthetic_contract()
    assert MAX_CODE - 200 < len(code) <= MAX_CODE
    assert len(set(selectors)) == len(selectors) > 100
    assert synthetic_contract() == (code, selectors)  # deterministic


@pytest.mark.parametrize("size", [600, 3000])
def test_synthetic_call_returns_a_word(size: int) -> None:
    case = synthetic_case(size)
    assert len(case.codes()[0]) <= size
    outcome = PyEvmRunner(case, bench_vm_class("cancun")).timed()[1]
    assert outcome.success and len(outcome.output) == 32 and outcome.gas_used > 48 * 100


def test_time_to_native_reaches_both_tiers() -> None:
    config = RuntimeConfig(
        enabled=True,
        store=None,
        tuning=RuntimeTuning(hot_threshold=1, tier_up_after=2, worker_count=0),
    )
    result = time_to_native(synthetic_case(3000), config=config, limit_seconds=120.0)
    assert result.error == ""
    assert result.native_call is not None and result.tier_up_call is not None
    assert result.native_call < result.tier_up_call <= result.calls
    assert result.compile_cpu > 0 and result.tier_up_cpu > 0
    assert len(result.events) == 2
    text = "\n".join(format_time_to_native(result))
    assert "first native call after" in text and "tier-up level 2: ok" in text


def test_command_reports_time_to_native(tmp_path: Path, capsys: Any) -> None:
    case = tmp_path / "tiny.json"
    case.write_text(json.dumps({"tiny": {
        "env": {"currentCoinbase": "0x" + "00" * 20, "currentGasLimit": "0x7fffffffffffffff"},
        "pre": {"0x" + "cc" * 20: {"balance": "0x0", "code": "0x600160020160005260206000f3",
                                   "nonce": "0x1", "storage": {}}},
        "transaction": [{"data": "0x", "gasLimit": "0x100000", "gasPrice": "0x0", "nonce": "0x0",
                         "sender": "0x" + "11" * 20, "to": "0x" + "cc" * 20, "value": "0x0"}],
    }}))  # fmt: skip
    out = tmp_path / "ct.json"
    args = ["bench", "--compile-times", str(case), "--time-to-native", "3", "--json", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "time to native: synthetic" in text and "per call: interpreted" in text
    native = json.loads(out.read_text())["time_to_native"]
    assert native["calls"] > 0 and native["error"] == ""
    assert main(["bench", "--compile-times", str(case), "--time-to-native", "-1"]) == 2
