"""The worker's timing and its split of a diff, as pure functions (the worker,
:mod:`.worker`, does the I/O):

1. **When to wake** (:func:`next_wake`): at ``now + every``, or sooner at the first start
   or end of a transfer of the plan after ``now`` (a window is ``[start, end)``, so the
   transfer is in force from its start and out of force at its end: waking at those
   instants enacts it then, not a tick later).
2. **Back-off** (:func:`backoff_s`) after a failed attempt (the cluster down or refusing):
   "equal jitter", ``d = min(cap, base * 2**(attempt-1))``, wait ``d/2 + u*d/2`` with ``u``
   uniform in [0, 1): never more than the cap, never less than half the step, and two
   workers that failed together do not retry together
   (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
3. **Scheduled or drift** (:func:`split`): a difference between the cluster and the
   desired state at now is *scheduled* when the desired value of its (account,
   attribute) or reservation changed since the worker's last tick (a transfer began or
   ended, a quota row took effect, a transfer was revoked), or on the worker's first
   tick; every other difference is *drift*: the cluster was changed by someone else.
   The worker applies the scheduled ones; the drift only with ``enforce``.
4. **Clock skew** (:func:`skew_s`): the service's clock governs (the register's
   instants are the service's; a GrpTRES change takes effect when its command runs,
   whatever Slurm's clock says). Slurm's clock matters for reservations, whose
   ``StartTime``/``EndTime`` Slurm reads on its own clock: past ``max_skew`` the worker
   does not enact and says why, rather than reserve nodes at the wrong hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from gpufleet.live.enact.diff import Change, Kind, spec_of_desired
from gpufleet.live.enact.model import PARENT, DesiredState
from gpufleet.live.enact.register import TransferRec

Key = tuple[str, str]
"""(account, attribute) or (reservation name, "")."""


def next_wake(transfers: Iterable[TransferRec], now: datetime, every_s: float) -> datetime:
    """The earlier of ``now + every_s`` and the first transfer start or end after ``now``."""
    tick = now + timedelta(seconds=every_s)
    edges = [t for tr in transfers for t in (tr.start, tr.end) if t is not None and t > now]
    return min([tick, *edges])


def backoff_s(attempt: int, base_s: float, cap_s: float, u: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (from 1); ``u`` in [0, 1)."""
    step = min(cap_s, base_s * 2.0 ** max(0, attempt - 1))
    return step / 2 + u * step / 2


def desired_values(desired: DesiredState) -> dict[Key, object]:
    """Every value the desired state sets, by key, as JSON would hold it (a reservation
    as its spec's fields), so that the values journalled compare equal after a restart."""
    out: dict[Key, object] = {s.key: s.value for s in desired.settings}
    out.update({(r.name, ""): asdict(spec_of_desired(r)) for r in desired.reservations})
    return out


def as_rows(values: Mapping[Key, object]) -> list[list[object]]:
    """For the journal: ``[[target, attribute, value], ...]``."""
    return [[k[0], k[1], v] for k, v in sorted(values.items())]


def from_rows(rows: Iterable[list[object]]) -> dict[Key, object]:
    return {(str(r[0]), str(r[1])): r[2] for r in rows}


def change_key(c: Change) -> Key:
    """An added account is its parent setting (the desired state's key for it)."""
    return (c.target, PARENT) if c.kind is Kind.ADD_ACCOUNT else (c.target, c.attribute)


@dataclass(frozen=True)
class Split:
    scheduled: tuple[Change, ...]
    drift: tuple[Change, ...]


def split(
    changes: Iterable[Change],
    desired: Mapping[Key, object],
    baseline: Mapping[Key, object] | None,
) -> Split:
    """``baseline``: the desired values at the last tick (None: the first tick, where all
    is scheduled)."""
    scheduled: list[Change] = []
    drift: list[Change] = []
    for c in changes:
        k = change_key(c)
        moved = baseline is None or baseline.get(k) != desired.get(k)
        (scheduled if moved else drift).append(c)
    return Split(tuple(scheduled), tuple(drift))


def skew_s(cluster_clock: datetime, ours_before: datetime, ours_after: datetime) -> float:
    """The cluster's clock less ours, ours taken as the midpoint of the request (the
    answer was produced somewhere between the two readings), in seconds."""
    mid = ours_before + (ours_after - ours_before) / 2
    return (cluster_clock - mid).total_seconds()
