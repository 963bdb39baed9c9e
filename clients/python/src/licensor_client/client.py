"""The online client: validate, activate, deactivate and heartbeat against
a Licensor server, every answer's signature, nonce and date checked
against pinned keys, with retries, and offline grace from the state file
when the server cannot be reached."""

from __future__ import annotations

import email.utils
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from .errors import AnswerRejected, LicensorError, Unreachable
from .state import OfflineState, SignedAnswer, StateFile
from .verify import CLOCK_TOLERANCE_SECS, Keys, VerifyError, verify_license_file, verify_response

#: Codes that say the license is not good on this machine any more: the
#: offline grace kept for it is dropped.
_ENDS_GRACE = {
    "NOT_FOUND",
    "PRODUCT_MISMATCH",
    "REVOKED",
    "SUSPENDED",
    "EXPIRED",
    "NOT_ACTIVATED",
    "HEARTBEAT_DEAD",
}


@dataclass(frozen=True)
class Validation:
    """A validation's verdict. Online: the server's signed answer. Offline
    (`offline` true): the kept machine file's verdict now, good until
    `deadline` (unix seconds), when the application must check in."""

    valid: bool
    code: str
    detail: str
    in_grace: bool = False
    next_action: Optional[Dict[str, Any]] = None
    license: Optional[Dict[str, Any]] = None
    machine: Optional[Dict[str, Any]] = None
    request_id: Optional[str] = None
    offline: bool = False
    deadline: Optional[int] = None


@dataclass(frozen=True)
class MachineAnswer:
    """An answer of the machine endpoints: the machine, the license, the
    signed machine file of a new activation and, for floating licenses,
    when the next heartbeat is due."""

    machine: Dict[str, Any]
    license: Dict[str, Any]
    machine_file: Optional[str] = None
    next_heartbeat_before: Optional[int] = None
    created: bool = False
    request_id: Optional[str] = None


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: Dict[str, str] = field(default_factory=dict)

    def json(self) -> Dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError as e:
            raise LicensorError("bad_answer", "the server's answer is not JSON", self.status) from e
        if not isinstance(data, dict):
            raise LicensorError("bad_answer", "the server's answer is not a JSON object", self.status)
        return data


