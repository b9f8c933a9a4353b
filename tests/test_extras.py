"""The install extras split (pyproject.toml, gpufleet/extras.py): a base install simulates,
replays and compares without the server stack, DataFrames, Ray or jsonschema; a command that
needs a missing extra exits 2 naming the extra, never with an ImportError's traceback.

"Not installed" is real here: each command runs in a fresh interpreter whose import system
refuses every optional module (tests/support/without_extras.py), so an optional import at
module level anywhere on a command's path fails the test. .ci/package-check does the same
with a wheel installed without extras in a fresh venv.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gpufleet import extras
from gpufleet.extras import EXTRAS, MissingExtraError, require
from tests.support.servers import ROOT

# every module an extra brings, and the two the server stack and the dev tools pull in
REFUSED = sorted({m for ms in EXTRAS.values() for m in ms} | {"starlette", "httpx"})
SCRIPT = ROOT / "tests" / "support" / "without_extras.py"
SMALL_LAB = ROOT / "examples" / "small-lab.yaml"
JOBS_CSV = ROOT / "examples" / "imports" / "jobs.csv"
JOBS_MAP = "submit=created_at,duration=runtime_s,gpus=num_gpus"


def _base_install(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), ",".join(REFUSED), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["simulate", str(SMALL_LAB), "--seed", "3", "--json"], id="simulate"),
        pytest.param(
            ["replay", str(JOBS_CSV), "--map", JOBS_MAP, "--gpus", "512", "--json"],
            id="replay",
        ),
        pytest.param(
            ["whatif", str(SMALL_LAB), "--delay", "colo-h100 +30d", "--seeds", "2", "--json"],
            id="whatif",
        ),
        pytest.param(  # pyarrow parses a plain CSV where installed; the Python reader here
            ["trace", "info", str(JOBS_CSV), "--map", JOBS_MAP, "--json"],
            id="trace-info",
        ),
    ],
)
def test_a_base_install_runs_the_simulation_path_with_every_optional_module_refused(
    argv: list[str], tmp_path: Path
) -> None:
    done = _base_install(*argv, "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)  # one JSON document, not empty


def test_serve_without_the_service_extra_exits_2_naming_it(tmp_path: Path) -> None:
    done = _base_install("serve", "--db", f"sqlite:///{tmp_path}/g.db", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "gpufleet: `gpufleet serve` needs the 'service' extra (fastapi is not installed): "
        "pip install 'gpufleet[service]' (from a checkout: pip install -e '.[service]')\n"
    )
    assert not (tmp_path / "g.db").exists()  # refused before the store was opened


def test_trace_convert_without_pyarrow_exits_2_naming_the_parquet_extra_before_reading(
    tmp_path: Path,
) -> None:
    sacct = ROOT / "examples" / "imports" / "jobs.sacct"
    done = _base_install("trace", "convert", str(sacct), "jobs.parquet", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "gpufleet: writing jobs.parquet (Parquet) needs the 'parquet' extra (pyarrow is not "
        "installed): pip install 'gpufleet[parquet]' (from a checkout: pip install -e "
        "'.[parquet]')\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_url_without_psycopg_exits_2_naming_the_postgres_extra(
    tmp_path: Path,
) -> None:
    done = _base_install("db", "plan", "--db", "postgresql://u:p@127.0.0.1/x", cwd=tmp_path)
    assert done.returncode == 2
    assert "needs the 'postgres' extra (psycopg is not installed)" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_python_api_simulates_and_asks_for_the_frames_extra_for_a_dataframe(
    tmp_path: Path,
) -> None:
    code = (
        "import gpufleet\n"
        "from gpufleet.extras import MissingExtraError\n"
        f"res = gpufleet.simulate({str(SMALL_LAB)!r}, seed=3)\n"
        "assert res.metrics.fleet is not None\n"
        "try:\n"
        "    res.jobs_frame()\n"
        "except MissingExtraError as e:\n"
        "    print(e)\n"
    )
    done = _base_install("--python", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "jobs_frame() needs the 'frames' extra (pandas is not installed): "
        "pip install 'gpufleet[frames]' (from a checkout: pip install -e '.[frames]')\n"
    )


def test_require_names_the_extra_of_a_module_that_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)  # `import polars` now fails
    with pytest.raises(MissingExtraError) as err:
        require("frames", "polars", "jobs_frame('polars')")
    assert (err.value.extra, err.value.module) == ("frames", "polars")
    assert "pip install 'gpufleet[frames]'" in str(err.value)


def test_require_lets_a_broken_extra_fail_as_itself_not_as_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the module is installed but imports one that is not: that is a broken install, and
    # "install the extra" would be the wrong advice
    (tmp_path / "probe_extra_mod.py").write_text("import probe_extra_missing_dep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(extras.EXTRAS, "probe", ("probe_extra_mod",))
    with pytest.raises(ModuleNotFoundError) as err:
        require("probe", "probe_extra_mod", "a probe")
    assert err.value.name == "probe_extra_missing_dep"


def _requirement_names(specs: list[str]) -> set[str]:
    """``["psycopg[binary]>=3.1", ...]`` -> ``{"psycopg", ...}`` (the distributions)."""
    return {re.split(r"[\[<>=!~ ;]", s, maxsplit=1)[0].lower() for s in specs}


def test_every_extra_installs_exactly_the_modules_its_errors_name() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional = project["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        # each of these distributions installs a module of its own name
        assert _requirement_names(optional[extra]) == set(modules), extra
    base = _requirement_names(project["dependencies"])
    assert not base & set(REFUSED), "an optional module is in the base install"
    # `make test` (the dev extra) installs every extra
    assert f"gpufleet[{','.join(n for n in EXTRAS if n != 'postgres')}]" in optional["dev"]
