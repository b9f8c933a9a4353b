"""The ``kai`` policy's ``departments`` file: a department's own quota and over-quota weight
from a scenario (issue 17 item 4), as KAI sets them on the parent queue (NVIDIA/KAI-Scheduler
``docs/queues/README.md``, "Queue Attributes": quota, over-quota weight and limit on every
queue, parent or leaf).

The situation is ``department-quota-summed-from-its-queues`` / ``department-quota-set-on-the-
department`` of ``test_kai_rules.py``, run through a scenario file: one 8-GPU H100 node in
one cohort; D1 = {p1 deserves 2}, D2 = {r deserves 4}; p1 runs three 2-GPU jobs and r one
from t = 0 (10 h each), r asks for 2 more at t = 1 h.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from gpufleet.cli.main import main
from gpufleet.errors import InputError, ScenarioError
from gpufleet.inputs.scenario import load_scenario
from gpufleet.policies.kai.departments import read_departments
from gpufleet.policies.kai.fairshare import DepartmentQuota, QueueShare, divide_tree, parent_of
from gpufleet.policies.kai.policy import KaiScheduler
from gpufleet.sim.simulator import Simulation

SCENARIO = """\
name: kai-departments
start: 2024-01-01
horizon_days: 2
policy: POLICY
sites:
  - {name: east, power_kw: 1000}
entities:
  - name: D1
    cohort: lab
    programs:
      - name: p1
        quotas: {H100-SXM: {nominal: 2}}
        workload:
          jobs:
            - {name: p1, submit: 2024-01-01, gpus: 2, duration_hours: 10, count: 3}
  - name: D2
    cohort: lab
    programs:
      - name: r
        quotas: {H100-SXM: {nominal: 4}}
        workload:
          jobs:
            - {name: r1, submit: 2024-01-01, gpus: 2, duration_hours: 10}
            - {name: r2, submit: "2024-01-01T01:00:00", gpus: 2, duration_hours: 10}
pools:
  - {name: gpus, site: east, gpu_type: H100-SXM, nodes: 1, owner: D1}
"""

OWN = """\
D1:
  H100-SXM: {quota: 6, over_quota_weight: 1}
D2:
  H100-SXM: {quota: 2, over_quota_weight: 1, limit: 8}
