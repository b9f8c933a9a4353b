"""Finished and running jobs from accounting: ``sacct --json`` (openapi dbv0.0.38 in Slurm
22.05: ``state.current``, ``time.elapsed``, ``tres.requested`` as a list of
``{type, name, count}``), and the later shapes where they differ."""

from __future__ import annotations

from gpufleet.live.jsonread import At
from gpufleet.live.slurm.gres import gpus_of_tres, host_list
from gpufleet.live.slurm.jobs_json import check_errors, epoch, job_state, minutes_s
from gpufleet.live.slurm.model import JobState, SlurmJob, TresLimit


def parse_history(root: At) -> tuple[SlurmJob, ...]:
    """The ``jobs`` of sacct's answer, one per job (steps are not read). No job in the
    window is not an error: 22.05 says so as one (``Nothing found``, error_number 9003,
    ESLURM_REST_EMPTY_RESULT) beside an empty list."""
    if _nothing_found(root):
        return ()
    check_errors(root)
    return tuple(_job(j) for j in root.key("jobs").items())


def _nothing_found(root: At) -> bool:
    errors = root.opt("errors")
    if errors is None or not errors.items() or root.opt("jobs") is None:
        return False
    numbers = {e.value.get("error_number") for e in errors.items() if isinstance(e.value, dict)}
    return numbers == {EMPTY_RESULT} and not root.key("jobs").items()


EMPTY_RESULT = 9003  # ESLURM_REST_EMPTY_RESULT


def _tres(at: At) -> tuple[TresLimit, ...]:
    """``[{"type": "gres", "name": "gpu:h100", "count": 4}, ...]`` -> gres/gpu:h100=4."""
    out: list[TresLimit] = []
    for item in at.items():
        kind = item.key("type").text()
        name = item.opt_text("name")
        count = item.key("count").opt_whole()
        if count is not None:
            out.append(TresLimit(f"{kind}/{name}" if name else kind, count))
    return tuple(out)


def _job(j: At) -> SlurmJob:
    state_at = j.key("state")
    state, flags = job_state(state_at.key("current"))
    time = j.key("time")
    tres = j.key("tres")
    asked = gpus_of_tres(_tres(tres.key("requested"))) or (0, None)
    start = epoch(time.key("start")) if state is not JobState.PENDING else None
    reason = state_at.opt_text("reason")
    submit = epoch(time.key("submission"))
    if submit is None:
        raise time.key("submission").fail("is unset", "seconds since the epoch")
    return SlurmJob(
        job_id=j.key("job_id").whole(),
        name=j.key("name").text(),
        user=j.key("user").text(),
        account=j.opt_text("account"),
        partition=j.opt_text("partition"),
        qos=j.opt_text("qos"),
        state=state,
        reason="" if reason == "None" else reason,
        gpus=asked[0],
        gpu_type=asked[1],
        nodes=host_list(j.key("nodes"), j.key("nodes").text()) if start else (),
        allocations=(),  # sacct does not say which device indices a job held
        submit_time=submit,
        start_time=start,
        end_time=epoch(time.key("end")),
        elapsed_s=time.key("elapsed").opt_whole() if start else None,
        time_limit_s=minutes_s(time.key("limit")),
        priority=j.key("priority").opt_whole() or 0,
        flags=flags,
    )
