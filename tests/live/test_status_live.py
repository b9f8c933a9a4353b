"""The issue's story on the real dev cluster (scripts/devcluster/up), through the CLI:
tesla's new A100 node gf-a100-1 is DOWN "no power" while xai, at its cap of 4 GPUs,
has an H100 job pending on quota (AssocGrpGRES) and an A100 job pending on the powerless
node. ``gpufleet observe`` once, then ``gpufleet status --json``: the stranded GPU-days
and their cost as hand-computed, the drift of the caps named, and a lease suggested.
Skips when the cluster is down; jobs are cancelled and the node resumed afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpufleet.cli.main import main
from tests.live.devcluster import DevCluster, wait_for
from tests.live.scene import DOWN_NODE, _states, clean, sbatch

pytestmark = pytest.mark.live

HERE = Path(__file__).parent
REGISTER = HERE / "register" / "devcluster.yaml"
MAPPING = HERE / "samples" / "mapping" / "devcluster.yaml"
GOVERNANCE = HERE.parents[1] / "src" / "gpufleet" / "data" / "article-governance.yaml"
Capture = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def pending(devcluster: DevCluster) -> Iterator[tuple[int, int]]:
    """xai1's two 2-H100 jobs running (xai's cap of 4 reached), then a 2-H100 job pending
    on the cap and a 2-A100 job pending on the powerless node: (h100 job, a100 job)."""
    with devcluster.exclusive():
        clean(devcluster)
        devcluster.slurm(
            "scontrol", "update", f"nodename={DOWN_NODE}", "state=down", "reason=no power"
        )
        try:
            running = tuple(sbatch(devcluster, "xai1", "xai", "h100", "h100:2") for _ in (1, 2))
            wait_for("xai's two jobs running", lambda: _running(devcluster, running), 60)
            h100 = sbatch(devcluster, "xai1", "xai", "h100", "h100:2")
            a100 = sbatch(devcluster, "xai1", "xai", "a100", "a100:2")
            wait_for("Slurm's reasons", lambda: _decided(devcluster, (h100, a100)), 30)
            yield h100, a100
        finally:
            clean(devcluster)


def _running(cluster: DevCluster, ids: tuple[int, ...]) -> bool | None:
    return True if all(" RUNNING " in s for s in _states(cluster, ids)) else None


def _decided(cluster: DevCluster, ids: tuple[int, ...]) -> bool | None:
    states = _states(cluster, ids)
    return True if len(states) == 2 and not any(s.endswith(" None") for s in states) else None


@pytest.fixture(scope="module")
def status(
    devcluster: DevCluster, pending: tuple[int, int], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("story")
    db = f"sqlite:///{folder / 'fleet.db'}"
    config = folder / "live.yaml"
    config.write_text(
        "every: 60s\n"
        f"mapping: {MAPPING}\n"
        "sources:\n"
        f"  slurm: {{mode: commands, env: {{SLURM_CONF: {devcluster.env['SLURM_CONF']}}}}}\n"
        f"  prometheus: {{url: '{devcluster.prometheus_url}'}}\n"
    )
    assert main(["db", "seed", str(REGISTER), "--governance", str(GOVERNANCE), "--db", db]) == 0
    assert main(["observe", "--config", str(config), "--db", db]) == 0
    with pytest.MonkeyPatch.context() as mp:
        lines: list[str] = []
        mp.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
        rules = ["--min-gpus", "2", "--after", "60s"]
        assert main(["status", "--json", "--db", db, *rules]) == 0
    doc: dict[str, Any] = json.loads("\n".join(lines))
    return doc


def test_the_powerless_nodes_gpus_are_stranded_at_the_hand_computed_cost(
    status: dict[str, Any],
) -> None:
    assert status["failures"] == []
    buffalo = next(r for r in status["fleet"] if r["site"] == "buffalo")
    # 4 A100 x 60 s (one sample, every: 60s) / 86,400 s = 0.002778 GPU-days;
    # x $48 a GPU-day (24 h x $2, the register's flat rate) = $0.1333
    assert buffalo["now"]["stranded"] == 4
    assert buffalo["gpu_days"]["stranded"] == pytest.approx(4 * 60 / 86_400)
    assert buffalo["usd"]["stranded"] == pytest.approx(4 * 60 / 86_400 * 48)
    assert status["by_entity"]["tesla"]["stranded_usd"] == pytest.approx(4 * 60 / 86_400 * 48)
    (down,) = status["down_nodes"]
    assert (down["node"], down["reason"], down["gpus"]) == (DOWN_NODE, "no power", 4)


def test_xais_jobs_pend_on_quota_and_on_the_down_node(status: dict[str, Any]) -> None:
    got = {(d["gpu_type"], d["reason"]): d for d in status["demand"] if d["program"] == "grok"}
    quota = got[("H100-SXM", "waiting-for-quota")]
    assert (quota["gpus"], quota["scheduler_reasons"]) == (2, ["AssocGrpGRES"])
    assert got[("A100-80GB", "capacity-down")]["gpus"] == 2


def test_the_caps_in_force_are_named_against_the_plans_quota(status: dict[str, Any]) -> None:
    # grok: Slurm's gres/gpu=4 against the plan's 8 H100 + 0 A100; fsd-training: no cap
    # against 8 H100 + 4 A100
    assert [q["message"] for q in status["drift"]["quotas"]] == [
        "fsd-training: no GPU cap in force (account tesla), the plan's quota is 12 GPUs "
        "(all types)",
        "grok: a cap of 4 in force (account xai), the plan's quota is 8 GPUs (all types)",
    ]
    assert status["drift"]["counts"] == []  # every registered GPU is listed by Slurm


def test_a_lease_of_the_stranded_a100_node_to_xai_is_suggested_not_requested(
    status: dict[str, Any],
) -> None:
    leases = {x["kind"]: x for x in status["suggestions"]}
    stranded = leases["stranded"]
    # whole nodes: min(ceil(2 asked by xai's A100 job / 4 a node), floor(4 stranded / 4),
    # 1 node in buffalo-a100) = 1 node = 4 A100, to run at colossus (xai's site: buffalo
    # has no power)
    req = stranded["request"]
    assert (req["pool"], req["gpus"], req["from_entity"], req["to"]) == (
        "buffalo-a100",
        4,
        "tesla",
        "xai",
    )
    assert (req["to_site"], req["to_program"]) == ("colossus", "grok")
    assert (
        "gpufleet whatif plan.yaml --move '4 A100-80GB tesla->xai@colossus"
        in (stranded["assess_command"])
    )
    # an idle lease of tesla's memphis H100 needs a whole 8-GPU node idle: where Slurm
    # put xai's two running jobs is its choice, so only its shape is checked
    for lease in status["suggestions"]:
        assert lease["gpus"] % {"buffalo-a100": 4, "memphis-h100": 8}[lease["request"]["pool"]] == 0
