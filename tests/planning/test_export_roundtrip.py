"""Plan -> export -> import: every target reads back what it wrote, on the article's
scenario before and after the 2024-06-15 transfer, on the small lab before and after its
quota change, and on a scenario whose names the schedulers refuse as they are. The view
each target keeps is then checked against the plan, field by field, independently of the
writers: what maps, and what does not (docs/exports.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.inputs.scenario.load import load_scenario, load_scenario_text
from gpufleet.planning.allocation import Allocation, allocation_at
from gpufleet.planning.export import TARGETS, GpuLimits, target
from tests.support.scenarios import mixed

ROOT = Path(__file__).resolve().parents[2]

NAMES = """
name: names
start: 2025-01-01
horizon_days: 2
policy: quota
gpu_types:
  - {name: MI300X.OAM, throughput: 1.2, board_power_w: 750, server_power_w: 1300,
     price_usd: 20000}
sites: [{name: dc, power_kw: 1000}]
entities:
  - name: Big_Co
    cohort: Shared.Pool
    programs:
      - name: LLM_Pretrain.v2
        weight: 0.25
        priority: -3
        quotas:
          MI300X.OAM: {nominal: 8, lending_limit: 20}
          H100-SXM: {nominal: 0, borrowing_limit: 0}
      - {name: idle}
pools:
  - {name: p, site: dc, gpu_type: MI300X.OAM, nodes: 1, owner: Big_Co}
"""


def _scenario(name: str) -> Scenario:
    if name == "article":
        return load_scenario(ROOT / "src" / "gpufleet" / "data" / "article.yaml")
    if name == "small-lab":
        return load_scenario(ROOT / "examples" / "small-lab.yaml")
    if name == "mixed":
        return mixed()
    return load_scenario_text(NAMES, "names.yaml")


CASES = [
    ("article", "move", "2024-06-01"),
    ("article", "move", "2024-06-14"),
    ("article", "move", "2024-06-15"),
    ("article", "move", "2025-03-31"),
    ("article", "keep", "2024-06-15"),
    ("small-lab", "base", "2025-03-01"),
    ("small-lab", "base", "2025-03-16"),
    ("small-lab", "base", "2025-03-17"),
    ("small-lab", "base", "2025-03-31"),
    ("mixed", "base", "2025-01-02"),
    ("mixed", "base", "2025-01-05"),
    ("names", "base", "2025-01-01"),
]


def _alloc(case: tuple[str, str, str]) -> Allocation:
    name, variant, at = case
    return allocation_at(_scenario(name).variant(variant), datetime.fromisoformat(at))


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def alloc(request: pytest.FixtureRequest) -> Allocation:
    return _alloc(request.param)


@pytest.mark.parametrize("name", list(TARGETS))
def test_each_target_reads_back_what_it_wrote(alloc: Allocation, name: str) -> None:
    t = target(name)
    written = t.write(alloc)
    assert t.read(written.text) == t.view(alloc)


# --- what each target keeps, against the plan ---------------------------------------------
def _expected(alloc: Allocation, name: str) -> dict[tuple[str, str], GpuLimits]:
    """(program, GPU type) -> what the target should state, from the plan's numbers."""
    out = {}
    for c in alloc.cohorts:
        for p in c.programs:
            for t, q in p.quotas:
                ceiling = c.ceiling_gpus(p, t)
                borrow = q.borrowing_limit_gpus
                out[p.name, t] = {
                    "kueue": GpuLimits(
                        q.nominal_gpus,
                        None if borrow is None else q.nominal_gpus + borrow,
                        q.lendable_gpus,
                    ),
                    "volcano": GpuLimits(q.nominal_gpus, ceiling, q.lendable_gpus),
                    "kai": GpuLimits(q.nominal_gpus, ceiling, None),
                    "yunikorn": GpuLimits(q.nominal_gpus, ceiling, None),
                    "slurm": GpuLimits(None, ceiling, None),
                }[name]
    return out


