"""The fixtures of the tests that change the dev cluster's accounts
(:mod:`tests.support.enact_cluster`)."""

from tests.support.enact_cluster import cluster, register

__all__ = ["cluster", "register"]
