"""Plans read off a scenario without simulating jobs: the allocation in force at a date."""

from gpufleet.plan.allocation import (
    Allocation,
    CohortAllocation,
    ProgramAllocation,
    allocation_at,
    allocations,
    change_dates,
)

__all__ = [
    "Allocation",
    "CohortAllocation",
    "ProgramAllocation",
    "allocation_at",
    "allocations",
    "change_dates",
]
