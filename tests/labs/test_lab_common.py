"""What the labs share: the policy registry by name, and the FGD lab reading the openb
trace through its loader (one NodeSpec, converted to the artifact's integers once)."""

from __future__ import annotations

import csv
from collections.abc import Callable

import pytest

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.inputs.traces.loaders.openb import NodeSpec
from gpufleet.labs.common import LabPolicies
from gpufleet.labs.fgd import FGD_POLICIES, Cluster
from gpufleet.labs.fgd.cluster import node_spec
from gpufleet.labs.fgd.openb import read_gpu_nodes, read_pods
from gpufleet.labs.gavel import GAVEL_POLICIES
from tests.support.traces import trace_folder


def test_a_lab_registry_builds_by_name_and_keeps_definition_order() -> None:
    labs: LabPolicies[Callable[[int], int]] = LabPolicies("toy lab policy")
    labs.define("double", "twice the input", lambda x: 2 * x)
    labs.define("square", "the input squared", lambda x: x * x)
    assert labs.builder("square")(3) == 9
    assert [(p.name, p.summary) for p in labs.entries()] == [
        ("double", "twice the input"),
        ("square", "the input squared"),
    ]


def test_an_unknown_lab_policy_names_the_kind_and_the_valid_names() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown FGD lab policy 'Tetris'.*BestFit, DotP"):
        FGD_POLICIES.builder("Tetris")
    with pytest.raises(
        UnknownNameError, match=r"unknown Gavel lab policy 'las'; .*fifo, fifo-gavel, max-min"
    ):
        GAVEL_POLICIES.builder("las")


def test_a_lab_policy_defined_twice_is_refused() -> None:
    labs: LabPolicies[int] = LabPolicies("toy lab policy")
    labs.define("one", "first", 1)
    with pytest.raises(ValueError, match="'one' is registered twice"):
        labs.define("one", "again", 2)


def test_the_fgd_policies_keep_the_artifacts_order() -> None:
    # the artifact numbers them 01-Random .. 06-FGD; bench/fgd.py's table follows it
    assert list(FGD_POLICIES) == [
        "Random", "DotProd", "GpuClustering", "GpuPacking", "BestFit", "FGD",
    ]  # fmt: skip


def test_a_node_in_the_artifacts_units_comes_back_exactly() -> None:
    # 96,000 milli-CPU = 96.0 cores; 786,432 MiB = 768.0 GiB; both back to the integers
    cluster = Cluster.build([node_spec("n0", 96000, 786432, 8, "V100M32")])
    assert cluster.cpu_cap.tolist() == [96000]
    assert cluster.mem_left.tolist() == [786432]
    assert cluster.models == ("V100M32",) and cluster.names == ("n0",)


def test_a_node_without_cpu_or_memory_cannot_be_packed() -> None:
    with pytest.raises(InputError, match="node 'n7': CPU or memory unknown"):
        Cluster.build([NodeSpec("T4", 2, None, 64.0, name="n7")])


def test_the_loaders_gpu_nodes_are_the_artifacts_node_list_in_order() -> None:
    # The lab reads the full node list through the loader and keeps the GPU nodes; the
    # artifact reads openb_node_list_gpu_node.csv. Same sizes, same order (sn differs).
    folder = trace_folder("alibaba-openb-v2023")
    with (folder / "csv" / "openb_node_list_gpu_node.csv").open(newline="") as fh:
        artifact = [
            (int(r["cpu_milli"]), int(r["memory_mib"]), int(r["gpu"]), r["model"])
            for r in csv.DictReader(fh)
        ]
    cluster = Cluster.build(read_gpu_nodes(folder))
    ours = zip(cluster.cpu_cap.tolist(), cluster.mem_left.tolist(),
               cluster.gpu_count.tolist(), cluster.models, strict=True)  # fmt: skip
    assert list(ours) == artifact
    assert (len(artifact), int(cluster.gpu_count.sum())) == (1213, 6212)


def test_the_loaders_pods_keep_the_exact_gpu_request() -> None:
    folder = trace_folder("alibaba-openb-v2023")
    with (folder / "csv" / "openb_pod_list_default.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    pods = read_pods(folder)
    assert len(pods) == len(rows) == 8152
    for pod, row in zip(pods, rows, strict=True):
        num_gpu = int(row["num_gpu"])
        assert (pod.cpu_milli, pod.memory_mib, pod.num_gpu, pod.gpu_spec) == (
            int(row["cpu_milli"]), int(row["memory_mib"]), num_gpu, row["gpu_spec"],
        )  # fmt: skip
        assert pod.gpu_milli == (int(row["gpu_milli"]) if num_gpu else 0)
