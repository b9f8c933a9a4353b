"""GPU model names as schedulers spell them -> the catalog's type names.

Slurm typed gres (``gres/gpu:h100``, or NVML's ``nvidia_h100_80gb_hbm3`` when the GPUs were
autodetected), NVIDIA's GPU feature discovery label ``nvidia.com/gpu.product``
(``NVIDIA-H100-80GB-HBM3``, ``NVIDIA-A100-SXM4-40GB``) and cloud accelerator labels
(``nvidia-h100-80gb``) all name the same few models. A name is mapped only when it is
unambiguous for the catalog (:mod:`gpufleet.domain.gpus`): ``h100`` is the SXM part unless the
name says PCIe or NVL; ``a100`` is the 80 GB part unless the name says 40 GB. Anything else
keeps its name as written, and the importer notes it, so a scenario can add the type under
``gpu_types:`` instead of the import failing.
"""

from __future__ import annotations

import re
from collections import Counter

_NOISE = frozenset({"nvidia", "tesla", "geforce", "gpu"})
_SPLIT = re.compile(r"[-_\s./:]+")
# exact names whose tokens would mislead: GKE's "nvidia-tesla-a100" is the 40 GB part
_NOT_MAPPED = frozenset({"nvidia-tesla-a100"})


def catalog_name(raw: str) -> str | None:
    """The catalog's name for ``raw``, or None when it is not one of the catalog's types or
    the name leaves the variant open."""
    low = raw.strip().lower()
    if low in _NOT_MAPPED:
        return None
    tokens = [t for t in _SPLIT.split(low) if t and t not in _NOISE]
    if not tokens:
        return None
    model, rest = tokens[0], set(tokens[1:])
    if model == "h100":
        return None if rest & {"pcie", "nvl"} else "H100-SXM"
    if model == "h200":
        return None if "nvl" in rest else "H200"
    if model == "b200":
        return "B200"
    if model == "a100":
        return None if rest & {"40gb", "40g"} else "A100-80GB"
    return None


class GpuNames:
    """Resolves names for one import and remembers what it did, for the workload's notes."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}  # raw -> catalog name, or "" for none
        self.mapped: Counter[tuple[str, str]] = Counter()
        self.kept: Counter[str] = Counter()

    def resolve(self, raw: str) -> str:
        """The catalog name, or ``raw`` itself when it has none ("" stays "")."""
        if not raw:
            return ""
        known = self._cache.get(raw)
        if known is None:
            known = catalog_name(raw) or ""
            self._cache[raw] = known
        if not known:
            self.kept[raw] += 1
            return raw
        if known != raw:
            self.mapped[(raw, known)] += 1
        return known

    def resolve_all(self, raws: list[str]) -> list[str]:
        """:meth:`resolve` of each of ``raws``, counted as one call each would count them."""
        names = {raw: self.resolve(raw) for raw in dict.fromkeys(raws)}
        for raw, n in Counter(raws).items():  # resolve above counted each name once
            if n > 1 and raw:
                if names[raw] == raw and not self._cache[raw]:
                    self.kept[raw] += n - 1
                elif names[raw] != raw:
                    self.mapped[(raw, names[raw])] += n - 1
        return list(map(names.__getitem__, raws))

    def notes(self, unit: str = "job") -> list[str]:
        out = [
            f"GPU type {raw!r} read as {name} ({n} {unit}(s))"
            for (raw, name), n in sorted(self.mapped.items())
        ]
        out += [
            f"GPU type {raw!r} is not a built-in type; kept as written ({n} {unit}(s)): "
            "add it under gpu_types: in the scenario, or rename it"
            for raw, n in sorted(self.kept.items())
        ]
        return out