@pytest.mark.parametrize("name", ["kueue", "volcano", "kai"])
def test_kubernetes_targets_keep_every_quota_under_gpufleets_own_names(
    alloc: Allocation, name: str
) -> None:
    view = target(name).view(alloc)
    got = {(prog, t): lim for prog, q in view.items() for t, lim in q.gpus}
    assert got == _expected(alloc, name)
    for p in alloc.programs():
        if p.name in view:
            q = view[p.name]
            assert (q.parent, q.priority) == (alloc.cohort_of(p.name).name, p.priority)


def test_kueue_keeps_every_program_with_its_exact_weight(alloc: Allocation) -> None:
    view = target("kueue").view(alloc)
    assert {p: v.weight for p, v in view.items()} == {p.name: p.weight for p in alloc.programs()}


def test_kai_keeps_the_weight_volcano_and_slurm_keep_it_to_a_hundredth(
    alloc: Allocation,
) -> None:
    for p in alloc.programs():
        if p.quotas:
            hundredths = max(1, round(p.weight * 100)) / 100
            assert target("kai").view(alloc)[p.name].weight == p.weight
            assert target("volcano").view(alloc)[p.name].weight == hundredths


def test_yunikorn_keeps_nominal_and_ceiling_but_no_weight(alloc: Allocation) -> None:
    view = target("yunikorn").view(alloc)
    # leaves that can hold no GPU are left out: YuniKorn ignores an all-zero max
    expected = {k: v for k, v in _expected(alloc, "yunikorn").items() if v.max_gpus}
    rename = {p.name: p.name.replace(".", "_") for p in alloc.programs()}
    got = {(prog, t): lim for prog, q in view.items() for t, lim in q.gpus}
    assert got == {(rename[p], t.replace(".", "_")): lim for (p, t), lim in expected.items()}
    assert {v.weight for v in view.values()} <= {None}


def test_slurm_caps_every_gpu_type_of_the_plan_and_zero_where_there_is_no_quota(
    alloc: Allocation,
) -> None:
    view = target("slurm").view(alloc)
    expected = _expected(alloc, "slurm")
    for c in alloc.cohorts:
        for p in c.programs:
            mine = dict(view[p.name.lower()].gpus)
            assert len(mine) == len(alloc.gpu_types())
            for t in alloc.gpu_types():
                want = expected.get((p.name, t), GpuLimits(None, 0, None))
                assert want in mine.values()
            assert view[p.name.lower()].parent == p.entity.lower()


# --- the article, in each scheduler's terms ------------------------------------------------
@pytest.mark.parametrize(
    ("name", "fsd", "grok"),
    [
        ("kueue", GpuLimits(10_000, None, 10_000), GpuLimits(22_000, None, 22_000)),
        ("volcano", GpuLimits(10_000, 10_000, 10_000), GpuLimits(22_000, 22_000, 22_000)),
        ("kai", GpuLimits(10_000, 10_000, None), GpuLimits(22_000, 22_000, None)),
        ("yunikorn", GpuLimits(10_000, 10_000, None), GpuLimits(22_000, 22_000, None)),
        ("slurm", GpuLimits(None, 10_000, None), GpuLimits(None, 22_000, None)),
    ],
)
def test_after_the_move_every_scheduler_gives_grok_22000_h100_and_fsd_10000(
    name: str, fsd: GpuLimits, grok: GpuLimits
) -> None:
    t = target(name)
    view = t.read(t.write(_alloc(("article", "move", "2024-06-15"))).text)
    assert [lim for _, lim in view["fsd-training"].gpus] == [fsd]
    assert [lim for _, lim in view["grok-pretraining"].gpus] == [grok]


def test_a_quota_that_can_hold_nothing_is_a_zero_limit_except_in_yunikorn() -> None:
    a = _alloc(("names", "base", "2025-01-01"))
    zero = ("H100-SXM", GpuLimits(0, 0, 0))
    assert zero in target("volcano").view(a)["LLM_Pretrain.v2"].gpus
    assert ("H100-SXM", GpuLimits(0, 0, None)) in target("kai").view(a)["LLM_Pretrain.v2"].gpus
    assert [t for t, _ in target("yunikorn").view(a)["LLM_Pretrain_v2"].gpus] == ["MI300X_OAM"]


