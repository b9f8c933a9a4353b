"""ClusterState: nodes and who owns and powers them, programs and their queues, running jobs.

The state knows nothing of policies. The engine is its only writer once a simulation or a
service runs; builders call the structure methods while setting up.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from gpufleet.domain.org import CohortTree, Quota
from gpufleet.errors import InternalError
from gpufleet.state.capacity import CapacityIndex, Placement
from gpufleet.state.jobs import Job, JobState, ProgramState

_PENDING, _RUNNING = JobState.PENDING, JobState.RUNNING


@dataclass
class SiteState:
    name: str
    pue: float
    budget_kw: float
    blocks: list[tuple[float, float]]  # (time s, kW), sorted by time
    nodes: list[int] = field(default_factory=list)  # delivered here, in power order

    def ready_kw(self, now_s: float) -> float:
        if not self.blocks:
            return self.budget_kw
        return min(self.budget_kw, sum(kw for t, kw in self.blocks if t <= now_s))


@dataclass
class NodeTopology:
    """Each node's NVLink domain, rack and network block, as ids unique across the fleet
    (Kueue TAS's topology levels below the site; the site is ``ClusterState.node_site``).

    Laid out per pool when its nodes are added: ``nodes_per_domain = nvlink_domain_gpus //
    gpus_per_node`` (at least 1) consecutive nodes share a domain, ``nodes_per_rack`` a rack,
    ``racks_per_block`` racks a block. Levels nest: a domain never crosses a rack (a domain
    larger than a rack is cut at the rack's edge), and nodes of different pools never share
    a domain, rack or block. Nodes keep their ids when moved; placement only ever compares
    nodes of one capacity group, so a moved node simply meets no old neighbours there."""

    node_domain: list[int] = field(default_factory=list)
    node_rack: list[int] = field(default_factory=list)
    node_block: list[int] = field(default_factory=list)

    def add_pool_nodes(
        self, nodes: int, gpus_per_node: int, domain_gpus: int, per_rack: int, per_block: int
    ) -> None:
        per_domain = max(1, domain_gpus // gpus_per_node)
        d0 = self.node_domain[-1] + 1 if self.node_domain else 0
        r0 = self.node_rack[-1] + 1 if self.node_rack else 0
        b0 = self.node_block[-1] + 1 if self.node_block else 0
        domains_per_rack = -(-per_rack // per_domain)
        for i in range(nodes):
            rack, slot = divmod(i, per_rack)
            self.node_rack.append(r0 + rack)
            self.node_block.append(b0 + rack // per_block)
            self.node_domain.append(d0 + rack * domains_per_rack + slot // per_domain)

    def of(self, level: str) -> list[int] | None:
        """The node -> domain id list of ``level``; None for "site" (the capacity group)."""
        if level == "nvlink":
            return self.node_domain
        if level == "rack":
            return self.node_rack
        if level == "block":
            return self.node_block
        return None


@dataclass
class CohortState:
    """A cohort's programs and all their pending jobs in arrival order (a requeued job goes
    back to the front), so FIFO orders need no merge of the programs' queues."""

    name: str
    programs: list[ProgramState] = field(default_factory=list)
    queue: OrderedDict[int, Job] = field(default_factory=OrderedDict)
    # priority -> running jobs with it: lets preemption see "nothing lower runs" at once
    running_priorities: dict[int, int] = field(default_factory=dict)
    # per GPU type: the shared pool (sum of lendable quota) and how much of it is drawn
    pool: dict[str, int] = field(default_factory=dict)
    drawn: dict[str, int] = field(default_factory=dict)
    # the fleet's node topology, shared by all cohorts: how a policy, which sees the state
    # only through the snapshot, reaches it
    topology: NodeTopology = field(default_factory=NodeTopology)
    # the Kueue cohort tree rooted here, when the scenario declares one (only the kueue
    # policy reads it; None: a flat cohort)
    tree: CohortTree | None = None

    @property
    def pending(self) -> int:
        return len(self.queue)

    def recompute_quota(self) -> None:
        """From scratch, when quotas change (rare); usage changes keep ``drawn`` exact."""
        self.pool.clear()
        self.drawn.clear()
        for p in self.programs:
            for t, q in p.quotas.items():
                self.pool[t] = self.pool.get(t, 0) + q.lendable_gpus
            for t, u in p.usage.items():
                g = p.guaranteed.get(t, 0)
                self.drawn[t] = self.drawn.get(t, 0) + max(0, u - g)


class ClusterState:
    def __init__(self, entities: list[str], entity_cohorts: dict[str, str]) -> None:
        self.capacity = CapacityIndex()
        self.entities = entities
        self.entity_index = {e: i for i, e in enumerate(entities)}
        self.entity_cohort = dict(entity_cohorts)
        self.sites: dict[str, SiteState] = {}
        self.programs: list[ProgramState] = []
        self.program_by_name: dict[str, ProgramState] = {}
        self.cohorts: dict[str, CohortState] = {}
        self.node_owner: list[int] = []
        self.node_site: list[str] = []
        self.node_type: list[str] = []
        self.node_pool: list[str] = []
        self.node_kw: list[float] = []
        self.node_delivered: list[bool] = []
        self.node_value_usd: list[float] = []
        self.node_powered: list[bool] = []  # delivered and within its site's ready power
        self.node_down: list[bool] = []  # failed, waiting for repair
        self.pool_nodes: dict[str, list[int]] = {}
        self.topology = NodeTopology()
        self.pool_home: dict[str, str] = {}  # the site a pool was bought for
        self.dirty: set[str] = set()  # cohorts whose situation changed since the last cycle
        # cohort -> its one owning entity, while all its nodes belong to one entity
        self.single_owner: dict[str, int | None] = {}

    # --- building --------------------------------------------------------------------
    def add_site(
        self, name: str, pue: float, budget_kw: float, blocks: Iterable[tuple[float, float]]
    ) -> None:
        self.sites[name] = SiteState(name, pue, budget_kw, sorted(blocks))

    def add_program(
        self, name: str, entity: str, weight: float, priority: int, quotas: dict[str, Quota]
    ) -> ProgramState:
        cohort = self.entity_cohort[entity]
        p = ProgramState(
            len(self.programs),
            name,
            entity,
            self.entity_index[entity],
            cohort,
            weight,
            priority,
            dict(quotas),
        )
        self.programs.append(p)
        self.program_by_name[name] = p
        c = self.cohorts.setdefault(cohort, CohortState(cohort, topology=self.topology))
        c.programs.append(p)
        p.cohort_pool, p.cohort_drawn = c.pool, c.drawn
        c.recompute_quota()
        return p

    def add_pool(
        self,
        name: str,
        site: str,
        gpu_type: str,
        gpus_per_node: int,
        nodes: int,
        owner: str,
        server_power_w: float,
        value_usd: float = 0.0,
        nvlink_domain_gpus: int = 8,
        nodes_per_rack: int = 4,
        racks_per_block: int = 8,
    ) -> None:
        """Defaults as ``NodePool``'s; the topology arguments lay out ``self.topology``."""
        cohort = self.entity_cohort[owner]
        gi = self.capacity.group_for(cohort, site, gpu_type, gpus_per_node)
        kw = gpus_per_node * server_power_w / 1000.0  # IT load; x PUE of its current site
        ids = []
        for _ in range(nodes):
            n = self.capacity.add_node(gi, gpus_per_node)
            self.node_owner.append(self.entity_index[owner])
            self.node_site.append(site)
            self.node_type.append(gpu_type)
            self.node_pool.append(name)
            self.node_kw.append(kw)
            self.node_delivered.append(False)
            self.node_value_usd.append(value_usd / nodes)
            self.node_powered.append(False)
            self.node_down.append(False)
            ids.append(n)
        self.pool_nodes[name] = ids
        self.topology.add_pool_nodes(
            nodes, gpus_per_node, nvlink_domain_gpus, nodes_per_rack, racks_per_block
        )
        self._refresh_owners()
        self.pool_home[name] = site

    # --- capacity lifecycle ----------------------------------------------------------
    def deliver(self, pool: str) -> list[str]:
        """Mark a pool's nodes delivered at their (current) sites; returns sites to re-power."""
        sites = []
        for n in self.pool_nodes[pool]:
            if not self.node_delivered[n]:
                self.node_delivered[n] = True
                self.sites[self.node_site[n]].nodes.append(n)
                sites.append(self.node_site[n])
        return sorted(set(sites))

    def repower(self, site: str, now_s: float) -> None:
        """Power the site's delivered nodes in delivery order while ready power lasts."""
        s = self.sites[site]
        budget = s.ready_kw(now_s)
        used = 0.0
        pue = s.pue
        for n in s.nodes:
            used += self.node_kw[n] * pue
            self.node_powered[n] = used <= budget + 1e-9
            self._refresh_usable(n)

    def _refresh_usable(self, n: int) -> None:
        """Usable = powered and not down; the capacity index follows."""
        cap = self.capacity
        ok = self.node_powered[n] and not self.node_down[n]
        if cap.node_usable[n] != ok:
            cap.set_usable(n, ok)
            self.dirty.add(cap.groups[cap.node_group[n]].cohort)

    def set_down(self, node: int, down: bool) -> None:
        """A node fails (jobs on it must have been stopped) or comes back from repair."""
        self.node_down[node] = down
        self._refresh_usable(node)

    def move_nodes(self, nodes: list[int], owner: str, site: str | None) -> list[str]:
        """Give idle nodes a new owner (and site); returns sites to re-power."""
        cap = self.capacity
        touched: set[str] = set()
        eidx = self.entity_index[owner]
        cohort = self.entity_cohort[owner]
        for n in nodes:
            if cap.node_free[n] != cap.node_gpus[n] and cap.node_usable[n]:
                raise InternalError(f"node {n} moved while jobs run on it")
            old_site = self.node_site[n]
            new_site = site or old_site
            if self.node_delivered[n] and new_site != old_site:
                self.sites[old_site].nodes.remove(n)
                self.sites[new_site].nodes.append(n)
                touched.update((old_site, new_site))
            self.dirty.add(cap.groups[cap.node_group[n]].cohort)
            gi = cap.group_for(cohort, new_site, self.node_type[n], cap.node_gpus[n])
            cap.move_node(n, gi)
            if new_site != old_site and self.node_delivered[n]:
                self.node_powered[n] = False  # repowered at its new site
                self._refresh_usable(n)
            self.node_owner[n] = eidx
            self.node_site[n] = new_site
            self.dirty.add(cohort)
        self._refresh_owners()
        return sorted(touched)

    def _refresh_owners(self) -> None:
        owners: dict[str, set[int]] = {}
        cap = self.capacity
        for n, o in enumerate(self.node_owner):
            owners.setdefault(cap.groups[cap.node_group[n]].cohort, set()).add(o)
        self.single_owner = {
            c: (next(iter(os)) if len(os) == 1 else None) for c, os in owners.items()
        }

    def jobs_on(self, nodes: Iterable[int]) -> list[Job]:
        """Running jobs with a GPU on any of ``nodes``: a scan, for rare capacity changes
        only, so that starts and stops keep no per-node job lists."""
        wanted = set(nodes)
        return [
            j
            for p in self.programs
            for j in p.running.values()
            if j.placement is not None and any(n in wanted for n, _ in j.placement.slots)
        ]

    def node_idle(self, node: int) -> bool:
        return self.capacity.node_free[node] == self.capacity.node_gpus[node]

    # --- jobs ------------------------------------------------------------------------
    def enqueue(self, job: Job, front: bool = False) -> None:
        p = job.program
        spec = job.spec
        jid = spec.id
        p.pending[jid] = job
        types = spec.gpu_types
        p.pending_gpus[types] = p.pending_gpus.get(types, 0) + spec.gpus
        if p.job_priority is None:
            p.job_priority = spec.priority
        elif p.job_priority != spec.priority:
            p.mixed_priority = True
        if front:
            p.pending.move_to_end(jid, last=False)
        job.state = _PENDING
        q = self.cohorts[p.cohort].queue
        q[jid] = job
        if front:
            q.move_to_end(jid, last=False)
        self.dirty.add(p.cohort)

    def start(
        self, job: Job, placement: Placement, speed: float, now_s: float, reserved: bool = False
    ) -> None:
        """Put a pending job on its GPUs. ``reserved``: the snapshot's committed journal
        already reserved the GPUs and counted the quota usage."""
        p = job.program
        jid = job.spec.id
        del p.pending[jid]
        types = job.spec.gpu_types
        left = p.pending_gpus.get(types, 0) - job.spec.gpus
        if left:
            p.pending_gpus[types] = left
        else:
            del p.pending_gpus[types]
        c = self.cohorts[p.cohort]
        del c.queue[jid]
        rp = c.running_priorities
        rp[job.spec.priority] = rp.get(job.spec.priority, 0) + 1
        gpus = job.spec.gpus
        if not reserved:
            self.capacity.reserve(placement.slots)
            p.add_usage(self.capacity.groups[placement.group].gpu_type, gpus)
        sole = self.single_owner.get(p.cohort)
        if sole is not None:
            job.owners = ((sole, gpus),)
        else:
            owners: dict[int, int] = {}
            node_owner = self.node_owner
            for node, n in placement.slots:
                o = node_owner[node]
                owners[o] = owners.get(o, 0) + n
            job.owners = tuple(owners.items())
        job.placement = placement
        job.group = placement.group
        job.state = _RUNNING
        job.start_s = now_s
        if job.first_start_s < 0:
            job.first_start_s = now_s
        job.speed = speed
        job.token += 1
        p.running[jid] = job
        p.running_changes += 1

    def stop(self, job: Job, released: bool = False) -> None:
        """Take a running job off its nodes (completion or preemption)."""
        pl = job.placement
        if pl is None or job.state is not _RUNNING:
            raise InternalError(f"{job!r} stopped while not running")
        p = job.program
        if not released:
            self.capacity.release(pl.slots)
            p.add_usage(self.capacity.groups[pl.group].gpu_type, -job.spec.gpus)
        del p.running[job.spec.id]
        p.running_changes += 1
        rp = self.cohorts[p.cohort].running_priorities
        prio = job.spec.priority
        if rp[prio] == 1:
            del rp[prio]
        else:
            rp[prio] -= 1
        job.placement = None
        job.token += 1
        self.dirty.add(p.cohort)

    def set_quota(self, program: str, gpu_type: str, quota: Quota) -> None:
        p = self.program_by_name[program]
        p.quotas[gpu_type] = quota
        p.usage.setdefault(gpu_type, 0)
        p.guaranteed[gpu_type] = quota.guaranteed_gpus
        self.cohorts[p.cohort].recompute_quota()
        self.dirty.add(p.cohort)

    # --- aggregate views (capacity events and reports; not on the hot path) ----------
    def gpus_by_owner(self) -> tuple[list[int], list[int]]:
        """(delivered GPUs, powered GPUs) per entity index."""
        delivered = [0] * len(self.entities)
        powered = [0] * len(self.entities)
        cap = self.capacity
        for n, d in enumerate(self.node_delivered):
            if d:
                o = self.node_owner[n]
                delivered[o] += cap.node_gpus[n]
                if self.node_powered[n]:
                    powered[o] += cap.node_gpus[n]
        return delivered, powered
