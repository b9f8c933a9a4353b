"""A node on the real dev cluster drained with a reason written to look like sinfo's
text fields (a ``|`` and every field after it, as an allocated node's) reads the same
through sinfo's text as through ``sinfo --json``: the reason is the last field and takes
the rest of the line. In its own module: it holds the cluster's lock itself, which
test_slurm_text_live.py's story holds for its whole module."""

from __future__ import annotations

import pytest

from gpufleet.live.runner import SubprocessRunner
from gpufleet.live.slurm import SlurmCliSource
from gpufleet.live.slurm.model import NodeState
from tests.live.devcluster import DevCluster
from tests.live.scene import DOWN_NODE, clean

pytestmark = pytest.mark.live

FAKE = "x|allocated|h100|gpu:h100:8|gpu:h100:8(IDX:0-7)|16|16/0/0/16|root(0)|1|none|"


def test_a_node_drained_with_a_reason_mimicking_fields_reads_as_the_json(
    devcluster: DevCluster,
) -> None:
    with devcluster.exclusive():
        clean(devcluster)
        try:
            devcluster.slurm(
                "scontrol", "update", f"nodename={DOWN_NODE}", "state=drain", f"reason={FAKE}"
            )
            runner = SubprocessRunner(env=devcluster.env)
            text = SlurmCliSource(runner, nodes_format="text").nodes()
            assert text == devcluster.cli().nodes()
            node = next(n for n in text if n.name == DOWN_NODE)
            assert node.reason == FAKE
            assert "DRAIN" in node.flags and node.state is not NodeState.ALLOCATED
            assert node.gpu_used == 0
        finally:
            clean(devcluster)
