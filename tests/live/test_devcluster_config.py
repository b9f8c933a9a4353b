"""The dev cluster's configuration files as scripts/devcluster writes them (lib.sh and
write_config.sh, sourced by ``up``), into a temporary state folder: the default three
nodes, a node list from GPUFLEET_DEVCLUSTER_NODES with nodes declared without a slurmd
(bench/observe_bench.py's 10,000 GPUs), and bad node lines. No daemon is started."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "devcluster"


def write_configs(state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = f". {SCRIPTS}/lib.sh; . {SCRIPTS}/write_config.sh; mkdir -p $GF_STATE/etc; "
    script += "write_configs testhost"
    return subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", "GPUFLEET_DEVCLUSTER_STATE": str(state), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def node_lines(state: Path) -> list[str]:
    text = (state / "etc" / "slurm.conf").read_text()
    return [line for line in text.splitlines() if line.startswith(("NodeName=", "Partition"))]


def test_the_default_cluster_is_the_three_nodes_it_always_was(tmp_path: Path) -> None:
    done = write_configs(tmp_path)
    assert done.returncode == 0, done.stderr
    # slurmd ports: GF_SLURMD_PORT0 (16820) + the node's index
    common = "NodeAddr=127.0.0.1 NodeHostname=testhost"
    res = "CPUs=16 RealMemory=64000"
    assert node_lines(tmp_path)[:3] == [
        f"NodeName=gf-h100-1 {common} Port=16820 {res} Gres=gpu:h100:8 State=UNKNOWN",
        f"NodeName=gf-h100-2 {common} Port=16821 {res} Gres=gpu:h100:8 State=UNKNOWN",
        f"NodeName=gf-a100-1 {common} Port=16822 {res} Gres=gpu:a100:4 State=UNKNOWN",
    ]
    gres = (tmp_path / "etc" / "gres.conf").read_text().splitlines()
    assert len(gres) == 1 + 3  # AutoDetect=off, then one line per node
    assert "scrape_interval: 1s" in (tmp_path / "etc" / "prometheus.yml").read_text()


def test_a_node_file_declares_nodes_without_slurmd_down_and_without_devices(
    tmp_path: Path,
) -> None:
    nodes = tmp_path / "nodes"
    nodes.write_text("# two nodes\nn-1 h100 8 h100\n\nn-2 h100 8 h100 none\n")
    state = tmp_path / "state"
    done = write_configs(
        state,
        GPUFLEET_DEVCLUSTER_NODES=str(nodes),
        GPUFLEET_DEVCLUSTER_SCRAPE_INTERVAL="10s",
    )
    assert done.returncode == 0, done.stderr
    lines = node_lines(state)
    assert lines[0].endswith("Port=16820 CPUs=16 RealMemory=64000 Gres=gpu:h100:8 State=UNKNOWN")
    assert lines[1].endswith(
        "Port=16821 CPUs=16 RealMemory=64000 Gres=gpu:h100:8 State=DOWN "
        'Reason="declared only, no slurmd"'
    )
    assert lines[2].startswith("PartitionName=h100 Nodes=n-1,n-2 ")
    gres = (state / "etc" / "gres.conf").read_text()
    assert "NodeName=n-1 " in gres and "NodeName=n-2 " not in gres
    assert len(list((state / "dev" / "n-1").iterdir())) == 8
    assert not (state / "dev" / "n-2").exists()
    assert "scrape_interval: 10s" in (state / "etc" / "prometheus.yml").read_text()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("n-1 h100 eight h100\n", "node line 'n-1 h100 eight h100'"),
        ("n-1 h100 8 h100 maybe\n", "[slurmd|none]"),
        ("# only a comment\n", "no node lines in"),
    ],
    ids=["gpus-not-a-number", "unknown-fifth-word", "no-node-lines"],
)
def test_a_bad_node_file_is_exit_2_naming_the_line(tmp_path: Path, text: str, said: str) -> None:
    nodes = tmp_path / "nodes"
    nodes.write_text(text)
    done = write_configs(tmp_path / "state", GPUFLEET_DEVCLUSTER_NODES=str(nodes))
    assert done.returncode == 2
    assert said in done.stderr
    assert not (tmp_path / "state" / "etc" / "slurm.conf").exists()
