"""``gpufleet observe`` and ``gpufleet status`` through ``main(argv)`` on a SQLite register
seeded from tests/live/register/kubernetes.yaml, reading the hand-written Kubernetes
snapshots (tests/live/samples/kubernetes) and a Prometheus that cannot be reached: the
observation is stored with the failure, and the status shows the stranded GPU-days and
their dollars, the drift, a suggested lease and the failed source."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gpufleet.cli.main import main
from tests.support.terminal import on_a_terminal

Capture = pytest.CaptureFixture[str]
LIVE = Path(__file__).parents[1] / "live"
REGISTER = LIVE / "register" / "kubernetes.yaml"
SNAPSHOTS = LIVE / "samples" / "kubernetes"
MAPPING = LIVE / "samples" / "mapping" / "kubernetes.yaml"
GOVERNANCE = Path(__file__).parents[2] / "src" / "gpufleet" / "data" / "article-governance.yaml"
CLOSED = "http://127.0.0.1:1"  # port 1: nothing listens, the connection is refused


def config(
    folder: Path, mapping: Path = MAPPING, snapshots: Path = SNAPSHOTS, **extra: str
) -> Path:
    lines = [
        "every: 60s",
        f"mapping: {mapping}",
        "sources:",
        f"  prometheus: {{url: '{CLOSED}', timeout: 2s}}",
        f"  kubernetes: {{snapshots: {snapshots}}}",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    path = folder / "live.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def db(tmp_path: Path, capsys: Capture) -> str:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    assert main(["db", "seed", str(REGISTER), "--governance", str(GOVERNANCE), "--db", url]) == 0
    capsys.readouterr()
    return url


def status(db: str, capsys: Capture, *flags: str) -> dict[str, Any]:
    assert main(["status", "--json", "--db", db, *flags]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_one_observation_shows_stranded_gpu_days_drift_a_lease_and_the_failed_source(
    tmp_path: Path, db: str, capsys: Capture
) -> None:
    assert main(["observe", "--config", str(config(tmp_path)), "--db", db]) == 0
    out, err = capsys.readouterr()
    assert "32 GPUs seen, 14 allocated, 24 stranded" in out
    assert "source prometheus failed" in err and "Connection refused" in err
    doc = status(db, capsys, "--min-gpus", "2", "--after", "30s")
    fleet = {(r["entity"], r["site"]): r for r in doc["fleet"]}
    cb = fleet[("tesla", "council-bluffs")]
    # gke-a3-pool-3 down + pool-4 cordoned = 16 H100 stranded for one 60 s sample:
    # 16 x 60 / 86400 = 0.0111 GPU-days x (24 h x $2) = $0.5333
    # Prometheus refused: the 14 allocated GPUs' use is unknown (neither in use nor idle);
    # idle are the up GPUs no pod holds: pool-1 and pool-2, 16 - 14 allocated = 2
    assert cb["now"] == {"in_use": None, "idle": 2, "stranded": 16, "unknown_use": 14}
    assert cb["gpu_days"]["unknown_use"] == pytest.approx(14 * 60 / 86400)
    assert doc["unknown"]["use"].startswith("prometheus failed: ")
    assert doc["unknown"]["capacity"] is None
    assert cb["gpu_days"]["stranded"] == pytest.approx(16 * 60 / 86400)
    assert cb["usd"]["stranded"] == pytest.approx(16 * 60 / 86400 * 48)
    # xai's colossus pool: registered, listed by no scheduler: 8 x 60 / 86400 x $48
    assert doc["by_entity"]["xai"]["stranded_usd"] == pytest.approx(8 * 60 / 86400 * 48)
    assert [d["message"] for d in doc["drift"]["counts"] + doc["drift"]["quotas"]] == [
        "xai at colossus: 8 H100-SXM registered (colossus-h100), 0 seen by the schedulers",
        "grok: a cap of 4 in force (ClusterQueue xai-cq flavor h100), the plan's quota is "
        "8 H100-SXM",
    ]
    (lease,) = doc["suggestions"]
    # min(16 stranded, 20 waited for by grok, 32 in cb-h100) = 16, run at xai's colossus
    assert {k: lease["request"][k] for k in ("pool", "gpus", "from_entity", "to", "to_site")} == {
        "pool": "cb-h100",
        "gpus": 16,
        "from_entity": "tesla",
        "to": "xai",
        "to_site": "colossus",
    }
    (failed,) = doc["failures"]
    assert failed["source"] == "prometheus" and "127.0.0.1:1" in failed["asked"]
    # the snapshots' research namespace is in no mapping: named with its GPUs
    assert doc["unmapped"] == [
        {"kind": "namespace", "name": "research", "source": "kubernetes", "gpus": 4}
    ]


def test_the_text_status_names_the_same_findings(tmp_path: Path, db: str, capsys: Capture) -> None:
    main(["observe", "--config", str(config(tmp_path)), "--db", db])
    capsys.readouterr()
    assert main(["status", "--db", db, "--min-gpus", "2", "--after", "30s"]) == 0
    out = capsys.readouterr().out
    assert "grok: a cap of 4 in force" in out
    assert "lease 16 H100-SXM of tesla's pool cb-h100 to xai (grok) to run at colossus" in out
    assert "prometheus: " in out.split("failed sources")[1]
    assert "namespace 'research' from kubernetes: 4 GPUs" in out


def test_every_interval_observes_count_times_and_each_sample_stands_for_it(
    tmp_path: Path, db: str, capsys: Capture
) -> None:
    argv = ["observe", "--config", str(config(tmp_path)), "--db", db, "--every", "1s"]
    assert main([*argv, "--count", "2"]) == 0
    assert capsys.readouterr().out.count("observed ") == 2
    doc = status(db, capsys)
    assert (doc["window"]["samples"], doc["window"]["covered_s"]) == (2, 2.0)


def test_every_interval_on_a_terminal_shows_the_cycles_and_the_next_one_s_time(
    tmp_path: Path, db: str, capsys: Capture
) -> None:
    argv = ["observe", "--config", str(config(tmp_path)), "--db", db, "--every", "2s"]
    code, out, err = on_a_terminal(*argv, "--count", "2", cwd=tmp_path)
    assert code == 0, err
    assert out.count("observed ") == 2  # stdout, the data, is as it was
    assert "observe: cycle 1 of 2 took " in err
    assert "; next in 1s\x1b[K\r\x1b[K" in err  # counted down to the second, then cleared
    assert "cycle 2 of 2" not in err  # no wait after the last
    # -q: errors only (the unreachable Prometheus of each cycle), no countdown
    code, _out, err = on_a_terminal(*argv, "--count", "2", "-q", cwd=tmp_path)
    assert code == 0
    assert "observe: cycle" not in err
    assert err.count("gpufleet: source prometheus failed: ") == 2


def test_a_mapping_naming_an_entity_the_register_lacks_is_recorded_and_the_rest_stored(
    tmp_path: Path, db: str, capsys: Capture
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING.read_text().replace("grok: {entity: xai,", "grok: {entity: xia,", 1))
    assert main(["observe", "--config", str(config(tmp_path, mapping)), "--db", db]) == 0
    capsys.readouterr()
    doc = status(db, capsys)
    failed = {f["source"]: f for f in doc["failures"]}
    line = mapping.read_text().splitlines().index("    grok: {entity: xia, program: grok}") + 1
    assert failed["mapping"]["asked"] == f"{mapping}:{line}: kubernetes.namespaces.grok.entity"
    assert (
        "entity 'xia' is not in the register (expected one of: tesla, xai)"
        in (failed["mapping"]["error"])
    )
    assert doc["by_entity"]["tesla"]["stranded_now"] == 16  # the rest was observed


def test_a_malformed_answer_is_a_failure_naming_the_source_and_field(
    tmp_path: Path, db: str, capsys: Capture
) -> None:
    snaps = tmp_path / "kube"
    shutil.copytree(SNAPSHOTS, snaps)
    pods = json.loads((snaps / "pods.json").read_text())
    pods["items"][0]["spec"]["containers"] = "not a list"
    (snaps / "pods.json").write_text(json.dumps(pods))
    assert main(["observe", "--config", str(config(tmp_path, snapshots=snaps)), "--db", db]) == 0
    capsys.readouterr()
    (kube,) = (f for f in status(db, capsys)["failures"] if f["source"] == "kubernetes")
    assert "kubectl get pods" in kube["asked"] and "items[0].spec.containers" in kube["error"]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda t: t + "colour: blue\n", "live.yaml:6: colour: unknown key 'colour'"),
        (lambda t: t.replace("every: 60s", "every: soon"), "live.yaml:1: every: 'soon' is not"),
        (
            lambda t: t.replace("timeout: 2s", "timout: 2s"),
            "sources.prometheus.timout: unknown key 'timout' (expected one of: headers_from_env",
        ),
    ],
    ids=["unknown-key", "bad-duration", "misspelt-nested-key"],
)
def test_a_bad_configuration_file_is_exit_2_naming_line_and_field_and_stores_nothing(
    tmp_path: Path, db: str, capsys: Capture, edit: object, says: str
) -> None:
    path = config(tmp_path)
    assert callable(edit)
    path.write_text(edit(path.read_text()))
    assert main(["observe", "--config", str(path), "--db", db]) == 2
    assert says in capsys.readouterr().err
    assert status(db, capsys)["latest"] is None


def test_a_mapping_to_a_gpu_type_the_catalog_lacks_is_exit_2(
    tmp_path: Path, db: str, capsys: Capture
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING.read_text().replace("h100: H100-SXM", "h100: MI300X"))
    assert main(["observe", "--config", str(config(tmp_path, mapping)), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "gpu_types.h100: GPU type 'MI300X' is not in the catalog" in err


def test_observing_against_an_empty_register_says_how_to_fill_it(
    tmp_path: Path, capsys: Capture
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["observe", "--config", str(config(tmp_path)), "--db", url]) == 2
    assert "gpufleet db seed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["observe", "--every", "often"], "--every 'often': not a duration"),
        (["observe", "--count", "2"], "--count N: needs --every"),
        (["status", "--window=-1d"], "--window '-1d': not a duration"),
        (["status", "--at", "yesterday"], "--at 'yesterday': not an ISO instant"),
    ],
    ids=["every", "count-alone", "window", "at"],
)
def test_bad_flags_are_exit_2(
    tmp_path: Path, db: str, capsys: Capture, argv: list[str], says: str
) -> None:
    extra = ["--config", str(config(tmp_path))] if argv[0] == "observe" else []
    assert main([*argv, *extra, "--db", db]) == 2
    assert says in capsys.readouterr().err


def test_status_before_any_observation_says_so(db: str, capsys: Capture) -> None:
    assert main(["status", "--db", db]) == 0
    assert "no observation stored yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("source", "line", "says"),
    [
        ("slurm", "  slurm: {mode: rest, rest_socket: /nonexistent/slurmrestd.sock}", "slurmrestd"),
        (
            "prometheus",
            "  prometheus: {url: 'http://127.0.0.1:1', headers_from_env: "
            "{Authorization: GPUFLEET_TEST_UNSET_TOKEN}}",
            "environment variable 'GPUFLEET_TEST_UNSET_TOKEN' is not set",
        ),
    ],
    ids=["slurmrestd-socket-missing", "credential-variable-unset"],
)
def test_a_source_that_cannot_even_be_opened_is_recorded_and_the_rest_observed(
    tmp_path: Path, db: str, capsys: Capture, source: str, line: str, says: str
) -> None:
    path = tmp_path / "live.yaml"
    text = [
        "every: 60s",
        f"mapping: {MAPPING}",
        "sources:",
        line,
        f"  kubernetes: {{snapshots: {SNAPSHOTS}}}",
    ]
    path.write_text("\n".join(text) + "\n")
    assert main(["observe", "--config", str(path), "--db", db]) == 0
    capsys.readouterr()
    doc = status(db, capsys)
    (failed,) = (f for f in doc["failures"] if f["source"] == source)
    assert says in failed["error"]
    assert doc["by_entity"]["tesla"]["stranded_now"] == 16  # Kubernetes still observed


def test_observe_json_prints_the_cycle_as_one_line_with_its_failed_source(
    tmp_path: Path, db: str, capsys: Capture
) -> None:
    # Kubernetes from snapshots (16 of tesla's GPUs stranded, as above) and a Slurm whose
    # slurmrestd socket does not exist: one JSON line, the failure named in it
    path = tmp_path / "live.yaml"
    path.write_text(
        "every: 60s\n"
        f"mapping: {MAPPING}\n"
        "sources:\n"
        "  slurm: {mode: rest, rest_socket: /nonexistent/slurmrestd.sock}\n"
        f"  kubernetes: {{snapshots: {SNAPSHOTS}}}\n"
    )
    assert main(["observe", "--config", str(path), "--db", db, "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    doc = json.loads(line)
    assert doc["stranded"] is not None and doc["stranded"] >= 16
    assert [f["source"] for f in doc["failures"]] == ["slurm"]
    assert doc["rows_stored"] > 0 and doc["at"].endswith("Z")
