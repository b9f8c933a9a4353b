"""The mapping file: one YAML file that maps a cluster's names onto the register's.

::

    slurm:
      accounts:                    # Slurm account -> the register's entity and program
        tesla: {entity: tesla, program: fsd-training}
      nodes:                       # first rule that matches a node wins
        - nodes: "gf-h100-*"       # a glob on the node's name, or
          site: memphis
          pool: memphis-h100
          entity: tesla            # whose GPUs these are in the register
        - partition: a100          # a partition the node is in
          site: buffalo
          pool: buffalo-a100
          entity: tesla
    kubernetes:
      namespaces:                  # a pod's namespace -> program
        fsd: {entity: tesla, program: fsd-training}
      cluster_queues:              # a Kueue ClusterQueue -> program
        tesla-cq: {entity: tesla, program: fsd-training}
      nodes:                       # as slurm.nodes, with ``nodes`` globs only
        - {nodes: "gke-a3-*", site: council-bluffs, pool: cb-h100, entity: tesla}
    prometheus:
      hostnames:                   # DCGM's Hostname label -> node name, where they differ
        gf-h100-1.internal: gf-h100-1
    gpu_types:                     # Slurm gres type, nvidia.com/gpu.product or DCGM
      h100: H100-SXM               #   modelName -> a GPU type of the catalog
      NVIDIA-H100-80GB-HBM3: H100-SXM
      NVIDIA H100 80GB HBM3: H100-SXM

Strict: an unknown key, a value of the wrong type, a GPU type the catalog lacks, an
entity or program the register lacks, or a program that the register gives to another
entity than the file says (when the register's names are given) are errors, all of them
listed at once with the file, line and field, as a :class:`MappingError`.

:func:`mapping_for_register` is the observer's lenient reading: a name the register lacks
(or a program under the wrong entity) is not an error of the file (the register can
change under a file that was right yesterday), so the entry that says it is *left out*
(its account, namespace or queue is unmapped, its nodes are placed nowhere) and the
problem is returned; the observer records both, and never counts a program's GPUs under
an entity the register does not give it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpufleet.domain import (
    EntityId,
    GpuCatalog,
    GpuTypeName,
    PoolId,
    ProgramId,
    SiteId,
    default_catalog,
)
from gpufleet.errors import InputError, Problem
from gpufleet.live.yamllines import Lines, Path, dotted, load

Name = Annotated[str, Field(min_length=1, max_length=253)]


class MappingError(InputError):
    """The mapping file has one or more problems; all of them are listed."""

    def __init__(self, file: str, problems: Iterable[Problem]) -> None:
        listed = tuple(problems)
        n = len(listed)
        super().__init__(f"{file}: {n} problem{'s' if n != 1 else ''} in the mapping", listed)
        self.file = file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ProgramTarget(_Strict):
    """A program of the register, with its entity."""

    entity: Name
    program: Name


class NodeRule(_Strict):
    """Nodes (by a glob on their name, or by a partition they are in) -> where their GPUs
    are in the register: site, pool, and the entity that holds them."""

    nodes: Name | None = None
    partition: Name | None = None
    site: Name
    pool: Name
    entity: Name

    @model_validator(mode="after")
    def _one_selector(self) -> NodeRule:
        if (self.nodes is None) == (self.partition is None):
            raise ValueError("give exactly one of 'nodes' (a glob) and 'partition'")
        return self

    def matches(self, node: str, partitions: Collection[str]) -> bool:
        if self.nodes is not None:
            return fnmatch.fnmatchcase(node, self.nodes)
        return self.partition in partitions


class SlurmMapping(_Strict):
    accounts: dict[Name, ProgramTarget] = {}
    nodes: list[NodeRule] = []


class KubernetesMapping(_Strict):
    namespaces: dict[Name, ProgramTarget] = {}
    cluster_queues: dict[Name, ProgramTarget] = {}
    nodes: list[NodeRule] = []


class PrometheusMapping(_Strict):
    hostnames: dict[Name, Name] = {}


class MappingModel(_Strict):
    slurm: SlurmMapping = SlurmMapping()
    kubernetes: KubernetesMapping = KubernetesMapping()
    prometheus: PrometheusMapping = PrometheusMapping()
    gpu_types: dict[Name, Name] = {}


@dataclass(frozen=True)
class Program:
    entity: EntityId
    program: ProgramId


@dataclass(frozen=True)
class Place:
    """Where a node's GPUs are in the register."""

    site: SiteId
    pool: PoolId
    entity: EntityId


