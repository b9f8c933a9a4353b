"""Trace sources as a new user names them (issue 15): a mistyped name gets the closest
names, a missing path "no such file", and the traces folder is found from
``$GPUFLEET_TRACES``, the user's config file, then the project's checkout, whatever the
current folder; an error names every place searched."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.errors import InputError
from gpufleet.inputs.traces.registry import known_traces, load_source, traces_root

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_user_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $GPUFLEET_TRACES, an empty config folder, and a current folder outside the
    repository; returns the config folder ($XDG_CONFIG_HOME)."""
    monkeypatch.delenv("GPUFLEET_TRACES", raising=False)
    config_home = tmp_path / "config"
    config_home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return config_home


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        pytest.param("phily-2017", "philly-2017", id="a-letter-missing"),
        pytest.param("helios2020", "helios-2020", id="a-dash-missing"),
        pytest.param("alibaba-openb", "alibaba-openb-v2023", id="a-family-without-its-version"),
    ],
)
def test_a_mistyped_trace_name_gets_the_closest_names_not_the_whole_list(
    typed: str, suggested: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _error(["trace", "info", typed], capsys)
    assert f"unknown trace or file {typed!r}; did you mean " in err
    assert suggested in err.split("did you mean ")[1].split("?")[0].split(", ")
    assert "`gpufleet trace list`" in err
    # about 200 names would be 10 KB; three suggestions and a pointer fit one line
    assert len(known_traces()) > 100
    assert len(err) < 300, err


def test_a_name_like_nothing_known_gets_no_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["replay", "zzqx"], capsys)
    assert "did you mean" not in err
    assert "unknown trace or file 'zzqx'; `gpufleet trace list` lists the traces" in err


@pytest.mark.parametrize(
    "path", ["jobs.csv", "exports/sacct.txt", "./philly-2017", "w.parquet"], ids=str
)
def test_a_missing_path_is_no_such_file(
    path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    err = _error(["trace", "info", path], capsys)
    assert err.strip() == f"gpufleet: {path}: no such file or folder"


def test_gpufleet_traces_comes_first(no_user_setup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (no_user_setup / "gpufleet").mkdir()
    (no_user_setup / "gpufleet" / "config.toml").write_text('traces = "/from/config"\n')
    monkeypatch.setenv("GPUFLEET_TRACES", "/from/env")
    assert traces_root() == Path("/from/env")


def test_the_user_config_names_the_folder_relative_to_itself(no_user_setup: Path) -> None:
    (no_user_setup / "gpufleet").mkdir()
    (no_user_setup / "gpufleet" / "config.toml").write_text('traces = "../data/traces"\n')
    assert traces_root() == no_user_setup / "gpufleet" / ".." / "data" / "traces"


def test_without_either_the_checkouts_shared_traces_is_used_from_any_folder(
    no_user_setup: Path,
) -> None:
    # the project's layout: <workspace>/<repo> beside <workspace>/shared/traces
    assert Path.cwd() != CHECKOUT
    assert traces_root() == CHECKOUT.parent / "shared" / "traces"


def test_a_missing_traces_folder_names_every_place_searched(
    no_user_setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (no_user_setup / "gpufleet").mkdir()
    config = no_user_setup / "gpufleet" / "config.toml"
    config.write_text(f'traces = "{tmp_path / "none"}"\n')
    with pytest.raises(InputError) as e:
        load_source("philly-2017")
    message = str(e.value)
    assert f"folder {tmp_path / 'none' / 'philly-2017'} not found" in message
    assert "$GPUFLEET_TRACES: not set" in message
    assert f"traces in {config}: {tmp_path / 'none'}" in message
    assert f"the project's checkout: {CHECKOUT.parent / 'shared' / 'traces'}" in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("traces = [1]\n", "traces: expected a folder path as a string", id="a-list"),
        pytest.param("traces = \n", "cannot read it as TOML", id="not-toml"),
    ],
)
def test_a_bad_user_config_names_its_file(no_user_setup: Path, text: str, says: str) -> None:
    (no_user_setup / "gpufleet").mkdir()
    config = no_user_setup / "gpufleet" / "config.toml"
    config.write_text(text)
    with pytest.raises(InputError, match=says) as e:
        traces_root()
    assert str(config) in str(e.value)


def test_trace_list_says_which_folder_it_read_and_where_it_looked(
    no_user_setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "list"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"traces folder: {CHECKOUT.parent / 'shared' / 'traces'} ")
    assert "$GPUFLEET_TRACES: not set" in first
