"""Fixtures of the governance tests."""

from __future__ import annotations

import pytest

from gpufleet.governance.store.db import Store
from tests.support.governed import governed_register
from tests.support.stores import SeededStore, no_seed


@pytest.fixture
def store(request: pytest.FixtureRequest, seeded_store: SeededStore) -> Store:
    """An upgraded store on each backend: empty, or, for a test that takes ``people``
    too, a copy of the small governed register (seeded once per worker and backend)."""
    seed = governed_register if "people" in request.fixturenames else no_seed
    st: Store = seeded_store(seed)[0]
    return st


@pytest.fixture
def people(store: Store, seeded_store: SeededStore) -> dict[str, int]:
    """The small governed register (tests.support.governed) in the ``store`` under test;
    each person's id by name."""
    ids: dict[str, int] = seeded_store(governed_register)[1]
    return dict(ids)  # the template's: a test that edits its copy leaves the next one's alone