class ClusterMapping:
    """The loaded mapping, asked by the observer (every lookup gives None where the file
    says nothing: the observer records the name as unmapped)."""

    def __init__(
        self, model: MappingModel, file: str = "<mapping>", left_out: Collection[Path] = ()
    ) -> None:
        self.model = model
        self.file = file
        self.left_out = frozenset(left_out)  # entries (paths) that map to nothing

    def account(self, name: str) -> Program | None:
        return self._target(("slurm", "accounts"), self.model.slurm.accounts, name)

    def namespace(self, name: str) -> Program | None:
        return self._target(("kubernetes", "namespaces"), self.model.kubernetes.namespaces, name)

    def cluster_queue(self, name: str) -> Program | None:
        queues = self.model.kubernetes.cluster_queues
        return self._target(("kubernetes", "cluster_queues"), queues, name)

    def slurm_place(self, node: str, partitions: Collection[str]) -> Place | None:
        return self._place(("slurm", "nodes"), self.model.slurm.nodes, node, partitions)

    def kubernetes_place(self, node: str) -> Place | None:
        return self._place(("kubernetes", "nodes"), self.model.kubernetes.nodes, node, ())

    def gpu_type(self, name: str | None) -> GpuTypeName | None:
        found = self.model.gpu_types.get(name) if name else None
        return GpuTypeName(found) if found else None

    def node_of_hostname(self, hostname: str) -> str:
        return self.model.prometheus.hostnames.get(hostname, hostname)

    def _target(
        self, prefix: Path, targets: Mapping[str, ProgramTarget], name: str
    ) -> Program | None:
        target = targets.get(name)
        if target is None or (*prefix, name) in self.left_out:
            return None
        return Program(EntityId(target.entity), ProgramId(target.program))

    def _place(
        self, prefix: Path, rules: list[NodeRule], node: str, partitions: Collection[str]
    ) -> Place | None:
        """The first rule that matches; a left-out rule still matches (its nodes must not
        fall through to a later rule's place) and places them nowhere."""
        at = next((i for i, r in enumerate(rules) if r.matches(node, partitions)), None)
        if at is None or (*prefix, at) in self.left_out:
            return None
        rule = rules[at]
        return Place(SiteId(rule.site), PoolId(rule.pool), EntityId(rule.entity))


Programs = Collection[str] | Mapping[str, str]
"""The register's programs: their names, or each program's entity (then checked too)."""


def load_mapping(
    path: FilePath,
    catalog: GpuCatalog | None = None,
    entities: Collection[str] | None = None,
    programs: Programs | None = None,
) -> ClusterMapping:
    """Read and check the mapping file; raises :class:`MappingError` listing every
    problem. ``entities`` and ``programs``: the register's names, when known
    (``programs`` as program -> entity also checks that each program is its entity's)."""
    try:
        text = path.read_text()
    except OSError as exc:
        problem = Problem("", f"cannot be read: {exc.strerror or exc}", "a readable file")
        raise MappingError(str(path), [problem]) from exc
    return parse_mapping(text, str(path), catalog, entities, programs)


def parse_mapping(
    text: str,
    file: str,
    catalog: GpuCatalog | None = None,
    entities: Collection[str] | None = None,
    programs: Programs | None = None,
) -> ClusterMapping:
    """The mapping in ``text``; every problem raised at once (:class:`MappingError`)."""
    mapping, found = mapping_for_register(text, file, catalog, entities, programs)
    if found:
        raise MappingError(file, found)
    return mapping


def mapping_for_register(
    text: str,
    file: str,
    catalog: GpuCatalog | None = None,
    entities: Collection[str] | None = None,
    programs: Programs | None = None,
) -> tuple[ClusterMapping, tuple[Problem, ...]]:
    """The mapping with the entries that name what the register lacks (or a program under
    another entity than the register's) left out, and those problems. A problem of the
    file itself (not YAML, an unknown key, a GPU type the catalog lacks) still raises
    :class:`MappingError`."""
    value, lines, problems = load(text, file)
    if problems:
        raise MappingError(file, problems)
    try:
        model = MappingModel.model_validate(value)
    except ValidationError as exc:
        raise MappingError(file, _validation_problems(exc, lines, file)) from None
    in_catalog = _catalog_problems(model, lines, file, catalog or default_catalog())
    if in_catalog:
        raise MappingError(file, in_catalog)
    found = _register_problems(model, lines, file, entities, programs)
    return ClusterMapping(model, file, {at for at, _ in found}), tuple(p for _, p in found)


def _validation_problems(exc: ValidationError, lines: Lines, file: str) -> list[Problem]:
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


def _catalog_problems(
    model: MappingModel, lines: Lines, file: str, catalog: GpuCatalog
) -> list[Problem]:
    """GPU types the catalog lacks (an error of the file: the catalog is the code's)."""
    types = [str(n) for n in catalog.names()]
    return [
        _unknown(("gpu_types", name), "GPU type", gpu_type, types, lines, file)
        for name, gpu_type in model.gpu_types.items()
        if gpu_type not in catalog
    ]


def _register_problems(
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
