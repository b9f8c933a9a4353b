"""Slurm's reservations from ``scontrol -o show reservation``: one line per reservation,
``Key=value`` pairs separated by spaces (22.05 has no ``--json`` for it); the line "No
reservations in the system" when there are none. Times are the cluster's local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gpufleet.live.errors import SourceError
from gpufleet.live.runner import CommandRunner, command_text

SCONTROL_RESERVATIONS = ("scontrol", "-o", "show", "reservation")


@dataclass(frozen=True)
class Reservation:
    name: str
    start: datetime  # aware UTC
    end: datetime
    nodes: str  # Slurm's hostlist expression, as it prints it
    accounts: tuple[str, ...]
    flags: tuple[str, ...]
    raw: dict[str, str]


def _time(source: str, line: int, key: str, value: str) -> datetime:
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        raise SourceError(
            source, key, f"{value!r} is not a time", "YYYY-MM-DDTHH:MM:SS", line
        ) from None


def _list(value: str) -> tuple[str, ...]:
    return () if value in ("", "(null)") else tuple(v for v in value.split(",") if v)


def parse_reservations(source: str, text: str) -> tuple[Reservation, ...]:
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("No reservations"):
            continue
        pairs = dict(item.partition("=")[::2] for item in line.split())
        if "ReservationName" not in pairs:
            raise SourceError(source, "ReservationName", "missing", "ReservationName=NAME ...", n)
        out.append(
            Reservation(
                name=pairs["ReservationName"],
                start=_time(source, n, "StartTime", pairs.get("StartTime", "")),
                end=_time(source, n, "EndTime", pairs.get("EndTime", "")),
                nodes=pairs.get("Nodes", ""),
                accounts=_list(pairs.get("Accounts", "")),
                flags=_list(pairs.get("Flags", "")),
                raw=pairs,
            )
        )
    return tuple(out)


def read_reservations(runner: CommandRunner) -> tuple[Reservation, ...]:
    argv = SCONTROL_RESERVATIONS
    return parse_reservations(command_text(argv), runner.run(argv))
