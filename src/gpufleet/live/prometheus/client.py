"""Prometheus's HTTP query API (``/api/v1/query``, ``/api/v1/query_range``), read-only,
and the DCGM exporter's GPU metrics read through it into :class:`GpuSample`.

The answer's shape is Prometheus's documented one (docs "HTTP API")::

    {"status": "success" | "error", "errorType": ..., "error": ..., "warnings": [...],
     "data": {"resultType": "vector" | "matrix" | ..., "result": [
        {"metric": {"__name__": ..., "gpu": "0", ...}, "value": [1733508698.123, "73"]}
        or, for a range, "values": [[t, "v"], ...]]}}

Values come as strings ("73", "NaN", "+Inf"). A GPU metric that is not a finite number
within its range is an error: gpufleet would otherwise count a GPU as idle or busy on a
value the exporter never measured.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from gpufleet.live.errors import SourceError, SourceUnavailableError
from gpufleet.live.jsonread import At, parse_json
from gpufleet.live.prometheus.model import (
    FB_USED,
    GPU_UTIL,
    POWER_USAGE,
    REQUIRED_LABELS,
    GpuSample,
    RangeSeries,
    Sample,
)
from gpufleet.live.prometheus.transport import HttpTransport, UrllibTransport

# the highest value each metric may take; None: no upper bound gpufleet can know
_UPPER = {GPU_UTIL: 100.0, FB_USED: None, POWER_USAGE: None}


class PrometheusSource:
    """The read-only Prometheus client. ``base_url`` is the server's root
    (``http://127.0.0.1:19090``); ``transport`` is the seam (``UrllibTransport`` for real,
    ``ReplayTransport`` for recorded answers)."""

    def __init__(
        self,
        base_url: str,
        transport: HttpTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport or UrllibTransport()
        self.clock = clock

    def source(self, path: str, promql: str) -> str:
        """How errors name what was asked: the URL and the query, readable."""
        return f"{self.base_url}{path}?query={promql}"

    def query(self, promql: str, at: datetime | None = None) -> tuple[Sample, ...]:
        """An instant query at ``at`` (now if None); its answer must be a vector."""
        when = at or self.clock()
        params = {"query": promql, "time": _epoch_text(when)}
        data = self._ask("/api/v1/query", promql, params)
        _expect_type(data, "vector")
        return tuple(_sample(item) for item in data.key("result").items())

    def query_range(
        self, promql: str, start: datetime, end: datetime, step_s: float
    ) -> tuple[RangeSeries, ...]:
        """A range query from ``start`` to ``end`` every ``step_s`` seconds (a matrix)."""
        params = {
            "query": promql,
            "start": _epoch_text(start),
            "end": _epoch_text(end),
            "step": f"{step_s:g}",
        }
        data = self._ask("/api/v1/query_range", promql, params)
        _expect_type(data, "matrix")
        return tuple(_range_series(item) for item in data.key("result").items())

    def gpu_samples(
        self, at: datetime | None = None, util_window_s: int | None = None, *, detail: bool = True
    ) -> tuple[GpuSample, ...]:
        """Every GPU the DCGM exporter reports: utilisation, framebuffer and power at one
        instant (the queries are all asked at the same ``at``). With ``detail`` False only
        the utilisation is asked (framebuffer and power are None): what an observation
        reads, as busy and idle are utilisation over a threshold; at 10,000 GPUs each
        metric is 10,000 series for Prometheus to select and encode and for gpufleet to
        parse, so the two unread ones were two thirds of that work every cycle.

        With ``util_window_s`` the utilisation is its mean over that many seconds before
        ``at``, so that one idle scrape does not make a busy GPU idle. The mean is taken
        per GPU across its series (sum of samples over count of samples, by Hostname and
        gpu): a GPU's series changes when a job takes it (its pod labels change), so a
        plain ``avg_over_time`` gives a GPU two series, each the mean of only part of the
        window. The pod labels are the instant's."""
        when = at or self.clock()
        asked = [(GPU_UTIL, GPU_UTIL)]
        if detail:
            asked += [(FB_USED, FB_USED), (POWER_USAGE, POWER_USAGE)]
        if util_window_s is not None:
            asked.append((window_mean_query(util_window_s), GPU_UTIL))
        # asked at once: the server evaluates and sends one answer while another is read
        # (at 10,000 GPUs each answer is 10,000 series); each is asked at the same ``when``,
        # and an error is raised in the order above, as when they were asked in turn
        with ThreadPoolExecutor(max_workers=len(asked)) as pool:
            futures = [pool.submit(self._gpu_values, q, metric, when) for q, metric in asked]
            answers = [f.result() for f in futures]
        util = answers[0]
        fb, power = (answers[1], answers[2]) if detail else ({}, {})
        means = answers[-1] if util_window_s is not None else {}
        return tuple(
            _gpu_sample(
                labels, means.get(key, (labels, value))[1], fb.get(key), power.get(key), when
            )
            for key, (labels, value) in util.items()
        )

    def _gpu_values(
        self, promql: str, metric: str, when: datetime
    ) -> dict[tuple[str, int], tuple[dict[str, str], float]]:
        """Each GPU's value of one DCGM metric, keyed by (Hostname, gpu)."""
        params = {"query": promql, "time": _epoch_text(when)}
        data = self._ask("/api/v1/query", promql, params)
        _expect_type(data, "vector")
        result = data.key("result")
        if not isinstance(result.value, list):
            raise result.fail("is not a list", "a list of series")
        upper = _UPPER[metric]
        out: dict[tuple[str, int], tuple[dict[str, str], float]] = {}
        for i, raw in enumerate(result.value):
            read = _fast_gpu_value(raw, upper)
            if read is None:  # something is wrong: the careful reader names it
                read = _careful_gpu_value(At(result.source, f"{result.path}[{i}]", raw), metric)
            labels, key, value = read
            if key in out:
                raise At(result.source, f"{result.path}[{i}]", raw).fail(
                    f"a second series for GPU {key[1]} of {key[0]}",
                    "one series per GPU (filter or aggregate the query, e.g. by instance)",
                )
            out[key] = (labels, value)
        return out

    def _ask(self, path: str, promql: str, params: dict[str, str]) -> At:
        """GET ``path``, check Prometheus's envelope, return its ``data``."""
        source = self.source(path, promql)
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            answer = self.transport.get(url)
        except SourceUnavailableError as exc:  # name the query, not only the URL
            raise SourceUnavailableError(source, str(exc), exc.expected) from exc
        if answer.status != 200:
            raise _http_error(source, answer.status, answer.body)
        root = parse_json(source, answer.body)
        status = root.key("status")
        if status.value != "success":
            kind, text = root.opt_text("errorType"), root.opt_text("error")
            raise status.fail(f"is {status.value!r} ({kind}: {text})", "'success'")
        return root.key("data")


