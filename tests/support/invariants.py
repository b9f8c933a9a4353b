"""Conservation checks recomputed from scratch, for property tests."""

from __future__ import annotations

from gpufleet.state.cluster import ClusterState


def check(state: ClusterState) -> None:
    cap = state.capacity
    used = [0] * len(cap.node_gpus)
    for p in state.programs:
        by_type: dict[str, int] = {}
        for j in p.running.values():
            assert j.placement is not None
            assert sum(n for _, n in j.placement.slots) == j.spec.gpus
            gtype = cap.groups[j.placement.group].gpu_type
            assert gtype in j.spec.gpu_types, "ran on a type the job does not allow"
            sites = {state.node_site[node] for node, _ in j.placement.slots}
            assert len(sites) == 1, "a job split across sites"
            for node, n in j.placement.slots:
                assert cap.node_usable[node], "a job on a node that is not ready"
                used[node] += n
            by_type[gtype] = by_type.get(gtype, 0) + j.spec.gpus
        for t, n in by_type.items():
            assert p.usage.get(t, 0) == n, "quota usage drifted from the running jobs"
    for node, u in enumerate(used):
        # no GPU used twice: what runs on a node is exactly what is missing from it
        assert u == cap.node_gpus[node] - cap.node_free[node], f"node {node}"
        assert 0 <= cap.node_free[node] <= cap.node_gpus[node]
    for g in cap.groups:
        usable = [
            n
            for n in range(len(cap.node_gpus))
            if cap.node_group[n] == g.index and cap.node_usable[n]
        ]
        assert g.free_total == sum(cap.node_free[n] for n in usable)
        assert g.usable_gpus == sum(cap.node_gpus[n] for n in usable)
        for k, bucket in enumerate(g.buckets):
            assert all(cap.node_free[n] == k for n in bucket)


def check_quota_aggregates(state: ClusterState) -> None:
    """The incrementally kept pool/drawn amounts equal a from-scratch recomputation."""
    for c in state.cohorts.values():
        pool, drawn = dict(c.pool), dict(c.drawn)
        c.recompute_quota()
        assert {k: v for k, v in pool.items() if v} == {k: v for k, v in c.pool.items() if v}
        assert {k: v for k, v in drawn.items() if v} == {k: v for k, v in c.drawn.items() if v}
