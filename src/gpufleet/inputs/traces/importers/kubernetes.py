"""Kubernetes pod lists: the output of ``kubectl get pods -A -o json`` (a ``List`` whose
``items`` are Pods), one job per pod. Kueue Workloads (``kubectl get
workloads.kueue.x-k8s.io -A -o json``) are read by :mod:`.kueue`; a List may hold both kinds,
though a Job's pods and its Workload then count twice.

How a pod becomes a job:

===============================  ==========================================================
metadata.creationTimestamp       ``submit_s`` (required)
status.startTime                 ``start_s`` (when the kubelet took the pod, GPUs held from
                                 then on); else the earliest container ``startedAt``
containerStatuses[].state        the end: the latest ``terminated.finishedAt``, once the
  .terminated.finishedAt         phase is Succeeded or Failed
spec.containers[].resources      ``gpus``: ``nvidia.com/gpu`` (or ``amd.com/gpu``, MIG slices
  .requests (else .limits)       as fractions), ``cpus``, ``memory_gb`` (GiB); init
                                 containers count as the scheduler counts them
spec.nodeSelector / affinity     ``gpu_type`` from ``nvidia.com/gpu.product`` or a cloud
                                 accelerator label (:data:`.k8s_resources.GPU_LABELS`)
metadata.namespace               ``queue``
status.phase                     ``status`` (Pending, Running, Succeeded, Failed, Unknown)
===============================  ==========================================================

Pods without GPUs are kept with ``gpus`` 0; pods not finished are kept with ``duration_s``
NaN; a finished pod that never started has duration 0. A bad item is reported with its JSON
path: ``pods.json: items[3].spec.containers[0].resources.requests.nvidia.com/gpu: 'two' is not
a number (expected ...)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gpufleet.inputs.traces.importers.common import (
    BadValue,
    JobRow,
    bad_item,
    fatal,
    finish,
    open_text,
)
from gpufleet.inputs.traces.importers.k8s_resources import (
    Context,
    JsonObject,
    get_list,
    get_object,
    get_text,
    gpu_products,
    objects,
    pod_request,
)
from gpufleet.inputs.traces.importers.kueue import workload_row
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload

EXPECTED = (
    "a Kubernetes List as written by kubectl get pods -A -o json "
    "(or kubectl get workloads.kueue.x-k8s.io -A -o json)"
)
_FINISHED = frozenset({"Succeeded", "Failed"})


def load_kubernetes(path: Path, policy: RowPolicy) -> Workload:
    """Read a JSON List of Pods and/or Kueue Workloads (see the module docstring)."""
    items = _items(_read_json(path, policy), policy)
    ctx = Context()
    rows: list[JobRow] = []
    ids: list[str] = []
    for i, item in enumerate(items):
        try:
            rows.append(_row(item, f"items[{i}]", ctx))
        except BadValue as e:
            bad_item(policy, i, e, json.dumps(item, separators=(",", ":")))
            continue
        ids.append(_name(item))
    return finish(rows, path, ctx.notes(), policy, absolute=True, job_ids=ids)


def _name(item: JsonObject) -> str:
    """``namespace/name`` of an item (its id in the cluster)."""
    meta = item.get("metadata")
    if not isinstance(meta, dict):
        return ""
    return "/".join(str(meta[k]) for k in ("namespace", "name") if meta.get(k))


def _read_json(path: Path, policy: RowPolicy) -> Any:
    with open_text(path, policy, EXPECTED) as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as e:
            fatal(policy, e.lineno, "JSON", f"{e.msg} (column {e.colno})", EXPECTED)


def _items(doc: Any, policy: RowPolicy) -> list[Any]:
    if isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict) and isinstance(doc.get("items"), list):
        items = doc["items"]
    elif isinstance(doc, dict) and doc.get("kind") in ("Pod", "Workload"):
        items = [doc]
    else:
        fatal(policy, None, "items", "not found: this JSON is not a Kubernetes List", EXPECTED)
    if not items:
        fatal(policy, None, "items", "the list is empty", f"at least one item: {EXPECTED}")
    return items


def _row(item: Any, at: str, ctx: Context) -> JobRow:
    if not isinstance(item, dict):
        raise BadValue(at, f"{item!r} is not an object", "a Pod or a Kueue Workload object")
    kind = item.get("kind")
    spec = item.get("spec")
    if kind is None and isinstance(spec, dict):
        kind = "Workload" if "podSets" in spec else "Pod" if "containers" in spec else None
    if kind == "Pod":
        return pod_row(item, at, ctx)
    if kind == "Workload":
        return workload_row(item, at, ctx)
    raise BadValue(f"{at}.kind", f"{kind!r} is neither a Pod nor a Kueue Workload", EXPECTED)


def pod_row(item: JsonObject, at: str, ctx: Context) -> JobRow:
    meta = get_object(item, "metadata", at, required=True)
    spec = get_object(item, "spec", at, required=True)
    status = get_object(item, "status", at)
    submit, _ = ctx.stamp(meta, "creationTimestamp", f"{at}.metadata", required=True)
    request = pod_request(spec, f"{at}.spec")
    gpu_type = ctx.gpu_type(gpu_products(spec, f"{at}.spec"))
    phase = get_text(status, "phase", f"{at}.status")
    start, start_text = ctx.stamp(status, "startTime", f"{at}.status")
    first, first_text, last, last_text, last_at = _container_times(status, f"{at}.status", ctx)
    if math.isnan(start):
        start, start_text = first, first_text
    if request.gpus == 0:
        ctx.counts.add("pod(s) without GPUs kept with gpus=0")
    if request.mig:
        ctx.counts.add("pod(s) with MIG slices: each <g>g slice counted as g/7 of a GPU")
    duration = math.nan
    if phase not in _FINISHED:
        ctx.counts.add(f"pod(s) not finished ({phase or 'no phase'}): duration NaN")
    elif math.isnan(start):
        ctx.counts.add("finished pod(s) that never started: duration 0")
        duration = 0.0
    elif math.isnan(last):
        ctx.counts.add("finished pod(s) without a container finishedAt: duration NaN")
    elif last < start:
        raise BadValue(
            last_at,
            f"{last_text!r} is before the pod's start {start_text!r}",
            "a finish at or after status.startTime",
        )
    else:
        duration = last - start
    namespace = get_text(meta, "namespace", f"{at}.metadata")
    return (
        submit,
        start,
        duration,
        request.gpus,
        gpu_type,
        request.cpus,
        request.memory_gb,
        namespace,
        "",
        phase,
    )


def _container_times(
    status: JsonObject, at: str, ctx: Context
) -> tuple[float, str, float, str, str]:
    """The earliest container start and the latest finish: (start, its text, finish, its
    text, the finish's path)."""
    first, first_text = math.nan, ""
    last, last_text, last_at = math.nan, "", ""
    for p, cs in objects(get_list(status, "containerStatuses", at), f"{at}.containerStatuses"):
        state = get_object(cs, "state", p)
        for phase in ("running", "terminated"):
            s = get_object(state, phase, f"{p}.state")
            started, text = ctx.stamp(s, "startedAt", f"{p}.state.{phase}")
            if not math.isnan(started) and (math.isnan(first) or started < first):
                first, first_text = started, text
        done = get_object(state, "terminated", f"{p}.state")
        finished, text = ctx.stamp(done, "finishedAt", f"{p}.state.terminated")
        if not math.isnan(finished) and (math.isnan(last) or finished > last):
            last, last_text, last_at = finished, text, f"{p}.state.terminated.finishedAt"
    return first, first_text, last, last_text, last_at
