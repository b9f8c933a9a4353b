"""Jobs and nodes from Slurm's JSON: ``squeue --json`` and ``sinfo --json`` (openapi
v0.0.38 in Slurm 22.05; slurmrestd's ``/slurm/v0.0.38/jobs`` and ``/nodes`` answer the
same shapes), and the v0.0.39+ shapes (numbers as ``{"set", "infinite", "number"}``,
states as lists) where later versions changed them.

Jobs are read through :mod:`gpufleet.live.slurm.jobs_fast` first (22.05's shape, plain
type checks), and through the checked path here wherever it meets anything else: the
same jobs, and every error names its field as this path words it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gpufleet.live.jsonread import At
from gpufleet.live.slurm.gres import (
    gpus_of_tres,
    gres_allocations,
    gres_counts,
    host_list,
    tres_list,
)
from gpufleet.live.slurm.jobs_fast import NO_VAL32, fast_job
from gpufleet.live.slurm.model import (
    BASE_JOB_STATES,
    GpuAllocation,
    JobState,
    NodeState,
    SlurmJob,
    SlurmNode,
)

_NO_VAL32 = NO_VAL32


def check_errors(root: At) -> None:
    """Slurm puts failures in ``errors`` beside an empty answer: say so, don't read on."""
    errors = root.opt("errors")
    if errors is None or not errors.items():
        return
    first = errors.items()[0]
    if isinstance(first.value, str):
        text = first.value
    else:  # {"error": ..., "description": ..., "error_number": ...}
        text = first.opt_text("description") or first.opt_text("error") or repr(first.value)
    raise first.fail(f"Slurm reported an error: {text}", "no errors")


def epoch(at: At) -> datetime | None:
    """Seconds since the epoch; 0 or unset is None."""
    seconds = at.opt_whole()
    if seconds is None or seconds <= 0 or seconds in _NO_VAL32:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def minutes_s(at: At) -> int | None:
    """A limit in minutes, as seconds; unset or INFINITE is None."""
    minutes = at.opt_whole()
    return None if minutes is None or minutes in _NO_VAL32 else minutes * 60


def job_state(at: At) -> tuple[JobState, tuple[str, ...]]:
    """The state and its flags, from ``"RUNNING"`` or ``["RUNNING", "COMPLETING"]``."""
    names = at.texts()
    known = {s.value: s for s in JobState}
    base = [known[n] for n in names if n in known and known[n] in BASE_JOB_STATES]
    state = base[0] if base else known.get(names[0]) if names else None
    if state is None:
        raise at.fail(f"unknown job state {names!r}", f"one of {', '.join(known)}")
    return state, tuple(n for n in names if n != state.value)


def parse_jobs(root: At, as_of: datetime) -> tuple[SlurmJob, ...]:
    """The ``jobs`` of squeue's answer; ``as_of`` (when it was read) gives running jobs
    their elapsed time, which squeue's JSON does not carry."""
    check_errors(root)
    return tuple(
        fast_job(j.value, as_of) or checked_job(j, as_of) for j in root.key("jobs").items()
    )


def checked_job(j: At, as_of: datetime) -> SlurmJob:
    """One job, every field read through :class:`At` (an error names the field)."""
    state, flags = job_state(j.key("job_state"))
    tres = tres_list(j.key("tres_req_str"), j.key("tres_req_str").text())
    gpus = gpus_of_tres(tres) or (0, None)
    nodes = host_list(j.key("nodes"), j.key("nodes").text())
    # a job cancelled while pending gets start = end from Slurm, and no nodes: not a start
    started = state is not JobState.PENDING and bool(nodes)
    start = epoch(j.key("start_time")) if started else None
    end = epoch(j.key("end_time")) if start is not None else None
    elapsed = None
    if start is not None:
        until = as_of if state.holds_gpus or end is None else end
        elapsed = max(0, int((until - start).total_seconds()))
    reason = j.key("state_reason").text()
    return SlurmJob(
        job_id=j.key("job_id").whole(),
        name=j.key("name").text(),
        user=j.key("user_name").text(),
        account=j.key("account").text(),
        partition=j.key("partition").text(),
        qos=j.key("qos").text(),
        state=state,
        reason="" if reason == "None" else reason,
        gpus=gpus[0],
        gpu_type=gpus[1],
        nodes=nodes,
        allocations=_allocations(j, nodes) if state.holds_gpus else (),
        submit_time=_required_time(j.key("submit_time")),
        start_time=start,
        end_time=end,
        elapsed_s=elapsed,
        time_limit_s=minutes_s(j.key("time_limit")),
        priority=j.key("priority").opt_whole() or 0,
        flags=flags,
        comment=j.opt_text("comment"),
        expected_start=epoch(j.key("start_time")) if state is JobState.PENDING else None,
    )


def _required_time(at: At) -> datetime:
    when = epoch(at)
    if when is None:
        raise at.fail(f"is {at.value!r}", "seconds since the epoch")
    return when


def _allocations(j: At, nodes: tuple[str, ...]) -> tuple[GpuAllocation, ...]:
    """gres_detail holds one entry per allocated node, in the order of ``nodes``."""
    detail = j.opt("gres_detail")
    if detail is None:
        return ()
    entries = detail.items()
    if entries and len(entries) != len(nodes):
        raise detail.fail(
            f"{len(entries)} entries for {len(nodes)} nodes", "one entry per allocated node"
        )
    out: list[GpuAllocation] = []
    for node, entry in zip(nodes, entries, strict=False):
        out.extend(gres_allocations(entry, node, entry.text()))
    return tuple(out)


def parse_nodes(root: At) -> tuple[SlurmNode, ...]:
    """The ``nodes`` of sinfo's (or slurmrestd's) answer."""
    check_errors(root)
    return tuple(_node(n) for n in root.key("nodes").items())


def _node(n: At) -> SlurmNode:
    names = n.key("state").texts()
    flags = n.opt("state_flags")
    state_names = [s.upper() for s in names] + list(flags.texts() if flags else ())
    known = {s.value: s for s in NodeState}
    base = next((known[s] for s in state_names if s in known), None)
    if base is None:
        raise n.key("state").fail(f"unknown node state {names!r}", f"one of {', '.join(known)}")
    gres_used = n.opt("gres_used")
    return SlurmNode(
        name=n.key("name").text(),
        state=base,
        flags=tuple(s for s in state_names if s != base.value),
        reason=n.key("reason").text(),
        reason_set_by=n.opt_text("reason_set_by_user"),
        reason_time=epoch(n.key("reason_changed_at")),
        partitions=n.key("partitions").texts(),
        gpus=gres_counts(n.key("gres"), n.key("gres").text()),
        gpus_used=gres_counts(gres_used, gres_used.text()) if gres_used else (),
        cpus=n.key("cpus").whole(),
        cpus_allocated=n.key("alloc_cpus").opt_whole() or 0,
    )
