"""Replays every minimised divergence saved by `pyevm-jit fuzz` (fixtures/regressions/*.json)
and hand-written ones: each must now give the stock interpreter's outcome, natively."""

from __future__ import annotations

import json

import pytest

from pyevm_jit import differential as d
from pyevm_jit import fuzz

_missing = d.jit_missing()
CASES = list(fuzz.load_regressions())


@pytest.mark.skipif(_missing is not None, reason=_missing or "")
@pytest.mark.parametrize("scenario", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_regression(scenario: d.Scenario) -> None:
    d.check(scenario)


def test_fixtures_are_well_formed() -> None:
    assert fuzz.regressions_dir().is_dir()
    for path in sorted(fuzz.regressions_dir().glob("*.json")):
        data = json.loads(path.read_text())
        scenario = d.Scenario.from_json(data["scenario"])
        assert scenario.to_json() == d.Scenario.from_json(scenario.to_json()).to_json()
        assert data.get("differences"), f"{path.name}: no recorded difference"
        # the stock interpreter must run it (the fixture is a valid transaction)
        assert d.run_stock(scenario).status != "crash", path.name
