"""The domain model: plain, frozen, typed. Imports nothing else of gpufleet but errors."""

from gpufleet.domain.changes import QuotaChange, Transfer
from gpufleet.domain.fleet import NodePool, ReadyBlock, Site
from gpufleet.domain.gpus import GpuCatalog, GpuType, default_catalog
from gpufleet.domain.ids import CohortId, EntityId, GpuTypeName, JobId, PoolId, ProgramId, SiteId
from gpufleet.domain.jobs import JobSpec
from gpufleet.domain.org import Entity, Milestone, Program, Quota
from gpufleet.domain.reasons import Reason
from gpufleet.domain.scenario import CostModel, PolicySpec, Scenario, Variant

__all__ = [
    "CohortId",
    "CostModel",
    "Entity",
    "EntityId",
    "GpuCatalog",
    "GpuType",
    "GpuTypeName",
    "JobId",
    "JobSpec",
    "Milestone",
    "NodePool",
    "PolicySpec",
    "PoolId",
    "Program",
    "ProgramId",
    "Quota",
    "QuotaChange",
    "ReadyBlock",
    "Reason",
    "Scenario",
    "Site",
    "SiteId",
    "Transfer",
    "Variant",
    "default_catalog",
]
