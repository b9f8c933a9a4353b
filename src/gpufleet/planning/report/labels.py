"""How a what-if figure is labelled wherever it is shown (the ``whatif`` text, the HTML
report, the demo's governed transfer), so that one shift over 1, 3 and 5 seeds reads as one
answer with different precision, not as three answers:

- an estimate says over how many seeds it was taken and its 95% interval, or that one seed
  gives no interval (:func:`over_seeds`);
- a milestone that some seeds did not reach within the horizon has no meaningful shift: the
  arithmetic counts it as reached at the horizon, so a number there would be an artefact of
  the horizon. It is shown as "not reached in N of M seeds" instead (:func:`not_reached`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpufleet.planning.whatif.stats import EstimateJson

Arm = Mapping[str, Any]
"""An arm of the comparison's JSON (``ArmJson``, or a stored run's as read back)."""


def seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def over_seeds(est: EstimateJson, nd: int = 1, scale: float = 1.0) -> str:
    """``5 seeds, 95% interval [64.2, 77.0]``; ``1 seed, no interval``."""
    lo, hi = est["ci95_low"], est["ci95_high"]
    if lo is None or hi is None:
        return f"{seeds(est['n'])}, no interval"
    return f"{seeds(est['n'])}, 95% interval [{lo * scale:,.{nd}f}, {hi * scale:,.{nd}f}]"


def not_reached(arms: Mapping[str, Arm], prog: str) -> str | None:
    """``not reached in 2 of 5 seeds of move``, one clause per arm that missed the
    milestone in some seed (joined by '; '); None when every arm reached it in every seed
    (or the program has no milestone)."""
    notes = []
    for name, arm in arms.items():
        ms = arm["milestones"].get(prog)
        if ms is None or not ms["not_reached"]:
            continue
        total = ms["not_reached"] + len(ms["reached"])
        notes.append(f"not reached in {ms['not_reached']} of {total} seeds of {name}")
    return "; ".join(notes) or None


def arm_milestone(arm: Arm, prog: str) -> str | None:
    """An arm's milestone cell when some seed missed it: ``not reached`` (every seed) or
    ``not reached in N of M``; None when every seed reached it."""
    ms = arm["milestones"].get(prog)
    if ms is None or not ms["not_reached"]:
        return None
    total = ms["not_reached"] + len(ms["reached"])
    if ms["not_reached"] == total:
        return f"not reached ({seeds(total)})"
    return f"not reached in {ms['not_reached']} of {total}"
