"""Reading Kubernetes objects: typed access to JSON fields with the path in every error,
resource quantities (``500m``, ``64Gi``), a pod spec's effective requests, and the GPU model
its node selection asks for.

A pod's effective request follows the scheduler's rule: the larger of the sum over its
containers and the largest init container. Requests default to limits (Kubernetes does the
same; for extended resources such as ``nvidia.com/gpu`` the two must be equal). A MIG slice
``nvidia.com/mig-<g>g.<mem>gb`` counts as g/7 of a GPU (A100 and H100 have seven compute
slices). Memory is in GiB (``64Gi`` is 64, ``64G`` is 59.6).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gpufleet.inputs.traces.importers.common import BadValue, Counts, UtcTimes
from gpufleet.inputs.traces.importers.gpu_names import GpuNames

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
GPU_LABELS = (
    "nvidia.com/gpu.product",
    "cloud.google.com/gke-accelerator",
    "k8s.amazonaws.com/accelerator",
    "accelerator",
)
MIG_SLICES = 7
_MIG = re.compile(r"^nvidia\.com/mig-(\d+)g\.\d+gb$")
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$"
)
_SCALE = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
GPU_EXPECTED = 'a whole number of GPUs, such as "1"'

JsonObject = dict[str, Any]


# --- typed access -----------------------------------------------------------------------


def _kind_of(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def get_object(parent: JsonObject, key: str, path: str, *, required: bool = False) -> JsonObject:
    value = parent.get(key)
    if value is None:
        if required:
            raise BadValue(f"{path}.{key}", "missing", "an object")
        return {}
    if not isinstance(value, dict):
        raise BadValue(f"{path}.{key}", f"{_kind_of(value)} where an object belongs", "an object")
    return value


def get_list(parent: JsonObject, key: str, path: str, *, required: bool = False) -> list[Any]:
    value = parent.get(key)
    if value is None:
        if required:
            raise BadValue(f"{path}.{key}", "missing", "a list")
        return []
    if not isinstance(value, list):
        raise BadValue(f"{path}.{key}", f"{_kind_of(value)} where a list belongs", "a list")
    return value


def get_text(parent: JsonObject, key: str, path: str, *, required: bool = False) -> str:
    value = parent.get(key)
    if value is None or value == "":
        if required:
            raise BadValue(f"{path}.{key}", "missing", "a string")
        return ""
    if not isinstance(value, str):
        raise BadValue(f"{path}.{key}", f"{_kind_of(value)} where a string belongs", "a string")
    return value


def objects(items: list[Any], path: str) -> Iterator[tuple[str, JsonObject]]:
    """``(path[i], item)`` for each item of a list of objects."""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadValue(f"{path}[{i}]", f"{_kind_of(item)} where an object belongs", "an object")
        yield f"{path}[{i}]", item


# --- quantities and requests ------------------------------------------------------------


def quantity(value: object, path: str, expected: str) -> float:
    """A Kubernetes quantity (``"2"``, ``"500m"``, ``"64Gi"``, or a JSON number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        n = float(value)
    elif isinstance(value, str) and (m := _QUANTITY.match(value.strip())):
        n = float(m.group(1)) * _SCALE[m.group(2)]
    else:
        raise BadValue(path, f"{value!r} is not a number", expected)
    if not math.isfinite(n) or n < 0:
        raise BadValue(path, f"{value!r} is out of range", expected)
    return n


@dataclass(frozen=True)
class Request:
    """What a pod (or one pod of a Kueue pod set) asks for. NaN: nothing said."""

    gpus: float
    cpus: float
    memory_gb: float
    mig: bool = False

    def __add__(self, other: Request) -> Request:
        return Request(
            self.gpus + other.gpus,
            _nansum(self.cpus, other.cpus),
            _nansum(self.memory_gb, other.memory_gb),
            self.mig or other.mig,
        )

    def larger(self, other: Request) -> Request:
        return Request(
            max(self.gpus, other.gpus),
            _nanmax(self.cpus, other.cpus),
            _nanmax(self.memory_gb, other.memory_gb),
            self.mig or other.mig,
        )

    def times(self, n: int) -> Request:
        return Request(self.gpus * n, self.cpus * n, self.memory_gb * n, self.mig)


NOTHING = Request(0.0, math.nan, math.nan)


def _nansum(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else a + b


def _nanmax(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else max(a, b)


def pod_request(spec: JsonObject, path: str) -> Request:
    """The effective request of a pod spec at ``path`` (``items[3].spec``)."""
    total = NOTHING
    for at, c in objects(get_list(spec, "containers", path, required=True), f"{path}.containers"):
        total = total + container_request(c, at)
    for at, c in objects(get_list(spec, "initContainers", path), f"{path}.initContainers"):
        total = total.larger(container_request(c, at))
    return total


def container_request(container: JsonObject, path: str) -> Request:
    resources = get_object(container, "resources", path)
    at = f"{path}.resources"
    requests = get_object(resources, "requests", at)
    limits = get_object(resources, "limits", at)
    merged = {k: ("limits", v) for k, v in limits.items()}
    merged.update({k: ("requests", v) for k, v in requests.items()})
    gpus, mig, cpus, memory = 0.0, False, math.nan, math.nan
    for name, (where, value) in merged.items():
        key = f"{at}.{where}.{name}"
        if name in GPU_RESOURCES:
            gpus += _whole(quantity(value, key, GPU_EXPECTED), value, key)
        elif m := _MIG.match(name):
            slices = _whole(quantity(value, key, "a whole number of MIG slices"), value, key)
            gpus += slices * min(int(m.group(1)), MIG_SLICES) / MIG_SLICES
            mig = mig or slices > 0
        elif name == "cpu":
            cpus = quantity(value, key, 'CPU cores, such as "2" or "500m"')
        elif name == "memory":
            memory = quantity(value, key, 'a memory size, such as "64Gi"') / 2.0**30
    return Request(gpus, cpus, memory, mig)


def _whole(n: float, value: object, path: str) -> float:
    if n != int(n):
        raise BadValue(path, f"{value!r} is not a whole number", GPU_EXPECTED)
    return n


# --- GPU model --------------------------------------------------------------------------


def gpu_products(spec: JsonObject, path: str) -> tuple[str, ...]:
    """The GPU models a pod spec's node selection allows: a ``nodeSelector`` on one of
    :data:`GPU_LABELS`, else the ``In`` values of required node affinity on one (terms are
    alternatives, so their values are pooled). Empty: any model."""
    selector = get_object(spec, "nodeSelector", path)
    for label in GPU_LABELS:
        if selector.get(label):
            return (str(selector[label]),)
    affinity = get_object(get_object(spec, "affinity", path), "nodeAffinity", f"{path}.affinity")
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    terms = required.get("nodeSelectorTerms") if isinstance(required, dict) else None
    found: list[str] = []
    for term in terms if isinstance(terms, list) else []:
        exprs = term.get("matchExpressions") if isinstance(term, dict) else None
        for e in exprs if isinstance(exprs, list) else []:
            if isinstance(e, dict) and e.get("key") in GPU_LABELS and e.get("operator") == "In":
                found += [str(v) for v in e.get("values") or [] if str(v) not in found]
    return tuple(found)


# --- the state of one import --------------------------------------------------------------

RFC3339 = "an RFC 3339 time such as 2024-05-01T10:00:00Z"


@dataclass
class Context:
    """What reading one Kubernetes file accumulates besides rows: the time and GPU-name
    bookkeeping and the counts behind the workload's notes."""

    times: UtcTimes = field(default_factory=UtcTimes)
    names: GpuNames = field(default_factory=GpuNames)
    counts: Counts = field(default_factory=Counts)

    def stamp(
        self, parent: JsonObject, key: str, path: str, *, required: bool = False
    ) -> tuple[float, str]:
        """A timestamp field as (epoch seconds, the text); (NaN, "") when absent."""
        text = get_text(parent, key, path, required=required)
        if not text:
            return math.nan, ""
        return self.times.epoch_s(text, f"{path}.{key}", RFC3339), text

    def gpu_type(self, products: tuple[str, ...]) -> str:
        """One catalog (or raw) name for the models a pod allows; "" when none or several."""
        resolved = {self.names.resolve(p) for p in products}
        if len(resolved) == 1:
            return resolved.pop()
        if resolved:
            self.counts.add("item(s) allowing several GPU models kept with gpu_type '' (any)")
        return ""

    def notes(self) -> list[str]:
        return [
            *self.counts.notes(),
            *self.times.notes("Kubernetes"),
            *self.names.notes("item"),
        ]
