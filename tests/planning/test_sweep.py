"""Sweeps: templates over a grid, every cell under every seed, on local processes or Ray.

Runs use the ten-day SMALL scenario (acme: 64 H100 at 'east', beta: 32 H100 and 16 A100 at
'west', $2.00 per owned GPU-hour), about a tenth of a second per run. Hand-computed figures
are the ones that do not depend on the workload: owned-GPU cost, stranded GPU-days and the
intercompany charge.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import sys
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError, ScenarioError
from gpufleet.inputs.scenario.load import load_scenario_text
from gpufleet.planning.sweep import (
    Axis,
    Cell,
    LocalExecutor,
    RayExecutor,
    SweepSpec,
    Template,
    build_cells,
    load_sweep_file,
    metric_names,
    parse_grid,
    parse_template,
    run_sweep,
    run_task,
)
from tests.support.small_scenario import SMALL

Capture = pytest.CaptureFixture[str]
LEND = "{gpus} H100 acme->beta {start}"
GRID_FORM = "(expected NAME=V1,V2,..., e.g. 'gpus=0,4000,8000')"


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario_text(SMALL)


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def spec(*grids: str, templates: tuple[str, ...] = (LEND,)) -> SweepSpec:
    return SweepSpec(
        tuple(parse_template(t) for t in templates), tuple(parse_grid(g) for g in grids)
    )


# --- the grid and the templates --------------------------------------------------------
def test_a_grid_axis_is_a_name_and_its_values_as_text() -> None:
    assert parse_grid("gpus=0, 16,32") == Axis("gpus", ("0", "16", "32"))
    assert parse_grid("start=2024-01-02") == Axis("start", ("2024-01-02",))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("gpus", "no '='", id="no-equals"),
        pytest.param("2x=1,2", "'2x' is not a name (letters, digits and _)", id="a-bad-name"),
        pytest.param("gpus=", "an empty value", id="no-values"),
        pytest.param("gpus=0,,16", "an empty value", id="two-commas"),
        pytest.param("gpus=0,16,", "an empty value", id="a-comma-at-the-end"),
        pytest.param("gpus=0,16,0", "the value '0' is given twice", id="a-value-twice"),
    ],
)
def test_a_bad_grid_axis_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(InputError) as e:
        parse_grid(text)
    assert str(e.value) == f"--grid {text!r}: {problem} {GRID_FORM}"


def test_a_template_is_a_move_unless_a_kind_comes_first() -> None:
    assert parse_template(LEND) == Template("move", LEND)
    assert parse_template("delay: east +{days}d") == Template("delay", "east +{days}d")
    assert parse_template("scale:vision x{f}") == Template("scale", "vision x{f}")


def test_a_template_with_an_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(InputError) as e:
        parse_template("teleport: {gpus} H100 a->b")
    assert str(e.value) == (
        "--template 'teleport: {gpus} H100 a->b': unknown change kind 'teleport'; "
        "kinds: move, quota, weight, deliver, delay, policy, scale"
    )


@pytest.mark.parametrize(
    ("templates", "grids", "message"),
    [
        pytest.param(
            (LEND,),
            ("gpus=0,16",),
            "--template: placeholder {start} has no --grid; axes: gpus",
            id="a-placeholder-without-an-axis",
        ),
        pytest.param(
            (LEND,),
            ("gpus=0", "start=2024-01-02", "days=1"),
            "--grid 'days': no template uses {days}",
            id="an-axis-no-template-uses",
        ),
        pytest.param(
            (LEND,),
            ("gpus=0", "start=2024-01-02", "gpus=16"),
            "--grid 'gpus' is given twice",
            id="an-axis-twice",
        ),
        pytest.param(
            (),
            ("gpus=0",),
            "a sweep needs a --template ([KIND:] a change with {NAME} placeholders, e.g. "
            "'{gpus} H100 tesla->xai {start}')",
            id="no-template",
        ),
        pytest.param(
            ("policy: drf",),
            (),
            "a sweep needs a --grid (NAME=V1,V2,..., e.g. 'gpus=0,4000,8000')",
            id="no-grid",
        ),
    ],
)
def test_templates_and_axes_must_match(
    templates: tuple[str, ...], grids: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InputError) as e:
        spec(*grids, templates=templates)
    assert str(e.value) == message


def test_cells_are_every_combination_the_first_axis_slowest_and_zero_gpus_is_no_change() -> None:
    cells = spec("gpus=0,16", "start=2024-01-02,2024-01-05").cells()
    g0, g16 = ("gpus", "0"), ("gpus", "16")
    d2, d5 = ("start", "2024-01-02"), ("start", "2024-01-05")
    assert cells == [
        Cell((g0, d2), ()),
        Cell((g0, d5), ()),
        Cell((g16, d2), (("move", "16 H100 acme->beta 2024-01-02"),)),
        Cell((g16, d5), (("move", "16 H100 acme->beta 2024-01-05"),)),
    ]
    assert cells[2].name == "gpus=16 start=2024-01-02"


def test_cells_with_the_same_changes_share_one_scenario_and_no_change_is_the_base(
    small: Scenario,
) -> None:
    _, scenarios, index = build_cells(small, spec("gpus=0,16", "start=2024-01-02,2024-01-05"))
    assert index == [0, 0, 1, 2]  # both gpus=0 cells are the base
    assert scenarios[0] is small
    assert [t.start.day for s in scenarios[1:] for t in s.transfers] == [2, 5]
    assert scenarios[1].name == "small [gpus=16 start=2024-01-02]"


def test_a_cell_whose_change_does_not_fit_is_named_before_anything_runs(small: Scenario) -> None:
    with pytest.raises(InputError) as e:
        build_cells(small, spec("gpus=0,72", "start=2024-01-02"))
    assert str(e.value) == (
        "sweep cell gpus=72 start=2024-01-02: --move '72 H100 acme->beta 2024-01-02': on "
        "2024-01-02 'acme' holds 64 H100-SXM GPUs in whole nodes, fewer than 72 (expected "
        "N TYPE FROM->TO[@SITE] DATE[..END] [price=USD] [pool=NAME], e.g. "
        "'12000 H100 tesla->xai 2024-06-15')"
    )


# --- running it ------------------------------------------------------------------------
def test_a_sweep_reports_each_cell_with_hand_checkable_costs(small: Scenario) -> None:
    r = run_sweep(small, spec("gpus=0,16", "start=2024-01-03"), [7, 8], LocalExecutor())
    assert (r.seeds, r.distinct_scenarios, [c["cell"] for c in r.cells]) == (
        [7, 8],
        2,
        ["gpus=0 start=2024-01-03", "gpus=16 start=2024-01-03"],
    )
    base, lend = (c["metrics"] for c in r.cells)
    # acme owns 64 GPUs for 10 days: 64 x 240 h x $2.00 = $30,720
    assert base["acme.cost_usd"] == {
        "mean": 30720.0,
        "ci95_low": 30720.0,
        "ci95_high": 30720.0,
        "n": 2,
        "within_noise": False,
    }
    # lending 16 from 2024-01-03: 64 x 48 h + 48 x 192 h = 12,288 GPU-h x $2.00 = $24,576
    assert lend["acme.cost_usd"]["mean"] == 24_576.0
    # beta: 48 x 240 h x $2.00 = $23,040, plus 16 x 192 h x $2.00 = $6,144
    assert lend["beta.cost_usd"]["mean"] == 23_040.0 + 6_144.0
    assert lend["fleet.cost_usd"]["mean"] == base["fleet.cost_usd"]["mean"] == 53_760.0
    assert [c["intercompany_fair_usd"] for c in r.cells] == [0, 6_144]  # 16 x 192 h x $2.00
    assert [c["changes"] for c in r.cells] == [[], ["move: 16 H100 acme->beta 2024-01-03"]]


def test_a_delay_template_strands_the_site_for_the_days_of_the_cell(small: Scenario) -> None:
    s = spec("days=0,2", templates=("delay: east +{days}d",))
    r = run_sweep(small, s, [7], LocalExecutor())
    stranded = [c["metrics"]["acme.stranded_gpu_days"]["mean"] for c in r.cells]
    assert stranded == [0.0, 128.0]  # east's 64 GPUs unpowered for 2 days: 64 x 2


def test_the_zero_gpu_cell_is_exactly_the_base_run(small: Scenario) -> None:
    r = run_sweep(small, spec("gpus=0,16", "start=2024-01-03"), [7, 8], LocalExecutor())
    runs = [run_task(small, s) for s in (7, 8)]
    m = "vision.gpu_hours_received"
    assert r.cells[0]["metrics"][m]["mean"] == round((runs[0][m] + runs[1][m]) / 2, 4)


def test_two_local_workers_give_the_same_table_as_one(small: Scenario) -> None:
    s = spec("gpus=0,16,32", "start=2024-01-02,2024-01-06")
    one = run_sweep(small, s, [7, 8], LocalExecutor(1))
    two = run_sweep(small, s, [7, 8], LocalExecutor(2))
    assert two.to_dict() == one.to_dict()


def test_progress_goes_from_a_fraction_to_one(small: Scenario) -> None:
    seen: list[float] = []
    run_sweep(small, spec("gpus=0,16", "start=2024-01-02"), [7, 8], LocalExecutor(), seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]  # 2 distinct scenarios x 2 seeds


def test_the_metrics_name_every_program_entity_and_the_fleet(small: Scenario) -> None:
    assert metric_names(small) == [
        "vision.gpu_hours_received",
        "vision.queueing_delay_mean_s",
        "language.gpu_hours_received",
        "language.queueing_delay_mean_s",
        "acme.stranded_gpu_days",
        "acme.cost_usd",
        "beta.stranded_gpu_days",
        "beta.cost_usd",
        "fleet.stranded_gpu_days",
        "fleet.utilisation",
        "fleet.cost_usd",
    ]


@pytest.mark.slow  # starts a Ray cluster (about 10 s each); .ci/run runs it
def test_a_ray_cluster_gives_the_same_table_as_local_processes(small: Scenario) -> None:
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'gpufleet[ray]'")
    s = spec("gpus=0,16", "start=2024-01-02,2024-01-05")
    local = run_sweep(small, s, [7, 8], LocalExecutor(2))
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        on_ray = run_sweep(small, s, [7, 8], RayExecutor("local"))
        assert ray.is_initialized()  # a cluster it did not start is left running
    finally:
        ray.shutdown()
    assert on_ray.distinct_scenarios == local.distinct_scenarios == 3
    for got, want in zip(on_ray.cells, local.cells, strict=True):
        assert got == want, got["cell"]


# --- the sweep file --------------------------------------------------------------------
SWEEP_FILE = """\
name: lend-size
scenario: small.yaml
changes:
  - move: "{gpus} H100 acme->beta {start}"
