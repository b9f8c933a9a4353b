"""Kueue manifests checked against the upstream CRD schemas bundled with gpufleet.

The schemas are the ``openAPIV3Schema`` of Kueue v0.19.2's CRDs for the four kinds gpufleet
writes (ClusterQueue, Cohort, LocalQueue, ResourceFlavor), in ``v1beta1`` and ``v1beta2``
(``gpufleet/data/kueue-crds``, SOURCE.md there). They are checked with ``jsonschema``
(Draft 7 keywords; ``x-kubernetes-*`` extensions are ignored), with two additions that
make the check what the API server does for ``kubectl apply --validate=strict``:

1. **Unknown fields are errors.** A structural CRD schema lists every field; the API
   server drops (or, strict, refuses) a field it does not list
   (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning).
   Every object schema with ``properties`` and no ``additionalProperties`` or
   ``x-kubernetes-preserve-unknown-fields`` is closed here.
2. **The CEL rules gpufleet's manifests could break** (``x-kubernetes-validations``, which
   jsonschema does not run) are checked by hand: each flavor has as many resources as its
   group covers, and ``borrowingLimit`` needs a cohort (ClusterQueue v1beta2's rule
   ``!has(self.cohortName) && has(self.resourceGroups) ? ... !has(r.borrowingLimit)``).
   Kueue's webhook's ``lendingLimit <= nominalQuota`` is checked too.

``metadata`` is ``{type: object}`` in a CRD (the API server checks it); the name is checked
as Kubernetes does for these cluster-scoped kinds: a DNS-1123 subdomain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from gpufleet.errors import InputError, Problem
from gpufleet.extras import require

GROUP = "kueue.x-k8s.io"
VERSIONS = ("v1beta2", "v1beta1")
KINDS = ("ResourceFlavor", "Cohort", "ClusterQueue", "LocalQueue")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True)
class SchemaProblem:
    """One place where a manifest breaks its schema: the object, the JSON path, what."""

    obj: str  # "ClusterQueue xai-cq"
    path: str  # "$.spec.resourceGroups[0]..."
    message: str

    def text(self) -> str:
        return f"{self.obj}: {self.path}: {self.message}"


class ManifestSchemaError(InputError):
    """Manifests that the bundled CRD schemas refuse: every problem, each with its path."""

    def __init__(self, problems: list[SchemaProblem]) -> None:
        self.schema_problems = problems
        found = [Problem(p.path, p.message, file=p.obj) for p in problems]
        lines = "\n".join(f"  {p.text()}" for p in problems)
        super().__init__(f"manifests break the Kueue CRD schemas:\n{lines}", found)


def _closed(schema: Any) -> Any:
    """The schema with every listed-fields object closed to unlisted fields (rule 1)."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    open_ = "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not open_:
        out["additionalProperties"] = False
    return out


@cache
def schema(version: str, kind: str) -> dict[str, Any]:
    """The bundled ``openAPIV3Schema`` of ``kind`` in ``version``, closed (rule 1)."""
    if version not in VERSIONS or kind not in KINDS:
        raise InputError(
            f"no bundled Kueue schema for {kind} {version} "
            f"(expected a version of {', '.join(VERSIONS)} and a kind of {', '.join(KINDS)})"
        )
    text = files("gpufleet.data").joinpath(f"kueue-crds/{version}-{kind.lower()}.json")
    return dict(_closed(json.loads(text.read_text())))


def _path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _cel(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Rule 2: the CEL rules and the webhook's limit check, as (path, message)."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return
    cohort = spec.get("cohortName", spec.get("cohort"))
    for g, group in enumerate(spec.get("resourceGroups") or []):
        covered = len(group.get("coveredResources") or [])
        for f, flavor in enumerate(group.get("flavors") or []):
            here = f"$.spec.resourceGroups[{g}].flavors[{f}]"
            resources = flavor.get("resources") or []
            if len(resources) != covered:
                yield here, "flavors must have the same number of resources as the coveredResources"
            for r, res in enumerate(resources):
                if doc.get("kind") == "ClusterQueue" and cohort is None and "borrowingLimit" in res:
                    yield f"{here}.resources[{r}].borrowingLimit", "needs a cohort"
                lend, nominal = res.get("lendingLimit"), res.get("nominalQuota")
                ints = isinstance(lend, int) and isinstance(nominal, int)
                if doc.get("kind") == "ClusterQueue" and ints and lend > nominal:
                    yield (
                        f"{here}.resources[{r}].lendingLimit",
                        f"{lend} is more than nominalQuota {nominal}",
                    )


def problems(doc: dict[str, Any]) -> list[SchemaProblem]:
    """Every way ``doc`` breaks its kind's bundled schema (empty: it fits)."""
    api, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    obj = f"{kind or '?'} {name or '?'}"
    group, _, version = api.partition("/")
    if group != GROUP or version not in VERSIONS or kind not in KINDS:
        wanted = f"{GROUP}/{'|'.join(VERSIONS)} and a kind of {', '.join(KINDS)}"
        return [SchemaProblem(obj, "$.apiVersion", f"{api!r} {kind!r}: expected {wanted}")]
    # imported here: jsonschema comes with the `live` extra, and only this check needs it
    require("live", "jsonschema", "checking Kueue manifests against their CRD schemas")
    from jsonschema import Draft7Validator  # type: ignore[import-untyped,unused-ignore]

    validator = Draft7Validator(schema(version, kind))
    found = [
        SchemaProblem(obj, _path(e.absolute_path), e.message)
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]
    if not isinstance(name, str) or not _SUBDOMAIN.fullmatch(name) or len(name) > 253:
        found.append(SchemaProblem(obj, "$.metadata.name", "is not a DNS-1123 subdomain"))
    found += [SchemaProblem(obj, p, m) for p, m in _cel(doc)]
    return found


def check(docs: list[dict[str, Any]]) -> None:
    """Raise :class:`ManifestSchemaError` listing every problem of every manifest."""
    found = [p for d in docs for p in problems(d)]
    if found:
        raise ManifestSchemaError(found)
