"""Offline verification against a bare Ed25519 verify of the same bytes
(target: within 1.2x). Thirty-one short rounds, each bracketed like
benches/core.rs: bare, file, bare again; the figure is the median round's
ratio of the file over the mean of its two bare figures, so a busy moment
moves one round, not the result.

    python clients/python/bench/verify_bench.py
"""

import base64
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402

from licensor_client import Keys, verify_license_file  # noqa: E402

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors"
text = (VECTORS / "license.lic").read_text()
keys_json = (VECTORS / "keys.json").read_text()
keys = Keys.from_json(keys_json)
envelope = json.loads(base64.b64decode("".join(text.strip().splitlines()[1:-1])))
kid = envelope["kid"]
public = Ed25519PublicKey.from_public_bytes(base64.b64decode(json.loads(keys_json)["keys"][kid]["public_key"]))
signature = base64.urlsafe_b64decode(envelope["sig"] + "==")
message = b"licensor-license-v1." + envelope["payload"].encode()


def per_call(f, seconds):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            f()
        n += 200
    return (time.perf_counter() - start) / n * 1e6


bare = lambda: public.verify(signature, message)  # noqa: E731
whole = lambda: verify_license_file(text, keys, None, 1_800_000_000)  # noqa: E731
per_call(bare, 0.3)
rounds = []
for _ in range(31):
    b1 = per_call(bare, 0.05)
    f = per_call(whole, 0.05)
    b2 = per_call(bare, 0.05)
    rounds.append((f / ((b1 + b2) / 2), b1, f, b2))
ratio, b1, f, b2 = sorted(rounds)[len(rounds) // 2]
print(f"python: bare verify {b1:.1f} / {b2:.1f} us, license file verify {f:.1f} us, median ratio {ratio:.2f}")
