"""The what-if comparison as pictures: four PNG figures, one per question.

1. ``utilisation``: who used the fleet, over time. One panel per arm (shared y axis): GPUs
   in use per entity as stacked areas, the fleet's ready (powered) GPUs as a line, and the
   stranded GPUs (delivered, not powered) as a hatched band above the ready line, so the
   top of the band is the GPUs delivered.
2. ``milestones``: one panel per program, its cumulative work (reference H100 GPU-hours)
   per arm, mean over seeds with a min-max band, against its milestone: a horizontal line
   at the milestone's GPU-hours and a vertical one at the due date.
3. ``queueing``: one panel per program, the empirical CDF of queueing delay (hours) per
   arm, jobs of every seed pooled; a log axis when delays span more than two decades.
4. ``stranded``: one panel per entity, its stranded GPUs over time per arm.

Series are mean levels per bucket (``SimResult.series``), drawn as steps from each bucket's
start; cumulative work is the level at each bucket's end. Dates come from
``SimResult.start`` plus the bucket index times ``bucket_s``. Levels and the figures in
titles are the run's JSON figures (rounded as ``whatif.json`` and ``--json`` print them,
so a title agrees with them); milestones and their dates are the typed ones.

Figures are drawn on the Agg canvas directly (``Figure`` + ``FigureCanvasAgg``), never
through pyplot: no display is needed and a notebook's own backend is left alone.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any, Protocol

import matplotlib as mpl
import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from gpufleet.domain.scenario import Scenario
from gpufleet.planning.whatif.shapes import ComparisonJson
from gpufleet.sim.metrics import MilestoneOutcome
from gpufleet.sim.result import SimResult

DPI = 150
WIDTH_IN = 10.0
_STYLE: dict[Any, Any] = {  # rcParams for these figures only (rc_context)
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.labelsize": 10.5,
    "legend.fontsize": 10,
    "figure.titlesize": 13.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
# arms: the base in dark grey, variants in colours that differ from the entity palette
_BASE_COLOUR = "#444444"
_ARM_COLOURS = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d")
_STRANDED_COLOUR = "#d62728"
_FLOOR_H = 1 / 60  # on a log axis, delays under a minute are drawn at a minute


class ComparisonLike(Protocol):
    """What the report needs of :class:`gpufleet.planning.whatif.compare.Comparison` (the report
    does not import the what-if runner, :mod:`gpufleet.planning.whatif.compare`; it reads this
    shape, and takes only the JSON's types from :mod:`gpufleet.planning.whatif.shapes`)."""

    @property
    def base(self) -> str: ...
    @property
    def arms(self) -> Mapping[str, Scenario]: ...
    @property
    def seeds(self) -> Sequence[int]: ...
    @property
    def results(self) -> Mapping[str, Sequence[SimResult]]: ...
    def to_dict(self) -> ComparisonJson: ...


@dataclass(frozen=True)
class Plot:
    """One rendered figure: its file stem, a title and a caption for the report."""

    name: str
    title: str
    caption: str
    png: bytes

    def _repr_png_(self) -> bytes:
        """What a notebook (IPython's display) shows for the plot: its PNG."""
        return self.png

    def html(self, note: str = "") -> str:
        """The plot as an HTML figure, the PNG embedded: its title, image and caption."""
        data = base64.b64encode(self.png).decode("ascii")
        return (
            f'<figure id="fig-{escape(self.name)}"><h3>{escape(self.title)}</h3>'
            f'<img src="data:image/png;base64,{data}" alt="{escape(self.title)}" '
            'style="max-width: 100%">'
            f"<figcaption>{escape(self.caption)}{escape(note)}</figcaption></figure>"
        )


class Plots(tuple[Plot, ...]):
    """A comparison's figures, in the report's order. A notebook shows them all, each with
    its title and caption; one of them (``plots[0]``) shows as its PNG."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return "".join(p.html() for p in self)


def render_plots(c: ComparisonLike) -> Plots:
    """The four figures of a comparison, rendered to PNG bytes."""
    out = []
    for name, title, caption, draw in _PLOTS:
        with mpl.rc_context(_STYLE):
            fig = draw(c)
            out.append(Plot(name, title, caption, _png(fig)))
    return Plots(out)


def render_figures(c: ComparisonLike) -> dict[str, Figure]:
    """The four figures of a comparison as matplotlib ``Figure`` objects, by name, drawn
    but not rendered: to restyle, or to save as SVG or PDF (``fig.savefig("u.svg")``)."""
    out = {}
    for name, _title, _caption, draw in _PLOTS:
        with mpl.rc_context(_STYLE):
            fig = draw(c)
        FigureCanvasAgg(fig)  # a canvas of its own: savefig works without pyplot
        out[name] = fig
    return out


def write_plots(c: ComparisonLike, folder: Path) -> list[Path]:
    """Render the figures and write them as ``folder/<name>.png``."""
    paths = []
    for p in render_plots(c):
        path = folder / f"{p.name}.png"
        path.write_bytes(p.png)
        paths.append(path)
    return paths


# --- helpers -------------------------------------------------------------------------------
def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _arm_colour(c: ComparisonLike, arm: str) -> str:
    if arm == c.base:
        return _BASE_COLOUR
    variants = [a for a in c.arms if a != c.base]
    return _ARM_COLOURS[variants.index(arm) % len(_ARM_COLOURS)]


def _arm_order(c: ComparisonLike) -> list[str]:
    return [c.base, *[a for a in c.arms if a != c.base]]


def _entity_colours(names: Sequence[str]) -> dict[str, Any]:
    cmap = mpl.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _dates(ts: Sequence[datetime]) -> Any:
    """Matplotlib's date numbers (days since its epoch), the x values of every time axis."""
    return mdates.date2num(list(ts))  # type: ignore[no-untyped-call]


def _edges(r: SimResult) -> Any:
    """Bucket boundaries as date numbers: n buckets give n + 1 edges, the first at the
    start and the last at the horizon."""
    n = len(r.series["fleet_used_gpus"])
    b = float(r.series["bucket_s"])
    return _dates([r.start + timedelta(seconds=min(i * b, r.horizon_s)) for i in range(n + 1)])


def _mean(rows: Sequence[Sequence[float]]) -> Any:
    """The mean over seeds (a row each) of a series, per bucket."""
    return np.mean(np.array(rows, dtype=float), axis=0)


def _step(y: Any) -> Any:
    """A per-bucket level extended by its last value, for ``step='post'`` drawing."""
    return np.append(y, y[-1]) if len(y) else np.zeros(1)


def _compact(x: float, _pos: object = None) -> str:
    """12,000 -> 12k, 60,000,000 -> 60M."""
    a = abs(x)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            v = x / div
            return f"{v:.0f}{suffix}" if v == round(v) else f"{v:.1f}{suffix}"
    return f"{x:.0f}" if x == round(x) else f"{x:.2g}"


class _Dates(mdates.ConciseDateFormatter):
    """Concise dates whose first tick names its year when nothing else does (across a new
    year the concise formatter shows no offset and names the year only at January)."""

    def format_ticks(self, values: Any) -> list[str]:
        labels: list[str] = list(super().format_ticks(values))  # type: ignore[no-untyped-call]
        offset = self.get_offset()  # type: ignore[no-untyped-call]
        if labels and not offset and not re.search(r"\d{4}", labels[0]):
            year = mdates.num2date(values[0]).year  # type: ignore[no-untyped-call]
            labels[0] += f"\n{year}"
        return labels


def _date_axis(ax: Axes) -> None:
    loc = mdates.AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(_Dates(loc))  # type: ignore[no-untyped-call]


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n <= 3 else 2
    return math.ceil(n / cols), cols


def _panels(n: int, row_in: float, sharex: bool, sharey: bool) -> tuple[Figure, list[Axes]]:
    rows, cols = _grid(n)
    fig = Figure(figsize=(WIDTH_IN, 1.3 + row_in * rows), dpi=DPI, layout="constrained")
    grid = fig.subplots(rows, cols, sharex=sharex, sharey=sharey, squeeze=False)
    axes = [ax for row in grid for ax in row]
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _legend_below(fig: Figure, handles: list[Any], labels: list[str], ncols: int) -> None:
    """One legend for the figure, below the panels, where it covers no data (above them
    it would collide with the figure's title)."""
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False)


