"""Benchmark harness: the JIT against py-evm's stock interpreter (and pyrevm when installed).

A bench case is a state-test-like JSON file ``{name: {env, pre, transaction: [tx]}}``. For each
case, in a process of its own (see :func:`measure.run_case_in_subprocess`):

1. the pre-state is set up once per execution path (stock VM, JIT VM, pyrevm);
2. every contract of the pre-state is compiled through the JIT backend beforehand, and the time
   that takes is reported separately;
3. each path executes the call once on a fresh state and the outcomes are compared (success,
   gas used and refund, output, logs, state root after the call); a mismatch makes the case an
   error and no speed figure is reported for it;
4. after a warm-up, the paths run alternately until every path has reached a minimum number of
   repetitions and a minimum total time; the median per path is reported. Repetitions run on a
   snapshot of one pre-state that is reverted afterwards (warm: what a run read, py-evm's
   caches and the JIT's read cache may still hold), on a fresh copy of the persisted pre-state
   each (cold: every trie read cold), or both (`--state`, default both); times are wall clock
   or this thread's CPU time (`--clock`).

What is timed is the message execution as a user of py-evm experiences it: building the message
(reading the contract's code), warming sender and recipient, and
``state.computation_class.apply_message(state, message, transaction_context)`` -- the same call
for the stock and the JIT VM. pyrevm's ``EVM.message_call`` is timed the same way.

Modules: `cases` (reading bench files), `sides` (py-evm, pyrevm and the JIT set-up, and the
outcome that must agree), `measure` (checking and timing one case, in its own process),
`report` (table, JSON, chart), `compile_times` (compile times over a corpus), `native_time`
(time to native of a large contract called in a loop).
"""

from pyevm_jit.bench.cases import (
    DEFAULT_FORK,
    BenchCase,
    BenchInputError,
    default_bench_dir,
    discover_files,
    find_case,
    load_cases,
)
from pyevm_jit.bench.compile_times import (
    CompileTime,
    compile_time,
    corpus_codes,
    percentile,
    start_engine,
)
from pyevm_jit.bench.measure import (
    BenchOptions,
    CaseResult,
    SideStats,
    measure_case,
    run_case_in_subprocess,
)
from pyevm_jit.bench.native_time import (
    TimeToNative,
    format_time_to_native,
    synthetic_case,
    synthetic_contract,
    time_to_native,
)
from pyevm_jit.bench.report import (
    fmt_ratio,
    fmt_time,
    format_table,
    geometric_mean,
    machine_description,
    plot_speedups,
    results_json,
    table_rows,
)
from pyevm_jit.bench.sides import (
    CLOCKS,
    OPTION_SCOPES,
    PYREVM_SPECS,
    SCOPES,
    SIDES,
    STATE_MODES,
    JitSide,
    PathOutcome,
    PreState,
    PyEvmRunner,
    PyRevmRunner,
    bench_vm_class,
    clock_function,
    make_jit_side,
    parse_pre_state,
    pyrevm_available,
    pyrevm_gas_ok,
)

__all__ = [
    "CLOCKS",
    "DEFAULT_FORK",
    "OPTION_SCOPES",
    "PYREVM_SPECS",
    "SCOPES",
    "SIDES",
    "STATE_MODES",
    "BenchCase",
    "BenchInputError",
    "BenchOptions",
    "CaseResult",
    "CompileTime",
    "JitSide",
    "PathOutcome",
    "PreState",
    "PyEvmRunner",
    "PyRevmRunner",
    "SideStats",
    "TimeToNative",
    "clock_function",
    "compile_time",
    "corpus_codes",
    "default_bench_dir",
    "discover_files",
    "find_case",
    "fmt_ratio",
    "fmt_time",
    "format_time_to_native",
    "format_table",
    "geometric_mean",
    "load_cases",
    "machine_description",
    "make_jit_side",
    "measure_case",
    "parse_pre_state",
    "percentile",
    "plot_speedups",
    "pyrevm_available",
    "pyrevm_gas_ok",
    "results_json",
    "run_case_in_subprocess",
    "start_engine",
    "synthetic_case",
    "synthetic_contract",
    "table_rows",
    "time_to_native",
    "bench_vm_class",
]
