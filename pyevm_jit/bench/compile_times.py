"""Compile times over a corpus of contracts (e.g. every contract in GeneralStateTests)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyevm_jit.bench.cases import BenchInputError, discover_files, hex_bytes
from pyevm_jit.compiler.compile import START_UP_CODE, compile_object
from pyevm_jit.compiler.link import link_object, prepare_linker
from pyevm_jit.compiler.regions import first_region
from pyevm_jit.files import load_json


def corpus_codes(paths: Sequence[str | Path]) -> list[bytes]:
    """Distinct contract codes of state-test-like JSON files: pre-state codes and the init code
    of contract-creating transactions, in a stable order."""
    found: dict[bytes, None] = {}
    for file in discover_files(paths):
        try:
            data = load_json(file)
        except (OSError, ValueError) as exc:
            raise BenchInputError(f"{file}: cannot read JSON ({exc})") from None
        if not isinstance(data, dict):
            continue
        for test in data.values():
            if not isinstance(test, dict):
                continue
            for account in (test.get("pre") or {}).values():
                code = hex_bytes(str(account.get("code", "0x")))
                if code:
                    found.setdefault(code)
            txs = test.get("transaction")
            tx = txs[0] if isinstance(txs, list) and txs else txs
            if isinstance(tx, dict) and not tx.get("to"):
                datas = tx.get("data", [])
                for item in datas if isinstance(datas, list) else [datas]:
                    code = hex_bytes(str(item))
                    if code:
                        found.setdefault(code)
    return list(found)


@dataclass
class CompileTime:
    code_len: int
    seconds: float  # translate + optimise + codegen + link
    phases: dict[str, float]
    error: str = ""
    cpu_seconds: float = 0.0  # this process's CPU time for the same (unaffected by other load)


def compile_time(
    code: bytes, fork: str, opt_level: int | None = None, region_blocks: int = 0
) -> CompileTime:
    """Compile and link one contract in this process, timing the phases; with
    `region_blocks`, only its first region (docs/regions.md), found before the clock starts."""
    region = first_region(code, fork, region_blocks) if region_blocks > 0 else None
    start = time.perf_counter()
    cpu_start = time.process_time()
    try:
        if opt_level is None:
            obj = compile_object(code, fork, region=region)
        else:
            obj = compile_object(code, fork, opt_level, region=region)
        linked_at = time.perf_counter()
        link_object(obj)
    except Exception as exc:
        return CompileTime(len(code), time.perf_counter() - start, {}, repr(exc)[:200])
    link = time.perf_counter() - linked_at
    timings = obj.timings
    phases = {name: float(getattr(timings, name)) for name in ("translate", "optimise", "codegen")}
    phases["link"] = link
    cpu = time.process_time() - cpu_start
    return CompileTime(len(code), time.perf_counter() - start, phases, cpu_seconds=cpu)


def start_engine(fork: str, opt_level: int | None = None) -> None:
    """Start this process's compiler before timing any contract: the linker and runtime
    library (about 0.2 s), and one compilation of a tiny contract, which loads the code
    generator's own code and data (the first compilation in a process costs some 20-40 ms more
    than the same one later). Both happen once per process, not per contract."""
    prepare_linker()
    compile_time(START_UP_CODE, fork, opt_level)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