# --- 1. utilisation -----------------------------------------------------------------------
def _utilisation(c: ComparisonLike) -> Figure:
    arms = _arm_order(c)
    entities = list(c.results[c.base][0].entities)
    colours = _entity_colours(entities)
    fig, axes = _panels(len(arms), 2.9, sharex=True, sharey=True)
    for ax, arm in zip(axes, arms, strict=True):
        runs = c.results[arm]
        x = _edges(runs[0])
        series = [r.series for r in runs]
        used = [_step(_mean([s["entity_used_gpus"][e] for s in series])) for e in entities]
        ready = _step(_mean([s["fleet_ready_gpus"] for s in series]))
        stranded = _step(_mean([s["fleet_stranded_gpus"] for s in series]))
        ax.stackplot(
            x,
            used,
            labels=[f"{e} (in use)" for e in entities],
            colors=[colours[e] for e in entities],
            step="post",
            alpha=0.85,
        )
        ax.fill_between(
            x,
            ready,
            ready + stranded,
            step="post",
            facecolor="none",
            edgecolor=_STRANDED_COLOUR,
            hatch="///",
            linewidth=0.0,
            label="stranded (delivered, not powered)",
        )
        ax.step(x, ready, where="post", color="black", linewidth=1.6, label="ready (powered) GPUs")
        util = np.mean([r.fleet["utilisation"] for r in runs]) * 100
        ax.set_title(f"{arm}: utilisation of ready GPUs {util:.1f}%")
        ax.set_ylabel("GPUs")
        ax.yaxis.set_major_formatter(FuncFormatter(_compact))
        ax.set_ylim(bottom=0)
        ax.margins(x=0)
        _date_axis(ax)
    handles, labels = axes[0].get_legend_handles_labels()
    _legend_below(fig, handles, labels, min(len(labels), 4))
    fig.suptitle(f"GPUs in use by entity, ready and stranded (mean over {len(c.seeds)} seeds)")
    return fig


