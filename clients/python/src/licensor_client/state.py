"""What the client keeps on disk for offline grace: the last signed VALID
answer and the last machine file of one license on one machine, and the
latest time it has seen (to notice a clock set back). Everything in it is
verified again when read: editing the file earns nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from .verify import canonical_key

FORMAT = 1


def key_digest(key: str) -> str:
    """The license key's SHA-256 (hex) of its canonical form: the state
    names the license without holding its key."""
    return hashlib.sha256(canonical_key(key).encode()).hexdigest()


@dataclass
class SignedAnswer:
    """An answer exactly as it came: its body bytes and the headers its
    signature covers."""

    body: bytes
    request_id: str
    date: str
    signature: str

    def to_json(self) -> Dict[str, Any]:
        return {
            "body": base64.b64encode(self.body).decode(),
            "request_id": self.request_id,
            "date": self.date,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "SignedAnswer":
        return cls(
            body=base64.b64decode(data["body"]),
            request_id=str(data["request_id"]),
            date=str(data["date"]),
            signature=str(data["signature"]),
        )


@dataclass
class OfflineState:
    key_digest: str
    fingerprint: str
    latest_seen: int = 0
    answer: Optional[SignedAnswer] = None
    machine_file: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return {
            "format": FORMAT,
            "key_digest": self.key_digest,
            "fingerprint": self.fingerprint,
            "latest_seen": self.latest_seen,
            "answer": self.answer.to_json() if self.answer else None,
            "machine_file": self.machine_file,
        }


class StateFile:
    """The state at a path the application chooses, written whole and
    atomically (a temporary file renamed over it)."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.path = Path(path).expanduser()

    def load(self, key: str, fingerprint: str) -> OfflineState:
        """The state of this license on this machine; an empty one when the
        file is missing, unreadable or about another license or machine
        (the latest time seen is kept whatever the license)."""
        digest = key_digest(key)
        try:
            data = json.loads(self.path.read_text())
            latest = int(data.get("latest_seen", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            return OfflineState(digest, fingerprint)
        if data.get("format") != FORMAT or data.get("key_digest") != digest or data.get("fingerprint") != fingerprint:
            return OfflineState(digest, fingerprint, latest_seen=latest)
        try:
            answer = SignedAnswer.from_json(data["answer"]) if data.get("answer") else None
        except (KeyError, TypeError, ValueError):
            answer = None
        machine_file = data.get("machine_file")
        return OfflineState(
            digest,
            fingerprint,
            latest_seen=latest,
            answer=answer,
            machine_file=machine_file if isinstance(machine_file, str) else None,
        )

    def save(self, state: OfflineState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".licensor-", dir=str(self.path.parent))
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(state.to_json(), out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
