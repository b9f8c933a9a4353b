"""The live configuration file: which sources to read, how, the mapping file, and the
rules of the findings. One YAML file, strict (unknown keys and wrong types are errors,
all listed at once with file, line and field, as a :class:`LiveConfigError`: exit 2)::

    every: 60s                  # the observation interval: what one sample stands for
    min_interval: 5s            # the server observes at most this often, asked or not
    busy_threshold_pct: 10      # an allocated GPU at or above this utilisation is busy
    mapping: mapping.yaml       # the cluster's names -> the register's (relative to here)
    sources:
      slurm:
        mode: commands          # or rest (slurmrestd on its UNIX socket: rest_socket)
        jobs: text              # commands: squeue's text fields (or json: squeue --json)
        nodes: json             # commands: sinfo --json (or text: sinfo's text fields)
        env: {SLURM_CONF: /etc/slurm/slurm.conf}
        timeout: 30s
        enact:                  # the server's worker applies the register (docs/enact.md)
          cluster: gfdev        # Slurm's ClusterName
          gpu_limits: total     # or typed (GrpTRES=gres/gpu:TYPE=N)
          leases: quota         # or reservation
          every: 60s            # a tick; it also wakes when a transfer starts or ends
          enforce: false        # true: drift from the register is reverted, not only told
          max_skew: 30s         # the cluster's clock this far from ours: the worker waits
          retry_max: 300s       # back-off cap after a failed apply
      prometheus:
        url: http://127.0.0.1:9090
        util_window: 60s        # busy on the mean utilisation over this window
        headers_from_env: {Authorization: PROMETHEUS_AUTH}   # header -> variable
        timeout: 10s
      kubernetes:
        snapshots: kube/        # saved `kubectl get ... -o json` outputs, or
        # kubectl: {env: {KUBECONFIG: /path}}
    suggest:                    # leases suggested by `gpufleet status`
      min_gpus: 8
      after: 1h
      lease_days: 30

Durations are a number and a unit: ``s``, ``m``, ``h`` or ``d`` (``90s``, ``1h``).
Credentials are never written in the file: ``headers_from_env`` names the environment
variable that holds each header's value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from gpufleet.errors import InputError, Problem
from gpufleet.live.findings import SuggestionRules
from gpufleet.live.yamllines import Lines, dotted, load

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
DURATION_EXPECTED = "a number and a unit s, m, h or d, e.g. 60s or 1h"


def duration_s(text: str) -> float:
    """``"90s"`` -> 90.0, ``"1h"`` -> 3600.0; raises ValueError saying what is expected."""
    m = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a positive duration ({DURATION_EXPECTED})")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _seconds(v: object) -> object:
    return duration_s(v) if isinstance(v, str) else v


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]
Name = Annotated[str, Field(min_length=1, max_length=4096)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


ClusterName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")]


class EnactConfig(_Strict):
    """The server's enactment of the register on this Slurm cluster (docs/enact.md)."""

    cluster: ClusterName
    gpu_limits: Literal["total", "typed"] = "total"
    leases: Literal["quota", "reservation"] = "quota"
    every: Seconds = 60.0
    enforce: bool = False
    max_skew: Seconds = 30.0
    retry_max: Seconds = 300.0


class SlurmConfig(_Strict):
    mode: Literal["commands", "rest"] = "commands"
    jobs: Literal["text", "json"] = "text"
    nodes: Literal["text", "json"] = "json"
    env: dict[Name, str] = {}
    rest_socket: str = ""
    timeout: Seconds = 30.0
    enact: EnactConfig | None = None

    @model_validator(mode="after")
    def _enact_needs_commands(self) -> SlurmConfig:
        if self.enact is not None and self.mode != "commands":
            raise ValueError(
                "enact needs Slurm through its commands (mode: commands): slurmrestd "
                "cannot create reservations and runs unprivileged"
            )
        return self


class PrometheusConfig(_Strict):
    url: Name
    util_window: Seconds | None = None
    headers_from_env: dict[Name, Name] = {}
    timeout: Seconds = 10.0


class KubectlConfig(_Strict):
    env: dict[Name, str] = {}


class KubernetesConfig(_Strict):
    snapshots: Name | None = None
    kubectl: KubectlConfig | None = None


