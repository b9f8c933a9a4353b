"""The ``gpufleet trace ...`` and ``gpufleet replay`` commands (part of the CLI ring)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gpufleet.cli.common import json_flag, print_json
from gpufleet.cli.output import ProgressBar, Stages
from gpufleet.domain.scenario import OptionValue, PolicySpec
from gpufleet.errors import ExitCode, InputError
from gpufleet.extras import require
from gpufleet.inputs.scenario.bounds import seed_arg
from gpufleet.inputs.traces.convert import StagedCsv
from gpufleet.inputs.traces.importers.columnmap import FIELDS_TEXT
from gpufleet.inputs.traces.importers.sacct_format import SacctFormat
from gpufleet.inputs.traces.info import summarize, summarize_csv
from gpufleet.inputs.traces.registry import (
    csv_path,
    known_traces,
    load_sacct_source,
    load_source,
    searched_roots,
    trace_roots,
    traces_root,
)
from gpufleet.inputs.traces.replay import TRACE_CHECKPOINT_S, TRACE_RESTORE_S, to_scenario
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.tenants import TENANT_COLUMNS, one_tenant, queued_by
from gpufleet.inputs.traces.workload import Workload, write_parquet
from gpufleet.planning.report.table import num, render
from gpufleet.policies.registry import build_policy, make_policy, policy_spec
from gpufleet.sim.simulator import Simulation


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a trace name (see 'gpufleet trace list') or a file path")
    p.add_argument(
        "--map",
        help=f"for a plain CSV: FIELD=COLUMN,... (fields: {FIELDS_TEXT})",
    )
    p.add_argument(
        "--time-format",
        choices=["relative-seconds", "unix", "iso"],
        help="how the CSV's times are written (with --map)",
    )
    p.add_argument(
        "--delimiter",
        help="for sacct output written with sacct --delimiter=CHARS (default '|')",
    )
    p.add_argument(
        "--columns",
        help="for sacct output written with --noheader: its --format list "
        "(JobID,Submit,Start,End,AllocTRES,...)",
    )
    p.add_argument(
        "--on-error",
        choices=["stop", "skip"],
        default="stop",
        help="stop at the first bad row (default) or skip bad rows, counting them",
    )
    p.add_argument(
        "--rejects",
        help="with --on-error=skip: write skipped rows to this CSV "
        "(default: SOURCE-NAME.rejects.csv here)",
    )


def _policy(args: argparse.Namespace) -> RowPolicy:
    return RowPolicy(args.source, skip=args.on_error == "skip")


def _rejects_note(args: argparse.Namespace, policy: RowPolicy) -> list[str]:
    """Writes the skipped rows (if any) to the rejects file; the note saying where."""
    if not policy.rejects:
        return []
    out = Path(args.rejects or f"{Path(args.source).name}.rejects.csv")
    policy.write_rejects(out)  # the loaders already noted what they skipped
    return [f"rejected rows written to {out}"]


def _streamed_csv(args: argparse.Namespace) -> Path | None:
    """The plain CSV (read with --map) that a command may read a chunk at a time; None for
    every other source or flag set, which :func:`load` reads whole."""
    if args.delimiter is not None or args.columns is not None:
        return None
    return csv_path(args.source, args.map)


def load(args: argparse.Namespace) -> Workload:
    policy = _policy(args)
    kwargs: dict[str, Any] = {}
    if args.map:
        kwargs["column_map"] = args.map
    if args.time_format:
        kwargs["time_format"] = args.time_format
    if args.time_format and not args.map:
        raise InputError("--time-format applies to a plain CSV read with --map")
    if args.delimiter is not None or args.columns is not None:
        if args.map or args.time_format:
            raise InputError(
                "--delimiter and --columns describe sacct output; --map reads a plain CSV "
                "(give one or the other)"
            )
        fmt = SacctFormat.from_flags(args.delimiter, args.columns)
        w = load_sacct_source(args.source, policy, fmt)
    else:
        w = load_source(args.source, policy, **kwargs)
    w.notes.extend(_rejects_note(args, policy))
    return w


def cmd_list(args: argparse.Namespace) -> int:
    root = traces_root()
    if args.json:
        print_json(
            {
                "traces_folder": str(root),
                "searched": [
                    {"origin": r.origin, "folder": str(r.folder) if r.folder else None}
                    for r in trace_roots()
                ],
                "traces": [
                    {
                        "name": spec.name,
                        "description": spec.description,
                        "folder": spec.folder,
                        "found": (root / spec.folder).is_dir(),
                    }
                    for spec in known_traces()
                ],
            }
        )
        return ExitCode.OK
    print(f"traces folder: {root} (searched in order: {searched_roots()})")
    variants: dict[str, int] = {}
    for spec in known_traces():
        if ":" in spec.name:  # NAME:VARIANT sources are listed as one line per family
            variants[spec.name.split(":")[0]] = variants.get(spec.name.split(":")[0], 0) + 1
            continue
        here = "found" if (root / spec.folder).is_dir() else "not found"
        print(f"{spec.name:32s} {spec.description} [{here} under {root}]")
    for family, n in sorted(variants.items()):
        print(f"{family + ':<variant>':32s} {n} more sources in {family} (see its SOURCE.md)")
    return ExitCode.OK


def cmd_info(args: argparse.Namespace) -> int:
    csv = _streamed_csv(args)
    if csv is None:
        s = summarize(load(args))
    else:  # a chunk at a time: memory for a few columns, not the rows (issue 14 item 9)
        policy = _policy(args)
        s = summarize_csv(csv, policy, args.map, args.time_format)
        s["notes"].extend(_rejects_note(args, policy))
    if args.json:
        print(json.dumps(s, indent=2))
        return ExitCode.OK
    print(
        f"{s['name']}: {s['jobs']:,} jobs ({s['gpu_jobs']:,} with GPUs), "
        f"{s['gpu_hours']:,.1f} GPU-hours, {s['span_days']} days"
    )
    if s["first_submit"]:
        print(f"  submitted {s['first_submit']} .. {s['last_submit']}")
    print(
        f"  GPUs per GPU job: mean {s['gpus_per_gpu_job_mean']}, max {s['gpus_per_job_max']}; "
        f"multi-GPU jobs {s['multi_gpu_job_share'] * 100:.1f}% of GPU jobs, "
        f"{s['multi_gpu_gpu_time_share'] * 100:.1f}% of GPU-time"
    )
    sizes = ", ".join(f"{k}: {v:,}" for k, v in list(s["size_distribution"].items())[:12])
    print(f"  sizes: {sizes}")
    print(f"  duration s: {_durations_text(s['duration_s'])}")
    if s["arrivals_by_hour"] is not None:  # None: relative times, no time of day
        print(f"  arrivals by hour of day (UTC): {s['arrivals_by_hour']}")
    if s["recorded_queueing_delay_s"]:
        q = s["recorded_queueing_delay_s"]
        print(f"  recorded queueing delay s: mean {q['mean']:,.1f}, p50 {q['p50']:,.1f}")
    if s["fleet"]:
        print(
            f"  fleet: {s['fleet_gpus']:,} GPUs: "
            + ", ".join(f"{g['nodes']} x {g['gpus_per_node']} {g['gpu_type']}" for g in s["fleet"])
        )
    rows = [[q, num(v["jobs"]), num(v["gpu_hours"], 1)] for q, v in s["queues"].items()]
    if rows:
        print(
            render(
                ["queue", "jobs", "GPU-hours"],
                rows,
                f"  queues ({s['queue_count']}; largest {len(rows)})",
            )
        )
    for n in s["notes"]:
        print(f"  note: {n}")
    return ExitCode.OK


def _durations_text(d: dict[str, Any]) -> str:
    unknown = d["unknown_jobs"]
    if d["mean"] is None:
        return f"unknown for all {unknown:,} jobs"
    known = (
        f"mean {d['mean']:,.0f}, p50 {d['p50']:,.0f}, p90 {d['p90']:,.0f}, "
        f"p99 {d['p99']:,.0f}, max {d['max']:,.0f}"
    )
    return f"{known}; unknown for {unknown:,} jobs" if unknown else known


def cmd_convert(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix != ".parquet":
        raise InputError(f"{out}: the output must be a .parquet file")
    require("parquet", "pyarrow", f"writing {out} (Parquet)")  # before a long conversion
    if not out.parent.is_dir():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    stages = Stages("trace convert")
    stages.start(f"reading {args.source}")
    csv = _streamed_csv(args)
    if csv is None:
        w = load(args)
        stages.start(f"writing {len(w):,} jobs")
        write_parquet(w, out)
        jobs, gpu_hours, notes = len(w), w.gpu_hours, w.notes
    else:  # a chunk at a time: memory for a chunk and a row group (issue 14)
        jobs, gpu_hours, notes = _convert_csv(args, csv, out, stages)
    stages.done()
    if args.json:
        print_json(
            {"out": str(out), "jobs": jobs, "gpu_hours": round(gpu_hours, 4), "notes": notes}
        )
        return ExitCode.OK
    print(f"wrote {out}: {jobs:,} jobs, {gpu_hours:,.0f} GPU-hours")
    for n in notes:
        print(f"  note: {n}")
    return ExitCode.OK


def _convert_csv(
    args: argparse.Namespace, csv: Path, out: Path, stages: Stages
) -> tuple[int, float, list[str]]:
    """A mapped CSV to ``out`` in two passes through a scratch file beside it (the
    :mod:`~gpufleet.inputs.traces.convert` docstring); jobs, GPU-hours and notes."""
    policy = _policy(args)
    scratch = out.with_name(out.name + ".rows.partial")
    try:
        staged = StagedCsv.stage(csv, scratch, policy, args.map, args.time_format)
        stages.start(f"writing {staged.jobs:,} jobs")
        notes = staged.write(out, _rejects_note(args, policy))
    finally:
        scratch.unlink(missing_ok=True)
    return staged.jobs, staged.gpu_hours, notes


def cmd_replay(args: argparse.Namespace) -> int:
    make_policy(args.policy)  # an unknown name fails before any loading
    spec = _policy_from_flags(args)
    if args.fleet and args.gpus:
        raise InputError("give --fleet or --gpus, not both")
    stages = Stages("replay")
    stages.start(f"reading {args.source}")
    w = load(args)
    if args.queue_by:
        w = queued_by(w, args.queue_by)
    fleet = load_source(args.fleet).fleet if args.fleet else None
    stages.done()
    if args.fleet and not fleet:
        raise InputError(f"--fleet {args.fleet}: that source describes no fleet")
    sc = to_scenario(
        w,
        spec,
        fleet=fleet,
        gpus=args.gpus,
        scale_load=args.scale_load,
        seed=args.seed,
        strict=args.on_error == "stop",
        checkpoint_s=args.checkpoint_interval,
        restore_s=args.restore_overhead,
    )
    tenants = sum(len(e.programs) for e in sc.entities)
    fair = build_policy(spec).shares_between_programs
    warnings = [one_tenant(w, spec.name)] if fair and tenants == 1 else []
    name = w.name
    del w  # the run needs only the scenario (which keeps the job ids): frees the columns
    bar = ProgressBar("replay", total=sc.horizon_s / 86_400, unit="sim-days")
    res = Simulation(sc, progress=bar).run()
    bar.close()
    if args.json:
        d = res.to_dict()
        d["notes"] = sc.description.splitlines()
        d["warnings"] = warnings
        d["utilisation_while_arriving"] = res.fleet["utilisation_while_arriving"]
        print(json.dumps(d, indent=2, sort_keys=True))
        return ExitCode.OK
    gpus = sum(p.gpu_count for p in sc.pools)
    print(
        f"replay {name} under {_policy_words(spec)}: {res.summary['jobs_submitted']:,} jobs on "
        f"{gpus:,} GPUs; {res.summary['jobs_finished']:,} finished"
    )
    q, j = res.summary["queueing_delay_s"], res.summary["jct_s"]
    rows = [
        ["queueing delay (s)", *(num(q[k], 1) for k in ("mean", "p50", "p95", "p99", "max"))],
        ["JCT (s)", *(num(j[k], 1) for k in ("mean", "p50", "p95", "p99", "max"))],
    ]
    print(render(["", "mean", "p50", "p95", "p99", "max"], rows))
    f, sm = res.fleet, res.summary
    print(
        f"utilisation of the fleet: {f['utilisation_while_arriving'] * 100:.1f}% while jobs "
        f"arrive, {f['utilisation_to_last_finish'] * 100:.1f}% until the last one finishes"
    )
    print(
        f"preemption: {sm['jobs_preempted']:,} preemption(s), "
        f"{sm['work_lost_gpu_hours']:,.1f} GPU-hours of work lost, "
        f"{sm['restore_gpu_hours']:,.1f} GPU-hours restoring checkpoints"
    )
    total = sum(p["gpu_hours_received"] for p in res.programs.values()) or 1.0
    prog_rows = sorted(res.programs.items(), key=lambda kv: -kv[1]["gpu_hours_received"])
    print(
        render(
            ["queue", "jobs", "GPU-hours", "share", "mean queueing (s)"],
            [
                [
                    k,
                    num(v["jobs_finished"]),
                    num(v["gpu_hours_received"]),
                    f"{v['gpu_hours_received'] / total * 100:.1f}%",
                    num(v["queueing_delay_s"]["mean"], 1),
                ]
                for k, v in prog_rows[:20]
            ],
        )
    )
    for n in sc.description.splitlines():
        print(f"note: {n}")
    for x in warnings:
        print(f"warning: {x}")
    return ExitCode.OK


# --- replay's policy options (--policy-option, --policy-file) ------------------------------


def _add_policy_flags(r: argparse.ArgumentParser) -> None:
    r.add_argument(
        "--policy-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a policy option (repeatable; see 'gpufleet policies'); VALUE is read as in "
        "a scenario's YAML: 3, 0.5, true, text",
    )
    r.add_argument(
        "--policy-file",
        metavar="FILE",
        help="a YAML mapping of policy options (as under a scenario's policy: options:); "
        "--policy-option overrides its keys",
    )


def _policy_from_flags(args: argparse.Namespace) -> PolicySpec:
    """The policy and its options, checked as a scenario's are (``policy_spec``)."""
    options = _policy_file(args.policy_file) if args.policy_file else {}
    for raw in args.policy_option:
        key, value = _policy_option(raw)
        options[key] = value
    try:
        return policy_spec(args.policy, options)
    except InputError as e:  # its message names the policy, the option and what is right
        given = [
            f
            for f, on in (
                ("--policy-file", args.policy_file),
                ("--policy-option", args.policy_option),
            )
            if on
        ]
        raise InputError(f"{' / '.join(given) or '--policy'}: {e}") from None


