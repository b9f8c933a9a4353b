"""The whole audit verification, and writing a checkpoint.

:func:`verify_store` runs, in one read snapshot:

1. the chain (:func:`audit.verify_records`): every link, every hash, the head;
2. with anchors given, every checkpoint (:func:`anchor.check`): signature, order, and the
   log still holding each signed hash and reaching the newest;
3. the replay (:func:`replay.check_rows`): every row of every audited table against the
   log's last word on it.

:func:`verify_file` does 1 and 2 for an exported copy. :func:`checkpoint` signs the head
of a log whose records since the previous checkpoint verify, and appends it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gpufleet.errors import InputError
from gpufleet.governance.store import anchor, audit, replay
from gpufleet.governance.store.canonical import GENESIS
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord


@dataclass(frozen=True)
class Anchors:
    """Where the checkpoints are and the key that must have signed them."""

    file: Path
    key: Ed25519PublicKey

    @classmethod
    def load(cls, file: str | None, public_key: str | None) -> Anchors | None:
        """From the command line's ``--anchor-file`` and ``--public-key`` (both or none)."""
        if not file and not public_key:
            return None
        if not (file and public_key):
            given, missing = (
                ("--anchor-file", "--public-key") if file else ("--public-key", "--anchor-file")
            )
            raise InputError(f"{given} needs {missing} too (the checkpoints and the key)")
        return cls(Path(file), anchor.load_public_key(Path(public_key)))

    def checkpoints(self) -> list[anchor.Checkpoint]:
        """The file's checkpoints; none is bad input: an empty file proves nothing."""
        cps = anchor.read_anchor_file(self.file)
        if not cps:
            raise InputError(
                f"--anchor-file {self.file}: holds no checkpoints, so nothing to check the log "
                "against (write one with `gpufleet audit checkpoint`)"
            )
        return cps


@dataclass(frozen=True)
class Report:
    """What each check found; ok only when every check that ran is ok."""

    chain: audit.ChainCheck
    anchors: anchor.AnchorVerdict | None = None
    rows: replay.RowsVerdict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.ok for v in (self.chain, self.anchors, self.rows) if v is not None)

    def render(self) -> str:
        parts = [v.render() for v in (self.chain, self.anchors, self.rows) if v is not None]
        return "\n".join(parts + self.notes)

    def as_dict(self) -> dict[str, Any]:
        """The API's shape: the chain's fields at the top (as before), then each check."""
        c = self.chain
        first = c.first_bad_seq
        if first is None and self.anchors is not None:
            first = self.anchors.first_bad_seq
        out: dict[str, Any] = {
            "ok": self.ok,
            "records": c.records,
            "first_bad_seq": first,
            "problem": c.problem or (self.anchors.problem if self.anchors else ""),
            "message": self.render(),
            "chain": {"ok": c.ok, "first_bad_seq": c.first_bad_seq, "problem": c.problem},
            "anchors": None,
            "rows": None,
        }
        if self.anchors is not None:
            a = self.anchors
            out["anchors"] = {
                "ok": a.ok,
                "checkpoints": a.checkpoints,
                "key": a.key,
                "first_bad_seq": a.first_bad_seq,
                "problem": a.problem,
            }
        if self.rows is not None:
            r = self.rows
            out["rows"] = {
                "ok": r.ok,
                "rows": r.rows,
                "differences": [
                    {"table": d.table, "id": d.id, "problem": d.problem, "message": d.render()}
                    for d in r.diffs
                ],
            }
        return out


def verify_store(s: Session, anchors: Anchors | None = None, rows: bool = True) -> Report:
    """Chain, anchors and rows of the store, read in one snapshot."""
    audit.snapshot(s)
    chain = audit.verify_records(audit.iter_records(s), audit.head_of(s))
    av = None
    if anchors is not None:
        cps = anchors.checkpoints()
        wanted = {cp.seq for cp in cps}
        q = select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.seq.in_(wanted))
        hashes = {seq: h for seq, h in s.execute(q)}
        last = s.scalar(select(func.max(AuditRecord.seq))) or 0
        av = anchor.check(cps, anchors.key, hashes.get, last, str(anchors.file))
    rv = replay.check_rows(s, audit.iter_records(s)) if rows else None
    return Report(chain, av, rv)


def verify_file(text: str, fmt: str, file: str, anchors: Anchors | None = None) -> Report:
    """An exported copy: its chain, and with anchors given, the checkpoints against it."""
    recs = audit.parse_export(text, fmt, file)
    chain = audit.verify_records(recs, None)
    av = None
    if anchors is not None:
        cps = anchors.checkpoints()
        av = anchor.check_records(cps, anchors.key, recs, str(anchors.file))
    return Report(chain, av)


@dataclass(frozen=True)
class Checkpointed:
    """The outcome of :func:`checkpoint`: the new checkpoint, or why none was written."""

    checkpoint: anchor.Checkpoint | None
    number: int  # how many checkpoints the file holds now
    refused: audit.ChainCheck | anchor.AnchorVerdict | None = None

    def render(self, file: Path) -> str:
        if self.refused is not None:
            return f"no checkpoint written: {self.refused.render()}"
        cp = self.checkpoint
        if cp is None:
            return f"no checkpoint written: the head has not moved since checkpoint {self.number}"
        return (
            f"checkpoint {self.number}: record {cp.seq} (hash {cp.hash[:16]}...) signed at "
            f"{cp.at}, appended to {file}"
        )


def checkpoint(
    store: Store, key: Ed25519PrivateKey, file: Path, *, if_moved: bool = False
) -> Checkpointed:
    """Sign the head and append it to ``file``, unless the log fails to verify since the
    newest checkpoint (then nothing is signed: signing a rewritten log would bless it).
    ``if_moved``: write nothing when the head is where the newest checkpoint put it."""
    public = key.public_key()
    with anchor.locked_append(file) as f:
        cps = anchor.read_anchor_file(file)
        anchor.refuse_unverified(cps, public, str(file))
        last = cps[-1] if cps else None
        with store.read() as s:
            audit.snapshot(s)
            refused, head = _since(s, last, public, cps, str(file))
        if refused is not None:
            return Checkpointed(None, len(cps), refused)
        if if_moved and last is not None and last.seq == head[0]:
            return Checkpointed(None, len(cps))
        cp = anchor.sign(key, head[0], head[1])
        f.write(cp.to_line())
        f.flush()
        os.fsync(f.fileno())
        return Checkpointed(cp, len(cps) + 1)


def _since(
    s: Session,
    last: anchor.Checkpoint | None,
    public: Ed25519PublicKey,
    cps: list[anchor.Checkpoint],
    file: str,
) -> tuple[audit.ChainCheck | anchor.AnchorVerdict | None, tuple[int, str]]:
    """The log since ``last`` (which must still match) up to the head: checked."""
    head = audit.head_of(s)
    start = (last.seq, last.hash) if last else (0, GENESIS)
    if last is not None:
        at = [r["hash"] for r in audit.iter_records(s, after=last.seq - 1, upto=last.seq)]
        tail = anchor.check(
            [last], public, lambda _seq: at[0] if at else None, head[0], file, len(cps)
        )
        if not tail.ok:
            return tail, head
    chain = audit.verify_records(audit.iter_records(s, after=start[0]), head, start)
    return (None if chain.ok else chain), head
