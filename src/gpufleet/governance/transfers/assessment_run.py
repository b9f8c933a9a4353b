"""A transfer's assessment as a run of the queue (:mod:`gpufleet.governance.runs.kinds`):
the plan and the plan with the candidate, read from the register, then
:func:`~.assess.assess` in the run's child process. Registered, with the step that
records the result (:func:`.lifecycle.record_assessment`), by :mod:`.lifecycle`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gpufleet.errors import NotFoundError
from gpufleet.governance.runs.kinds import DEFAULT_SEEDS, Prepared
from gpufleet.governance.store.models import Run, TransferRow
from gpufleet.governance.transfers.assess import ARM, arms_for, assess


def prepare_assessment(s: Session, run: Run) -> Prepared:
    req = dict(run.request)
    t = s.get(TransferRow, req.get("transfer_id", run.transfer_id))
    if t is None:
        raise NotFoundError("transfer", req.get("transfer_id"))
    base, arm = arms_for(s, t)
    seeds = int(req.get("seeds", DEFAULT_SEEDS))
    markup = float(req.get("markup") or 0.0)
    return Prepared(
        compute_assessment, base, arm, ARM, seeds, markup, req.get("market_rate"), t.name
    )


def compute_assessment(p: Prepared) -> dict[str, Any]:
    return assess(p.base, p.arm, p.transfer_name, p.seeds, p.markup, p.market_rate)
