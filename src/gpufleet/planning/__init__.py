"""Planning: the allocation in force at a date, what-if comparisons, sweeps, reports and exports."""
