"""The register's desired state at an instant as Kueue objects (issue 13, item 5).

The same register reading and the same quota rule as Slurm's desired state
(:mod:`.desired`: the quota row in force, less what transfers in force give, plus what
they bring, never below 0), written as Kueue's objects (the CRDs of Kueue v0.19.2,
bundled: :mod:`.kueue_schema`; concepts: https://kueue.sigs.k8s.io/docs/concepts/):

1. **ResourceFlavor** per GPU type of the pools the mapping's ``kubernetes.nodes`` place on
   the cluster. Its name is the first ``gpu_types`` key for the type that is a DNS-1123
   label (``h100``), else the type's own name made one (``h100-sxm``); ``nodeLabels``
   selects ``nvidia.com/gpu.product`` = the first other key for the type that is a label
   value (``NVIDIA-H100-80GB-HBM3``, as GPU feature discovery sets it), else the built-in
   product name of :mod:`gpufleet.planning.export.kueue`.
2. **Cohort** per entity: ``fairSharing.weight`` = the sum of its programs' weights. No
   ``parentName``: entities are separate companies, so a program borrows only within its
   entity's cohort; GPUs move between entities only through an approved transfer, which
   is enacted as nominal quota (rule 3), exactly as on Slurm.
3. **ClusterQueue** per ``kubernetes.cluster_queues`` line (one per program), in its
   entity's cohort (``spec.cohortName`` in v1beta2, ``spec.cohort`` in v1beta1). One
   resource group covers ``nvidia.com/gpu`` with a flavor per GPU type of the cluster:
   ``nominalQuota`` = the program's cap; ``borrowingLimit`` = the quota row's (absent: no
   limit); ``lendingLimit`` = the row's, but at most ``nominalQuota`` (Kueue's webhook
   refuses more; a clamp is noted). ``fairSharing.weight`` = the program's weight (Kueue
   weighs dominant resource shares by it: .../docs/concepts/fair_sharing/).
   ``namespaceSelector``: the namespaces the mapping gives the program (none: a selector
   that matches no namespace, noted).
4. **LocalQueue** per ``kubernetes.namespaces`` line whose program has a ClusterQueue,
   named after the program, pointing at its ClusterQueue.

Every object is labelled ``app.kubernetes.io/managed-by: gpufleet`` (what the diff may
remove) and annotated with its causes under ``gpufleet.io/``: ``causes`` is the JSON list
of the causes (the mapping line, the weight, the quota row, the transfer with its id,
window and approvals), as the Slurm plan prints them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gpufleet.live.enact.desired import EnactInputError, _Account, _caps
from gpufleet.live.enact.model import Cause, QuotaCause, WeightCause, cause_dict
from gpufleet.live.enact.register import QuotaRec, RegisterRows
from gpufleet.live.mapping import ClusterMapping
from gpufleet.planning.export.kueue import GPU_PRODUCTS, PRODUCT_LABEL
from gpufleet.planning.export.model import (
    ANN_ENTITY,
    ANN_GPU_TYPE,
    ANN_PROGRAM,
    GPU_RESOURCE,
    MANAGED_BY,
    k8s_name,
    quantity,
)

ANN_CAUSES = "gpufleet.io/causes"
NS_LABEL = "kubernetes.io/metadata.name"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True)
class KubeMappingCause:
    """A line of the mapping's ``kubernetes`` section."""

    line: str  # "kubernetes.cluster_queues.tesla-cq"
    what: str  # "tesla/fsd-training"

    def text(self) -> str:
        return f"mapping: {self.line} is {self.what}"


KueueCause = Cause | KubeMappingCause


def _cause_json(c: KueueCause) -> dict[str, Any]:
    if isinstance(c, KubeMappingCause):
        return {"kind": "mapping", "text": c.text(), "line": c.line, "what": c.what}
    return cause_dict(c)


