"""The mapping file's schema (:mod:`gpufleet.live.mapping` says what each part means):
strict pydantic models, so that an unknown key or a value of the wrong type is a problem
named with its path."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(min_length=1, max_length=253)]


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
