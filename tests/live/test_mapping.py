"""The mapping file: the cluster's names onto the register's. Strict: every problem is
listed at once with the file, line and field, and what would be right."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pytest

from gpufleet.domain import EntityId, PoolId, ProgramId, SiteId
from gpufleet.errors import exit_code, http_status
from gpufleet.live.mapping import (
    MappingError,
    Place,
    Program,
    load_mapping,
    mapping_for_register,
    parse_mapping,
)

DEVCLUSTER = Path(__file__).parent / "samples" / "mapping" / "devcluster.yaml"


def problems_of(text: str, **names: Collection[str]) -> list[str]:
    with pytest.raises(MappingError) as err:
        parse_mapping(
            text, "m.yaml", entities=names.get("entities"), programs=names.get("programs")
        )
    assert (exit_code(err.value), http_status(err.value)) == (2, 422)
    return [p.render() for p in err.value.problems]


def test_the_dev_clusters_mapping_places_accounts_nodes_and_gpu_types() -> None:
    mapping = load_mapping(DEVCLUSTER, entities=["tesla", "xai"], programs=["fsd-training", "grok"])
    assert mapping.account("xai") == Program(EntityId("xai"), ProgramId("grok"))
    assert mapping.account("physics") is None  # unmapped: the observer records it
    # first rule that matches wins: gf-h100-1 by its own name before the glob
    assert mapping.slurm_place("gf-h100-1", ["h100"]) == Place(
        SiteId("memphis"), PoolId("memphis-h100"), EntityId("tesla")
    )
    assert mapping.slurm_place("gf-h100-2", ["h100"]) == Place(
        SiteId("colossus"), PoolId("colossus-h100"), EntityId("xai")
    )
    assert mapping.slurm_place("gf-a100-1", ["a100"]) == Place(
        SiteId("buffalo"), PoolId("buffalo-a100"), EntityId("tesla")
    )
    assert mapping.slurm_place("gf-cpu-1", ["cpu"]) is None
    assert (mapping.gpu_type("h100"), mapping.gpu_type("NVIDIA A100-SXM4-80GB")) == (
        "H100-SXM",
        "A100-80GB",
    )
    assert (mapping.gpu_type("mi300x"), mapping.gpu_type(None)) == (None, None)
    assert mapping.node_of_hostname("gf-h100-1") == "gf-h100-1"  # unlisted: the same name


def test_an_unknown_key_names_its_line_and_the_keys_allowed_there() -> None:
    text = "slurm:\n  accounts:\n    xai: {entity: xai, program: grok}\n  node:\n    - {}\n"
    assert problems_of(text) == [
        "m.yaml:4: slurm.node: unknown key 'node' (expected one of: accounts, nodes)"
    ]


def test_an_unknown_key_inside_an_account_lists_the_targets_keys() -> None:
    text = "slurm:\n  accounts:\n    xai: {entity: xai, programme: grok}\n"
    found = problems_of(text)
    assert found == [
        "m.yaml:3: slurm.accounts.xai.program: required key is missing "
        "(expected a value for 'program')",
        "m.yaml:3: slurm.accounts.xai.programme: unknown key 'programme' "
        "(expected one of: entity, program)",
    ]


def test_a_node_rule_needs_exactly_one_of_a_glob_and_a_partition() -> None:
    text = (
        "slurm:\n  nodes:\n    - nodes: gf-*\n      partition: h100\n"
        "      site: s\n      pool: p\n      entity: e\n"
    )
    assert problems_of(text) == [
        "m.yaml:3: slurm.nodes[0]: give exactly one of 'nodes' (a glob) and 'partition'"
    ]


def test_a_gpu_type_the_catalog_lacks_lists_the_catalogs_types() -> None:
    text = "gpu_types:\n  h100: H100-SXM\n  mi300x: MI300X\n"
    assert problems_of(text) == [
        "m.yaml:3: gpu_types.mi300x: GPU type 'MI300X' is not in the catalog "
        "(expected one of: A100-80GB, B200, H100-SXM, H200)"
    ]


def test_names_the_register_lacks_are_listed_all_at_once() -> None:
    text = DEVCLUSTER.read_text().replace("program: grok", "program: grok-3")
    found = problems_of(text, entities=["tesla"], programs=["fsd-training", "grok"])
    assert found == [
        "m.yaml:7: slurm.accounts.xai.entity: entity 'xai' is not in the register "
        "(expected one of: tesla)",
        "m.yaml:7: slurm.accounts.xai.program: program 'grok-3' is not in the register "
        "(expected one of: fsd-training, grok)",
        "m.yaml:16: slurm.nodes[1].entity: entity 'xai' is not in the register "
        "(expected one of: tesla)",
    ]


def test_a_number_where_a_name_belongs_is_refused_not_converted() -> None:
    text = "slurm:\n  accounts:\n    xai:\n      entity: 42\n      program: grok\n"
    assert problems_of(text) == [
        "m.yaml:4: slurm.accounts.xai.entity: Input should be a valid string, got 42"
    ]


def test_a_duplicate_key_is_an_error_not_a_silent_overwrite() -> None:
    text = "gpu_types:\n  h100: H100-SXM\n  h100: H200\n"
    assert problems_of(text) == ["m.yaml:3: gpu_types.h100: duplicate key (expected each key once)"]


def test_text_that_is_not_yaml_and_an_empty_file_name_the_file() -> None:
    assert problems_of("slurm: [\n")[0].startswith("m.yaml:2: not valid YAML: ")
    assert problems_of("") == ["m.yaml:1: the file is empty (expected a YAML mapping)"]


def test_a_missing_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as err:
        load_mapping(tmp_path / "nope.yaml")
    assert str(err.value).startswith(f"{tmp_path / 'nope.yaml'}: 1 problem")
    assert "cannot be read: No such file or directory" in err.value.render()


# --- against the register: a program is its entity's ------------------------------------

OWNERS = {"fsd-training": "tesla", "grok": "xai"}  # the story's register: program -> entity


def test_a_program_mapped_under_another_entity_names_the_line_and_the_registers_owner() -> None:
    text = DEVCLUSTER.read_text().replace(
        "xai: {entity: xai, program: grok}", "xai: {entity: xai, program: fsd-training}"
    )
    found = problems_of(text, entities=["tesla", "xai"], programs=OWNERS)
    assert found == [
        "m.yaml:7: slurm.accounts.xai.program: program 'fsd-training' belongs to entity "
        "'tesla' in the register, not 'xai' (expected entity: tesla, or one of xai's "
        "programs: grok)"
    ]


def test_a_program_under_an_entity_with_no_program_says_so() -> None:
    text = "slurm:\n  accounts:\n    ops: {entity: ops, program: grok}\n"
    owners = {"grok": "xai"}
    found = problems_of(text, entities=["ops", "xai"], programs=owners)
    assert found == [
        "m.yaml:3: slurm.accounts.ops.program: program 'grok' belongs to entity 'xai' in the "
        "register, not 'ops' (expected entity: xai (ops has no program in the register))"
    ]


def test_the_observers_reading_leaves_the_contradicted_entries_out_and_returns_why() -> None:
    text = (
        DEVCLUSTER.read_text()
        .replace("xai: {entity: xai, program: grok}", "xai: {entity: tesla, program: grok}")
        .replace(
            'nodes: "gf-h100-1"\n      site: memphis\n      pool: memphis-h100\n'
            "      entity: tesla",
            'nodes: "gf-h100-1"\n      site: memphis\n'
            "      pool: memphis-h100\n      entity: tezla",
        )
    )
    mapping, problems = mapping_for_register(
        text, "m.yaml", entities=["tesla", "xai"], programs=OWNERS
    )
    assert [p.render() for p in problems] == [
        "m.yaml:7: slurm.accounts.xai.program: program 'grok' belongs to entity 'xai' in the "
        "register, not 'tesla' (expected entity: xai, or one of tesla's programs: "
        "fsd-training)",
        "m.yaml:12: slurm.nodes[0].entity: entity 'tezla' is not in the register "
        "(expected one of: tesla, xai)",
    ]
    assert mapping.account("xai") is None  # unmapped, not grok counted as tesla's
    assert mapping.account("tesla") == Program(EntityId("tesla"), ProgramId("fsd-training"))
    # the left-out rule still catches gf-h100-1: it must not fall through to the glob
    # "gf-h100-*" that places gf-h100-2 at colossus as xai's
    assert mapping.slurm_place("gf-h100-1", ["h100"]) is None
    assert mapping.slurm_place("gf-h100-2", ["h100"]) == Place(
        SiteId("colossus"), PoolId("colossus-h100"), EntityId("xai")
    )


def test_the_strict_reading_of_the_same_file_refuses_it_whole() -> None:
    text = DEVCLUSTER.read_text().replace(
        "xai: {entity: xai, program: grok}", "xai: {entity: tesla, program: grok}"
    )
    with pytest.raises(MappingError):
        parse_mapping(text, "m.yaml", entities=["tesla", "xai"], programs=OWNERS)
