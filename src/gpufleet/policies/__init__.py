"""Scheduling policies. They see the domain and a Snapshot, and return a Decision."""

from gpufleet.domain.reasons import Reason
from gpufleet.policies.base import Decision, Policy
from gpufleet.policies.registry import available_policies, build_policy, make_policy, policy_spec

__all__ = [
    "Decision",
    "Policy",
    "Reason",
    "available_policies",
    "build_policy",
    "make_policy",
    "policy_spec",
]
