"""Small builders for the enact tests: the dev cluster's story as register rows, and the
dev cluster's own mapping file (tests/live/samples/mapping/devcluster.yaml)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from gpufleet.live.enact.model import ApprovalNote
from gpufleet.live.enact.register import PoolRec, ProgramRec, QuotaRec, RegisterRows, TransferRec
from gpufleet.live.mapping import ClusterMapping, parse_mapping

MAPPING = Path(__file__).parents[1] / "samples/mapping/devcluster.yaml"
NODES = {"gf-h100-1": ("h100",), "gf-h100-2": ("h100",), "gf-a100-1": ("a100",)}


def mapping(text: str | None = None) -> ClusterMapping:
    return parse_mapping(text or MAPPING.read_text(), str(MAPPING))


def lease(
    gpus: int = 4,
    start: str = "2026-07-01",
    end: str | None = "2026-08-01",
    giver: str = "fsd-training",
    taker: str = "grok",
    tid: int = 7,
) -> TransferRec:
    """tesla's H100 of memphis lent to xai's grok, approved by two independent directors."""
    approvals = (
        ApprovalNote("dana", "approve", "2026-06-20T10:00:00+00:00"),
        ApprovalNote("eli", "approve", "2026-06-21T10:00:00+00:00"),
    )
    return TransferRec(
        tid, f"lease-{tid}", "active", "memphis-h100", gpus, giver, taker,
        datetime.fromisoformat(start), datetime.fromisoformat(end) if end else None, approvals,
    )  # fmt: skip


def rows(*transfers: TransferRec) -> RegisterRows:
    """tesla's fsd-training (weight 0.6): 12 H100 and 4 A100; xai's grok (weight 0.4): 4
    H100 from the plan's start, 6 from 2026-09-01, no A100 row."""
    return RegisterRows(
        programs=(ProgramRec("fsd-training", "tesla", 0.6), ProgramRec("grok", "xai", 0.4)),
        quotas=(
            QuotaRec("fsd-training", "H100-SXM", None, 12),
            QuotaRec("fsd-training", "A100-80GB", None, 4),
            QuotaRec("grok", "H100-SXM", None, 4),
            QuotaRec("grok", "H100-SXM", datetime(2026, 9, 1), 6),
        ),
        pools=(
            PoolRec("memphis-h100", "tesla", "H100-SXM", 8),
            PoolRec("colossus-h100", "xai", "H100-SXM", 8),
            PoolRec("buffalo-a100", "tesla", "A100-80GB", 4),
        ),
        transfers=transfers,
    )
