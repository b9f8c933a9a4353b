"""A new user's first hour (issue 15): the README's steps as a user follows them, and the
demo leaving nothing behind. Real processes: the CLI, the SQLite register the demo writes,
and a ``gpufleet serve`` child on a free port."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from tests.support.servers import Api, ServerFactory, cli, create_token

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readmes_service_steps_show_the_articles_transfer_to_a_person_who_may_request(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    # the README: `make demo`, then create-token with --person group-ceo on the demo's
    # register, then serve that register
    readme = README.read_text(encoding="utf-8")
    assert "--person group-ceo \\\n    --db sqlite:///out/demo-report/demo-register.db" in readme
    assert "serve --db sqlite:///out/demo-report/demo-register.db" in readme
    report = tmp_path / "demo-report"
    done = cli("demo", "--report-dir", str(report), "--report-seeds", "1")
    assert done.returncode == 0, done.stderr
    db_url = f"sqlite:///{report / 'demo-register.db'}"
    assert f"create-token --role fleet-admin --person group-ceo --db {db_url}" in done.stdout
    token = create_token(db_url, "fleet-admin", person="group-ceo")
    server = server_factory(db_url, worker=False)
    api = Api(server.url, token)
    try:
        me = api.get("/me").json()
        transfers = api.get("/transfers").json()
    finally:
        api.close()
    # the dashboard shows the request form to a fleet- or entity-admin with a person
    # (static/transfers.js, mayRequest)
    assert (me["role"], me["person"]) == ("fleet-admin", "group-ceo")
    items = transfers["items"] if isinstance(transfers, dict) else transfers
    assert [(t["from_entity"], t["to_entity"], t["gpus"]) for t in items] == [
        ("tesla", "xai", 12_000)  # ARTICLE: the 12,000 H100 moved from Tesla to xAI
    ]


def test_the_demo_without_a_report_leaves_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "a temporary SQLite register, removed" in out
    assert "audit log intact" in out
    # the governed transfer's assessment runs one seed: its shifts say so, so that they read
    # as the same answer as whatif's 5 seeds with their intervals
    assert "milestones fsd-training +71.1 d (1 seed, no interval)" in out
    assert list(tmp_path.iterdir()) == []


def test_an_uncaught_scenario_error_shows_its_problems_not_only_their_count(
    tmp_path: Path,
) -> None:
    # what a notebook shows for `gpufleet.load_scenario(path)` on a bad file: the
    # traceback's last line is the exception's str()
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstart: 2024-01-01\nhorizon_days: -3\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", f"import gpufleet; gpufleet.load_scenario({str(bad)!r})"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    tail = done.stderr[done.stderr.index("gpufleet.errors.ScenarioError: ") :]
    assert (
        tail.splitlines()[0] == f"gpufleet.errors.ScenarioError: {bad}: 4 problems"
    )  # sites, entities, pools missing; horizon_days < 1
    assert f"  {bad}:3: horizon_days:" in tail


def test_the_top_level_help_is_written_for_a_user(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "outermost ring" not in out and "``" not in out  # not the module's docstring
    assert "Start with `gpufleet demo`" in out
    assert "exit codes: 0 ok; 2 bad input" in out


def _options_without_help(p: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _options_without_help(sub, f"{path} {name}")
        elif action.option_strings and not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings)}")
    return missing


def test_every_option_of_every_command_has_a_help_text() -> None:
    from gpufleet.cli.main import parser

    assert _options_without_help(parser(), "gpufleet") == []


def test_serve_help_describes_host_port_and_log_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--host HOST the address to listen on (default 127.0.0.1" in out
    assert "--port PORT the TCP port to listen on (default 8000)" in out
    assert "uvicorn's log level (default info)" in out


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    import gpufleet

    try:
        expected = metadata.version("gpufleet")
    except metadata.PackageNotFoundError:
        expected = gpufleet.__version__
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"gpufleet {expected}\n"
