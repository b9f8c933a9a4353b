"""The Dockerfile and compose.yaml, checked where there is no Docker (as here): the files
they copy exist, the container's command parses as a gpufleet command line serving on the
exposed port, its health check asks a route the service has, and compose points the
service at its own PostgreSQL with the credentials that database is created with. Where
Docker exists, ``-m slow`` builds the image and has compose validate its file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from gpufleet.cli.main import parser
from gpufleet.governance.store.db import Store
from gpufleet.service.app import create_app, route_templates

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _instruction(name: str) -> str:
    """The (joined) text of the Dockerfile's one ``name`` instruction."""
    text = DOCKERFILE.replace("\\\n", " ")
    [line] = [ln for ln in text.splitlines() if ln.startswith(f"{name} ")]
    return line[len(name) + 1 :].strip()


def test_every_file_the_image_copies_is_in_the_repository() -> None:
    copied = [ln.split()[1:-1] for ln in DOCKERFILE.splitlines() if ln.startswith("COPY ")]
    names = [n for group in copied for n in group]
    assert names == ["pyproject.toml", "README.md", "LICENSE", "src"]
    assert all((ROOT / n).exists() for n in names)


def test_the_image_installs_the_service_extra_its_command_needs() -> None:
    # a bare `pip install .` has no FastAPI or uvicorn: `gpufleet serve` would exit 2
    assert "pip install --no-cache-dir '.[service]'" in _instruction("RUN")


def test_the_container_command_is_gpufleet_serve_on_the_exposed_port() -> None:
    argv = json.loads(_instruction("CMD"))
    assert argv[0] == "gpufleet"
    args = parser().parse_args(argv[1:])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8000)
    assert _instruction("EXPOSE") == str(args.port)


def test_the_health_check_asks_a_route_the_service_has(tmp_path: Path) -> None:
    check = _instruction("HEALTHCHECK")
    [url] = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", check)
    assert url[0] == _instruction("EXPOSE")
    store = Store(f"sqlite:///{tmp_path}/g.db")
    store.upgrade()
    assert url[1] in route_templates(create_app(store, run_worker=False))
    store.dispose()


def test_compose_points_the_service_at_its_own_postgres_with_a_password_it_requires() -> None:
    db, app = COMPOSE["services"]["db"], COMPOSE["services"]["gpufleet"]
    env = db["environment"]
    assert env["POSTGRES_PASSWORD"].startswith("${GPUFLEET_DB_PASSWORD:?")  # no default
    url = make_url(app["environment"]["GPUFLEET_DATABASE_URL"])
    assert (url.drivername, url.host, url.port) == ("postgresql", "db", 5432)
    assert (url.username, url.database) == (env["POSTGRES_USER"], env["POSTGRES_DB"])
    assert url.password == "${GPUFLEET_DB_PASSWORD}"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    # published on the host's loopback only, at the port the image serves on
    assert app["ports"] == [f"127.0.0.1:8000:{_instruction('EXPOSE')}"]


def _run(*argv: str, env: dict[str, str] | None = None) -> bool:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.slow
def test_docker_builds_the_image_and_accepts_the_compose_file() -> None:
    docker = shutil.which("docker")
    if docker is None or not _run(docker, "info"):
        pytest.skip("no Docker daemon here: the image is built only where Docker runs")
    subprocess.run([docker, "build", "-t", "gpufleet:check", "."], cwd=ROOT, check=True)
    if not _run(docker, "compose", "version"):
        pytest.skip("the image builds; no `docker compose` here to check compose.yaml")
    env = {"GPUFLEET_DB_PASSWORD": "check-only", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    assert _run(docker, "compose", "config", "--quiet", env=env)
