"""Slurm's billing weights per partition (``scontrol show partition -o``) and the factor
that turns sshare's RawUsage (billing units) into GPU-seconds for the forecast.

The dev cluster's partitions (recorded in samples/slurm/scontrol-show-partition-o.txt)
bill ``CPU=1.0,GRES/gpu=10.0``: a job of 2 CPUs and 3 GPUs bills 2 x 1 + 3 x 10 = 32 a
second (sshare's TRESRunMins on the cluster showed billing=32 for cpu=2,gres/gpu=3)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpufleet.live.errors import SourceError
from gpufleet.live.forecast import read_slurm_state, usage_billing
from gpufleet.live.runner import ReplayRunner
from gpufleet.live.slurm.billing import (
    SCONTROL_PARTITIONS,
    PartitionBilling,
    gpu_billing,
    parse_partitions,
    read_partitions,
)
from tests.live.replay import cli_client, replay

SOURCE = "scontrol show partition -o"


def test_the_recorded_partitions_bill_a_gpu_second_10_and_a_cpu_second_1() -> None:
    parts = read_partitions(replay())
    assert [(p.partition, dict(p.weights)) for p in parts] == [
        ("h100", {"cpu": 1.0, "gres/gpu": 10.0}),
        ("a100", {"cpu": 1.0, "gres/gpu": 10.0}),
    ]
    assert parts[0].gpu_weight("h100") == 10.0


def test_the_forecast_reads_the_factor_from_the_cluster_and_says_how() -> None:
    billing = usage_billing(read_slurm_state(cli_client()))
    assert billing.usage_per_gpu_s == 10.0
    (note,) = billing.notes
    assert "RawUsage / 10 GPU-seconds" in note and "0.1 GPU-second" in note


def test_a_typed_gpu_bills_the_untyped_and_the_typed_weight_and_suffixes_scale() -> None:
    line = "PartitionName=p TRESBillingWeights=CPU=0.5,Mem=0.25G,GRES/gpu=2,GRES/gpu:h100=8\n"
    (p,) = parse_partitions(SOURCE, line)
    # Mem=0.25G: 0.25 a GB, per MB as Slurm counts memory: 0.25 / 1024 (slurm.conf's
    # example: 8192 MB x 0.25 / 1024 = 2)
    assert p.weights["mem"] * 8192 == pytest.approx(2.0)
    # an H100 is tracked as gres/gpu and gres/gpu:h100: 2 + 8 = 10 a second; an A100 2
    assert (p.gpu_weight("h100"), p.gpu_weight("a100"), p.gpu_weight(None)) == (10.0, 2.0, 2.0)


def test_a_partition_without_weights_is_billed_by_cpus_and_said_so() -> None:
    parts = parse_partitions(
        SOURCE,
        "PartitionName=h100 TRESBillingWeights=CPU=1.0,GRES/gpu=10.0\nPartitionName=old State=UP\n",
    )
    billing = gpu_billing(parts, {("h100", "h100"): 16, ("old", "a100"): 4})
    assert billing.usage_per_gpu_s == 10.0
    assert billing.notes[0] == (
        "partition old sets no TRESBillingWeights: Slurm bills its jobs by their CPUs, so "
        "its 4 GPUs add no GPU usage to RawUsage"
    )


def test_partitions_billing_gpus_differently_take_the_most_gpus_weight_and_say_not_exact() -> None:
    parts = (
        PartitionBilling("h100", {"gres/gpu": 10.0}),
        PartitionBilling("a100", {"gres/gpu": 5.0}),
    )
    billing = gpu_billing(parts, {("h100", "h100"): 16, ("a100", "a100"): 4})
    assert billing.usage_per_gpu_s == 10.0  # 16 GPUs bill 10, 4 bill 5
    assert billing.notes[-1] == (
        "GPUs bill different weights (5 (4 GPUs), 10 (16 GPUs)): an account's RawUsage "
        "mixes them, and is divided by 10, the weight of the most GPUs (not exact)"
    )


def test_weights_that_cannot_be_read_leave_usage_as_is_and_say_why() -> None:
    runner = replay()
    del runner.outputs[SOURCE]
    state = read_slurm_state(cli_client(runner))
    assert state.partitions is None
    billing = usage_billing(state)
    assert billing.usage_per_gpu_s == 1.0
    (note,) = billing.notes
    assert note.startswith("the partitions' GPU billing weights could not be read (")
    assert "scontrol show partition -o" in note and "not recorded" in note


def test_a_malformed_weight_names_the_line_and_field() -> None:
    text = "PartitionName=a Nodes=x\nPartitionName=b TRESBillingWeights=GRES/gpu=ten\n"
    with pytest.raises(SourceError) as err:
        parse_partitions(SOURCE, text)
    assert err.value.render() == (
        "scontrol show partition -o:2: TRESBillingWeights: 'GRES/gpu=ten' is not a TRES and "
        "its weight (expected TRES=number with an optional K, M, G, T or P, e.g. "
        "GRES/gpu=10.0)"
    )


def test_a_malformed_answer_in_the_forecast_is_a_note_not_a_crash() -> None:
    runner = ReplayRunner({**replay().outputs, SOURCE: "PartitionName=h100 TRESBillingWeights=x"})
    state = read_slurm_state(cli_client(runner))
    assert state.partitions is None and "TRESBillingWeights" in state.partitions_error
    assert usage_billing(replace(state)).usage_per_gpu_s == 1.0
    assert SCONTROL_PARTITIONS == ("scontrol", "show", "partition", "-o")
