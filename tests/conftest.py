"""Fixtures shared by every test.

- ``store``: a fresh register on SQLite and on PostgreSQL (when ``GPUFLEET_TEST_PG_URL`` is
  set), with ``module_url`` for one database per module and backend
  (:mod:`tests.support.stores`).
"""

pytest_plugins = ["tests.support.stores"]
