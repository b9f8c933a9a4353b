"""The Kueue desired state against a snapshot of what the cluster has.

No API server is asked: the cluster is a snapshot, ``kubectl get clusterqueues,cohorts,
localqueues,resourceflavors -A -o json`` (one ``List``, or one file per kind in a folder:
every ``*.json`` in it is read, ``manifest.json`` aside, and objects of other kinds or
groups are skipped). Objects are matched by (kind, namespace, name).

The comparison, per object gpufleet writes:

- **spec**: every field under each top-level ``spec`` field gpufleet writes is compared on
  both sides, so a field the cluster has under it and gpufleet does not write counts as
  removed. That is what ``kubectl apply --server-side`` does to ``resourceGroups``, an
  atomic list in the CRD (a ClusterQueue's ``cpu`` quota beside gpufleet's GPUs is lost
  on apply, and the diff says so). Top-level spec fields gpufleet does not write
  (``preemption``, ``queueingStrategy``, ...) are the cluster's and not compared.
  Lists of objects with a ``name`` are matched by name (``flavors[h100]``), other lists
  compared whole. Quantities compare by value (``"16"`` is ``16``).
- **labels**: gpufleet's own (``app.kubernetes.io/managed-by``). Annotations are not
  compared: the causes change with every new approval without the cluster enforcing
  anything else; they travel with the manifests.
- **version**: a snapshot in the other version is read as the API server would convert
  it: v1beta1's ``spec.cohort`` is v1beta2's ``spec.cohortName``.

Objects the snapshot has and the desired state lacks are **removed** only when gpufleet
manages them (the label); others are the cluster's own and left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpufleet.errors import InputError, Problem
from gpufleet.live.enact.kueue_desired import ANN_CAUSES, KueueDesired, KueueObject
from gpufleet.live.enact.kueue_schema import GROUP, KINDS
from gpufleet.planning.export.model import MANAGED_BY

_QUANTITY_KEYS = {"nominalQuota", "borrowingLimit", "lendingLimit", "weight"}
_COHORT = {"v1beta1": "cohort", "v1beta2": "cohortName"}
ABSENT = "(absent)"


class SnapshotError(InputError):
    def __init__(self, file: str, field: str, message: str, expected: str = "") -> None:
        problem = Problem(field, message, expected, file)
        super().__init__(problem.render(), [problem])


@dataclass(frozen=True)
class Snapshot:
    source: str
    objects: dict[tuple[str, str, str], dict[str, Any]]


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any

    def text(self) -> str:
        return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"


@dataclass(frozen=True)
class ObjectChange:
    """``op``: ``add``, ``change`` or ``remove``; ``ref``: ``Kind [namespace/]name``."""

    op: str
    ref: str
    fields: tuple[FieldChange, ...]
    causes: tuple[str, ...]


@dataclass(frozen=True)
class KueueDiff:
    desired: KueueDesired
    snapshot: str
    changes: tuple[ObjectChange, ...]
    unchanged: int

    def count(self, op: str) -> int:
        return sum(1 for c in self.changes if c.op == op)


def _show(v: Any) -> str:
    return v if v is ABSENT else json.dumps(v)


# 1. reading the snapshot


def read_snapshot(path: Path) -> Snapshot:
    """A snapshot file or folder (see the module docstring); bad JSON names file and line."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.name != "manifest.json")
        if not files:
            raise SnapshotError(str(path), "", "holds no *.json snapshot",
                                "kubectl get clusterqueues,cohorts,localqueues,resourceflavors "
                                "-A -o json > FILE")  # fmt: skip
    elif path.is_file():
        files = [path]
    else:
        raise SnapshotError(str(path), "", "no such file or folder")
    objects: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in files:
        for key, obj in _objects(f):
            objects[key] = obj
    return Snapshot(str(path), objects)


