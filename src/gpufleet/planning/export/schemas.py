"""The parts of the schedulers' schemas that gpufleet's exports touch, and a checker.

Each schema is a dict in the OpenAPI v3 form the CRDs use (``type``, ``properties``,
``required``, ``items``, ``enum``, ``pattern``, ``format: int32``, ``minimum``,
``additionalProperties``, ``x-kubernetes-int-or-string``), copied by hand from the CRD or
document named above it: field names and types only, no descriptions. An object lists every
field its source defines at that level (those gpufleet never writes get ``ANY``); a field it
does not list is an error, as ``kubectl apply --validate=strict`` makes it.

:func:`problems` returns every mismatch as ``path: what`` (empty: the document fits).
"""

from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]

ANY: Schema = {}
STRING: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
INT32: Schema = {"type": "integer", "format": "int32"}
NUMBER: Schema = {"type": "number"}
# the Kubernetes quantity grammar, as every CRD here writes it
QUANTITY: Schema = {
    "x-kubernetes-int-or-string": True,
    "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
}
DNS_SUBDOMAIN: Schema = {
    "type": "string",
    "maxLength": 253,
    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
}
STRING_MAP: Schema = {"type": "object", "additionalProperties": STRING}
QUANTITY_MAP: Schema = {"type": "object", "additionalProperties": QUANTITY}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


def array(items: Schema, min_items: int | None = None, max_items: int | None = None) -> Schema:
    s: Schema = {"type": "array", "items": items}
    if min_items is not None:
        s["minItems"] = min_items
    if max_items is not None:
        s["maxItems"] = max_items
    return s


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


