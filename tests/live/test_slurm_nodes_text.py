"""The nodes from sinfo's text fields (gpufleet.live.slurm.nodes_text), on hand-written
lines of :data:`SINFO_TEXT`'s answer: what each field becomes, a reason written to look
like fields, a node in two partitions, what sinfo prints for values not set, and every
malformed field refused with the command, the line and the field. The same nodes as
``sinfo --json`` on the real cluster: test_slurm_text_live.py and
test_slurm_nodes_text_abuse_live.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.live.config import LiveConfigError, load_settings
from gpufleet.live.cycle import open_sources
from gpufleet.live.errors import SourceError
from gpufleet.live.runner import ReplayRunner, command_text
from gpufleet.live.slurm import SlurmCliSource
from gpufleet.live.slurm.model import GpuCount, NodeState
from gpufleet.live.slurm.nodes_text import FIELDS, SINFO_TEXT, parse_sinfo_text

SINFO = command_text(SINFO_TEXT)
# nodelist|statecomplete|partitionname|gres|gresused|cpus|cpusstate|userlong|timestamp|reason|
IDLE = "gf-h100-1|idle|h100|gpu:h100:8|gpu:h100:0(IDX:N/A)|16|0/16/0/16|Unknown|Unknown|none|"
MIXED = (
    "gf-h100-2|mixed|h100|gpu:h100:8(S:0-1)|gpu:h100:6(IDX:0-5)|16|6/10/0/16|Unknown|Unknown|none|"
)
DOWN = (
    "gf-a100-1|down+not_responding|a100|gpu:a100:4|gpu:a100:0(IDX:N/A)|16|0/0/16/16"
    "|slurm(64030)|1796648318|no power|"
)


def test_an_idle_node_with_no_reason_reads_as_the_json_reads_it() -> None:
    (node,) = parse_sinfo_text(SINFO, IDLE)
    assert node.name == "gf-h100-1"
    assert (node.state, node.flags) == (NodeState.IDLE, ())
    # sinfo prints "none" / "Unknown" where the JSON has "" / null / 0
    assert (node.reason, node.reason_set_by, node.reason_time) == ("", "", None)
    assert node.partitions == ("h100",)
    assert node.gpus == (GpuCount("h100", 8),)
    assert node.gpus_used == (GpuCount("h100", 0),)
    assert (node.cpus, node.cpus_allocated) == (16, 0)


def test_a_mixed_node_counts_its_allocated_cpus_and_used_gpus() -> None:
    (node,) = parse_sinfo_text(SINFO, MIXED)
    assert node.state is NodeState.MIXED
    assert node.gpus_used == (GpuCount("h100", 6),)
    assert node.cpus_allocated == 6  # CPUsState allocated/idle/other/total: 6/10/0/16


def test_a_down_node_keeps_its_flags_reason_user_and_time() -> None:
    (node,) = parse_sinfo_text(SINFO, DOWN)
    assert (node.state, node.flags) == (NodeState.DOWN, ("NOT_RESPONDING",))
    assert node.reason == "no power"
    assert node.reason_set_by == "slurm"  # UserLong "slurm(64030)": the name
    assert node.reason_time == datetime.fromtimestamp(1796648318, UTC)
    assert not node.usable


def test_a_reason_written_to_look_like_fields_moves_none() -> None:
    fake = "x|allocated|h100|gpu:h100:8|gpu:h100:8(IDX:0-7)|16|16/0/0/16|root(0)|1|y|"
    line = (
        "gf-h100-1|idle+drain|h100|gpu:h100:8|gpu:h100:0(IDX:N/A)|16|0/16/0/16"
        f"|root(0)|1796648318|{fake}|"
    )
    (node,) = parse_sinfo_text(SINFO, line)
    assert node.reason == fake  # the last field takes the rest of the line, whole
    assert (node.state, node.flags) == (NodeState.IDLE, ("DRAIN",))
    assert node.gpus_used == (GpuCount("h100", 0),)
    assert node.cpus_allocated == 0


def test_a_reason_written_none_by_an_admin_is_kept_since_it_has_a_time() -> None:
    line = IDLE.replace("|Unknown|Unknown|none|", "|root(0)|1796648318|none|")
    assert parse_sinfo_text(SINFO, line)[0].reason == "none"


def test_a_node_in_two_partitions_is_one_node_with_both() -> None:
    other = IDLE.replace("|h100|", "|all|")
    nodes = parse_sinfo_text(SINFO, f"{IDLE}\n{MIXED}\n{other}\n")
    assert [n.name for n in nodes] == ["gf-h100-1", "gf-h100-2"]
    assert nodes[0].partitions == ("h100", "all")


def test_an_empty_answer_is_no_nodes() -> None:
    assert parse_sinfo_text(SINFO, "\n") == ()


def test_the_source_reads_the_text_when_asked_and_the_json_by_default() -> None:
    replay = ReplayRunner({SINFO: IDLE + "\n"})
    nodes = SlurmCliSource(replay, nodes_format="text").nodes()
    assert [n.name for n in nodes] == ["gf-h100-1"]
    with pytest.raises(ValueError, match="nodes_format 'xml'"):
        SlurmCliSource(replay, nodes_format="xml")


def _cells(**changed: str) -> str:
    cells = dict(zip(FIELDS, IDLE[:-1].split("|"), strict=True)) | changed
    return "|".join(cells.values()) + "|"


BAD = [
    pytest.param(IDLE[:-1], "<line>", "each field ending in '|'", id="no-closing-bar"),
    pytest.param("gf-h100-1|idle|h100|", "<line>", "10: nodelist", id="too-few-fields"),
    pytest.param(_cells(statecomplete="sleeping"), "statecomplete", "one of IDLE", id="state"),
    pytest.param(_cells(statecomplete="idle drain"), "statecomplete", "e.g. idle", id="state-odd"),
    pytest.param(_cells(statecomplete=""), "statecomplete", "e.g. idle", id="state-empty"),
    pytest.param(_cells(nodelist=""), "nodelist", "a node or partition name", id="name-empty"),
    pytest.param(_cells(nodelist="gf-[1-2]"), "nodelist", "a node or", id="name-a-list"),
    pytest.param(_cells(partitionname="a b"), "partitionname", "a node or", id="partition"),
    pytest.param(_cells(gres="gpu:h100:x"), "gres", "gpu[:TYPE]:COUNT", id="gres"),
    pytest.param(_cells(gresused="gpu:h100"), "gresused", "gpu[:TYPE]:COUNT", id="gres-used"),
    pytest.param(_cells(cpus="16.0"), "cpus", "digits", id="cpus"),
    pytest.param(_cells(cpusstate="0/16/0"), "cpusstate", "allocated/idle", id="cpus-state"),
    pytest.param(_cells(userlong="root"), "userlong", "NAME(UID) or Unknown", id="user"),
    pytest.param(_cells(timestamp="2026-12-07T10:00:00"), "timestamp", "digits", id="time"),
]


@pytest.mark.parametrize(("line", "field", "expected"), BAD)
def test_a_malformed_field_is_refused_naming_command_line_and_field(
    line: str, field: str, expected: str
) -> None:
    with pytest.raises(SourceError) as caught:
        parse_sinfo_text(SINFO, f"{IDLE}\n{line}\n")
    error = caught.value
    assert (error.source, error.line, error.field) == (SINFO, 2, field)
    assert expected in error.expected


def test_a_node_listed_again_with_other_values_is_refused() -> None:
    again = MIXED.replace("gf-h100-2|", "gf-h100-1|").replace("|h100|", "|all|")
    with pytest.raises(SourceError, match="listed again with other values") as caught:
        parse_sinfo_text(SINFO, f"{IDLE}\n{again}\n")
    assert (caught.value.source, caught.value.line) == (SINFO, 2)


def test_a_node_format_slurm_has_not_is_refused_naming_the_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mapping.yaml").write_text("slurm: {accounts: {}}\n")
    config = tmp_path / "live.yaml"
    config.write_text("mapping: mapping.yaml\nsources:\n  slurm:\n    nodes: yaml\n")
    expected = f"{config}:4: sources.slurm.nodes: Input should be 'text' or 'json', got 'yaml'"
    with pytest.raises(LiveConfigError) as bad:
        load_settings(config)
    assert expected in str(bad.value)
    assert main(["observe", "--config", str(config)]) == 2  # the input's fault, not 1
    assert expected in capsys.readouterr().err


def test_observe_reads_the_nodes_from_sinfo_json_unless_the_file_says_text(
    tmp_path: Path,
) -> None:
    # JSON by default: sinfo's text answer leaves out a node in no partition
    config = tmp_path / "live.yaml"
    config.write_text("mapping: mapping.yaml\nsources:\n  slurm: {mode: commands}\n")
    (tmp_path / "mapping.yaml").write_text("slurm: {accounts: {}}\n")
    slurm = open_sources(load_settings(config)).slurm
    assert isinstance(slurm, SlurmCliSource) and slurm.nodes_format == "json"
    config.write_text("mapping: mapping.yaml\nsources:\n  slurm: {nodes: text}\n")
    slurm = open_sources(load_settings(config)).slurm
    assert isinstance(slurm, SlurmCliSource) and slurm.nodes_format == "text"