def test_a_program_without_quota_gets_no_queue_where_queues_count_untyped_gpus() -> None:
    a = _alloc(("names", "base", "2025-01-01"))
    assert "idle" in target("kueue").view(a)
    assert "idle" in target("slurm").view(a)
    for name in ("kai", "volcano", "yunikorn"):
        assert "idle" not in target(name).view(a)


# --- names ------------------------------------------------------------------------------
def test_kubernetes_names_are_slugs_and_annotations_keep_the_originals() -> None:
    text = target("kueue").write(_alloc(("names", "base", "2025-01-01"))).text
    assert "name: llm-pretrain-v2\n" in text
    assert "gpufleet.io/program: LLM_Pretrain.v2\n" in text
    assert "cohort: shared-pool\n" in text
    assert "name: mi300x-oam\n" in text
    assert "fairSharing:\n    weight: '0.25'\n" in text


def test_slurm_names_are_lowercase_and_gres_types_their_first_word() -> None:
    text = target("slurm").write(_alloc(("names", "base", "2025-01-01"))).text
    assert "account llm_pretrain.v2 big_co 'program LLM_Pretrain.v2'\n" in text
    assert "set fairshare=25 grptres=gres/gpu:h100=0,gres/gpu:mi300x=8\n" in text
    assert "AccountingStorageTRES=gres/gpu,gres/gpu:mi300x,gres/gpu:h100\n" in text


CLASH = """
name: clash
start: 2025-01-01
horizon_days: 1
sites: [{name: dc, power_kw: 100}]
entities:
  - name: e
    programs:
      - {name: a_b, quotas: {H100-SXM: {nominal: 8}}}
      - {name: a-b, quotas: {H100-SXM: {nominal: 8}}}
pools: [{name: p, site: dc, gpu_type: H100-SXM, nodes: 2, owner: e}]
"""


@pytest.mark.parametrize("name", ["kueue", "kai", "volcano"])
def test_two_programs_that_one_kubernetes_name_would_merge_are_refused(name: str) -> None:
    a = allocation_at(load_scenario_text(CLASH, "clash.yaml"), datetime(2025, 1, 1))
    with pytest.raises(InputError, match=r"'a_b.*'a-b.*rename one"):
        target(name).write(a)


def test_an_entity_and_a_program_of_one_name_would_be_one_slurm_account_and_are_refused() -> None:
    text = CLASH.replace("name: e\n", "name: A-B\n").replace("owner: e}", "owner: A-B}")
    text = text.replace("- {name: a_b, ", "- {name: x, ")
    a = allocation_at(load_scenario_text(text, "clash.yaml"), datetime(2025, 1, 1))
    with pytest.raises(InputError, match=r"slurm: accounts 'entity A-B' and 'program a-b'"):
        target("slurm").write(a)


@pytest.mark.parametrize("name", list(TARGETS))
def test_an_importer_refuses_what_is_not_its_export_as_bad_input(name: str) -> None:
    with pytest.raises(InputError, match=name):
        target(name).read("apiVersion: v1\nkind: Queue\nspec: {resources: 3}\n---\n- 1\n")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("[" * 100_000, "kueue: nested too deeply to read", id="nested-too-deep"),
        pytest.param(
            "a: " + "9" * 5000,
            "kueue: a value cannot be read: Exceeds the limit (4300 digits)",
            id="a-5000-digit-integer",
        ),
    ],
)
def test_a_scheduler_config_that_cannot_be_read_is_bad_input(text: str, says: str) -> None:
    from gpufleet.planning.export.model import load_yaml

    with pytest.raises(InputError) as e:
        load_yaml(text, "kueue")
    assert str(e.value).startswith(says)
