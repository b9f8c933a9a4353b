"""sacct over a window with no job: Slurm 22.05 answers ``Nothing found`` (error 9003) in
``errors`` beside an empty ``jobs`` (recorded from the dev cluster). That is an empty
history, not a failure; accounting lags the controller, so a reader polling for new jobs
meets it at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpufleet.live.errors import SourceError
from gpufleet.live.runner import ReplayRunner, command_text
from gpufleet.live.slurm import SlurmCliSource
from gpufleet.live.slurm.cli import sacct_command

EMPTY = Path(__file__).parent / "samples" / "sacct-empty" / "sacct-json-nothing-found.json"
SINCE = datetime(2026, 12, 6, 18, 40, tzinfo=UTC)


def client(text: str) -> SlurmCliSource:
    return SlurmCliSource(ReplayRunner({command_text(sacct_command(SINCE)): text}))


def test_nothing_found_is_an_empty_history() -> None:
    assert client(EMPTY.read_text()).history(SINCE) == ()


def test_another_error_beside_an_empty_list_still_stops_the_read() -> None:
    text = EMPTY.read_text().replace('"error_number": 9003', '"error_number": 1007')
    with pytest.raises(SourceError) as err:
        client(text).history(SINCE)
    assert "Slurm reported an error: Nothing found" in str(err.value)
