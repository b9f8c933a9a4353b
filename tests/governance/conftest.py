"""Fixtures of the governance tests."""

from __future__ import annotations

import pytest

from gpufleet.governance.store.db import Store
from tests.support.governed import governed_register


@pytest.fixture
def people(store: Store) -> dict[str, int]:
    """The small governed register (tests.support.governed) in the ``store`` under test;
    each person's id by name."""
    return governed_register(store)