def _policy_option(raw: str) -> tuple[str, OptionValue]:
    import yaml

    key, sep, text = raw.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--policy-option {raw!r}: expected KEY=VALUE, such as backfill_depth=50")
    return key.strip(), _scalar(
        yaml.safe_load(text) if text.strip() else "", f"--policy-option {raw!r}"
    )


def _scalar(value: object, where: str) -> OptionValue:
    if isinstance(value, bool | int | float | str):
        return value
    raise InputError(
        f"{where}: {value!r} is not a single value; expected a number, true/false or text"
    )


def _policy_file(path: str) -> dict[str, OptionValue]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"--policy-file {path}: cannot read it ({e})") from None
    except yaml.YAMLError as e:
        raise InputError(f"--policy-file {path}: not YAML ({e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"--policy-file {path}: a YAML mapping of option: value expected, "
            f"got {type(data).__name__}"
        )
    return {str(k): _scalar(v, f"--policy-file {path}: option {k!r}") for k, v in data.items()}


def _policy_words(spec: PolicySpec) -> str:
    opts = ", ".join(f"{k}={v}" for k, v in spec.options)
    return f"{spec.name} ({opts})" if opts else spec.name


def add_commands(sub: Any) -> None:
    t = sub.add_parser("trace", help="public traces and your own exports: list, info, convert")
    tsub = t.add_subparsers(dest="trace_command", required=True)
    lst = tsub.add_parser("list", help="the traces gpufleet can load by name")
    json_flag(lst)
    lst.set_defaults(fn=cmd_list)
    info = tsub.add_parser("info", help="what a trace holds")
    _add_source(info)
    info.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    info.set_defaults(fn=cmd_info)
    conv = tsub.add_parser("convert", help="write a trace as a normalized Parquet workload")
    _add_source(conv)
    conv.add_argument("out", help="OUT.parquet")
    json_flag(conv)
    conv.set_defaults(fn=cmd_convert)
    r = sub.add_parser("replay", help="simulate a trace's jobs under a policy")
    _add_source(r)
    r.add_argument("--policy", default="fifo", help="see 'gpufleet policies' (default fifo)")
    _add_policy_flags(r)
    r.add_argument("--fleet", help="take the fleet from this source (a trace with a fleet)")
    r.add_argument("--gpus", type=int, help="a homogeneous fleet of N GPUs, 8 per node")
    r.add_argument(
        "--scale-load",
        type=float,
        default=1.0,
        help="multiply the arrival rate (divide inter-arrival times) by X",
    )
    r.add_argument(
        "--seed", type=seed_arg, default=0, help="seed of the replay's random choices (default 0)"
    )
    r.add_argument(
        "--queue-by",
        choices=list(TENANT_COLUMNS),
        help="the tenants (one queue each): the trace's queue column (its VC, Slurm account "
        "or namespace; also 'vc', 'account') or its users (default: the queue column)",
    )
    r.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    _add_preemption(r)
    r.set_defaults(fn=cmd_replay)


def _add_preemption(r: argparse.ArgumentParser) -> None:
    """How preempted trace jobs resume (checkpoint/restart; defaults and their source in
    gpufleet.inputs.traces.replay)."""
    r.add_argument(
        "--checkpoint-interval",
        type=float,
        default=TRACE_CHECKPOINT_S,
        metavar="SECONDS",
        help="a preempted job keeps its work up to its last checkpoint, taken every "
        f"SECONDS it runs (default {TRACE_CHECKPOINT_S:g}; 0: restart from zero)",
    )
    r.add_argument(
        "--restore-overhead",
        type=float,
        default=TRACE_RESTORE_S,
        metavar="SECONDS",
        help="seconds a resumed job spends reloading its checkpoint before new work "
        f"(default {TRACE_RESTORE_S:g})",
    )
