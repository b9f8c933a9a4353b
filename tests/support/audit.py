"""What the audit tamper tests share: acting as an attacker who holds the database owner's
rights (so may drop the triggers that make ``audit_log`` append-only), a register whose
every row was written through the audited code paths, and checkpoint helpers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from gpufleet.governance.auth.tokens import create_token
from gpufleet.governance.register import ops
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.runs import queue
from gpufleet.governance.store import audit, audit_check, migrate
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole, AuditHead, RunStatus
from gpufleet.governance.transfers import lifecycle

_DROP = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ],
    "postgresql": ["DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"],
}


def _migration() -> Any:
    path = Path(migrate.SCRIPTS) / "versions" / "0002_hardening.py"
    spec = importlib.util.spec_from_file_location("gpufleet_migration_0002", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def as_owner(store: Store, *statements: str) -> None:
    """Run SQL behind the application's back, as the owner would: the append-only
    triggers dropped first (an owner may), then the statements, in one transaction; the
    triggers are put back afterwards (as the migration makes them) for the next test."""
    create = _migration()._APPEND_ONLY[store.backend]
    if store.backend == "postgresql":
        create = create[1:]  # the function stays; only the trigger was dropped
    with store.engine.begin() as c:
        for sql in [*_DROP[store.backend], *statements, *create]:
            c.exec_driver_sql(sql)


def records(store: Store) -> list[dict[str, Any]]:
    with store.read() as s:
        return list(audit.iter_records(s))


def rewrite_from(store: Store, seq: int, **changes: Any) -> None:
    """Edit record ``seq`` and recompute its hash, every later link and the head: the
    rewrite the chain alone cannot see."""
    recs = records(store)
    prev = audit.GENESIS if seq == 1 else recs[seq - 2]["hash"]
    stmts = []
    for r in recs[seq - 1 :]:
        if r["seq"] == seq:
            r.update(changes)
        r["prev_hash"] = prev
        r["hash"] = audit.record_hash(r)
        prev = r["hash"]
        sets = ", ".join(f"{k} = '{_q(r[k])}'" for k in ("action", "actor", "after", "before"))
        # the hash and prev_hash columns are unique: park them first, then set them
        stmts.append(f"UPDATE audit_log SET hash = 'x{r['seq']}', prev_hash = 'y{r['seq']}' "
                     f"WHERE seq = {r['seq']}")  # fmt: skip
        stmts.append(
            f"UPDATE audit_log SET {sets}, prev_hash = '{r['prev_hash']}', hash = '{r['hash']}' "
            f"WHERE seq = {r['seq']}"
        )
    order = stmts[0::2] + stmts[1::2]
    as_owner(store, *order, f"UPDATE audit_head SET hash = '{prev}' WHERE id = 1")


def _q(v: str) -> str:
    return v.replace("'", "''")


def truncate_to(store: Store, seq: int) -> None:
    """Remove the records after ``seq`` and move the head back to record ``seq``."""
    h = audit.GENESIS if seq == 0 else records(store)[seq - 1]["hash"]
    as_owner(
        store,
        f"DELETE FROM audit_log WHERE seq > {seq}",
        f"UPDATE audit_head SET seq = {seq}, hash = '{h}' WHERE id = 1",
    )


def head(store: Store) -> tuple[int, str]:
    with store.read() as s:
        h = s.get(AuditHead, 1)
        assert h is not None
        return h.seq, h.hash


def keypair(tmp: Path) -> tuple[Ed25519PrivateKey, Path]:
    from gpufleet.governance.store import anchor

    key_file = tmp / "audit.key"
    pub = anchor.keygen(key_file)
    return anchor.load_signing_key(key_file), pub


def sign_now(store: Store, key: Ed25519PrivateKey, anchor_file: Path) -> int:
    """Append a checkpoint of the current head; its seq."""
    done = audit_check.checkpoint(store, key, anchor_file)
    assert done.checkpoint is not None, done.render(anchor_file)
    return done.checkpoint.seq


def audited_register(store: Store) -> dict[str, int]:
    """The article's register with one of every audited kind of row, each written through
    the code path the service uses (so the log accounts for every row): the plan, sites,
    entities, programs, quotas, pools, a person with roles, a group, a token, a transfer
    requested and then rejected (an approval and a state change), a what-if run queued,
    started and finished with a result. Ids by name."""
    ids: dict[str, int] = {}
    with store.write("test:setup") as tx:
        seed_from_scenario(tx)
        ops.create(tx, "group", {"name": "holding"})
        for name in ("musk", "board-member"):
            ops.create(tx, "person", {"name": name})
        ops.create(tx, "role", {"person": "musk", "entity": "tesla", "role": "officer"})
        ops.create(tx, "role", {"person": "musk", "entity": "xai", "role": "officer"})
        ops.create(tx, "role", {"person": "board-member", "entity": "tesla", "role": "director"})
        ids["musk"] = ops.find(tx.session, "person", "musk").id
        ids["board-member"] = ops.find(tx.session, "person", "board-member").id
        ids["pool"] = ops.find(tx.session, "pool", "tesla-h100-12k").id
        ids["token"] = create_token(tx, "ro", AccessRole.VIEWER, "tesla")[0].id
    move = {
        "name": "t-1",
        "pool": "tesla-h100-12k",
        "gpus": 800,
        "to": "xai",
        "start": "2024-07-01",
    }
    with store.write("test:musk") as tx:
        ids["transfer"] = lifecycle.request(tx, ids["musk"], move).id
    with store.write("test:board") as tx:
        lifecycle.reject(tx, ids["transfer"], ids["board-member"], "not at this price")
    with store.write("test:musk") as tx:
        req = {"name": "try", "changes": {"move": ["800 H100-SXM tesla->xai 2024-07-01"]}}
        ids["run"] = queue.queue_whatif(tx, {**req, "seeds": 1}).id
    claimed = queue.claim_next(store)  # queued -> running, audited as "start"
    assert claimed is not None and claimed.id == ids["run"]
    with store.write("system:runner") as tx:
        queue._finish(tx, ids["run"], RunStatus.DONE, {"comparison": {"gpu_hours": 12.5}}, "")
    return ids


def flip(store: Store, model: Any, row_id: int, **values: Any) -> None:
    """Change a data row directly (no audit record), as SQL behind the app's back would."""
    with store.engine.begin() as c:
        c.execute(update(model).where(model.id == row_id).values(**values))
