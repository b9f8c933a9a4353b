"""The scenario file's ``cohorts:`` section: a cohort tree loads, reaches the ``kueue``
policy through the engine's cohort (the tree's root), and every defect is one precise
problem at its file line."""

from __future__ import annotations

import pytest

from gpufleet.errors import ScenarioError
from gpufleet.inputs.scenario import load_scenario_text
from gpufleet.sim.simulator import Simulation
from tests.support.small_scenario import SMALL, line_of, with_defect

ENTITIES = "entities:\n"
COHORTS = """\
cohorts:
  - name: group
    quotas:
      H100-SXM: {nominal: 0}
  - name: acme-org
    parent: group
  - name: beta-org
    parent: group
    quotas:
      H100-SXM: {nominal: 0, borrowing_limit: 64}
"""


def tree_text(text: str = SMALL, cohorts: str = COHORTS) -> str:
    """SMALL with a cohort tree: acme and beta each in their own cohort under ``group``,
    beta's language program busy enough to want more than its 32 H100."""
    text = with_defect(ENTITIES, cohorts + ENTITIES, text)
    text = with_defect("  - name: acme\n", "  - name: acme\n    cohort: acme-org\n", text)
    text = with_defect("  - name: beta\n", "  - name: beta\n    cohort: beta-org\n", text)
    text = with_defect("policy: quota", "policy: kueue", text)
    return with_defect("jobs_per_day: 8, gpus: 8", "jobs_per_day: 40, gpus: 8", text)


def test_a_cohort_tree_loads_with_the_root_as_the_entities_sharing_group() -> None:
    sc = load_scenario_text(tree_text())
    assert [(e.name, e.cohort) for e in sc.entities] == [("acme", "group"), ("beta", "group")]
    assert [(p.name, p.cohort) for p in sc.programs()] == [
        ("vision", "acme-org"),
        ("language", "beta-org"),
    ]
    (tree,) = sc.cohort_trees()
    assert [c.name for c in tree.cohorts] == ["group", "acme-org", "beta-org"]
    assert tree.members == (("vision", "acme-org"), ("language", "beta-org"))


def test_a_root_alone_without_quota_stays_a_flat_cohort() -> None:
    text = with_defect(ENTITIES, "cohorts:\n  - name: shared\n" + ENTITIES)
    text = with_defect("  - name: acme\n", "  - name: acme\n    cohort: shared\n", text)
    sc = load_scenario_text(text)
    assert sc.entity("acme").cohort == "shared"
    assert sc.cohort_trees() == []


def _peak_language_h100(text: str) -> int:
    """The most H100 the language program holds, sampled every 3 hours of the 10 days."""
    sim = Simulation(load_scenario_text(text))
    assert sim.state.cohorts["group"].tree is not None
    language = sim.state.program_by_name["language"]
    peak = 0
    for step in range(1, 81):
        sim.run_until(step * 3 * 3600.0)
        peak = max(peak, language.usage.get("H100-SXM", 0))
    return peak


@pytest.mark.parametrize(
    ("limit", "over_nominal"),
    [
        # KEP-79 Story 1 through a scenario: beta-org's borrowingLimit 0 keeps language
        # within its own 32 H100 although acme's 64 idle ones share its tree's nodes.
        pytest.param(0, False, id="kep-79/story-1/zero-limit-keeps-the-org-home"),
        # With room to borrow (64) the same busy program goes past its 32.
        pytest.param(64, True, id="kep-79/story-1/a-limit-lets-it-borrow"),
    ],
)
def test_a_cohort_borrowing_limit_holds_in_a_simulation(limit: int, over_nominal: bool) -> None:
    text = tree_text(cohorts=COHORTS.replace("borrowing_limit: 64", f"borrowing_limit: {limit}"))
    assert (_peak_language_h100(text) > 32) is over_nominal


# --- one defect, one problem, at its line ------------------------------------------------

