"""The store's tables, as SQLAlchemy 2 typed declarative classes.

The register mirrors the scenario file's sections (sites, entities, programs, quotas,
pools) so that :mod:`gpufleet.governance.register.plan` can write the register out as a scenario
document and validate it with the scenario loader; what has no place in a scenario
(people, roles, governance rules, transfers' lifecycle, tokens, runs, audit) lives only
here. Dates the simulator reads are ISO strings, exactly as a scenario file holds them;
times of actions are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class RoleKind(StrEnum):
    """A person's role in an entity (a company of the group)."""

    OFFICER = "officer"
    DIRECTOR = "director"
    EMPLOYEE = "employee"
    INDEPENDENT_DIRECTOR = "independent-director"


class TransferState(StrEnum):
    REQUESTED = "requested"
    ASSESSED = "assessed"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACTIVE = "active"
    ENDED = "ended"
    REVOKED = "revoked"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class AccessRole(StrEnum):
    """What a token may do, scoped to one entity (fleet-admin: the whole fleet)."""

    VIEWER = "viewer"
    ENTITY_ADMIN = "entity-admin"
    APPROVER = "approver"
    FLEET_ADMIN = "fleet-admin"


class Plan(Base):
    """The one plan the register describes: a scenario's header (name, horizon, seed,
    policy, cost model, custom GPU types, assumptions), as the scenario file spells it."""

    __tablename__ = "plan"
    id: Mapped[int] = mapped_column(primary_key=True)
    doc: Mapped[dict[str, Any]]


class GroupRules(Base):
    """Governance rules of a group of related entities (companies under one control)."""

    __tablename__ = "group_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    related_threshold_usd: Mapped[float] = mapped_column(Float, default=1_000_000.0)
    independent_approvals: Mapped[int] = mapped_column(Integer, default=2)
    require_assessment: Mapped[bool] = mapped_column(default=True)
    flag_below_fair_value: Mapped[bool] = mapped_column(default=True)


class SiteRow(Base):
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    power_kw: Mapped[float]
    pue: Mapped[float] = mapped_column(Float, default=1.3)
    electricity_usd_per_kwh: Mapped[float] = mapped_column(Float, default=0.08)
    ready: Mapped[list[Any]] = mapped_column(JSON, default=list)


class EntityRow(Base):
    __tablename__ = "entities"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    cohort: Mapped[str | None] = mapped_column(String(100), default=None)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group_rules.id"), default=None)


class ProgramRow(Base):
    __tablename__ = "programs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    milestone: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    workload: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class QuotaRow(Base):
    """A program's quota of one GPU type from a date on (``effective`` None: from the
    plan's start); later rows become the scenario's quota timeline."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("program_id", "gpu_type", "effective"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    gpu_type: Mapped[str] = mapped_column(String(100))
    effective: Mapped[str | None] = mapped_column(String(40), default=None)
    nominal: Mapped[int]
    borrowing_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    lending_limit: Mapped[int | None] = mapped_column(Integer, default=None)


class Pool(Base):
    __tablename__ = "pools"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    gpu_type: Mapped[str] = mapped_column(String(100))
    gpus_per_node: Mapped[int] = mapped_column(Integer, default=8)
    nodes: Mapped[int]
    delivered: Mapped[str | None] = mapped_column(String(40), default=None)
    value_usd: Mapped[float | None] = mapped_column(Float, default=None)
    nvlink_domain_gpus: Mapped[int] = mapped_column(Integer, default=8)
    nodes_per_rack: Mapped[int] = mapped_column(Integer, default=4)
    racks_per_block: Mapped[int] = mapped_column(Integer, default=8)
    note: Mapped[str] = mapped_column(Text, default="")


class PersonRow(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str] = mapped_column(String(200), default="")


class PersonRole(Base):
    __tablename__ = "person_roles"
    __table_args__ = (UniqueConstraint("person_id", "entity_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    role: Mapped[str] = mapped_column(String(40))


class TransferRow(Base):
    __tablename__ = "transfers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    gpus: Mapped[int]
    from_entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    to_entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    to_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), default=None)
    from_program: Mapped[str | None] = mapped_column(String(100), default=None)
    to_program: Mapped[str | None] = mapped_column(String(100), default=None)
    start: Mapped[str] = mapped_column(String(40))
    end: Mapped[str | None] = mapped_column(String(40), default=None)
    price_usd: Mapped[float] = mapped_column(Float, default=0.0)
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default=TransferState.REQUESTED.value)
    requested_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assessment_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # what the decision depends on, frozen at request time (see governance.terms)
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class TransferStep(Base):
    """One step of a transfer's lifecycle, with who took it and when."""

    __tablename__ = "transfer_steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="")


