"""The GPU type catalog: what each accelerator does, draws and costs, with sources.

Throughput is relative training throughput per GPU with the H100-SXM as 1.0 (the
*reference speed*: job work is measured in GPU-seconds at that speed). Power is the board's
maximum (TDP); ``server_power_w`` is the whole server's maximum divided by its GPUs, which is
what a datacenter must provision. Prices are public list or street prices; every figure is
an approximation whose source is named in ``sources``. Users add or override types in the
scenario file (``gpu_types:``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gpufleet.domain.ids import GpuTypeName
from gpufleet.errors import UnknownNameError


@dataclass(frozen=True)
class GpuType:
    name: GpuTypeName
    throughput: float  # relative training throughput, H100-SXM = 1.0
    board_power_w: float
    server_power_w: float  # provisioned server power per GPU
    price_usd: float
    memory_gb: int
    sources: tuple[str, ...] = field(default=())


# Each value's source, in the order (throughput, board power, server power, price).
_BUILTIN: tuple[GpuType, ...] = (
    GpuType(
        GpuTypeName("A100-80GB"),
        throughput=1 / 3,
        board_power_w=400,
        server_power_w=812.5,
        price_usd=15_000,
        memory_gb=80,
        sources=(
            "throughput: NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022), H100"
            " 'up to 3x' A100 for large-model training -> A100 = 1/3 of H100",
            "board power: NVIDIA A100 datasheet, SXM4 80GB max TDP 400 W",
            "server power: NVIDIA DGX A100 datasheet, 6.5 kW max for 8 GPUs -> 812.5 W/GPU",
            "price: widely reported street price of about $15,000 per A100 80GB (2023 press)",
        ),
    ),
    GpuType(
        GpuTypeName("H100-SXM"),
        throughput=1.0,
        board_power_w=700,
        server_power_w=1275,
        price_usd=30_000,
        memory_gb=80,
        sources=(
            "throughput: reference type (1.0 by definition)",
            "board power: NVIDIA H100 datasheet, SXM5 max TDP 700 W",
            "server power: NVIDIA DGX H100 datasheet, ~10.2 kW max for 8 GPUs -> 1,275 W/GPU",
            "price: press reports of $25,000-$40,000 per H100 (CNBC, 2023); midpoint $30,000."
            " The article's 12,000 H100 for ~$500M imply ~$41,700 per GPU including systems",
        ),
    ),
    GpuType(
        GpuTypeName("H200"),
        throughput=1.14,
        board_power_w=700,
        server_power_w=1275,
        price_usd=32_000,
        memory_gb=141,
        sources=(
            "throughput: NVIDIA MLPerf Training v4.0 (June 2024) blog, H200 up to 14% faster"
            " than H100 on Llama 2 70B fine-tuning -> 1.14",
            "board power: NVIDIA H200 datasheet, SXM max TDP up to 700 W",
            "server power: NVIDIA DGX H200 datasheet, ~10.2 kW max for 8 GPUs",
            "price: press reports of roughly $30,000-$35,000 per H200 (2024)",
        ),
    ),
    GpuType(
        GpuTypeName("B200"),
        throughput=2.2,
        board_power_w=1000,
        server_power_w=1787.5,
        price_usd=35_000,
        memory_gb=180,
        sources=(
            "throughput: NVIDIA MLPerf Training v4.1 (Nov 2024) blog, Blackwell up to 2.2x per GPU"
            " vs Hopper on GPT-3 175B pre-training",
            "board power: NVIDIA DGX B200 / HGX B200 specifications, 1,000 W per GPU",
            "server power: NVIDIA DGX B200 datasheet, ~14.3 kW max for 8 GPUs -> 1,787.5 W/GPU",
            "price: Jensen Huang to CNBC (March 2024), Blackwell 'between $30,000 and $40,000'",
        ),
    ),
)


class GpuCatalog:
    """The GPU types a scenario knows: the built-ins plus the user's additions."""

    def __init__(self, types: Iterable[GpuType]) -> None:
        self._types: dict[GpuTypeName, GpuType] = {}
        for t in types:
            self._types[t.name] = t

    def with_types(self, extra: Iterable[GpuType]) -> GpuCatalog:
        """A new catalog where ``extra`` adds types or replaces built-ins of the same name."""
        return GpuCatalog([*self._types.values(), *extra])

    def get(self, name: str) -> GpuType:
        try:
            return self._types[GpuTypeName(name)]
        except KeyError:
            raise UnknownNameError("GPU type", name, list(self._types)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[GpuType]:
        return iter(self._types.values())

    def names(self) -> list[GpuTypeName]:
        return list(self._types)


def default_catalog() -> GpuCatalog:
    return GpuCatalog(_BUILTIN)