BAD = [
    pytest.param(
        COHORTS.replace("    parent: group\n    quotas:", "    parent: grup\n    quotas:"),
        "cohorts[2].parent",
        "parent: grup",
        "unknown cohort 'grup'",
        "one of group, acme-org, beta-org",
        id="an-unknown-parent-names-the-declared-cohorts",
    ),
    pytest.param(
        COHORTS.replace("  - name: group\n", "  - name: group\n    parent: beta-org\n"),
        "cohorts[0].parent",
        "parent: beta-org",
        "form a cycle: 'group' -> 'beta-org' -> 'group'",
        "a tree",
        id="parents-in-a-cycle-are-one-problem-at-the-first-cohort",
    ),
    pytest.param(
        COHORTS.replace(
            "  - name: acme-org\n    parent: group\n", "  - name: acme-org\n    parent: acme-org\n"
        ),
        "cohorts[1].parent",
        "parent: acme-org",
        "form a cycle: 'acme-org' -> 'acme-org'",
        "a tree",
        id="a-cohort-that-is-its-own-parent-is-a-cycle",
    ),
    pytest.param(
        COHORTS.replace("borrowing_limit: 64", "borrowing_limit: -1"),
        "cohorts[2].quotas.H100-SXM.borrowing_limit",
        "borrowing_limit: -1",
        "greater than or equal to 0",
        "0 or more",
        id="a-negative-cohort-limit-is-refused",
    ),
    pytest.param(
        COHORTS.replace("      H100-SXM: {nominal: 0}\n", "      H100-SXM: {nominal: -4}\n"),
        "cohorts[0].quotas.H100-SXM.nominal",
        "nominal: -4",
        "greater than or equal to 0",
        "0 or more",
        id="a-negative-cohort-nominal-is-refused",
    ),
    pytest.param(
        COHORTS.replace(
            "      H100-SXM: {nominal: 0}\n", "      H100-SXM: {nominal: 8, lending_limit: 2}\n"
        ),
        "cohorts[0].quotas.H100-SXM.lending_limit",
        "lending_limit: 2",
        "root cohort 'group' has a lending_limit",
        "a 'parent' for this cohort",
        id="a-root-cohort-may-not-have-limits",
    ),
    pytest.param(
        COHORTS.replace("      H100-SXM: {nominal: 0}\n", "      B300: {nominal: 0}\n"),
        "cohorts[0].quotas.B300",
        "B300: {nominal: 0}",
        "unknown GPU type 'B300'",
        "one of",
        id="a-cohort-quota-names-a-known-gpu-type",
    ),
    pytest.param(
        COHORTS + "  - name: beta-org  # again\n",
        "cohorts[3].name",
        "# again",
        "duplicate name 'beta-org'",
        "named once",
        id="cohort-names-are-unique",
    ),
]


@pytest.mark.parametrize(("cohorts", "field", "at", "message", "expected"), BAD)
def test_a_bad_cohorts_section_gives_one_precise_problem(
    cohorts: str, field: str, at: str, message: str, expected: str
) -> None:
    text = tree_text(cohorts=cohorts)
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(text, "s.yaml")
    problems = e.value.problems
    assert len(problems) == 1, "\n".join(p.render() for p in problems)
    (p,) = problems
    assert (p.file, p.line, p.field) == ("s.yaml", line_of(text, at), field)
    assert message in p.message
    assert expected in p.expected


@pytest.mark.parametrize(
    ("program_cohort", "message", "expected"),
    [
        pytest.param("nowhere", "unknown cohort 'nowhere'", "one of group", id="unknown"),
        pytest.param(
            "island",
            "cohort 'island' is in the tree rooted at 'island', but its entity's cohort "
            "'acme-org' is in the tree rooted at 'group'",
            "a cohort of the tree rooted at 'group'",
            id="in-another-tree",
        ),
    ],
)
def test_a_program_joins_a_declared_cohort_of_its_entitys_tree(
    program_cohort: str, message: str, expected: str
) -> None:
    text = tree_text(cohorts=COHORTS + "  - name: island\n")
    text = with_defect(
        "      - name: vision\n", f"      - name: vision\n        cohort: {program_cohort}\n", text
    )
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(text, "s.yaml")
    (p,) = e.value.problems
    assert (p.line, p.field) == (
        line_of(text, f"cohort: {program_cohort}"),
        "entities[0].programs[0].cohort",
    )
    assert message in p.message
    assert expected in p.expected
