"""The server's anchors: which file and key ``GET /audit/verify`` checks the log against,
and a thread that signs a checkpoint every ``--checkpoint-every`` seconds (only when the
head has moved, and only after the records since the last checkpoint verify).

``gpufleet serve --anchor-file FILE --signing-key KEYFILE --checkpoint-every SECONDS``;
``--public-key PUB`` alone with ``--anchor-file`` verifies without signing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gpufleet.errors import InputError
from gpufleet.governance.store import anchor, audit_check
from gpufleet.governance.store.db import Store

log = logging.getLogger("gpufleet.service.checkpoints")
MIN_EVERY_S = 1.0


@dataclass(frozen=True)
class AnchorSettings:
    file: Path
    public_key: Ed25519PublicKey
    signing_key: Ed25519PrivateKey | None = None
    every_s: float | None = None

    def anchors(self) -> audit_check.Anchors:
        return audit_check.Anchors(self.file, self.public_key)

    @classmethod
    def from_args(
        cls,
        anchor_file: str | None,
        signing_key: str | None,
        public_key: str | None,
        every_s: float | None,
    ) -> AnchorSettings | None:
        """From ``serve``'s flags; every inconsistent combination is an InputError."""
        if not (anchor_file or signing_key or public_key or every_s is not None):
            return None
        if not anchor_file:
            raise InputError(
                "--signing-key, --public-key and --checkpoint-every need --anchor-file"
            )
        if every_s is not None and (not signing_key or not every_s >= MIN_EVERY_S):
            raise InputError(
                f"--checkpoint-every {every_s}: expected seconds >= {MIN_EVERY_S:g}, "
                "with --signing-key to sign them"
            )
        priv = anchor.load_signing_key(Path(signing_key)) if signing_key else None
        pub = anchor.load_public_key(Path(public_key)) if public_key else None
        if priv and pub and anchor.fingerprint(priv.public_key()) != anchor.fingerprint(pub):
            raise InputError(f"--public-key {public_key} is not --signing-key's public key")
        key = pub or (priv.public_key() if priv else None)
        if key is None:
            raise InputError("--anchor-file needs --public-key or --signing-key")
        return cls(Path(anchor_file), key, priv, every_s)


class Checkpointer:
    """Signs a checkpoint every ``every_s`` seconds while the server runs."""

    def __init__(self, store: Store, settings: AnchorSettings) -> None:
        assert settings.signing_key is not None and settings.every_s is not None
        self.store, self.settings = store, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gpufleet-checkpoints")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def once(self) -> audit_check.Checkpointed:
        s = self.settings
        assert s.signing_key is not None
        done = audit_check.checkpoint(self.store, s.signing_key, s.file, if_moved=True)
        if done.refused is not None:
            log.error("audit checkpoint refused: %s", done.render(s.file))
        elif done.checkpoint is not None:
            log.info("%s", done.render(s.file))
        return done

    def _loop(self) -> None:
        assert self.settings.every_s is not None
        while not self._stop.wait(self.settings.every_s):
            try:
                self.once()
            except Exception:  # keep signing later; the server must not die of it
                log.exception("audit checkpoint failed")