"""
OWN_PY = {
    "D1": {"H100-SXM": DepartmentQuota(6)},
    "D2": {"H100-SXM": DepartmentQuota(2, limit=8)},
}


def scenario_file(tmp_path: Path, departments: str | None) -> Path:
    policy = "kai"
    if departments is not None:
        (tmp_path / "depts.yaml").write_text(departments)
        policy = f"{{name: kai, options: {{departments: {tmp_path / 'depts.yaml'}}}}}"
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.replace("POLICY", policy))
    return path


@dataclass(frozen=True)
class Outcome:
    preemptions: int
    r2_start_s: float  # when r's job submitted at 1 h starts


def outcome(jobs: dict[str, np.ndarray]) -> Outcome:
    late = (jobs["program"] == "r") & (jobs["submit_s"] == 3600.0)
    return Outcome(int(jobs["preemptions"].sum()), float(jobs["start_s"][late][0]))


@pytest.mark.parametrize(
    ("departments", "expect"),
    [
        # summed (no file): D1 deserves 2, D2 min(4, 2 + 2) = 4, the 2 left go to D1 (its
        # request is 6): fs D1 4, D2 4; r's fs 4 and 2 + 2 <= 4 (CanReclaimResources); D1
        # holds 6 > max(2, 4): p1's newest job goes at 1 h and r2 starts then.
        pytest.param(None, Outcome(1, 3600.0), id="summed-from-queues-reclaims-at-1h"),
        # set on the departments: D1 6, D2 2; inside D2 r gets min(4, 2) = 2 and 2 + 2 > 2:
        # no reclaim; r2 waits for the first jobs to end at 10 h = 36000 s.
        pytest.param(OWN, Outcome(0, 36000.0), id="set-on-departments-waits-until-10h"),
    ],
)
def test_a_departments_file_gives_kais_result(
    tmp_path: Path, departments: str | None, expect: Outcome
) -> None:
    got = Simulation(load_scenario(scenario_file(tmp_path, departments))).run().jobs
    assert outcome(got) == expect


def test_a_departments_file_runs_as_the_python_mapping_does(tmp_path: Path) -> None:
    sc = load_scenario(scenario_file(tmp_path, OWN))
    from_file = Simulation(sc).run().jobs
    from_python = Simulation(sc, KaiScheduler(departments=OWN_PY)).run().jobs
    assert from_file.keys() == from_python.keys()
    for key in from_file:
        assert np.array_equal(from_file[key], from_python[key]), key


def test_the_file_is_read_into_department_quotas(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(
        OWN.replace("over_quota_weight: 1}", "over_quota_weight: 2.5}", 1)
    )
    got = read_departments(str(tmp_path / "d.yaml"))
    assert got["D1"]["H100-SXM"] == DepartmentQuota(6, Fraction(5, 2))
    assert got["D2"]["H100-SXM"] == DepartmentQuota(2, Fraction(1), 8)


# --- bad files: each an InputError naming the file and the field, and exit 2 --------------
BAD = [
    pytest.param(None, "cannot be read", id="missing"),
    pytest.param("D1: [unclosed\n", "not YAML (line", id="not-yaml"),
    pytest.param("- D1\n", "is a list (expected a mapping entity -> GPU type", id="top-a-list"),
    pytest.param("D1: 6\n", "D1 is 6 (expected a mapping GPU type", id="entity-a-number"),
    pytest.param(
        "D1: {H100-SXM: {quota: -1, over_quota_weight: 1}}\n",
        "D1.H100-SXM.quota is -1 (expected a whole number of GPUs >= 0)",
        id="negative-quota",
    ),
    pytest.param(
        "D1: {H100-SXM: {quota: 2.5, over_quota_weight: 1}}\n",
        "D1.H100-SXM.quota is 2.5 (expected a whole number",
        id="fractional-quota",
    ),
    pytest.param(
        "D1: {H100-SXM: {quota: 2, over_quota_weight: heavy}}\n",
        "D1.H100-SXM.over_quota_weight is 'heavy' (expected a number >= 0)",
        id="weight-a-word",
    ),
    pytest.param(
        "D1: {H100-SXM: {quota: 2, over_quota_weight: 1, limit: true}}\n",
        "D1.H100-SXM.limit is True (expected a whole number",
        id="limit-a-boolean",
    ),
    pytest.param(
        "D1: {H100-SXM: {quota: 2}}\n",
        "D1.H100-SXM.over_quota_weight is missing",
        id="weight-missing",
    ),
    pytest.param(
        "D1: {H100-SXM: {quota: 2, over_quota_weight: 1, deserved: 3}}\n",
        "D1.H100-SXM.deserved is not a field (expected one of quota, over_quota_weight, limit)",
        id="unknown-field",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_departments_file_is_an_input_error_naming_the_field(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "depts.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError) as e:
        KaiScheduler(departments=str(path))
    assert f"KAI departments file {str(path)!r}" in str(e.value)
    assert message in str(e.value)


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_scenario_naming_a_bad_departments_file_does_not_validate(
    tmp_path: Path, text: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(tmp_path, text if text is not None else "")
    if text is None:
        (tmp_path / "depts.yaml").unlink()
    with pytest.raises(ScenarioError):
        load_scenario(path)
    assert main(["validate", str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "D3: {H100-SXM: {quota: 2, over_quota_weight: 1}}\n",
            "D3 is not an entity (expected one of D1, D2)",
            id="unknown-entity",
        ),
        pytest.param(
            "D1: {A100-80GB: {quota: 2, over_quota_weight: 1}}\n",
            "D1.A100-80GB is not a GPU type of the fleet (expected one of H100-SXM)",
            id="gpu-type-not-in-the-fleet",
        ),
    ],
)
def test_a_department_the_fleet_lacks_is_an_error_at_the_first_decision(
    tmp_path: Path, text: str, message: str
) -> None:
    # the policy is built without the scenario (policy_spec), so it checks the names when it
    # first sees the fleet: the run stops with an InputError before any job starts
    sc = load_scenario(scenario_file(tmp_path, text))
    with pytest.raises(InputError, match=re.escape(message)):
        Simulation(sc).run()


def test_departments_need_the_entity_hierarchy(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(OWN)
    with pytest.raises(InputError, match="needs hierarchy 'entity'"):
        KaiScheduler(hierarchy="flat", departments=str(tmp_path / "d.yaml"))


def test_a_department_with_its_own_quota_keeps_its_highest_programs_priority() -> None:
    # C 8; D1 = {a: priority 1}, D2 = {b: priority 0}; every queue deserves 0 and asks for 8;
    # both departments set quota 0, weight 1. divideOverQuotaResource serves the priority-1
    # bucket first: D1, alone in it, is offered 8 and takes all 8; D2 gets 0. (With the
    # department at priority 0, as an own quota used to leave it, they would split 4 / 4.)
    a = QueueShare("a", 0, Fraction(1), 1, None, 8, 0)
    b = QueueShare("b", 0, Fraction(1), 0, None, 8, 1)
    own = DepartmentQuota(0, Fraction(1))
    got = divide_tree(8, [parent_of("D1", 0, [a], own), parent_of("D2", 0, [b], own, 1)])
    assert got == {"D1": 8, "D2": 0, "a": 8, "b": 0}
