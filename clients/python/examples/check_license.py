"""How an application checks its license with licensor_client: validate
online (activating this machine the first time), fall back to the kept
offline grace when the server is out of reach.

    python examples/check_license.py --server https://licenses.example.com \
        --product my-app --keys licensor-keys.json --key XXXXX-XXXXX-XXXXX-XXXXX-XXXXX

Exit status: 0 licensed, 1 not licensed, 2 no verdict (no server and no grace).
"""

import argparse
import sys
from pathlib import Path

from licensor_client import Client, LicensorError, machine_fingerprint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--product", required=True)
    parser.add_argument("--keys", required=True, help="the key set shipped with the application")
    parser.add_argument("--key", required=True, help="the customer's license key")
    parser.add_argument("--state", default=str(Path.home() / ".licensor-example" / "state.json"))
    args = parser.parse_args()

    client = Client(args.server, args.product, Path(args.keys).read_text(), state_path=args.state)
    fingerprint = machine_fingerprint(args.product)
    try:
        result = client.validate(args.key, fingerprint)
        if result.code == "NOT_ACTIVATED":
            client.activate(args.key, fingerprint, name=f"{args.product} on this machine")
            result = client.validate(args.key, fingerprint)
    except LicensorError as e:
        print(f"no verdict: {e.detail} (request {e.request_id})", file=sys.stderr)
        return 2
    if result.valid:
        where = f"offline until {result.deadline}" if result.offline else "online"
        print(f"licensed ({where})")
        return 0
    print(f"not licensed: {result.detail} {(result.next_action or {}).get('url') or ''}".rstrip())
    return 1


if __name__ == "__main__":
    sys.exit(main())