class Approval(Base):
    """One person's decision on a transfer; a person decides once per transfer."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("transfer_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    decision: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="")


class Run(Base):
    """A what-if run, queued and run in the background (an assessment is one)."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.QUEUED.value)
    request: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    transfer_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # the entity whose token queued it (None: a fleet admin's): who else may see it
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id"), default=None)
    # times a worker has started it (runs work): a run that took its server down is
    # requeued while attempts < the worker's limit, then failed
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Token(Base):
    """An API token: only its SHA-256 is stored; the secret is shown once, at creation."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id"), default=None)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class AuditRecord(Base):
    """One link of the append-only, hash-chained audit log (see :mod:`.audit`)."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's last link, one row. Every writing transaction locks it first, which
    serializes writers (and so audit appends) on PostgreSQL as on SQLite; ``verify``
    compares it with the log's last record, so a removed tail is detected too."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


# --- live observations (issue 12; written by gpufleet.live.store) -------------------------
# One row of live_samples per observation instant and retention tier; the other live_
# tables hang off it. Counts are floats: a raw sample's are whole GPUs, a downsampled
# sample's are means over the seconds it merges (see gpufleet.live.retention). Samples are
# not audit-chained (a minute's counts are measurements, not decisions); the configuration
# they were taken under is (live_configs, audited when first used).


class LiveConfigRow(Base):
    """A live configuration (sources and mapping) as it was when observations were taken,
    kept once per distinct text (``digest``: SHA-256 of both)."""

    __tablename__ = "live_configs"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    config: Mapped[str] = mapped_column(Text)
    mapping: Mapped[str] = mapped_column(Text)
    first_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LiveSampleRow(Base):
    """One observation instant of one tier (``raw``, ``hour``, ``day``): ``at`` is the
    instant (raw) or the bucket's start; the sample stands for ``span_s`` seconds."""

    __tablename__ = "live_samples"
    __table_args__ = (UniqueConstraint("tier", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tier: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    span_s: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer, default=1)
    busy_threshold_pct: Mapped[float] = mapped_column(Float)
    config_id: Mapped[int | None] = mapped_column(ForeignKey("live_configs.id"), default=None)


class LiveCapacityRow(Base):
    """GPUs an entity holds at a site, of one type (see gpufleet.live.observation.Capacity);
    None: unknown (the source that would tell failed)."""

    __tablename__ = "live_capacity"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        ForeignKey("live_samples.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(100))
    gpu_type: Mapped[str] = mapped_column(String(100))
    registered: Mapped[float] = mapped_column(Float)
    seen: Mapped[float | None] = mapped_column(Float)
    up: Mapped[float | None] = mapped_column(Float)
    down: Mapped[float | None] = mapped_column(Float)
    drained: Mapped[float | None] = mapped_column(Float)
    allocated: Mapped[float | None] = mapped_column(Float)
    unallocated: Mapped[float | None] = mapped_column(Float)
    busy: Mapped[float | None] = mapped_column(Float)
    idle: Mapped[float | None] = mapped_column(Float)
    unmeasured: Mapped[float | None] = mapped_column(Float)
    unscheduled: Mapped[float | None] = mapped_column(Float)
    stranded: Mapped[float | None] = mapped_column(Float)


class LiveUsageRow(Base):
    """GPUs a program holds on one entity's GPUs at a site, of one type."""

    __tablename__ = "live_usage"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        ForeignKey("live_samples.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str | None] = mapped_column(String(100))
    program: Mapped[str | None] = mapped_column(String(100))
    holder: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(100))
    gpu_type: Mapped[str] = mapped_column(String(100))
    allocated: Mapped[float] = mapped_column(Float)
    busy: Mapped[float | None] = mapped_column(Float)
    idle: Mapped[float | None] = mapped_column(Float)
    unmeasured: Mapped[float | None] = mapped_column(Float)


class LiveDemandRow(Base):
    """GPUs asked by a program's pending jobs, for one type and one of gpufleet's reasons
    (None: not waiting for GPUs), with the scheduler's reasons (comma-separated)."""

    __tablename__ = "live_demand"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        ForeignKey("live_samples.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str | None] = mapped_column(String(100))
    program: Mapped[str | None] = mapped_column(String(100))
    gpu_type: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(60))
    scheduler_reasons: Mapped[str] = mapped_column(Text, default="")
    gpus: Mapped[float] = mapped_column(Float)
    jobs: Mapped[float] = mapped_column(Float)


class LiveQuotaRow(Base):
    """A GPU cap in force on a program (gpus None: none)."""

    __tablename__ = "live_quotas"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        ForeignKey("live_samples.id", ondelete="CASCADE"), index=True
    )
    scheduler: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(300))
    entity: Mapped[str | None] = mapped_column(String(100))
    program: Mapped[str | None] = mapped_column(String(100))
    gpu_type: Mapped[str | None] = mapped_column(String(100))
    gpus: Mapped[float | None] = mapped_column(Float)
    borrowing_limit: Mapped[float | None] = mapped_column(Float)


