"""Prometheus's query API read into typed GPU samples, on the answers recorded from the dev
cluster's real Prometheus (story_samples.py), and each bad answer a SourceError naming
the URL and query, the field and what was expected."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gpufleet.errors import exit_code, http_status
from gpufleet.live.errors import SourceError, SourceUnavailableError
from gpufleet.live.prometheus import (
    GpuSample,
    HttpAnswer,
    PrometheusSource,
    RecordingTransport,
    ReplayTransport,
    UrllibTransport,
)
from gpufleet.live.prometheus.transport import request_key
from gpufleet.live.reading import read_prometheus
from tests.live.story_samples import PROMETHEUS, PROMETHEUS_URL, READ_AT, prometheus

UTIL_URL = (
    f"{PROMETHEUS_URL}/api/v1/query?query=DCGM_FI_DEV_GPU_UTIL&time={READ_AT.timestamp():.3f}"
)
UTIL_KEY = request_key(UTIL_URL)


def by_gpu(samples: tuple[GpuSample, ...]) -> dict[tuple[str, int], GpuSample]:
    return {s.key: s for s in samples}


def test_every_gpu_of_the_cluster_is_one_sample_with_its_job_labels() -> None:
    gpus = by_gpu(prometheus().gpu_samples())
    assert len(gpus) == 8 + 8 + 4  # two H100 nodes and the A100 node
    tesla = gpus[("gf-h100-1", 4)]
    assert (tesla.namespace, tesla.pod, tesla.container) == ("tesla", "slurm-job-70", "tesla1")
    assert (tesla.utilisation_pct, tesla.model_name) == (73.0, "NVIDIA H100 80GB HBM3")
    assert tesla.uuid.startswith("GPU-") and tesla.at == READ_AT
    # the exporter: framebuffer in proportion to utilisation, power between idle and TDP
    assert tesla.fb_used_mib == 59538.0  # round(81559 MiB x 0.73)
    assert tesla.power_w == pytest.approx(70 + (700 - 70) * 0.73)  # 529.9 W
    idle = gpus[("gf-h100-2", 7)]
    assert (idle.utilisation_pct, idle.fb_used_mib, idle.power_w, idle.pod) == (0, 0, 70, "")


def test_the_down_nodes_gpus_report_zero_and_idle_power() -> None:
    gpus = by_gpu(prometheus().gpu_samples())
    down = [gpus[("gf-a100-1", i)] for i in range(4)]
    assert {(g.utilisation_pct, g.power_w, g.model_name) for g in down} == {
        (0.0, 60.0, "NVIDIA A100-SXM4-80GB")
    }


def test_a_window_mean_counts_the_scrapes_before_the_job_started() -> None:
    gpus = by_gpu(prometheus().gpu_samples(util_window_s=30))
    # the jobs had run 8 of the window's 30 one-second scrapes: 8 at their value, 22 at 0
    assert gpus[("gf-h100-1", 4)].utilisation_pct == pytest.approx(73 * 8 / 30)  # 19.47
    assert gpus[("gf-h100-1", 0)].utilisation_pct == pytest.approx(90 * 8 / 30)  # 24.0
    # job 73 ran 2 scrapes at 90 before the test set it to 4 for the next 6
    assert gpus[("gf-h100-1", 2)].utilisation_pct == pytest.approx((90 * 2 + 4 * 6) / 30)
    # the pod labels are the instant's, not lost in the window's aggregation
    assert gpus[("gf-h100-1", 2)].pod == "slurm-job-73"


def test_a_range_query_splits_a_gpus_history_into_one_series_per_job() -> None:
    start = READ_AT - timedelta(seconds=20)
    series = prometheus().query_range(
        'DCGM_FI_DEV_GPU_UTIL{Hostname="gf-h100-1"}', start, READ_AT, 5
    )
    steps: dict[str, list[tuple[datetime, float]]] = {}
    for s in series:
        times = [t for t, _ in s.points]
        assert times == sorted(times) and start <= times[0] and times[-1] <= READ_AT
        steps.setdefault(s.labels["gpu"], []).extend(s.points)
    # 20 s every 5 s = 5 steps, each in exactly one of the GPU's series (idle, or a job's)
    assert {gpu: len(points) for gpu, points in steps.items()} == {str(g): 5 for g in range(8)}
    assert {gpu: len({t for t, _ in points}) for gpu, points in steps.items()} == {
        str(g): 5 for g in range(8)
    }
    # at the instant itself, each GPU's value is its job's: 73 (job 70), 90 (72), 4 (73)
    now = {gpu: v for gpu, points in steps.items() for t, v in points if t == READ_AT}
    assert now == {"0": 90, "1": 90, "2": 4, "3": 4, "4": 73, "5": 73, "6": 73, "7": 73}


# --- bad answers ---------------------------------------------------------------------


def replay_with(key: str, answer: HttpAnswer) -> PrometheusSource:
    transport = ReplayTransport.from_directory(PROMETHEUS)
    transport.answers[key] = answer
    return prometheus(transport)


def broken_util(edit: Callable[[dict[str, Any]], None]) -> SourceError:
    doc = json.loads(ReplayTransport.from_directory(PROMETHEUS).answers[UTIL_KEY].body)
    edit(doc)
    with pytest.raises(SourceError) as err:
        replay_with(UTIL_KEY, HttpAnswer(200, json.dumps(doc))).gpu_samples()
    return err.value


def first_series(doc: dict[str, Any]) -> dict[str, Any]:
    series: dict[str, Any] = doc["data"]["result"][0]
    return series


def test_an_unreachable_server_is_unavailable_and_names_the_url_and_query() -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(SourceUnavailableError) as err:
            PrometheusSource(url, UrllibTransport(timeout_s=2)).query("up")
    assert err.value.source == f"{url}/api/v1/query?query=up"
    assert "cannot connect" in str(err.value) and "refused" in str(err.value).lower()
    assert (exit_code(err.value), http_status(err.value)) == (2, 422)


def test_a_query_prometheus_refuses_is_an_error_with_its_own_words() -> None:
    with pytest.raises(SourceError) as err:
        prometheus().query("DCGM_FI_DEV_GPU_UTIL{")  # recorded: HTTP 400 from the real one
    assert not isinstance(err.value, SourceUnavailableError)
    assert err.value.source == f"{PROMETHEUS_URL}/api/v1/query?query=DCGM_FI_DEV_GPU_UTIL{{"
    assert "HTTP 400: bad_data: " in str(err.value)
    assert err.value.expected == "a query Prometheus accepts"


def test_an_overloaded_server_is_unavailable_not_a_bad_query() -> None:
    body = '{"status":"error","errorType":"timeout","error":"query timed out"}'
    with pytest.raises(SourceUnavailableError) as err:
        replay_with(UTIL_KEY, HttpAnswer(503, body)).gpu_samples()
    assert "HTTP 503: timeout: query timed out" in str(err.value)


def test_a_status_error_inside_a_200_answer_is_named() -> None:
    body = '{"status":"error","errorType":"internal","error":"tsdb closed"}'
    with pytest.raises(SourceError) as err:
        replay_with(UTIL_KEY, HttpAnswer(200, body)).gpu_samples()
    assert err.value.field == "status"
    assert "is 'error' (internal: tsdb closed) (expected 'success')" in str(err.value)


def test_an_answer_that_is_not_json_names_the_query() -> None:
    with pytest.raises(SourceError) as err:
        replay_with(UTIL_KEY, HttpAnswer(200, "<html>proxy login</html>")).gpu_samples()
    assert str(err.value).startswith(
        f"{PROMETHEUS_URL}/api/v1/query?query=DCGM_FI_DEV_GPU_UTIL: not JSON ("
    )


def test_a_series_without_its_hostname_label_names_the_label_and_the_series() -> None:
    err = broken_util(lambda d: first_series(d)["metric"].pop("Hostname"))
    assert err.field == "data.result[0].metric.Hostname"
    assert 'missing on DCGM_FI_DEV_GPU_UTIL{gpu="3"}' in str(err)
    assert "the label Hostname on every DCGM series" in err.expected


def test_a_nan_utilisation_is_refused_not_counted_as_idle() -> None:
    err = broken_util(lambda d: first_series(d)["value"].__setitem__(1, "NaN"))
    assert err.field == "data.result[0].value[1]"
    assert str(err).endswith(
        ': DCGM_FI_DEV_GPU_UTIL{Hostname="gf-a100-1", gpu="3"} is nan '
        "(expected a finite number from 0 to 100)"
    )


@pytest.mark.parametrize("value", ["-1", "100.5", "+Inf"])
def test_a_utilisation_outside_0_to_100_is_refused(value: str) -> None:
    err = broken_util(lambda d: first_series(d)["value"].__setitem__(1, value))
    assert err.expected == "a finite number from 0 to 100"


def test_a_value_that_is_not_a_number_names_its_field() -> None:
    err = broken_util(lambda d: first_series(d)["value"].__setitem__(1, "busy"))
    assert (err.field, err.expected) == ("data.result[0].value[1]", "a number as text")


def test_a_matrix_where_an_instant_vector_was_asked_is_refused() -> None:
    err = broken_util(lambda d: d["data"].update(resultType="matrix"))
    assert str(err).endswith("data.resultType: is 'matrix' (expected 'vector')")


def test_two_series_for_one_gpu_ask_for_a_filtered_query() -> None:
    err = broken_util(lambda d: d["data"]["result"].append(first_series(d)))
    assert err.field == "data.result[20]"
    assert "a second series for GPU 3 of gf-a100-1" in str(err)


def test_a_gpu_index_that_is_not_a_number_is_refused() -> None:
    err = broken_util(lambda d: first_series(d)["metric"].update(gpu="GPU-3"))
    assert (err.field, err.expected) == ("data.result[0].metric.gpu", "a device index (0, 1, ...)")


# --- the seam ------------------------------------------------------------------------


def test_a_request_never_recorded_lists_the_recorded_ones() -> None:
    with pytest.raises(SourceUnavailableError) as err:
        prometheus().query("up")
    assert "not recorded" in str(err.value)
    assert "/api/v1/query?query=DCGM_FI_DEV_FB_USED&time=" in err.value.expected


def test_recorded_answers_replay_byte_for_byte_with_their_status(tmp_path: Any) -> None:
    source = ReplayTransport.from_directory(PROMETHEUS)
    recorder = RecordingTransport(source, tmp_path)
    PrometheusSource(PROMETHEUS_URL, recorder, clock=lambda: READ_AT).gpu_samples()
    with pytest.raises(SourceError):
        PrometheusSource(PROMETHEUS_URL, recorder).query("DCGM_FI_DEV_GPU_UTIL{", READ_AT)
    again = ReplayTransport.from_directory(tmp_path)
    assert set(again.answers) <= set(source.answers) and len(again.answers) == 4
    assert all(again.answers[k] == source.answers[k] for k in again.answers)
    assert {k: a.status for k, a in again.answers.items() if a.status != 200} == {
        k: 400 for k in again.answers if "%7B&" in k
    }


class _TokenProxy(BaseHTTPRequestHandler):
    """A real HTTP server standing where an authenticating proxy stands before Prometheus:
    it answers the recorded utilisation with the right bearer token, 401 without."""

    body = b""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Bearer s3cret":
            self.send_response(401)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"Unauthorized")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _TokenProxy.body = ReplayTransport.from_directory(PROMETHEUS).answers[UTIL_KEY].body.encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_wrong_credentials_are_unavailable_and_say_what_is_expected(proxy: str) -> None:
    transport = UrllibTransport(timeout_s=5, headers={"Authorization": "Bearer wrong"})
    with pytest.raises(SourceUnavailableError) as err:
        PrometheusSource(proxy, transport).query("DCGM_FI_DEV_GPU_UTIL", READ_AT)
    assert "HTTP 401: 'Unauthorized'" in str(err.value)
    assert err.value.expected.startswith("credentials the server accepts")


def test_the_right_credentials_go_with_every_request(proxy: str) -> None:
    transport = UrllibTransport(timeout_s=5, headers={"Authorization": "Bearer s3cret"})
    found = PrometheusSource(proxy, transport).query("DCGM_FI_DEV_GPU_UTIL", READ_AT)
    assert len(found) == 20


def test_an_observation_asks_only_the_utilisation_the_rest_is_asked_on_request() -> None:
    """Busy and idle are utilisation over a threshold: the observation's read asks one
    query, not the framebuffer's and power's 10,000 series each at 10k GPUs."""
    transport = ReplayTransport.from_directory(PROMETHEUS)
    gpus = read_prometheus(prometheus(transport), READ_AT)
    assert isinstance(gpus, tuple) and len(gpus) == 20
    assert transport.asked == [UTIL_KEY]
    assert {(g.fb_used_mib, g.power_w) for g in gpus} == {(None, None)}
    full = by_gpu(prometheus(transport).gpu_samples())
    assert by_gpu(gpus)[("gf-h100-1", 4)] == replace(
        full[("gf-h100-1", 4)], fb_used_mib=None, power_w=None
    )
    assert len(transport.asked) == 1 + 3  # the full read asks the three metrics
