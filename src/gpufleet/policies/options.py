"""The types a policy's options may have, each with the words its error uses.

A policy declares its options beside its constructor (``options``, a class attribute mapping
each keyword to an :class:`OptionType`); :func:`gpufleet.policies.registry.policy_spec`
checks a scenario's options against that declaration once, when the scenario is read, and
keeps them in a :class:`~gpufleet.domain.scenario.PolicySpec` that the simulator builds the
policy from without checking again. The types are narrower than Python's (a depth is a
positive integer, a priority threshold any whole number, a mode one of a few words), so they
are declared rather than read off the constructor's annotations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gpufleet.domain.scenario import OptionValue


@dataclass(frozen=True)
class OptionType:
    """What a value must be (``what``, as the error says it) and the test of it."""

    what: str
    accepts: Callable[[OptionValue], bool]


def _whole(v: OptionValue) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive_int(v: OptionValue) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _non_negative(v: OptionValue) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v >= 0


def _flag(v: OptionValue) -> bool:
    return isinstance(v, bool)


POSITIVE_INT = OptionType("a positive integer", _positive_int)  # a depth, a count
WHOLE_NUMBER = OptionType("a whole number", _whole)  # negative too: a priority threshold
NON_NEGATIVE = OptionType("a number >= 0", _non_negative)  # a weight, hours, a fraction
FLAG = OptionType("true or false", _flag)
FILE = OptionType("a file path", lambda v: isinstance(v, str))  # "" for none


def one_of(*words: str) -> OptionType:
    """One of a few words, exactly as written."""
    return OptionType("one of " + ", ".join(words), lambda v: v in words)


Options = Mapping[str, OptionType]