@dataclass(frozen=True)
class KueueObject:
    """One object the cluster should hold: its manifest and the causes annotated on it."""

    kind: str
    name: str
    namespace: str | None
    manifest: dict[str, Any]
    causes: tuple[KueueCause, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace or "", self.name)

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True)
class KueueDesired:
    """The objects (flavors, cohorts, cluster queues, local queues: the order to apply)."""

    version: str
    at: datetime
    objects: tuple[KueueObject, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def api(self) -> str:
        return f"kueue.x-k8s.io/{self.version}"


@dataclass(frozen=True)
class _Queue:
    name: str
    entity: str
    program: str
    namespaces: tuple[str, ...]


def kueue_desired(
    rows: RegisterRows, mapping: ClusterMapping, version: str, at: datetime
) -> KueueDesired:
    """What the Kueue cluster of ``mapping`` should hold at ``at`` (naive UTC)."""
    types = _types(rows, mapping)
    queues = _queues(rows, mapping)
    accounts = [_Account(q.name, q.entity, q.program) for q in queues]
    in_force = [t for t in rows.transfers if t.in_force(at)]
    caps, notes = _caps(rows, accounts, {t: t for t in types}, in_force, at)
    api = f"kueue.x-k8s.io/{version}"
    objects = [_flavor(api, t, f, p) for t, (f, p) in types.items()]
    objects += _cohorts(api, rows, queues)
    for q in queues:
        program = rows.program(q.program)
        assert program is not None  # checked by _queues
        resources = []
        causes: list[KueueCause] = [
            KubeMappingCause(f"kubernetes.cluster_queues.{q.name}", f"{q.entity}/{q.program}"),
            WeightCause(q.program, program.weight),
        ]
        for t, (flavor, _) in types.items():
            cap = caps[(q.program, t)]
            resources.append((flavor, _limits(rows, cap.gpus, cap.causes, notes, q.name)))
            causes += cap.causes
        if not q.namespaces:
            notes.append(f"ClusterQueue {q.name}: no namespace maps to {q.program}")
        spec = _cq_spec(version, k8s_name(q.entity), q.namespaces, resources, program.weight)
        ann = {ANN_PROGRAM: q.program, ANN_ENTITY: q.entity}
        objects.append(_object(api, "ClusterQueue", q.name, None, spec, ann, causes))
    objects += _local_queues(api, rows, mapping, queues, notes)
    return KueueDesired(version, at, tuple(objects), tuple(notes))


def _error(field_: str, message: str, expected: str, mapping: ClusterMapping) -> EnactInputError:
    return EnactInputError(field_, message, expected, mapping.file)


def _types(rows: RegisterRows, mapping: ClusterMapping) -> dict[str, tuple[str, str | None]]:
    """GPU type -> (flavor name, product label value) for the pools on the cluster."""
    out: dict[str, tuple[str, str | None]] = {}
    for i, rule in enumerate(mapping.model.kubernetes.nodes):
        pool = rows.pool(rule.pool)
        if pool is None:
            known = ", ".join(p.name for p in rows.pools) or "none"
            raise _error(f"kubernetes.nodes[{i}].pool", f"pool {rule.pool!r} is not in the "
                         "register", f"one of: {known}", mapping)  # fmt: skip
        if pool.gpu_type in out:
            continue
        keys = [k for k, v in mapping.model.gpu_types.items() if v == pool.gpu_type]
        flavor = next((k for k in keys if _LABEL.fullmatch(k) and len(k) <= 63), None)
        flavor = flavor or k8s_name(pool.gpu_type)
        product = next(
            (k for k in keys if k != flavor and _LABEL_VALUE.fullmatch(k) and len(k) <= 63),
            GPU_PRODUCTS.get(pool.gpu_type),
        )
        out[pool.gpu_type] = (flavor, product)
    return out


def _queues(rows: RegisterRows, mapping: ClusterMapping) -> list[_Queue]:
    out: list[_Queue] = []
    namespaces = mapping.model.kubernetes.namespaces
    for name, target in mapping.model.kubernetes.cluster_queues.items():
        where = f"kubernetes.cluster_queues.{name}"
        if not _SUBDOMAIN.fullmatch(name) or len(name) > 253:
            raise _error(where, "is not a ClusterQueue name", "a DNS-1123 subdomain: lower-case "
                         "letters, digits, '-' and '.'", mapping)  # fmt: skip
        program = rows.program(target.program)
        if program is None or program.entity != target.entity:
            known = ", ".join(f"{p.entity}/{p.name}" for p in rows.programs) or "none"
            raise _error(where, f"{target.entity}/{target.program} is not a program of the "
                         "register", f"one of: {known}", mapping)  # fmt: skip
        twin = next((q for q in out if q.program == target.program), None)
        if twin is not None:
            why = f"{target.program} already has ClusterQueue {twin.name}: quota counted twice"
            raise _error(where, why, "one ClusterQueue per program", mapping)
        mine = tuple(sorted(ns for ns, t in namespaces.items() if t.program == target.program))
        out.append(_Queue(name, target.entity, target.program, mine))
    return out


def _row_of(rows: RegisterRows, cause: QuotaCause) -> QuotaRec | None:
    """The quota row a cause names ((program, type, effective): the row's unique key)."""
    for q in rows.quotas:
        when = q.effective.isoformat() if q.effective else "plan start"
        if (q.program, q.gpu_type, when) == (cause.program, cause.gpu_type, cause.effective):
            return q
    return None


def _limits(
    rows: RegisterRows, gpus: int, causes: Sequence[Cause], notes: list[str], cq: str
) -> dict[str, Any]:
    """The ``nvidia.com/gpu`` entry of a flavor: nominal, and the row's limits (rule 3)."""
    out: dict[str, Any] = {"name": GPU_RESOURCE, "nominalQuota": gpus}
    quota = next(c for c in causes if isinstance(c, QuotaCause))
    row = _row_of(rows, quota)
    if row is None:
        return out
    if row.borrowing_limit is not None:
        out["borrowingLimit"] = row.borrowing_limit
    if row.lending_limit is not None:
        out["lendingLimit"] = min(row.lending_limit, gpus)
        if row.lending_limit > gpus:
            notes.append(
                f"ClusterQueue {cq}: {row.gpu_type} lending limit {row.lending_limit} is more "
                f"than its nominal quota {gpus} in force; written as {gpus} (Kueue's webhook "
                "refuses lendingLimit > nominalQuota)"
            )
    return out


def _object(
    api: str,
    kind: str,
    name: str,
    namespace: str | None,
    spec: dict[str, Any],
    annotations: Mapping[str, str],
    causes: Sequence[KueueCause],
) -> KueueObject:
    ann = dict(annotations)
    ann[ANN_CAUSES] = json.dumps([_cause_json(c) for c in causes], sort_keys=True)
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta |= {"labels": dict(MANAGED_BY), "annotations": ann}
    body = {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}
    return KueueObject(kind, name, namespace, body, tuple(causes))


def _flavor(api: str, gpu_type: str, flavor: str, product: str | None) -> KueueObject:
    spec: dict[str, Any] = {"nodeLabels": {PRODUCT_LABEL: product}} if product else {}
    return _object(api, "ResourceFlavor", flavor, None, spec, {ANN_GPU_TYPE: gpu_type}, ())


def _cohorts(api: str, rows: RegisterRows, queues: list[_Queue]) -> list[KueueObject]:
    out = []
    for entity in dict.fromkeys(q.entity for q in queues):
        weights = [WeightCause(p.name, p.weight) for p in rows.programs if p.entity == entity]
        mine = [w for w in weights if any(q.program == w.program for q in queues)]
        spec = {"fairSharing": {"weight": quantity(round(sum(w.weight for w in mine), 9))}}
        ann = {ANN_ENTITY: entity}
        out.append(_object(api, "Cohort", k8s_name(entity), None, spec, ann, mine))
    return out


def _cq_spec(
    version: str,
    cohort: str,
    namespaces: tuple[str, ...],
    resources: list[tuple[str, dict[str, Any]]],
    weight: float,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"cohortName" if version == "v1beta2" else "cohort": cohort}
    match = {"key": NS_LABEL, "operator": "In", "values": list(namespaces)}
    none = {"key": NS_LABEL, "operator": "DoesNotExist"}  # every namespace has the label
    spec["namespaceSelector"] = {"matchExpressions": [match if namespaces else none]}
    if resources:
        flavors = [{"name": f, "resources": [r]} for f, r in resources]
        spec["resourceGroups"] = [{"coveredResources": [GPU_RESOURCE], "flavors": flavors}]
    spec["fairSharing"] = {"weight": quantity(weight)}
    return spec


def _local_queues(
    api: str, rows: RegisterRows, mapping: ClusterMapping, queues: list[_Queue], notes: list[str]
) -> list[KueueObject]:
    out = []
    for ns, target in mapping.model.kubernetes.namespaces.items():
        where = f"kubernetes.namespaces.{ns}"
        if not _LABEL.fullmatch(ns) or len(ns) > 63:
            raise _error(where, "is not a namespace name", "a DNS-1123 label", mapping)
        queue = next((q for q in queues if q.program == target.program), None)
        if queue is None:
            notes.append(f"{where}: {target.program} has no ClusterQueue, so no LocalQueue")
            continue
        cause = KubeMappingCause(where, f"{target.entity}/{target.program}")
        spec = {"clusterQueue": queue.name}
        ann = {ANN_PROGRAM: target.program}
        out.append(_object(api, "LocalQueue", k8s_name(target.program), ns, spec, ann, [cause]))
    return out
