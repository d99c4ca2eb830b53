"""Differential fuzzing of the JIT against stock py-evm: program generators (`generate`), the
fuzz loop (`loop`), crash isolation in worker processes (`isolated`) and the regression
fixtures divergences become (`regressions`)."""

from pyevm_jit.fuzz.generate import (
    HypothesisSource,
    RandomSource,
    Source,
    adversarial,
    ethereum_tests_root,
    generate_program,
    load_seed_contracts,
    mutate,
)
from pyevm_jit.fuzz.isolated import fuzz_isolated, replay_in_subprocess
from pyevm_jit.fuzz.loop import (
    CRASH_AFTER_ENV,
    CRASH_MARKER_ENV,
    FuzzPlan,
    FuzzReport,
    FuzzTally,
    fuzz,
)
from pyevm_jit.fuzz.regressions import (
    load_history,
    load_regressions,
    minimise,
    regressions_dir,
    save_regression,
)

__all__ = [
    "CRASH_AFTER_ENV",
    "CRASH_MARKER_ENV",
    "FuzzPlan",
    "FuzzReport",
    "FuzzTally",
    "HypothesisSource",
    "RandomSource",
    "Source",
    "adversarial",
    "ethereum_tests_root",
    "fuzz",
    "fuzz_isolated",
    "generate_program",
    "load_history",
    "load_regressions",
    "load_seed_contracts",
    "minimise",
    "mutate",
    "regressions_dir",
    "replay_in_subprocess",
    "save_regression",
]
