"""The OpenAPI document is valid OpenAPI 3.1, and a client generated from
it by openapi-python-client (as a vendor writing in another language
would generate theirs) provisions a license, activates a machine and
validates against a real `licensor serve`.

    pip install openapi-spec-validator openapi-python-client httpx attrs pytest
    LICENSOR_BIN=target/debug/licensor python -m pytest tests/openapi
"""

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("LICENSOR_BIN", ROOT / "target" / "debug" / "licensor"))
pytestmark = pytest.mark.skipif(
    "LICENSOR_BIN" not in os.environ and not BINARY.exists(),
    reason=f"no licensor binary at {BINARY}: cargo build, or set LICENSOR_BIN",
)


def clean_env(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_")}
    env["LICENSOR_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture()
def server(tmp_path):
    data = tmp_path / "data"
    token = subprocess.run(
        [str(BINARY), "admin", "token", "create", "--scope", "write", "--name", "generated"],
        env=clean_env(data), capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    env = clean_env(data)
    env.update(LICENSOR_LISTEN="127.0.0.1:0", LICENSOR_LOG_FORMAT="json")
    process = subprocess.Popen([str(BINARY), "serve"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    url = None
    deadline = time.time() + 60
    while url is None and time.time() < deadline:
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", process.stderr.readline())
        if found:
            url = f"http://127.0.0.1:{found.group(1)}"
    assert url, "the server did not start"
    threading.Thread(target=process.stderr.read, daemon=True).start()
    yield url, token
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_the_document_is_valid_and_a_generated_client_works_end_to_end(server, tmp_path):
    from openapi_spec_validator import OpenAPIV31SpecValidator

    url, token = server
    with urllib.request.urlopen(f"{url}/api/openapi.json", timeout=10) as res:
        document = json.loads(res.read())
    errors = [e.message for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == [], errors

    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    out = tmp_path / "licensor_api"
    subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec),
         "--output-path", str(out), "--meta", "none"],
        check=True, capture_output=True, text=True,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        api = importlib.import_module("licensor_api")
        client_mod = importlib.import_module("licensor_api.client")
        models = importlib.import_module("licensor_api.models")
        create_product = importlib.import_module("licensor_api.api.provisioning.create_product")
        create_type = importlib.import_module("licensor_api.api.provisioning.create_license_type")
        create_license = importlib.import_module("licensor_api.api.provisioning.create")
        activate = importlib.import_module("licensor_api.api.machines.activate")
        validate = importlib.import_module("licensor_api.api.validation.validate")
    finally:
        sys.path.remove(str(tmp_path))
    assert api

    vendor = client_mod.AuthenticatedClient(base_url=url, token=token)
    product = create_product.sync(client=vendor, body=models.ProductBody.from_dict({"code": "gen-app", "name": "Gen App"}))
    assert isinstance(product, models.ProductJson), product
    kind = create_type.sync(client=vendor, body=models.LicenseTypeBody.from_dict(
        {"product_id": product.id, "name": "Pro", "duration_days": 365, "max_machines": 2, "entitlements": []}))
    assert isinstance(kind, models.LicenseTypeJson), kind
    created = create_license.sync(client=vendor, body=models.CreateBody.from_dict(
        {"license_type_id": kind.id, "email": "gen@example.com"}))
    assert isinstance(created, models.Created), created

    app = client_mod.Client(base_url=url)
    activated = activate.sync(client=app, body=models.ActivateBody.from_dict(
        {"key": created.key, "fingerprint": "gen-fp-1", "name": "Generated"}))
    assert isinstance(activated, models.MachineAnswer), activated
    assert activated.machine_file.startswith("-----BEGIN LICENSOR LICENSE-----")
    answer = validate.sync(client=app, body=models.ValidateBody.from_dict(
        {"key": created.key, "fingerprint": "gen-fp-1", "product": "gen-app", "nonce": "n-1"}))
    assert isinstance(answer, models.ValidationAnswer), answer
    assert (answer.valid, answer.code) == (True, "VALID")
    # A refusal parses as the problem document with its stable code.
    refused = activate.sync(client=app, body=models.ActivateBody.from_dict(
        {"key": "not-a-key", "fingerprint": "gen-fp-2"}))
    assert isinstance(refused, models.ProblemDoc), refused
    assert refused.code == "MALFORMED_KEY"
