"""Licensor's client library: check a license online with signed answers,
offline with signed license and machine files, with offline grace and a
clock that cannot be set back (docs/clients.md)."""

from .client import Client, Heartbeats, MachineAnswer, Validation
from .errors import AnswerRejected, LicensorError, Unreachable
from .fingerprint import fingerprint_of, machine_fingerprint
from .verify import Keys, Payload, VerifyError, verify_license_file, verify_response

__version__ = "0.1.0"

__all__ = [
    "AnswerRejected",
    "Client",
    "Heartbeats",
    "Keys",
    "LicensorError",
    "MachineAnswer",
    "Payload",
    "Unreachable",
    "Validation",
    "VerifyError",
    "fingerprint_of",
    "machine_fingerprint",
    "verify_license_file",
    "verify_response",
]
