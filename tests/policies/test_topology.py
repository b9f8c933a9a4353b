"""Topology-aware gang placement (Kueue TAS levels), the node topology layout, the scenario
keys that carry it, and the fragmentation metric.

Tiny fleets are built directly on a ClusterState; GPUs are taken with ``reserve`` so each
case reads as a list of free GPUs per node.
"""

from __future__ import annotations

import itertools
import random
from itertools import islice

import pytest

from gpufleet.domain.gpus import default_catalog
from gpufleet.domain.ids import GpuTypeName, JobId, ProgramId
from gpufleet.domain.jobs import TOPOLOGY_LEVELS, JobSpec
from gpufleet.domain.org import Quota
from gpufleet.domain.reasons import Reason
from gpufleet.engine.engine import Engine
from gpufleet.engine.fakes import Recording
from gpufleet.errors import ScenarioError
from gpufleet.inputs.scenario.load import load_scenario_text
from gpufleet.policies.base import NoQuota
from gpufleet.policies.basic.topology import FifoTopology, TopologyAware, levels_to_try
from gpufleet.state.capacity import Placement
from gpufleet.state.cluster import ClusterState
from gpufleet.state.fragmentation import fragmentation
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot

H100 = GpuTypeName("H100-SXM")


def fleet(
    free: list[int],
    size: int = 8,
    per_rack: int = 2,
    per_block: int = 8,
    domain_gpus: int = 8,
    sites: int = 1,
) -> ClusterState:
    """One pool per site of ``len(free) // sites`` nodes; node i has ``free[i]`` free GPUs."""
    st = ClusterState(["org"], {"org": "c"})
    st.add_program("a", "org", 1.0, 0, {H100: Quota(10_000)})
    per_site = len(free) // sites
    for s in range(sites):
        st.add_site(f"dc{s}", 1.3, 1e9, [])
        st.add_pool(
            f"p{s}", f"dc{s}", H100, size, per_site, "org", 1000.0, 0.0,
            domain_gpus, per_rack, per_block,
        )  # fmt: skip
        st.deliver(f"p{s}")
        st.repower(f"dc{s}", 0.0)
    for n, f in enumerate(free):
        if size - f:
            st.capacity.reserve(((n, size - f),))
    return st


def job(
    st: ClusterState, gpus: int, required: str | None = None, preferred: str | None = None
) -> Job:
    spec = JobSpec(
        JobId(0), ProgramId("a"), 0.0, gpus, 3600.0, (H100,),
        topology_required=required, topology_preferred=preferred,
    )  # fmt: skip
    return Job(spec, st.program_by_name["a"])


def place(
    st: ClusterState,
    gpus: int,
    required: str | None = None,
    preferred: str | None = None,
    choice: str = "consolidate",
) -> Placement | Reason:
    return TopologyAware(choice).place(Snapshot(st), job(st, gpus, required, preferred), NoQuota())


def nodes(got: Placement | Reason) -> list[int]:
    assert isinstance(got, Placement), got
    return sorted(n for n, _ in got.slots)


# --- the layout ----------------------------------------------------------------------


def test_layout_nests_domains_in_racks_in_blocks_and_never_shares_across_pools() -> None:
    st = ClusterState(["org"], {"org": "c"})
    st.add_site("dc", 1.3, 1e9, [])
    # 4-GPU nodes, 16-GPU NVLink domains (4 nodes) but racks of 3: the domain is cut at 3
    st.add_pool("p", "dc", H100, 4, 7, "org", 1000.0, 0.0, 16, 3, 2)
    st.add_pool("q", "dc", H100, 8, 2, "org", 1000.0)  # defaults: 1-node domains, rack of 4
    t = st.topology
    assert t.node_rack == [0, 0, 0, 1, 1, 1, 2, 3, 3]
    assert t.node_block == [0, 0, 0, 0, 0, 0, 1, 2, 2]
    assert t.node_domain == [0, 0, 0, 1, 1, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("required", "preferred", "want"),
    [
        pytest.param(None, None, (), id="unconstrained"),
        pytest.param("rack", None, ("rack",), id="required-only-its-level"),
        pytest.param(None, "rack", ("rack", "block", "site"), id="preferred-falls-back-to-site"),
        pytest.param("block", "nvlink", ("nvlink", "rack", "block"), id="both-stop-at-required"),
        pytest.param("rack", "site", ("rack",), id="preferred-above-required-is-cut"),
    ],
)
def test_levels_to_try(required: str | None, preferred: str | None, want: tuple[str]) -> None:
    assert levels_to_try(required, preferred) == want