# --- 2. milestones ------------------------------------------------------------------------
def _milestones(c: ComparisonLike) -> Figure:
    arms = _arm_order(c)
    first = c.results[c.base][0]
    programs = list(first.metrics.programs)
    fig, axes = _panels(len(programs), 3.0, sharex=True, sharey=False)
    for ax, prog in zip(axes, programs, strict=True):
        ms = first.metrics.programs[prog].milestone
        for arm in arms:
            _work_curve(ax, c.results[arm], prog, _arm_colour(c, arm), _width(c, arm))
        if ms is not None:
            _milestone_lines(ax, ms)
            verdicts = ", ".join(f"{arm} {_verdict(c.results[arm], prog)}" for arm in arms)
            ax.set_title(f"{prog}: '{ms.name}' due {ms.due:%Y-%m-%d}: {verdicts}")
        else:
            ax.set_title(f"{prog} (no milestone)")
        ax.set_ylabel("work done\n(H100 GPU-hours)")
        ax.yaxis.set_major_formatter(FuncFormatter(_compact))
        ax.set_ylim(bottom=0)
        ax.margins(x=0)
        _date_axis(ax)
    handles, labels = _arm_handles(c)
    if len(c.seeds) > 1:
        handles.append(Patch(facecolor="#888888", alpha=0.3))
        labels.append("min-max over seeds")
    if any(first.metrics.programs[p].milestone for p in programs):
        handles += [
            Line2D([], [], color="black", linestyle="--", linewidth=1.1),
            Line2D([], [], color="black", linestyle=":", linewidth=1.3),
            Line2D([], [], color="black", marker="o", linestyle="none"),
        ]
        labels += ["milestone GPU-hours", "due date", "reached (each seed)"]
    _legend_below(fig, handles, labels, min(len(labels), 4))
    fig.suptitle(f"Cumulative work against milestones (mean over {len(c.seeds)} seeds)")
    return fig


