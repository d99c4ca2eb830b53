"""pytest plugin: run a titanoboa test suite with every titanoboa environment on the JIT.

    python -m pytest -p pyevm_jit.integrations.boa_pytest tests/

Loading the plugin enables the JIT (`pyevm_jit.integrations.boa.enable_for_new_envs`) for
`boa.env` and every environment the tests create, with `default_backend()` (the persistent
store of `RuntimeConfig()`; `PYEVM_JIT_*` variables apply, e.g. `PYEVM_JIT_BLOCKING=1` compiles
every contract before its first message). The terminal summary reports the native hits and the
messages interpreted, by reason; with `--pyevm-jit-report` (or `PYEVM_JIT_REPORT=1`; `=FILE.json`
saves it there) it is followed by the per-contract report (`JitBackend.report()`: native and
interpreted messages, compile and estimated saved seconds of each contract). Compilations
still running when the tests end are waited for (up to `STORE_WAIT` seconds) when the backend
has a store, so that the next run finds every contract this one saw. Leaving `-p` out runs the
suite on py-evm alone.
"""

from __future__ import annotations

from typing import Any

_backend: Any = None
#: seconds the end of a session waits for compilations in flight to reach the store
STORE_WAIT = 120.0


def pytest_addoption(parser: Any) -> None:
    parser.getgroup("pyevm-jit").addoption(
        "--pyevm-jit-report",
        action="store_true",
        default=False,
        help="print pyevm-jit's per-contract report at the end of the session",
    )


def pytest_configure(config: Any) -> None:
    global _backend
    from pyevm_jit.integrations.boa import enable_for_new_envs

    _backend = enable_for_new_envs()


def summary_line(backend: Any) -> str:
    stats = backend.stats()
    interpreted = ", ".join(f"{k} {v}" for k, v in stats.misses_by_reason.items() if v)
    return (
        f"pyevm-jit: {stats.lookup_hits} messages ran native code, {stats.lookup_misses} were "
        f"interpreted ({interpreted or 'none'}); programs: {stats.compilations_succeeded} "
        f"compiled, {stats.aot_loaded} loaded from the store, {stats.compilations_failed} failed"
    )


def pytest_sessionfinish(session: Any) -> None:
    if _backend is not None and _backend.config.store is not None:
        _backend.wait_idle(STORE_WAIT)


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    if _backend is None:
        return
    terminalreporter.write_line(summary_line(_backend))
    from pyevm_jit.runtime.report import forget_at_exit, report_setting

    setting = report_setting()
    if setting is not None or config.getoption("pyevm_jit_report", False):
        from pyevm_jit.integrations.boa import label_contracts

        label_contracts(_backend)
    if config.getoption("pyevm_jit_report", False) or setting == "-":
        terminalreporter.write_line(_backend.report().format())
        forget_at_exit(_backend)
    elif setting is not None:
        _backend.report().save(setting)
        terminalreporter.write_line(f"pyevm-jit: report written to {setting}")
        forget_at_exit(_backend)


def pytest_unconfigure(config: Any) -> None:
    global _backend
    if _backend is not None:
        from pyevm_jit.integrations.boa import disable_for_new_envs

        disable_for_new_envs()
        _backend = None
