"""The explicit registry of policies by name (:class:`gpufleet.registry.Registry`), and the
one check of a scenario's policy options: :func:`policy_spec` checks them against what each
policy declares (``options``, :mod:`gpufleet.policies.options`) when the scenario is read,
and :func:`build_policy` builds a fresh policy from the checked spec for every run."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gpufleet.domain.scenario import OptionValue, PolicySpec
from gpufleet.errors import InputError
from gpufleet.policies.base import BasePolicy, Policy
from gpufleet.policies.basic.drf import WeightedDrf
from gpufleet.policies.basic.fifo import FifoBackfill, StrictFifo
from gpufleet.policies.basic.priority import PriorityPreempt
from gpufleet.policies.basic.quota import QuotaBorrowing
from gpufleet.policies.basic.topology import FifoTopology
from gpufleet.policies.kai.policy import KaiScheduler
from gpufleet.policies.kueue.policy import KueuePolicy
from gpufleet.policies.research.srtf import Srtf
from gpufleet.policies.research.themis import Themis
from gpufleet.policies.research.tiresias import Tiresias
from gpufleet.policies.slurm import SlurmBackfill, SlurmBackfillEasy, SlurmMultifactor
from gpufleet.registry import Registry

POLICIES = Registry[type[BasePolicy]]("policy")
for _cls in (
    StrictFifo,
    FifoBackfill,
    PriorityPreempt,
    WeightedDrf,
    QuotaBorrowing,
    Srtf,
    SlurmMultifactor,
    SlurmBackfill,
    SlurmBackfillEasy,
    FifoTopology,
    KueuePolicy,
    Tiresias,
    Themis,
    KaiScheduler,
):
    POLICIES.add(_cls.name, _cls)


def available_policies() -> list[tuple[str, str, list[str]]]:
    """(name, summary, option names) for every registered policy."""
    return [(n, cls.summary, sorted(cls.options)) for n, cls in POLICIES.items()]


def policy_spec(name: str, options: Mapping[str, OptionValue] | None = None) -> PolicySpec:
    """``name`` and ``options`` checked once, when a scenario is read: the name is
    registered, each option is one the policy declares with a value of its declared type,
    and the policy's own rules across options hold (its constructor states them: a Themis
    ``f`` in (0, 1], a Kueue ``borrow_within_cohort`` only with reclaim, so it is built once
    here and let go). The spec keeps them for :func:`build_policy`."""
    spec = _typed(name, options or {})
    build_policy(spec)
    return spec


def build_policy(spec: PolicySpec) -> Policy:
    """A fresh policy from checked options (:func:`policy_spec`); nothing is checked again.

    Fresh each time: a policy keeps state across cycles (reservations, decayed usage), so a
    scenario holds the spec and every run builds its own."""
    factory: Callable[..., Policy] = POLICIES.get(spec.name)
    return factory(**dict(spec.options))


def make_policy(name: str, options: Mapping[str, OptionValue] | None = None) -> Policy:
    """A policy by name with its options checked (a name given on the command line)."""
    return build_policy(_typed(name, options or {}))


def _typed(name: str, options: Mapping[str, OptionValue]) -> PolicySpec:
    """The spec, each option checked against the type the policy declares for it."""
    cls = POLICIES.get(name)
    for key, value in options.items():
        want = cls.options.get(key)
        if want is None:
            ok = ", ".join(sorted(cls.options)) or "none"
            raise InputError(f"policy {name!r} has no option {key!r}; its options: {ok}")
        if not want.accepts(value):
            raise InputError(f"policy {name!r} option {key!r} must be {want.what}, got {value!r}")
    return PolicySpec(name, tuple(sorted(options.items())))
