"""The Alibaba trace loaders: openb (FGD, ATC '23), PAI v2020 and spot-GPU v2026.

Each fact test reproduces a figure its trace's SOURCE.md states (the line is cited), from
the loaded workload or ``summarize``; the bad-data tests write one-defect files in the same
formats and expect the exact ``file:line: column:`` message.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.inputs.traces.info import summarize
from gpufleet.inputs.traces.loaders import openb, pai, spot
from gpufleet.inputs.traces.registry import Loader, known_traces, load_source
from gpufleet.inputs.traces.rows import RowError, RowPolicy
from gpufleet.inputs.traces.workload import FleetGroup, Workload
from tests.support.traces import trace_folder

OPENB = "alibaba-openb-v2023"
PAI = "alibaba-pai-v2020"
SPOT = "alibaba-spot-gpu-v2026"


@functools.cache
def _openb(variant: str = "default") -> Workload:
    """Loaded once per variant for the whole module; tests only read it."""
    folder = trace_folder(OPENB)
    return openb.load_variant(folder, RowPolicy(str(folder)), variant)


def _by_model(fleet: tuple[FleetGroup, ...]) -> dict[str, tuple[int, int]]:
    """GPU model -> (nodes, GPUs)."""
    out: Counter[tuple[str, str]] = Counter()
    for g in fleet:
        out[(g.gpu_type, "nodes")] += g.nodes
        out[(g.gpu_type, "gpus")] += g.gpus
    return {m: (out[(m, "nodes")], out[(m, "gpus")]) for m, _ in out}


# --- openb: the published facts ---------------------------------------------------------


def test_openb_fleet_is_the_1213_gpu_nodes_with_6212_gpus_of_seven_models() -> None:
    w = _openb()
    s = summarize(w)
    # SOURCE.md:4 and :41 "1,523 nodes, **6,212 GPUs**"; :23-24 1,213 GPU nodes + 310 CPU-only
    assert s["fleet_gpus"] == 6212
    assert sum(g.nodes for g in w.fleet) == 1213
    assert any(n.startswith("310 CPU-only nodes (") for n in w.notes)
    # SOURCE.md:41-42, per model (nodes / GPUs)
    assert _by_model(w.fleet) == {
        "G2": (549, 4392),
        "T4": (404, 842),
        "P100": (134, 265),
        "G3": (39, 312),
        "V100M32": (30, 204),
        "V100M16": (55, 195),
        "A10": (2, 2),
    }
    # SOURCE.md:43 "GPUs per node: 8 → 617 nodes, 2 → 518, 4 → 54, 1 → 24, 0 → 310"
    per_node: Counter[int] = Counter()
    for g in w.fleet:
        per_node[g.gpus_per_node] += g.nodes
    assert per_node == {8: 617, 2: 518, 4: 54, 1: 24}


def test_openb_node_sample_row_keeps_cpus_and_memory() -> None:
    groups = {(g.gpu_type, g.cpus_per_node, g.memory_gb_per_node) for g in _openb().fleet}
    # SOURCE.md:83: openb-node-0228 128000 milli-CPU, 786432 MiB, 8 × G3
    assert ("G3", 128.0, 768.0) in groups


def test_openb_default_pods_match_the_published_counts() -> None:
    s = summarize(_openb())
    # SOURCE.md:25 and :60 "8,152 pods — 7,064 GPU pods + 1,088 CPU-only"
    assert (s["jobs"], s["gpu_jobs"]) == (8152, 7064)
    # SOURCE.md:64 QoS (carried as queue)
    assert {q: v["jobs"] for q, v in s["queues"].items()} == {
        "LS": 4647,
        "BE": 3398,
        "Burstable": 100,
        "Guaranteed": 7,
    }
    # SOURCE.md:64-65 phases (carried as status)
    assert s["statuses"] == {"Running": 5193, "Failed": 1870, "Pending": 897, "Succeeded": 192}


def test_openb_default_gpu_requests_are_fractional_for_436_percent_of_gpu_pods() -> None:
    w = _openb()
    s = summarize(w)
    whole = np.ceil(w.gpus[w.gpus > 0])
    # SOURCE.md:61 "GPUs per pod 1: 6,989 · 2: 16 · 4: 15 · 8: 44 (multi-GPU = 75 pods)"
    assert Counter(whole.astype(int).tolist()) == {1: 6989, 2: 16, 4: 15, 8: 44}
    assert s["multi_gpu_job_share"] == round(75 / 7064, 4)
    # SOURCE.md:61-62 "3,078 pods (43.6 % of GPU pods) request a fraction of one GPU"
    assert s["fractional_gpu_jobs"] == 3078
    assert round(100 * s["fractional_gpu_jobs"] / s["gpu_jobs"], 1) == 43.6
    # SOURCE.md:62-63 "median gpu_milli of 1-GPU pods is 1000, 25th pct 650, min 50"
    one = w.gpus[(w.gpus > 0) & (w.gpus <= 1)]
    assert (np.median(one), np.percentile(one, 25), one.min()) == (1.0, 0.65, 0.05)
    # SOURCE.md:63 "Total GPU demand Σ num_gpu·gpu_milli/1000 = 6,086.8 GPUs"
    assert round(float(w.gpus.sum()), 1) == 6086.8
    # SOURCE.md:73-74: openb-pod-0001 asks for 460 milli-GPU, created at 427061 s
    assert (w.gpus[1], w.submit_s[1], w.start_s[1]) == (0.46, 427061.0, 427061.0)
    assert w.cpus[1] == 6.0 and w.memory_gb[1] == 12.0


def test_openb_default_times_span_149_days_with_published_lifetimes() -> None:
    w = _openb()
    s = summarize(w)
    # SOURCE.md:65-66 "creation_time spans 0 → 12,901,761 s (149.3 days)"
    assert (w.submit_s.min(), w.submit_s.max()) == (0.0, 12901761.0)
    assert round(s["span_days"], 1) == 149.3
    # SOURCE.md:66 "Lifetimes (deletion − scheduled): median 616 s, mean 28,949 s"
    assert s["duration_s"]["p50"] == 616.0
    assert round(float(np.nanmean(w.duration_s))) == 28949
    # Pending pods (SOURCE.md:58 "scheduled_time ... empty for Pending pods") never started
    pending = w.status == "Pending"
    assert np.isnan(w.start_s[pending]).all() and np.isnan(w.duration_s[pending]).all()
    assert not np.isnan(w.duration_s[~pending]).any()
    assert w.origin is None


# --- openb: the 23 other pod lists ------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "pods", "cpu_only"),
    [
        # SOURCE.md:26 "7,064 – 10,094" rows; "`cpu0` = no CPU-only pods"
        ("cpu0", 7064, 0),
        ("cpu300", 10094, 3030),
        # SOURCE.md:27 "8,152 each"
        ("gpushare40", 8152, 1088),
        # SOURCE.md:29 "8,324 – 9,061"
        ("multigpu20", 8324, 1088),
        ("multigpu50", 9061, 1088),
    ],
    ids=["cpu0-has-no-cpu-pods", "cpu300-is-the-largest", "gpushare", "multigpu20", "multigpu50"],
)
def test_openb_variant_has_the_published_row_count(variant: str, pods: int, cpu_only: int) -> None:
    w = _openb(variant)
    assert (len(w), int((w.gpus == 0).sum())) == (pods, cpu_only)
    assert w.name == f"{OPENB}:{variant}"


def test_every_openb_variant_loads_with_the_same_fleet() -> None:
    rows = {v: len(_openb(v)) for v in openb.VARIANTS}
    # SOURCE.md:26-29: 9 cpu, 5 gpushare, 5 gpuspec and 4 multigpu lists besides default
    assert len(rows) == 23
    assert min(rows.values()) == 7064 and max(rows.values()) == 10094
    assert {_openb(v).fleet for v in openb.VARIANTS} == {_openb().fleet}


@pytest.mark.parametrize("n", [20, 40, 60, 80, 100])
def test_openb_gpushare_n_puts_n_percent_of_gpu_demand_on_shared_gpus(n: int) -> None:
    # SOURCE.md:27 says "N % of GPU pods are GPU-sharing"; the files hold N % of the
    # requested GPU amount on sharing pods (pods: 32.9 % for gpushare20, 56.6 % for 40)
    w = _openb(f"gpushare{n}")
    shared = (w.gpus > 0) & (w.gpus < 1)
    assert round(100 * w.gpus[shared].sum() / w.gpus.sum()) == n


@pytest.mark.parametrize("n", ["05", "10", "20", "25", "33"])
def test_openb_gpuspec_n_constrains_about_n_percent_of_gpu_pods(n: str) -> None:
    # SOURCE.md:28 "default pods with N % of GPU pods given a GPU-type constraint"
    w = _openb(f"gpuspec{n}")
    gpu_pods = w.gpus > 0
    constrained = (w.gpu_type != "") & gpu_pods
    assert abs(constrained.sum() / gpu_pods.sum() - int(n) / 100) < 0.01
    assert (w.gpu_type[~gpu_pods] == "").all()
    assert {m for spec in w.gpu_type[constrained] for m in spec.split("|")} <= openb.GPU_MODELS


def test_openb_multigpu_lists_have_no_times_so_pods_arrive_at_zero_in_file_order() -> None:
    # SOURCE.md:29 "**only 5 columns** (no qos/phase/times)"
    w = _openb("multigpu30")
    assert (w.submit_s == 0).all() and np.isnan(w.duration_s).all()
    assert (w.queue == "").all() and (w.status == "").all()
    assert any("no qos, pod_phase or times" in n for n in w.notes)


def test_openb_unknown_variant_lists_the_valid_ones() -> None:
    folder = trace_folder(OPENB)
    with pytest.raises(UnknownNameError) as e:
        openb.load_variant(folder, RowPolicy(str(folder)), "gpushare50")
    assert "gpushare40" in str(e.value) and "multigpu20" in str(e.value)


# --- openb: the FGD artifact's expected results ----------------------------------------


def _published(figures: object) -> object:
    """Equal to what a table rounded to two decimals shows (7.055 shows as 7.06)."""
    return pytest.approx(figures, abs=0.005 + 1e-9)


def test_openb_reference_results_give_the_published_gpu_allocation_per_policy() -> None:
    folder = trace_folder(OPENB)
    # SOURCE.md:103-110, column "at 130 % arrived" (and README.md's headline figures)
    assert openb.reference_results(folder) == _published(
        {
            "Random": 87.47,
            "DotProd": 90.85,
            "GpuClustering": 91.88,
            "GpuPacking": 92.00,
            "BestFit": 93.08,
            "FGD": 95.39,
        }
    )
    # SOURCE.md:103-110, "at 100 % arrived" and "frag % of GPUs at 100 % arrived"
    at_100 = openb.reference_results(folder, arrived_pct=100)
    assert (at_100["FGD"], at_100["Random"]) == _published((95.23, 86.30))
    frag = openb.reference_results(folder, metric="frag", arrived_pct=100)
    assert frag == _published(
        {
            "Random": 13.49,
            "DotProd": 9.30,
            "GpuClustering": 8.22,
            "GpuPacking": 8.13,
            "BestFit": 7.06,
            "FGD": 4.73,
        }
    )


def test_openb_reference_results_for_a_list_without_results_say_which_have() -> None:
    folder = trace_folder(OPENB)
    with pytest.raises(InputError, match=r"no results for 'openb_pod_list_cpu0'.*cpu050"):
        openb.reference_results(folder, variant="cpu0")


# --- PAI and spot fleets ----------------------------------------------------------------


def test_pai_fleet_is_6742_gpus_of_five_types_and_no_jobs() -> None:
    folder = trace_folder(PAI)
    w = pai.load(folder, RowPolicy(str(folder)))
    s = summarize(w)
    # SOURCE.md:34 "**6,742 GPUs**"; no job data (SOURCE.md:3)
    assert (s["fleet_gpus"], s["jobs"]) == (6742, 0)
    # SOURCE.md:35-36 per type, machines × GPUs, and "CPU-only 83" (noted, not carried)
    assert _by_model(w.fleet) == {
        "MISC": (280, 2240),
        "P100": (798, 1596),
        "V100M32": (135, 1080),
        "T4": (497, 994),
        "V100": (104, 832),
    }
    assert any(n.startswith("83 CPU-only machines") for n in w.notes)
    # SOURCE.md:36 "V100 104 × 8 = 832 (45 with 384 GB, 59 with 512 GB)"
    v100 = {g.memory_gb_per_node: g.nodes for g in w.fleet if g.gpu_type == "V100"}
    assert v100 == {384.0: 45, 512.0: 59}
    # SOURCE.md:37 "CPU: 96 cores everywhere except P100 machines (64)"
    assert {g.gpu_type for g in w.fleet if g.cpus_per_node != 96} == {"P100"}
    assert {g.cpus_per_node for g in w.fleet if g.gpu_type == "P100"} == {64.0}
    # SOURCE.md:22 and :34 say 1,896 machines, but the file has 1,897 lines and its own
    # per-type figures (:35-36) add up to 1,897: 280 + 798 + 135 + 497 + 104 + 83
    assert sum(g.nodes for g in w.fleet) + 83 == 1897


def test_spot_fleet_is_4278_nodes_with_10412_gpus_and_no_jobs() -> None:
    folder = trace_folder(SPOT)
    w = spot.load(folder, RowPolicy(str(folder)))
    s = summarize(w)
    # SOURCE.md:34 "**4,278 nodes, 10,412 GPUs, 632,636 vCPUs**"; the job table is absent
    assert (s["fleet_gpus"], s["jobs"]) == (10412, 0)
    assert sum(g.nodes for g in w.fleet) == 4278
    assert sum(g.cpus_per_node * g.nodes for g in w.fleet) == 632636
    # SOURCE.md:35-37 per model
    assert _by_model(w.fleet) == {
        "A100-SXM4-80GB": (432, 3456),
        "A10": (2494, 2494),
        "H800": (219, 1752),
        "GPU-series-1": (989, 1558),
        "GPU-series-2": (122, 976),
        "A800-SXM4-80GB": (22, 176),
    }
    # SOURCE.md:36 "(901×1, 10×4, 77×8, 1×1@128 vCPU)"
    series1 = {
        (g.gpus_per_node, g.cpus_per_node): g.nodes for g in w.fleet if g.gpu_type == "GPU-series-1"
    }
    assert series1 == {(1, 192.0): 901, (4, 192.0): 10, (8, 192.0): 77, (1, 128.0): 1}
    # the third-party aggregates are statistics, not jobs (SOURCE.md:51-76)
    assert any("not jobs" in n for n in w.notes)


def test_the_traces_and_openb_variants_are_registered_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPUFLEET_TRACES", str(trace_folder(OPENB).parent))
    names = {t.name for t in known_traces()}
    assert {OPENB, PAI, SPOT, "acme-2023", "pollux-sia-workloads"} <= names
    assert {f"{OPENB}:{v}" for v in openb.VARIANTS} <= names
    assert summarize(load_source(SPOT))["fleet_gpus"] == 10412
    w = load_source(f"{OPENB}:gpushare100")
    # SOURCE.md:27 "8,152 each"; gpushare100: every GPU pod shares a GPU
    assert (len(w), summarize(w)["fractional_gpu_jobs"]) == (8152, 7064)


# --- bad data: one defect per file, the exact located message ---------------------------

POD_COLUMNS = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time"
)
POD = "openb-pod-0001,6000,12288,1,460,,LS,Running,427061,12902960,427061.0"
PENDING = "openb-pod-0002,6000,12288,1,1000,,BE,Pending,500,900,"
NODES = "sn,cpu_milli,memory_mib,gpu,model\nn0,96000,393216,8,G2\nn1,32000,262144,0,\n"
OPENB_MODELS = "A10, G1, G2, G3, P100, T4, V100M16, V100M32"


def _openb_folder(tmp_path: Path, pods: str, nodes: str = NODES) -> Path:
    folder = tmp_path / OPENB
    (folder / "csv").mkdir(parents=True)
    (folder / "csv" / "openb_node_list_all_node.csv").write_text(nodes)
    (folder / "csv" / "openb_pod_list_default.csv").write_text(pods)
    return folder


def _error(folder: Path, loader: Loader = openb.load) -> str:
    with pytest.raises(RowError) as e:
        loader(folder, RowPolicy(str(folder)))
    return str(e.value)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "p,6000,12288,1,460,,LS,Running,100,400,450",
            "deletion_time: before scheduled_time: 400 < 450 "
            "(expected a time at or after scheduled_time)",
        ),
        (
            "p,6000,12288,1,460,V100M16|H100,LS,Running,0,9,0",
            "gpu_spec: unknown GPU model: 'H100' "
            f"(expected models from {OPENB_MODELS}, '|'-separated, or empty)",
        ),
        (
            "p,6000,12288,two,460,,LS,Running,0,9,0",
            "num_gpu: not an integer: 'two' (expected an integer of 0 or more)",
        ),
        (
            "p,6000,12288,1,1460,,LS,Running,0,9,0",
            "gpu_milli: out of range: 1460 (expected milli-GPU from 0 to 1000)",
        ),
        (
            "p,6000,12288,1,460,,LS,Lost,0,9,0",
            "pod_phase: unknown pod phase: 'Lost' "
            "(expected one of Failed, Pending, Running, Succeeded)",
        ),
        (
            "p,6000,12288,1,460,,LS,Running,0,9",
            f"row: wrong number of fields: 10 (expected 11 fields ({POD_COLUMNS}))",
        ),
    ],
    ids=[
        "a-pod-deleted-before-it-was-scheduled",
        "a-pod-asking-for-an-unknown-gpu-model",
        "a-gpu-count-in-words",
        "more-than-a-whole-gpu-in-milli",
        "a-phase-kubernetes-does-not-have",
        "a-row-missing-its-last-field",
    ],
)
def test_openb_bad_pod_row_is_located(tmp_path: Path, row: str, message: str) -> None:
    folder = _openb_folder(tmp_path, f"{POD_COLUMNS}\n{POD}\n{row}\n")
    pods = folder / "csv" / "openb_pod_list_default.csv"
    assert _error(folder) == f"{pods}:3: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"1: header: empty file (expected a header line {POD_COLUMNS})"),
        (
            POD_COLUMNS.replace("gpu_milli,", "") + "\n",
            "1: header: missing column(s): gpu_milli; the header is "
            f"{POD_COLUMNS.replace('gpu_milli,', '')!r} (expected a header line {POD_COLUMNS})",
        ),
        (
            POD_COLUMNS + "\n",
            "2: row: no data rows (expected a header line, then one row per record)",
        ),
    ],
    ids=["an-empty-pod-list", "a-pod-list-without-gpu-milli", "a-header-without-pods"],
)
def test_openb_unusable_pod_list_is_fatal_even_when_skipping(
    tmp_path: Path, text: str, message: str
) -> None:
    folder = _openb_folder(tmp_path, text)
    pods = folder / "csv" / "openb_pod_list_default.csv"
    with pytest.raises(RowError) as e:
        openb.load(folder, RowPolicy(str(folder), skip=True))
    assert str(e.value) == f"{pods}:{message}"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "n2,96000,393216,8,H100",
            f"model: unknown GPU model: 'H100' (expected one of '', {OPENB_MODELS})",
        ),
        (
            "n2,96000,393216,8,",
            "model: empty for a node with GPUs: gpu 8 (expected the node's GPU model)",
        ),
        (
            "n2,96000,393216,eight,G2",
            "gpu: not an integer: 'eight' (expected an integer of 0 or more)",
        ),
    ],
    ids=["a-node-with-an-unknown-gpu-model", "a-gpu-node-without-a-model", "gpus-in-words"],
)
def test_openb_bad_node_row_is_located(tmp_path: Path, row: str, message: str) -> None:
    folder = _openb_folder(tmp_path, f"{POD_COLUMNS}\n{POD}\n", NODES + row + "\n")
    nodes = folder / "csv" / "openb_node_list_all_node.csv"
    assert _error(folder) == f"{nodes}:4: {message}"


def test_openb_skip_mode_drops_and_counts_each_bad_pod(tmp_path: Path) -> None:
    bad_gpus = "p,6000,12288,two,460,,LS,Running,0,9,0"
    bad_model = "p,6000,12288,1,460,H100,LS,Running,0,9,0"
    folder = _openb_folder(
        tmp_path, "\n".join([POD_COLUMNS, POD, bad_gpus, PENDING, bad_model, POD]) + "\n"
    )
    policy = RowPolicy(str(folder), skip=True)
    w = openb.load(folder, policy)
    assert len(w) == 3
    assert policy.skipped == {"num_gpu: not an integer": 1, "gpu_spec: unknown GPU model": 1}
    assert [line for line, _, _ in policy.rejects] == [3, 5]
    assert policy.rejects[0][2] == bad_gpus
    assert "skipped 1 row(s): num_gpu: not an integer" in w.notes
    # the Pending pod kept: no start, no duration
    assert np.isnan(w.start_s[1]) and np.isnan(w.duration_s[1])


PAI_TYPES = "CPU, MISC, P100, T4, V100, V100M32"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("m2,T4,96,512,two", "cap_gpu: not an integer: 'two' (expected an integer of 0 or more)"),
        ("m2,A100,96,512,8", f"gpu_type: unknown GPU type: 'A100' (expected one of {PAI_TYPES})"),
        (
            "m2,CPU,96,512,8",
            "cap_gpu: does not match gpu_type CPU: 8 (expected 0 for gpu_type CPU)",
        ),
        ("m2,T4,96,-512,2", "cap_mem: out of range: -512 (expected a number greater than 0)"),
    ],
    ids=["gpus-in-words", "a-type-pai-did-not-have", "gpus-on-a-cpu-machine", "negative-memory"],
)
def test_pai_bad_machine_row_is_located(tmp_path: Path, row: str, message: str) -> None:
    folder = tmp_path / PAI
    folder.mkdir()
    machines = folder / "pai_machine_spec.csv"
    machines.write_text(f"m0,CPU,96,512,0\nm1,T4,96,512,2\n{row}\n")
    assert _error(folder, pai.load) == f"{machines}:3: {message}"


def test_pai_machine_file_has_no_header_so_an_empty_one_has_no_rows(tmp_path: Path) -> None:
    folder = tmp_path / PAI
    folder.mkdir()
    (folder / "pai_machine_spec.csv").write_text("")
    assert _error(folder, pai.load) == (
        f"{folder / 'pai_machine_spec.csv'}:1: row: no data rows (expected one row per record)"
    )


def test_pai_column_order_comes_from_its_header_file(tmp_path: Path) -> None:
    folder = tmp_path / PAI
    folder.mkdir()
    (folder / "pai_machine_spec.header.txt").write_text(
        "machine,cap_gpu,gpu_type,cap_cpu,cap_mem\n"
    )
    (folder / "pai_machine_spec.csv").write_text("m0,8,V100,96,384\nm1,8,V100,96,384\n")
    w = pai.load(folder, RowPolicy(str(folder)))
    assert w.fleet == (FleetGroup("V100", 8, 2, 96.0, 384.0),)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "H100,8,192,9",
            "gpu_model: unknown GPU model: 'H100' (expected one of A10, A100-SXM4-80GB, "
            "A800-SXM4-80GB, GPU-series-1, GPU-series-2, H800)",
        ),
        ("A10,0,128,9", "gpu_capacity_num: out of range: 0 (expected an integer greater than 0)"),
        ("A10,1,1.5e2,9", "cpu_num: not an integer: '1.5e2' (expected an integer greater than 0)"),
    ],
    ids=["a-model-the-fleet-does-not-have", "a-gpu-node-with-no-gpus", "vcpus-as-a-float"],
)
def test_spot_bad_node_row_is_located(tmp_path: Path, row: str, message: str) -> None:
    folder = tmp_path / SPOT
    folder.mkdir()
    nodes = folder / "node_info_df.csv"
    nodes.write_text(f"gpu_model,gpu_capacity_num,cpu_num,node_name\nA10,1,128,0\n{row}\n")
    assert _error(folder, spot.load) == f"{nodes}:3: {message}"


def test_spot_skip_mode_keeps_the_good_nodes(tmp_path: Path) -> None:
    folder = tmp_path / SPOT
    folder.mkdir()
    (folder / "node_info_df.csv").write_text(
        "gpu_model,gpu_capacity_num,cpu_num,node_name\nA10,1,128,0\nH100,8,192,1\nH800,8,192,2\n"
    )
    policy = RowPolicy(str(folder), skip=True)
    w = spot.load(folder, policy)
    assert sum(g.gpus for g in w.fleet) == 9
    assert policy.skipped == {"gpu_model: unknown GPU model": 1}