# ObjectMeta, the fields gpufleet writes (k8s.io/apimachinery ObjectMeta: name, namespace,
# labels, annotations; the rest of ObjectMeta is set by the API server)
METADATA = obj(
    {
        "name": DNS_SUBDOMAIN,
        "namespace": DNS_SUBDOMAIN,
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
    ("name",),
)


def resource(api_version: str, kind: str, body: dict[str, Schema]) -> Schema:
    return obj(
        {
            "apiVersion": {"type": "string", "enum": [api_version]},
            "kind": {"type": "string", "enum": [kind]},
            "metadata": METADATA,
            **body,
        },
        ("apiVersion", "kind", "metadata"),
    )


# kubernetes-sigs/kueue config/components/crd/bases/kueue.x-k8s.io_resourceflavors.yaml,
# version v1beta1
KUEUE_RESOURCE_FLAVOR = resource(
    "kueue.x-k8s.io/v1beta1",
    "ResourceFlavor",
    {
        "spec": obj(
            {
                "nodeLabels": {**STRING_MAP, "maxProperties": 8},
                "nodeTaints": array(ANY, max_items=8),
                "tolerations": array(ANY, max_items=8),
                "topologyName": DNS_SUBDOMAIN,
            }
        )
    },
)

# kubernetes-sigs/kueue config/components/crd/bases/kueue.x-k8s.io_clusterqueues.yaml,
# version v1beta1 (spec.cohort; v1beta2 renames it cohortName)
_KUEUE_QUOTA = obj(
    {
        "name": STRING,
        "nominalQuota": QUANTITY,
        "borrowingLimit": QUANTITY,
        "lendingLimit": QUANTITY,
    },
    ("name", "nominalQuota"),
)
_KUEUE_FLAVOR = obj(
    {"name": DNS_SUBDOMAIN, "resources": array(_KUEUE_QUOTA, 1, 64)}, ("name", "resources")
)
_KUEUE_GROUP = obj(
    {"coveredResources": array(STRING, 1, 64), "flavors": array(_KUEUE_FLAVOR, 1, 64)},
    ("coveredResources", "flavors"),
)
KUEUE_CLUSTER_QUEUE = resource(
    "kueue.x-k8s.io/v1beta1",
    "ClusterQueue",
    {
        "spec": obj(
            {
                "admissionChecks": ANY,
                "admissionChecksStrategy": ANY,
                "admissionScope": ANY,
                "cohort": DNS_SUBDOMAIN,
                "excludeResourcePrefixes": ANY,
                "fairSharing": obj({"weight": QUANTITY}),
                "flavorFungibility": ANY,
                "namespaceSelector": obj(
                    {"matchExpressions": array(ANY), "matchLabels": STRING_MAP}
                ),
                "preemption": obj(
                    {
                        "borrowWithinCohort": obj(
                            {
                                "maxPriorityThreshold": INT32,
                                "policy": enum("Never", "LowerPriority"),
                            }
                        ),
                        "reclaimWithinCohort": enum("Never", "LowerPriority", "Any"),
                        "withinClusterQueue": enum(
                            "Never", "LowerPriority", "LowerOrNewerEqualPriority"
                        ),
                    }
                ),
                "queueingStrategy": enum("StrictFIFO", "BestEffortFIFO"),
                "resourceGroups": array(_KUEUE_GROUP, max_items=16),
                "stopPolicy": enum("None", "Hold", "HoldAndDrain"),
            }
        ),
        "status": ANY,
    },
)

# kubernetes-sigs/kueue config/components/crd/bases/kueue.x-k8s.io_cohorts.yaml, version
# v1beta1 (Kueue v0.13+; apis/kueue/v1beta1/cohort_types.go: parentName, resourceGroups of the
# ClusterQueue's ResourceGroup type, fairSharing of its FairSharing type). v1alpha1 named the
# parent ``parent``, which is an unknown field here.
KUEUE_COHORT = resource(
    "kueue.x-k8s.io/v1beta1",
    "Cohort",
    {
        "spec": obj(
            {
                "fairSharing": obj({"weight": QUANTITY}),
                "parentName": DNS_SUBDOMAIN,
                "resourceGroups": array(_KUEUE_GROUP, max_items=16),
            }
        ),
        "status": ANY,
    },
)

# kubernetes-sigs/kueue config/components/crd/bases/kueue.x-k8s.io_localqueues.yaml, v1beta1
KUEUE_LOCAL_QUEUE = resource(
    "kueue.x-k8s.io/v1beta1",
    "LocalQueue",
    {
        "spec": obj(
            {
                "clusterQueue": DNS_SUBDOMAIN,
                "stopPolicy": enum("None", "Hold", "HoldAndDrain"),
                "fairSharing": ANY,
            }
        ),
        "status": ANY,
    },
)

# kubernetes-sigs/kueue config/components/crd/bases/kueue.x-k8s.io_workloadpriorityclasses.yaml,
# v1beta1: value and description are top-level fields
KUEUE_WORKLOAD_PRIORITY_CLASS = resource(
    "kueue.x-k8s.io/v1beta1",
    "WorkloadPriorityClass",
    {"value": INT32, "description": STRING},
)
KUEUE_WORKLOAD_PRIORITY_CLASS["required"].append("value")

# Kubernetes core/v1 Namespace (spec.finalizers only)
NAMESPACE = resource("v1", "Namespace", {"spec": obj({"finalizers": array(STRING)})})

# kai-scheduler/KAI-Scheduler deployments/kai-scheduler/crds/scheduling.run.ai_queues.yaml,
# version v2 (each resource: quota, limit, overQuotaWeight, all numbers)
_KAI_RESOURCE = obj({"limit": NUMBER, "overQuotaWeight": NUMBER, "quota": NUMBER})
KAI_QUEUE = resource(
    "scheduling.run.ai/v2",
    "Queue",
    {
        "spec": obj(
            {
                "displayName": STRING,
                "parentQueue": STRING,
                "preemptMinRuntime": STRING,
                "priority": {"type": "integer"},
                "reclaimMinRuntime": STRING,
                "resources": obj(
                    {"cpu": _KAI_RESOURCE, "gpu": _KAI_RESOURCE, "memory": _KAI_RESOURCE}
                ),
            }
        ),
        "status": ANY,
    },
)

# volcano-sh/volcano config/crd/volcano/bases/scheduling.volcano.sh_queues.yaml, v1beta1;
# weight >= 1 per https://volcano.sh/en/docs/queue/
VOLCANO_QUEUE = resource(
    "scheduling.volcano.sh/v1beta1",
    "Queue",
    {
        "spec": obj(
            {
                "affinity": ANY,
                "capability": QUANTITY_MAP,
                "deserved": QUANTITY_MAP,
                "extendClusters": array(ANY),
                "guarantee": obj({"resource": QUANTITY_MAP}),
                "parent": STRING,
                "priority": INT32,
                "reclaimable": BOOL,
                "type": STRING,
                "weight": {**INT32, "minimum": 1},
            }
        ),
        "status": ANY,
    },
)

# YuniKorn queues.yaml: https://yunikorn.apache.org/docs/user_guide/queue_config (partition
# keys name, queues, placementrules, limits, nodesortpolicy, preemption; queue keys name,
# parent, queues, maxapplications, properties, adminacl, submitacl, resources, limits,
# childtemplate); resource values and properties are strings (map[string]string in
# apache/yunikorn-core pkg/common/configs)
YUNIKORN_QUEUE: Schema = obj(
    {
        "name": {"type": "string", "maxLength": 64, "pattern": r"^[A-Za-z0-9_:#/@-]+$"},
        "parent": BOOL,
        "maxapplications": {"type": "integer", "minimum": 1},
        "properties": STRING_MAP,
        "adminacl": STRING,
        "submitacl": STRING,
        "resources": obj({"guaranteed": STRING_MAP, "max": STRING_MAP}),
        "limits": array(ANY),
        "childtemplate": ANY,
    },
    ("name",),
)
YUNIKORN_QUEUE["properties"]["queues"] = array(YUNIKORN_QUEUE)
YUNIKORN_CONFIG = obj(
    {
        "partitions": array(
            obj(
                {
                    "name": STRING,
                    "queues": array(YUNIKORN_QUEUE),
                    "placementrules": array(ANY),
                    "limits": array(ANY),
                    "nodesortpolicy": ANY,
                    "preemption": obj({"enabled": BOOL}),
                },
                ("name", "queues"),
            ),
            min_items=1,
        )
    },
    ("partitions",),
)

KUBERNETES: dict[tuple[str, str], Schema] = {
    ("kueue.x-k8s.io/v1beta1", "ResourceFlavor"): KUEUE_RESOURCE_FLAVOR,
    ("kueue.x-k8s.io/v1beta1", "ClusterQueue"): KUEUE_CLUSTER_QUEUE,
    ("kueue.x-k8s.io/v1beta1", "Cohort"): KUEUE_COHORT,
    ("kueue.x-k8s.io/v1beta1", "LocalQueue"): KUEUE_LOCAL_QUEUE,
    ("kueue.x-k8s.io/v1beta1", "WorkloadPriorityClass"): KUEUE_WORKLOAD_PRIORITY_CLASS,
    ("v1", "Namespace"): NAMESPACE,
    ("scheduling.run.ai/v2", "Queue"): KAI_QUEUE,
    ("scheduling.volcano.sh/v1beta1", "Queue"): VOLCANO_QUEUE,
}


def problems_of_object(doc: Any) -> list[str]:
    """A Kubernetes object against the schema of its apiVersion and kind."""
    if not isinstance(doc, dict):
        return ["document: expected an object"]
    schema = KUBERNETES.get((str(doc.get("apiVersion")), str(doc.get("kind"))))
    if schema is None:
        return [f"document: no schema for {doc.get('apiVersion')} {doc.get('kind')}"]
    return problems(doc, schema, str(doc.get("kind")))


def problems(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Every way ``value`` departs from ``schema``; empty when it fits."""
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: expected an integer or a string, got {_kind(value)}"]
        return _pattern(str(value), schema, path)
    expected = schema.get("type")
    if expected is not None and not _is(value, expected):
        return [f"{path}: expected {expected}, got {_kind(value)}"]
    if expected == "object":
        return _object(value, schema, path)
    if expected == "array":
        return _array(value, schema, path)
    if expected == "string":
        return _string(value, schema, path)
    if expected == "integer":
        return _integer(value, schema, path)
    return []


def _is(value: Any, expected: str) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool}
    return isinstance(value, kinds[expected])


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _object(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    out = [f"{path}.{k}: required" for k in schema.get("required", []) if k not in value]
    props: dict[str, Schema] | None = schema.get("properties")
    extra: Schema | None = schema.get("additionalProperties")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(f"{path}: at most {schema['maxProperties']} entries, got {len(value)}")
    for k, v in value.items():
        sub = f"{path}.{k}" if path else str(k)
        if props is not None and k in props:
            out += problems(v, props[k], sub)
        elif extra is not None:
            out += problems(v, extra, sub)
        else:
            out.append(f"{sub}: unknown field")
    return out


def _array(value: list[Any], schema: Schema, path: str) -> list[str]:
    out = []
    if len(value) < schema.get("minItems", 0):
        out.append(f"{path}: at least {schema['minItems']} items, got {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        out.append(f"{path}: at most {schema['maxItems']} items, got {len(value)}")
    for i, v in enumerate(value):
        out += problems(v, schema.get("items", ANY), f"{path}[{i}]")
    return out


def _string(value: str, schema: Schema, path: str) -> list[str]:
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} is not one of {', '.join(schema['enum'])}"]
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return [f"{path}: longer than {schema['maxLength']} characters"]
    return _pattern(value, schema, path)


def _pattern(value: str, schema: Schema, path: str) -> list[str]:
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return [f"{path}: {value!r} does not match {schema['pattern']}"]
    return []


def _integer(value: int, schema: Schema, path: str) -> list[str]:
    if schema.get("format") == "int32" and not -(2**31) <= value < 2**31:
        return [f"{path}: {value} is outside int32"]
    if "minimum" in schema and value < schema["minimum"]:
        return [f"{path}: {value} is less than {schema['minimum']}"]
    return []