grid:
  gpus: [0, 16]
  start: [2024-01-03]
seeds: 2
metric: acme.cost_usd
"""


def test_a_sweep_file_says_what_the_flags_say(small_file: Path) -> None:
    path = small_file.parent / "sweep.yaml"
    path.write_text(SWEEP_FILE, encoding="utf-8")
    f = load_sweep_file(path)
    assert f.spec == spec("gpus=0,16", "start=2024-01-03")
    assert (f.name, f.scenario, f.seeds, f.metric) == ("lend-size", small_file, 2, "acme.cost_usd")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param("seeds: 2", "seed: 2", (8, "seed", "unknown key 'seed'"), id="an-unknown-key"),
        pytest.param(
            "seeds: 2", "seeds: 0", (8, "seeds", "0 is not a whole number >= 1"), id="zero-seeds"
        ),
        pytest.param(
            '  - move: "{gpus} H100 acme->beta {start}"',
            "  - [x]",
            (4, "changes[0]", "not a template"),
            id="a-template-that-is-a-list",
        ),
        pytest.param(
            "  gpus: [0, 16]",
            "  gpus: 16",
            (6, "grid.gpus", "not a list of values"),
            id="an-axis-that-is-not-a-list",
        ),
        pytest.param(
            "  gpus: [0, 16]",
            "  gpus: [0, 16, 0]",
            (6, "grid.gpus", f"--grid 'gpus=0,16,0': the value '0' is given twice {GRID_FORM}"),
            id="a-value-twice",
        ),
        pytest.param(
            "  start: [2024-01-03]\n",
            "",
            (3, "changes", "--template: placeholder {start} has no --grid; axes: gpus"),
            id="a-placeholder-without-an-axis",
        ),
    ],
)
def test_a_bad_sweep_file_names_the_line(
    tmp_path: Path, old: str, new: str, problem: tuple[int, str, str]
) -> None:
    path = tmp_path / "sweep.yaml"
    assert SWEEP_FILE.count(old) == 1
    path.write_text(SWEEP_FILE.replace(old, new), encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_sweep_file(path)
    assert [(p.line, p.field, p.message) for p in e.value.problems] == [problem]


# --- gpufleet sweep --------------------------------------------------------------------
def test_the_command_writes_csv_json_and_a_heat_map_and_prints_the_table(
    small_file: Path, tmp_path: Path, capsys: Capture
) -> None:
    out = tmp_path / "out"
    argv = ["sweep", str(small_file), "--template", LEND, "--grid", "gpus=0,16,32"]
    argv += ["--grid", "start=2024-01-02,2024-01-05", "--seeds", "2", "--metric", "acme.cost_usd"]
    assert main([*argv, "-o", str(out)]) == 0
    stdout, _ = capsys.readouterr()
    lines = stdout.splitlines()
    assert lines[0] == "gpufleet sweep: small"
    assert lines[1].split()[:3] == ["gpus", "start", "acme.cost_usd"]
    assert lines[2].split()[:3] == ["0", "2024-01-02", "30,720"]  # 64 x 240 h x $2.00
    assert "6 cells (5 distinct scenarios) x 2 seeds = 10 runs on 1 local worker" in stdout
    rows = list(csv.DictReader(io.StringIO((out / "sweep.csv").read_text(encoding="utf-8"))))
    assert [r["cell"] for r in rows][:2] == ["gpus=0 start=2024-01-02", "gpus=0 start=2024-01-05"]
    # 16 lent from 2024-01-02: (64 x 24 h + 48 x 216 h) x $2.00 = 11,904 x $2.00 = $23,808
    assert (rows[2]["cell"], rows[2]["acme.cost_usd"]) == ("gpus=16 start=2024-01-02", "23808.0")
    d = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert d["grid"] == {"gpus": ["0", "16", "32"], "start": ["2024-01-02", "2024-01-05"]}
    assert d["seeds"] == [7, 8]
    png = (out / "heatmap-acme.cost_usd.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_reads_a_sweep_file(small_file: Path, capsys: Capture) -> None:
    path = small_file.parent / "sweep.yaml"
    path.write_text(SWEEP_FILE, encoding="utf-8")
    out = small_file.parent / "o"
    assert main(["sweep", "--file", str(path), "-o", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [c["metrics"]["acme.cost_usd"]["mean"] for c in d["cells"]] == [30_720.0, 24_576.0]
    assert (out / "heatmap-acme.cost_usd.png").is_file()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(
            ["--grid", "gpus"], f"--grid 'gpus': no '=' {GRID_FORM}", id="a-grid-without-equals"
        ),
        pytest.param(
            ["--grid", "gpus=0,16", "--grid", "start=2024-01-02", "--metric", "speed"],
            "--metric 'speed': not a figure of this sweep; figures: vision.gpu_hours_received, "
            "vision.queueing_delay_mean_s, language.gpu_hours_received, "
            "language.queueing_delay_mean_s, acme.stranded_gpu_days, acme.cost_usd, "
            "beta.stranded_gpu_days, beta.cost_usd, fleet.stranded_gpu_days, "
            "fleet.utilisation, fleet.cost_usd",
            id="an-unknown-metric-lists-the-metrics",
        ),
        pytest.param(
            ["--grid", "gpus=0,16", "--grid", "start=2024-01-02", "--seeds", "0"],
            "--seeds 0: at least 1",
            id="zero-seeds",
        ),
        pytest.param(
            ["--grid", "gpus=0,16", "--grid", "start=2024-01-02", "--workers", "0"],
            "--workers 0: at least 1",
            id="zero-workers",
        ),
        pytest.param(
            ["--grid", "gpus=0,12", "--grid", "start=2024-01-02"],
            "sweep cell gpus=12 start=2024-01-02: --move '12 H100 acme->beta 2024-01-02': "
            "12 GPUs are not whole nodes: acme's H100-SXM pools have 8 GPUs per node (expected "
            "N TYPE FROM->TO[@SITE] DATE[..END] [price=USD] [pool=NAME], e.g. "
            "'12000 H100 tesla->xai 2024-06-15')",
            id="a-cell-that-does-not-fit",
        ),
        pytest.param(
            ["--grid", "gpus=0,16", "--grid", "start=2024-01-02", "-o", "/no/such/dir/out"],
            "-o /no/such/dir/out: folder /no/such/dir does not exist",
            id="an-output-folder-whose-parent-is-missing",
        ),
        pytest.param(
            ["--grid", "gpus=0,16", "--grid", "start=2024-01-02", "--file", "x.yaml"],
            "--file: give the templates and the grid in the file or as flags, not both",
            id="a-file-and-flags",
        ),
    ],
)
def test_the_command_exits_2_on_bad_input_before_running(
    small_file: Path, tmp_path: Path, capsys: Capture, flags: list[str], message: str
) -> None:
    argv = ["sweep", str(small_file), "--template", LEND, "-o", str(tmp_path / "o"), *flags]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"gpufleet: {message}\n")
    assert not (tmp_path / "o").exists()


def test_three_axes_need_no_heatmap(small_file: Path, tmp_path: Path, capsys: Capture) -> None:
    argv = ["sweep", str(small_file), "--template", LEND, "--template", "weight: vision={w}"]
    argv += ["--grid", "gpus=0", "--grid", "start=2024-01-02", "--grid", "w=1,2", "--seeds", "1"]
    argv += ["-o", str(tmp_path / "o")]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "gpufleet: a heat map needs 1 or 2 grid axes, not 3; add --no-heatmap\n"
    )
    assert main([*argv, "--no-heatmap"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["sweep.csv", "sweep.json"]


@pytest.mark.slow  # starts a Ray cluster (about 10 s each); .ci/run runs it
def test_the_command_runs_on_a_ray_cluster_it_starts_and_stops(
    small_file: Path, tmp_path: Path, capsys: Capture
) -> None:
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'gpufleet[ray]'")
    argv = ["sweep", str(small_file), "--template", LEND, "--grid", "gpus=0,16"]
    argv += ["--grid", "start=2024-01-03", "--seeds", "2", "--json", "--no-heatmap"]
    assert main([*argv, "-o", str(tmp_path / "local")]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*argv, "-o", str(tmp_path / "ray"), "--ray", "local", "--workers", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == local
    assert not ray.is_initialized()


def test_the_command_without_ray_installed_says_how_to_get_it(
    small_file: Path, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    argv = ["sweep", str(small_file), "--template", LEND, "--grid", "gpus=0,16"]
    argv += ["--grid", "start=2024-01-03", "--ray", "auto", "-o", str(tmp_path / "o")]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "gpufleet: `sweep --ray` needs the 'ray' extra (ray is not installed): "
        "pip install 'gpufleet[ray]' (from a checkout: pip install -e '.[ray]')\n"
    )


def test_a_scenario_survives_pickling_whole_as_workers_receive_it(small: Scenario) -> None:
    again = pickle.loads(pickle.dumps(small))
    assert (again.workloads, again.pools, again.entities) == (
        small.workloads,
        small.pools,
        small.entities,
    )
    assert run_task(again, 7) == run_task(small, 7)
