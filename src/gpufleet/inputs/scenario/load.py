"""Load a scenario file: parse with lines, validate the shape, check every cross-reference,
then build the domain :class:`~gpufleet.domain.scenario.Scenario`.

Every problem found is reported at once, each with its file, line, field, what was wrong
and what is allowed (``gpufleet validate FILE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gpufleet.domain.changes import QuotaChange, Transfer
from gpufleet.domain.fleet import NodePool, ReadyBlock, Site
from gpufleet.domain.gpus import GpuType, default_catalog
from gpufleet.domain.holdings import replay_holdings
from gpufleet.domain.ids import CohortId, EntityId, GpuTypeName, PoolId, ProgramId, SiteId
from gpufleet.domain.org import Cohort, Entity, Milestone, Program, Quota, root_of
from gpufleet.domain.scenario import CostModel, FailureModel, PolicySpec, Scenario, Variant
from gpufleet.errors import InputError, Problem, ScenarioError
from gpufleet.inputs.scenario.cohorts import check_cohorts, program_cohort
from gpufleet.inputs.scenario.dates import as_datetime
from gpufleet.inputs.scenario.limits import program_where, size_problems
from gpufleet.inputs.scenario.pydantic_errors import problems_from_validation
from gpufleet.inputs.scenario.schema import CostIn, PolicyIn, ScenarioIn, TimelineItem, TransferIn
from gpufleet.inputs.scenario.workloads import build_workload
from gpufleet.inputs.scenario.yamlsrc import KeyPath, Located, dotted, parse


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    wanted = "a readable UTF-8 YAML scenario file"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(
            str(p), [Problem("", "no such scenario file", wanted, str(p))]
        ) from None
    except IsADirectoryError:
        raise ScenarioError(
            str(p), [Problem("", "a directory, not a file", wanted, str(p))]
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        problem = Problem("", f"cannot read the file: {e}", wanted, str(p))
        raise ScenarioError(str(p), [problem]) from None
    return load_scenario_text(text, str(p), base_dir=p.parent)


def validate_file(path: str | Path) -> list[Problem]:
    """Every problem of a scenario file (a missing or unreadable file is one problem);
    empty when it is valid."""
    try:
        load_scenario(path)
    except ScenarioError as e:
        return list(e.problems)
    return []


def load_scenario_text(
    text: str, file: str = "<scenario>", base_dir: Path | None = None, *, files: bool = True
) -> Scenario:
    """A scenario from YAML text. ``files=False``: the text came from someone who may not
    choose files on this machine (an API request): a workload's trace may then only name
    a trace of the registry ('gpufleet trace list'); a ``path``, or a ``source`` that is
    not a registry name, is a problem, found without touching the file system (so neither
    a file's content nor its existence is revealed)."""
    located, problems = parse(text, file)
    if located is None:
        raise ScenarioError(file, problems)
    if not isinstance(located.value, dict):
        raise ScenarioError(
            file,
            [
                *problems,
                Problem(
                    "",
                    "the top level is not a mapping",
                    "a mapping of scenario keys (name, start, sites...)",
                    file,
                    1,
                ),
            ],
        )
    return scenario_from_document(located, file, base_dir, files=files, problems=problems)


def scenario_from_document(
    doc: Located,
    file: str,
    base_dir: Path | None = None,
    *,
    files: bool = True,
    problems: Sequence[Problem] = (),
) -> Scenario:
    """A scenario from a document's values: the loader's one validation path, whether the
    values came from a file's YAML or from objects (the register's plan, which has no
    text and reaches here without any). ``doc`` gives each path's line (from the file, or
    computed only when a problem needs it); ``problems``: those the parser already found,
    which win over pydantic's on the same field. Every problem is raised at once."""
    try:
        model = ScenarioIn.model_validate(doc.value, strict=False)  # YAML: see schema.Strict
    except ValidationError as e:
        told = {p.field for p in problems if p.field}  # the parser's say on a value comes first
        found = problems_from_validation(e, doc, file, ScenarioIn)
        all_problems = [*problems, *(p for p in found if p.field not in told)]
        raise ScenarioError(file, _in_file_order(all_problems, file)) from None
    return scenario_from_model(model, doc, file, base_dir, files=files, problems=problems)


def scenario_from_model(
    model: ScenarioIn,
    doc: Located,
    file: str,
    base_dir: Path | None = None,
    *,
    files: bool = True,
    problems: Sequence[Problem] = (),
) -> Scenario:
    """A scenario from a valid input model: every cross-reference checked, the domain
    objects built and the engine's limits on the totals applied (``doc`` locates the
    problems; see :func:`scenario_from_document`)."""
    checker = _Checker(model, doc, file, base_dir or Path("."), files)
    scenario = checker.build()
    found = [*problems, *checker.problems]
    if scenario is not None:  # the engine's limits on the totals (runs work)
        found += size_problems(scenario, program_where(model, doc, file))
    if found:
        raise ScenarioError(file, _in_file_order(found, file))
    assert scenario is not None
    return scenario


def _in_file_order(problems: list[Problem], file: str) -> list[Problem]:
    """The scenario file's problems by line, then those of other files (traces) as found."""
    return sorted(problems, key=lambda p: (0, p.line or 0) if p.file == file else (1, 0))


def _cost(c: CostIn) -> CostModel:
    itemized = {"life_years", "ops_usd_per_gpu_hour", "idle_power_fraction"}
    if c.usd_per_gpu_hour is not None or not itemized & c.model_fields_set:
        rate = 2.0 if c.usd_per_gpu_hour is None else c.usd_per_gpu_hour
        return CostModel(rate, c.note)
    return CostModel(
        None,
        c.note,
        c.life_years or 4.0,
        c.ops_usd_per_gpu_hour or 0.0,
        0.3 if c.idle_power_fraction is None else c.idle_power_fraction,
    )


class _Checker:
    """Cross-reference checks and the build, in one pass so each check sits by its use."""

    def __init__(
        self, m: ScenarioIn, src: Located, file: str, base: Path, files: bool = True
    ) -> None:
        self.m = m
        self.src = src
        self.file = file
        self.base = base
        self.files = files
        self.problems: list[Problem] = []
        self.transfer_paths: dict[int, KeyPath] = {}
        self.reported: set[KeyPath] = set()
        self.start = as_datetime(m.start)
        if m.end is not None:
            self.end = as_datetime(m.end)
        else:
            assert m.horizon_days is not None
            self.end = self.start + timedelta(days=m.horizon_days)
        self.catalog = default_catalog().with_types(
            GpuType(
                GpuTypeName(g.name),
                g.throughput,
                g.board_power_w,
                g.server_power_w,
                g.price_usd,
                g.memory_gb,
                (g.source,) if g.source else (),
            )
            for g in m.gpu_types
        )

    def err(self, path: KeyPath, message: str, expected: str = "") -> None:
        self.problems.append(
            Problem(dotted(path), message, expected, self.file, self.src.line(path))
        )

    # --- the build, in the order of the file ----------------------------------------
    def build(self) -> Scenario | None:
        m = self.m
        if self.end <= self.start:
            self.err(
                ("end",) if m.end else ("horizon_days",),
                f"the scenario ends ({self.end:%Y-%m-%d}) before it starts ({self.start:%Y-%m-%d})",
                "an end after 'start'",
            )
        self._unique("gpu_types", [g.name for g in m.gpu_types])
        policy = self._policy(m.policy, ("policy",))
        sites = self._sites()
        self.cohorts: dict[CohortId, Cohort] = check_cohorts(m.cohorts, self.err, self._gpu_type)
        entities = self._entities()
        pools = self._pools(sites, entities)
        transfers, quota_changes = self._timeline(m.timeline, ("timeline",), pools, entities)
        variants = []
        for name, v in m.variants.items():
            if name == "base":
                self.err(
                    ("variants", name),
                    "'base' names the scenario without variants; a variant cannot take it",
                    "another variant name",
                )
            vt, vq = self._timeline(v.timeline, ("variants", name, "timeline"), pools, entities)
            vp = self._policy(v.policy, ("variants", name, "policy")) if v.policy else None
            variants.append(Variant(name, v.description, tuple(vt), tuple(vq), vp))
            self._check_holdings(transfers + vt, pools)
        self._check_holdings(transfers, pools)
        workloads = self._workloads()
        if self.problems or policy is None:
            return None
        return Scenario(
            name=m.name,
            start=self.start,
            end=self.end,
            seed=m.seed,
            catalog=self.catalog,
            sites=tuple(sites.values()),
            pools=tuple(pools.values()),
            entities=tuple(entities.values()),
            transfers=tuple(transfers),
            quota_changes=tuple(quota_changes),
            policy=policy,
            cost=_cost(m.cost),
            failures=FailureModel(m.failures.node_mtbf_hours, m.failures.repair_hours)
            if m.failures
            else None,
            workloads=tuple(workloads),
            description=m.description,
            source_file=self.file,
            variants=tuple(variants),
            assumptions=tuple(m.assumptions),
            sources=tuple(m.sources),
            cohorts=tuple(self.cohorts.values()),
        )

    def _unique(self, where: str, names: list[str], path: KeyPath | None = None) -> None:
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                self.err(
                    (*(path or (where,)), i, "name"),
                    f"duplicate name {n!r}",
                    f"each {where} entry named once",
                )
            seen.add(n)

    def _policy(self, p: str | PolicyIn | None, path: KeyPath) -> PolicySpec | None:
        from gpufleet.policies.registry import available_policies, policy_spec

        if p is None:
            return None
        name, options = (p, {}) if isinstance(p, str) else (p.name, p.options)
        known = {n: opts for n, _, opts in available_policies()}
        name_path = path if isinstance(p, str) else (*path, "name")
        if name not in known:
            self.err(name_path, f"unknown policy {name!r}", "one of " + ", ".join(sorted(known)))
            return None
        ok = True
        for key in options:
            if key not in known[name]:
                ok = False
                self.err(
                    (*path, "options", key),
                    f"policy {name!r} has no option {key!r}",
                    "one of " + ", ".join(known[name]) if known[name] else "no options",
                )
        if not ok:
            return None
        try:
            return policy_spec(name, options)  # checked once; the simulator builds from it
        except InputError as e:  # a value the policy refuses; its message names the option
            self.err((*path, "options"), str(e))
            return None

    def _gpu_type(self, name: str, path: KeyPath) -> bool:
        if name in self.catalog:
            return True
        self.err(
            path,
            f"unknown GPU type {name!r}",
            "one of " + ", ".join(self.catalog.names()) + " (or add it under gpu_types)",
        )
        return False

    def _sites(self) -> dict[str, Site]:
        self._unique("sites", [s.name for s in self.m.sites])
        out: dict[str, Site] = {}
        for s in self.m.sites:
            blocks = tuple(ReadyBlock(as_datetime(b.date), b.power_kw, b.note) for b in s.ready)
            out[s.name] = Site(SiteId(s.name), s.power_kw, s.pue, blocks, s.electricity_usd_per_kwh)
        return out

    def _entities(self) -> dict[str, Entity]:
        m = self.m
        self._unique("entities", [e.name for e in m.entities])
        all_programs = [
            (ei, pi, p.name) for ei, e in enumerate(m.entities) for pi, p in enumerate(e.programs)
        ]
        seen: set[str] = set()
        for ei, pi, name in all_programs:
            if name in seen:
                self.err(
                    ("entities", ei, "programs", pi, "name"),
                    f"duplicate program name {name!r}",
                    "program names unique across entities",
                )
            seen.add(name)
        out: dict[str, Entity] = {}
        for ei, e in enumerate(m.entities):
            progs = []
            entity_cohort = e.cohort or e.name
            for pi, p in enumerate(e.programs):
                path = ("entities", ei, "programs", pi)
                cohort = program_cohort(
                    p.cohort, entity_cohort, self.cohorts, (*path, "cohort"), self.err
                )
                for t in p.quotas:
                    self._gpu_type(t, (*path, "quotas", t))
                ms = None
                if p.milestone:
                    due = as_datetime(p.milestone.due)
                    if due <= self.start:
                        self.err(
                            (*path, "milestone", "due"),
                            f"due {due:%Y-%m-%d} is not after the scenario's start",
                            "a date after 'start'",
                        )
                    ms = Milestone(p.milestone.name, p.milestone.gpu_hours, due)
                quotas = tuple(
                    (GpuTypeName(t), Quota(q.nominal, q.borrowing_limit, q.lending_limit))
                    for t, q in p.quotas.items()
                )
                progs.append(
                    Program(
                        ProgramId(p.name),
                        EntityId(e.name),
                        quotas,
                        p.weight,
                        p.priority,
                        ms,
                        p.description,
                        cohort,
                    )
                )
            root = root_of(CohortId(entity_cohort), self.cohorts)  # shares the tree's nodes
            out[e.name] = Entity(EntityId(e.name), root, tuple(progs), e.description)
        return out

    def _pools(self, sites: dict[str, Site], entities: dict[str, Entity]) -> dict[str, NodePool]:
        self._unique("pools", [p.name for p in self.m.pools])
        out: dict[str, NodePool] = {}
        for i, p in enumerate(self.m.pools):
            path: KeyPath = ("pools", i)
            ok = self._gpu_type(p.gpu_type, (*path, "gpu_type"))
            if p.site not in sites:
                ok = False
                self.err(
                    (*path, "site"),
                    f"unknown site {p.site!r}",
                    "one of " + ", ".join(sites) if sites else "a site under 'sites'",
                )
            if p.owner not in entities:
                ok = False
                self.err(
                    (*path, "owner"), f"unknown entity {p.owner!r}", "one of " + ", ".join(entities)
                )
            if not ok:
                continue
            price = self.catalog.get(p.gpu_type).price_usd
            value = p.value_usd if p.value_usd is not None else price * p.gpus_per_node * p.nodes
            delivered = as_datetime(p.delivered) if p.delivered else self.start
            out[p.name] = NodePool(
                PoolId(p.name),
                SiteId(p.site),
                GpuTypeName(p.gpu_type),
                p.gpus_per_node,
                p.nodes,
                EntityId(p.owner),
                delivered,
                value,
                p.nvlink_domain_gpus,
                p.nodes_per_rack,
                p.racks_per_block,
            )
        return out

    def _timeline(
        self,
        items: list[TimelineItem],
        path: KeyPath,
        pools: dict[str, NodePool],
        entities: dict[str, Entity],
    ) -> tuple[list[Transfer], list[QuotaChange]]:
        transfers: list[Transfer] = []
        changes: list[QuotaChange] = []
        for i, item in enumerate(items):
            if item.transfer is not None:
                t = self._transfer(item.transfer, (*path, i, "transfer"), pools, entities)
                if t is not None:
                    transfers.append(t)
                    self.transfer_paths[id(t)] = (*path, i, "transfer")
            elif item.quota is not None:
                q = item.quota
                qp: KeyPath = (*path, i, "quota")
                progs = {p.name for e in entities.values() for p in e.programs}
                if q.program not in progs:
                    self.err(
                        (*qp, "program"),
                        f"unknown program {q.program!r}",
                        "one of " + ", ".join(sorted(progs)),
                    )
                    continue
                if not self._gpu_type(q.gpu_type, (*qp, "gpu_type")):
                    continue
                changes.append(
                    QuotaChange(
                        as_datetime(q.at),
                        ProgramId(q.program),
                        GpuTypeName(q.gpu_type),
                        q.nominal,
                        q.borrowing_limit,
                        q.lending_limit,
                    )
                )
        return transfers, changes

    def _check_holdings(self, transfers: list[Transfer], pools: dict[str, NodePool]) -> None:
        """Replay who holds each pool through the transfers (base plus a variant)."""
        for prob in replay_holdings(transfers, pools):
            path = self.transfer_paths[id(prob.transfer)]
            key = (*path, "end" if prob.at_end else "start")
            if key not in self.reported:
                self.reported.add(key)
                self.err(
                    key,
                    prob.message,
                    "a transfer from whoever holds the GPUs at that date (the pool's owner, "
                    "or an entity that received them earlier)",
                )

    def _transfer(
        self, t: TransferIn, path: KeyPath, pools: dict[str, NodePool], entities: dict[str, Entity]
    ) -> Transfer | None:
        pool = pools.get(t.pool)
        if pool is None:
            if t.pool not in {p.name for p in self.m.pools}:  # else: its own problem is told
                names = ", ".join(p.name for p in self.m.pools)
                self.err((*path, "pool"), f"unknown pool {t.pool!r}", "one of " + names)
            return None
        ok = True
        if t.gpus % pool.gpus_per_node or t.gpus > pool.gpu_count:
            ok = False
            self.err(
                (*path, "gpus"),
                f"{t.gpus} GPUs cannot move from pool {t.pool!r} "
                f"({pool.node_count} nodes x {pool.gpus_per_node} GPUs)",
                f"a multiple of {pool.gpus_per_node}, at most {pool.gpu_count}",
            )
        src = t.from_entity or pool.owner
        for key, ent in (("from_entity", src), ("to", t.to_entity)):
            if ent not in entities:
                ok = False
                self.err((*path, key), f"unknown entity {ent!r}", "one of " + ", ".join(entities))
        if ok and src == t.to_entity:
            ok = False
            self.err((*path, "to"), f"transfer from {src!r} to itself", "another entity")
        if t.to_site is not None and t.to_site not in {s.name for s in self.m.sites}:
            ok = False
            self.err(
                (*path, "to_site"),
                f"unknown site {t.to_site!r}",
                "one of " + ", ".join(s.name for s in self.m.sites),
            )
        start = as_datetime(t.start)
        end = as_datetime(t.end) if t.end else None
        if end is not None and end <= start:
            ok = False
            self.err(
                (*path, "end"),
                f"ends {end:%Y-%m-%d} before it starts {start:%Y-%m-%d}",
                "an end after 'start', or no end for a permanent transfer",
            )
        if not ok:
            return None
        fp = self._program_for(
            t.from_program, entities[src], pool.gpu_type, (*path, "from_program")
        )
        tp = self._program_for(
            t.to_program, entities[t.to_entity], pool.gpu_type, (*path, "to_program")
        )
        if fp is None or tp is None:
            return None
        return Transfer(
            t.name or f"{t.gpus} {pool.gpu_type} {src}->{t.to_entity}",
            pool.name,
            t.gpus,
            EntityId(src),
            EntityId(t.to_entity),
            fp,
            tp,
            start,
            end,
            t.price_usd,
            SiteId(t.to_site) if t.to_site else None,
        )

    def _program_for(
        self, given: str | None, ent: Entity, gtype: str, path: KeyPath
    ) -> ProgramId | None:
        names = [p.name for p in ent.programs]
        if given is not None:
            if given in names:
                return ProgramId(given)
            self.err(
                path,
                f"{given!r} is not a program of {ent.name!r}",
                "one of " + ", ".join(names) if names else "a program of that entity",
            )
            return None
        with_type = [p.name for p in ent.programs if p.quota(GpuTypeName(gtype))]
        if len(with_type) == 1:
            return with_type[0]
        if len(names) == 1:
            return names[0]
        self.err(
            path,
            f"{ent.name!r} has {len(names)} programs; which one gives or gets the "
            "quota is ambiguous",
            "name it: one of " + ", ".join(names),
        )
        return None

    def _workloads(self) -> list[tuple[ProgramId, Any]]:
        out = []
        for ei, e in enumerate(self.m.entities):
            for pi, p in enumerate(e.programs):
                if p.workload is None:
                    continue
                path: KeyPath = ("entities", ei, "programs", pi, "workload")
                factory, problems = build_workload(p, path, self)
                for pr in problems:
                    self.problems.append(pr)
                if factory is not None:
                    out.append((ProgramId(p.name), factory))
        return out
