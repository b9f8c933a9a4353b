"""The fast path of squeue's jobs: one job read straight from the decoded JSON, for the
shape Slurm 22.05 writes (openapi v0.0.38: plain numbers, the state as one string).

Why: ``squeue --json`` lists every pending job (5,100 at the 10,000-GPU bench), and the
checked path (:class:`gpufleet.live.jsonread.At`, one object per field read so that an
error names ``jobs[3].time_limit``) made about 93,000 calls for them, 0.4-0.6 s of a
cycle. This path reads the same fields with plain type checks and gives up (``None``) at
the first thing it does not expect: a field missing or of another type, the newer
versions' ``{"set", "infinite", "number"}`` numbers, a GRES, TRES or host list string
that does not parse. The caller then reads that job through the checked path, which gives
the same job or the precise error naming the field: the errors are only ever the checked
path's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gpufleet.live.errors import SourceError
from gpufleet.live.jsonread import At
from gpufleet.live.slurm.gres import gpus_of_tres, gres_allocations, host_list, tres_list
from gpufleet.live.slurm.model import GpuAllocation, JobState, SlurmJob

# Slurm's "no value" sentinels in 32-bit fields (NO_VAL, INFINITE)
NO_VAL32 = (0xFFFFFFFE, 0xFFFFFFFF)
_STATES = {s.value: s for s in JobState}
_ANY = At("", "", None)  # the string parsers' ``where``: their errors send us to the checked path


class _Unexpected(Exception):
    """Something the fast path does not read: the checked path reads the job instead."""


def fast_job(raw: object, as_of: datetime) -> SlurmJob | None:
    """The job in ``raw`` as the checked path reads it, or None where it must read it."""
    if not isinstance(raw, dict):
        return None
    try:
        return _job(raw, as_of)
    except (_Unexpected, SourceError):
        return None


def _text(raw: dict[str, object], name: str) -> str:
    value = raw.get(name)
    if type(value) is not str:
        raise _Unexpected(name)
    return value


def _whole(raw: dict[str, object], name: str, *, optional: bool = False) -> int | None:
    value = raw.get(name, ...)
    if value is None and optional:
        return None
    if type(value) is not int:  # a float, a dict, a bool, missing: the checked path
        raise _Unexpected(name)
    return value


def _epoch(raw: dict[str, object], name: str) -> datetime | None:
    seconds = _whole(raw, name, optional=True)
    if seconds is None or seconds <= 0 or seconds in NO_VAL32:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _job(raw: dict[str, object], as_of: datetime) -> SlurmJob:
    state = _STATES.get(_text(raw, "job_state"))
    if state is None:
        raise _Unexpected("job_state")
    gpus = gpus_of_tres(tres_list(_ANY, _text(raw, "tres_req_str"))) or (0, None)
    nodes = host_list(_ANY, _text(raw, "nodes"))
    started = state is not JobState.PENDING and bool(nodes)
    start = _epoch(raw, "start_time") if started else None
    end = _epoch(raw, "end_time") if start is not None else None
    elapsed = None
    if start is not None:
        until = as_of if state.holds_gpus or end is None else end
        elapsed = max(0, int((until - start).total_seconds()))
    reason = _text(raw, "state_reason")
    submit = _epoch(raw, "submit_time")
    limit = _whole(raw, "time_limit", optional=True)
    comment = raw.get("comment")
    if submit is None or (comment is not None and type(comment) is not str):
        raise _Unexpected("submit_time or comment")
    return SlurmJob(
        job_id=_whole(raw, "job_id") or 0,
        name=_text(raw, "name"),
        user=_text(raw, "user_name"),
        account=_text(raw, "account"),
        partition=_text(raw, "partition"),
        qos=_text(raw, "qos"),
        state=state,
        reason="" if reason == "None" else reason,
        gpus=gpus[0],
        gpu_type=gpus[1],
        nodes=nodes,
        allocations=_allocations(raw, nodes) if state.holds_gpus else (),
        submit_time=submit,
        start_time=start,
        end_time=end,
        elapsed_s=elapsed,
        time_limit_s=None if limit is None or limit in NO_VAL32 else limit * 60,
        priority=_whole(raw, "priority", optional=True) or 0,
        flags=(),
        comment=comment or "",
        expected_start=_epoch(raw, "start_time") if state is JobState.PENDING else None,
    )


def _allocations(raw: dict[str, object], nodes: tuple[str, ...]) -> tuple[GpuAllocation, ...]:
    detail = raw.get("gres_detail")
    if detail is None:
        return ()
    if type(detail) is not list or (detail and len(detail) != len(nodes)):
        raise _Unexpected("gres_detail")
    out: list[GpuAllocation] = []
    for node, entry in zip(nodes, detail, strict=False):
        if type(entry) is not str:
            raise _Unexpected("gres_detail")
        out.extend(gres_allocations(_ANY, node, entry))
    return tuple(out)
