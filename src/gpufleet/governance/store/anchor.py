"""Signed checkpoints: the audit chain anchored outside the database.

The hash chain alone proves nothing to someone who can write the database: they can edit a
record, recompute every later hash and move the head, or empty the log and reset the head.
A **checkpoint** is the head at one moment, signed with an Ed25519 key kept outside the
database::

    {"seq": 42, "hash": "<record 42's hash>", "at": "2026-12-06T17:00:00+00:00",
     "records": 42, "signature": "<base64 Ed25519 signature>"}

where the signature is over the canonical JSON (:func:`.canonical.canonical`) of the other
four fields. Checkpoints are appended, one JSON line each, to an **anchor file** opened with
``O_APPEND`` (keep it where the database's writers cannot rewrite it: another host, a
``chattr +a`` file, a WORM bucket). :func:`check` then requires, for every checkpoint, that
its signature verifies with the public key, that checkpoints never go back, and that the
log still holds at ``seq`` a record with exactly that ``hash`` (a hash commits to every
record before it) and reaches the newest checkpoint's ``seq``.

Problems with the inputs themselves (a key file that is not a key, a line that is not a
checkpoint) are :class:`InputError` (exit 2); a checkpoint that does not verify or does
not match the log is a broken :class:`AnchorVerdict` (exit 4).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gpufleet.errors import InputError, Problem
from gpufleet.governance.store.canonical import GENESIS, canonical

SIGNED = ("seq", "hash", "at", "records")
_HEX64 = re.compile(r"[0-9a-f]{64}")


# --- keys ----------------------------------------------------------------------------------


def keygen(out: Path) -> Path:
    """Write a new Ed25519 private key to ``out`` (PEM, mode 0600, never overwriting) and
    its public key to ``out.pub``; returns the public key's path."""
    pub = out.with_name(out.name + ".pub")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: the folder {out.parent} does not exist")
    for p in (out, pub):
        if p.exists():
            raise InputError(f"--out {out}: {p} exists already; a key is never overwritten")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pub


