"""``gpufleet.whatif()``: the command's comparison from a notebook, typed (each figure an
Estimate), as a DataFrame, as text and as figures a notebook shows. The differences are
checked against runs made one by one through ``gpufleet.simulate`` (the oracle), and the
whole comparison against what ``gpufleet whatif --json`` prints for the same ask."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from matplotlib.figure import Figure

import gpufleet
from gpufleet.api import FRAME_COLUMNS, WhatIf
from gpufleet.cli.main import main
from gpufleet.errors import InputError
from gpufleet.extras import MissingExtraError
from tests.support.servers import ROOT
from tests.support.small_scenario import SMALL

SMALL_LAB = ROOT / "examples" / "small-lab.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("whatif-api") / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def wi(small: Path) -> WhatIf:
    # SMALL names one variant (move): the scenario as written is the base
    return gpufleet.whatif(small, seeds=3)


def test_the_differences_are_each_seeds_variant_minus_base_averaged(
    small: Path, wi: WhatIf
) -> None:
    assert (wi.base, wi.variants, wi.seeds) == ("base", ["move"], [7, 8, 9])  # seed: 7
    # the oracle: each run made on its own; difference = mean over seeds of (move - base)
    diffs = []
    for s in wi.seeds:
        base = gpufleet.simulate(small, seed=s).metrics.fleet.stranded_gpu_days
        move = gpufleet.simulate(small, variant="move", seed=s).metrics.fleet.stranded_gpu_days
        diffs.append(move - base)
    d = wi.delta("move", "stranded_gpu_days")
    assert d.mean == pytest.approx(statistics.fmean(diffs), abs=1e-9)
    assert d.n == 3
    got = []
    for s in wi.seeds:
        b = gpufleet.simulate(small, seed=s).metrics.programs["vision"].gpu_hours_received
        m = gpufleet.simulate(small, variant="move", seed=s).metrics.programs["vision"]
        got.append(m.gpu_hours_received - b)
    prog = wi.delta("move", "gpu_hours_received", program="vision")
    assert prog.mean == pytest.approx(statistics.fmean(got), abs=1e-9)


def test_the_frame_has_one_row_per_figure_and_agrees_with_the_typed_estimates(
    wi: WhatIf,
) -> None:
    df = wi.to_frame()
    assert tuple(df.columns) == FRAME_COLUMNS
    # 2 programs x 9 metrics + 2 entities x 6 + the fleet's 4 = 34 figures, for each of the
    # two arms' means and the one variant's differences: 3 x 34 rows
    assert len(df) == 3 * (2 * 9 + 2 * 6 + 4)
    row = df[(df.figure == "difference") & (df.scope == "fleet") & (df.metric == "utilisation")]
    est = wi.delta("move", "utilisation")
    assert row.iloc[0][["arm", "mean", "ci95_low", "ci95_high", "n"]].tolist() == [
        "move",
        est.mean,
        est.low,
        est.high,
        3,
    ]
    polars = wi.to_frame("polars")
    assert polars.shape == (len(df), len(FRAME_COLUMNS))


def test_the_frame_without_the_frames_extra_names_it(
    wi: WhatIf, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'gpufleet\[frames\]'"):
        wi.to_frame()


def test_a_notebook_shows_the_text_tables_and_each_plot_as_a_png(wi: WhatIf) -> None:
    html = wi._repr_html_()
    assert html.startswith("<pre>What-if: base &#x27;base&#x27; against move; 3 seeds")
    plots = wi.plots()
    assert [p.name for p in plots] == ["utilisation", "milestones", "queueing", "stranded"]
    assert all(p._repr_png_().startswith(PNG_MAGIC) for p in plots)
    # all four at once, as the report shows them: each titled, its PNG embedded
    shown = plots._repr_html_()
    assert shown.count('<img src="data:image/png;base64,iVBORw0KGgo') == 4  # PNG_MAGIC, base64
    assert shown.index("<h3>Utilisation by entity") < shown.index("<h3>Stranded capacity")
    figures = wi.figures()
    assert list(figures) == [p.name for p in plots]
    assert all(isinstance(f, Figure) for f in figures.values())


def test_the_api_and_the_command_compare_the_same_arms_to_the_same_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wi = gpufleet.whatif(SMALL_LAB, changes={"delay": ["colo-h100 +30d"]}, seeds=2)
    argv = ["whatif", str(SMALL_LAB), "--delay", "colo-h100 +30d", "--seeds", "2", "--json"]
    assert main([*argv, "-q"]) == 0
    assert wi.to_dict() == json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": 0}, "seeds=0: at least 1"),
        ({"changes": {"shift": ["x"]}}, "unknown change kind 'shift' for 'x'"),
        ({"variants": ["nope"]}, "nope"),
    ],
    ids=["no-seeds", "unknown-change-kind", "unknown-variant"],
)
def test_a_bad_ask_is_an_input_error_saying_what(
    small: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        gpufleet.whatif(small, **kwargs)  # type: ignore[arg-type]


def test_asking_for_a_figure_that_is_not_there_names_what_is(wi: WhatIf) -> None:
    with pytest.raises(InputError, match=r"no program 'nope' in this comparison"):
        wi.delta("move", "gpu_hours_received", program="nope")
    with pytest.raises(InputError, match=r"no arm 'keep'"):
        wi.deltas("keep")