# --- hand-computed placements: 2 racks x 2 nodes x 8 GPUs --------------------------------


def test_16_gpu_rack_job_fits_the_rack_with_room() -> None:
    # rack 0 (nodes 0, 1) has 12 free, rack 1 (nodes 2, 3) has 16: only rack 1 fits
    assert nodes(place(fleet([4, 8, 8, 8]), 16, required="rack")) == [2, 3]


def test_16_gpu_rack_job_waits_when_each_rack_has_12_even_though_16_are_free() -> None:
    st = fleet([4, 8, 4, 8])
    assert place(st, 16, required="rack") == Reason.NO_TOPOLOGY_DOMAIN
    # the plain rule would place it across racks, on nodes 1 and 3
    assert nodes(place(st, 16)) == [1, 3]


def test_16_gpu_rack_job_waits_for_capacity_when_the_fleet_lacks_it() -> None:
    assert place(fleet([4, 4, 4, 2]), 16, required="rack") == Reason.CAPACITY


def test_preferred_nvlink_falls_back_to_a_rack() -> None:
    # 8-GPU NVLink domains are single nodes: 16 GPUs fit none; rack 1 has 16 free
    assert nodes(place(fleet([4, 8, 8, 8]), 16, preferred="nvlink")) == [2, 3]


def test_preferred_rack_falls_back_to_the_block() -> None:
    assert nodes(place(fleet([4, 8, 4, 8]), 16, preferred="rack")) == [1, 3]


def test_preferred_nvlink_keeps_a_small_job_in_one_domain() -> None:
    # 16-GPU NVLink domains of two 8-GPU nodes = racks here; a 12-GPU job fits domain 1 only
    st = fleet([4, 4, 8, 8], domain_gpus=16)
    assert nodes(place(st, 12, preferred="nvlink")) == [2, 3]


def test_consolidate_takes_the_fullest_rack_that_fits_and_spread_the_emptiest() -> None:
    # rack 0 has 16 free, rack 1 has 12 (node 2 has 4): a 4-GPU job
    st = fleet([8, 8, 4, 8])
    assert place(st, 4, required="rack") == Placement(0, ((2, 4),))
    assert place(st, 4, required="rack", choice="spread") == Placement(0, ((0, 4),))


def test_a_rack_job_never_spans_sites() -> None:
    # two sites with one rack of two 4-GPU nodes each: 16 GPUs are free, 8 per site
    st = fleet([4, 4, 4, 4], size=4, sites=2)
    assert place(st, 16, required="site") == Reason.FRAGMENTED
    assert place(st, 16, preferred="rack") == Reason.FRAGMENTED
    assert nodes(place(st, 8, required="rack")) == [0, 1]


def test_unknown_domain_choice_is_refused() -> None:
    with pytest.raises(Exception, match="domain_choice"):
        TopologyAware("scatter")


def test_fifo_topology_policy_waits_then_starts_in_one_rack() -> None:
    st = fleet([4, 8, 4, 8])
    rec = Recording()
    engine = Engine(st, FifoTopology(), default_catalog(), rec, rec)
    j = job(st, 16, required="rack")
    engine.submit(j)
    engine.cycle(0.0)
    assert j.placement is None
    assert j.reason == Reason.NO_TOPOLOGY_DOMAIN
    st.capacity.release(((0, 4),))  # rack 0 now has 16 free
    st.dirty.add("c")
    engine.cycle(1.0)
    assert j.placement is not None
    assert sorted(n for n, _ in j.placement.slots) == [0, 1]


# --- seeded oracle: required-level feasibility against brute force ----------------------


def brute(free: list[int], size: int, ids: list[int], gpus: int) -> dict[int, tuple[int, int]]:
    """Domains where the gang fits under the node rule: {domain: (free GPUs, fewest nodes)}."""
    out = {}
    for dom in sorted(set(ids)):
        fs = [f for f, d in zip(free, ids, strict=True) if d == dom]
        if gpus <= size:
            if any(f >= gpus for f in fs):
                out[dom] = (sum(fs), 1)
            continue
        for k in range(1, len(fs) + 1):
            if any(sum(c) >= gpus for c in itertools.combinations(fs, k)):
                out[dom] = (sum(fs), k)
                break
    return out


