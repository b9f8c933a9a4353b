"""The scenario's ``cohorts:`` section: Kueue cohorts with parents (hierarchical cohorts).

Checks, each reported at its file line: names unique; a ``parent`` names a declared cohort;
parents form no cycle; a root cohort has no borrowing or lending limit (Kueue's Cohort
webhook refuses them: KEP-79, "Borrowing and Lending limits must only be set when the
Cohort has a parent"); a quota's GPU type is known; a program joins a cohort of its
entity's tree (the tree's root is the group whose nodes the entity's programs share).
"""

from __future__ import annotations

from collections.abc import Callable

from gpufleet.domain.ids import CohortId, GpuTypeName
from gpufleet.domain.org import Cohort, Quota, root_of
from gpufleet.inputs.scenario.schema import CohortIn
from gpufleet.inputs.scenario.yamlsrc import KeyPath

Err = Callable[[KeyPath, str, str], None]
KnownType = Callable[[str, KeyPath], bool]


def check_cohorts(items: list[CohortIn], err: Err, known: KnownType) -> dict[CohortId, Cohort]:
    """The declared cohorts, by name. An unknown parent or a cycle is reported and cut (the
    cohort becomes a root) so that later checks see a forest."""
    names = [c.name for c in items]
    parents: dict[str, str | None] = {}
    for i, c in enumerate(items):
        if c.name in parents:
            err(
                ("cohorts", i, "name"),
                f"duplicate name {c.name!r}",
                "each cohorts entry named once",
            )
            continue
        parent = c.parent
        if parent is not None and parent not in names:
            err(
                ("cohorts", i, "parent"),
                f"unknown cohort {parent!r}",
                "one of " + ", ".join(names) + ", or no parent for a root cohort",
            )
            parent = None
        parents[c.name] = parent
    cyclic = _cycles(items, parents, err)
    out: dict[CohortId, Cohort] = {}
    for i, c in enumerate(items):
        if c.name in out:
            continue  # a duplicate, reported above
        _check_quotas(c, ("cohorts", i), err, known)
        parent = None if c.name in cyclic else parents[c.name]
        quotas = tuple(
            (GpuTypeName(t), Quota(q.nominal, q.borrowing_limit, q.lending_limit))
            for t, q in c.quotas.items()
        )
        out[CohortId(c.name)] = Cohort(
            CohortId(c.name),
            CohortId(parent) if parent is not None else None,
            quotas,
            c.weight,
            c.description,
        )
    return out


def _check_quotas(c: CohortIn, path: KeyPath, err: Err, known: KnownType) -> None:
    for t, q in c.quotas.items():
        known(t, (*path, "quotas", t))
        given = [k for k in ("borrowing_limit", "lending_limit") if getattr(q, k) is not None]
        if c.parent is None and given:
            err(
                (*path, "quotas", t, given[0]),
                f"root cohort {c.name!r} has a {given[0]}; a cohort without a parent has "
                "nobody to borrow from or lend to (Kueue refuses it too)",
                "a 'parent' for this cohort, or only 'nominal'",
            )


def _cycles(items: list[CohortIn], parents: dict[str, str | None], err: Err) -> set[str]:
    """Cohorts on a cycle of 'parent' links; each cycle is reported once, at the parent of
    its first cohort in the file."""
    on_cycle: set[str] = set()
    first: dict[str, int] = {}
    for i, c in enumerate(items):
        first.setdefault(c.name, i)
    for start in sorted(parents, key=first.__getitem__):
        if start in on_cycle:
            continue
        walk: list[str] = []
        node: str | None = start
        while node is not None and node not in walk and node not in on_cycle:
            walk.append(node)
            node = parents.get(node)
        if node != start:
            continue  # ends at a root, or runs into a cycle that does not pass through start
        on_cycle.update(walk)
        shown = " -> ".join(repr(n) for n in [*walk, start])
        err(
            ("cohorts", first[start], "parent"),
            f"the cohorts' parents form a cycle: {shown}",
            "a tree: following 'parent' from any cohort must end at a cohort without one",
        )
    return on_cycle


def program_cohort(
    given: str | None,
    entity_cohort: str,
    cohorts: dict[CohortId, Cohort],
    path: KeyPath,
    err: Err,
) -> CohortId | None:
    """The declared cohort a program's ClusterQueue joins: ``given``, else its entity's
    cohort; None when that cohort is not declared (a flat cohort, as before)."""
    if given is not None and given not in cohorts and given != entity_cohort:
        names = ", ".join(cohorts)
        err(path, f"unknown cohort {given!r}", f"one of {names}" if names else "a declared cohort")
        return None
    cohort = CohortId(given or entity_cohort)
    root = root_of(cohort, cohorts)
    entity_root = root_of(CohortId(entity_cohort), cohorts)
    if root != entity_root:
        err(
            path,
            f"cohort {cohort!r} is in the tree rooted at {root!r}, but its entity's cohort "
            f"{entity_cohort!r} is in the tree rooted at {entity_root!r}",
            f"a cohort of the tree rooted at {entity_root!r} (an entity's programs share its "
            "nodes, so they join one cohort tree)",
        )
        return None
    return cohort if cohort in cohorts else None
