"""pytest plugin: CPU time of each test (setup, call and teardown) and of the session, written
as JSON to $CPU_TIMES_OUT (used by bench.py)."""

import json
import os
import time

import pytest

_tests: dict[str, float] = {}
_start = [0.0]


def pytest_sessionstart(session):
    _start[0] = time.process_time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.process_time()
    yield
    _tests[item.nodeid] = time.process_time() - start


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("CPU_TIMES_OUT")
    if path:
        with open(path, "w") as out:
            json.dump({"tests": _tests, "session": time.process_time() - _start[0]}, out)
