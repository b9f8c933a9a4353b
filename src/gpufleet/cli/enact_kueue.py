"""``gpufleet apply kueue --config live.yaml --snapshot DIR|FILE [--api v1beta2|v1beta1]
[--at INSTANT] [--db URL] [-o FOLDER] [--json]``: the register's desired state at the
instant as Kueue objects, checked against the bundled CRD schemas, diffed against a
snapshot of what the cluster has (objects added, changed field by field, removed, each
with its causes), and with ``-o`` written as a folder for ``kubectl apply --server-side
-k FOLDER``. It never talks to an API server. See docs/enact.md."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from gpufleet.cli.store import db_arg, open_store
from gpufleet.domain import default_catalog
from gpufleet.errors import ExitCode
from gpufleet.live.config import load_settings
from gpufleet.live.enact.kueue_desired import kueue_desired
from gpufleet.live.enact.kueue_diff import KueueDiff, kueue_diff, read_snapshot
from gpufleet.live.enact.kueue_folder import write_folder
from gpufleet.live.enact.kueue_schema import VERSIONS, check
from gpufleet.live.enact.register import read_rows
from gpufleet.live.mapping import parse_mapping
from gpufleet.live.plan import naive_utc

_SIGN = {"add": "+", "change": "~", "remove": "-"}


def render(d: KueueDiff) -> str:
    out = [
        f"kueue {d.desired.api} at {d.desired.at.isoformat()}Z against snapshot {d.snapshot}: "
        f"{d.count('add')} added, {d.count('change')} changed, {d.count('remove')} removed, "
        f"{d.unchanged} unchanged"
    ]
    for c in d.changes:
        out.append(f"{_SIGN[c.op]} {c.ref}")
        out += [f"     {f.text()}" for f in c.fields]
        out += [f"     because {why}" for why in c.causes]
    out += [f"note: {n}" for n in d.desired.notes]
    return "\n".join(out) + "\n"


def to_json(d: KueueDiff, files: list[str]) -> dict[str, Any]:
    return {
        "api": d.desired.api,
        "at": d.desired.at.isoformat() + "Z",
        "snapshot": d.snapshot,
        "unchanged": d.unchanged,
        "changes": [
            {
                "op": c.op,
                "object": c.ref,
                "fields": [
                    {"path": f.path, "before": f.before, "after": f.after} for f in c.fields
                ],
                "causes": list(c.causes),
            }
            for c in d.changes
        ],
        "notes": list(d.desired.notes),
        "files": files,
    }


def cmd_apply_kueue(args: argparse.Namespace) -> int:
    live = load_settings(Path(args.config))
    mapping = parse_mapping(live.mapping_text, str(live.mapping_path), default_catalog())
    snapshot = read_snapshot(Path(args.snapshot))
    with open_store(args) as store, store.read() as s:
        rows = read_rows(s)
    at = naive_utc(args.parse_at(args.at)).replace(microsecond=0)
    desired = kueue_desired(rows, mapping, args.api, at)
    check([o.manifest for o in desired.objects])
    diff = kueue_diff(desired, snapshot)
    files = write_folder(desired, Path(args.out)) if args.out else []
    if args.json:
        sys.stdout.write(json.dumps(to_json(diff, files), indent=2) + "\n")
    else:
        sys.stdout.write(render(diff))
        if files:
            print(
                f"wrote {len(files)} files to {args.out}: kubectl apply --server-side -k {args.out}"
            )
    return ExitCode.OK


def add_kueue(asub: Any, parse_at: Callable[[str | None], datetime]) -> None:
    """The ``kueue`` subcommand of ``apply``; ``parse_at`` reads ``--at`` as ``apply slurm``
    does (passed in, so that the two modules do not import each other)."""
    k = asub.add_parser("kueue", help="the register as Kueue manifests, diffed with a snapshot")
    k.add_argument("--config", required=True, help="the live configuration (its mapping)")
    k.add_argument("--snapshot", required=True,
                   help="kubectl get ... -o json output: a file, or a folder of them")  # fmt: skip
    k.add_argument("--api", choices=list(VERSIONS), default=VERSIONS[0],
                   help="Kueue's API version to write (default v1beta2)")  # fmt: skip
    k.add_argument("--at", help="the instant to enact (ISO 8601; default now)")
    k.add_argument("-o", "--out", help="write the manifests and kustomization.yaml here")
    k.add_argument("--json", action="store_true", help="the diff as JSON")
    db_arg(k)
    k.set_defaults(fn=cmd_apply_kueue, parse_at=parse_at)
