"""Fair Tree over a configured account tree of any depth, as Slurm 22.05 computes it.

Source: src/plugins/priority/multifactor/fair_tree.c (slurm-22-05-9-1), functions
``_calc_assoc_fs``, ``_cmp_level_fs``, ``_calc_tree_fs`` and ``_apply_priority_fs``;
slurm.schedmd.com/fair_tree.html ("Algorithm", "Ties").

- Every association gets ``LF = S / U`` with ``S = shares / sum of its siblings' shares``
  and ``U = usage / its parent's usage`` (0 when the parent has none); ``S = 0`` gives
  ``LF = 0`` even when ``U = 0``; otherwise ``U = 0`` gives infinity (``_calc_assoc_fs``).
- Siblings are visited in descending LF; at equal LF a leaf (Slurm's user) goes before an
  account (``_cmp_level_fs``). Accounts with equal LF have their children merged and
  visited as one level (``_merge_accounts``).
- Leaves get ranks from n (the number of leaves in the whole tree) downwards; a leaf with
  the same LF as the previous sibling shares its rank, and the first child of a merged
  level is tied with what came before when its account was (``account_tied``). A leaf's
  factor is ``rank / n``.

Leaves are gpufleet programs (an account's users collapsed into it, see
:mod:`gpufleet.policies.slurm.setup`); usage is per leaf, an account's is the sum below it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from gpufleet.policies.slurm.setup import ROOT, Account


def _usage_below(tree: Mapping[str, Account], usage: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}

    def walk(name: str) -> float:
        node = tree.get(name)
        u = usage.get(name, 0.0) if node is None or not node.children else 0.0
        if node is not None:
            u += sum(walk(c) for c in node.children)
        out[name] = u
        return u

    walk(ROOT)
    return out


def _is_leaf(tree: Mapping[str, Account], name: str) -> bool:
    node = tree.get(name)
    return node is None or not node.children


def _level_fs(tree: Mapping[str, Account], below: Mapping[str, float]) -> dict[str, float]:
    """LF of every association below the root, each against its own parent and siblings."""
    lf: dict[str, float] = {}
    for parent in tree.values():
        total_s = sum(tree[c].shares if c in tree else 1.0 for c in parent.children)
        parent_u = below.get(parent.name, 0.0)
        for c in parent.children:
            s = (tree[c].shares if c in tree else 1.0) / total_s if total_s > 0 else 0.0
            u = below.get(c, 0.0) / parent_u if parent_u > 0 else 0.0
            lf[c] = 0.0 if s == 0 else (math.inf if u == 0 else s / u)
    return lf


def fair_tree_factors(tree: Mapping[str, Account], usage: Mapping[str, float]) -> dict[str, float]:
    """Each leaf's fair-share factor (``rank / n``) from the leaves' usage."""
    below = _usage_below(tree, usage)
    lf = _level_fs(tree, below)
    leaves = [n for n in below if n != ROOT and _is_leaf(tree, n)]
    count = len(leaves)
    out: dict[str, float] = {}
    if count == 0:
        return out
    state = [count, count]  # rank, rank without ties (Slurm's rank and rnt)

    def visit(siblings: list[str], tied_in: bool) -> None:
        siblings.sort(key=lambda c: (-lf[c], 0 if _is_leaf(tree, c) else 1))
        prev: float | None = None
        i = 0
        while i < len(siblings):
            c = siblings[i]
            tied = tied_in if i == 0 else prev == lf[c]
            if _is_leaf(tree, c):
                if not tied:
                    state[0] = state[1]
                out[c] = state[0] / count
                state[1] -= 1
                i += 1
            else:
                j = i + 1
                while j < len(siblings) and not _is_leaf(tree, siblings[j]):
                    if lf[siblings[j]] != lf[c]:
                        break
                    j += 1
                merged = [g for a in siblings[i:j] for g in tree[a].children]
                visit(merged, tied)
                i = j
            prev = lf[c]

    visit(list(tree[ROOT].children), False)
    return out
