"""Typed identifiers: a program name can never be passed where a site name is expected."""

from typing import NewType

EntityId = NewType("EntityId", str)
ProgramId = NewType("ProgramId", str)
CohortId = NewType("CohortId", str)
SiteId = NewType("SiteId", str)
PoolId = NewType("PoolId", str)
GpuTypeName = NewType("GpuTypeName", str)
JobId = NewType("JobId", int)
