"""What the client raises: the API's refusals with their stable `code`,
answers that fail their signature checks, and an unreachable server."""

from __future__ import annotations

from typing import Any, Dict, Optional


class LicensorError(Exception):
    """A refusal or a failure, with the API's stable `code`, the `detail` a
    person can read, the `next_action` to offer them (`message`, `url`),
    the HTTP `status` (None when there was no answer) and the `request_id`
    to quote to support."""

    def __init__(
        self,
        code: str,
        detail: str,
        status: Optional[int] = None,
        next_action: Optional[Dict[str, Any]] = None,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status
        self.next_action = next_action
        self.request_id = request_id


class AnswerRejected(LicensorError):
    """An answer that is not provably this vendor's fresh answer to this
    request: unsigned, a bad signature, an unknown or revoked key, another
    nonce, or a Date far from this machine's clock. Never "valid"."""


class Unreachable(LicensorError):
    """No answer from the server (connection refused, timeout, 5xx or 429
    after the retries), and no offline grace to answer from."""
