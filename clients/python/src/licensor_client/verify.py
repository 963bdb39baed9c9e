"""Offline checks: license and machine files (docs/license-file.md) and the
signatures of API answers (docs/api.md, "Response signatures"), against
keys the application pins.

Every check gives the same verdict as the server's `src/verify.rs` and
`licensor verify` on the shared vectors in `tests/vectors/`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, NamedTuple, Optional

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BEGIN = "-----BEGIN LICENSOR LICENSE-----"
END = "-----END LICENSOR LICENSE-----"
SIGNING_PREFIX = b"licensor-license-v1."
#: How far a clock may be behind a file's issue time before it counts as set back.
CLOCK_TOLERANCE_SECS = 300
_ENVELOPE_FIELDS = {"v", "alg", "kid", "enc", "payload", "sig"}
_REQUIRED_FIELDS = {"v", "alg", "kid", "payload", "sig"}


class VerifyError(Exception):
    """A refused file or answer. `code` is the verdict's stable name:
    bad_armor, bad_encoding, unsupported, unknown_key, revoked_key,
    bad_signature, key_required, wrong_key, clock_behind, expired,
    fingerprint_mismatch, check_in_overdue."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class _Key:
    public_key: Ed25519PublicKey
    revoked_at: Optional[int]


class Keys:
    """The public keys an application trusts, by key id: the document of
    `/.well-known/licensor-keys.json` (pinned in the application, never
    fetched and trusted at run time) or one public key. A key the document
    marks `revoked_at` is known and refused."""

    def __init__(self, keys: Mapping[str, _Key]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_json(cls, text: str) -> "Keys":
        try:
            document = json.loads(text)
            entries = document["keys"].items()
        except (ValueError, KeyError, AttributeError, TypeError) as e:
            raise ValueError("the key set is not the JSON of /.well-known/licensor-keys.json") from e
        keys = {}
        for kid, entry in entries:
            revoked = entry.get("revoked_at")
            keys[kid] = _Key(_public_key(entry.get("public_key", "")), int(revoked) if revoked is not None else None)
        return cls(keys)

    @classmethod
    def from_public_key(cls, text: str) -> "Keys":
        """One key from the standard base64 of its 32 bytes; its id is
        computed as the server does."""
        key = _public_key(text)
        return cls({key_id(key): _Key(key, None)})

    def kids(self) -> List[str]:
        return sorted(self._keys)

    def trusted(self, kid: str) -> Ed25519PublicKey:
        known = self._keys.get(kid)
        if known is None:
            raise VerifyError("unknown_key", f"signed with key {kid!r}, which is not among the trusted keys")
        if known.revoked_at is not None:
            raise VerifyError("revoked_key", f"signed with key {kid!r}, which the vendor revoked")
        return known.public_key


def _public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("a public key is not base64") from e
    if len(raw) != 32:
        raise ValueError("a public key is not 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The first 8 bytes of the SHA-256 of the 32-byte key, hex."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


# Python 3.11 checks base64 strictly in C (`strict_mode`), in half the time
# of a regular expression; the offline check's 1.2x budget needs it.
_STRICT = sys.version_info >= (3, 11)


def _b64url(text: str) -> bytes:
    """Strict base64url without padding: any other character is an error."""
    if len(text) % 4 == 1:
        raise ValueError("not base64url")
    padding = b"=" * (-len(text) % 4)
    if _STRICT:
        if "+" in text or "/" in text or "=" in text or not text.isascii():
            raise ValueError("not base64url")
        standard = text.encode("ascii").translate(_URL_TO_STANDARD) + padding
        return binascii.a2b_base64(standard, strict_mode=True)  # type: ignore[call-arg]
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return binascii.a2b_base64(text.encode("ascii").translate(_URL_TO_STANDARD) + padding)


def _b64(text: str) -> bytes:
    """Strict standard base64."""
    if len(text) % 4:
        raise ValueError("not base64")
    if _STRICT:
        return binascii.a2b_base64(text, strict_mode=True)  # type: ignore[call-arg]
    if not _B64.fullmatch(text):
        raise ValueError("not base64")
    return binascii.a2b_base64(text)


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def canonical_key(key: str) -> str:
    """A license key as the server reads it: a Licensor key without spaces
    or dashes, upper case, O read as 0 and I, L as 1; a key in a vendor's
    own format (an imported one) exactly as given, trimmed."""
    folded = "".join(c for c in key if c not in " \t-").upper()
    folded = folded.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(folded) == 25 and set(folded) <= _CROCKFORD:
        return folded
    return key.strip()


class Licensee(NamedTuple):
    organization_id: Optional[str]
    name: Optional[str]
    email: Optional[str]


class Payload(NamedTuple):
    """What a verified file says (docs/license-file.md, "Payload"). A named
    tuple: immutable, and built in a third of a frozen dataclass's time,
    which the offline check's 1.2x budget needs."""

    kind: str
    license_id: str
    product: str
    license_type: str
    licensee: Licensee
    entitlements: List[str]
    max_machines: int
    issued_at: int
    expires_at: Optional[int]
    grace_days: int
    file_issued_at: int
    fingerprint: Optional[str] = None
    valid_until: Optional[int] = None
    #: The payload's JSON as signed, fields this version does not name included.
    raw: Mapping[str, Any] = {}


def _payload(data: Dict[str, Any]) -> Payload:
    try:
        licensee = data["licensee"]
        return Payload(
            kind=str(data["type"]),
            license_id=str(data["license_id"]),
            product=str(data["product"]),
            license_type=str(data["license_type"]),
            licensee=Licensee(licensee.get("organization_id"), licensee.get("name"), licensee.get("email")),
            entitlements=[str(e) for e in data["entitlements"]],
            max_machines=int(data["max_machines"]),
            issued_at=int(data["issued_at"]),
            expires_at=None if data.get("expires_at") is None else int(data["expires_at"]),
            grace_days=int(data["grace_days"]),
            file_issued_at=int(data["file_issued_at"]),
            fingerprint=data.get("fingerprint"),
            valid_until=None if data.get("valid_until") is None else int(data["valid_until"]),
            raw=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError("bad_encoding", "the payload is not the expected JSON") from e


def verify_license_file(
    text: str,
    keys: Keys,
    fingerprint: Optional[str] = None,
    now: Optional[float] = None,
    license_key: Optional[str] = None,
) -> Payload:
    """Verifies a license or machine file (an encrypted one with the
    license key) at `now` (unix seconds; the clock by default). Returns its
    payload or raises VerifyError with the verdict's code."""
    now_s = int(time.time() if now is None else now)
    text = text.strip()
    if not (text.startswith(BEGIN) and text.endswith(END)):
        raise VerifyError("bad_armor", "not a Licensor license file: the BEGIN/END lines are missing or misplaced")
    try:
        envelope = json.loads(_b64("".join(text[len(BEGIN) : -len(END)].split())).decode("utf-8"))
        if not isinstance(envelope, dict) or not _REQUIRED_FIELDS <= envelope.keys() <= _ENVELOPE_FIELDS:
            raise ValueError("fields")
    except (ValueError, binascii.Error) as e:
        raise VerifyError("bad_encoding", "the envelope is not the expected JSON") from e
    encryption = envelope.get("enc")
    if envelope["v"] != 1 or envelope["alg"] != "ed25519" or encryption not in (None, "aes-256-gcm"):
        raise VerifyError("unsupported", "this verifier reads version 1, ed25519")
    public_key = keys.trusted(str(envelope["kid"]))
    try:
        signature = _b64url(envelope["sig"])
        public_key.verify(signature, SIGNING_PREFIX + envelope["payload"].encode())
    except (InvalidSignature, ValueError, binascii.Error, AttributeError) as e:
        raise VerifyError("bad_signature", "the file was altered or not issued by this vendor") from e
    try:
        data = _b64url(envelope["payload"])
    except (ValueError, binascii.Error) as e:
        raise VerifyError("bad_encoding", "the payload is not base64url") from e
    if encryption is not None:
        if license_key is None:
            raise VerifyError("key_required", "the file is encrypted: give the license key to read it")
        aes_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"licensor-license-v1", info=b"payload-encryption"
        ).derive(canonical_key(license_key).encode())
        try:
            data = AESGCM(aes_key).decrypt(data[:12], data[12:], None)
        except (InvalidTag, ValueError) as e:
            raise VerifyError("wrong_key", "the license key does not open this file") from e
    try:
        payload = _payload(json.loads(data.decode("utf-8")))
    except ValueError as e:
        raise VerifyError("bad_encoding", "the payload is not the expected JSON") from e
    if now_s + CLOCK_TOLERANCE_SECS < payload.file_issued_at:
        raise VerifyError("clock_behind", "the computer's clock is behind the file's issue time")
    if payload.expires_at is not None and now_s >= payload.expires_at + payload.grace_days * 86_400:
        raise VerifyError("expired", "the license expired")
    if payload.kind == "machine":
        if payload.fingerprint != fingerprint:
            raise VerifyError("fingerprint_mismatch", "this machine file is for another machine")
        if payload.valid_until is not None and now_s >= payload.valid_until:
            raise VerifyError("check_in_overdue", "the offline period is over: connect to check in")
    return payload


def response_signing_message(request_id: str, date: str, body: bytes) -> bytes:
    digest = _b64url_encode(hashlib.sha256(body).digest())
    return "\n".join(["licensor-response-v1", request_id, date, digest]).encode()


def verify_response(keys: Keys, signature_header: Optional[str], request_id: str, date: str, body: bytes) -> None:
    """Checks an answer's `Licensor-Signature` against the trusted keys, its
    `X-Request-Id`, its `Date` and its exact body bytes. Raises VerifyError
    (`missing_signature`, `bad_encoding`, `unsupported`, `unknown_key`,
    `revoked_key`, `bad_signature`)."""
    if not signature_header:
        raise VerifyError("missing_signature", "the answer is not signed")
    fields: Dict[str, str] = {}
    for part in signature_header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise VerifyError("bad_encoding", "the signature header is malformed")
        fields[name] = value.strip('"')
    if "kid" not in fields or "sig" not in fields:
        raise VerifyError("bad_encoding", "the signature header is malformed")
    if fields.get("alg") != "ed25519":
        raise VerifyError("unsupported", f"algorithm {fields.get('alg')!r}")
    public_key = keys.trusted(fields["kid"])
    try:
        signature = _b64url(fields["sig"])
        if len(signature) != 64:
            raise ValueError("length")
        public_key.verify(signature, response_signing_message(request_id, date, body))
    except (InvalidSignature, ValueError, binascii.Error) as e:
        raise VerifyError("bad_signature", "the answer was altered or not signed by this vendor") from e