def _objects(file: Path) -> Iterator[tuple[tuple[str, str, str], dict[str, Any]]]:
    try:
        doc = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise SnapshotError(f"{file}:{e.lineno}", "", f"not JSON: {e.msg}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SnapshotError(str(file), "", f"cannot be read: {e}") from None
    items = doc.get("items") if isinstance(doc, dict) and "items" in doc else [doc]
    if not isinstance(items, list):
        raise SnapshotError(str(file), "items", "is not a list", "kubectl's List output")
    for i, obj in enumerate(items):
        where = f"items[{i}]" if items is not doc else ""
        if not isinstance(obj, dict):
            raise SnapshotError(str(file), where, "is not an object")
        group = str(obj.get("apiVersion", "")).partition("/")[0]
        if group != GROUP or obj.get("kind") not in KINDS:
            continue  # nodes, pods, workloads, other groups: not what gpufleet writes
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            raise SnapshotError(str(file), f"{where}.metadata.name".lstrip("."), "is missing",
                                "the object's name")  # fmt: skip
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        yield (str(obj["kind"]), ns if isinstance(ns, str) else "", name), obj


# 2. the field-level comparison


def _norm(key: str, v: Any) -> Any:
    if key in _QUANTITY_KEYS and isinstance(v, int | float | str) and not isinstance(v, bool):
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if f.is_integer() else f
    return v


def _flat(v: Any, path: str, key: str = "") -> dict[str, Any]:
    """Leaves by path: maps by key, lists of named objects by name (``flavors[h100]``),
    other lists of objects by index, lists of scalars whole; an empty map has no leaf."""
    if isinstance(v, dict):
        out: dict[str, Any] = {}
        for k, x in v.items():
            out |= _flat(x, f"{path}.{k}", k)
        return out
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        named = all("name" in x for x in v)
        out = {}
        for i, x in enumerate(v):
            here = f"{path}[{x['name'] if named else i}]"
            out |= _flat({k: y for k, y in x.items() if not named or k != "name"}, here)
        return out
    return {path: _norm(key, v)}


def _as_version(obj: dict[str, Any], version: str) -> dict[str, Any]:
    """The cluster's object read in ``version`` (the cohort field's name; rule above)."""
    spec = dict(obj.get("spec") or {})
    other = _COHORT["v1beta1" if version == "v1beta2" else "v1beta2"]
    if other in spec and _COHORT[version] not in spec:
        spec[_COHORT[version]] = spec.pop(other)
    return spec


def _fields(want: KueueObject, have: dict[str, Any], version: str) -> list[FieldChange]:
    spec_w, spec_h = want.manifest.get("spec", {}), _as_version(have, version)
    w: dict[str, Any] = {}
    h: dict[str, Any] = {}
    for k in spec_w:
        w |= _flat(spec_w[k], f"spec.{k}", k)
        if k in spec_h:
            h |= _flat(spec_h[k], f"spec.{k}", k)
    labels_h = (have.get("metadata") or {}).get("labels") or {}
    for k, v in MANAGED_BY.items():
        w[f"metadata.labels.{k}"] = v
        if k in labels_h:
            h[f"metadata.labels.{k}"] = labels_h[k]
    paths = list(dict.fromkeys([*w, *h]))
    return [
        FieldChange(p, h.get(p, ABSENT), w.get(p, ABSENT))
        for p in paths
        if h.get(p, ABSENT) != w.get(p, ABSENT)
    ]


def _was(obj: dict[str, Any]) -> list[str]:
    """The causes a removed object was written for (its annotation; unreadable: none)."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANN_CAUSES)
    try:
        causes = json.loads(text) if isinstance(text, str) else []
    except json.JSONDecodeError:
        return []
    if not isinstance(causes, list):
        return []
    return [f"was for {c['text']}" for c in causes if isinstance(c, dict) and "text" in c]


def kueue_diff(desired: KueueDesired, snapshot: Snapshot) -> KueueDiff:
    """Objects added, changed (field by field) and removed, each with its causes."""
    changes: list[ObjectChange] = []
    unchanged = 0
    for o in desired.objects:
        causes = tuple(c.text() for c in o.causes)
        have = snapshot.objects.get(o.key)
        if have is None:
            fields = tuple(
                FieldChange(p, ABSENT, v) for p, v in _flat(o.manifest["spec"], "spec").items()
            )
            changes.append(ObjectChange("add", o.ref, fields, causes))
            continue
        found = _fields(o, have, desired.version)
        if found:
            changes.append(ObjectChange("change", o.ref, tuple(found), causes))
        else:
            unchanged += 1
    wanted = {o.key for o in desired.objects}
    for key, obj in sorted(snapshot.objects.items()):
        labels = (obj.get("metadata") or {}).get("labels") or {}
        ours = all(labels.get(k) == v for k, v in MANAGED_BY.items())
        if key not in wanted and ours:
            kind, ns, name = key
            ref = f"{kind} {ns + '/' if ns else ''}{name}"
            why = "managed by gpufleet and not in the register's desired state"
            changes.append(ObjectChange("remove", ref, (), (why, *_was(obj))))
    return KueueDiff(desired, snapshot.source, tuple(changes), unchanged)
