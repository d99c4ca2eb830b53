"""pytest plugin for .ci/boa_suite.py: write what titanoboa observes of every message it runs,
in order, test by test, to $BOA_MESSAGES_OUT, so a stock run and a JIT run can be compared.

Per message: the code, its depth, the executed-pc trace (length and digest), the code stream's
final pc, the error (repr), gas left and refunded, gas per pc and refunds per pc (when a
profiling gas meter is on), output, memory, the sizes of `env.sha3_trace`, the slots of
`env.sstore_trace`, the children and the pcs they were called from.

Hypothesis draws constants from the local modules loaded in the process (a JIT run loads more
of them), which changes the examples it generates; that is turned off so both runs see the
same examples.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, TextIO

_out: TextIO | None = None


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def _record(computation: Any) -> None:
    assert _out is not None
    code = computation.code
    meter = computation._gas_meter
    used = getattr(meter, "_gas_used_of", None)
    refunded = getattr(meter, "_gas_refunded_of", None)
    env = getattr(type(computation), "env", None)
    trace = getattr(code, "_trace", None)
    memory = computation._memory
    fields = [
        hashlib.sha256(bytes(computation.msg.code)).hexdigest()[:12],
        f"depth={computation.msg.depth}",
        f"trace={len(trace) if trace is not None else None}:{_digest(trace)}",
        f"pc={code.program_counter}",
        f"error={computation.error!r}" if computation.is_error else "ok",
        f"gas={getattr(meter, 'gas_remaining', None)}",
        f"refund={getattr(meter, 'gas_refunded', None)}",
        f"used={_digest(list(used.items())) if used is not None else None}",
        f"refunded={_digest(list(refunded.items())) if refunded is not None else None}",
        f"output={_digest(bytes(computation.output))}",
        f"memory={_digest(memory.read_bytes(0, len(memory)))}",
        f"sha3={len(env.sha3_trace) if env is not None else None}",
        "sstore="
        + (_digest(sorted((k, sorted(v)) for k, v in env.sstore_trace.items())) if env else ""),
        f"children={len(computation.children)}",
        f"child_pcs={getattr(computation, '_child_pcs', None)}",
    ]
    _out.write(" ".join(fields) + "\n")


def pytest_configure(config: Any) -> None:
    global _out
    from boa.vm.py_evm import titanoboa_computation
    from hypothesis.internal.conjecture import providers

    providers._get_local_constants = lambda: providers._local_constants
    _out = open(os.environ["BOA_MESSAGES_OUT"], "w")  # noqa: SIM115 - closed at unconfigure
    original = titanoboa_computation.__dict__["apply_computation"].__func__

    def apply_computation(cls: Any, state: Any, msg: Any, tx_ctx: Any, **kwargs: Any) -> Any:
        computation = original(cls, state, msg, tx_ctx, **kwargs)
        _record(computation)
        return computation

    titanoboa_computation.apply_computation = classmethod(apply_computation)


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    if _out is not None:
        _out.write(f"## {nodeid}\n")


def pytest_unconfigure(config: Any) -> None:
    if _out is not None:
        _out.close()