@pytest.mark.parametrize("seed", range(30))
def test_required_level_matches_brute_force_on_random_tiny_fleets(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        size = rng.choice([2, 4, 8])
        count = rng.randint(1, 7)
        free = [rng.randint(0, size) for _ in range(count)]
        per_rack, per_block = rng.randint(1, 3), rng.randint(1, 2)
        domain_gpus = size * rng.randint(1, 2)
        level = rng.choice(TOPOLOGY_LEVELS)
        choice = rng.choice(["consolidate", "spread"])
        gpus = rng.randint(1, size * 3)
        st = fleet(free, size, per_rack, per_block, domain_gpus)
        ids = st.topology.of(level) or [0] * count
        want = brute(free, size, ids, gpus)
        got = place(st, gpus, required=level, choice=choice)
        case = f"free={free} size={size} rack={per_rack} level={level} gpus={gpus} {choice}"
        if not want:
            assert not isinstance(got, Placement), case
            continue
        assert isinstance(got, Placement), case
        used = [n for n, _ in got.slots]
        assert len(set(used)) == len(used), case
        assert sum(n for _, n in got.slots) == gpus, case
        assert all(0 < n <= free[node] for node, n in got.slots), case
        doms = {ids[n] for n in used}
        assert len(doms) == 1, case
        dom = doms.pop()
        assert dom in want, case
        frees = [f for f, _ in want.values()]
        assert want[dom][0] == (min(frees) if choice == "consolidate" else max(frees)), case
        assert len(used) == want[dom][1], case


# --- scenario keys ---------------------------------------------------------------------

SCENARIO = """\
name: topo
start: 2024-01-01
horizon_days: 2
sites:
  - name: dc
    power_kw: 5000
entities:
  - name: org
    programs:
      - name: a
        quotas:
          H100-SXM: {nominal: 64}
        workload:
          generator:
            jobs_per_day: 20
            gpus: 16
            duration_hours: 2
            topology: {required: rack}
          jobs:
            - submit: 2024-01-01
              gpus: 8
              duration_hours: 1
              topology: {preferred: nvlink}
pools:
  - name: p
    site: dc
    gpu_type: H100-SXM
    nodes: 8
    owner: org
    nodes_per_rack: 2
    racks_per_block: 2
"""


def test_scenario_topology_keys_reach_pools_and_jobs() -> None:
    sc = load_scenario_text(SCENARIO, "topo.yaml")
    assert sc.pools[0].racks_per_block == 2
    assert sc.pools[0].nodes_per_rack == 2
    (_, factory), = sc.workloads  # fmt: skip
    drafts = list(islice(factory(1), 10))
    listed = [d for d in drafts if d.gpus == 8]
    generated = [d for d in drafts if d.gpus == 16]
    assert [(d.topology_required, d.topology_preferred) for d in listed] == [(None, "nvlink")]
    assert generated
    assert all((d.topology_required, d.topology_preferred) == ("rack", None) for d in generated)
    # a draft still turns into a spec field by field
    spec = JobSpec(JobId(1), ProgramId("a"), *generated[0])
    assert spec.topology_required == "rack"


def test_scenario_rejects_an_unknown_topology_level() -> None:
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(SCENARIO.replace("{required: rack}", "{required: row}"), "t.yaml")
    assert "generator.topology.required" in e.value.render()


def test_scaled_workload_keeps_the_topology() -> None:
    sc = load_scenario_text(SCENARIO, "topo.yaml")
    (_, factory), = sc.workloads  # fmt: skip
    scaled = factory.scaled(2.0)  # type: ignore[attr-defined]
    assert any(d.topology_required == "rack" for d in islice(scaled(1), 10))


# --- fragmentation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("free", "shapes", "want"),
    [
        pytest.param([8, 8], [8], 0.0, id="all-whole-nodes"),
        pytest.param([3, 8], [4], 3 / 11, id="a-3-gpu-remnant-no-4-gpu-job-fits"),
        pytest.param([5], [4], 1 / 5, id="one-gpu-left-after-a-4"),
        pytest.param([5], [2, 3], 0.0, id="2-plus-3-use-all-five"),
        pytest.param([3, 8], [4, 16], 3 / 11, id="multi-node-shape-too-big-for-the-free"),
        pytest.param([3, 8, 8], [4, 16], 0.0, id="a-multi-node-shape-uses-any-remnant"),
        pytest.param([0, 0], [1], 0.0, id="nothing-free"),
        pytest.param([1, 1], [], 1.0, id="no-shapes-all-fragmented"),
    ],
)
def test_fragmentation_hand_cases(free: list[int], shapes: list[int], want: float) -> None:
    assert fragmentation(fleet(free, per_rack=4), shapes) == pytest.approx(want)


def test_fragmentation_sums_over_groups() -> None:
    # two sites of 2 nodes: site 0 free [3, 8] (3 fragmented for 4s), site 1 free [2, 2]
    st = fleet([3, 8, 2, 2], sites=2)
    assert fragmentation(st, [4]) == pytest.approx(7 / 15)