class LiveDownNodeRow(Base):
    """A node down or drained, with the scheduler's reason; ``span_s``: the seconds of the
    sample it was seen so (all of a raw sample's, part of a downsampled one's)."""

    __tablename__ = "live_down_nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        ForeignKey("live_samples.id", ondelete="CASCADE"), index=True
    )
    scheduler: Mapped[str] = mapped_column(String(40))
    node: Mapped[str] = mapped_column(String(253))
    entity: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(100))
    pool: Mapped[str] = mapped_column(String(100))
    gpu_type: Mapped[str] = mapped_column(String(100))
    gpus: Mapped[int]
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    span_s: Mapped[float] = mapped_column(Float)


class LiveUnmappedRow(Base):
    """A name a source reported that the mapping does not place (the latest GPUs seen)."""

    __tablename__ = "live_unmapped"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        ForeignKey("live_samples.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(253))
    source: Mapped[str] = mapped_column(String(40))
    gpus: Mapped[int]


class LiveFailureRow(Base):
    """A source that failed (``count``: how many of the merged samples it failed in)."""

    __tablename__ = "live_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        ForeignKey("live_samples.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(40))
    asked: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)


# Metering and intercompany statements (issue 13, items 6-7; gpufleet.live.metering).


class MeterRow(Base):
    """GPU-seconds one program (``account`` -> ``entity``/``program``) used of one owner's
    pool in a period, from one source: ``sacct`` (allocated, clipped to the period) or
    ``dcgm`` (busy, from the stored live samples). Metering a period again replaces its
    rows (same key), so the rows of a period are what its last metering found."""

    __tablename__ = "meter_usage"
    __table_args__ = (
        UniqueConstraint(
            "cluster", "period_start", "period_end", "source", "account", "entity", "program",
            "owner", "pool", "site", "gpu_type",
        ),
    )  # fmt: skip
    id: Mapped[int] = mapped_column(primary_key=True)
    cluster: Mapped[str] = mapped_column(String(100))
    period_start: Mapped[str] = mapped_column(String(40), index=True)
    period_end: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(10))
    account: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(100))
    program: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(100))
    pool: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(100))
    gpu_type: Mapped[str] = mapped_column(String(100))
    gpu_seconds: Mapped[float] = mapped_column(Float)
    jobs: Mapped[int] = mapped_column(Integer)


class StatementRow(Base):
    """An intercompany statement as issued: its canonical JSON and that JSON's SHA-256
    (also in its audit record). A re-issue that finds other figures is a new version, whose
    ``changes`` say what differs from the version before (totals and lines)."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("period_start", "period_end", "giver", "taker", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[str] = mapped_column(String(40))
    period_end: Mapped[str] = mapped_column(String(40))
    giver: Mapped[str] = mapped_column(String(100))
    taker: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    changes: Mapped[str] = mapped_column(Text, default="")  # JSON: what differs from version - 1
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
