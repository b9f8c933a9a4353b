"""Slurm's small languages, case by case: GRES and TRES strings, host and index lists,
durations; and choosing a way into Slurm by name."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.live.errors import SourceError
from gpufleet.live.jsonread import At
from gpufleet.live.slurm import GpuCount, TresLimit, open_slurm
from gpufleet.live.slurm.gres import gpus_of_tres, gres_counts, host_list, index_list, tres_list
from gpufleet.live.slurm.text import duration_s

WHERE = At("test", "field", None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("gpu:h100:8(S:0)", (GpuCount("h100", 8),), id="node-gres-with-sockets"),
        pytest.param("gpu:a100:0(IDX:N/A)", (GpuCount("a100", 0),), id="nothing-used"),
        pytest.param("gres:gpu:h100:4", (GpuCount("h100", 4),), id="22.05-tres-per-node"),
        pytest.param("gres/gpu:h100=4", (GpuCount("h100", 4),), id="later-tres-per-node"),
        pytest.param("gres:gpu:2", (GpuCount(None, 2),), id="untyped"),
        pytest.param(
            "gpu:h100:4(S:0),gpu:a100:2(S:1)",
            (GpuCount("h100", 4), GpuCount("a100", 2)),
            id="two-types-commas-outside-parentheses",
        ),
        pytest.param("shard:h100:16,gpu:h100:8", (GpuCount("h100", 8),), id="other-gres-left"),
        pytest.param("(null)", (), id="none"),
    ],
)
def test_gres_strings(text: str, expected: tuple[GpuCount, ...]) -> None:
    assert gres_counts(WHERE, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("gf-h100-[1-2],gf-a100-1", ("gf-h100-1", "gf-h100-2", "gf-a100-1"), id="mix"),
        pytest.param("n[08-10]", ("n08", "n09", "n10"), id="zero-padded"),
        pytest.param("r[1,3-4]x", ("r1x", "r3x", "r4x"), id="ranges-and-suffix"),
        pytest.param("", (), id="empty"),
    ],
)
def test_host_lists(text: str, expected: tuple[str, ...]) -> None:
    assert host_list(WHERE, text) == expected


def test_tres_list_keeps_whole_counts_and_skips_memory() -> None:
    tres = tres_list(WHERE, "cpu=1,mem=62.50G,node=1,billing=41,gres/gpu=4,gres/gpu:h100=4")
    assert tres == (
        TresLimit("cpu", 1),
        TresLimit("node", 1),
        TresLimit("billing", 41),
        TresLimit("gres/gpu", 4),
        TresLimit("gres/gpu:h100", 4),
    )
    assert gpus_of_tres(tres) == (4, "h100")
    # two types: the count is gres/gpu's, the type is not one
    two = tres_list(WHERE, "gres/gpu=6,gres/gpu:h100=4,gres/gpu:a100=2")
    assert gpus_of_tres(two) == (6, None)
    assert gpus_of_tres(tres_list(WHERE, "cpu=4")) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("60 sec", 60, id="seconds"),
        pytest.param("00:01:00", 60, id="hh-mm-ss"),
        pytest.param("1-00:00:00", 86400, id="one-day"),
        pytest.param("7-12:30:05", ((7 * 24 + 12) * 60 + 30) * 60 + 5, id="days-and-time"),
        pytest.param("05:00", 300, id="mm-ss"),
        pytest.param("INFINITE", None, id="infinite"),
        pytest.param("NONE", None, id="none"),
    ],
)
def test_durations(text: str, seconds: int | None) -> None:
    assert duration_s("scontrol show config", "Key", text) == seconds


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: index_list(WHERE, "0-x"),
            "test: field: index range '0-x' is not understood (expected N or N-M)",
            id="index-range",
        ),
        pytest.param(
            lambda: host_list(WHERE, "n[1-2"),
            "test: field: host list item 'n[1-2' is not understood (expected name[1-3,5])",
            id="open-bracket",
        ),
        pytest.param(
            lambda: tres_list(WHERE, "gres/gpu"),
            "test: field: TRES item 'gres/gpu' has no '=' (expected NAME=COUNT, e.g. gres/gpu=4)",
            id="tres-without-count",
        ),
    ],
)
def test_malformed_strings_name_the_field(call: Callable[[], object], message: str) -> None:
    with pytest.raises(SourceError) as err:
        call()
    assert str(err.value) == message


def test_an_unknown_mode_lists_the_two_ways_in() -> None:
    with pytest.raises(UnknownNameError) as err:
        open_slurm("ssh")
    assert str(err.value) == "unknown Slurm source mode 'ssh'; valid names: commands, rest"


def test_the_rest_mode_needs_a_socket() -> None:
    with pytest.raises(InputError) as err:
        open_slurm("rest")
    assert "rest_socket: is empty (expected the path of slurmrestd's UNIX socket)" in str(err.value)
