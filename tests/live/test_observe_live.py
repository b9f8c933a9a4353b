"""The observation on the real dev cluster (scripts/devcluster/up): the story of
tests/live/scene.py set on the real Slurm, read through the real commands and the real
Prometheus, observed with the dev cluster's mapping. Skips when the cluster is down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpufleet.domain import EntityId, GpuTypeName, Reason, SiteId
from gpufleet.live.mapping import load_mapping
from gpufleet.live.observation import Demand, Observation, Registered
from gpufleet.live.observe import observe
from gpufleet.live.prometheus import PrometheusSource
from gpufleet.live.reading import read_prometheus, read_slurm
from tests.live.devcluster import DevCluster, wait_for
from tests.live.scene import DOWN_NODE, Scene, story_scene

pytestmark = pytest.mark.live

MAPPING = Path(__file__).parent / "samples" / "mapping" / "devcluster.yaml"
REGISTERED = (
    Registered(EntityId("tesla"), SiteId("memphis"), GpuTypeName("H100-SXM"), 8),
    Registered(EntityId("tesla"), SiteId("buffalo"), GpuTypeName("A100-80GB"), 4),
    Registered(EntityId("xai"), SiteId("colossus"), GpuTypeName("H100-SXM"), 8),
)


@pytest.fixture(scope="module")
def scene(devcluster: DevCluster) -> Iterator[tuple[DevCluster, Scene]]:
    with devcluster.exclusive(), story_scene(devcluster) as scene:
        yield devcluster, scene


def observed(cluster: DevCluster) -> Observation:
    prometheus = PrometheusSource(cluster.prometheus_url)
    return observe(
        prometheus.clock(),
        load_mapping(MAPPING),
        REGISTERED,
        slurm=read_slurm(cluster.cli()),
        gpus=read_prometheus(prometheus),
    )


def test_the_node_without_power_is_seen_down_with_its_reason(
    scene: tuple[DevCluster, Scene],
) -> None:
    obs = observed(scene[0])
    assert obs.failures == () and obs.unmapped == ()
    buffalo = obs.capacity_of("tesla", "buffalo", "A100-80GB")
    assert buffalo is not None
    assert (buffalo.registered, buffalo.seen, buffalo.down, buffalo.stranded) == (4, 4, 4, 4)
    (down,) = obs.down_nodes
    assert (down.node, down.reason, down.gpus) == (DOWN_NODE, "no power", 4)


def test_xais_job_over_its_cap_is_demand_waiting_for_quota(
    scene: tuple[DevCluster, Scene],
) -> None:
    demand: dict[tuple[str | None, Reason | None], Demand] = {
        (d.program, d.reason): d for d in observed(scene[0]).demand
    }
    quota = demand[("grok", Reason.QUOTA)]
    assert (quota.gpus, quota.jobs, quota.scheduler_reasons) == (2, 1, ("AssocGrpGRES",))
    # tesla's A100 job waits on the powerless node: Slurm says Resources, gpufleet
    # names the capacity that is down
    a100 = demand[("fsd-training", Reason.CAPACITY_DOWN)]
    assert (a100.gpus, a100.gpu_type) == (2, "A100-80GB")


def test_the_running_jobs_gpus_are_allocated_and_the_4_percent_job_idle(
    scene: tuple[DevCluster, Scene],
) -> None:
    cluster, story = scene

    def settled() -> Observation | None:  # every allocated GPU measured by a fresh scrape
        obs = observed(cluster)
        rows = [c for c in obs.capacity if c.allocated]
        return obs if all(c.unmeasured == 0 for c in rows) else None

    obs = wait_for("every allocated GPU measured", settled, 20)
    allocated = sum(c.allocated or 0 for c in obs.capacity)
    busy = sum(c.busy or 0 for c in obs.capacity)
    idle = sum(c.idle or 0 for c in obs.capacity)
    # 4 + 4 (tesla at 73 %) + 2 (xai at 90 %) busy, 2 (xai at 4 %) idle; where Slurm
    # placed them is its choice, the sums are not
    assert (allocated, busy, idle) == (12, 10, 2)
    grok_idle = sum(u.idle or 0 for u in obs.usage_of("grok"))
    assert grok_idle == 2, story.xai_running


def test_xais_cap_in_force_is_the_one_the_accounts_script_set(
    scene: tuple[DevCluster, Scene],
) -> None:
    quotas = {(q.program, q.gpu_type): q.gpus for q in observed(scene[0]).quotas}
    assert quotas == {("grok", None): 4, ("fsd-training", None): None}
