"""``gpufleet apply kueue``: the desired state against a snapshot written as ``kubectl get
clusterqueues,cohorts,localqueues,resourceflavors -A -o json`` would print it
(tests/live/samples/kubernetes/enact/kueue.json: the enact story as applied at the plan's
start, a LocalQueue gpufleet wrote for a namespace since unmapped, and the cluster's own
``research-cq``). No Kubernetes API server runs where gpufleet is tested: these are
snapshots, written by hand (README.md beside them)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from gpufleet.cli.main import main
from gpufleet.errors import InputError
from gpufleet.live.enact.kueue_desired import kueue_desired
from gpufleet.live.enact.kueue_diff import FieldChange, kueue_diff, read_snapshot
from gpufleet.live.enact.kueue_folder import MARK
from gpufleet.live.enact.kueue_schema import check
from gpufleet.live.enact.register import (
    PoolRec,
    ProgramRec,
    QuotaRec,
    RegisterRows,
    TransferRec,
)
from gpufleet.live.mapping import parse_mapping
from tests.live.enact.builders import lease, rows
from tests.live.enact.test_kueue_desired import KUBE, kube_mapping

ROOT = Path(__file__).parents[3]
SNAPSHOT = KUBE / "kueue.json"
CONFIG = KUBE / "live.yaml"
GPU = "spec.resourceGroups[0].flavors[h100].resources[nvidia.com/gpu].nominalQuota"
LEASE = (
    "transfer #7 'lease-7' (active): 4 H100-SXM of memphis-h100 fsd-training -> grok, "
    "2026-07-01T00:00:00 -> 2026-08-01T00:00:00"
)


def story(*transfers: TransferRec) -> RegisterRows:
    """tests/live/enact/register.yaml as rows: fsd-training 8 H100 + 4 A100 (weight 0.6),
    grok 4 H100 (weight 0.4)."""
    quotas = (
        QuotaRec("fsd-training", "H100-SXM", None, 8),
        QuotaRec("fsd-training", "A100-80GB", None, 4),
        QuotaRec("grok", "H100-SXM", None, 4),
    )
    return replace(rows(*transfers), quotas=quotas)


def test_a_lease_in_force_changes_the_two_queues_nominal_quotas_and_nothing_else() -> None:
    d = kueue_desired(story(lease()), kube_mapping(), "v1beta2", datetime(2026, 7, 15))
    diff = kueue_diff(d, read_snapshot(SNAPSHOT))
    assert [(c.op, c.ref, c.fields) for c in diff.changes] == [
        # tesla-cq: 8 - 4 = 4; xai-cq: 4 + 4 = 8
        ("change", "ClusterQueue tesla-cq", (FieldChange(GPU, 8, 4),)),
        ("change", "ClusterQueue xai-cq", (FieldChange(GPU, 4, 8),)),
        ("remove", "LocalQueue fsd-old/fsd-training", ()),
    ]
    assert diff.changes[1].causes == (
        "mapping: kubernetes.cluster_queues.xai-cq is xai/grok",
        "register: program grok weight 0.4",
        "quota: grok H100-SXM nominal 4 (effective plan start)",
        LEASE,
        "quota: grok has no A100-80GB quota row (0)",
    )
    assert diff.changes[2].causes == (
        "managed by gpufleet and not in the register's desired state",
        "was for mapping: kubernetes.namespaces.fsd-old is tesla/fsd-training",
    )
    # 8 objects wanted, 2 changed: the flavors, cohorts and local queues are as applied
    assert diff.unchanged == 6


def test_the_clusters_own_queue_is_neither_changed_nor_removed() -> None:
    d = kueue_desired(story(), kube_mapping(), "v1beta2", datetime(2026, 6, 15))
    snapshot = read_snapshot(SNAPSHOT)
    assert ("ClusterQueue", "", "research-cq") in snapshot.objects
    assert all("research-cq" not in c.ref for c in kueue_diff(d, snapshot).changes)


def test_a_v1beta1_snapshot_is_read_as_the_api_server_converts_it() -> None:
    """The hand-written v1beta1 queues of samples/kubernetes (cohort 'article', cpu and
    memory beside the GPUs) against the register of tests/live/register/kubernetes.yaml:
    tesla 16 H100, xai 8 (its queue says 4)."""
    mapping_file = ROOT / "tests/live/samples/mapping/kubernetes.yaml"
    mapping = parse_mapping(mapping_file.read_text(), str(mapping_file))
    register = RegisterRows(
        programs=(ProgramRec("fsd-training", "tesla", 1.0), ProgramRec("grok", "xai", 1.0)),
        quotas=(QuotaRec("fsd-training", "H100-SXM", None, 16),
                QuotaRec("grok", "H100-SXM", None, 8)),
        pools=(PoolRec("cb-h100", "tesla", "H100-SXM", 8),
               PoolRec("colossus-h100", "xai", "H100-SXM", 8)),
        transfers=(),
    )  # fmt: skip
    snapshot = read_snapshot(ROOT / "tests/live/samples/kubernetes")  # nodes, pods: skipped
    assert {k[0] for k in snapshot.objects} == {"ClusterQueue", "LocalQueue"}
    for version, cohort in (("v1beta2", "cohortName"), ("v1beta1", "cohort")):
        d = kueue_desired(register, mapping, version, datetime(2026, 7, 1))
        xai = next(c for c in kueue_diff(d, snapshot).changes if c.ref == "ClusterQueue xai-cq")
        assert FieldChange(f"spec.{cohort}", "article", "xai") in xai.fields
        assert FieldChange(GPU, 4, 8) in xai.fields
        # resourceGroups is atomic: applying it drops the cpu quota written beside the GPUs
        cpu = "spec.resourceGroups[0].flavors[h100].resources[cpu].nominalQuota"
        assert FieldChange(cpu, 1600, "(absent)") in xai.fields


@pytest.mark.parametrize("seed", range(5))
def test_seeded_leases_move_quota_between_queues_and_conserve_it(seed: int) -> None:
    """Oracle: leases of at most what the giver holds (no clamp) only move H100 quota, so
    the queues' H100 nominal quotas add up to the rows' 12 + 4 = 16 at every instant, and
    every manifest fits the schema."""
    rng = random.Random(seed)
    leases = []
    for i in range(rng.randint(1, 4)):
        start = datetime(2026, 7, 1) + timedelta(days=rng.randint(0, 20))
        end = start + timedelta(days=rng.randint(1, 30))
        leases.append(lease(gpus=rng.randint(1, 3), start=start.isoformat(),
                            end=end.isoformat(), tid=i + 1))  # fmt: skip
    for day in range(0, 60, 3):
        at = datetime(2026, 6, 25) + timedelta(days=day)
        d = kueue_desired(rows(*leases), kube_mapping(), "v1beta2", at)
        moved = sum(t.gpus for t in leases if t.in_force(at))
        cqs = {o.name: o.manifest for o in d.objects if o.kind == "ClusterQueue"}
        h100 = {
            n: m["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"]
            for n, m in cqs.items()
        }
        assert h100 == {"tesla-cq": 12 - moved, "xai-cq": 4 + moved}
        check([o.manifest for o in d.objects])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param('{"items": [\n  {"kind": }\n]}', "bad.json:2: not JSON", id="not-json"),
        pytest.param(
            '{"items": [{"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Cohort",'
            ' "metadata": {}}]}',
            "bad.json: items[0].metadata.name: is missing", id="an-object-without-a-name",
        ),
        pytest.param('{"items": 3}', "bad.json: items: is not a list", id="items-not-a-list"),
    ],
)  # fmt: skip
def test_a_bad_snapshot_names_the_file_line_and_field(
    tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(InputError) as e:
        read_snapshot(bad)
    assert message in str(e.value)


# the command


@pytest.fixture
def url(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["db", "seed", str(Path(__file__).parent / "register.yaml"), "--db", db]) == 0
    return db


def _argv(url: str, *more: str) -> list[str]:
    return ["apply", "kueue", "--config", str(CONFIG), "--snapshot", str(SNAPSHOT),
            "--db", url, "--at", "2026-06-15T00:00:00Z", *more]  # fmt: skip


def test_the_command_prints_the_diff_with_causes(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(_argv(url)) == 0
    assert capsys.readouterr().out == (
        f"kueue kueue.x-k8s.io/v1beta2 at 2026-06-15T00:00:00Z against snapshot {SNAPSHOT}: "
        "0 added, 0 changed, 1 removed, 8 unchanged\n"
        "- LocalQueue fsd-old/fsd-training\n"
        "     because managed by gpufleet and not in the register's desired state\n"
        "     because was for mapping: kubernetes.namespaces.fsd-old is tesla/fsd-training\n"
    )


def test_the_command_writes_a_folder_kubectl_and_kustomize_read(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kueue"
    assert main(_argv(url, "--api", "v1beta1", "-o", str(out), "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["api"] == "kueue.x-k8s.io/v1beta1"
    assert [c["object"] for c in report["changes"]] == ["LocalQueue fsd-old/fsd-training"]
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted([*kustomization["resources"], "kustomization.yaml"]) == sorted(
        p.name for p in out.iterdir()
    )
    docs = [yaml.safe_load((out / f).read_text()) for f in kustomization["resources"]]
    assert len(docs) == 8
    check(docs)
    xai = yaml.safe_load((out / "clusterqueue-xai-cq.yaml").read_text())
    assert (xai["apiVersion"], xai["spec"]["cohort"]) == ("kueue.x-k8s.io/v1beta1", "xai")
    # a second run replaces its own files
    assert main(_argv(url, "-o", str(out))) == 0
    assert "v1beta2" in (out / "clusterqueue-xai-cq.yaml").read_text()
    # the staging folder the files were written in first is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kueue", "r.db"]


def test_a_folder_holding_other_files_is_refused_and_left_as_it_was(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "repo"
    out.mkdir()
    (out / "README.md").write_text("mine\n")
    (out / "old.yaml").write_text(f"{MARK}\n")
    assert main(_argv(url, "-o", str(out))) == 2
    err = capsys.readouterr().err
    assert "README.md was not written by gpufleet apply kueue" in err
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "old.yaml"]


@pytest.mark.parametrize(
    ("more", "message"),
    [
        pytest.param(("--api", "v1alpha1"), "invalid choice: 'v1alpha1'", id="an-unknown-api"),
        pytest.param(("--at", "soon"), "--at 'soon': not an instant", id="an-instant-not-iso"),
    ],
)
def test_bad_flags_are_exit_2_naming_them(
    url: str, more: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_argv(url, *more)) == 2
    assert message in capsys.readouterr().err


def test_a_missing_snapshot_is_exit_2_naming_it(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _argv(url)
    argv[argv.index("--snapshot") + 1] = str(tmp_path / "nowhere.json")
    assert main(argv) == 2
    assert f"{tmp_path / 'nowhere.json'}: no such file or folder" in capsys.readouterr().err


def test_the_limits_the_register_stores_reach_the_written_queue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """read_rows carries a quota row's borrowing and lending limits from the store."""
    scenario = (Path(__file__).parent / "register.yaml").read_text()
    limited = scenario.replace(
        "H100-SXM: {nominal: 4}", "H100-SXM: {nominal: 4, borrowing_limit: 2, lending_limit: 1}"
    )
    assert limited != scenario
    (tmp_path / "r.yaml").write_text(limited)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["db", "seed", str(tmp_path / "r.yaml"), "--db", db]) == 0
    out = tmp_path / "kueue"
    assert main(_argv(db, "-o", str(out))) == 0
    xai = yaml.safe_load((out / "clusterqueue-xai-cq.yaml").read_text())
    h100 = xai["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
    assert h100 == {
        "name": "nvidia.com/gpu",
        "nominalQuota": 4,
        "borrowingLimit": 2,
        "lendingLimit": 1,
    }
    # and the diff says what the snapshot (applied without limits) lacks
    text = capsys.readouterr().out
    assert "~ ClusterQueue xai-cq\n" in text
    assert f"{GPU[: -len('nominalQuota')]}borrowingLimit: (absent) -> 2" in text
