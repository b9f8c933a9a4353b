"""Changes as data, and their short forms for the command line.

Short forms (every part is checked; each error says which part, and shows a valid form):

=============  ==========================================================================
``--move``     ``N TYPE FROM->TO[@SITE] DATE[..END] [price=USD] [pool=NAME]``
               FROM/TO are ``entity`` or ``entity/program``; ``@SITE`` ships the GPUs;
               ``..END`` makes it a lease; without ``pool=`` the GPUs come from the
               giver's pools of that type not yet delivered at DATE first (a redirected
               shipment), then the most recently delivered.  e.g.
               ``12000 H100 tesla->xai@xai-memphis 2024-06-15``
``--quota``    ``PROGRAM TYPE=N DATE [borrow=N] [lend=N]``
``--weight``   ``PROGRAM=W``
``--deliver``  ``N TYPE ENTITY@SITE DATE [value=USD] [per-node=8]``
``--delay``    ``SITE +Nd`` (days the site's readiness slips)
``--policy``   ``NAME``
``--scale``    ``PROGRAM xF`` (F times the program's load)
=============  ==========================================================================

GPU types may be abbreviated to a unique prefix of a catalog name, any case (``H100`` is
``H100-SXM``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gpufleet.errors import InputError


@dataclass(frozen=True)
class Move:
    gpus: int
    gpu_type: str
    from_entity: str
    to_entity: str
    start: datetime
    end: datetime | None = None
    from_program: str | None = None
    to_program: str | None = None
    to_site: str | None = None
    price_usd: float = 0.0
    pool: str | None = None


@dataclass(frozen=True)
class SetQuota:
    program: str
    gpu_type: str
    nominal: int
    at: datetime
    borrowing_limit: int | None = None
    lending_limit: int | None = None


@dataclass(frozen=True)
class SetWeight:
    program: str
    weight: float


@dataclass(frozen=True)
class Deliver:
    gpus: int
    gpu_type: str
    owner: str
    site: str
    date: datetime
    value_usd: float | None = None
    gpus_per_node: int = 8


@dataclass(frozen=True)
class DelaySite:
    site: str
    days: float


@dataclass(frozen=True)
class SetPolicy:
    name: str


@dataclass(frozen=True)
class ScaleLoad:
    program: str
    factor: float


Change = Move | SetQuota | SetWeight | Deliver | DelaySite | SetPolicy | ScaleLoad

FORMS = {
    "move": "N TYPE FROM->TO[@SITE] DATE[..END] [price=USD] [pool=NAME], e.g. "
    "'12000 H100 tesla->xai 2024-06-15'",
    "quota": "PROGRAM TYPE=N DATE [borrow=N] [lend=N], e.g. 'fsd-training H100=8000 2024-07-01'",
    "weight": "PROGRAM=W, e.g. 'fsd-training=2'",
    "deliver": "N TYPE ENTITY@SITE DATE [value=USD] [per-node=8], e.g. "
    "'4000 H100 tesla@tesla-gigatexas 2024-09-01'",
    "delay": "SITE +Nd, e.g. 'tesla-gigatexas +60d'",
    "policy": "NAME, e.g. 'drf'",
    "scale": "PROGRAM xF, e.g. 'fsd-training x1.5'",
}


class ChangeError(InputError):
    """A change that does not parse, or does not fit the scenario it is applied to."""

    def __init__(self, kind: str, text: str, problem: str) -> None:
        super().__init__(f"--{kind} {text!r}: {problem} (expected {FORMS[kind]})")
        self.kind = kind
        self.text = text


def _int(kind: str, text: str, what: str, s: str) -> int:
    try:
        v = float(s)
    except ValueError:
        raise ChangeError(kind, text, f"{what} {s!r} is not a whole number") from None
    if not (0 <= v < 1e15) or v != int(v):
        raise ChangeError(kind, text, f"{what} {s!r} is not a whole number >= 0")
    return int(v)


def _num(kind: str, text: str, what: str, s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise ChangeError(kind, text, f"{what} {s!r} is not a number") from None
    if not v >= 0 or v == float("inf"):
        raise ChangeError(kind, text, f"{what} {s!r} is not a number >= 0")
    return v


def _date(kind: str, text: str, s: str) -> datetime:
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        raise ChangeError(kind, text, f"{s!r} is not a date (YYYY-MM-DD)") from None


def _options(kind: str, text: str, parts: list[str], allowed: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in parts:
        if "=" not in p:
            raise ChangeError(kind, text, f"unexpected {p!r}")
        k, v = p.split("=", 1)
        if k not in allowed:
            raise ChangeError(
                kind, text, f"unknown option {k!r}; options: " + ", ".join(sorted(allowed))
            )
        if k in out:
            raise ChangeError(kind, text, f"option {k!r} given twice")
        out[k] = v
    return out


def _party(kind: str, text: str, route: str, s: str, side: str) -> tuple[str, str | None]:
    if not s:
        raise ChangeError(kind, text, f"{route!r} names no entity {side} '->'")
    ent, _, prog = s.partition("/")
    if not ent or (_ and not prog):
        raise ChangeError(kind, text, f"{s!r} is not ENTITY or ENTITY/PROGRAM")
    return ent, prog or None


def parse_move(text: str) -> Move:
    k = "move"
    parts = text.split()
    if len(parts) < 4:
        raise ChangeError(k, text, f"{len(parts)} part(s), at least 4 needed")
    gpus = _int(k, text, "GPU count", parts[0])
    if gpus == 0:
        raise ChangeError(k, text, "a move of 0 GPUs")
    route = parts[2]
    if route.count("->") != 1:
        raise ChangeError(k, text, f"{route!r} is not FROM->TO")
    src, dst = route.split("->", 1)
    dst, at, site = dst.partition("@")
    if at and not site:
        raise ChangeError(k, text, f"{route!r} names no site after '@'")
    fe, fp = _party(k, text, route, src, "before")
    te, tp = _party(k, text, route, dst, "after")
    start_s, dots, end_s = parts[3].partition("..")
    if dots and not end_s:
        raise ChangeError(k, text, f"{parts[3]!r} names no end date after '..'")
    start = _date(k, text, start_s)
    end = _date(k, text, end_s) if end_s else None
    if end is not None and end <= start:
        when = "before" if end < start else "when"
        raise ChangeError(k, text, f"the lease ends ({end_s}) {when} it starts ({start_s})")
    opts = _options(k, text, parts[4:], {"price", "pool"})
    price = _num(k, text, "price", opts["price"]) if "price" in opts else 0.0
    return Move(gpus, parts[1], fe, te, start, end, fp, tp, site or None, price, opts.get("pool"))


def parse_quota(text: str) -> SetQuota:
    k = "quota"
    parts = text.split()
    if len(parts) < 3:
        raise ChangeError(k, text, f"{len(parts)} part(s), at least 3 needed")
    gtype, eq, n = parts[1].partition("=")
    if not eq or not gtype:
        raise ChangeError(k, text, f"{parts[1]!r} is not TYPE=N")
    opts = _options(k, text, parts[3:], {"borrow", "lend"})
    return SetQuota(
        parts[0],
        gtype,
        _int(k, text, "nominal", n),
        _date(k, text, parts[2]),
        _int(k, text, "borrow", opts["borrow"]) if "borrow" in opts else None,
        _int(k, text, "lend", opts["lend"]) if "lend" in opts else None,
    )


def parse_weight(text: str) -> SetWeight:
    k = "weight"
    prog, eq, w = text.strip().partition("=")
    if not eq or not prog.strip():
        raise ChangeError(k, text, "not PROGRAM=W")
    weight = _num(k, text, "weight", w.strip())
    if weight == 0:
        raise ChangeError(k, text, "a weight of 0")
    return SetWeight(prog.strip(), weight)


def parse_deliver(text: str) -> Deliver:
    k = "deliver"
    parts = text.split()
    if len(parts) < 4:
        raise ChangeError(k, text, f"{len(parts)} part(s), at least 4 needed")
    gpus = _int(k, text, "GPU count", parts[0])
    owner, at, site = parts[2].partition("@")
    if not at or not owner or not site:
        raise ChangeError(k, text, f"{parts[2]!r} is not ENTITY@SITE")
    opts = _options(k, text, parts[4:], {"value", "per-node"})
    per_node = _int(k, text, "per-node", opts["per-node"]) if "per-node" in opts else 8
    if gpus == 0:
        raise ChangeError(k, text, "a delivery of 0 GPUs")
    if per_node == 0:
        raise ChangeError(k, text, "per-node 0: a node holds at least 1 GPU")
    if gpus % per_node:
        raise ChangeError(k, text, f"{gpus} GPUs are not whole nodes of {per_node}")
    value = _num(k, text, "value", opts["value"]) if "value" in opts else None
    return Deliver(gpus, parts[1], owner, site, _date(k, text, parts[3]), value, per_node)


def parse_delay(text: str) -> DelaySite:
    k = "delay"
    parts = text.split()
    if len(parts) != 2:
        raise ChangeError(k, text, f"{len(parts)} part(s), 2 needed")
    site, shift = parts
    m = re.fullmatch(r"([+-]?)(.*?)d(?:ays?)?", shift)
    if not m:
        raise ChangeError(k, text, f"{shift!r} is not +Nd (a number of days)")
    if m.group(1) == "-":
        raise ChangeError(k, text, f"{shift!r} is negative: readiness can only slip (+Nd)")
    days = _num(k, text, "days", m.group(2))
    if days > 36_525:
        raise ChangeError(k, text, f"{shift!r} is more than 100 years (36525 days)")
    return DelaySite(site, days)


def parse_policy(text: str) -> SetPolicy:
    if not text.strip() or len(text.split()) != 1:
        raise ChangeError("policy", text, "not one policy name")
    return SetPolicy(text.strip())


def parse_scale(text: str) -> ScaleLoad:
    k = "scale"
    parts = text.split()
    if len(parts) != 2:
        raise ChangeError(k, text, f"{len(parts)} part(s), 2 needed")
    if not parts[1].startswith("x"):
        raise ChangeError(k, text, f"{parts[1]!r} is not xF (x then a factor)")
    f = _num(k, text, "factor", parts[1][1:])
    if f == 0:
        raise ChangeError(k, text, "a factor of 0")
    return ScaleLoad(parts[0], f)


def defect(c: Change) -> str | None:
    """What is wrong with a change built from fields (a variant file's mapping form) that
    its short form's parser would have refused; None when nothing is."""
    if isinstance(c, Move):
        if c.gpus == 0:
            return "a move of 0 GPUs"
        if c.end is not None and c.end <= c.start:
            when = "before" if c.end < c.start else "when"
            return f"the lease ends ({c.end:%Y-%m-%d}) {when} it starts ({c.start:%Y-%m-%d})"
    if isinstance(c, SetWeight) and c.weight == 0:
        return "a weight of 0"
    if isinstance(c, Deliver):
        if c.gpus == 0:
            return "a delivery of 0 GPUs"
        if c.gpus_per_node == 0:
            return "per-node 0: a node holds at least 1 GPU"
        if c.gpus % c.gpus_per_node:
            return f"{c.gpus} GPUs are not whole nodes of {c.gpus_per_node}"
    if isinstance(c, ScaleLoad) and c.factor == 0:
        return "a factor of 0"
    return None


PARSERS: dict[str, Callable[[str], Change]] = {
    "move": parse_move,
    "quota": parse_quota,
    "weight": parse_weight,
    "deliver": parse_deliver,
    "delay": parse_delay,
    "policy": parse_policy,
    "scale": parse_scale,
}


def parse(kind: str, text: str) -> Change:
    if kind not in PARSERS:
        raise InputError(f"unknown change {kind!r}; changes: {', '.join(PARSERS)}")
    return PARSERS[kind](text)