class Client:
    """A Licensor client for one product.

    `keys` are the vendor's public keys the application pins: a `Keys`, the
    JSON of `/.well-known/licensor-keys.json`, or one public key in base64.
    `state_path` (optional) is where the offline grace is kept; without it
    an unreachable server is an error."""

    def __init__(
        self,
        base_url: str,
        product: str,
        keys: Union[Keys, str],
        state_path: Optional[str] = None,
        timeout: float = 10.0,
        retries: int = 3,
        max_skew_secs: int = CLOCK_TOLERANCE_SECS,
        clock: Callable[[], float] = time.time,
        user_agent: str = "licensor-client-python/0.1",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.product = product
        if isinstance(keys, Keys):
            self.keys = keys
        elif keys.lstrip().startswith("{"):
            self.keys = Keys.from_json(keys)
        else:
            self.keys = Keys.from_public_key(keys)
        self.state = StateFile(state_path) if state_path else None
        self.timeout = timeout
        self.retries = max(0, retries)
        self.max_skew_secs = max_skew_secs
        self.clock = clock
        self.user_agent = user_agent

    # -- the endpoints ---------------------------------------------------

    def validate(self, key: str, fingerprint: str, entitlements: Optional[Sequence[str]] = None) -> Validation:
        """Asks the server, with a fresh nonce, whether `key` is good on this
        machine (and has `entitlements`). When the server cannot be reached
        and a state file is kept, answers from it until its deadline."""
        nonce = secrets.token_urlsafe(18)
        body: Dict[str, Any] = {"key": key, "fingerprint": fingerprint, "product": self.product, "nonce": nonce}
        if entitlements:
            body["entitlements"] = list(entitlements)
        try:
            answer = self._post("/api/v1/licenses/validate", body)
        except Unreachable as unreachable:
            return self._offline(key, fingerprint, entitlements or (), unreachable)
        data = self._checked(answer, nonce)
        result = Validation(
            valid=bool(data.get("valid")),
            code=str(data.get("code")),
            detail=str(data.get("detail", "")),
            in_grace=bool(data.get("in_grace")),
            next_action=data.get("next_action"),
            license=data.get("license"),
            machine=data.get("machine"),
            request_id=answer.headers.get("x-request-id"),
        )
        self._remember(key, fingerprint, answer, data, result)
        self._ensure_machine_file(key, fingerprint, result)
        return result

    def _ensure_machine_file(self, key: str, fingerprint: str, result: Validation) -> None:
        """A machine valid online but with no machine file kept (activated
        by another program, or the state file was lost) fetches one: the
        activation of an active machine takes no second seat and answers
        its file, which the offline grace needs."""
        if not result.valid or self.state is None or self.state.load(key, fingerprint).machine_file:
            return
        try:
            self.activate(key, fingerprint)
        except LicensorError:
            pass  # the grace waits for the next validation; the verdict stands

    def activate(
        self, key: str, fingerprint: str, name: Optional[str] = None, platform: Optional[str] = None
    ) -> MachineAnswer:
        """Activates this machine (again: a fingerprint already active takes
        no second seat) and keeps its signed machine file for offline use."""
        nonce = secrets.token_urlsafe(18)
        body: Dict[str, Any] = {"key": key, "fingerprint": fingerprint, "product": self.product, "nonce": nonce}
        if name is not None:
            body["name"] = name
        if platform is not None:
            body["platform"] = platform
        answer = self._post("/api/v1/machines/activate", body)
        result = self._machine_answer(answer, nonce)
        if result.machine_file and self.state is not None:
            state = self.state.load(key, fingerprint)
            state.machine_file = result.machine_file
            state.latest_seen = max(state.latest_seen, self._answer_time(answer))
            self.state.save(state)
        return result

    def deactivate(self, key: str, fingerprint: str) -> MachineAnswer:
        """Frees this machine's seat; its offline grace goes with it."""
        nonce = secrets.token_urlsafe(18)
        answer = self._post("/api/v1/machines/deactivate", {"key": key, "fingerprint": fingerprint, "nonce": nonce})
        result = self._machine_answer(answer, nonce)
        if self.state is not None:
            state = self.state.load(key, fingerprint)
            self.state.save(OfflineState(state.key_digest, fingerprint, latest_seen=state.latest_seen))
        return result

    def heartbeat(self, key: str, fingerprint: str) -> MachineAnswer:
        """Keeps a floating seat: call before `next_heartbeat_before`."""
        nonce = secrets.token_urlsafe(18)
        return self._machine_answer(
            self._post("/api/v1/machines/heartbeat", {"key": key, "fingerprint": fingerprint, "nonce": nonce}), nonce
        )

    def start_heartbeats(self, key: str, fingerprint: str) -> "Heartbeats":
        """Heartbeats in a background thread, each halfway to the deadline
        the previous answer gave, until `stop()`."""
        return Heartbeats(self, key, fingerprint)

    # -- offline ---------------------------------------------------------

    def _offline(
        self, key: str, fingerprint: str, entitlements: Sequence[str], unreachable: Unreachable
    ) -> Validation:
        if self.state is None:
            raise unreachable
        state = self.state.load(key, fingerprint)
        if state.machine_file is None:
            raise Unreachable(
                unreachable.code,
                f"{unreachable.detail}; no offline grace is kept for this machine (activate it online first)",
            )
        now = int(self.clock())
        if now + CLOCK_TOLERANCE_SECS < state.latest_seen:
            return Validation(
                valid=False,
                code="CLOCK_BEHIND",
                detail="This computer's clock is behind a time it has already seen: correct the clock, or connect.",
                offline=True,
            )
        license_facts = None
        if state.answer is not None:
            try:
                verify_response(
                    self.keys, state.answer.signature, state.answer.request_id, state.answer.date, state.answer.body
                )
                license_facts = json.loads(state.answer.body).get("license")
            except (VerifyError, ValueError):
                license_facts = None
        try:
            payload = verify_license_file(state.machine_file, self.keys, fingerprint=fingerprint, now=now)
        except VerifyError as refused:
            return Validation(valid=False, code=refused.code.upper(), detail=refused.detail, offline=True)
        missing = [e for e in entitlements if e not in payload.entitlements]
        state.latest_seen = max(state.latest_seen, now)
        self.state.save(state)
        if missing:
            return Validation(
                valid=False,
                code="ENTITLEMENT_MISSING",
                detail=f"The license lacks {', '.join(missing)}.",
                license=license_facts,
                offline=True,
                deadline=payload.valid_until,
            )
        in_grace = payload.expires_at is not None and now >= payload.expires_at
        return Validation(
            valid=True,
            code="VALID",
            detail="The license is valid (offline, from the machine file).",
            in_grace=in_grace,
            license=license_facts,
            offline=True,
            deadline=payload.valid_until,
        )

    def _remember(
        self, key: str, fingerprint: str, answer: _Answer, data: Dict[str, Any], result: Validation
    ) -> None:
        if self.state is None:
            return
        state = self.state.load(key, fingerprint)
        state.latest_seen = max(state.latest_seen, self._answer_time(answer), int(self.clock()))
        if result.valid:
            state.answer = SignedAnswer(
                body=answer.body,
                request_id=answer.headers.get("x-request-id", ""),
                date=answer.headers.get("date", ""),
                signature=answer.headers.get("licensor-signature", ""),
            )
        elif result.code in _ENDS_GRACE:
            state.answer = None
            state.machine_file = None
        self.state.save(state)

    # -- HTTP and checks ---------------------------------------------------

    def _answer_time(self, answer: _Answer) -> int:
        parsed = email.utils.parsedate_to_datetime(answer.headers.get("date", "")) if answer.headers.get("date") else None
        return int(parsed.timestamp()) if parsed else 0

    def _checked(self, answer: _Answer, nonce: str) -> Dict[str, Any]:
        """The body of a signed answer, once its signature, date and nonce
        hold."""
        request_id = answer.headers.get("x-request-id", "")
        date = answer.headers.get("date", "")
        try:
            verify_response(self.keys, answer.headers.get("licensor-signature"), request_id, date, answer.body)
        except VerifyError as e:
            raise AnswerRejected(e.code, e.detail, answer.status, request_id=request_id) from e
        try:
            when = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError) as e:
            raise AnswerRejected("bad_date", "the answer's Date is unreadable", answer.status, request_id=request_id) from e
        if abs(when - self.clock()) > self.max_skew_secs:
            raise AnswerRejected(
                "date_skew",
                f"the answer's Date is {int(when - self.clock())} s from this machine's clock "
                f"(more than {self.max_skew_secs} s): a replayed answer, or a wrong clock",
                answer.status,
                request_id=request_id,
            )
        data = answer.json()
        if (data.get("meta") or {}).get("nonce") != nonce:
            raise AnswerRejected("nonce_mismatch", "the answer is not for this request", answer.status, request_id=request_id)
        return data

    def _machine_answer(self, answer: _Answer, nonce: str) -> MachineAnswer:
        data = self._checked(answer, nonce)
        return MachineAnswer(
            machine=data.get("machine") or data.get("deactivated") or {},
            license=data.get("license") or {},
            machine_file=data.get("machine_file"),
            next_heartbeat_before=data.get("next_heartbeat_before"),
            created=answer.status == 201,
            request_id=answer.headers.get("x-request-id"),
        )

    def _post(self, path: str, body: Dict[str, Any]) -> _Answer:
        """POSTs JSON with retries on no answer, 5xx and 429 (honouring
        Retry-After); a 2xx comes back, a 4xx is raised as its problem."""
        data = json.dumps(body).encode()
        last: Optional[Unreachable] = None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                self.base_url + path,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "Accept": "application/json", "User-Agent": self.user_agent},
            )
            wait = 0.25 * (2**attempt)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as res:
                    return _Answer(res.status, res.read(), {k.lower(): v for k, v in res.headers.items()})
            except urllib.error.HTTPError as e:
                answer = _Answer(e.code, e.read(), {k.lower(): v for k, v in e.headers.items()})
                if e.code == 429 or e.code >= 500:
                    last = _problem(answer, Unreachable)
                    wait = max(wait, _retry_after(answer))
                else:
                    raise _problem(answer, LicensorError) from None
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                reason = getattr(e, "reason", e)
                last = Unreachable("unreachable", f"no answer from {self.base_url}: {reason}")
            if attempt < self.retries:
                time.sleep(min(wait, 30.0))
        assert last is not None
        raise last


