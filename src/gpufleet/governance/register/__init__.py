"""The fleet register: what exists (sites, pools, entities, programs, quotas, people and
their roles, governance groups) and the plan it makes (a scenario, see :mod:`.plan`)."""
