"""Results as a text table, a JSON document and a PNG chart."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.harness import Row
from bench.targets import Verdict

_COLUMNS = ("workload", "contender", "median", "spread", "per second", "ratio", "extra")
# Sections timing a client (end to end) also show its CPU time, beside the wall clock.
_CPU_COLUMNS = ("cpu/op", "cpu ratio")


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def _rate(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:,.0f}"


def _cells(row: Row, cpu: bool) -> tuple[str, ...]:
    mark = "  (ref)" if row.contender == row.reference else ""
    extra = " ".join(f"{k}={v:g}" for k, v in row.counters.items())
    cells = (row.workload, row.contender + mark, _duration(row.median),
             f"±{row.spread * 100:.0f}%", _rate(row.ops_per_second), f"{row.ratio:.2f}x")
    if cpu:
        cells += (_duration(row.cpu_per_op), f"{row.cpu_ratio:.2f}x")
    return (*cells, extra)


def table(rows: Sequence[Row], verdicts: Sequence[Verdict]) -> str:
    """One block per section, then the targets with the figures that judge them."""
    lines: list[str] = []
    sections = list(dict.fromkeys(r.section for r in rows))
    for section in sections:
        mine = [r for r in rows if r.section == section]
        cpu = any(r.client_cpu for r in mine)
        columns = (*_COLUMNS[:-1], *(_CPU_COLUMNS if cpu else ()), _COLUMNS[-1])
        body = [_cells(r, cpu) for r in mine]
        widths = [max(len(c) for c in column) for column in zip(columns, *body)]
        lines.append(f"== {section}" + (" (cpu: this process's CPU time, the client's share)"
                                         if cpu else ""))
        lines.append("  ".join(h.ljust(w) for h, w in zip(columns, widths)).rstrip())
        previous = ""
        for cells in body:
            shown = ("" if cells[0] == previous else cells[0], *cells[1:])
            previous = cells[0]
            lines.append("  ".join(c.ljust(w) for c, w in zip(shown, widths)).rstrip())
        lines.append("")
    if verdicts:
        lines.append("== targets (ratios of medians; printed, never asserted)")
        for v in verdicts:
            lines.append(f"[{'met' if v.met else 'MISSED'}] {v.section} / {v.workload}: "
                         f"{v.target} -> {v.measured}")
    return "\n".join(lines)


def as_json(rows: Sequence[Row], verdicts: Sequence[Verdict],
            meta: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "meta": {"python": platform.python_version(), "machine": platform.machine(), **meta},
        "rows": [{**asdict(r), "ops_per_second": r.ops_per_second, "cpu_per_op": r.cpu_per_op}
                 for r in rows],
        "targets": [asdict(v) for v in verdicts],
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def write_png(path: Path, rows: Sequence[Row]) -> None:
    """One panel per section: each workload's contenders as bars of their ratio to the
    reference (1 = the reference; lower is faster), on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    sections = list(dict.fromkeys(r.section for r in rows))
    figure, axes = plt.subplots(len(sections), 1, figsize=(12, 3.6 * len(sections)),
                                squeeze=False)
    for axis, section in zip(axes[:, 0], sections):
        mine = [r for r in rows if r.section == section]
        workloads = list(dict.fromkeys(r.workload for r in mine))
        contenders = list(dict.fromkeys(r.contender for r in mine))
        width = 0.8 / len(contenders)
        for index, contender in enumerate(contenders):
            ratios = {r.workload: r.ratio for r in mine if r.contender == contender}
            xs = [w + index * width - 0.4 + width / 2 for w in range(len(workloads))]
            bars = axis.bar(xs, [ratios.get(w, math.nan) for w in workloads], width,
                            label=contender)
            axis.bar_label(bars, fmt="%.2f", fontsize=6)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
        axis.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
        axis.set_xlim(-0.6, max(len(workloads), 3) - 0.4)  # a lone workload keeps thin bars
        axis.set_xticks(range(len(workloads)), workloads, fontsize=8)
        axis.set_ylabel("time / reference")
        axis.set_title(f"{section} (reference: {mine[0].reference}; lower is faster)")
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