def _work_curve(ax: Axes, runs: Sequence[SimResult], prog: str, colour: str, width: float) -> None:
    """Mean cumulative work with its min-max band, and a dot where each seed reached the
    milestone."""
    x = _edges(runs[0])
    ys = np.array([[0.0, *r.series["program_work_done_gpu_hours"][prog]] for r in runs])
    ax.plot(x, ys.mean(axis=0), color=colour, linewidth=width)
    if len(runs) > 1:
        ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), color=colour, alpha=0.25, lw=0)
    ms = [r.metrics.programs[prog].milestone for r in runs]
    reached = [m.reached for m in ms if m is not None and m.reached is not None]
    if reached and ms[0]:
        level = [ms[0].gpu_hours] * len(reached)
        ax.plot(_dates(reached), level, "o", color=colour, markersize=6, markeredgecolor="white")


def _verdict(runs: Sequence[SimResult], prog: str) -> str:
    """'+50.1 d' (mean delay over the seeds that reached it) or 'not reached'."""
    outcomes = [r.programs[prog]["milestone"] for r in runs]
    delays = [m["delay_days"] if m else None for m in outcomes]
    reached = [d for d in delays if d is not None]
    if not reached:
        return "not reached"
    mean = sum(reached) / len(reached)
    missed = len(delays) - len(reached)
    hours = round(mean * 24)
    text = f"{mean:+.1f} d" if abs(mean) >= 1 else f"{hours:+d} h" if hours else "on time"
    return text + (f" ({missed} of {len(delays)} seeds not reached)" if missed else "")


def _milestone_lines(ax: Axes, ms: MilestoneOutcome) -> None:
    due = float(_dates([ms.due])[0])
    ax.axhline(ms.gpu_hours, color="black", linestyle="--", linewidth=1.1)
    ax.axvline(due, color="black", linestyle=":", linewidth=1.3)
    ax.annotate(
        f"{_compact(ms.gpu_hours)} GPU-h",
        (0.0, ms.gpu_hours),
        xycoords=("axes fraction", "data"),
        xytext=(4, 3),
        textcoords="offset points",
        fontsize=9,
        va="bottom",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )


# --- 3. queueing --------------------------------------------------------------------------
def _queueing(c: ComparisonLike) -> Figure:
    arms = _arm_order(c)
    programs = list(c.results[c.base][0].metrics.programs)
    fig, axes = _panels(len(programs), 2.9, sharex=False, sharey=True)
    for ax, prog in zip(axes, programs, strict=True):
        delays = {arm: np.sort(_delays_h(c.results[arm], prog)) for arm in arms}
        log = _wide(np.concatenate(list(delays.values())))
        for arm, d in delays.items():
            if d.size:
                x = np.maximum(d, _FLOOR_H) if log else d
                y = np.arange(1, d.size + 1) / d.size * 100
                ax.step(x, y, where="post", color=_arm_colour(c, arm), linewidth=_width(c, arm))
        if log:
            ax.set_xscale("log")
            ax.set_xlabel("queueing delay (hours, log scale; under 1 min drawn at 1 min)")
        else:
            ax.set_xlabel("queueing delay (hours)")
            ax.set_xlim(left=0)
        medians = ", ".join(
            f"{arm} {_hours(float(np.median(d)))}" if d.size else f"{arm} no jobs"
            for arm, d in delays.items()
        )
        ax.set_title(f"{prog}: median {medians}")
        ax.set_ylabel("jobs started\nwithin (%)")
        ax.set_ylim(0, 101)
    handles, labels = _arm_handles(c)
    _legend_below(fig, handles, labels, min(len(labels), 6))
    fig.suptitle(
        f"Queueing delay: share of each program's jobs started within x hours "
        f"(jobs of {len(c.seeds)} seeds pooled)"
    )
    return fig


def _delays_h(runs: Sequence[SimResult], prog: str) -> Any:
    parts = [r.jobs["queueing_delay_s"][r.jobs["program"] == prog] / 3600 for r in runs]
    return np.concatenate(parts) if parts else np.zeros(0)


