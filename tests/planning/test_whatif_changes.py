"""What-if changes: each bad change spec gives its precise error, each good one its exact
change; then what the changes do to a scenario, the variant file, the paired statistics,
the intercompany charges and the ``gpufleet whatif`` command.

Expected figures are worked out by hand, the formula beside them. Only a few tests simulate
(the article's scenario runs about a second per seed); the CLI tests run the ten-day SMALL
scenario with two seeds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path

import pytest

from gpufleet.api import article_scenario_path
from gpufleet.cli.main import main
from gpufleet.domain.fleet import NodePool, ReadyBlock
from gpufleet.domain.ids import EntityId, GpuTypeName, PoolId, ProgramId, SiteId
from gpufleet.domain.jobs import JobDraft
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError, ScenarioError
from gpufleet.inputs.scenario.load import load_scenario, load_scenario_text
from gpufleet.inputs.traces.generator import Generator, ProgramWorkload
from gpufleet.planning.whatif.apply import apply_changes
from gpufleet.planning.whatif.changes import (
    FORMS,
    Change,
    ChangeError,
    DelaySite,
    Deliver,
    Move,
    ScaleLoad,
    SetPolicy,
    SetQuota,
    SetWeight,
    parse,
)
from gpufleet.planning.whatif.charges import charges
from gpufleet.planning.whatif.stats import estimate, paired, t975
from gpufleet.planning.whatif.variantfile import load_variant_file
from gpufleet.policies.registry import available_policies
from gpufleet.sim.simulator import Simulation
from tests.support.small_scenario import SMALL, with_defect

Capture = pytest.CaptureFixture[str]
D = datetime
FSD, GROK = ProgramId("fsd-training"), ProgramId("grok-pretraining")

POLICY_NAMES = [n for n, _, _ in available_policies()]


@pytest.fixture(scope="module")
def article() -> Scenario:
    return load_scenario(article_scenario_path())


def applied(base: Scenario, kind: str, text: str) -> Scenario:
    return apply_changes(base, [(parse(kind, text), text)], "v")


def apply_error(base: Scenario, *changes: tuple[str, str]) -> str:
    with pytest.raises(InputError) as e:
        apply_changes(base, [(parse(k, t), t) for k, t in changes], "v")
    return str(e.value)


# --- good short forms: the exact change ------------------------------------------------
GOOD = [
    pytest.param(
        "move",
        "12000 H100 tesla->xai@xai-memphis 2024-06-15",
        Move(12000, "H100", "tesla", "xai", D(2024, 6, 15), to_site="xai-memphis"),
        id="the-article's-move-ships-the-gpus-to-xai's-site",
    ),
    pytest.param(
        "move",
        "800 H100-SXM tesla/fsd-training->xai/grok-pretraining 2024-07-01..2024-10-01 "
        "price=2500000 pool=tesla-h100-12k",
        Move(
            800,
            "H100-SXM",
            "tesla",
            "xai",
            D(2024, 7, 1),
            D(2024, 10, 1),
            "fsd-training",
            "grok-pretraining",
            None,
            2_500_000.0,
            "tesla-h100-12k",
        ),
        id="a-lease-between-named-programs-with-a-price-and-a-pool",
    ),
    pytest.param(
        "move",
        "16 h100 a->b 2024-01-03 pool=p price=0.5",
        Move(16, "h100", "a", "b", D(2024, 1, 3), price_usd=0.5, pool="p"),
        id="options-in-any-order-and-the-type-kept-as-typed",
    ),
    pytest.param(
        "quota",
        "fsd-training H100=8000 2024-07-01",
        SetQuota("fsd-training", "H100", 8000, D(2024, 7, 1)),
        id="a-quota-without-limits",
    ),
    pytest.param(
        "quota",
        "fsd-training H100=0 2024-07-01 lend=0 borrow=400",
        SetQuota("fsd-training", "H100", 0, D(2024, 7, 1), 400, 0),
        id="a-quota-of-0-with-both-limits",
    ),
    pytest.param("weight", "fsd-training=2", SetWeight("fsd-training", 2.0), id="a-whole-weight"),
    pytest.param(
        "weight", " grok = 0.25 ", SetWeight("grok", 0.25), id="a-weight-with-spaces-around"
    ),
    pytest.param(
        "deliver",
        "4000 H100 tesla@tesla-gigatexas 2024-09-01",
        Deliver(4000, "H100", "tesla", "tesla-gigatexas", D(2024, 9, 1)),
        id="a-delivery-at-list-value-8-per-node",
    ),
    pytest.param(
        "deliver",
        "4000 B200 xai@xai-memphis 2024-09-01 value=1.5e8 per-node=4",
        Deliver(4000, "B200", "xai", "xai-memphis", D(2024, 9, 1), 150_000_000.0, 4),
        id="a-delivery-with-its-value-and-4-gpus-per-node",
    ),
    pytest.param(
        "delay", "tesla-gigatexas +60d", DelaySite("tesla-gigatexas", 60.0), id="a-delay-of-+60d"
    ),
    pytest.param(
        "delay",
        "tesla-gigatexas 1.5days",
        DelaySite("tesla-gigatexas", 1.5),
        id="a-delay-without-plus-in-days",
    ),
    pytest.param("delay", "west +0d", DelaySite("west", 0.0), id="a-delay-of-0-is-allowed"),
    pytest.param("policy", " drf ", SetPolicy("drf"), id="a-policy-name"),
    pytest.param(
        "scale", "fsd-training x1.5", ScaleLoad("fsd-training", 1.5), id="one-and-a-half-the-load"
    ),
    pytest.param("scale", "grok x0.5", ScaleLoad("grok", 0.5), id="half-the-load"),
]


@pytest.mark.parametrize(("kind", "text", "change"), GOOD)
def test_a_good_short_form_parses_to_exactly_its_change(
    kind: str, text: str, change: Change
) -> None:
    assert parse(kind, text) == change


# --- bad short forms: the exact message ------------------------------------------------
BAD = [
    # move
    pytest.param(
        "move", "12000 H100 tesla->xai", "3 part(s), at least 4 needed", id="move-missing-its-date"
    ),
    pytest.param(
        "move",
        "x H100 a->b 2024-06-15",
        "GPU count 'x' is not a whole number",
        id="move-count-not-a-number",
    ),
    pytest.param(
        "move",
        "-8 H100 a->b 2024-06-15",
        "GPU count '-8' is not a whole number >= 0",
        id="move-negative-count",
    ),
    pytest.param(
        "move",
        "8.5 H100 a->b 2024-06-15",
        "GPU count '8.5' is not a whole number >= 0",
        id="move-count-not-whole",
    ),
    pytest.param("move", "0 H100 a->b 2024-06-15", "a move of 0 GPUs", id="move-of-zero-gpus"),
    pytest.param(
        "move", "8 H100 a-b 2024-06-15", "'a-b' is not FROM->TO", id="move-missing-the-arrow"
    ),
    pytest.param(
        "move", "8 H100 a->b->c 2024-06-15", "'a->b->c' is not FROM->TO", id="move-two-arrows"
    ),
    pytest.param(
        "move", "8 H100 ->b 2024-06-15", "'->b' names no entity before '->'", id="move-empty-giver"
    ),
    pytest.param(
        "move", "8 H100 a-> 2024-06-15", "'a->' names no entity after '->'", id="move-empty-taker"
    ),
    pytest.param(
        "move",
        "8 H100 a->@dc 2024-06-15",
        "'a->@dc' names no entity after '->'",
        id="move-only-a-site-after-the-arrow",
    ),
    pytest.param(
        "move",
        "8 H100 a->b@ 2024-06-15",
        "'a->b@' names no site after '@'",
        id="move-at-without-a-site",
    ),
    pytest.param(
        "move",
        "8 H100 a/->b 2024-06-15",
        "'a/' is not ENTITY or ENTITY/PROGRAM",
        id="move-slash-without-program",
    ),
    pytest.param(
        "move",
        "8 H100 /p->b 2024-06-15",
        "'/p' is not ENTITY or ENTITY/PROGRAM",
        id="move-program-without-entity",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-13-01",
        "'2024-13-01' is not a date (YYYY-MM-DD)",
        id="move-bad-month",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 15/06/2024",
        "'15/06/2024' is not a date (YYYY-MM-DD)",
        id="move-date-in-another-format",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15..",
        "'2024-06-15..' names no end date after '..'",
        id="move-lease-without-end",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15..soon",
        "'soon' is not a date (YYYY-MM-DD)",
        id="move-lease-end-not-a-date",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15..2024-06-01",
        "the lease ends (2024-06-01) before it starts (2024-06-15)",
        id="move-lease-ends-before-it-starts",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15..2024-06-15",
        "the lease ends (2024-06-15) when it starts (2024-06-15)",
        id="move-lease-ends-when-it-starts",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15 cost=3",
        "unknown option 'cost'; options: pool, price",
        id="move-unknown-option",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15 price=3 price=4",
        "option 'price' given twice",
        id="move-option-twice",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15 price=-3",
        "price '-3' is not a number >= 0",
        id="move-negative-price",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15 price=cheap",
        "price 'cheap' is not a number",
        id="move-price-not-a-number",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15 price=nan",
        "price 'nan' is not a number >= 0",
        id="move-price-nan",
    ),
    pytest.param(
        "move",
        "8 H100 a->b 2024-06-15 extra",
        "unexpected 'extra'",
        id="move-a-word-that-is-no-option",
    ),
    # quota
    pytest.param(
        "quota", "fsd H100=8", "2 part(s), at least 3 needed", id="quota-missing-its-date"
    ),
    pytest.param(
        "quota", "fsd H100 2024-07-01", "'H100' is not TYPE=N", id="quota-type-without-count"
    ),
    pytest.param("quota", "fsd =8 2024-07-01", "'=8' is not TYPE=N", id="quota-count-without-type"),
    pytest.param(
        "quota",
        "fsd H100=many 2024-07-01",
        "nominal 'many' is not a whole number",
        id="quota-count-not-a-number",
    ),
    pytest.param(
        "quota",
        "fsd H100=-1 2024-07-01",
        "nominal '-1' is not a whole number >= 0",
        id="quota-negative",
    ),
    pytest.param(
        "quota",
        "fsd H100=1.5 2024-07-01",
        "nominal '1.5' is not a whole number >= 0",
        id="quota-not-whole",
    ),
    pytest.param(
        "quota",
        "fsd H100=8 2024-02-30",
        "'2024-02-30' is not a date (YYYY-MM-DD)",
        id="quota-february-30",
    ),
    pytest.param(
        "quota",
        "fsd H100=8 2024-07-01 borrow=-1",
        "borrow '-1' is not a whole number >= 0",
        id="quota-negative-borrowing-limit",
    ),
    pytest.param(
        "quota",
        "fsd H100=8 2024-07-01 share=1",
        "unknown option 'share'; options: borrow, lend",
        id="quota-unknown-option",
    ),
    pytest.param(
        "quota",
        "fsd H100=8 2024-07-01 lend=1 lend=2",
        "option 'lend' given twice",
        id="quota-option-twice",
    ),
    # weight
    pytest.param("weight", "fsd-training", "not PROGRAM=W", id="weight-missing-equals"),
    pytest.param("weight", "=2", "not PROGRAM=W", id="weight-missing-program"),
    pytest.param("weight", "fsd=heavy", "weight 'heavy' is not a number", id="weight-not-a-number"),
    pytest.param("weight", "fsd=", "weight '' is not a number", id="weight-empty"),
    pytest.param("weight", "fsd=-1", "weight '-1' is not a number >= 0", id="weight-negative"),
    pytest.param("weight", "fsd=0", "a weight of 0", id="weight-zero"),
    # deliver
    pytest.param(
        "deliver",
        "4000 H100 tesla@dc",
        "3 part(s), at least 4 needed",
        id="deliver-missing-its-date",
    ),
    pytest.param(
        "deliver",
        "4000 H100 tesla 2024-09-01",
        "'tesla' is not ENTITY@SITE",
        id="deliver-missing-the-site",
    ),
    pytest.param(
        "deliver",
        "4000 H100 tesla@ 2024-09-01",
        "'tesla@' is not ENTITY@SITE",
        id="deliver-at-without-a-site",
    ),
    pytest.param(
        "deliver", "4000 H100 @dc 2024-09-01", "'@dc' is not ENTITY@SITE", id="deliver-empty-owner"
    ),
    pytest.param(
        "deliver",
        "lots H100 tesla@dc 2024-09-01",
        "GPU count 'lots' is not a whole number",
        id="deliver-count-not-a-number",
    ),
    pytest.param(
        "deliver",
        "-8 H100 tesla@dc 2024-09-01",
        "GPU count '-8' is not a whole number >= 0",
        id="deliver-negative",
    ),
    pytest.param(
        "deliver", "0 H100 tesla@dc 2024-09-01", "a delivery of 0 GPUs", id="deliver-zero-gpus"
    ),
    pytest.param(
        "deliver",
        "12 H100 tesla@dc 2024-09-01",
        "12 GPUs are not whole nodes of 8",
        id="deliver-gpus-not-whole-nodes",
    ),
    pytest.param(
        "deliver",
        "12 H100 tesla@dc 2024-09-01 per-node=5",
        "12 GPUs are not whole nodes of 5",
        id="deliver-gpus-not-whole-nodes-of-the-given-size",
    ),
    pytest.param(
        "deliver",
        "12 H100 tesla@dc 2024-09-01 per-node=0",
        "per-node 0: a node holds at least 1 GPU",
        id="deliver-zero-gpus-per-node",
    ),
    pytest.param(
        "deliver",
        "8 H100 tesla@dc 2024-09-01 value=-1",
        "value '-1' is not a number >= 0",
        id="deliver-negative-value",
    ),
    pytest.param(
        "deliver",
        "8 H100 tesla@dc 2024-09-01 price=1",
        "unknown option 'price'; options: per-node, value",
        id="deliver-unknown-option",
    ),
    pytest.param(
        "deliver",
        "8 H100 tesla@dc 2024-09-01 value=1 value=2",
        "option 'value' given twice",
        id="deliver-option-twice",
    ),
    pytest.param(
        "deliver",
        "8 H100 tesla@dc 09/01/2024",
        "'09/01/2024' is not a date (YYYY-MM-DD)",
        id="deliver-bad-date",
    ),
    # delay
    pytest.param("delay", "tesla-gigatexas", "1 part(s), 2 needed", id="delay-missing-the-days"),
    pytest.param(
        "delay", "tesla-gigatexas +5d extra", "3 part(s), 2 needed", id="delay-one-part-too-many"
    ),
    pytest.param(
        "delay", "tesla-gigatexas +5", "'+5' is not +Nd (a number of days)", id="delay-without-d"
    ),
    pytest.param(
        "delay", "tesla-gigatexas +xd", "days 'x' is not a number", id="delay-days-not-a-number"
    ),
    pytest.param(
        "delay",
        "east +99999999999d",
        "'+99999999999d' is more than 100 years (36525 days)",
        id="delay-past-any-date",
    ),
    pytest.param(
        "delay",
        "tesla-gigatexas -5d",
        "'-5d' is negative: readiness can only slip (+Nd)",
        id="delay-negative",
    ),
    # policy
    pytest.param("policy", "", "not one policy name", id="policy-empty"),
    pytest.param("policy", "drf fifo", "not one policy name", id="policy-two-names"),
    # scale
    pytest.param("scale", "fsd-training", "1 part(s), 2 needed", id="scale-missing-the-factor"),
    pytest.param(
        "scale",
        "fsd-training 1.5",
        "'1.5' is not xF (x then a factor)",
        id="scale-factor-without-x",
    ),
    pytest.param(
        "scale", "fsd-training xabc", "factor 'abc' is not a number", id="scale-factor-not-a-number"
    ),
    pytest.param(
        "scale", "fsd-training x-1", "factor '-1' is not a number >= 0", id="scale-negative"
    ),
    pytest.param("scale", "fsd-training x0", "a factor of 0", id="scale-zero"),
]


@pytest.mark.parametrize(("kind", "text", "problem"), BAD)
def test_a_bad_short_form_says_exactly_what_is_wrong_and_shows_a_valid_form(
    kind: str, text: str, problem: str
) -> None:
    with pytest.raises(ChangeError) as e:
        parse(kind, text)
    assert str(e.value) == f"--{kind} {text!r}: {problem} (expected {FORMS[kind]})"
    assert (e.value.kind, e.value.text) == (kind, text)


def test_the_whole_message_names_the_flag_the_text_the_problem_and_an_example() -> None:
    with pytest.raises(ChangeError) as e:
        parse("move", "12000 H100 tesla-xai 2024-06-15")
    assert str(e.value) == (
        "--move '12000 H100 tesla-xai 2024-06-15': 'tesla-xai' is not FROM->TO (expected "
        "N TYPE FROM->TO[@SITE] DATE[..END] [price=USD] [pool=NAME], e.g. "
        "'12000 H100 tesla->xai 2024-06-15')"
    )


def test_an_unknown_change_kind_lists_the_kinds() -> None:
    with pytest.raises(InputError) as e:
        parse("teleport", "x")
    assert str(e.value) == (
        "unknown change 'teleport'; changes: move, quota, weight, deliver, delay, policy, scale"
    )


# --- changes applied to the article's scenario: what does not fit ----------------------
MOVE = "move"
APPLY_ERRORS = [
    pytest.param(
        (MOVE, "8 H100 tesla->spacex 2024-06-15"),
        "unknown entity 'spacex'; entities: tesla, xai",
        id="move-to-an-unknown-entity-lists-the-entities",
    ),
    pytest.param(
        (MOVE, "8 H100 spacex->xai 2024-06-15"),
        "unknown entity 'spacex'; entities: tesla, xai",
        id="move-from-an-unknown-entity-lists-the-entities",
    ),
    pytest.param(
        (MOVE, "8 H100 tesla/autopilot->xai 2024-06-15"),
        "'autopilot' is not a program of 'tesla'; its programs: fsd-training",
        id="move-from-a-program-the-giver-does-not-have",
    ),
    pytest.param(
        ("weight", "autopilot=2"),
        "unknown program 'autopilot'; programs: fsd-training, grok-pretraining",
        id="weight-of-an-unknown-program-lists-the-programs",
    ),
    pytest.param(
        ("quota", "autopilot H100=8 2024-07-01"),
        "unknown program 'autopilot'; programs: fsd-training, grok-pretraining",
        id="quota-of-an-unknown-program-lists-the-programs",
    ),
    pytest.param(
        ("scale", "autopilot x2"),
        "unknown program 'autopilot'; programs: fsd-training, grok-pretraining",
        id="scale-of-an-unknown-program-lists-the-programs",
    ),
    pytest.param(
        (MOVE, "8 H100 tesla->xai@mars 2024-06-15"),
        "unknown site 'mars'; sites: tesla-gigatexas, xai-memphis",
        id="move-to-an-unknown-site-lists-the-sites",
    ),
    pytest.param(
        ("deliver", "8 H100 tesla@mars 2024-07-01"),
        "unknown site 'mars'; sites: tesla-gigatexas, xai-memphis",
        id="delivery-to-an-unknown-site-lists-the-sites",
    ),
    pytest.param(
        ("deliver", "8 H100 spacex@xai-memphis 2024-07-01"),
        "unknown entity 'spacex'; entities: tesla, xai",
        id="delivery-to-an-unknown-owner-lists-the-entities",
    ),
    pytest.param(
        ("delay", "mars +5d"),
        "unknown site 'mars'; sites: tesla-gigatexas, xai-memphis",
        id="delay-of-an-unknown-site-lists-the-sites",
    ),
    pytest.param(
        ("delay", "xai-memphis +5d"),
        "every power block of site 'xai-memphis' is ready by the scenario's start "
        "(2024-06-01): nothing to delay",
        id="delay-of-a-site-already-powered-would-change-nothing",
    ),
    pytest.param(
        (MOVE, "8 H100 tesla->xai 2024-06-15 pool=nope"),
        "unknown pool 'nope'; pools: tesla-h100-existing, tesla-h100-12k, xai-h100-existing",
        id="move-from-an-unknown-pool-lists-the-pools",
    ),
    pytest.param(
        (MOVE, "8 A100 tesla->xai 2024-06-15 pool=tesla-h100-12k"),
        "pool 'tesla-h100-12k' holds H100-SXM, not A100-80GB",
        id="move-from-a-pool-of-another-type",
    ),
    pytest.param(
        ("policy", "lottery"),
        "unknown policy 'lottery'; policies: " + ", ".join(POLICY_NAMES),
        id="an-unknown-policy-lists-the-policies",
    ),
    pytest.param(
        (MOVE, "8 H tesla->xai 2024-06-15"),
        "GPU type 'H' matches several: H100-SXM, H200",
        id="a-type-prefix-matching-several-lists-them",
    ),
    pytest.param(
        (MOVE, "8 TPU tesla->xai 2024-06-15"),
        "GPU type 'TPU' matches none of: A100-80GB, H100-SXM, H200, B200",
        id="a-type-prefix-matching-none-lists-the-catalog",
    ),
    pytest.param(
        (MOVE, "24000 H100 tesla->xai 2024-06-15"),
        # 10,000 existing + 12,000 ordered = 22,000
        "on 2024-06-15 'tesla' holds 22000 H100-SXM GPUs in whole nodes, fewer than 24000",
        id="a-move-bigger-than-what-the-giver-holds",
    ),
    pytest.param(
        (MOVE, "8 A100 tesla->xai 2024-06-15"),
        "on 2024-06-15 'tesla' holds 0 A100-80GB GPUs in whole nodes, fewer than 8",
        id="a-move-of-a-type-the-giver-has-none-of",
    ),
    pytest.param(
        (MOVE, "12 H100 tesla->xai 2024-06-15"),
        "12 GPUs are not whole nodes: tesla's H100-SXM pools have 8 GPUs per node",
        id="a-move-of-gpus-that-are-not-whole-nodes",
    ),
    pytest.param(
        (MOVE, "8 H100 tesla->xai 2025-06-01"),
        "2025-06-01 is outside the scenario (2024-06-01 .. 2025-03-31)",
        id="a-move-after-the-horizon",
    ),
    pytest.param(
        (MOVE, "8 H100 tesla->xai 2024-05-31"),
        "2024-05-31 is outside the scenario (2024-06-01 .. 2025-03-31)",
        id="a-move-before-the-start",
    ),
    pytest.param(
        ("quota", "fsd-training H100=8 2025-04-01"),
        "2025-04-01 is outside the scenario (2024-06-01 .. 2025-03-31)",
        id="a-quota-change-after-the-horizon",
    ),
    pytest.param(
        ("deliver", "8 H100 tesla@xai-memphis 2023-01-01"),
        "2023-01-01 is outside the scenario (2024-06-01 .. 2025-03-31)",
        id="a-delivery-before-the-start",
    ),
    pytest.param(
        (MOVE, "8 H100 tesla->tesla 2024-06-15"),
        "a move from 'tesla' to itself",
        id="a-move-to-itself",
    ),
]


@pytest.mark.parametrize(("change", "problem"), APPLY_ERRORS)
def test_a_change_that_does_not_fit_the_scenario_says_why(
    article: Scenario, change: tuple[str, str], problem: str
) -> None:
    kind, text = change
    assert apply_error(article, change) == f"--{kind} {text!r}: {problem} (expected {FORMS[kind]})"


def test_two_moves_that_together_take_more_than_the_giver_holds_are_refused(
    article: Scenario,
) -> None:
    # the 22,000 leave on 06-15, but 8 of the 12k pool already left on 06-10: 12,000 - 8
    msg = apply_error(
        article,
        (MOVE, "22000 H100 tesla->xai 2024-06-15"),
        (MOVE, "8 H100 tesla->xai 2024-06-10"),
    )
    assert msg == (
        "variant 'v': on 2024-06-15 'tesla' holds 11992 GPUs of pool 'tesla-h100-12k', "
        "and this transfer moves 12000"
    )


TWO_PROGRAMS = with_defect(
    "      - name: vision\n",
    "      - name: robotics\n"
    "        quotas:\n"
    "          H100-SXM: {nominal: 16}\n"
    "      - name: vision\n",
    SMALL[: SMALL.index("variants:")],  # its own variant would be ambiguous too
)


def test_a_move_from_an_entity_with_two_programs_of_that_type_asks_which() -> None:
    sc = load_scenario_text(TWO_PROGRAMS)
    text = "16 H100 acme->beta 2024-01-03"
    assert apply_error(sc, (MOVE, text)) == (
        f"--move {text!r}: 'acme' has 2 programs; name one as acme/PROGRAM: robotics, vision"
        f" (expected {FORMS['move']})"
    )
    named = applied(sc, MOVE, "16 H100 acme/vision->beta 2024-01-03")
    assert named.transfers[-1].from_program == "vision"


def test_the_articles_move_takes_the_redirected_shipment(article: Scenario) -> None:
    sc = applied(article, MOVE, "12000 H100 tesla->xai@xai-memphis 2024-06-15")
    (t,) = sc.transfers
    assert (t.pool, t.gpus, t.from_program, t.to_program, t.to_site) == (
        "tesla-h100-12k",
        12000,
        "fsd-training",
        "grok-pretraining",
        "xai-memphis",
    )


def test_a_move_of_more_than_one_pool_takes_the_newest_first(article: Scenario) -> None:
    # 12,000 from the 12k pool (delivered 2024-06-15), the other 2,000 from the older one
    sc = applied(article, MOVE, "14000 H100 tesla->xai 2024-07-01 price=7000000")
    assert [(t.pool, t.gpus, t.price_usd) for t in sc.transfers] == [
        ("tesla-h100-12k", 12000, 6_000_000.0),  # 7M x 12,000 / 14,000
        ("tesla-h100-existing", 2000, 1_000_000.0),  # 7M x 2,000 / 14,000
    ]


# --- what --scale, --delay and --deliver do ---------------------------------------------
def _first(stream: Iterator[JobDraft], n: int) -> list[float]:
    return [d.submit_s for d in islice(stream, n)]


def test_scale_multiplies_the_generators_rate_so_jobs_arrive_f_times_as_close(
    article: Scenario,
) -> None:
    sc = applied(article, "scale", "fsd-training x2")
    base_w, scaled_w = dict(article.workloads)[FSD], dict(sc.workloads)[FSD]
    assert isinstance(scaled_w, ProgramWorkload) and isinstance(scaled_w.sources[0], Generator)
    assert scaled_w.sources[0].jobs_per_day == 58.0  # 29 x 2
    # the same seed draws the same exponential gaps, each divided by 2
    base, scaled = _first(base_w(5), 200), _first(scaled_w(5), 200)
    assert scaled == pytest.approx([t / 2 for t in base], rel=1e-9)
    # so the jobs of the first 5 days are the base's jobs of its first 10 days
    day = 86_400.0
    n_scaled = sum(1 for t in _first(scaled_w(5), 2000) if t < 5 * day)
    n_base = sum(1 for t in _first(base_w(5), 2000) if t < 10 * day)
    assert n_scaled == n_base
    assert 290 - 4 * 17 < n_base < 290 + 4 * 17  # Poisson: 29/day x 10 days, sd sqrt(290)
    # the other program is untouched
    assert dict(sc.workloads)[GROK] is dict(article.workloads)[GROK]


def test_delay_shifts_the_readiness_after_the_start_and_keeps_what_was_ready(
    article: Scenario,
) -> None:
    sc = applied(article, "delay", "tesla-gigatexas +30d")
    tesla = next(s for s in sc.sites if s.name == "tesla-gigatexas")
    assert [(b.date, b.power_kw) for b in tesla.ready_blocks] == [
        (D(2024, 1, 1), 16580),  # before the start: stays
        (D(2024, 11, 14), 20000),  # 2024-10-15 + 30 days
    ]
    assert next(s for s in sc.sites if s.name == "xai-memphis") in article.sites


def test_delay_of_a_site_with_no_ready_blocks_powers_it_only_after_the_delay() -> None:
    sc = load_scenario_text(SMALL)
    east = applied(sc, "delay", "east +2d").sites[0]
    assert east.ready_blocks == (ReadyBlock(D(2024, 1, 3), 5000, "delayed"),)


def test_delay_strands_the_teslas_12000_gpus_n_days_longer(article: Scenario) -> None:
    base = Simulation(article, seed=1).run()
    late = Simulation(applied(article, "delay", "tesla-gigatexas +30d"), seed=1).run()
    # base: 12,000 GPUs x (2024-10-15 - 2024-06-15 = 122 days) = 1,464,000 GPU-days
    assert base.entities["tesla"]["stranded_gpu_days"] == 1_464_000
    # delayed: 12,000 x (122 + 30) = 1,824,000 = base + 12,000 x 30
    assert late.entities["tesla"]["stranded_gpu_days"] == 1_464_000 + 12_000 * 30
    assert late.entities["xai"]["stranded_gpu_days"] == 0


def test_deliver_adds_a_pool_worth_its_list_price(article: Scenario) -> None:
    sc = applied(article, "deliver", "4000 H100 tesla@tesla-gigatexas 2024-09-01")
    assert sc.pools[:3] == article.pools
    assert sc.pools[3] == NodePool(
        PoolId("delivery-3-tesla-H100-SXM"),
        SiteId("tesla-gigatexas"),
        GpuTypeName("H100-SXM"),
        8,
        500,  # 4,000 / 8 per node
        EntityId("tesla"),
        D(2024, 9, 1),
        120_000_000.0,  # 4,000 x $30,000 (the catalog's H100 price)
    )


def test_deliver_with_a_value_and_node_size_keeps_them(article: Scenario) -> None:
    sc = applied(article, "deliver", "4000 B200 xai@xai-memphis 2024-09-01 value=2e8 per-node=4")
    p = sc.pools[-1]
    assert (p.gpu_type, p.gpus_per_node, p.node_count, p.value_usd, p.owner) == (
        "B200",
        4,
        1000,  # 4,000 / 4
        200_000_000.0,
        "xai",
    )


def test_quota_and_weight_and_policy_land_where_the_engine_reads_them(
    article: Scenario,
) -> None:
    changes: list[tuple[Change, str]] = [
        (parse("quota", t), t) for t in ["fsd-training H100=8000 2024-07-01 borrow=100"]
    ]
    changes += [(parse("weight", "grok-pretraining=3"), ""), (parse("policy", "drf"), "")]
    sc = apply_changes(article, changes, "v")
    (q,) = sc.quota_changes
    assert (q.at, q.program, q.gpu_type, q.nominal_gpus, q.borrowing_limit_gpus) == (
        D(2024, 7, 1),
        "fsd-training",
        "H100-SXM",
        8000,
        100,
    )
    assert sc.program("grok-pretraining").weight == 3.0
    assert sc.program("fsd-training").weight == article.program("fsd-training").weight
    assert sc.policy.name == "drf"
    assert sc.name == "v"


# --- the variant file ------------------------------------------------------------------
GOOD_VARIANT = """\
name: move-early
description: move the 12,000 H100 to xAI on delivery
changes:
  - move: "12000 H100 tesla->xai@xai-memphis 2024-06-15"
  - quota: {program: fsd-training, gpu_type: H100, nominal: 8000, at: 2024-07-01}
  - weight: {program: grok-pretraining, weight: 2}
  - policy: drf
