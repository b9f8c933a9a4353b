"""A small valid scenario file, and a way to give it exactly one defect.

Two sites, two entities with one program each (a quota and a small generator), three pools
and one variant with a transfer. Ten days of about 18 jobs a day: it simulates in well
under a second, so the CLI tests can run it end to end.
"""

from __future__ import annotations

SMALL = """\
name: small
start: 2024-01-01
horizon_days: 10
seed: 7
policy: quota
sites:
  - name: east
    power_kw: 5000
  - name: west
    power_kw: 5000
entities:
  - name: acme
    programs:
      - name: vision
        quotas:
          H100-SXM: {nominal: 64}
        workload:
          generator:
            jobs_per_day: 10
            gpus: {choices: [8, 16], weights: [0.5, 0.5]}
            duration_hours: {lognormal: {median: 4, sigma: 0.5}, max: 48}
  - name: beta
    programs:
      - name: language
        quotas:
          H100-SXM: {nominal: 32}
          A100-80GB: {nominal: 16}
        workload:
          generator: {jobs_per_day: 8, gpus: 8, duration_hours: 6}
pools:
  - name: acme-h100
    site: east
    gpu_type: H100-SXM
    nodes: 8
    owner: acme
  - name: beta-h100
    site: west
    gpu_type: H100-SXM
    nodes: 4
    owner: beta
  - name: beta-a100
    site: west
    gpu_type: A100-80GB
    nodes: 2
    owner: beta
variants:
  move:
    description: acme lends 16 H100 to beta
    timeline:
      - transfer:
          pool: acme-h100
          gpus: 16
          to: beta
          start: 2024-01-03
"""


def with_defect(old: str, new: str, text: str = SMALL) -> str:
    """``text`` with its one occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the one line of ``text`` that holds ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}, not on exactly one"
    return hits[0]
