"""Who the tenants of a replay are: the column of the normalized workload whose values
become its queues (one program each, :mod:`gpufleet.inputs.traces.replay`).

A replay's tenants are the workload's ``queue`` column by default: what each loader put
there (a VC for Philly's Pollux extract, a Slurm account for sacct output, a namespace or
Kueue queue for Kubernetes, a ``--map queue=COLUMN`` for a plain CSV). ``--queue-by user``
makes each user a tenant instead; ``vc`` and ``account`` name the ``queue`` column by what
it holds in those sources. A trace whose jobs all sit in one queue (Philly's and Helios'
DIR-LAB extracts have users but no VC) gives a fairness policy one tenant to be fair to:
:func:`one_tenant` says so, for the caller to put in its output.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gpufleet.errors import InputError
from gpufleet.inputs.traces.workload import Workload

# --queue-by value -> the normalized column it reads
TENANT_COLUMNS: dict[str, str] = {
    "queue": "queue",
    "vc": "queue",
    "account": "queue",
    "user": "user",
}


def tenant_values(w: Workload, column: str) -> set[str]:
    """The distinct non-empty values of ``column`` (a job with "" has none)."""
    return {str(v) for v in np.unique(w.column(column).astype(str)) if v}


def queued_by(w: Workload, by: str) -> Workload:
    """``w`` with its queues taken from the column ``by`` names (``TENANT_COLUMNS``).

    Errors: an unknown ``by``, or a column every job leaves empty in this trace; both
    name the columns this trace does have, with their counts of distinct values."""
    column = TENANT_COLUMNS.get(by)
    if column is None or not tenant_values(w, column):
        what = f"{w.name} has no {by} column (every job's {by} is empty)"
        if column is None:
            what = f"{by!r} is not a column tenants can come from"
        raise InputError(f"--queue-by {by}: {what}; this trace has {_has(w)}")
    if column == "queue":
        return w
    notes = [*w.notes, f"tenants: one queue per {by} ({len(tenant_values(w, column)):,})"]
    if w.allocations:
        notes.append("queue allocations (VC sizes) not used: the tenants are not the queues")
    return replace(w, queue=w.column(column).copy(), allocations={}, notes=notes)


def _has(w: Workload) -> str:
    found = [
        f"{c} ({len(tenant_values(w, c)):,} distinct)"
        for c in ("queue", "user")
        if tenant_values(w, c)
    ]
    return (
        "; ".join(found) + " (--queue-by " + "|".join(TENANT_COLUMNS) + ")"
        if found
        else "no queue or user column: every job is one tenant's"
    )


def one_tenant(w: Workload, policy: str) -> str:
    """The warning for a fairness policy replayed on a workload with one tenant."""
    queues = tenant_values(w, "queue")
    which = f"queue {next(iter(queues))!r}" if queues else "no queue column"
    users = len(tenant_values(w, "user"))
    hint = (
        f"use --queue-by user ({users:,} users in this trace)"
        if users > 1
        else "use --queue-by user|vc|account or, for a plain CSV, --map queue=COLUMN"
    )
    reduces = "drf reduces to fifo" if policy == "drf" else f"{policy} has no one to share between"
    return f"one tenant ({which}): {reduces}; {hint}"