"""


def test_a_variant_file_mixes_short_forms_and_mappings(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(GOOD_VARIANT, encoding="utf-8")
    name, description, changes = load_variant_file(path)
    assert (name, description) == ("move-early", "move the 12,000 H100 to xAI on delivery")
    assert changes == [
        (
            Move(12000, "H100", "tesla", "xai", D(2024, 6, 15), to_site="xai-memphis"),
            "12000 H100 tesla->xai@xai-memphis 2024-06-15",
        ),
        (
            SetQuota("fsd-training", "H100", 8000, D(2024, 7, 1)),
            "program=fsd-training, gpu_type=H100, nominal=8000, at=2024-07-01",
        ),
        (SetWeight("grok-pretraining", 2.0), "program=grok-pretraining, weight=2"),
        (SetPolicy("drf"), "drf"),
    ]


def test_a_variant_file_without_a_name_is_named_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "late-power.yaml"
    path.write_text("changes:\n  - delay: tesla-gigatexas +30d\n", encoding="utf-8")
    change = (DelaySite("tesla-gigatexas", 30.0), "tesla-gigatexas +30d")
    assert load_variant_file(path) == ("late-power", "", [change])


def _variant_problems(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_variant_file(path)
    assert all(p.file == str(path) for p in e.value.problems)
    return [(p.line, p.field, p.message) for p in e.value.problems]


ONE = "name: v\nchanges:\n  - {}\n"  # a variant file with one change item, on line 3
KINDS = "one of: move, quota, weight, deliver, delay, policy, scale"
BAD_VARIANTS = [
    pytest.param(
        "name: v\ncolour: blue\nchanges:\n  - policy: drf\n",
        (2, "colour", "unknown key 'colour'"),
        id="an-unknown-top-key",
    ),
    pytest.param("name: v\n", (1, "changes", "no list of changes"), id="no-changes-key"),
    pytest.param(
        "name: v\nchanges: []\n", (2, "changes", "no list of changes"), id="an-empty-list"
    ),
    pytest.param(
        ONE.format("[quota]"), (3, "changes[0]", "not a one-key mapping"), id="an-item-a-list"
    ),
    pytest.param(
        ONE.format("{move: '8 H100 a->b 2024-06-15', policy: drf}"),
        (3, "changes[0]", "not a one-key mapping"),
        id="an-item-with-two-keys",
    ),
    pytest.param(
        ONE.format("teleport: x"),
        (
            3,
            "changes[0].teleport",
            "unknown change 'teleport'; changes: move, quota, weight, "
            "deliver, delay, policy, scale",
        ),
        id="an-unknown-change-kind",
    ),
    pytest.param(
        ONE.format("move: '8 H100 a-b 2024-06-15'"),
        (
            3,
            "changes[0].move",
            f"--move '8 H100 a-b 2024-06-15': 'a-b' is not FROM->TO (expected {FORMS['move']})",
        ),
        id="a-bad-short-form-gives-the-flags-message",
    ),
    pytest.param(
        ONE.format("quota: {program: p, gpu_type: H100, nominal: 8, at: 2024-07-01, share: 2}"),
        (
            3,
            "changes[0].quota",
            "quota: unknown field 'share'; fields: program, gpu_type, "
            "nominal, at, borrowing_limit, lending_limit",
        ),
        id="an-unknown-field-lists-the-fields",
    ),
    pytest.param(
        ONE.format("quota: {program: p, gpu_type: H100}"),
        (3, "changes[0].quota", "quota: missing at, nominal"),
        id="missing-fields-are-named",
    ),
    pytest.param(
        ONE.format("quota: {program: p, gpu_type: H100, nominal: many, at: 2024-07-01}"),
        (3, "changes[0].quota", "quota.nominal: 'many' is not a whole number >= 0"),
        id="a-count-that-is-text",
    ),
    pytest.param(
        ONE.format("quota: {program: p, gpu_type: H100, nominal: 8, at: soon}"),
        (3, "changes[0].quota", "quota.at: 'soon' is not a date (YYYY-MM-DD)"),
        id="a-date-that-is-text",
    ),
    pytest.param(
        ONE.format("weight: {program: p, weight: -1}"),
        (3, "changes[0].weight", "weight.weight: -1 is not a number >= 0"),
        id="a-negative-number",
    ),
    pytest.param(
        ONE.format("delay: {site: dc, days: true}"),
        (3, "changes[0].delay", "delay.days: True is not a number >= 0"),
        id="a-boolean-for-a-number",
    ),
    pytest.param(
        ONE.format("weight: {program: 3, weight: 1}"),
        (3, "changes[0].weight", "weight.program: 3 is not a name"),
        id="a-number-for-a-name",
    ),
    pytest.param(
        ONE.format("weight: [1]"),
        (3, "changes[0].weight", "weight: a short-form string or a mapping of fields, got [1]"),
        id="a-list-for-a-change",
    ),
    pytest.param(
        ONE.format("weight: {program: p, weight: 0}"),
        (3, "changes[0].weight", "weight: a weight of 0"),
        id="a-mapping-is-held-to-the-short-forms-rules",
    ),
    pytest.param(
        ONE.format("deliver: {gpus: 12, gpu_type: H100, owner: a, site: s, date: 2024-07-01}"),
        (3, "changes[0].deliver", "deliver: 12 GPUs are not whole nodes of 8"),
        id="a-mapping-delivery-of-part-of-a-node",
    ),
    pytest.param(
        ONE.format(
            "move: {gpus: 8, gpu_type: H100, from: a, to: b, start: 2024-07-01, end: 2024-06-01}"
        ),
        (3, "changes[0].move", "move: the lease ends (2024-06-01) before it starts (2024-07-01)"),
        id="a-mapping-lease-that-ends-before-it-starts",
    ),
]


@pytest.mark.parametrize(("text", "problem"), BAD_VARIANTS)
def test_a_bad_variant_file_names_the_line_and_what_is_wrong(
    tmp_path: Path, text: str, problem: tuple[int, str, str]
) -> None:
    assert _variant_problems(tmp_path, text) == [problem]


def test_a_variant_file_lists_every_problem_at_once(tmp_path: Path) -> None:
    text = "name: v\nchanges:\n  - policy: drf fifo\n  - [x]\n  - scale: p x0\n"
    assert [(line, f) for line, f, _ in _variant_problems(tmp_path, text)] == [
        (3, "changes[0].policy"),
        (4, "changes[1]"),
        (5, "changes[2].scale"),
    ]


def test_a_variant_file_that_is_a_list_is_refused_at_line_1(tmp_path: Path) -> None:
    assert _variant_problems(tmp_path, "- a\n- b\n") == [(1, "", "the top level is not a mapping")]


# --- paired statistics -----------------------------------------------------------------
def test_the_interval_of_1_2_3_is_2_plus_or_minus_2_4841() -> None:
    # mean = 6 / 3 = 2; s = sqrt(((1-2)^2 + 0 + (3-2)^2) / 2) = 1
    # half-width = t(0.975, 2) s / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    # (t(0.975, 2) = 0.95 / sqrt(2 x 0.975 x 0.025) exactly: the 2-df closed form)
    e = estimate([1.0, 2.0, 3.0])
    assert (e.mean, e.n) == (2.0, 3)
    assert e.low == pytest.approx(2 - 2.484138, abs=1e-6)
    assert e.high == pytest.approx(2 + 2.484138, abs=1e-6)
    assert e.within_noise  # -0.4841 <= 0 <= 4.4841
    assert e.as_dict() == {
        "mean": 2.0,
        "ci95_low": -0.4841,
        "ci95_high": 4.4841,
        "n": 3,
        "within_noise": True,
    }


def test_paired_differences_cancel_what_the_seeds_share() -> None:
    # d = [12-10, 25-20, 33-30, 44-40] = [2, 5, 3, 4]: mean 3.5,
    # s = sqrt((2.25 + 2.25 + 0.25 + 0.25) / 3) = sqrt(5/3) = 1.29099
    # half = t(0.975, 3) s / 2 = 3.182446 x 1.290994 / 2 = 2.054260
    e = paired([10, 20, 30, 40], [12, 25, 33, 44])
    assert e.mean == 3.5
    assert (e.low, e.high) == pytest.approx((3.5 - 2.054260, 3.5 + 2.054260), abs=1e-5)
    assert not e.within_noise  # 1.446 > 0: the variant is higher


def test_identical_differences_have_a_zero_width_interval() -> None:
    e = paired([1, 2, 3], [4, 5, 6])  # d = [3, 3, 3], s = 0
    assert (e.mean, e.low, e.high, e.within_noise) == (3.0, 3.0, 3.0, False)


def test_one_seed_gives_no_interval_and_none_gives_no_mean() -> None:
    one = estimate([5.0])
    assert (one.mean, one.low, one.high, one.within_noise) == (5.0, -math.inf, math.inf, True)
    assert one.as_dict()["ci95_low"] is None
    assert math.isnan(estimate([]).mean)


def test_t975_is_infinite_below_one_degree_of_freedom() -> None:
    # the exact quantiles themselves: tests/planning/test_student_t.py
    assert t975(0) == math.inf


def test_paired_needs_as_many_base_as_variant_seeds() -> None:
    with pytest.raises(ValueError):
        paired([1.0, 2.0], [1.0])


# --- intercompany charges --------------------------------------------------------------
def test_the_articles_move_costs_xai_124_848_000_at_cost(article: Scenario) -> None:
    (c,) = charges(article.variant("move"))
    # 2024-06-15 .. 2025-03-31 = 289 days; 12,000 GPUs x 289 d x 24 h = 83,232,000 GPU-h
    assert c.gpu_hours == 83_232_000
    assert c.fair_usd == pytest.approx(124_848_000)  # x $1.50
    assert (c.payer, c.payee, c.price_usd, c.rule) == (
        "xai",
        "tesla",
        0.0,
        "cost-plus $1.50/GPU-h x 1.00",
    )
    assert c.below_fair_value  # the article reports no payment


def test_a_markup_and_a_market_rate(article: Scenario) -> None:
    sc = article.variant("move")
    (plus,) = charges(sc, markup=0.1)
    assert plus.fair_usd == pytest.approx(137_332_800)  # 83,232,000 x 1.50 x 1.1
    assert plus.rule == "cost-plus $1.50/GPU-h x 1.10"
    (market,) = charges(sc, market_usd_per_gpu_hour=2.25)
    assert market.fair_usd == pytest.approx(187_272_000)  # 83,232,000 x 2.25
    assert market.rule == "market $2.25/GPU-h"


def test_a_lease_past_the_horizon_is_charged_up_to_the_horizon(article: Scenario) -> None:
    sc = applied(article, MOVE, "1200 H100 tesla->xai 2025-01-01..2025-06-01 price=4000000")
    (c,) = charges(sc)
    # 2025-01-01 .. 2025-03-31 (the horizon, not 06-01) = 89 days: 1,200 x 89 x 24
    assert c.gpu_hours == 2_563_200
    assert c.fair_usd == pytest.approx(3_844_800)  # x $1.50
    assert not c.below_fair_value  # $4,000,000 >= $3,844,800


def test_a_lease_inside_the_horizon_is_charged_for_its_length(article: Scenario) -> None:
    sc = applied(article, MOVE, "800 H100 tesla->xai 2024-07-01..2024-08-01")
    (c,) = charges(sc)
    assert c.gpu_hours == 800 * 31 * 24  # 595,200: July has 31 days
    assert c.as_dict()["fair_usd"] == 892_800  # x $1.50


# --- gpufleet whatif -------------------------------------------------------------------
@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def test_whatif_compares_a_move_with_the_base_and_prints_the_table(
    small: Path, capsys: Capture
) -> None:
    code = main(["whatif", str(small), "--move", "16 H100 acme->beta 2024-01-03", "--seeds", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("What-if: base 'base' against changes; 2 seeds;")
    for row in ("vision", "language", "acme", "beta", "fleet", "Intercompany charges"):
        assert f"\n{row}" in out
    # 16 GPUs from 2024-01-03 to the end (2024-01-11): 8 days x 24 h x 16 = 3,072 GPU-h
    assert "move 16 H100-SXM acme->beta (acme-h100)  beta -> acme      3,072" in out


def test_whatif_json_is_the_comparison_as_data(small: Path, capsys: Capture) -> None:
    argv = ["whatif", str(small), "--move", "16 H100 acme->beta 2024-01-03", "--name", "lend"]
    assert main([*argv, "--seeds", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["base"], d["variants"], d["seeds"]) == ("base", ["lend"], [7, 8])
    (c,) = d["charges"]["lend"]
    assert (c["gpu_hours"], c["fair_usd"]) == (3072.0, 6144)  # 3,072 x $2.00 (the default)
    # acme owns 16 fewer GPUs for 8 days: 16 x 192 h x $2.00 = $6,144 less cost
    assert d["deltas"]["lend"]["entities"]["acme"]["cost_usd"]["mean"] == -6144.0


def test_whatif_runs_the_scenarios_own_variant_when_given_no_change(
    small: Path, capsys: Capture
) -> None:
    assert main(["whatif", str(small), "--seeds", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["base"], d["variants"]) == ("base", ["move"])


def test_whatif_with_two_variants_and_no_change_takes_the_first_as_the_base(
    tmp_path: Path, capsys: Capture
) -> None:
    two = SMALL + "  lend-more:\n    description: none yet\n"
    path = tmp_path / "two.yaml"
    path.write_text(two, encoding="utf-8")
    assert main(["whatif", str(path), "--seeds", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["base"], d["variants"]) == ("move", ["lend-more"])


def test_whatif_takes_a_variant_file(small: Path, tmp_path: Path, capsys: Capture) -> None:
    vf = tmp_path / "lend.yaml"
    vf.write_text("name: lend\nchanges:\n  - move: 16 H100 acme->beta 2024-01-03\n")
    assert main(["whatif", str(small), "--variant", str(vf), "--seeds", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["variants"] == ["lend"]


FLAG_ERRORS = [
    pytest.param(
        ["--move", "16 H100 acme->beta"],
        f"--move '16 H100 acme->beta': 3 part(s), at least 4 needed (expected {FORMS['move']})",
        id="a-move-without-a-date",
    ),
    pytest.param(
        ["--quota", "vision H100=x 2024-01-02"],
        "--quota 'vision H100=x 2024-01-02': nominal 'x' is not a whole number "
        f"(expected {FORMS['quota']})",
        id="a-quota-that-is-not-a-number",
    ),
    pytest.param(
        ["--weight", "vision"],
        f"--weight 'vision': not PROGRAM=W (expected {FORMS['weight']})",
        id="a-weight-without-equals",
    ),
    pytest.param(
        ["--deliver", "12 H100 acme@east 2024-01-02"],
        "--deliver '12 H100 acme@east 2024-01-02': 12 GPUs are not whole nodes of 8 "
        f"(expected {FORMS['deliver']})",
        id="a-delivery-of-part-of-a-node",
    ),
    pytest.param(
        ["--delay", "mars +2d"],
        f"--delay 'mars +2d': unknown site 'mars'; sites: east, west (expected {FORMS['delay']})",
        id="a-delay-of-an-unknown-site",
    ),
    pytest.param(
        ["--policy", "lottery"],
        "--policy 'lottery': unknown policy 'lottery'; policies: fifo, fifo-backfill, "
        f"{', '.join(POLICY_NAMES[2:])} (expected {FORMS['policy']})",
        id="an-unknown-policy",
    ),
    pytest.param(
        ["--scale", "vision x0"],
        f"--scale 'vision x0': a factor of 0 (expected {FORMS['scale']})",
        id="a-scale-of-zero",
    ),
    pytest.param(["--seeds", "0"], "--seeds 0: at least 1", id="zero-seeds"),
    pytest.param(["--workers", "0"], "--workers 0: at least 1", id="zero-workers"),
    pytest.param(
        ["--variant", "nope"],
        "unknown variant 'nope'; valid names: base, move",
        id="an-unknown-variant-name",
    ),
]


@pytest.mark.parametrize(("flags", "message"), FLAG_ERRORS)
def test_whatif_exits_2_on_a_bad_flag_with_its_message(
    small: Path, capsys: Capture, flags: list[str], message: str
) -> None:
    assert main(["whatif", str(small), *flags]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"gpufleet: {message}\n")


def test_whatif_exits_2_on_a_bad_variant_file_with_its_lines(
    small: Path, tmp_path: Path, capsys: Capture
) -> None:
    vf = tmp_path / "v.yaml"
    vf.write_text("name: v\nchanges:\n  - scale: vision x0\n")
    assert main(["whatif", str(small), "--variant", str(vf)]) == 2
    assert capsys.readouterr().err == (
        f"gpufleet: {vf}: 1 problem\n"
        f"  {vf}:3: changes[0].scale: --scale 'vision x0': a factor of 0 "
        f"(expected {FORMS['scale']})\n"
    )
