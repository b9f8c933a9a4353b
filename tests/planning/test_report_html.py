"""The what-if report (report.html, its PNG figures, whatif.json) and the CLI flags that
write it: ``gpufleet whatif --report DIR`` and ``gpufleet demo [--report-dir DIR |
--no-report]``. Runs use the ten-day SMALL scenario with a milestone added, against two
variants: the file's ``move`` (a transfer at no price) and ``late-west`` (west's power
three days late, so beta's GPUs are stranded)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from matplotlib import image as mpimg

from gpufleet.cli.main import main
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.planning.report.html import write_report
from gpufleet.planning.whatif.apply import apply_changes
from gpufleet.planning.whatif.changes import parse_delay
from gpufleet.planning.whatif.compare import Comparison, compare
from tests.support.small_scenario import with_defect

Capture = pytest.CaptureFixture[str]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("utilisation", "milestones", "queueing", "stranded")
NAMES = ("vision", "language", "acme", "beta", "base", "move", "late-west")

TEXT = (
    with_defect(
        "          H100-SXM: {nominal: 64}\n",
        "          H100-SXM: {nominal: 64}\n"
        "        milestone: {name: first model, gpu_hours: 2500, due: 2024-01-06}\n",
    )
    + "assumptions:\n  - every figure is made up\nsources:\n  - the gpufleet test suite\n"
)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "small.yaml"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def comparison(small: Path) -> Comparison:
    """What ``gpufleet whatif small.yaml --variant move --delay 'west +3d' --name late-west
    --seeds 2`` compares."""
    sc = load_scenario(small)
    late = apply_changes(sc, [(parse_delay("west +3d"), "west +3d")], "small [late-west]")
    return compare("base", {"base": sc, "move": sc.variant("move"), "late-west": late}, [7, 8])


@pytest.fixture(scope="module")
def report(comparison: Comparison, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(comparison, tmp_path_factory.mktemp("out") / "report")


# --- the files ----------------------------------------------------------------------------
def test_the_report_folder_holds_the_page_the_figures_and_the_json(report: Path) -> None:
    assert report.name == "report.html"
    names = sorted(p.name for p in report.parent.iterdir())
    assert names == sorted(["report.html", "whatif.json", *(f"{f}.png" for f in FIGURES)])


def test_the_page_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    for tag in ("<script", "<link", "@import", "url(", "href="):
        assert tag not in html, f"{tag} in the page"
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert len(sources) == len(FIGURES)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert len(re.findall(r"\ssrc=", html)) == len(FIGURES), "a src that is not a figure"


def test_the_embedded_figures_are_the_png_files(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    embedded = {
        base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    }
    on_disk = {(report.parent / f"{f}.png").read_bytes() for f in FIGURES}
    assert embedded == on_disk


@pytest.mark.parametrize("figure", FIGURES)
def test_each_figure_is_a_legible_png_that_is_not_blank(report: Path, figure: str) -> None:
    path = report.parent / f"{figure}.png"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert 20_000 < len(data) < 2_000_000
    pixels = mpimg.imread(path)[..., :3]
    height, width = pixels.shape[:2]
    assert width == 1500, "10 inches at 150 dpi"
    assert 600 <= height <= 3000
    assert float(pixels.std()) > 0.05
    drawn = (pixels < 0.9).any(axis=2).mean()
    assert drawn > 0.01, f"only {drawn:.1%} of the pixels are drawn"


def test_whatif_json_round_trips(report: Path, comparison: Comparison) -> None:
    assert json.loads((report.parent / "whatif.json").read_text()) == comparison.to_dict()


# --- what the page says -------------------------------------------------------------------
def test_the_page_names_every_program_entity_and_arm(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    for name in NAMES:
        assert name in html, name
    assert "first model" in html and "2024-01-06" in html
    assert "every figure is made up" in html and "the gpufleet test suite" in html
    assert "2 per arm (7, 8)" in html


def test_the_page_has_the_delta_tables_with_intervals_and_marks(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert html.count('<table class="deltas">') == 3 * 2, "programs, entities, fleet x 2"
    for text in ("difference", "95% interval", "milestone vs due date", "stranded GPU-days"):
        assert text in html, text
    assert "within noise" in html and "no change" in html
    # late power strands beta's 48 west GPUs for 3 days in every seed: 144 GPU-days
    assert "+144</td><td class=n>same in every seed" in html


def test_the_page_takes_its_numbers_from_the_json(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    d = json.loads((report.parent / "whatif.json").read_text())
    delta = d["deltas"]["move"]["entities"]["beta"]["gpu_hours_used"]["mean"]
    assert f"{delta:+,.0f}" in html
    used = d["arms"]["base"]["programs"]["vision"]["gpu_hours_received"]["mean"]
    assert f"{used:,.0f}" in html


def test_a_transfer_at_no_price_is_marked_below_fair_value(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    section = html[html.index("Intercompany charges") :]
    assert "beta owes acme" in section and "below fair value" in section


# --- gpufleet whatif --report -------------------------------------------------------------
WHATIF = ["--variant", "move", "--delay", "west +3d", "--name", "late-west", "--seeds", "2"]


def test_whatif_report_prints_its_path_and_writes_the_same_bytes_as_the_api(
    small: Path, report: Path, tmp_path: Path, capsys: Capture
) -> None:
    folder = tmp_path / "rep"
    assert main(["whatif", str(small), *WHATIF, "--report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(f"\nReport: {folder / 'report.html'}\n")
    assert "late-west" in out and "difference" in out  # the text tables as before
    # no timestamp, no machine-dependent bytes: the same comparison gives the same files
    for name in ("report.html", "whatif.json", *(f"{f}.png" for f in FIGURES)):
        assert (folder / name).read_bytes() == (report.parent / name).read_bytes(), name


@pytest.mark.parametrize(
    ("where", "says"),
    [
        pytest.param("missing/rep", "create it first", id="missing-parent"),
        pytest.param("notes.txt", "is a file", id="a-file"),
    ],
)
def test_whatif_report_into_a_bad_folder_exits_2_before_running(
    small: Path, tmp_path: Path, capsys: Capture, where: str, says: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a folder\n")
    folder = tmp_path / where
    assert main(["whatif", str(small), "--variant", "move", "--report", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"gpufleet: --report {folder}: ") and says in err
    assert not (tmp_path / "missing").exists()


# --- gpufleet demo ------------------------------------------------------------------------
def test_demo_writes_its_report_into_out_demo_report_by_default(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--scenario", str(small)]) == 0
    out = capsys.readouterr().out
    page = Path("out") / "demo-report" / "report.html"
    assert out.startswith("gpufleet demo: small\n")
    assert out.splitlines()[-1] == f"Report: {page}"
    assert out.splitlines()[-2].startswith("(1 runs, seed 7, ")  # the demo's own lines
    d = json.loads((tmp_path / page).with_name("whatif.json").read_text())
    # one variant in the file: the report compares it with the scenario as written
    assert (d["base"], d["variants"], d["seeds"]) == ("base", ["move"], [7, 8, 9])


def test_demo_json_with_a_report_dir_keeps_stdout_json(
    small: Path, tmp_path: Path, capsys: Capture
) -> None:
    folder = tmp_path / "demo"
    argv = ["demo", "--scenario", str(small), "--seed", "3", "--report-seeds", "2", "--json"]
    assert main([*argv, "--report-dir", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert sorted(json.loads(out)) == ["move"]
    assert err.strip().endswith(f"Report: {folder / 'report.html'}")
    assert json.loads((folder / "whatif.json").read_text())["seeds"] == [3, 4]


def test_demo_no_report_writes_nothing(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--scenario", str(small), "--no-report"]) == 0
    assert "Report:" not in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_demo_report_dir_with_a_missing_parent_exits_2(
    small: Path, tmp_path: Path, capsys: Capture
) -> None:
    folder = tmp_path / "missing" / "demo"
    assert main(["demo", "--scenario", str(small), "--report-dir", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"--report-dir {folder}" in err and "create it first" in err
