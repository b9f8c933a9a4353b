"""A mapping the register contradicts, through ``gpufleet observe`` and ``status`` on a
SQLite register seeded from tests/live/register/kubernetes.yaml (programs fsd-training of
tesla and grok of xai) and the hand-written Kubernetes snapshots: the entry is recorded as
a failure of source ``mapping`` naming the file, line and field, and left out, so its
GPUs are shown as unmapped instead of counted under an entity the register does not give
the program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpufleet.cli.main import main

Capture = pytest.CaptureFixture[str]
LIVE = Path(__file__).parent
REGISTER = LIVE / "register" / "kubernetes.yaml"
SNAPSHOTS = LIVE / "samples" / "kubernetes"
MAPPING = LIVE / "samples" / "mapping" / "kubernetes.yaml"
GOVERNANCE = Path(__file__).parents[2] / "src" / "gpufleet" / "data" / "article-governance.yaml"


def observed(tmp_path: Path, capsys: Capture, mapping_text: str) -> dict[str, Any]:
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    assert main(["db", "seed", str(REGISTER), "--governance", str(GOVERNANCE), "--db", db]) == 0
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping_text)
    config = tmp_path / "live.yaml"
    config.write_text(f"mapping: {mapping}\nsources:\n  kubernetes: {{snapshots: {SNAPSHOTS}}}\n")
    assert main(["observe", "--config", str(config), "--db", db]) == 0
    capsys.readouterr()
    assert main(["status", "--json", "--db", db]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_a_queue_and_namespace_mapped_to_a_program_of_another_entity_are_named_not_counted(
    tmp_path: Path, capsys: Capture
) -> None:
    text = (
        MAPPING.read_text()
        .replace("grok: {entity: xai, program: grok}", "grok: {entity: tesla, program: grok}")
        .replace("xai-cq: {entity: xai, program: grok}", "xai-cq: {entity: tesla, program: grok}")
    )
    doc = observed(tmp_path, capsys, text)
    lines = text.splitlines()
    file = tmp_path / "mapping.yaml"
    failed = {f["asked"]: f["error"] for f in doc["failures"] if f["source"] == "mapping"}
    wrong = "program 'grok' belongs to entity 'xai' in the register, not 'tesla'"
    assert {k: wrong in v for k, v in failed.items()} == {
        f"{file}:{lines.index('    grok: {entity: tesla, program: grok}') + 1}: "
        "kubernetes.namespaces.grok.program": True,
        f"{file}:{lines.index('    xai-cq: {entity: tesla, program: grok}') + 1}: "
        "kubernetes.cluster_queues.xai-cq.program": True,
    }
    unmapped = {(u["kind"], u["name"]): u["gpus"] for u in doc["unmapped"]}
    # unmapped, not a program grok of tesla's: grok-eval-0's 2 GPUs, and the pending
    # workloads grok-sft (2 pods x 2) and grok-pretrain (2 pods x 8): 2 + 4 + 16 = 22
    assert unmapped[("namespace", "grok")] == 2 + 2 * 2 + 2 * 8
    assert [d for d in doc["demand"] if d["program"] == "grok"] == []
    assert doc["by_entity"]["tesla"]["stranded_now"] == 16  # the rest was observed


def test_the_right_mapping_records_no_failure_of_the_mapping(
    tmp_path: Path, capsys: Capture
) -> None:
    doc = observed(tmp_path, capsys, MAPPING.read_text())
    assert [f for f in doc["failures"] if f["source"] == "mapping"] == []
    assert [u for u in doc["unmapped"] if u["name"] == "grok"] == []
