"""Reporting: the table, the JSON document, the machine line and the speed-up chart."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyevm_jit.bench.measure import BenchOptions, CaseResult, nan_to_none


def geometric_mean(values: Iterable[float]) -> float:
    finite = [v for v in values if v > 0 and not math.isnan(v)]
    if not finite:
        return math.nan
    return math.exp(sum(math.log(v) for v in finite) / len(finite))


def fmt_time(ns: int) -> str:
    if not ns:
        return "-"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.1f} us"


def fmt_ratio(value: float, suffix: str = "x") -> str:
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:.0f}{suffix}"
    return f"{value:.2f}{suffix}" if value < 10 else f"{value:.1f}{suffix}"


def fmt_rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def table_rows(results: Sequence[CaseResult]) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows and footnotes of the results table (plain strings)."""
    with_revm = any(r.pyrevm is not None for r in results)
    with_cold = any(r.jit_cold is not None for r in results)
    with_tx = any(r.jit_tx is not None for r in results)
    header = [
        "case",
        "gas used",
        "stock",
        "JIT",
        "speedup",
    ]
    if with_tx:
        header += ["stock tx", "JIT tx", "speedup tx"]
    if with_cold:
        header += ["stock cold", "JIT cold", "speedup cold"]
    header += [
        "compile",
        "tier-up",
        "side exits",
        "stock Mgas/s",
        "JIT Mgas/s",
    ]
    if with_revm:
        header += ["pyrevm", "JIT/pyrevm"]
        if with_tx:
            header += ["JIT tx/pyrevm"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for r in results:
        if r.status != "ok":
            row = [r.name, "ERROR"] + [""] * (len(header) - 2)
            rows.append(row)
            notes.append(f"{r.name}: {r.error}")
            continue
        name = r.name if r.native or r.stock_both else r.name + " *"
        if not r.native and not r.stock_both:
            notes.append(f"* {r.name}: the JIT side did not run native code {r.jit_counters}")
        for failure in r.compile_failures:
            notes.append(f"{r.name}: {failure}")
        row = [
            name,
            str(r.gas_used),
            fmt_time(r.stock.median_ns),
            fmt_time(r.jit.median_ns),
            fmt_ratio(r.speedup),
        ]
        if with_tx:
            row += [
                fmt_time(r.stock_tx.median_ns) if r.stock_tx else "-",
                fmt_time(r.jit_tx.median_ns) if r.jit_tx else "-",
                fmt_ratio(r.speedup_tx),
            ]
        if with_cold:
            row += [
                fmt_time(r.stock_cold.median_ns) if r.stock_cold else "-",
                fmt_time(r.jit_cold.median_ns) if r.jit_cold else "-",
                fmt_ratio(r.speedup_cold),
            ]
        row += [
            f"{r.compile_seconds * 1e3:.0f} ms" if not r.stock_both else "-",
            f"{r.tier_up_seconds * 1e3:.0f} ms" if r.tier_up_seconds else "-",
            f"{r.side_exits_before}+{r.side_exits}",
            fmt_rate(r.mgas_per_s("stock")),
            fmt_rate(r.mgas_per_s("jit")),
        ]
        if with_revm:
            row += [
                fmt_time(r.pyrevm.median_ns) if r.pyrevm else "-",
                fmt_ratio(r.jit_vs_pyrevm),
            ]
            if with_tx:
                row += [fmt_ratio(r.jit_tx_vs_pyrevm)]
            if r.pyrevm_error:
                notes.append(f"{r.name}: {r.pyrevm_error}")
        rows.append(row)
    ok = [r for r in results if r.status == "ok"]
    geo = ["geometric mean", "", "", "", fmt_ratio(geometric_mean(r.speedup for r in ok))]
    if with_tx:
        geo += ["", "", fmt_ratio(geometric_mean(r.speedup_tx for r in ok))]
    if with_cold:
        geo += ["", "", fmt_ratio(geometric_mean(r.speedup_cold for r in ok))]
    geo += ["", "", "", "", ""]
    if with_revm:
        geo += ["", fmt_ratio(geometric_mean(r.jit_vs_pyrevm for r in ok))]
        if with_tx:
            geo += [fmt_ratio(geometric_mean(r.jit_tx_vs_pyrevm for r in ok))]
    rows.append(geo)
    baselines = sorted({r.baseline for r in results if r.baseline})
    if baselines:
        notes.append(f"stock and pyrevm figures reused from {', '.join(baselines)}")
    if any(r.stock_both for r in results):
        notes.append("--stock-both: the JIT column ran the stock interpreter (harness self-test)")
    if with_tx:
        notes.append(
            "stock/JIT: the message (apply_message); tx: the whole transaction "
            "(state.apply_transaction), warm; pyrevm's message_call is a transaction"
        )
    if with_cold:
        notes.append(
            "stock/JIT: repeated runs on one state (warm); cold: a fresh copy of the persisted "
            "pre-state per run (every trie read cold)"
        )
    notes.append(
        "side exits: taken by region programs (docs/regions.md) before the timed runs + "
        "during them (0+0: whole-contract programs)"
    )
    return header, rows, notes


def format_table(results: Sequence[CaseResult], *, markdown: bool = False) -> str:
    header, rows, notes = table_rows(results)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines + [""] + [f"- {n}" for n in notes])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    return "\n".join(out + notes)


def results_json(results: Sequence[CaseResult], options: BenchOptions) -> dict[str, Any]:
    ok = [r for r in results if r.status == "ok"]
    return {
        "machine": machine_description(),
        "options": asdict(options),
        "cases": [r.to_json() for r in results],
        "geometric_mean": {
            "speedup": nan_to_none(geometric_mean(r.speedup for r in ok)),
            "speedup_cold": nan_to_none(geometric_mean(r.speedup_cold for r in ok)),
            "speedup_tx": nan_to_none(geometric_mean(r.speedup_tx for r in ok)),
            "jit_vs_pyrevm": nan_to_none(geometric_mean(r.jit_vs_pyrevm for r in ok)),
        },
    }


def machine_description() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cpus, Python {platform.python_version()}, {platform.system()}"


def plot_speedups(results: Sequence[CaseResult], filename: str) -> None:
    """Bar chart of the speedups (log scale). Needs matplotlib (the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r.status == "ok"]
    names = [r.name for r in ok]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names) + 2), 4.5))
    ax.bar(names, [r.speedup for r in ok], label="JIT vs stock py-evm")
    revm = [r for r in ok if r.pyrevm is not None]
    if revm:
        ratios = [r.stock.median_ns / r.pyrevm.median_ns for r in revm if r.pyrevm]
        ax.scatter([r.name for r in revm], ratios, color="black", zorder=3, label="pyrevm")
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_ylabel("speedup over stock py-evm (x)")
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right")
    fig.tight_layout()
    fig.savefig(filename, dpi=120)
    plt.close(fig)
