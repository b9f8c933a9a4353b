"""schemathesis against the service's own OpenAPI schema: generated requests, valid and
not, to every operation, in-process over the ASGI app on a seeded SQLite store.

Checked for every operation and every example: no 5xx (schemathesis' ``not_a_server_error``),
and every 4xx is in the API's one error shape with a machine code. Twice: as a fleet-admin
(everything is reachable, writes happen for real) and as a viewer of one entity (the
access checks run before anything else).

The number of examples is bounded (:data:`EXAMPLES`) so the module stays near a minute on
two cores; raise it locally with ``GPUFLEET_SCHEMATHESIS_EXAMPLES=200`` for a longer hunt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from gpufleet.governance.auth.tokens import create_token
from gpufleet.governance.runs.queue import queue_whatif
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from gpufleet.service.app import create_app
from tests.support.api import small_with_a_request

EXAMPLES = int(os.environ.get("GPUFLEET_SCHEMATHESIS_EXAMPLES", "6"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app over SMALL, with person ann (officer of acme, the fleet-admin token's),
    transfer 1 requested by her and what-if run 1 queued, so that generated ids 1 reach
    real objects; a token per role."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    store = Store(f"sqlite:///{folder / 'fleet.db'}")
    store.upgrade()
    with store.write("test:setup") as tx:
        small_with_a_request(tx)
        move = {"move": ["16 H100-SXM acme->beta 2024-01-03"]}
        queue_whatif(tx, {"name": "lend", "changes": move, "seeds": 1})
        tokens = {
            "fleet-admin": create_token(tx, "admin", AccessRole.FLEET_ADMIN, None, "ann")[1],
            "viewer": create_token(tx, "viewer", AccessRole.VIEWER, "acme")[1],
        }
    try:
        yield create_app(store, run_worker=False), tokens
    finally:
        store.dispose()


# The schema is loaded at import from an app over an unopened in-memory store (building the
# schema touches no database); each case is then sent to the fixture's app over the seeded
# store. (schemathesis.pytest.from_fixture would be the lazy way, but it does not run
# under pytest 9, which renamed a node attribute it reads.)
def load_schema(phases: list[str]) -> Any:
    openapi = create_app(Store("sqlite://"), run_worker=False).openapi()
    loaded = schemathesis.openapi.from_dict(openapi)
    loaded.config.phases.update(phases=phases)
    return loaded


# the fleet-admin gets schemathesis' coverage phase too (boundary and out-of-range values of
# every parameter: huge ids, empty strings, wrong types); the viewer, refused early, not
schema = load_schema(["examples", "coverage", "fuzzing"])
viewer_schema = load_schema(["examples", "fuzzing"])


def error_shape_problem(response: Any) -> str | None:
    """What is wrong with a 4xx response's body, if anything."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"a {response.status_code} whose body is not JSON: {response.text[:200]!r}"
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or set(body) != {"error"}:
        return f"a {response.status_code} not in the one error shape: {body!r:.300}"
    if not (
        isinstance(err.get("code"), str) and err["code"] and isinstance(err.get("message"), str)
    ):
        return f"a {response.status_code} without a machine code and a message: {err!r:.300}"
    if not isinstance(err.get("problems"), list):
        return f"a {response.status_code} without a problems list: {err!r:.300}"
    return None


def call(case: Any, app: Any, token: str) -> None:
    response = case.call_and_validate(
        app=app, headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
    )
    problem = error_shape_problem(response)
    assert problem is None, f"{case.method} {case.formatted_path}: {problem}"


@schema.parametrize()
@FUZZ
def test_no_operation_answers_a_fleet_admin_with_a_server_error(
    case: Any, served: tuple[Any, dict[str, str]]
) -> None:
    call(case, served[0], served[1]["fleet-admin"])


@viewer_schema.parametrize()
@FUZZ
def test_no_operation_answers_a_viewer_with_a_server_error(
    case: Any, served: tuple[Any, dict[str, str]]
) -> None:
    call(case, served[0], served[1]["viewer"])