def window_mean_query(window_s: int) -> str:
    """The per-GPU mean utilisation over the last ``window_s`` seconds, across the GPU's
    series (see :meth:`PrometheusSource.gpu_samples`)."""
    by = "by (Hostname, gpu, UUID, modelName)"
    window = f"[{window_s}s]"
    return (
        f"sum {by} (sum_over_time({GPU_UTIL}{window}))"
        f" / sum {by} (count_over_time({GPU_UTIL}{window}))"
    )


def _http_error(source: str, status: int, body: str) -> SourceError:
    """Prometheus answers a bad query with 400 (bad_data) or 422 (execution), an overload
    or a timeout with 503: the first is the query's fault, the second the server's. A
    proxy in front of it answers 401 or 403 to missing or wrong credentials."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        detail = f"{doc.get('errorType', '?')}: {doc.get('error', '?')}"
    else:
        detail = repr(body[:200])
    if status in (400, 422):
        return SourceError(source, "", f"HTTP {status}: {detail}", "a query Prometheus accepts")
    if status in (401, 403):
        expected = "credentials the server accepts (an Authorization header on the transport)"
        return SourceUnavailableError(source, f"HTTP {status}: {detail}", expected)
    return SourceUnavailableError(source, f"HTTP {status}: {detail}", "HTTP 200")


def _expect_type(data: At, result_type: str) -> None:
    said = data.key("resultType")
    if said.value != result_type:
        raise said.fail(f"is {said.value!r}", repr(result_type))


def _epoch_text(when: datetime) -> str:
    return f"{when.timestamp():.3f}"


def _labels(metric: At, required: Iterable[str]) -> dict[str, str]:
    value = metric.value
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise metric.fail("is not an object of strings", "the series' labels")
    labels: dict[str, str] = value
    expected = "the label {} on every DCGM series (dcgm-exporter's default labels)"
    for name in required:
        if not labels.get(name):
            where = At(metric.source, f"{metric.path}.{name}", labels.get(name))
            said = "missing" if name not in labels else "is empty"
            raise where.fail(f"{said} on {_series_name(labels)}", expected.format(name))
    return labels


def _series_name(labels: dict[str, str]) -> str:
    """``DCGM_FI_DEV_GPU_UTIL{Hostname="gf-h100-1", gpu="3"}``, with what it has of those."""
    shown = ", ".join(f'{k}="{labels[k]}"' for k in ("Hostname", "gpu") if k in labels)
    return f"{labels.get('__name__', 'the series')}{{{shown}}}"


def _index(at: At, text: str) -> int:
    if not text.isdigit():
        raise at.fail(f"is {text!r}", "a device index (0, 1, ...)")
    return int(text)


def _point(at: At) -> tuple[datetime, float]:
    """``[1733508698.123, "73"]``: the time and the value (NaN and Inf kept)."""
    pair = at.items()
    if len(pair) != 2:
        raise at.fail(f"has {len(pair)} items", "[time, value]")
    when = datetime.fromtimestamp(pair[0].number(), UTC)
    text = pair[1].text()
    try:
        return when, float(text)
    except ValueError:
        raise pair[1].fail(f"is {text!r}", "a number as text") from None


def _sample(item: At) -> Sample:
    when, value = _point(item.key("value"))
    return Sample(_labels(item.key("metric"), ()), when, value)


def _range_series(item: At) -> RangeSeries:
    points = tuple(_point(p) for p in item.key("values").items())
    return RangeSeries(_labels(item.key("metric"), ()), points)


GpuValue = tuple[dict[str, str], tuple[str, int], float]


def _fast_gpu_value(raw: object, upper: float | None) -> GpuValue | None:
    """One series read without wrapping each field (a 10,000-GPU answer is 30,000 of
    them); None where anything is not as expected, for the careful reader to name."""
    try:
        labels = raw["metric"]  # type: ignore[index]
        pair = raw["value"]  # type: ignore[index]
        host, gpu = labels["Hostname"], labels["gpu"]
        if not (
            isinstance(host, str)
            and host
            and isinstance(gpu, str)
            and gpu.isdigit()
            and isinstance(labels.get("UUID"), str)
            and labels["UUID"]
            and isinstance(labels.get("modelName"), str)
            and labels["modelName"]
            and len(pair) == 2
            and isinstance(pair[1], str)
        ):
            return None
        value = float(pair[1])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(value) and value >= 0 and (upper is None or value <= upper)):
        return None
    return labels, (host, int(gpu)), value


def _careful_gpu_value(item: At, metric: str) -> GpuValue:
    """The same read field by field: raises a SourceError naming what is wrong."""
    labels = _labels(item.key("metric"), REQUIRED_LABELS)
    key = (labels["Hostname"], _index(item.key("metric").key("gpu"), labels["gpu"]))
    return labels, key, _gpu_value(item, metric, labels)


def _gpu_value(item: At, metric: str, labels: dict[str, str]) -> float:
    _, value = _point(item.key("value"))
    upper = _UPPER[metric]
    if math.isfinite(value) and value >= 0 and (upper is None or value <= upper):
        return value
    gpu = _series_name({"__name__": metric, **labels})
    bound = f"a finite number from 0 to {upper:g}" if upper else "a finite number >= 0"
    raise At(item.source, f"{item.path}.value[1]", value).fail(f"{gpu} is {value!r}", bound)


def _gpu_sample(
    labels: dict[str, str],
    util: float,
    fb: tuple[dict[str, str], float] | None,
    power: tuple[dict[str, str], float] | None,
    when: datetime,
) -> GpuSample:
    return GpuSample(
        hostname=labels["Hostname"],
        gpu=int(labels["gpu"]),
        uuid=labels["UUID"],
        model_name=labels["modelName"],
        utilisation_pct=util,
        fb_used_mib=fb[1] if fb else None,
        power_w=power[1] if power else None,
        namespace=labels.get("namespace", ""),
        pod=labels.get("pod", ""),
        container=labels.get("container", ""),
        at=when,
    )
