"""Small builders for the metering tests: sacct answers as text, a period, a placer."""

from __future__ import annotations

from datetime import UTC, datetime

from gpufleet.live.metering.meter import Place
from gpufleet.live.metering.period import Period
from gpufleet.live.metering.sacct import FORMAT

DEC = Period(datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
S = DEC.start_epoch  # 2026-12-01T00:00:00Z = 1796083200
E = DEC.end_epoch  # 2027-01-01T00:00:00Z = 1798761600
H = 3600


def sacct(*rows: str) -> list[str]:
    """``JobID|Account|User|Partition|State|Start|End|AllocTRES|NodeList`` rows, headed."""
    return [FORMAT.replace(",", "|"), *rows]


def row(job: str, account: str, start: object, end: object, tres: str, nodes: str) -> str:
    return f"{job}|{account}|u|h100|COMPLETED|{start}|{end}|{tres}|{nodes}"


PLACES = {
    "gf-h100-1": Place("tesla", "memphis-h100", "memphis", "H100-SXM"),
    "gf-h100-2": Place("xai", "colossus-h100", "colossus", "H100-SXM"),
}
PROGRAMS = {"tesla": ("tesla", "fsd-training"), "xai": ("xai", "grok")}


def place_of(node: str, partition: str, typed: str | None) -> Place | None:
    return PLACES.get(node)


def account_of(account: str) -> tuple[str, str] | None:
    return PROGRAMS.get(account)