class SourcesConfig(_Strict):
    slurm: SlurmConfig | None = None
    prometheus: PrometheusConfig | None = None
    kubernetes: KubernetesConfig | None = None


class SuggestConfig(_Strict):
    min_gpus: int = Field(default=8, ge=1)
    after: Seconds = 3600.0
    lease_days: int = Field(default=30, ge=1)


MIN_INTERVAL_S = 5.0
"""The default shortest time between two observations of the server (``POST
/live/observe`` sooner is 429): one cycle on the dev cluster takes 0.4 s, sacctmgr most of
it, and each asks every source."""


class ConfigModel(_Strict):
    every: Seconds = 60.0
    min_interval: Seconds = MIN_INTERVAL_S
    busy_threshold_pct: float = Field(default=10.0, ge=0, le=100)
    mapping: Name
    sources: SourcesConfig
    suggest: SuggestConfig = SuggestConfig()


class LiveConfigError(InputError):
    """The live configuration file has problems; all of them are listed."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        n = len(problems)
        lines = "\n".join("  " + p.render() for p in problems)
        super().__init__(f"{file}: {n} problem{'s' if n != 1 else ''}:\n{lines}", problems)


@dataclass(frozen=True)
class LiveSettings:
    """The loaded file: its model, where it is, its text and the mapping's (both kept with
    the observations they were taken under, :class:`gpufleet.live.store.LiveConfig`)."""

    model: ConfigModel
    path: Path
    text: str
    mapping_path: Path
    mapping_text: str

    @property
    def suggest(self) -> SuggestionRules:
        s = self.model.suggest
        return SuggestionRules(s.min_gpus, s.after, s.lease_days)

    def resolve(self, name: str) -> Path:
        """A path the file names, relative to the file's folder."""
        p = Path(name).expanduser()
        return p if p.is_absolute() else self.path.parent / p


def load_settings(path: Path) -> LiveSettings:
    """Read and check the file (and that its mapping file can be read)."""
    file = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise LiveConfigError(
            file, [Problem("", f"cannot be read: {exc.strerror or exc}", "a readable file", file)]
        ) from None
    value, lines, problems = load(text, file)
    if problems:
        raise LiveConfigError(file, problems)
    try:
        model = ConfigModel.model_validate(value)
    except ValidationError as exc:
        raise LiveConfigError(file, _problems(exc, lines, file)) from None
    mapping_path = Path(model.mapping).expanduser()
    if not mapping_path.is_absolute():
        mapping_path = path.parent / mapping_path
    try:
        mapping_text = mapping_path.read_text()
    except OSError as exc:
        why = f"{mapping_path}: cannot be read: {exc.strerror or exc}"
        raise LiveConfigError(
            file, [Problem("mapping", why, "a readable mapping file", file, lines.of(("mapping",)))]
        ) from None
    return LiveSettings(model, path, text, mapping_path, mapping_text)


def _problems(exc: ValidationError, lines: Lines, file: str) -> list[Problem]:
    out = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        at = dotted(loc)
        if e["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(_fields_at(loc[:-1])))
            p = Problem(at, f"unknown key {loc[-1]!r}", f"one of: {allowed}", file, lines.of(loc))
        elif e["type"] == "missing":
            p = Problem(at, "required key is missing", "", file, lines.of(loc[:-1]))
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
            if "duration" not in msg:
                msg += f", got {e.get('input')!r}"[:80]
            p = Problem(at, msg, "", file, lines.of(loc))
        out.append(p)
    return out


def _fields_at(path: tuple[Any, ...]) -> list[str]:
    model: Any = ConfigModel
    for part in path:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return []
        model = next(
            (
                a
                for a in (field.annotation, *getattr(field.annotation, "__args__", ()))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
        if model is None:
            return []
    return list(model.model_fields)


def headers_from_env(config: PrometheusConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The headers whose values the named variables hold; a variable that is not set is
    an error naming it (a Prometheus behind a proxy would only answer 401)."""
    missing = [v for v in config.headers_from_env.values() if v not in environ]
    if missing:
        raise InputError(
            f"sources.prometheus.headers_from_env: environment variable {missing[0]!r} is "
            "not set (expected the header's value, e.g. 'Bearer TOKEN')"
        )
    return {h: environ[v] for h, v in config.headers_from_env.items()}