def _wide(d: Any) -> bool:
    """More than two decades between the small delays (5th percentile, at least a minute)
    and the largest one."""
    pos = d[d > 0]
    if pos.size < 2:
        return False
    lo = max(float(np.percentile(pos, 5)), _FLOOR_H)
    return float(pos.max()) / lo > 100


def _hours(h: float) -> str:
    if h < 1:
        return f"{h * 60:.0f} min"
    return f"{h:,.0f} h" if h >= 10 else f"{h:.1f} h"


# --- 4. stranded --------------------------------------------------------------------------
def _stranded(c: ComparisonLike) -> Figure:
    arms = _arm_order(c)
    entities = list(c.results[c.base][0].entities)
    fig, axes = _panels(len(entities), 2.4, sharex=True, sharey=True)
    peak = 0.0
    for ax, ent in zip(axes, entities, strict=True):
        totals = []
        for i, arm in enumerate(arms):
            runs = c.results[arm]
            y = _step(_mean([r.series["entity_stranded_gpus"][ent] for r in runs]))
            x = _edges(runs[0])
            peak = max(peak, float(np.max(y)))
            colour = _arm_colour(c, arm)
            if i == 0:
                ax.fill_between(x, y, step="post", color=colour, alpha=0.15, lw=0)
            ax.step(x, y, where="post", color=colour, **_arm_line(i))
            days = np.mean([r.entities[ent]["stranded_gpu_days"] for r in runs])
            totals.append(f"{arm} {days:,.0f}")
        ax.set_title(f"{ent}: stranded GPU-days {', '.join(totals)}")
        ax.set_ylabel("stranded GPUs")
        ax.yaxis.set_major_formatter(FuncFormatter(_compact))
        ax.margins(x=0)
        _date_axis(ax)
    for ax in axes:
        ax.set_ylim(0, max(peak * 1.1, 1.0))
    handles, labels = _arm_handles(c, styled=True)
    _legend_below(fig, handles, labels, min(len(labels), 6))
    fig.suptitle(
        f"Stranded GPUs (delivered, not powered) per entity (mean over {len(c.seeds)} seeds)"
    )
    return fig


def _width(c: ComparisonLike, arm: str) -> float:
    """The base drawn wider, under the variants: where a variant equals it, the base
    still shows as a grey edge."""
    return 3.4 if arm == c.base else 1.8


def _arm_line(i: int) -> dict[str, Any]:
    """The base solid and thick, variants dashed on top, so equal lines stay visible."""
    if i == 0:
        return {"linewidth": 2.8, "linestyle": "-"}
    return {"linewidth": 1.8, "linestyle": (0, (4, 2))}


def _arm_handles(c: ComparisonLike, styled: bool = False) -> tuple[list[Any], list[str]]:
    arms = _arm_order(c)
    handles: list[Any] = [
        Line2D(
            [],
            [],
            color=_arm_colour(c, a),
            **(_arm_line(i) if styled else {"linewidth": _width(c, a)}),
        )
        for i, a in enumerate(arms)
    ]
    labels = [f"{a} (base)" if a == c.base else a for a in arms]
    return handles, labels


_PLOTS: tuple[tuple[str, str, str, Callable[[ComparisonLike], Figure]], ...] = (
    (
        "utilisation",
        "Utilisation by entity",
        "GPUs in use per entity (stacked), the fleet's ready (powered) GPUs (black line) and "
        "stranded GPUs (hatched: delivered but waiting for power), one panel per arm.",
        _utilisation,
    ),
    (
        "milestones",
        "Work against milestones",
        "Each program's cumulative work in reference (H100) GPU-hours, mean over seeds with "
        "the min-max band; dashed: the milestone's GPU-hours, dotted: its due date, dots: "
        "where each seed reached it. Titles give the mean days early (-) or late (+).",
        _milestones,
    ),
    (
        "queueing",
        "Queueing delay",
        "Share of each program's jobs that started within a given delay after submission, "
        "per arm, jobs of every seed pooled.",
        _queueing,
    ),
    (
        "stranded",
        "Stranded capacity",
        "GPUs delivered to each entity but not yet powered, over time, per arm.",
        _stranded,
    ),
)
