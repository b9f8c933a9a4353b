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

The file's schema is :mod:`gpufleet.live.mapping_schema`, the checks that find its
problems :mod:`gpufleet.live.mapping_checks`; this module loads it and answers the
observer's lookups.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath

from pydantic import ValidationError

from gpufleet.domain import EntityId, GpuCatalog, GpuTypeName, PoolId, ProgramId, SiteId
from gpufleet.errors import InputError, Problem
from gpufleet.live.mapping_checks import (
    Programs,
    catalog_problems,
    register_problems,
    validation_problems,
)
from gpufleet.live.mapping_schema import MappingModel, NodeRule, ProgramTarget
from gpufleet.live.yamllines import Path, load

__all__ = [
    "ClusterMapping",
    "MappingError",
    "MappingModel",
    "Place",
    "Program",
    "Programs",
    "load_mapping",
    "mapping_for_register",
    "parse_mapping",
]


class MappingError(InputError):
    """The mapping file has one or more problems; all of them are listed."""

    def __init__(self, file: str, problems: Iterable[Problem]) -> None:
        listed = tuple(problems)
        n = len(listed)
        super().__init__(f"{file}: {n} problem{'s' if n != 1 else ''} in the mapping", listed)
        self.file = file


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
        raise MappingError(file, validation_problems(exc, lines, file)) from None
    in_catalog = catalog_problems(model, lines, file, catalog)
    if in_catalog:
        raise MappingError(file, in_catalog)
    found = register_problems(model, lines, file, entities, programs)
    return ClusterMapping(model, file, {at for at, _ in found}), tuple(p for _, p in found)
