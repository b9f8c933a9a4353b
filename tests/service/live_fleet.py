"""The live fleet the service's live tests read: a register (tests/service/
live_register.yaml) with tesla and xai in one group and spacex alone, three hourly
samples stored through the live store, and a token per caller.

Each sample (the same three times, an hour apart, each standing for 3,600 s):

========  =========  =========  ====================================================
entity    site       GPU type   GPUs (registered 8 each)
========  =========  =========  ====================================================
tesla     memphis    H100-SXM   8 up, 8 allocated: 6 busy, 2 idle
tesla     buffalo    A100-80GB  8 down ("no power", node gf-a100-1): 8 stranded
xai       colossus   H100-SXM   8 up, 4 allocated and busy, 4 unallocated
spacex    starbase   H100-SXM   8 up, 8 allocated and busy
========  =========  =========  ====================================================

Pending: xai's grok asks 4 A100 waiting for quota (Slurm's ``AssocGrpGRES``), spacex's
starlink-ml 16 H100 waiting for capacity (``Resources``). Caps in force: account xai 4
GPUs (the plan's quota of grok is 8 H100 + 0 A100 = 8: drift). Usage: tesla's
fsd-training holds memphis's 8; xai's grok 4 at colossus; spacex's starlink-ml 8 at
starbase. A failure: kubernetes, whose error names spacex's program ``starlink-ml`` and
carries markup.

By default the last sample is at :data:`LAST`, the start of the current minute less 5
minutes, so the default one-day window of ``/live/status`` holds all three (the
dashboard's test); the API's tests store them at fixed instants and ask with ``end``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpufleet.domain import EntityId, GpuTypeName, PoolId, ProgramId, Reason, SiteId
from gpufleet.governance.auth.tokens import create_token
from gpufleet.governance.register import ops
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from gpufleet.live.observation import (
    Capacity,
    Demand,
    DownNode,
    Observation,
    QuotaInForce,
    SourceFailure,
    Usage,
)
from gpufleet.live.store import ingest

REGISTER = Path(__file__).parent / "live_register.yaml"
HOUR_S = 3_600.0
LAST = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
TIMES = (LAST - timedelta(hours=2), LAST - timedelta(hours=1), LAST)
KUBE_ERROR = (
    "kubectl get pods -A -o json: namespace starlink-ml: connection refused "
    '<img src="x" onerror="window.__pwned = 1">'  # markup a source's error may carry
)

# caller -> (role, entity, person)
CALLERS: dict[str, tuple[AccessRole, str | None, str | None]] = {
    "root": (AccessRole.FLEET_ADMIN, None, None),
    "tesla-viewer": (AccessRole.VIEWER, "tesla", None),
    "tom": (AccessRole.ENTITY_ADMIN, "tesla", "tom"),
    "xai-viewer": (AccessRole.VIEWER, "xai", None),
    "spacex-viewer": (AccessRole.VIEWER, "spacex", None),
}


def capacity(
    entity: str,
    site: str,
    gpu_type: str,
    *,
    up: int,
    down: int,
    allocated: int,
    busy: int,
    idle: int,
) -> Capacity:
    """8 GPUs registered; seen = up + down; unallocated = up - allocated."""
    return Capacity(
        EntityId(entity),
        SiteId(site),
        GpuTypeName(gpu_type),
        registered=8,
        seen=up + down,
        up=up,
        down=down,
        drained=0,
        allocated=allocated,
        unallocated=up - allocated,
        busy=busy,
        idle=idle,
        unmeasured=0,
        unscheduled=0,
    )


def usage(entity: str, program: str, site: str, gpus: int) -> Usage:
    return Usage(
        EntityId(entity),
        ProgramId(program),
        EntityId(entity),
        SiteId(site),
        GpuTypeName("H100-SXM"),
        gpus,
        gpus - (2 if program == "fsd-training" else 0),
        2 if program == "fsd-training" else 0,
        0,
    )


def scene(at: datetime) -> Observation:
    return Observation(
        at=at,
        busy_threshold_pct=10.0,
        capacity=(
            capacity("tesla", "memphis", "H100-SXM", up=8, down=0, allocated=8, busy=6, idle=2),
            capacity("tesla", "buffalo", "A100-80GB", up=0, down=8, allocated=0, busy=0, idle=0),
            capacity("xai", "colossus", "H100-SXM", up=8, down=0, allocated=4, busy=4, idle=0),
            capacity("spacex", "starbase", "H100-SXM", up=8, down=0, allocated=8, busy=8, idle=0),
        ),
        usage=(
            usage("tesla", "fsd-training", "memphis", 8),
            usage("xai", "grok", "colossus", 4),
            usage("spacex", "starlink-ml", "starbase", 8),
        ),
        demand=(
            Demand(
                EntityId("xai"),
                ProgramId("grok"),
                GpuTypeName("A100-80GB"),
                Reason.QUOTA,
                ("AssocGrpGRES",),
                4,
                1,
            ),
            Demand(
                EntityId("spacex"),
                ProgramId("starlink-ml"),
                GpuTypeName("H100-SXM"),
                Reason.CAPACITY,
                ("Resources",),
                16,
                2,
            ),
        ),
        down_nodes=(
            DownNode(
                "slurm",
                "gf-a100-1",
                EntityId("tesla"),
                SiteId("buffalo"),
                PoolId("buffalo-a100"),
                GpuTypeName("A100-80GB"),
                8,
                "down",
                "no power",
            ),
        ),
        unmapped=(),
        failures=(SourceFailure("kubernetes", "kubectl get pods -A -o json", KUBE_ERROR),),
        quotas=(QuotaInForce("slurm", "account xai", EntityId("xai"), ProgramId("grok"), None, 4),),
    )


@dataclass(frozen=True)
class LiveFleet:
    db_url: str
    tokens: dict[str, str]


def seed_register(store: Store) -> dict[str, str]:
    """The register, its group and people, and a token per caller (no samples)."""
    tokens: dict[str, str] = {}
    with store.write("test:setup") as tx:
        seed_from_scenario(tx, REGISTER)
        ops.create(tx, "group", {"name": "common-control"})
        for member in ("tesla", "xai"):
            ops.update(tx, "entity", member, {"group": "common-control"})
        ops.create(tx, "person", {"name": "tom"})
        ops.create(tx, "role", {"person": "tom", "entity": "tesla", "role": "officer"})
        for name, (role, entity, person) in CALLERS.items():
            tokens[name] = create_token(tx, name, role, entity, person)[1]
    return tokens


def store_samples(store: Store, times: tuple[datetime, ...] = TIMES) -> None:
    for at in times:
        with store.write("test:live") as tx:
            ingest(tx, scene(at), HOUR_S)


def live_fleet(db_url: str, times: tuple[datetime, ...] = TIMES) -> LiveFleet:
    """A fresh register at ``db_url`` with the samples at ``times``; its tokens."""
    store = Store(db_url)
    store.upgrade()
    try:
        tokens = seed_register(store)
        store_samples(store, times)
    finally:
        store.dispose()
    return LiveFleet(db_url, tokens)
