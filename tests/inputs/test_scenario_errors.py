"""Bad scenario files, each with one defect, each giving one precise problem: the file, the
line, the field, what was wrong and what would be right.

Every case starts from the valid ``SMALL`` scenario (tests/support/small_scenario.py) and applies
one defect; the test asserts that exactly one problem comes back, located exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from gpufleet.errors import Problem, ScenarioError
from gpufleet.inputs.scenario import load_scenario, load_scenario_text, validate_file
from gpufleet.policies.registry import available_policies
from tests.support.small_scenario import SMALL, line_of, with_defect

# Snippets of SMALL that defects replace or extend.
TRANSFER_START = "          start: 2024-01-03\n"
BETA_WORKLOAD = "          generator: {jobs_per_day: 8, gpus: 8, duration_hours: 6}\n"
BETA_QUOTAS = "          A100-80GB: {nominal: 16}\n"
VISION = "      - name: vision\n"
TIMELINE = "    timeline:\n"


def beta_jobs(job: str) -> str:
    """SMALL with beta's generator replaced by one fixed job."""
    return with_defect(BETA_WORKLOAD, f"          jobs:\n            - {job}\n")


def beta_trace(trace: str) -> str:
    """SMALL with beta's generator replaced by a trace reference."""
    return with_defect(BETA_WORKLOAD, f"          trace: {trace}\n")


def move_item(item: str) -> str:
    """SMALL with one more timeline item in the 'move' variant, before the transfer."""
    return with_defect(TIMELINE, f"{TIMELINE}      - {item}\n")


@dataclass(frozen=True)
class Bad:
    text: str
    field: str
    at: str | int  # the problem's line: a text on exactly one line of the file, or a number
    message: str  # words the message holds
    expected: str  # words of what would be right
    csv: str | None = None  # written as t.csv next to the scenario
    in_csv: bool = False  # the problem is located in t.csv, not in the scenario


GOOD_CSV = "submit_s,gpus,duration_s,gpu_type\n0,8,3600,H100-SXM\n600,16,7200,\n"

