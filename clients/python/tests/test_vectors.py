"""The shared conformance vectors (tests/vectors/ at the repository's
root, made by the server's own code): every verdict equal."""

import json
from pathlib import Path

import pytest

from licensor_client import Keys, VerifyError, fingerprint_of, verify_license_file
from licensor_client.verify import canonical_key

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors"
CASES = json.loads((VECTORS / "cases.json").read_text())["cases"]


def verdict(case):
    keys = Keys.from_json((VECTORS / "keys.json").read_text())
    text = (VECTORS / case["file"]).read_text()
    try:
        verify_license_file(text, keys, case["fingerprint"], case["now"], case["license_key"])
        return "valid"
    except VerifyError as refused:
        return refused.code


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file']}@{c['now']}:{c['verdict']}" for c in CASES])
def test_every_vector_gets_its_verdict(case):
    assert verdict(case) == case["verdict"]


def test_the_vectors_cover_every_kind_of_refusal():
    verdicts = {c["verdict"] for c in CASES}
    assert {"valid", "expired", "clock_behind", "fingerprint_mismatch", "key_required", "wrong_key",
            "bad_signature", "unknown_key", "revoked_key"} <= verdicts


def test_a_single_public_key_gets_its_id_as_the_server_computes_it():
    document = json.loads((VECTORS / "keys.json").read_text())
    for kid, entry in document["keys"].items():
        assert Keys.from_public_key(entry["public_key"]).kids() == [kid]


def test_damaged_text_is_refused_with_a_verdict_never_an_exception():
    keys = Keys.from_json((VECTORS / "keys.json").read_text())
    good = (VECTORS / "license.lic").read_text()
    for text in ["", "hello", good.replace("-----END", "-----ENDX"), good[:-40] + "\n-----END LICENSOR LICENSE-----",
                 "-----BEGIN LICENSOR LICENSE-----\n!!!!\n-----END LICENSOR LICENSE-----"]:
        with pytest.raises(VerifyError) as refused:
            verify_license_file(text, keys, None, 1_800_000_000)
        assert refused.value.code in {"bad_armor", "bad_encoding", "bad_signature"}


def test_keys_are_read_as_the_server_reads_them():
    assert canonical_key("44gj2-89144-gj289-144gj-28914") == "44GJ289144GJ289144GJ28914"
    assert canonical_key(" o0il1-00000-00000-00000-00000 ") == "00111000000000000000000000"[:25]
    assert canonical_key("VENDOR-key-42") == "VENDOR-key-42"


def test_every_client_makes_the_same_fingerprint():
    assert fingerprint_of("my-app", " ABC123\n") == "a7168b3d885621b796e68aae37ed3119a1599d03a1549c819f0e2b0177ec8f9f"


ANSWERS = json.loads((VECTORS / "answers.json").read_text())["answers"]


@pytest.mark.parametrize("case", ANSWERS, ids=[c["name"] for c in ANSWERS])
def test_every_signed_answer_vector_gets_its_verdict(case):
    from licensor_client import verify_response

    keys = Keys.from_json((VECTORS / "keys.json").read_text())
    try:
        verify_response(keys, case["signature"], case["request_id"], case["date"], case["body"].encode())
        got = "valid"
    except VerifyError as refused:
        got = refused.code
    assert got == case["verdict"]
