"""``alibaba-openb-v2023``: Alibaba's heterogeneous GPU-sharing cluster, as released with
the FGD paper (Weng et al., "Beware of Fragmentation", USENIX ATC '23).

Fleet: the 1,213 GPU nodes (6,212 GPUs) of ``csv/openb_node_list_all_node.csv``, grouped
by GPU model, GPUs, CPUs and memory, as in the FGD experiments; the 310 CPU-only nodes are
checked and noted, not carried. Jobs: the pods of ``csv/openb_pod_list_<variant>.csv``,
``default`` or one of :data:`VARIANTS`, each registered as ``alibaba-openb-v2023:<variant>``::

    submit_s    = creation_time            (seconds from the trace start; no date exists)
    start_s     = scheduled_time           (NaN for a pod never scheduled)
    duration_s  = deletion_time - scheduled_time
    gpus        = num_gpu * gpu_milli / 1000   (0.46 = 46 % of one shared GPU)
    gpu_type    = gpu_spec                 (allowed models, '|'-separated; "" = any)
    cpus        = cpu_milli / 1000,  memory_gb = memory_mib / 1024 (GiB)
    queue       = qos (LS, BE, Burstable, Guaranteed),  status = pod_phase

:func:`reference_results` reads the FGD artifact's expected results (share of GPUs
allocated per scheduling policy) for validating a packing replay.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Literal, NamedTuple

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.inputs.traces.loaders._tables import NodeSpec as NodeSpec  # read_nodes' type
from gpufleet.inputs.traces.loaders._tables import Row, gpu_fleet, read_table
from gpufleet.inputs.traces.registry import Loader, register
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import FleetGroup, Workload

NAME = "alibaba-openb-v2023"
# SOURCE.md: G1/G2/G3 are undisclosed internal codes (no node has G1, a pod may ask for it)
GPU_MODELS = frozenset({"A10", "G1", "G2", "G3", "P100", "T4", "V100M16", "V100M32"})
QOS = frozenset({"LS", "BE", "Burstable", "Guaranteed"})
PHASES = frozenset({"Succeeded", "Running", "Pending", "Failed"})
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = (
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)
SHORT_POD_COLUMNS = POD_COLUMNS[:5]  # the multigpu variants: no qos, phase or times
DEFAULT = "default"
VARIANTS = (
    *(f"cpu{n}" for n in ("0", "037", "050", "072", "100", "200", "235", "250", "300")),
    *(f"gpushare{n}" for n in (20, 40, 60, 80, 100)),
    *(f"gpuspec{n}" for n in ("05", "10", "20", "25", "33")),
    *(f"multigpu{n}" for n in (20, 30, 40, 50)),
)
POLICY_PREFIX = re.compile(r"^\d+-")
Metric = Literal["allo", "frag", "frag_ratio"]


class Pod(NamedTuple):
    """One row of a pod list. ``gpus`` folds the request into one number; ``num_gpu`` GPUs of
    ``gpu_milli`` milli-GPU each (``gpu_milli`` 0 for a pod asking no GPU) keep it exact, as
    a packing replay needs it (:mod:`gpufleet.labs.fgd`)."""

    submit_s: float
    start_s: float
    duration_s: float
    gpus: float
    gpu_type: str
    cpus: float
    memory_gb: float
    qos: str
    phase: str
    num_gpu: int
    gpu_milli: int
    name: str = ""  # the pod's name (column ``name``), its id in the trace
    line: int = 0  # its line in the file


@register(
    NAME,
    "Alibaba GPU-sharing cluster (FGD, ATC '23): 1,523 nodes, 6,212 GPUs, 8,152 pods "
    "with fractional GPUs and GPU-model constraints",
)
def load(folder: Path, policy: RowPolicy) -> Workload:
    return load_variant(folder, policy, DEFAULT)


def _description(variant: str) -> str:
    family = variant.rstrip("0123456789")
    n = int(variant[len(family) :])
    what = {
        "cpu": "default pods re-sampled with a different amount of CPU-only pods",
        "gpushare": f"re-sampled: {n} % of the requested GPU amount on shared GPUs",
        "gpuspec": f"default pods, {n} % of GPU pods constrained to a GPU model",
        "multigpu": "re-sampled with more multi-GPU pods; no times, QoS or phase",
    }[family]
    return f"openb pod list {variant}: {what}"


def _variant_loader(variant: str) -> Loader:
    def load(folder: Path, policy: RowPolicy) -> Workload:
        return load_variant(folder, policy, variant)

    return load


for _variant in VARIANTS:
    register(f"{NAME}:{_variant}", _description(_variant))(_variant_loader(_variant))


def load_variant(folder: Path, policy: RowPolicy, variant: str) -> Workload:
    """The fleet with the pods of ``csv/openb_pod_list_<variant>.csv``: ``default`` or one of
    :data:`VARIANTS` (re-sampled lists with more CPU-only, GPU-sharing, GPU-constrained or
    multi-GPU pods)."""
    path = _pod_list(folder, variant)
    fleet, fleet_notes = read_fleet(folder, policy)
    pods = read_pods(folder, policy, variant)
    short = variant.startswith("multigpu")
    name = NAME if variant == DEFAULT else f"{NAME}:{variant}"
    return Workload.build(
        name,
        [p.submit_s for p in pods],
        [p.duration_s for p in pods],
        [p.gpus for p in pods],
        start_s=[p.start_s for p in pods],
        gpu_type=[p.gpu_type for p in pods],
        cpus=[p.cpus for p in pods],
        memory_gb=[p.memory_gb for p in pods],
        queue=[p.qos for p in pods],
        status=[p.phase for p in pods],
        job_id=[p.name for p in pods],
        source_line=[p.line for p in pods],
        fleet=fleet,
        notes=fleet_notes + _notes(pods, short) + policy.notes(),
        source=str(path),
    )


def read_pods(folder: Path, policy: RowPolicy, variant: str = DEFAULT) -> list[Pod]:
    """The pods of ``csv/openb_pod_list_<variant>.csv``, in file order."""
    path = _pod_list(folder, variant)
    short = variant.startswith("multigpu")
    return read_table(path, policy, SHORT_POD_COLUMNS if short else POD_COLUMNS, _PodParser(short))


def _pod_list(folder: Path, variant: str) -> Path:
    if variant != DEFAULT and variant not in VARIANTS:
        raise UnknownNameError(f"{NAME} pod list", variant, [DEFAULT, *VARIANTS])
    return folder / "csv" / f"openb_pod_list_{variant}.csv"


def read_fleet(folder: Path, policy: RowPolicy) -> tuple[tuple[FleetGroup, ...], list[str]]:
    """The GPU nodes of the full node list, and a note on the CPU-only ones."""
    return gpu_fleet(read_nodes(folder, policy), "nodes")


def read_nodes(folder: Path, policy: RowPolicy) -> list[NodeSpec]:
    """Every node of ``csv/openb_node_list_all_node.csv`` in file order, named by its ``sn``.
    Its GPU nodes are those of ``openb_node_list_gpu_node.csv`` (the FGD artifact's cluster),
    in the same order, with the same sizes; only their ``sn`` differ."""
    path = folder / "csv" / "openb_node_list_all_node.csv"
    return read_table(path, policy, NODE_COLUMNS, _node)


def _node(row: Row) -> NodeSpec:
    gpus = int(row.number("gpu", integer=True))
    model = row.text("model")
    if model and model not in GPU_MODELS:
        row.choice("model", GPU_MODELS | {""}, "GPU model")
    if gpus and not model:
        row.fail("model", f"empty for a node with GPUs: gpu {gpus}", "the node's GPU model")
    if model and not gpus:
        row.fail("model", f"set on a node without GPUs: {model!r}", "empty when gpu is 0")
    cpus = row.number("cpu_milli", integer=True, strict=True) / 1000
    memory_gb = row.number("memory_mib", integer=True, strict=True) / 1024
    return NodeSpec(model, gpus, cpus, memory_gb, name=row.text("sn"))


class _PodParser:
    """One pod row -> :class:`Pod`; ``short`` for the 5-column multigpu lists."""

    def __init__(self, short: bool) -> None:
        self.short = short

    def __call__(self, row: Row) -> Pod:
        num_gpu = row.number("num_gpu", integer=True)
        milli = row.number("gpu_milli", integer=True)
        if milli > 1000:
            row.fail("gpu_milli", f"out of range: {milli:g}", "milli-GPU from 0 to 1000")
        if num_gpu and not milli:
            row.fail("gpu_milli", f"0 for a GPU pod: num_gpu {num_gpu:g}", "1 to 1000 milli-GPU")
        cpus = row.number("cpu_milli", integer=True) / 1000
        memory_gb = row.number("memory_mib", integer=True) / 1024
        gpus = num_gpu * milli / 1000
        # num_gpu, gpu_milli, name, line
        exact = (int(num_gpu), int(milli) if num_gpu else 0, row.text("name"), row.line)
        if self.short:
            return Pod(0.0, math.nan, math.nan, gpus, "", cpus, memory_gb, "", "", *exact)
        spec = row.text("gpu_spec")
        for model in spec.split("|") if spec else ():
            if model not in GPU_MODELS:
                row.fail(
                    "gpu_spec",
                    f"unknown GPU model: {model!r}",
                    f"models from {', '.join(sorted(GPU_MODELS))}, '|'-separated, or empty",
                )
        qos = row.choice("qos", QOS, "QoS class")
        phase = row.choice("pod_phase", PHASES, "pod phase")
        created, start, duration = _times(row)
        return Pod(created, start, duration, gpus, spec, cpus, memory_gb, qos, phase, *exact)


def _times(row: Row) -> tuple[float, float, float]:
    """(creation, start, duration) of a pod; start and duration NaN if never scheduled."""
    created = row.number("creation_time")
    deleted = row.number("deletion_time")
    scheduled = row.number("scheduled_time", blank_ok=True)
    if math.isnan(scheduled):
        if deleted < created:
            row.fail(
                "deletion_time",
                f"before creation_time: {deleted:g} < {created:g}",
                "a time at or after creation_time",
            )
        return created, math.nan, math.nan
    if scheduled < created:
        row.fail(
            "scheduled_time",
            f"before creation_time: {scheduled:g} < {created:g}",
            "a time at or after creation_time",
        )
    if deleted < scheduled:
        row.fail(
            "deletion_time",
            f"before scheduled_time: {deleted:g} < {scheduled:g}",
            "a time at or after scheduled_time",
        )
    return created, scheduled, deleted - scheduled


def _notes(pods: list[Pod], short: bool) -> list[str]:
    notes = [
        "the FGD experiments use the GPU nodes only, as this fleet does "
        "(openb_node_list_gpu_node.csv)",
        "gpus = num_gpu * gpu_milli / 1000: a pod sharing one GPU asks for a fraction of it; "
        "the trace has no GPU-memory request, and pod names are not carried",
        "cpus = cpu_milli / 1000; memory_gb = memory_mib / 1024 (GiB)",
        "the FGD paper replays these pods as a packing workload (arrivals only, inflated to "
        "130 % of GPU capacity), not as a timed replay; see reference_results()",
    ]
    if short:
        return [
            *notes,
            "this variant has no qos, pod_phase or times: every pod is submitted at 0 in "
            "file order; durations, queue and status are unknown",
        ]
    pending = sum(1 for p in pods if math.isnan(p.start_s))
    ends = [p.start_s + p.duration_s for p in pods if not math.isnan(p.start_s)]
    last = max(ends, default=0.0)
    return [
        *notes,
        "no absolute date: submit_s = creation_time, seconds from the trace start; "
        "start_s = scheduled_time; duration_s = deletion_time - scheduled_time",
        f"{pending} pod(s) never scheduled (no scheduled_time): start_s and duration_s NaN",
        f"{ends.count(last)} pod(s) end at the latest deletion_time ({last:,.0f} s), "
        "probably the end of collection: their durations may be cut off",
        "gpu_type = gpu_spec: the GPU models a pod accepts, '|'-separated ('' = any)",
        "queue = QoS class (LS, BE, Burstable, Guaranteed): the trace has no teams or users; "
        "status = pod_phase at collection time",
    ]


def reference_results(
    folder: Path, *, variant: str = DEFAULT, metric: Metric = "allo", arrived_pct: int = 130
) -> dict[str, float]:
    """The FGD artifact's expected results for a pod list: per scheduling policy, the mean
    over its seeds of ``metric`` when ``arrived_pct`` % of the cluster's GPU capacity has
    arrived as demand. ``allo`` = GPUs allocated, % of all GPUs (FGD 95.39, BestFit 93.08 at
    130 %); ``frag`` = fragmented GPUs, % of all GPUs; ``frag_ratio`` = fragmentation ratio,
    %. Keys are the policy names without their order prefix ("06-FGD" -> "FGD"), in file
    order.
    """
    path = folder / "reference_results" / f"analysis_{metric}_discrete.csv"
    column = str(arrived_pct)
    rows = read_table(
        path,
        RowPolicy(str(path)),
        ("workload", "sc_policy", "seed", column),
        lambda row: (row.text("workload"), row.text("sc_policy"), row.number(column)),
    )
    wanted = f"openb_pod_list_{variant}"
    values: dict[str, list[float]] = defaultdict(list)
    for workload, policy_name, value in rows:
        if workload == wanted:
            values[POLICY_PREFIX.sub("", policy_name)].append(value)
    if not values:
        present = sorted({w for w, _, _ in rows})
        raise InputError(f"{path}: no results for {wanted!r}; the file has {', '.join(present)}")
    return {p: sum(v) / len(v) for p, v in values.items()}