CASES = [
    # --- the file as YAML -----------------------------------------------------------------
    pytest.param(
        Bad(with_defect("seed: 7", "seed: 7: 8"), "", "seed: 7: 8", "not valid YAML", "YAML"),
        id="a-yaml-syntax-error-names-the-line-where-the-parser-stopped",
    ),
    pytest.param(
        Bad("", "", 1, "the file is empty", "a YAML mapping of scenario keys"),
        id="an-empty-file-says-it-is-empty",
    ),
    pytest.param(
        Bad("# just a comment\n\n", "", 1, "the file is empty", "a YAML mapping"),
        id="a-file-of-comments-only-is-empty-too",
    ),
    pytest.param(
        Bad(
            "- name: small\n- start: 2024-01-01\n", "", 1, "the top level is not a mapping", "name"
        ),
        id="a-list-at-the-top-level-is-not-a-scenario",
    ),
    pytest.param(
        Bad(
            with_defect("seed: 7\n", "seed: 7\nseed: 8\n"),
            "seed",
            "seed: 8",
            "duplicate key 'seed'",
            "each key once",
        ),
        id="a-key-given-twice-is-an-error-not-a-silent-overwrite",
    ),
    pytest.param(
        Bad(
            with_defect("name: small", "name: sm\x07all"),
            "",
            1,
            "not valid YAML: character #x0007 is not allowed",
            "YAML",
        ),
        id="a-control-character-is-reported-with-its-line-not-a-crash",
    ),
    pytest.param(
        Bad(
            with_defect("start: 2024-01-01", "start: 2024-13-01"),
            "start",
            "start: 2024-13-01",
            "month value is outside expected range of 1-12, got '2024-13-01'",
            "a date (YYYY-MM-DD)",
        ),
        id="an-impossible-date-says-what-is-wrong-with-it-not-a-crash",
    ),
    # --- keys ------------------------------------------------------------------------------
    pytest.param(
        Bad(
            with_defect("seed: 7", "sead: 7"),
            "sead",
            "sead: 7",
            "unknown key 'sead'",
            "one of: name, description, start, end, horizon_days, seed, policy, cost",
        ),
        id="an-unknown-top-level-key-lists-the-allowed-keys",
    ),
    pytest.param(
        Bad(
            with_defect("    owner: acme\n", "    owner: acme\n    colour: red\n"),
            "pools[0].colour",
            "colour: red",
            "unknown key 'colour'",
            "one of: name, site, gpu_type, gpus_per_node, nodes, owner, delivered",
        ),
        id="an-unknown-key-in-a-pool-lists-a-pools-keys",
    ),
    pytest.param(
        Bad(
            with_defect("{nominal: 64}", "{nominal: 64, burst: 8}"),
            "entities[0].programs[0].quotas.H100-SXM.burst",
            "burst: 8",
            "unknown key 'burst'",
            "one of: nominal, borrowing_limit, lending_limit",
        ),
        id="an-unknown-key-in-a-quota-keeps-the-gpu-type-in-its-path",
    ),
    pytest.param(
        Bad(
            with_defect("    nodes: 4\n", ""),
            "pools[1].nodes",
            "name: beta-h100",
            "required key is missing",
            "a value for 'nodes'",
        ),
        id="a-pool-without-nodes-names-the-missing-key-at-the-pool",
    ),
    # --- values ----------------------------------------------------------------------------
    pytest.param(
        Bad(
            with_defect("nodes: 8", "nodes: eight"),
            "pools[0].nodes",
            "nodes: eight",
            "valid integer, unable to parse string as an integer, got 'eight'",
            "an integer greater than 0",
        ),
        id="a-word-where-a-count-belongs",
    ),
    pytest.param(
        Bad(
            with_defect("nodes: 8", "nodes: -8"),
            "pools[0].nodes",
            "nodes: -8",
            "greater than 0, got -8",
            "an integer greater than 0",
        ),
        id="a-negative-node-count",
    ),
    pytest.param(
        Bad(
            with_defect("jobs_per_day: 10", "jobs_per_day: 0"),
            "entities[0].programs[0].workload.generator.jobs_per_day",
            "jobs_per_day: 0",
            "greater than 0, got 0",
            "a number greater than 0",
        ),
        id="a-generator-of-zero-jobs-a-day",
    ),
    pytest.param(
        Bad(
            with_defect("horizon_days: 10", "horizon_days: 0"),
            "horizon_days",
            "horizon_days: 0",
            "greater than 0, got 0",
            "a number greater than 0",
        ),
        id="a-horizon-of-zero-days",
    ),
    pytest.param(
        Bad(
            with_defect("horizon_days: 10", "horizon_days: 1e400"),
            "horizon_days",
            "horizon_days: 1e400",
            "less than or equal to 36525",
            "a number greater than 0 and at most 36525",
        ),
        id="a-horizon-past-any-date",
    ),
    pytest.param(
        Bad(
            with_defect(
                "    power_kw: 5000\nentities", "    power_kw: 5000\n    pue: 0.9\nentities"
            ),
            "sites[1].pue",
            "pue: 0.9",
            "greater than or equal to 1, got 0.9",
            "a number from 1 to 3",
        ),
        id="a-pue-below-one-is-impossible",
    ),
    pytest.param(
        Bad(
            with_defect(
                "    power_kw: 5000\nentities", "    power_kw: 5000\n    pue: 3.5\nentities"
            ),
            "sites[1].pue",
            "pue: 3.5",
            "less than or equal to 3, got 3.5",
            "a number from 1 to 3",
        ),
        id="a-pue-above-three-is-out-of-range",
    ),
    pytest.param(
        Bad(
            with_defect("name: acme-h100", "name: acme h100"),
            "pools[0].name",
            "name: acme h100",
            "got 'acme h100'",
            "a name of letters, digits, '.', '_' or '-'",
        ),
        id="a-pool-name-with-a-space",
    ),
    pytest.param(
        Bad(
            with_defect("gpus: 8, duration", "gpus: eight, duration"),
            "entities[1].programs[0].workload.generator.gpus",
            "gpus: eight",
            "got 'eight'",
            "an integer greater than 0 and at most 100000, or a mapping of: choices, weights",
        ),
        id="a-value-fitting-neither-form-of-a-union-is-one-problem-listing-both-forms",
    ),
    pytest.param(
        Bad(
            with_defect("policy: quota", "policy: 5"),
            "policy",
            "policy: 5",
            "valid string, got 5",
            "a string, or a mapping of: name, options",
        ),
        id="a-policy-that-is-a-number",
    ),
    # --- start and end ----------------------------------------------------------------------
    pytest.param(
        Bad(
            with_defect("horizon_days: 10", "end: 2023-12-01"),
            "end",
            "end: 2023-12-01",
            "the scenario ends (2023-12-01) before it starts (2024-01-01)",
            "an end after 'start'",
        ),
        id="an-end-before-the-start-and-nothing-else-complains",
    ),
    pytest.param(
        Bad(
            with_defect("horizon_days: 10\n", "horizon_days: 10\nend: 2024-02-01\n"),
            "end",
            "end: 2024-02-01",
            "both 'end' and 'horizon_days' are given",
            "exactly one of 'end' or 'horizon_days'",
        ),
        id="both-an-end-and-a-horizon-points-at-the-later-one",
    ),
    pytest.param(
        Bad(
            with_defect("horizon_days: 10\n", ""),
            "end",
            "name: small",
            "neither 'end' nor 'horizon_days' is given",
            "exactly one of 'end' or 'horizon_days'",
        ),
        id="neither-an-end-nor-a-horizon",
    ),
    # --- names and references ---------------------------------------------------------------
    pytest.param(
        Bad(
            with_defect("    gpu_type: A100-80GB", "    gpu_type: Z9000"),
            "pools[2].gpu_type",
            "gpu_type: Z9000",
            "unknown GPU type 'Z9000'",
            "one of A100-80GB, H100-SXM, H200, B200 (or add it under gpu_types)",
        ),
        id="an-unknown-gpu-type-in-a-pool",
    ),
    pytest.param(
        Bad(
            with_defect("A100-80GB: {nominal: 16}", "Z9000: {nominal: 16}"),
            "entities[1].programs[0].quotas.Z9000",
            "Z9000: {nominal: 16}",
            "unknown GPU type 'Z9000'",
            "one of A100-80GB, H100-SXM",
        ),
        id="an-unknown-gpu-type-in-quotas-once-not-again-for-the-generator",
    ),
    pytest.param(
        Bad(
            with_defect("gpus: 8, duration", "gpu_types: [H100-SXM, Z9000], gpus: 8, duration"),
            "entities[1].programs[0].workload.generator.gpu_types[1]",
            "gpu_types: [H100-SXM, Z9000]",
            "unknown GPU type 'Z9000'",
            "one of A100-80GB, H100-SXM",
        ),
        id="an-unknown-gpu-type-in-a-generator-names-its-index",
    ),
    pytest.param(
        Bad(
            with_defect("    site: east", "    site: north"),
            "pools[0].site",
            "site: north",
            "unknown site 'north'",
            "one of east, west",
        ),
        id="a-pool-at-an-unknown-site-and-no-echo-from-the-transfer-of-it",
    ),
    pytest.param(
        Bad(
            with_defect("owner: acme", "owner: nobody"),
            "pools[0].owner",
            "owner: nobody",
            "unknown entity 'nobody'",
            "one of acme, beta",
        ),
        id="a-pool-owned-by-an-unknown-entity",
    ),
    pytest.param(
        Bad(
            with_defect("entities:\n", "  - {name: west, power_kw: 100}\nentities:\n"),
            "sites[2].name",
            "power_kw: 100",
            "duplicate name 'west'",
            "each sites entry named once",
        ),
        id="two-sites-with-one-name",
    ),
    pytest.param(
        Bad(
            with_defect("name: beta-a100", "name: beta-h100"),
            "pools[2].name",
            line_of(SMALL, "name: beta-a100"),
            "duplicate name 'beta-h100'",
            "each pools entry named once",
        ),
        id="two-pools-with-one-name",
    ),
    pytest.param(
        Bad(
            with_defect("name: language", "name: vision"),
            "entities[1].programs[0].name",
            line_of(SMALL, "name: language"),
            "duplicate program name 'vision'",
            "program names unique across entities",
        ),
        id="two-programs-with-one-name-in-different-entities",
    ),
    pytest.param(
        Bad(
            with_defect(
                VISION, VISION + "        milestone: {name: v1, gpu_hours: 100, due: 2023-12-01}\n"
            ),
            "entities[0].programs[0].milestone.due",
            "milestone:",
            "due 2023-12-01 is not after the scenario's start",
            "a date after 'start'",
        ),
        id="a-milestone-due-before-the-start",
    ),
    # --- workloads --------------------------------------------------------------------------
    pytest.param(
        Bad(
            with_defect("weights: [0.5, 0.5]", "weights: [0.5]"),
            "entities[0].programs[0].workload.generator.gpus.weights",
            "weights: [0.5]",
            "'weights' has 1 entries but 'choices' has 2",
            "one weight per entry of 'choices'",
        ),
        id="gpu-count-weights-shorter-than-the-choices",
    ),
    pytest.param(
        Bad(
            with_defect("max: 48}", "max: 48, choices: [1, 2]}"),
            "entities[0].programs[0].workload.generator.duration_hours.choices",
            "choices: [1, 2]}",
            "both 'lognormal' and 'choices' are given",
            "exactly one of 'lognormal' or 'choices'",
        ),
        id="a-duration-with-both-lognormal-and-choices",
    ),
    pytest.param(
        Bad(
            with_defect("{lognormal: {median: 4, sigma: 0.5}, max: 48}", "{max: 48}"),
            "entities[0].programs[0].workload.generator.duration_hours.lognormal",
            "duration_hours: {max: 48}",
            "neither 'lognormal' nor 'choices' is given",
            "exactly one of 'lognormal' or 'choices'",
        ),
        id="a-duration-with-neither-lognormal-nor-choices",
    ),
    pytest.param(
        Bad(
            beta_jobs("{submit: 2024-01-02, gpus: 8, duration_hours: 2, gpu_hours: 16}"),
            "entities[1].programs[0].workload.jobs[0].gpu_hours",
            "submit: 2024-01-02",
            "both 'duration_hours' and 'gpu_hours' are given",
            "exactly one of 'duration_hours' or 'gpu_hours'",
        ),
        id="a-job-with-both-a-duration-and-gpu-hours",
    ),
    pytest.param(
        Bad(
            beta_jobs("{submit: 2024-01-02, gpus: 8}"),
            "entities[1].programs[0].workload.jobs[0].duration_hours",
            "submit: 2024-01-02",
            "neither 'duration_hours' nor 'gpu_hours' is given",
            "exactly one of 'duration_hours' or 'gpu_hours'",
        ),
        id="a-job-with-no-size",
    ),
    pytest.param(
        Bad(
            beta_jobs("{submit: 2023-12-25, gpus: 8, duration_hours: 2}"),
            "entities[1].programs[0].workload.jobs[0].submit",
            "submit: 2023-12-25",
            "submitted before the scenario starts",
            "a date on or after 2024-01-01",
        ),
        id="a-job-submitted-before-the-start",
    ),
    pytest.param(
        Bad(
            with_defect("gpus: 8, duration", "end: 2023-06-01, gpus: 8, duration"),
            "entities[1].programs[0].workload.generator.end",
            "end: 2023-06-01",
            "the generator ends (2023-06-01) before it starts (2024-01-01)",
            "an end after the generator's start",
        ),
        id="a-generator-that-ends-before-it-starts",
    ),
    pytest.param(
        Bad(
            with_defect("gpus: 8, duration", "start: 2024-03-01, gpus: 8, duration"),
            "entities[1].programs[0].workload.generator.start",
            "start: 2024-03-01",
            "the generator starts (2024-03-01) after the scenario ends (2024-01-11)",
            "a start before the scenario's end",
        ),
        id="a-generator-that-starts-after-the-scenario-ends",
    ),
    # --- transfers and quota changes ----------------------------------------------------------
    pytest.param(
        Bad(
            with_defect("pool: acme-h100", "pool: acme-h200"),
            "variants.move.timeline[0].transfer.pool",
            "pool: acme-h200",
            "unknown pool 'acme-h200'",
            "one of acme-h100, beta-h100, beta-a100",
        ),
        id="a-transfer-of-an-unknown-pool",
    ),
    pytest.param(
        Bad(
            with_defect("gpus: 16\n", "gpus: 12\n"),
            "variants.move.timeline[0].transfer.gpus",
            "gpus: 12",
            "12 GPUs cannot move from pool 'acme-h100' (8 nodes x 8 GPUs)",
            "a multiple of 8, at most 64",
        ),
        id="a-transfer-of-part-of-a-node",
    ),
    pytest.param(
        Bad(
            with_defect("gpus: 16\n", "gpus: 128\n"),
            "variants.move.timeline[0].transfer.gpus",
            "gpus: 128",
            "128 GPUs cannot move from pool 'acme-h100'",
            "a multiple of 8, at most 64",
        ),
        id="a-transfer-of-more-gpus-than-the-pool-has",
    ),
    pytest.param(
        Bad(
            with_defect("to: beta", "to: gamma"),
            "variants.move.timeline[0].transfer.to",
            "to: gamma",
            "unknown entity 'gamma'",
            "one of acme, beta",
        ),
        id="a-transfer-to-an-unknown-entity",
    ),
    pytest.param(
        Bad(
            with_defect("to: beta", "to: acme"),
            "variants.move.timeline[0].transfer.to",
            "to: acme",
            "transfer from 'acme' to itself",
            "another entity",
        ),
        id="a-transfer-to-its-own-owner",
    ),
    pytest.param(
        Bad(
            with_defect(TRANSFER_START, TRANSFER_START + "          to_site: north\n"),
            "variants.move.timeline[0].transfer.to_site",
            "to_site: north",
            "unknown site 'north'",
            "one of east, west",
        ),
        id="a-transfer-to-an-unknown-site",
    ),
    pytest.param(
        Bad(
            with_defect(TRANSFER_START, TRANSFER_START + "          end: 2024-01-02\n"),
            "variants.move.timeline[0].transfer.end",
            "end: 2024-01-02",
            "ends 2024-01-02 before it starts 2024-01-03",
            "an end after 'start', or no end for a permanent transfer",
        ),
        id="a-loan-that-ends-before-it-starts",
    ),
    pytest.param(
        Bad(
            with_defect(
                BETA_QUOTAS,
                BETA_QUOTAS + "      - name: speech\n        quotas: {H100-SXM: {nominal: 8}}\n",
            ),
            "variants.move.timeline[0].transfer.to_program",
            "- transfer:",
            "'beta' has 2 programs; which one gives or gets the quota is ambiguous",
            "name it: one of language, speech",
        ),
        id="a-transfer-to-an-entity-with-two-programs-must-name-one",
    ),
    pytest.param(
        Bad(
            with_defect(TRANSFER_START, TRANSFER_START + "          to_program: vision\n"),
            "variants.move.timeline[0].transfer.to_program",
            "to_program: vision",
            "'vision' is not a program of 'beta'",
            "one of language",
        ),
        id="a-transfer-to-another-entitys-program",
    ),
    pytest.param(
        Bad(
            move_item("quota: {at: 2024-01-02, program: nope, gpu_type: H100-SXM, nominal: 8}"),
            "variants.move.timeline[0].quota.program",
            "program: nope",
            "unknown program 'nope'",
            "one of language, vision",
        ),
        id="a-quota-change-for-an-unknown-program",
    ),
    pytest.param(
        Bad(
            move_item("quota: {at: 2024-01-02, program: vision, gpu_type: Z9000, nominal: 8}"),
            "variants.move.timeline[0].quota.gpu_type",
            "gpu_type: Z9000",
            "unknown GPU type 'Z9000'",
            "one of A100-80GB, H100-SXM",
        ),
        id="a-quota-change-for-an-unknown-gpu-type",
    ),
    pytest.param(
        Bad(
            with_defect(
                TRANSFER_START,
                TRANSFER_START + "        quota: {at: 2024-01-02, program: vision,"
                " gpu_type: H100-SXM, nominal: 8}\n",
            ),
            "variants.move.timeline[0].quota",
            "quota: {at: 2024-01-02",
            "both 'transfer' and 'quota' are given",
            "exactly one of 'transfer' or 'quota'",
        ),
        id="a-timeline-item-with-both-a-transfer-and-a-quota-change",
    ),
    pytest.param(
        Bad(
            move_item("note: nothing happens"),
            "variants.move.timeline[0].transfer",
            "note: nothing happens",
            "neither 'transfer' nor 'quota' is given",
            "exactly one of 'transfer' or 'quota'",
        ),
        id="a-timeline-item-with-neither",
    ),
    # --- policies and variants -----------------------------------------------------------------
    pytest.param(
        Bad(
            with_defect("policy: quota", "policy: fair"),
            "policy",
            "policy: fair",
            "unknown policy 'fair'",
            "one of " + ", ".join(sorted(n for n, _, _ in available_policies())),
        ),
        id="an-unknown-policy-lists-the-valid-names",
    ),
    pytest.param(
        Bad(
            with_defect("policy: quota", "policy: {name: fifo-backfill, options: {depth: 3}}"),
            "policy.options.depth",
            "policy: {name",
            "policy 'fifo-backfill' has no option 'depth'",
            "one of backfill_depth",
        ),
        id="an-unknown-policy-option-lists-the-policys-options",
    ),
    pytest.param(
        Bad(
            with_defect("policy: quota", "policy: {name: fifo, options: {depth: 3}}"),
            "policy.options.depth",
            "policy: {name",
            "policy 'fifo' has no option 'depth'",
            "no options",
        ),
        id="an-option-for-a-policy-without-options",
    ),
    pytest.param(
        Bad(
            with_defect("    description: acme", "    policy: fair\n    description: acme"),
            "variants.move.policy",
            "policy: fair",
            "unknown policy 'fair'",
            "one of drf, fifo",
        ),
        id="an-unknown-policy-in-a-variant",
    ),
    pytest.param(
        Bad(
            with_defect("  move:\n", "  base:\n"),
            "variants.base",
            "base:",
            "'base' names the scenario without variants",
            "another variant name",
        ),
        id="a-variant-cannot-be-called-base",
    ),
    # --- traces -----------------------------------------------------------------------------
    pytest.param(
        Bad(
            beta_trace("{path: missing.csv}"),
            "entities[1].programs[0].workload.trace.path",
            "trace:",
            "no such file",
            "a CSV file path, absolute or relative to the scenario file",
        ),
        id="a-trace-file-that-does-not-exist-is-located-in-the-scenario",
    ),
    pytest.param(
        Bad(
            beta_trace("{path: t.csv, format: parquet}"),
            "entities[1].programs[0].workload.trace.format",
            "trace:",
            "unknown trace format 'parquet'",
            "csv",
            csv=GOOD_CSV,
        ),
        id="an-unknown-trace-format",
    ),
    pytest.param(
        Bad(
            beta_trace("{path: t.csv}"),
            "header",
            1,
            "missing column(s) duration_s; the header is 'submit_s,gpus'",
            "submit_s,gpus,duration_s",
            csv="submit_s,gpus\n0,8\n",
            in_csv=True,
        ),
        id="a-trace-without-a-duration-column",
    ),
    pytest.param(
        Bad(
            beta_trace("{path: t.csv}"),
            "gpus",
            "60,x,3600",
            "'x' is not an integer",
            "an integer greater than 0",
            csv="submit_s,gpus,duration_s\n0,8,3600\n60,x,3600\n120,8,60\n",
            in_csv=True,
        ),
        id="a-trace-row-with-a-word-for-a-number-names-its-csv-line-and-column",
    ),
    pytest.param(
        Bad(
            beta_trace("{path: t.csv}"),
            "duration_s",
            "60,8,-5",
            "-5 is out of range",
            "a number greater than 0",
            csv="submit_s,gpus,duration_s\n0,8,3600\n60,8,-5\n",
            in_csv=True,
        ),
        id="a-trace-row-with-a-negative-duration",
    ),
    pytest.param(
        Bad(
            beta_trace("{path: t.csv}"),
            "submit_s",
            "nan,8,60",
            "nan is out of range",
            "a number of 0 or more",
            csv="submit_s,gpus,duration_s\n0,8,3600\nnan,8,60\n",
            in_csv=True,
        ),
        id="a-trace-row-submitted-at-not-a-number",
    ),
    pytest.param(
        Bad(
            beta_trace("{path: t.csv}"),
            "duration_s",
            "60,8",
            "missing",
            "a number greater than 0",
            csv="submit_s,gpus,duration_s\n0,8,3600\n60,8\n",
            in_csv=True,
        ),
        id="a-trace-row-with-a-column-missing",
    ),
    pytest.param(
        Bad(
            beta_trace("{path: t.csv}"),
            "gpu_type",
            "Z9000",
            "unknown GPU type 'Z9000'",
            "one of A100-80GB, H100-SXM",
            csv=GOOD_CSV + "900,8,60,Z9000\n",
            in_csv=True,
        ),
        id="a-trace-row-of-an-unknown-gpu-type",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_scenario_gives_one_precise_problem(case: Bad, tmp_path: Path) -> None:
    scenario, trace = tmp_path / "s.yaml", tmp_path / "t.csv"
    scenario.write_text(case.text, encoding="utf-8")
    if case.csv is not None:
        trace.write_text(case.csv, encoding="utf-8")
    problems = validate_file(scenario)
    assert len(problems) == 1, "\n".join(p.render() for p in problems)
    p = problems[0]
    located_in = case.csv if case.in_csv else case.text
    assert located_in is not None
    line = case.at if isinstance(case.at, int) else line_of(located_in, case.at)
    assert (p.file, p.line, p.field) == (str(trace if case.in_csv else scenario), line, case.field)
    assert case.message in p.message
    assert case.expected in p.expected


def test_the_small_scenario_itself_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SMALL, encoding="utf-8")
    sc = load_scenario(path)
    assert [s.name for s in sc.sites] == ["east", "west"]
    assert [p.name for p in sc.pools] == ["acme-h100", "beta-h100", "beta-a100"]
    assert [p.name for p in sc.programs()] == ["vision", "language"]
    assert [v.name for v in sc.variants] == ["move"]
    assert sum(p.gpu_count for p in sc.pools) == 112  # (8 + 4 + 2) nodes x 8 GPUs


def test_a_good_trace_loads(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(GOOD_CSV, encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(beta_trace("{path: t.csv}"), encoding="utf-8")
    assert validate_file(path) == []


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = with_defect("seed: 7", "sead: 7")
    text = with_defect("nodes: 8", "nodes: -8", text)
    text = with_defect(
        "    power_kw: 5000\nentities", "    power_kw: 5000\n    pue: 0.9\nentities", text
    )
    text = with_defect("weights: [0.5, 0.5]", "weights: [0.5]", text)
    text = with_defect("gpus: 16\n", "gpus: many\n", text)
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    # in the order of the file, whatever order the checks found them in
    assert [(p.line, p.field) for p in e.value.problems] == [
        (line_of(text, "sead: 7"), "sead"),
        (line_of(text, "pue: 0.9"), "sites[1].pue"),
        (
            line_of(text, "weights: [0.5]"),
            "entities[0].programs[0].workload.generator.gpus.weights",
        ),
        (line_of(text, "nodes: -8"), "pools[0].nodes"),
        (line_of(text, "gpus: many"), "variants.move.timeline[0].transfer.gpus"),
    ]
    # str() lists them too, so an uncaught error in a notebook shows what is wrong
    assert str(e.value).splitlines() == [
        f"{path}: 5 problems",
        *(f"  {p.render()}" for p in e.value.problems),
    ]


def test_every_reference_problem_is_reported_at_once(tmp_path: Path) -> None:
    # the shape is valid, so the cross-reference checks all run and all report
    text = with_defect("    site: east", "    site: north")
    text = with_defect(
        "owner: beta\n  - name: beta-a100", "owner: gamma\n  - name: beta-a100", text
    )
    text = with_defect("A100-80GB: {nominal: 16}", "Z9000: {nominal: 16}", text)
    text = with_defect("to: beta", "to: acme", text)
    text = with_defect("policy: quota", "policy: fair", text)
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    assert [(p.line, p.field, p.message) for p in validate_file(path)] == [
        (line_of(text, "policy: fair"), "policy", "unknown policy 'fair'"),
        (
            line_of(text, "Z9000"),
            "entities[1].programs[0].quotas.Z9000",
            "unknown GPU type 'Z9000'",
        ),
        (line_of(text, "site: north"), "pools[0].site", "unknown site 'north'"),
        (line_of(text, "owner: gamma"), "pools[1].owner", "unknown entity 'gamma'"),
    ]
    # pool acme-h100 is bad, so the transfer of it is not judged (no echo of its problem)


def test_duplicate_keys_and_shape_problems_are_reported_together(tmp_path: Path) -> None:
    text = with_defect("seed: 7\n", "seed: 7\nseed: 8\n")
    text = with_defect("nodes: 8", "nodes: eight", text)
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    assert [(p.line, p.field) for p in validate_file(path)] == [
        (line_of(text, "seed: 8"), "seed"),
        (line_of(text, "nodes: eight"), "pools[0].nodes"),
    ]


def test_an_alias_that_contains_itself_is_an_error_not_a_crash(tmp_path: Path) -> None:
    text = SMALL + "assumptions: &a [*a]\n"
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    first = validate_file(path)[0]
    assert (first.line, first.field) == (line_of(text, "&a [*a]"), "assumptions[0]")
    assert first.message == "an alias refers to a value that contains it"


def test_a_missing_scenario_file_is_one_problem_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert validate_file(path) == [
        Problem("", "no such scenario file", "a readable UTF-8 YAML scenario file", str(path))
    ]


def test_a_directory_is_not_a_scenario_file(tmp_path: Path) -> None:
    [p] = validate_file(tmp_path)
    assert (p.file, p.message) == (str(tmp_path), "a directory, not a file")


def test_a_file_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    [p] = validate_file(path)
    assert (p.file, p.line) == (str(path), None)
    assert p.message.startswith("cannot read the file: 'utf-8' codec can't decode byte 0xff")


def test_a_problem_renders_as_file_line_field_message_expected() -> None:
    p = Problem("pools[0].nodes", "got -8", "an integer greater than 0", "s.yaml", 37)
    assert p.render() == "s.yaml:37: pools[0].nodes: got -8 (expected an integer greater than 0)"


def test_an_alias_bomb_is_refused_not_expanded(tmp_path: Path) -> None:
    # nine levels of ten aliases each would expand to 10**9 values
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "s.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [p] = validate_file(path)
    assert p.message == "more than 1,000,000 values once aliases are expanded"


HOLDINGS = """
name: t
start: 2025-01-01
horizon_days: 10
sites: [{{name: s1, power_kw: 1000}}]
entities:
  - {{name: e1, programs: [{{name: p1, quotas: {{H100-SXM: {{nominal: 8}}}}}}]}}
  - {{name: e2, programs: [{{name: p2, quotas: {{H100-SXM: {{nominal: 8}}}}}}]}}
pools: [{{name: pool1, site: s1, gpu_type: H100-SXM, nodes: 2, owner: e1}}]
timeline:
{timeline}
"""


@pytest.mark.parametrize(
    ("timeline", "field", "message"),
    [
        pytest.param(
            "  - transfer: {pool: pool1, gpus: 8, from_entity: e2, to: e1, start: 2025-01-02}",
            "timeline[0].transfer.start",
            "on 2025-01-02 'e2' holds 0 GPUs of pool 'pool1', and this transfer moves 8",
            id="a-transfer-from-an-entity-that-holds-none-of-the-pool",
        ),
        pytest.param(
            "  - transfer: {pool: pool1, gpus: 16, to: e2, start: 2025-01-02}\n"
            "  - transfer: {pool: pool1, gpus: 8, to: e2, start: 2025-01-03}",
            "timeline[1].transfer.start",
            "on 2025-01-03 'e1' holds 0 GPUs of pool 'pool1', and this transfer moves 8",
            id="two-transfers-that-together-take-more-than-the-pool",
        ),
        pytest.param(
            "  - transfer: {pool: pool1, gpus: 8, to: e2, start: 2025-01-02, end: 2025-01-05}\n"
            "  - transfer: {pool: pool1, gpus: 8, from_entity: e2, to: e1, start: 2025-01-03}",
            "timeline[0].transfer.end",
            "on 2025-01-05 'e2' holds 0 GPUs of pool 'pool1', and this transfer moves 8",
            id="a-lease-that-cannot-come-back-because-the-lessee-gave-it-away",
        ),
    ],
)
def test_transfers_must_come_from_whoever_holds_the_gpus(
    timeline: str, field: str, message: str
) -> None:
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(HOLDINGS.format(timeline=timeline), "t.yaml")
    assert [(p.field, p.message) for p in e.value.problems] == [(field, message)]


def test_a_lease_returned_and_lent_again_is_fine() -> None:
    # 8 GPUs leased Jan 2-4 and back; then all 16 move on Jan 4: e1 holds 16 again by then
    timeline = (
        "  - transfer: {pool: pool1, gpus: 8, to: e2, start: 2025-01-02, "
        "end: 2025-01-04}\n"
        "  - transfer: {pool: pool1, gpus: 16, to: e2, start: 2025-01-04}"
    )
    sc = load_scenario_text(HOLDINGS.format(timeline=timeline), "t.yaml")
    assert len(sc.transfers) == 2


def test_a_generator_starting_before_the_scenario_is_an_error() -> None:
    text = HOLDINGS.format(timeline="  []").replace(
        "{name: p1, quotas: {H100-SXM: {nominal: 8}}}",
        "{name: p1, quotas: {H100-SXM: {nominal: 8}}, workload: {generator: "
        "{jobs_per_day: 5, gpus: 1, duration_hours: 1, start: 2024-12-25}}}",
    )
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(text, "t.yaml")
    [p] = e.value.problems
    assert p.field == "entities[0].programs[0].workload.generator.start"
    assert p.message == ("the generator starts (2024-12-25) before the scenario (2025-01-01)")


def test_a_trace_offset_that_moves_jobs_before_the_start_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("submit_s,gpus,duration_s\n0,1,60\n7200,1,60\n")
    text = HOLDINGS.format(timeline="  []").replace(
        "{name: p1, quotas: {H100-SXM: {nominal: 8}}}",
        "{name: p1, quotas: {H100-SXM: {nominal: 8}}, workload: {trace: "
        "{path: t.csv, time_offset_hours: -1}}}",
    )
    (tmp_path / "s.yaml").write_text(text)
    from gpufleet.inputs.scenario.load import load_scenario

    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "s.yaml")
    [p] = e.value.problems
    assert p.field == "entities[0].programs[0].workload.trace.time_offset_hours"
    assert p.message == (
        "the offset puts 1 job(s) before the scenario starts (the first at -1.00 h)"
    )


def test_a_cost_block_is_flat_or_itemized_not_both() -> None:
    text = HOLDINGS.format(timeline="  []").replace(
        "sites:", "cost: {usd_per_gpu_hour: 2, life_years: 4}\nsites:"
    )
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(text, "t.yaml")
    [p] = e.value.problems
    assert p.field == "cost"
    assert "not both" in p.message


def test_itemized_cost_keys_select_the_itemized_model() -> None:
    text = HOLDINGS.format(timeline="  []").replace(
        "sites:", "cost: {life_years: 5, ops_usd_per_gpu_hour: 0.1}\nsites:"
    )
    cost = load_scenario_text(text, "t.yaml").cost
    assert cost.itemized and cost.life_years == 5 and cost.ops_usd_per_gpu_hour == 0.1
    assert cost.idle_power_fraction == 0.3
    flat = load_scenario_text(HOLDINGS.format(timeline="  []"), "t.yaml").cost
    assert not flat.itemized and flat.usd_per_gpu_hour == 2.0


def test_a_program_can_take_its_jobs_from_any_trace_source(tmp_path: Path) -> None:
    # A Parquet workload with two queues; the program takes queue 'b' only: 2 jobs, the
    # recorded H100 job keeps H100 as its constraint, the unknown model falls back to the
    # program's quota types; 1.5 GPUs round up to 2; durations at H100 speed (1.0) are kept.
    from gpufleet.inputs.traces.workload import Workload, write_parquet

    w = Workload.build(
        "w",
        [0, 10, 20],
        [60, 120, 30],
        [1, 1.5, 4],
        gpu_type=["", "H100-SXM", "V100"],
        queue=["a", "b", "b"],
    )
    write_parquet(w, tmp_path / "w.parquet")
    text = HOLDINGS.format(timeline="  []").replace(
        "{name: p1, quotas: {H100-SXM: {nominal: 8}}}",
        "{name: p1, quotas: {H100-SXM: {nominal: 8}}, workload: {trace: "
        "{source: w.parquet, queue: b}}}",
    )
    (tmp_path / "s.yaml").write_text(text)
    sc = load_scenario(tmp_path / "s.yaml")
    drafts = list(sc.workloads[0][1](0))
    # times stay relative to the whole trace's first job, so programs taking different
    # queues of one trace stay aligned
    assert [(d.submit_s, d.gpus, d.work_s, d.gpu_types) for d in drafts] == [
        (10.0, 2, 120.0, ("H100-SXM",)),
        (20.0, 4, 30.0, ("H100-SXM",)),
    ]


@pytest.mark.parametrize(
    ("trace", "field", "message"),
    [
        pytest.param(
            "{source: nowhere-trace}",
            "trace.source",
            "unknown trace or file",
            id="an-unknown-trace-source",
        ),
        pytest.param(
            "{source: w.parquet, queue: zz}",
            "trace.queue",
            "no job of the trace is left for this program",
            id="a-queue-it-lacks",
        ),
        pytest.param(
            "{source: w.parquet, path: x.csv}",
            "trace",
            "give exactly one of 'path'",
            id="both-path-and-source",
        ),
    ],
)
def test_bad_trace_sources_are_located(
    trace: str, field: str, message: str, tmp_path: Path
) -> None:
    from gpufleet.inputs.traces.workload import Workload, write_parquet

    write_parquet(Workload.build("w", [0], [60], [1], queue=["a"]), tmp_path / "w.parquet")
    text = HOLDINGS.format(timeline="  []").replace(
        "{name: p1, quotas: {H100-SXM: {nominal: 8}}}",
        "{name: p1, quotas: {H100-SXM: {nominal: 8}}, workload: {trace: " + trace + "}}",
    )
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "s.yaml")
    [p] = e.value.problems
    assert p.field.endswith(field)
    assert message in p.message


def test_a_plan_past_the_year_8999_is_a_problem_not_an_overflow() -> None:
    # 9999-12-30 + 10 days would overflow Python's dates; the loader says so instead
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(SMALL.replace("start: 2024-01-01", "start: 9999-12-30"))
    assert "the plan runs past the year 8999" in e.value.problems[0].message
