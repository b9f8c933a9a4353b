"""A seeded plain CSV in the normalized workload's columns, for the tests that read a trace
a chunk at a time: a realistic mix (CPU-only and multi-GPU jobs, unknown durations, two GPU
models and none, several queues, ties on the same submit second) and, on request, bad rows
of every kind the reader reports (missing or non-numeric values, NaN or infinity written
out, negative numbers, short rows, blank lines); times as relative seconds, Unix seconds or
ISO 8601 text in the spellings ``datetime.fromisoformat`` reads (``Z``, an offset, none,
a space for the ``T``, fractions of a second)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

HEADER = "submit_s,start_s,duration_s,gpus,gpu_type,cpus,memory_gb,queue,user,status,job_id"
MAP = (
    "submit=submit_s,start=start_s,duration=duration_s,gpus=gpus,gpu_type=gpu_type,cpus=cpus,"
    "memory_gb=memory_gb,queue=queue,user=user,status=status,job_id=job_id"
)
BAD_VALUES = ("", "NA", "nan", "-nan", "inf", "-inf", "x", "-1", " null ", "1e400", "-1e400")


def write_trace_csv(
    path: Path,
    rows: int,
    seed: int,
    *,
    bad_share: float = 0.0,
    unix: bool = False,
    iso: bool = False,
) -> Path:
    """``rows`` jobs (plus blank lines) to ``path``; ``bad_share`` of them get one bad cell
    or lose their last field. ``unix``: submit and start are Unix seconds; ``iso``: ISO
    8601 text of those seconds, each cell in a spelling of its own."""
    rng = random.Random(seed)
    t = 1.7e9 if unix or iso else 0.0
    lines = [HEADER]
    for i in range(rows):
        t += rng.choice((0.0, rng.expovariate(1 / 30)))  # half the jobs tie with the last
        dur = "" if rng.random() < 0.02 else f"{rng.lognormvariate(6, 1.5):.0f}"
        gpus = rng.choice((0, 1, 1, 1, 2, 4, 8, 0.5))
        cells = [
            f"{t:.1f}",
            f"{t + rng.random() * 600:.1f}",
            dur,
            str(gpus),
            rng.choice(("", "V100", "V100", "h100")),
            str(max(1, int(gpus * 6))),
            f"{gpus * 48 + 4:g}",
            f" q{rng.randrange(6)} ",
            f"u{rng.randrange(20)}",
            rng.choice(("COMPLETED", "FAILED")),
            f"job-{i}",
        ]
        if iso:
            cells[0], cells[1] = (_iso(float(c), rng) for c in cells[:2])
        r = rng.random()
        if r < bad_share:
            cells[rng.randrange(len(cells) - 1)] = rng.choice(BAD_VALUES)
        elif r < bad_share * 1.3:
            cells = cells[:-1]
        elif r < 0.01:
            lines.append("")
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30)), None)


def _iso(epoch_s: float, rng: random.Random) -> str:
    """``epoch_s`` as ISO 8601 text: with ``Z``, an offset or none (read as UTC), a ``T``
    or a space, whole seconds or a fraction."""
    zone = rng.choice(_ZONES)
    at = datetime.fromtimestamp(epoch_s, zone or UTC)
    text = at.replace(tzinfo=None).isoformat(sep=rng.choice("T "))
    if zone is UTC and rng.random() < 0.5:
        return text + "Z"
    return text if zone is None else text + at.strftime("%z")[:3] + ":" + at.strftime("%z")[3:]