def _retry_after(answer: _Answer) -> float:
    try:
        return float(answer.headers.get("retry-after", "0"))
    except ValueError:
        return 0.0


def _problem(answer: _Answer, kind: type) -> LicensorError:
    """The API's problem document as an error of `kind`."""
    try:
        data = json.loads(answer.body)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    error: LicensorError = kind(
        str(data.get("code", f"http_{answer.status}")),
        str(data.get("detail", f"the server answered {answer.status}")),
        answer.status,
        data.get("next_action"),
        data.get("request_id") or answer.headers.get("x-request-id"),
    )
    return error


class Heartbeats:
    """Heartbeats of one floating seat in a daemon thread; `last_error` is
    the latest failure (the seat is lost after `HEARTBEAT_DEAD`)."""

    def __init__(self, client: Client, key: str, fingerprint: str) -> None:
        self._client = client
        self._key = key
        self._fingerprint = fingerprint
        self._stop = threading.Event()
        self.last_error: Optional[LicensorError] = None
        self.beats = 0
        self._thread = threading.Thread(target=self._run, name="licensor-heartbeats", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = 30.0
            try:
                answer = self._client.heartbeat(self._key, self._fingerprint)
                self.beats += 1
                self.last_error = None
                if answer.next_heartbeat_before:
                    wait = max(1.0, (answer.next_heartbeat_before - self._client.clock()) / 2)
            except LicensorError as e:
                self.last_error = e
                if e.code == "HEARTBEAT_DEAD":
                    return
            self._stop.wait(wait)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


__all__: List[str] = ["Client", "Validation", "MachineAnswer", "Heartbeats"]
