"""The explicit registry of policies by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.policies.base import Policy
from gpufleet.policies.drf import WeightedDrf
from gpufleet.policies.fifo import FifoBackfill, StrictFifo
from gpufleet.policies.priority import PriorityPreempt
from gpufleet.policies.quota import QuotaBorrowing

Option = float | int | str | bool

_FACTORIES: dict[str, tuple[type, dict[str, type]]] = {
    StrictFifo.name: (StrictFifo, {}),
    FifoBackfill.name: (FifoBackfill, {"backfill_depth": int}),
    PriorityPreempt.name: (PriorityPreempt, {}),
    WeightedDrf.name: (WeightedDrf, {}),
    QuotaBorrowing.name: (QuotaBorrowing, {}),
}


def available_policies() -> list[tuple[str, str, list[str]]]:
    """(name, summary, option names) for every registered policy."""
    return [
        (n, str(getattr(cls, "summary", "")), sorted(opts)) for n, (cls, opts) in _FACTORIES.items()
    ]


def make_policy(name: str, options: Mapping[str, Option] | None = None) -> Policy:
    if name not in _FACTORIES:
        raise UnknownNameError("policy", name, list(_FACTORIES))
    cls, allowed = _FACTORIES[name]
    kwargs: dict[str, Option] = {}
    for key, value in (options or {}).items():
        if key not in allowed:
            ok = ", ".join(sorted(allowed)) or "none"
            raise InputError(f"policy {name!r} has no option {key!r}; its options: {ok}")
        want = allowed[key]
        if want is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InputError(
                f"policy {name!r} option {key!r} must be a positive integer, got {value!r}"
            )
        kwargs[key] = value
    factory: Callable[..., Policy] = cls
    return factory(**kwargs)
