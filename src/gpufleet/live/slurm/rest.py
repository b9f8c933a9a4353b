"""Slurm read through slurmrestd on its UNIX socket (``rest_auth/local``: the kernel tells
slurmrestd who connects, so no token is needed or possible; Debian's 22.05 has no
``auth/jwt`` for slurmctld).

Versions: slurmrestd serves one set of paths per loaded openapi plugin
(``/slurm/v0.0.36|37|38/jobs`` in 22.05, ``v0.0.39``-``v0.0.41`` in later releases).
:meth:`SlurmRestSource.discover` reads ``/openapi`` and picks the newest version gpufleet
reads that the daemon lists; the answer's ``meta.plugin.type`` must name the same version.
"""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime

from gpufleet.live.errors import SourceUnavailableError
from gpufleet.live.jsonread import At, parse_json
from gpufleet.live.slurm.jobs_json import parse_jobs, parse_nodes
from gpufleet.live.slurm.model import SlurmJob, SlurmNode

# Newest first. v0.0.38 is what 22.05 serves and what the recorded samples hold; the later
# ones' job and node shapes differ in ways jsonread.At reads (numbers as objects, states
# as lists).
KNOWN_VERSIONS = ("v0.0.41", "v0.0.40", "v0.0.39", "v0.0.38")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout_s: float) -> None:
        super().__init__("localhost", timeout=timeout_s)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def unix_get(socket_path: str, path: str, timeout_s: float = 30.0) -> tuple[int, str]:
    """GET ``path`` over the UNIX socket: (HTTP status, body)."""
    source = f"slurmrestd unix:{socket_path} GET {path}"
    conn = _UnixConnection(socket_path, timeout_s)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        raise SourceUnavailableError(source, f"cannot connect: {exc}", "slurmrestd on it") from exc
    finally:
        conn.close()


class SlurmRestSource:
    """Jobs and nodes through slurmrestd; ``get`` is the seam (``unix_get`` for real)."""

    def __init__(
        self,
        socket_path: str,
        version: str = "v0.0.38",
        get: Callable[[str, str], tuple[int, str]] = unix_get,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.socket_path = socket_path
        self.version = version
        self.get = get
        self.clock = clock

    def source(self, path: str) -> str:
        return f"slurmrestd unix:{self.socket_path} GET {path}"

    def discover(self) -> str:
        """Use the newest version the daemon serves that gpufleet reads; returns it."""
        root = self._get_json("/openapi")
        listed = root.key("paths").value
        if not isinstance(listed, dict):
            raise root.key("paths").fail("is not an object", "an object keyed by path")
        paths = set(listed)
        for version in KNOWN_VERSIONS:
            if f"/slurm/{version}/jobs" in paths and f"/slurm/{version}/nodes" in paths:
                self.version = version
                return version
        served = sorted({m for p in paths for m in re.findall(r"/slurm/(v[\d.]+)/jobs", p)})
        raise root.key("paths").fail(
            f"serves job paths for {served or 'no version'}",
            f"one of {', '.join(KNOWN_VERSIONS)}",
        )

    def _get_json(self, path: str) -> At:
        status, body = self.get(self.socket_path, path)
        root = parse_json(self.source(path), body)
        if status != 200:
            detail = ""
            if root.has("errors") and root.key("errors").items():
                first = root.key("errors").items()[0]
                detail = first.opt_text("description") or first.opt_text("error")
            raise SourceUnavailableError(
                self.source(path), f"HTTP {status}: {detail or repr(body[:200])}", "HTTP 200"
            )
        return root

    def _versioned(self, what: str) -> At:
        path = f"/slurm/{self.version}/{what}"
        root = self._get_json(path)
        # 22.05 names the version in plugin.type; later ones in plugin.data_parser
        plugin = root.key("meta").key("plugin")
        said = (plugin.opt_text("type"), plugin.opt_text("data_parser"))
        if f"openapi/{self.version}" not in said and f"data_parser/{self.version}" not in said:
            raise plugin.fail(f"names {said!r}", f"openapi/{self.version} or data_parser/...")
        return root

    def jobs(self) -> tuple[SlurmJob, ...]:
        as_of = self.clock()
        return parse_jobs(self._versioned("jobs"), as_of)

    def nodes(self) -> tuple[SlurmNode, ...]:
        return parse_nodes(self._versioned("nodes"))
