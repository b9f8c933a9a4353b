"""What the default run skipped for want of a service, grouped, and how to run it.

``make test`` on a fresh clone skips whole suites: the PostgreSQL cases, the dashboard in
Chromium, the live tests on the dev cluster, the replays of public traces. Each skip
already says why; at the end of the run (tests/conftest.py's terminal summary) these
groups are counted, with what each needs and the one command that runs them. Skips for
other reasons (a platform's limit, a test that needs root) are not in a group and leave
the summary as pytest writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

RUN_THEM = "make test-all"


@dataclass(frozen=True)
class SkipGroup:
    """A suite that skips where a service is absent: its name, the words every skip reason
    of the suite contains (any one of them), and what brings the service."""

    name: str
    marks: tuple[str, ...]
    needs: str


GROUPS: tuple[SkipGroup, ...] = (
    SkipGroup(
        "PostgreSQL absent",
        ("GPUFLEET_TEST_PG_URL", "PostgreSQL"),
        f"`{RUN_THEM}` starts a throwaway PostgreSQL where its binaries are installed "
        "(or set GPUFLEET_TEST_PG_URL)",
    ),
    SkipGroup(
        "Chromium absent",
        ("Chromium",),
        "install Debian's chromium (/usr/bin/chromium; or set GPUFLEET_TEST_CHROMIUM)",
    ),
    SkipGroup(
        "dev cluster absent",
        ("dev cluster", "devcluster", "Slurm's commands"),
        "bring it up with `make dev-cluster`, as root (a real Slurm and Prometheus, docs/live.md)",
    ),
    SkipGroup(
        "traces absent",
        ("GPUFLEET_TRACES",),
        "set GPUFLEET_TRACES to the folder of the public traces",
    ),
)


NEVER_RUN = "not run ("
"""How tests/docs begins the reason of a documented block no run executes (a synopsis, a
server that runs until stopped): no service would run it, so it is in no group."""


def group_of(reason: str) -> SkipGroup | None:
    """The group whose marks the reason contains (the first, in GROUPS' order)."""
    if reason.removeprefix("Skipped: ").startswith(NEVER_RUN):
        return None
    return next((g for g in GROUPS if any(m in reason for m in g.marks)), None)


def summary(reasons: Iterable[str]) -> list[str]:
    """The summary's lines for these skip reasons; none when no skip is in a group."""
    counts = {g.name: 0 for g in GROUPS}
    for reason in reasons:
        group = group_of(reason)
        if group is not None:
            counts[group.name] += 1
    lines = [f"{g.name}: {counts[g.name]} skipped; {g.needs}" for g in GROUPS if counts[g.name]]
    if lines:
        lines.append(f"then one command runs them all: {RUN_THEM}")
    return lines


def skip_reason(report: Any) -> str:
    """A skipped test's reason, as ``pytest -rs`` shows it."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def write_summary(terminalreporter: Any) -> None:
    """The grouped skips at the end of a run (pytest's ``pytest_terminal_summary``)."""
    skipped: Sequence[Any] = terminalreporter.stats.get("skipped", [])
    lines = summary(skip_reason(r) for r in skipped)
    if not lines:
        return
    terminalreporter.section("skipped suites: what they need", sep="-")
    for line in lines:
        terminalreporter.write_line(line)
