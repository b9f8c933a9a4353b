"""The arms of a what-if comparison: the base and its variants, from a scenario, the
variants it names, variant files and change texts. ``gpufleet whatif`` and
``gpufleet.whatif()`` build them here, so both compare the same arms for the same ask."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.planning.whatif.apply import apply_changes
from gpufleet.planning.whatif.changes import PARSERS, Change
from gpufleet.planning.whatif.variantfile import load_variant_file


def build_arms(
    sc: Scenario,
    base_variant: str | None = None,
    variants: Sequence[str] = (),
    changes: Sequence[tuple[str, str]] = (),
    name: str | None = None,
) -> tuple[str, dict[str, Scenario]]:
    """(the base's name, every arm by name, the base first).

    The base is ``sc`` as written, or its variant ``base_variant``. ``variants`` are variant
    files or names of ``sc``'s variants; ``changes`` are ``(kind, text)`` pairs (kinds of
    :data:`PARSERS`: ``("delay", "colo-h100 +30d")``), applied together to the base as one
    arm called ``name`` (default ``changes``). Given none of them, the scenario's own
    variants are compared: with several, the first is the base (the article: keep vs move);
    with one, the scenario as written is."""
    base_name = base_variant or "base"
    base = sc.variant(base_variant) if base_variant else sc
    arms: dict[str, Scenario] = {}
    for v in variants:
        if Path(v).is_file():
            vname, _description, vchanges = load_variant_file(v)
            arms[vname] = apply_changes(base, vchanges, f"{sc.name} [{vname}]")
        else:
            arms[v] = sc.variant(v)
    parsed = [(_parse(kind, text), text) for kind, text in changes]
    if parsed:
        cname = name or "changes"
        arms[cname] = apply_changes(base, parsed, f"{sc.name} [{cname}]")
    if not arms:
        if not sc.variants:
            raise InputError(
                "nothing to compare: give a variant (a file or the name of one of the "
                "scenario's variants) or a change (--move, --quota, ...); the scenario "
                "names no variants"
            )
        names = [v.name for v in sc.variants]
        base_name = base_variant or (names[0] if len(names) > 1 else "base")
        arms = {n: sc.variant(n) for n in names if n != base_name}
        base = sc.variant(base_name)
    if base_name in arms:
        raise InputError(f"the variant name {base_name!r} is the base's; name it differently")
    return base_name, {base_name: base, **arms}


def _parse(kind: str, text: str) -> Change:
    if kind not in PARSERS:
        raise InputError(
            f"unknown change kind {kind!r} for {text!r} (expected one of {', '.join(PARSERS)})"
        )
    return PARSERS[kind](text)
