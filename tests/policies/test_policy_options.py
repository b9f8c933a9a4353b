"""Policy options: declared by each policy beside its constructor, checked once when a
scenario is read (policy_spec), and built from without a second check (build_policy)."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from gpufleet.domain.scenario import PolicySpec
from gpufleet.errors import InputError, UnknownNameError
from gpufleet.policies.registry import POLICIES, build_policy, policy_spec
from gpufleet.policies.slurm import SlurmBackfill
from gpufleet.sim.simulator import Simulation
from tests.support.scenarios import one_site


def _keywords(cls: type) -> set[str]:
    """Keyword parameters of the constructors along the class's bases (a constructor that
    takes **kwargs passes them on to its base's)."""
    out: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            out |= {n for n, p in inspect.signature(init).parameters.items() if n != "self"}
    return out


@pytest.mark.parametrize("name", POLICIES.names())
def test_every_declared_option_is_a_keyword_of_the_policys_constructor(name: str) -> None:
    cls = POLICIES.get(name)
    assert set(cls.options) <= _keywords(cls)


def test_a_checked_spec_keeps_the_options_sorted_and_builds_a_fresh_policy_each_time() -> None:
    spec = policy_spec("slurm-backfill", {"weight_age": 2.0, "bf_max_job_test": 3})
    assert spec == PolicySpec("slurm-backfill", (("bf_max_job_test", 3), ("weight_age", 2.0)))
    first, second = build_policy(spec), build_policy(spec)
    assert isinstance(first, SlurmBackfill) and first is not second
    assert first.depth == 3


def test_a_rule_across_options_is_checked_with_the_types() -> None:
    with pytest.raises(InputError, match=r"option 'f' must be in \(0, 1\], got 2.0"):
        policy_spec("themis", {"f": 2.0})


def test_an_unknown_name_is_refused_by_the_registry_with_the_valid_names() -> None:
    with pytest.raises(
        UnknownNameError, match="valid names: drf, fifo, fifo-backfill, fifo-topology, kai"
    ):
        build_policy(PolicySpec("fair"))


def test_the_simulator_builds_the_scenarios_policy_from_its_checked_options() -> None:
    sc = replace(one_site(), policy=policy_spec("fifo-backfill", {"backfill_depth": 7}))
    pol = Simulation(sc).policy
    assert pol.name == "fifo-backfill"
    assert pol.depth == 7  # type: ignore[attr-defined]
