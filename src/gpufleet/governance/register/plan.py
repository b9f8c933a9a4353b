"""The register as a plan: a scenario document, and a register filled from one.

The register holds what a scenario file holds (sites, entities, programs, quotas, pools,
transfers), so the plan is the register written out in the scenario file's own schema
(:mod:`gpufleet.inputs.scenario.schema`) and validated by the scenario loader. Round trip::

    seed_from_scenario(tx, file)          file --normalize_doc--> rows
    plan_doc(session)                     rows --> the same normalized document
    plan_scenario(session)                rows --> document --> the loader's validation
                                          (scenario_from_document, no YAML) --> Scenario

What a document holds that the register has no place for is left out by
:func:`normalize_doc`, and so by seeding:

- **variants**: they are what-ifs, not the plan (the seed report lists the ones skipped);
- **timeline notes** (``timeline[i].note``; a transfer's own ``note`` is kept);
- **relative trace paths**: the register has no folder, so a workload's ``trace.path``
  (and a ``trace.source`` that names a file) becomes absolute, resolved against the file's.

Quota rows with no ``effective`` date are a program's ``quotas:``; later ones become
``timeline: - quota:`` items. Transfers in the states approved, active and ended are
``timeline: - transfer:`` items (an ended transfer ends at its ``end``); a candidate under
assessment is added with ``extra_transfers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import ConflictError, InputError, ScenarioError
from gpufleet.governance.store.audit import row_dict
from gpufleet.governance.store.db import Tx, now
from gpufleet.governance.store.models import (
    EntityRow,
    Plan,
    Pool,
    ProgramRow,
    QuotaRow,
    SiteRow,
    TransferRow,
    TransferState,
    TransferStep,
)
from gpufleet.inputs.scenario.load import load_scenario_text, scenario_from_document
from gpufleet.inputs.scenario.schema import ScenarioIn
from gpufleet.inputs.scenario.yamlsrc import KeyPath, Located, parse

REGISTER_FILE = "<register>"
"""The file label of the plan's document in the loader's messages."""

REGISTER_SECTIONS = ("sites", "entities", "pools", "timeline", "variants")
"""The scenario file's lists that the register keeps in tables (variants: not at all)."""

HEADER_KEYS = tuple(k for k in ScenarioIn.model_fields if k not in REGISTER_SECTIONS)
"""The scenario file's other top-level keys (name, start, end, seed, policy, cost,
gpu_types, assumptions, sources, ...): table ``plan`` (row 1, column ``doc``) holds them."""

IN_PLAN = (TransferState.APPROVED, TransferState.ACTIVE, TransferState.ENDED)
"""The transfer states that are part of the plan."""


def article_path() -> Path:
    """The built-in scenario of the article (the same file as
    ``gpufleet.api.article_scenario_path()``, which this layer may not import)."""
    return Path(str(files("gpufleet.data").joinpath("article.yaml")))


# --- register -> document --------------------------------------------------------------


def plan_doc(session: Session, extra_transfers: Sequence[TransferRow] = ()) -> dict[str, Any]:
    """The register as a scenario document (plain JSON values, dates as ISO strings).

    ``extra_transfers``: transfer rows (stored or not yet) added to the timeline after
    the plan's own, whatever their state: a candidate under assessment."""
    plan = session.get(Plan, 1)
    if plan is None:
        raise ConflictError(
            "the register has no plan yet: set the plan header (name, start, end...) "
            "or seed the register from a scenario file",
            code="no-plan",
        )
    doc: dict[str, Any] = {k: v for k, v in plan.doc.items() if v is not None}
    sites = list(session.scalars(select(SiteRow).order_by(SiteRow.id)))
    entities = list(session.scalars(select(EntityRow).order_by(EntityRow.id)))
    programs = list(session.scalars(select(ProgramRow).order_by(ProgramRow.id)))
    quotas = list(session.scalars(select(QuotaRow).order_by(QuotaRow.id)))
    pools = list(session.scalars(select(Pool).order_by(Pool.id)))
    names = _Names(sites, entities, programs, pools)
    doc["sites"] = [_site(s) for s in sites]
    doc["entities"] = [_entity(e, programs, quotas) for e in entities]
    doc["pools"] = [_pool(p, names) for p in pools]
    stored = session.scalars(
        select(TransferRow)
        .where(TransferRow.state.in_([s.value for s in IN_PLAN]))
        .order_by(TransferRow.start, TransferRow.id)
    )
    timeline = [_quota_item(q, names) for q in quotas if q.effective is not None]
    timeline.sort(key=lambda i: (i["quota"]["at"], names.program_order[i["quota"]["program"]]))
    timeline += [{"transfer": _transfer(t, names)} for t in stored]
    timeline += [{"transfer": _transfer(t, names)} for t in extra_transfers]
    doc["timeline"] = timeline
    return doc


