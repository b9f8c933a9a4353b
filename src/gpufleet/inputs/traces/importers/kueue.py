"""One Kueue ``Workload`` object (``kubectl get workloads.kueue.x-k8s.io -A -o json``) as one
job. Kueue creates a Workload for every Job it manages and records there when it was
admitted and when it finished, which a pod list loses once pods are garbage-collected.

==================================  =======================================================
metadata.creationTimestamp          ``submit_s`` (required)
spec.podSets[]                      ``gpus``, ``cpus``, ``memory_gb``: ``count`` pods
  .count, .template.spec            (default 1) times each pod's effective request
podSets' nodeSelector / affinity    ``gpu_type``; else the ResourceFlavor that
  (else admission flavors)          ``status.admission.podSetAssignments[].flavors`` gives
                                    ``nvidia.com/gpu``, when its name is a catalog GPU
status.admission.clusterQueue       ``queue``; ``spec.queueName`` (the LocalQueue) when
                                    the workload was never admitted
conditions Admitted (True)          ``start_s``: its ``lastTransitionTime``, the last
                                    admission
conditions Finished (True)          the end: its ``lastTransitionTime``
                                    ``status``: Finished's reason when Succeeded or Failed
                                    (else Finished), Admitted, QuotaReserved or Pending
==================================  =======================================================

A finished workload with no admission time (Kueue may drop the condition) keeps
``duration_s`` NaN rather than a guess.
"""

from __future__ import annotations

import math

from gpufleet.inputs.traces.importers.common import BadValue, JobRow
from gpufleet.inputs.traces.importers.gpu_names import catalog_name
from gpufleet.inputs.traces.importers.k8s_resources import (
    NOTHING,
    Context,
    JsonObject,
    get_list,
    get_object,
    get_text,
    gpu_products,
    objects,
    pod_request,
)

# a True condition: (lastTransitionTime as epoch seconds, its text, reason, its JSON path)
Condition = tuple[float, str, str, str]
_NEVER: Condition = (math.nan, "", "", "")


def workload_row(item: JsonObject, at: str, ctx: Context) -> JobRow:
    meta = get_object(item, "metadata", at, required=True)
    spec = get_object(item, "spec", at, required=True)
    status = get_object(item, "status", at)
    submit, _ = ctx.stamp(meta, "creationTimestamp", f"{at}.metadata", required=True)
    request, products = NOTHING, []
    for p, pod_set in objects(
        get_list(spec, "podSets", f"{at}.spec", required=True), f"{at}.spec.podSets"
    ):
        template = get_object(
            get_object(pod_set, "template", p, required=True),
            "spec",
            f"{p}.template",
            required=True,
        )
        request = request + pod_request(template, f"{p}.template.spec").times(_count(pod_set, p))
        products += [x for x in gpu_products(template, f"{p}.template.spec") if x not in products]
    admission = get_object(status, "admission", f"{at}.status")
    gpu_type = ctx.gpu_type(tuple(products) or _flavor(admission, f"{at}.status.admission"))
    queue = get_text(admission, "clusterQueue", f"{at}.status.admission")
    if not queue:
        queue = get_text(spec, "queueName", f"{at}.spec")
        ctx.counts.add("workload(s) not admitted: queue is the LocalQueue (spec.queueName)")
    conditions = _conditions(status, f"{at}.status", ctx)
    start, start_text, _, _ = conditions.get("Admitted", _NEVER)
    end, end_text, reason, end_at = conditions.get("Finished", _NEVER)
    if request.gpus == 0:
        ctx.counts.add("workload(s) without GPUs kept with gpus=0")
    duration = math.nan
    if math.isnan(end):
        ctx.counts.add("workload(s) not finished: duration NaN")
    elif math.isnan(start):
        ctx.counts.add("finished workload(s) without an Admitted time: duration NaN")
    elif end < start:
        raise BadValue(
            end_at,
            f"{end_text!r} (Finished) is before the admission {start_text!r}",
            "a Finished time at or after the Admitted time",
        )
    else:
        duration = end - start
    return (
        submit,
        start,
        duration,
        request.gpus,
        gpu_type,
        request.cpus,
        request.memory_gb,
        queue,
        "",
        _state(conditions, reason),
    )


def _state(conditions: dict[str, Condition], finished_reason: str) -> str:
    if "Finished" in conditions:
        return finished_reason if finished_reason in ("Succeeded", "Failed") else "Finished"
    for kind in ("Admitted", "QuotaReserved"):
        if kind in conditions:
            return kind
    return "Pending"


def _count(pod_set: JsonObject, at: str) -> int:
    value = pod_set.get("count", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadValue(
            f"{at}.count", f"{value!r} is not a pod count", "a whole number of pods, 0 or more"
        )
    return value


def _flavor(admission: JsonObject, at: str) -> tuple[str, ...]:
    """The ResourceFlavor admission assigned to ``nvidia.com/gpu``, when its name is a GPU
    model the catalog knows (flavor names are the cluster admin's own: "default", "spot")."""
    names: list[str] = []
    for p, assignment in objects(
        get_list(admission, "podSetAssignments", at), f"{at}.podSetAssignments"
    ):
        flavor = get_object(assignment, "flavors", p).get("nvidia.com/gpu")
        if isinstance(flavor, str) and catalog_name(flavor) and flavor not in names:
            names.append(flavor)
    return tuple(names)


def _conditions(status: JsonObject, at: str, ctx: Context) -> dict[str, Condition]:
    """The conditions whose status is True, by type."""
    out: dict[str, Condition] = {}
    for p, c in objects(get_list(status, "conditions", at), f"{at}.conditions"):
        if get_text(c, "status", p) != "True":
            continue
        t, text = ctx.stamp(c, "lastTransitionTime", p)
        reason = get_text(c, "reason", p)
        out[get_text(c, "type", p)] = (t, text, reason, f"{p}.lastTransitionTime")
    return out
