"""The checks of a mapping file (:mod:`gpufleet.live.mapping`), each giving
:class:`Problem` s with the file, line and field: values the schema refuses, GPU types
the catalog lacks, and names the register lacks or contradicts."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from gpufleet.domain import GpuCatalog, default_catalog
from gpufleet.errors import Problem
from gpufleet.live.mapping_schema import MappingModel, NodeRule, ProgramTarget
from gpufleet.live.yamllines import Lines, Path, dotted

Programs = Collection[str] | Mapping[str, str]
"""The register's programs: their names, or each program's entity (then checked too)."""


def validation_problems(exc: ValidationError, lines: Lines, file: str) -> list[Problem]:
    out: list[Problem] = []
    for e in exc.errors():
        loc: Path = tuple(e["loc"])
        kind = e["type"]
        if kind == "extra_forbidden":
            allowed = ", ".join(_allowed(loc[:-1]))
            out.append(
                Problem(
                    dotted(loc),
                    f"unknown key {loc[-1]!r}",
                    f"one of: {allowed}",
                    file,
                    lines.of(loc),
                )
            )
        elif kind == "missing":
            out.append(
                Problem(
                    dotted(loc),
                    "required key is missing",
                    f"a value for {loc[-1]!r}",
                    file,
                    lines.of(loc[:-1]),
                )
            )
        elif kind == "value_error":
            message = str(e["msg"]).removeprefix("Value error, ")
            out.append(Problem(dotted(loc), message, "", file, lines.of(loc)))
        else:
            given = repr(e.get("input"))[:60]
            out.append(Problem(dotted(loc), f"{e['msg']}, got {given}", "", file, lines.of(loc)))
    return out


def _allowed(parent: Path) -> list[str]:
    """The keys allowed at ``parent``: walk the models by the path's names."""
    model: Any = MappingModel
    for part in parent:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:  # a dict's key (an account's name): its value's model
            continue
        model = _model_of(field.annotation)
    return sorted(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):  # list[NodeRule], dict[str, Target]
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def catalog_problems(
    model: MappingModel, lines: Lines, file: str, catalog: GpuCatalog | None
) -> list[Problem]:
    """GPU types the catalog (the default one unless given) lacks: an error of the file,
    the catalog is the code's."""
    catalog = catalog or default_catalog()
    types = [str(n) for n in catalog.names()]
    return [
        _unknown(("gpu_types", name), "GPU type", gpu_type, types, lines, file)
        for name, gpu_type in model.gpu_types.items()
        if gpu_type not in catalog
    ]


def register_problems(
    model: MappingModel,
    lines: Lines,
    file: str,
    entities: Collection[str] | None,
    programs: Programs | None,
) -> list[tuple[Path, Problem]]:
    """Per entry (its path), the names the register lacks, and a program that the
    register gives to another entity than the entry says."""
    out: list[tuple[Path, Problem]] = []
    owners = programs if isinstance(programs, Mapping) else None
    for at, entity, program in _named(model):
        known = entities is None or entity in entities
        if not known:
            out.append(
                (at, _unknown((*at, "entity"), "entity", entity, entities or (), lines, file))
            )
        if program is None or programs is None:
            continue
        if program not in programs:
            out.append((at, _unknown((*at, "program"), "program", program, programs, lines, file)))
        elif owners is not None and known and owners[program] != entity:
            out.append((at, _not_its(at, entity, program, owners, lines, file)))
    return out


def _not_its(
    at: Path, entity: str, program: str, owners: Mapping[str, str], lines: Lines, file: str
) -> Problem:
    """A program named under an entity that the register does not give it to."""
    theirs = sorted(p for p, e in owners.items() if e == entity)
    expected = (
        f"entity: {owners[program]}, or one of {entity}'s programs: {', '.join(theirs)}"
        if theirs
        else f"entity: {owners[program]} ({entity} has no program in the register)"
    )
    return Problem(
        dotted((*at, "program")),
        f"program {program!r} belongs to entity {owners[program]!r} in the register, "
        f"not {entity!r}",
        expected,
        file,
        lines.of((*at, "program")),
    )


def _unknown(
    at: Path, kind: str, name: str, valid: Collection[str], lines: Lines, file: str
) -> Problem:
    where = "the catalog" if kind == "GPU type" else "the register"
    known = ", ".join(sorted(valid)) or "none"
    return Problem(
        dotted(at), f"{kind} {name!r} is not in {where}", f"one of: {known}", file, lines.of(at)
    )


def _named(model: MappingModel) -> list[tuple[Path, str, str | None]]:
    """Every (path, entity, program) the file names."""
    out: list[tuple[Path, str, str | None]] = []
    groups: tuple[tuple[Path, Mapping[str, ProgramTarget]], ...] = (
        (("slurm", "accounts"), model.slurm.accounts),
        (("kubernetes", "namespaces"), model.kubernetes.namespaces),
        (("kubernetes", "cluster_queues"), model.kubernetes.cluster_queues),
    )
    for prefix, targets in groups:
        out += [((*prefix, k), t.entity, t.program) for k, t in targets.items()]
    rule_groups: tuple[tuple[Path, list[NodeRule]], ...] = (
        (("slurm", "nodes"), model.slurm.nodes),
        (("kubernetes", "nodes"), model.kubernetes.nodes),
    )
    for prefix, rules in rule_groups:
        out += [((*prefix, i), r.entity, None) for i, r in enumerate(rules)]
    return out
