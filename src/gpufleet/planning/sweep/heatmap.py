"""The heat map of one figure over a sweep's grid, and where a sweep's files go."""

from __future__ import annotations

import re
from pathlib import Path

from gpufleet.planning.sweep.results import SweepResult


def write_heatmap(result: SweepResult, metric: str, path: Path) -> None:
    """One metric's mean over the two grid axes, each cell labelled with its value."""
    # imported here: matplotlib takes half a second to load, and only the heat map needs it
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    rows, cols, z = result.grid_of(metric)
    axes = result.spec.axes
    width, height = max(6.0, 2.0 + 0.9 * len(cols)), max(3.5, 1.8 + 0.45 * len(rows))
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    img = ax.imshow(z, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(axes[-1].name)
    if len(axes) == 2:
        ax.set_ylabel(axes[0].name)
    lo, hi = min(min(r) for r in z), max(max(r) for r in z)
    for i, row in enumerate(z):
        for j, v in enumerate(row):
            dark = hi > lo and (v - lo) / (hi - lo) < 0.5
            ax.text(j, i, _short(v), ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")  # fmt: skip
    fig.colorbar(img, ax=ax).set_label(metric, fontsize=8)
    seeds = f"mean of {len(result.seeds)} seed{'s' if len(result.seeds) != 1 else ''}"
    ax.set_title(f"{metric}\n{result.base}, {seeds}", fontsize=9)
    fig.savefig(path, dpi=110)


def _short(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.1f}M"
    if abs(v) >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:.2f}"


def output_paths(out: Path, metric: str) -> dict[str, Path]:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", metric)
    return {
        "csv": out / "sweep.csv",
        "json": out / "sweep.json",
        "png": out / f"heatmap-{safe}.png",
    }
