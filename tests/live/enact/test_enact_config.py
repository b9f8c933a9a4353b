"""``sources.slurm.enact`` in the live configuration: its defaults, and each bad value an
error naming the file, the line and the field, with what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.live.config import LiveConfigError, load_settings


def _config(tmp_path: Path, slurm: str) -> Path:
    (tmp_path / "mapping.yaml").write_text("slurm: {accounts: {}}\n")
    path = tmp_path / "live.yaml"
    path.write_text("mapping: mapping.yaml\nsources:\n  slurm:\n" + slurm)
    return path


def test_the_enact_keys_default_to_total_caps_quota_leases_a_minute_and_no_enforcing(
    tmp_path: Path,
) -> None:
    settings = load_settings(_config(tmp_path, "    enact: {cluster: gfdev}\n"))
    slurm = settings.model.sources.slurm
    assert slurm is not None and slurm.enact is not None
    e = slurm.enact
    assert (e.cluster, e.gpu_limits, e.leases, e.every, e.enforce) == (
        "gfdev", "total", "quota", 60.0, False,
    )  # fmt: skip
    assert (e.max_skew, e.retry_max) == (30.0, 300.0)


@pytest.mark.parametrize(
    ("slurm", "expected"),
    [
        ("    enact: {}\n", "live.yaml:4: sources.slurm.enact.cluster: required key is missing"),
        (
            "    enact: {cluster: gfdev, leases: lease}\n",
            "live.yaml:4: sources.slurm.enact.leases: Input should be 'quota' or 'reservation'",
        ),
        (
            "    enact: {cluster: gfdev, every: soon}\n",
            "live.yaml:4: sources.slurm.enact.every: 'soon' is not a positive duration",
        ),
        (
            "    enact: {cluster: gfdev, enforce: yes-please}\n",
            "live.yaml:4: sources.slurm.enact.enforce: Input should be a valid boolean",
        ),
        (
            "    enact: {cluster: 'gf dev; rm'}\n",
            "live.yaml:4: sources.slurm.enact.cluster: String should match pattern",
        ),
        (
            "    enact: {cluster: gfdev, enfroce: true}\n",
            "live.yaml:4: sources.slurm.enact.enfroce: unknown key 'enfroce' (expected one of: "
            "cluster, enforce, every, gpu_limits, leases, max_skew, retry_max)",
        ),
        (
            "    mode: rest\n    enact: {cluster: gfdev}\n",
            "sources.slurm: enact needs Slurm through its commands (mode: commands)",
        ),
    ],
    ids=[
        "no-cluster",
        "bad-lease-style",
        "bad-every",
        "bad-enforce",
        "hostile-cluster",
        "misspelt-key",
        "rest-mode",
    ],
)
def test_a_bad_enact_key_names_the_file_line_and_field(
    tmp_path: Path, slurm: str, expected: str
) -> None:
    with pytest.raises(LiveConfigError) as bad:
        load_settings(_config(tmp_path, slurm))
    assert expected in str(bad.value)
