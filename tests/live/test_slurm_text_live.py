"""The oracle of the text job list and nodes on the real dev cluster: the story
(tests/live/scene.py) observed through ``squeue``'s and ``sinfo``'s text fields and
through ``squeue --json`` and ``sinfo --json`` at the same Prometheus instant gives the
same observation, sinfo's text gives the JSON's nodes (some holding the running jobs'
GPUs, one down with a reason), and the per-job lookups give the JSON's GPU indices (a
name that mimics scontrol's detail line: test_slurm_text_abuse_live.py; a node reason
that mimics sinfo's fields: test_slurm_nodes_text_abuse_live.py). Skips when the cluster
is down; holds its lock as the other live tests do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from gpufleet.live.mapping import load_mapping
from gpufleet.live.observation import Observation
from gpufleet.live.observe import observe
from gpufleet.live.prometheus import PrometheusSource
from gpufleet.live.reading import read_prometheus, read_slurm
from gpufleet.live.runner import SubprocessRunner
from gpufleet.live.slurm import SlurmCliSource
from gpufleet.live.slurm.model import NodeState
from tests.live.devcluster import DevCluster
from tests.live.scene import DOWN_NODE, Scene, story_scene
from tests.live.test_observe_live import REGISTERED

pytestmark = pytest.mark.live

MAPPING = Path(__file__).parent / "samples" / "mapping" / "devcluster.yaml"


@pytest.fixture(scope="module")
def scene(devcluster: DevCluster) -> Iterator[tuple[DevCluster, Scene]]:
    with devcluster.exclusive(), story_scene(devcluster) as scene:
        yield devcluster, scene


def text_source(cluster: DevCluster) -> SlurmCliSource:
    runner = SubprocessRunner(env=cluster.env)
    return SlurmCliSource(runner, jobs_format="text", nodes_format="text")


def observed(cluster: DevCluster, slurm: SlurmCliSource, at: datetime) -> Observation:
    prometheus = PrometheusSource(cluster.prometheus_url)
    return observe(
        at,
        load_mapping(MAPPING),
        REGISTERED,
        slurm=read_slurm(slurm),
        gpus=read_prometheus(prometheus, at),
    )


def test_the_story_observed_through_the_text_list_is_the_json_observation(
    scene: tuple[DevCluster, Scene],
) -> None:
    cluster = scene[0]
    # one Prometheus instant for all: the exporter's utilisation moves between two
    # instants, and a GPU near the busy threshold may then read busy in one, idle in the
    # other (a flake seen in the suite, with two clocks). The text read is bracketed by
    # two JSON reads and compared only when they agree: after the scene is set, Slurm's
    # scheduler may still move a pending job from one reason to another (Resources to
    # Priority, or to ReqNodeNotAvail for the down node's partition), and did so between
    # the two reads in a CI run
    for _ in range(5):
        at = PrometheusSource(cluster.prometheus_url).clock()
        before = observed(cluster, cluster.cli(), at)
        text = observed(cluster, text_source(cluster), at)
        json_obs = observed(cluster, cluster.cli(), at)
        if before == json_obs:
            break
        time.sleep(2)
    assert before == json_obs, "Slurm's answers changed during each of 5 bracketed reads"
    assert text == json_obs
    assert text.failures == ()
    assert sum(u.allocated for u in text.usage) == 12  # tesla 4 + 4, xai 2 + 2


def test_each_running_job_looked_up_by_scontrol_holds_the_json_gpu_indices(
    scene: tuple[DevCluster, Scene],
) -> None:
    cluster, story = scene
    slurm = text_source(cluster)
    slurm.jobs()  # the cold read: reasons and indices known, as after a first cycle
    slurm.details.allocations.clear()  # the indices forgotten: asked job by job
    text = {j.job_id: j for j in slurm.jobs()}
    assert slurm.job_problems == ()
    assert slurm.details.lookups == len(story.tesla_running + story.xai_running)
    json_jobs = {j.job_id: j for j in cluster.cli().jobs()}
    for job_id in (*story.tesla_running, *story.xai_running):
        assert text[job_id].allocations == json_jobs[job_id].allocations
        assert len(text[job_id].allocations[0].indices) in (2, 4)


def test_the_story_nodes_read_from_sinfo_text_are_the_json_nodes(
    scene: tuple[DevCluster, Scene],
) -> None:
    cluster = scene[0]
    text = text_source(cluster).nodes()
    json_nodes = cluster.cli().nodes()
    assert text == json_nodes
    down = next(n for n in text if n.name == DOWN_NODE)
    assert (down.state, down.reason) == (NodeState.DOWN, "no power")
    assert sum(n.gpu_used for n in text) == 12  # the story's running jobs: 4 + 4 + 2 + 2