def _read_key_file(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{flag} {path}: no such file") from None
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot read it: {e.strerror}") from None


def load_signing_key(path: Path, flag: str = "--signing-key") -> Ed25519PrivateKey:
    data = _read_key_file(path, flag)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise InputError(
            f"{flag} {path}: not an unencrypted PEM private key ({e}); "
            "make one with `gpufleet audit keygen --out FILE`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{flag} {path}: a {type(key).__name__}, expected an Ed25519 key")
    return key


def load_public_key(path: Path, flag: str = "--public-key") -> Ed25519PublicKey:
    data = _read_key_file(path, flag)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise InputError(
            f"{flag} {path}: not a PEM public key ({e}); `gpufleet audit keygen --out FILE` "
            "writes it to FILE.pub"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{flag} {path}: a {type(key).__name__}, expected an Ed25519 key")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of SHA-256 over the raw public key: to tell keys apart."""
    import hashlib

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# --- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed head: the log held ``records`` records, the last ``seq`` with ``hash``."""

    seq: int
    hash: str
    at: str
    records: int
    signature: str
    line: int = 0  # its line in the anchor file (1-based; 0: not read from a file)

    def body(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at, "records": self.records}

    def to_line(self) -> str:
        return canonical({**self.body(), "signature": self.signature}) + "\n"

    def verifies(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(base64.b64decode(self.signature), canonical(self.body()).encode())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def sign(key: Ed25519PrivateKey, seq: int, hash_: str, at: datetime | None = None) -> Checkpoint:
    """The head (``seq``, ``hash``) of an intact log of ``seq`` records, signed now."""
    unsigned = Checkpoint(seq, hash_, (at or datetime.now(UTC)).isoformat(), seq, "")
    sig = key.sign(canonical(unsigned.body()).encode())
    return replace(unsigned, signature=base64.b64encode(sig).decode())


def parse_lines(lines: Iterable[str], file: str) -> list[Checkpoint]:
    """The checkpoints of an anchor file; every malformed line is an InputError problem."""
    out, problems = [], []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            problems.append(Problem("", "an empty line", "one checkpoint per line", file, n))
            continue
        cp = _parse_line(raw, n, file, problems)
        if cp is not None:
            out.append(cp)
    if problems:
        raise InputError(f"{file}: not a well-formed anchor file", problems[:20])
    return out


def _parse_line(raw: str, n: int, file: str, problems: list[Problem]) -> Checkpoint | None:
    def bad(field: str, message: str, expected: str) -> None:
        problems.append(Problem(field, message, expected, file, n))

    try:
        d = json.loads(raw)
    except json.JSONDecodeError as e:
        bad("", f"not JSON: {e.msg}", "one JSON checkpoint per line")
        return None
    if not isinstance(d, dict):
        bad("", f"found {type(d).__name__}", "a JSON object")
        return None
    want = (*SIGNED, "signature")
    for f in want:
        if f not in d:
            bad(f, "missing", "the fields " + ", ".join(want))
    for f in sorted(set(d) - set(want)):
        bad(f, "not a field of a checkpoint", ", ".join(want))
    if set(d) != set(want):
        return None
    before = len(problems)
    for f in ("seq", "records"):
        if type(d[f]) is not int or d[f] < 0:
            bad(f, f"found {d[f]!r}", "a whole number >= 0")
    if not (isinstance(d["hash"], str) and _HEX64.fullmatch(d["hash"])):
        bad("hash", f"found {d['hash']!r}", "64 lowercase hex digits")
    for f in ("at", "signature"):
        if not isinstance(d[f], str):
            bad(f, f"found {d[f]!r}", "a string")
    if len(problems) > before:
        return None
    return Checkpoint(d["seq"], d["hash"], d["at"], d["records"], d["signature"], n)


def read_anchor_file(path: Path, flag: str = "--anchor-file") -> list[Checkpoint]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{flag} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{flag} {path}: cannot read it as text: {e}") from None
    return parse_lines(text.splitlines(), str(path))


# --- checking checkpoints against a log ----------------------------------------------------


@dataclass(frozen=True)
class AnchorVerdict:
    ok: bool
    checkpoints: int
    key: str  # the public key's fingerprint
    first_bad_seq: int | None = None
    problem: str = ""

    def render(self) -> str:
        if self.ok:
            return (
                f"anchors agree: {self.checkpoints} checkpoint(s) signed by key {self.key} "
                "match the log"
            )
        where = f"record {self.first_bad_seq}: " if self.first_bad_seq is not None else ""
        return f"anchors broken: {where}{self.problem}"


def check(
    checkpoints: list[Checkpoint],
    key: Ed25519PublicKey,
    hash_at: Callable[[int], str | None],
    last_seq: int,
    file: str,
    number_from: int = 1,
) -> AnchorVerdict:
    """Check ``checkpoints`` (in file order) against a log whose record ``seq`` has hash
    ``hash_at(seq)`` (None: no such record) and whose last record is ``last_seq``.

    The first failure is reported. When a checkpoint's hash no longer matches, the records
    changed lie after the newest earlier checkpoint that still matches: that record is named
    as the first bad one, the mismatching checkpoint bounding the range."""
    fp = fingerprint(key)
    good = 0  # the seq of the newest checkpoint seen to match
    for i, cp in enumerate(checkpoints, start=number_from):
        name = f"checkpoint {i} ({file} line {cp.line or i}, signed at {cp.at})"
        if not cp.verifies(key):
            return AnchorVerdict(
                False, i, fp, None,
                f"{name}: its signature does not verify with key {fp} (the line was edited, "
                "or signed with another key)",
            )  # fmt: skip
        if cp.records != cp.seq:
            return AnchorVerdict(
                False, i, fp, None, f"{name}: records {cp.records} != seq {cp.seq}"
            )
        if cp.seq < good:
            return AnchorVerdict(
                False, i, fp, None, f"{name} signed record {cp.seq}, after one at {good}: "
                "checkpoints never go back (the anchor file was reordered or rewritten)",
            )  # fmt: skip
        if cp.seq > last_seq:
            return AnchorVerdict(
                False, i, fp, last_seq + 1,
                f"{name} signed record {cp.seq}, but the log ends at record {last_seq}: "
                f"records {last_seq + 1} to {cp.seq} were removed"
                + (" (the log was emptied)" if last_seq == 0 else ""),
            )  # fmt: skip
        found = GENESIS if cp.seq == 0 else hash_at(cp.seq)
        if found != cp.hash:
            first = good + 1
            span = f"record {first}" if first == cp.seq else f"one of records {first} to {cp.seq}"
            return AnchorVerdict(
                False, i, fp, first,
                f"record {cp.seq}'s hash is not the one {name} signed: {span} was changed "
                "(and the hashes after it recomputed, or the chain would show it)",
            )  # fmt: skip
        good = cp.seq
    return AnchorVerdict(True, len(checkpoints), fp)


def check_records(
    checkpoints: list[Checkpoint],
    key: Ed25519PublicKey,
    records: Iterable[dict[str, Any]],
    file: str,
) -> AnchorVerdict:
    """:func:`check` against records in hand (an export): keeps only the hashes it needs."""
    wanted = {cp.seq for cp in checkpoints}
    hashes: dict[int, str] = {}
    last = 0
    for r in records:
        last = r["seq"]
        if last in wanted:
            hashes[last] = r["hash"]
    return check(checkpoints, key, hashes.get, last, file)


# --- appending -----------------------------------------------------------------------------


@contextmanager
def locked_append(path: Path) -> Iterator[IO[str]]:
    """The anchor file opened ``O_APPEND`` (created 0644 if absent) under an exclusive
    ``flock``, so that two writers (the server and a cron job) cannot interleave: each reads
    the newest checkpoint and appends after it while holding the lock."""
    if not path.parent.is_dir():
        raise InputError(f"--anchor-file {path}: the folder {path.parent} does not exist")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        raise InputError(f"--anchor-file {path}: cannot open it to append: {e.strerror}") from None
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield f
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def refuse_unverified(checkpoints: list[Checkpoint], key: Ed25519PublicKey, file: str) -> None:
    """Appending to a file whose lines do not verify with our key would bless it: refuse."""
    fp = fingerprint(key)
    for cp in checkpoints:
        if not cp.verifies(key):
            raise InputError(
                f"--anchor-file {file}: line {cp.line} does not verify with this signing key's "
                f"public key ({fp}); refusing to append to an anchor file that is not all ours"
            )
