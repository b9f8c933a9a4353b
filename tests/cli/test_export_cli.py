"""``gpufleet export`` through ``main(argv)``: what goes to stdout, the files and folders -o
writes, and exit code 2 with a message that says what was wrong for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.planning.export import target

Capture = pytest.CaptureFixture[str]
ROOT = Path(__file__).resolve().parents[2]
ARTICLE = str(ROOT / "src" / "gpufleet" / "data" / "article.yaml")
SMALL_LAB = str(ROOT / "examples" / "small-lab.yaml")


def test_export_prints_the_allocation_at_the_start_by_default(capsys: Capture) -> None:
    assert main(["export", "kueue", SMALL_LAB]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("# gpufleet export for Kueue: scenario 'small-lab'\n")
    assert "# allocation in force at 2025-03-01 00:00:00 UTC\n" in out
    view = target("kueue").read(out)
    assert [lim.nominal_gpus for _, lim in view["llm-pretrain"].gpus] == [64]


def test_export_at_a_date_of_a_variant_shows_the_moved_quota(capsys: Capture) -> None:
    assert main(["export", "slurm", ARTICLE, "--variant", "move", "--at", "2024-06-15"]) == 0
    out, _ = capsys.readouterr()
    assert "# gpufleet export for Slurm: scenario 'article-tesla-xai [move]'\n" in out
    assert "name=grok-pretraining set fairshare=100 grptres=gres/gpu:h100=22000\n" in out
    assert "name=fsd-training set fairshare=100 grptres=gres/gpu:h100=10000\n" in out


def test_a_timestamp_with_a_time_zone_is_taken_in_utc(capsys: Capture) -> None:
    # 2024-06-15 01:00 in Paris is 2024-06-14 23:00 UTC: still before the transfer
    at = "2024-06-15T01:00:00+02:00"
    assert main(["export", "kai", ARTICLE, "--variant", "move", "--at", at]) == 0
    out, _ = capsys.readouterr()
    assert "# allocation in force at 2024-06-14 23:00:00 UTC\n" in out
    assert target("kai").read(out)["grok-pretraining"].gpus[0][1].nominal_gpus == 10_000


def test_out_writes_the_target_file_into_the_folder(tmp_path: Path, capsys: Capture) -> None:
    out_dir = tmp_path / "exports"
    assert main(["export", "yunikorn", SMALL_LAB, "--at", "2025-03-17", "-o", str(out_dir)]) == 0
    written = out_dir / "yunikorn-queues.yaml"
    assert capsys.readouterr().out == f"wrote {written}\n"
    assert "eval" in target("yunikorn").read(written.read_text())


def test_timeline_writes_one_folder_per_date_on_which_quotas_change(
    tmp_path: Path, capsys: Capture
) -> None:
    argv = ["export", "volcano", ARTICLE, "--variant", "move", "--timeline", "-o", str(tmp_path)]
    assert main(argv) == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["2024-06-01", "2024-06-15"]
    before = target("volcano").read((tmp_path / "2024-06-01" / "volcano-queues.yaml").read_text())
    after = target("volcano").read((tmp_path / "2024-06-15" / "volcano-queues.yaml").read_text())
    assert before["grok-pretraining"].gpus[0][1].nominal_gpus == 10_000
    assert after["grok-pretraining"].gpus[0][1].nominal_gpus == 22_000
    assert capsys.readouterr().out.count("wrote ") == 2


def test_timeline_without_out_prints_every_date(capsys: Capture) -> None:
    assert main(["export", "kueue", SMALL_LAB, "--timeline"]) == 0
    out, _ = capsys.readouterr()
    assert out.count("# gpufleet export for Kueue") == 2
    assert "in force at 2025-03-17 00:00:00 UTC" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["export", "lsf", SMALL_LAB],
            "gpufleet: unknown export target 'lsf'; valid names: kai, kueue, slurm, volcano, "
            "yunikorn\n",
            id="unknown-target",
        ),
        pytest.param(
            ["export", "kueue", SMALL_LAB, "--at", "2025-02-30"],
            "gpufleet: --at 2025-02-30: not a date; expected YYYY-MM-DD or an ISO 8601 "
            "timestamp such as 2024-06-15T06:00:00\n",
            id="bad-date",
        ),
        pytest.param(
            ["export", "kueue", SMALL_LAB, "--at", "2025-04-01"],
            "gpufleet: --at 2025-04-01: 2025-04-01 00:00:00 is outside scenario 'small-lab'; "
            "expected an instant from its start 2025-03-01 00:00:00 to its end "
            "2025-03-31 00:00:00\n",
            id="after-the-end",
        ),
        pytest.param(
            ["export", "kueue", ARTICLE, "--at", "2024-05-31"],
            "gpufleet: --at 2024-05-31: 2024-05-31 00:00:00 is outside scenario "
            "'article-tesla-xai'; expected an instant from its start 2024-06-01 00:00:00 to "
            "its end 2025-03-31 00:00:00\n",
            id="before-the-start",
        ),
        pytest.param(
            ["export", "kueue", ARTICLE, "--variant", "moved"],
            "gpufleet: unknown variant 'moved'; valid names: base, keep, move\n",
            id="unknown-variant",
        ),
        pytest.param(
            ["export", "kueue", ARTICLE, "--timeline", "--at", "2024-06-15"],
            "gpufleet: give --at or --timeline, not both\n",
            id="at-and-timeline",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    argv: list[str], message: str, capsys: Capture
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", message)


def test_out_naming_a_file_exits_2(tmp_path: Path, capsys: Capture) -> None:
    afile = tmp_path / "taken"
    afile.write_text("x")
    assert main(["export", "kueue", SMALL_LAB, "-o", str(afile)]) == 2
    assert capsys.readouterr().err == f"gpufleet: -o {afile}: is a file; give a folder\n"


def test_a_missing_scenario_file_exits_2(tmp_path: Path, capsys: Capture) -> None:
    assert main(["export", "kueue", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in capsys.readouterr().err
