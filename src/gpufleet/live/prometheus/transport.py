"""The seam every HTTP source goes through: GET a URL, get its status and body.

``UrllibTransport`` asks for real (stdlib ``urllib``, with a timeout); ``ReplayTransport``
answers from answers recorded from a real server, so unit tests read real bytes without
it; ``RecordingTransport`` wraps a real transport and saves what it answered, in the
folder layout ``ReplayTransport`` reads::

    samples/manifest.json   {"/api/v1/query?query=...": "query-....json", ...}
    samples/query-....json  the body, byte for byte (a non-200 status is kept in
                            statuses.json)

Recordings are keyed by the URL's path and query, not its host, so that they replay
whatever address the server had when they were made.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gpufleet.live.errors import SourceError, SourceUnavailableError

MANIFEST = "manifest.json"
STATUSES = "statuses.json"


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str


class HttpTransport(Protocol):
    """GETs one URL and returns its answer, whatever its HTTP status; raises
    :class:`SourceUnavailableError` when no answer comes (refused, timed out)."""

    def get(self, url: str) -> HttpAnswer: ...


def request_key(url: str) -> str:
    """The path and query of ``url``: the key of a recorded answer."""
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class UrllibTransport:
    """Asks the server for real. ``headers`` go with every request: an ``Authorization``
    (``Bearer TOKEN`` or ``Basic ...``) for a Prometheus behind an authenticating proxy."""

    def __init__(self, timeout_s: float = 10.0, headers: Mapping[str, str] | None = None) -> None:
        self.timeout_s = timeout_s
        self.headers = {"Accept": "application/json", **(headers or {})}

    def get(self, url: str) -> HttpAnswer:
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return HttpAnswer(response.status, response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:  # an answer, only not a 200: the caller reads it
            return HttpAnswer(exc.code, exc.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceUnavailableError(
                url, f"cannot connect: {reason}", "a Prometheus server answering there"
            ) from exc


class ReplayTransport:
    """Answers each request with its recorded answer; a request never recorded is
    unavailable, and the error lists the recorded ones."""

    def __init__(self, answers: Mapping[str, HttpAnswer]) -> None:
        self.answers = dict(answers)
        self.asked: list[str] = []

    @classmethod
    def from_directory(cls, folder: Path) -> ReplayTransport:
        manifest = _json_object(folder / MANIFEST)
        statuses = _json_object(folder / STATUSES) if (folder / STATUSES).exists() else {}
        answers = {
            key: HttpAnswer(int(str(statuses.get(key, 200))), (folder / str(name)).read_text())
            for key, name in manifest.items()
        }
        return cls(answers)

    def get(self, url: str) -> HttpAnswer:
        key = request_key(url)
        self.asked.append(key)
        if key not in self.answers:
            known = "; ".join(sorted(self.answers)) or "none"
            raise SourceUnavailableError(url, "not recorded", f"one of: {known}")
        return self.answers[key]


class RecordingTransport:
    """Asks through ``inner`` and saves each answer under ``folder``."""

    def __init__(self, inner: HttpTransport, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        # the GPU metrics are asked at once (PrometheusSource.gpu_samples): each save reads
        # and rewrites the manifest, so two at a time would lose one's entry
        self._saving = threading.Lock()

    def get(self, url: str) -> HttpAnswer:
        answer = self.inner.get(url)
        self.save(request_key(url), answer)
        return answer

    def save(self, key: str, answer: HttpAnswer) -> None:
        with self._saving:
            self._save(key, answer)

    def _save(self, key: str, answer: HttpAnswer) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = _load(self.folder / MANIFEST)
        name = str(manifest.get(key) or _file_name(key))
        (self.folder / name).write_text(answer.body)
        manifest[key] = name
        _dump(self.folder / MANIFEST, manifest)
        statuses = _load(self.folder / STATUSES)
        statuses.pop(key, None)
        if answer.status != 200:
            statuses[key] = answer.status
        if statuses or (self.folder / STATUSES).exists():
            _dump(self.folder / STATUSES, statuses)


def _json_object(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SourceError(str(path), "", f"unreadable: {exc}", "a JSON object") from exc
    if not isinstance(value, dict):
        raise SourceError(str(path), "", "not an object", '{"request": "file"}')
    return value


def _load(path: Path) -> dict[str, object]:
    return _json_object(path) if path.exists() else {}


def _dump(path: Path, value: dict[str, object]) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _file_name(key: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(key).query)
    what = urllib.parse.urlsplit(key).path.rsplit("/", 1)[-1]
    stem = re.sub(r"[^A-Za-z0-9]+", "-", f"{what} {query.get('query', [''])[0]}").strip("-")
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]  # two times, one query: two files
    return f"{stem[:60]}-{digest}.json"