def plan_text(session: Session, extra_transfers: Sequence[TransferRow] = ()) -> str:
    """:func:`plan_doc` as YAML text (a scenario file of the plan)."""
    return _yaml_text(plan_doc(session, extra_transfers))


def _yaml_text(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def plan_scenario(session: Session, extra_transfers: Sequence[TransferRow] = ()) -> Scenario:
    """The plan as a validated scenario; raises the loader's :class:`ScenarioError` (every
    problem, each located by its field path in the plan's document, and by its line in
    :func:`plan_text`) when the register does not make a valid plan.

    The document goes to the loader's own validation as values: a valid plan is never
    written out as YAML nor parsed back (a transfer request validates the plan twice).
    Only a problem's line needs the text, so the text is written, and its lines read,
    only when there is a problem to locate."""
    doc = plan_doc(session, extra_transfers)
    located = Located(doc, locate=lambda: _lines_of(_yaml_text(doc)))
    return scenario_from_document(located, REGISTER_FILE)


def _lines_of(text: str) -> dict[KeyPath, int]:
    parsed, _ = parse(text, REGISTER_FILE)
    return parsed.lines if parsed is not None else {}


class _Names:
    """Row ids to names, for writing references the way a scenario file does."""

    def __init__(
        self,
        sites: list[SiteRow],
        entities: list[EntityRow],
        programs: list[ProgramRow],
        pools: list[Pool],
    ) -> None:
        self.site = {s.id: s.name for s in sites}
        self.entity = {e.id: e.name for e in entities}
        self.program = {p.id: p.name for p in programs}
        self.program_order = {p.name: i for i, p in enumerate(programs)}
        self.pool = {p.id: p.name for p in pools}

    def of(self, kind: str, table: dict[int, str], key: int | None, field: str) -> str:
        if key is None or key not in table:
            raise InputError(f"{field}: no {kind} with id {key}")
        return table[key]


def _site(s: SiteRow) -> dict[str, Any]:
    return {
        "name": s.name,
        "power_kw": s.power_kw,
        "pue": s.pue,
        "electricity_usd_per_kwh": s.electricity_usd_per_kwh,
        "ready": list(s.ready or []),
        "description": s.description,
    }


def _limits(q: QuotaRow) -> dict[str, Any]:
    out: dict[str, Any] = {"nominal": q.nominal}
    if q.borrowing_limit is not None:
        out["borrowing_limit"] = q.borrowing_limit
    if q.lending_limit is not None:
        out["lending_limit"] = q.lending_limit
    return out


def _entity(e: EntityRow, programs: list[ProgramRow], quotas: list[QuotaRow]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": e.name}
    if e.cohort is not None:
        out["cohort"] = e.cohort
    out["description"] = e.description
    out["programs"] = [_program(p, quotas) for p in programs if p.entity_id == e.id]
    return out


def _program(p: ProgramRow, quotas: list[QuotaRow]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name,
        "description": p.description,
        "weight": p.weight,
        "priority": p.priority,
        "quotas": {
            q.gpu_type: _limits(q) for q in quotas if q.program_id == p.id and q.effective is None
        },
    }
    if p.milestone is not None:
        out["milestone"] = p.milestone
    if p.workload is not None:
        out["workload"] = p.workload
    return out


def _pool(p: Pool, names: _Names) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name,
        "site": names.of("site", names.site, p.site_id, f"pool {p.name!r}: site"),
        "gpu_type": p.gpu_type,
        "gpus_per_node": p.gpus_per_node,
        "nodes": p.nodes,
        "owner": names.of("entity", names.entity, p.owner_id, f"pool {p.name!r}: owner"),
    }
    if p.delivered is not None:
        out["delivered"] = p.delivered
    if p.value_usd is not None:
        out["value_usd"] = p.value_usd
    out |= {
        "nvlink_domain_gpus": p.nvlink_domain_gpus,
        "nodes_per_rack": p.nodes_per_rack,
        "racks_per_block": p.racks_per_block,
        "note": p.note,
    }
    return out


def _quota_item(q: QuotaRow, names: _Names) -> dict[str, Any]:
    program = names.of("program", names.program, q.program_id, "quota: program")
    body = {"at": q.effective, "program": program, "gpu_type": q.gpu_type, **_limits(q)}
    return {"quota": body}


def _transfer(t: TransferRow, names: _Names) -> dict[str, Any]:
    label = f"transfer {t.name or t.id!r}"
    out: dict[str, Any] = {
        "name": t.name,
        "pool": names.of("pool", names.pool, t.pool_id, f"{label}: pool"),
        "gpus": t.gpus,
        "from_entity": names.of("entity", names.entity, t.from_entity_id, f"{label}: from"),
        "to": names.of("entity", names.entity, t.to_entity_id, f"{label}: to"),
    }
    if t.from_program is not None:
        out["from_program"] = t.from_program
    if t.to_program is not None:
        out["to_program"] = t.to_program
    out["start"] = t.start
    if t.end is not None:
        out["end"] = t.end
    out["price_usd"] = t.price_usd or 0.0  # a transient row has no column defaults yet
    if t.to_site_id is not None:
        out["to_site"] = names.of("site", names.site, t.to_site_id, f"{label}: to_site")
    out["note"] = t.note or ""
    return out


# --- document -> what the register holds -------------------------------------------------


def normalize_doc(raw: Mapping[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """A valid scenario mapping (as parsed from YAML) as the register holds it: every key
    with its default spelled out (None values left out), dates as ISO strings, no
    variants, no timeline notes, transfers' ``from_entity`` filled
    (the pool's owner), trace paths absolute, the timeline in the plan's order (quota
    changes by date and program, then transfers by start). ``plan_doc`` of a register
    seeded from ``raw`` equals this."""
    try:
        model = ScenarioIn.model_validate(dict(raw), strict=False)  # YAML: see schema.Strict
    except ValidationError as e:
        raise InputError(f"not a valid scenario document: {e.errors()[0]['msg']}") from None
    doc: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc.pop("variants", None)
    base = (base_dir or Path(".")).resolve()
    for ent in doc["entities"]:
        for prog in ent["programs"]:
            _absolute_trace(prog.get("workload"), base)
    owner = {p["name"]: p["owner"] for p in doc["pools"]}
    order = {
        p["name"]: i for i, p in enumerate(pp for en in doc["entities"] for pp in en["programs"])
    }
    quotas, transfers = [], []
    for item in doc.get("timeline", []):
        if "quota" in item:
            quotas.append({"quota": item["quota"]})
        else:
            t = dict(item["transfer"])
            t.setdefault("from_entity", owner.get(t["pool"], ""))
            transfers.append({"transfer": _transfer_key_order(t)})
    quotas.sort(key=lambda i: (i["quota"]["at"], order.get(i["quota"]["program"], -1)))
    transfers.sort(key=lambda i: i["transfer"]["start"])
    doc["timeline"] = quotas + transfers
    return doc


def _transfer_key_order(t: dict[str, Any]) -> dict[str, Any]:
    keys: tuple[str, ...] = ("name", "pool", "gpus", "from_entity", "from_program", "to")
    keys += ("to_program", "start", "end")
    rest = ("price_usd", "to_site", "note")
    return {k: t[k] for k in (*keys, *rest) if k in t}


def _absolute_trace(workload: dict[str, Any] | None, base: Path) -> None:
    trace = (workload or {}).get("trace")
    if not trace:
        return
    if "path" in trace and not Path(trace["path"]).is_absolute():
        trace["path"] = str((base / trace["path"]).resolve())
    src = trace.get("source")
    if src and not Path(src).is_absolute() and (base / src).exists():
        trace["source"] = str((base / src).resolve())


# --- document -> register ----------------------------------------------------------------


def _read_source(path_or_text: str | Path | None) -> tuple[str, str, Path]:
    """(text, file label, folder) of a scenario given as a path or as YAML text: a
    :class:`Path`, or a one-line string, is a file; a string with a newline is text."""
    if path_or_text is None:
        path_or_text = article_path()
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return path_or_text, "<seed>", Path(".")
    p = Path(path_or_text)
    try:
        return p.read_text(encoding="utf-8"), str(p), p.parent
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read the scenario file: {e}") from None


def seed_from_scenario(
    tx: Tx,
    path_or_text: str | Path | None = None,
    *,
    requester_id: int | None = None,
    text_only: bool = False,
) -> dict[str, Any]:
    """Fill an empty register from a scenario file (default: the article's) or YAML text.

    Variants are **not** imported: they are what-ifs, not the plan; the report names the
    ones skipped (run them with ``gpufleet whatif``). What else a register cannot hold is
    listed in this module's docstring. The base timeline's transfers become transfers in
    state ``active`` requested by person ``requester_id`` (required when there are any).

    Refuses (:class:`ConflictError` code ``register-not-empty``) when the register already
    has sites or entities; an existing plan header is replaced. Every row created is
    audited. The file is validated by the scenario loader first (every problem with its
    line), and the seeded register must load as a plan, else nothing is written.

    ``text_only`` (a request over the API): ``path_or_text`` is YAML text, never a path,
    and the scenario may not name files on this machine (traces by registry name only;
    see :func:`gpufleet.inputs.scenario.load.load_scenario_text`'s ``files``).

    Returns a report: rows created per kind, and ``variants_skipped``."""
    if text_only:
        text, label, folder = str(path_or_text or ""), "<seed>", Path(".")
    else:
        text, label, folder = _read_source(path_or_text)
    # every problem, with the file's lines; nothing below runs unless the text is valid
    load_scenario_text(text, label, base_dir=folder, files=not text_only)
    s = tx.session
    taken = s.scalar(select(func.count()).select_from(SiteRow)) or 0
    taken += s.scalar(select(func.count()).select_from(EntityRow)) or 0
    if taken:
        raise ConflictError(
            "the register already has sites or entities; seeding fills an empty register "
            "(use a fresh database, or edit the register instead)",
            code="register-not-empty",
        )
    raw = yaml.safe_load(text)
    doc = normalize_doc(raw, folder)
    transfers = [i["transfer"] for i in doc["timeline"] if "transfer" in i]
    if transfers and requester_id is None:
        raise InputError(
            f"{label}: the base timeline has {len(transfers)} transfer(s); the register "
            "records who requested each: pass requester_id (a person in the register)"
        )
    seeder = _Seeder(tx)
    try:
        seeder.header(doc)
        seeder.sites(doc["sites"])
        seeder.entities(doc["entities"])
        seeder.quota_changes([i["quota"] for i in doc["timeline"] if "quota" in i])
        seeder.pools(doc["pools"])
        seeder.transfers(transfers, requester_id)
    except IntegrityError as e:
        raise InputError(f"{label}: the register refuses a row: {e.orig}") from None
    try:
        plan_scenario(s)
    except ScenarioError as e:
        raise InputError(
            f"{label}: the seeded register does not make a valid plan", e.problems
        ) from None
    return {**seeder.counts, "variants_skipped": sorted((raw or {}).get("variants") or {})}


class _Seeder:
    """Creates and audits the rows of a normalized document, keeping name -> row maps."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.counts: dict[str, int] = {}
        self.site_ids: dict[str, int] = {}
        self.entity_ids: dict[str, int] = {}
        self.program_ids: dict[str, int] = {}
        self.pool_ids: dict[str, int] = {}

    def _add(self, kind: str, row: Any, object_id: object | None = None) -> Any:
        self.tx.session.add(row)
        self.tx.session.flush()
        oid = row.id if object_id is None else object_id
        self.tx.audit("create", kind, oid, None, row_dict(row))
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return row

    def header(self, doc: dict[str, Any]) -> None:
        head = {k: doc[k] for k in HEADER_KEYS if k in doc}
        old = self.tx.session.get(Plan, 1)
        if old is None:
            self._add("plan", Plan(id=1, doc=head))
            return
        before = row_dict(old)
        old.doc = head
        self.tx.session.flush()
        self.tx.audit("update", "plan", 1, before, row_dict(old))

    def sites(self, sites: list[dict[str, Any]]) -> None:
        for d in sites:
            row = self._add("site", SiteRow(**d), d["name"])
            self.site_ids[d["name"]] = row.id

    def entities(self, entities: list[dict[str, Any]]) -> None:
        for e in entities:
            ent = EntityRow(name=e["name"], description=e["description"], cohort=e.get("cohort"))
            self.entity_ids[e["name"]] = self._add("entity", ent, e["name"]).id
            for p in e["programs"]:
                prog = ProgramRow(
                    name=p["name"],
                    entity_id=ent.id,
                    description=p["description"],
                    weight=p["weight"],
                    priority=p["priority"],
                    milestone=p.get("milestone"),
                    workload=p.get("workload"),
                )
                self.program_ids[p["name"]] = self._add("program", prog, p["name"]).id
                for gpu_type, q in p["quotas"].items():
                    self._quota(prog.id, gpu_type, None, q)

    def _quota(self, program_id: int, gpu_type: str, at: str | None, q: dict[str, Any]) -> None:
        row = QuotaRow(
            program_id=program_id,
            gpu_type=gpu_type,
            effective=at,
            nominal=q["nominal"],
            borrowing_limit=q.get("borrowing_limit"),
            lending_limit=q.get("lending_limit"),
        )
        self._add("quota", row)

    def quota_changes(self, changes: list[dict[str, Any]]) -> None:
        for q in changes:
            self._quota(self.program_ids[q["program"]], q["gpu_type"], q["at"], q)

    def pools(self, pools: list[dict[str, Any]]) -> None:
        for d in pools:
            fields = {k: v for k, v in d.items() if k not in ("site", "owner")}
            row = Pool(
                **fields, site_id=self.site_ids[d["site"]], owner_id=self.entity_ids[d["owner"]]
            )
            self.pool_ids[d["name"]] = self._add("pool", row, d["name"]).id

    def transfers(self, transfers: list[dict[str, Any]], requester_id: int | None) -> None:
        for t in transfers:
            assert requester_id is not None
            at = now()
            row = TransferRow(
                name=t["name"],
                pool_id=self.pool_ids[t["pool"]],
                gpus=t["gpus"],
                from_entity_id=self.entity_ids[t["from_entity"]],
                to_entity_id=self.entity_ids[t["to"]],
                to_site_id=self.site_ids[t["to_site"]] if "to_site" in t else None,
                from_program=t.get("from_program"),
                to_program=t.get("to_program"),
                start=t["start"],
                end=t.get("end"),
                price_usd=t["price_usd"],
                note=t["note"],
                state=TransferState.ACTIVE.value,
                requested_by=requester_id,
                requested_at=at,
                version=1,
            )
            self._add("transfer", row)
            step = TransferStep(
                transfer_id=row.id,
                from_state=None,
                to_state=TransferState.ACTIVE.value,
                actor=self.tx.actor,
                at=at,
                note="seeded from a scenario's base timeline",
            )
            self.tx.session.add(step)
