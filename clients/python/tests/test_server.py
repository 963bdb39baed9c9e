"""Against a real `licensor serve` started here on a fresh data directory:
provision, activate, validate, heartbeat, deactivate, offline grace with
the server stopped, a clock set back, and answers that are not the
vendor's. The binary is $LICENSOR_BIN, or the repository's debug build."""

import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from licensor_client import AnswerRejected, Client, Keys, LicensorError, Unreachable

ROOT = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("LICENSOR_BIN", ROOT / "target" / "debug" / "licensor"))

# Skipped only when no binary was named and none is built; a named binary
# that is missing fails (CI names it).
pytestmark = pytest.mark.skipif(
    "LICENSOR_BIN" not in os.environ and not BINARY.exists(),
    reason=f"no licensor binary at {BINARY}: cargo build, or set LICENSOR_BIN",
)


def licensor(data_dir, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_")}
    env["LICENSOR_DATA_DIR"] = str(data_dir)
    return subprocess.run([str(BINARY), *args], env=env, capture_output=True, text=True, check=True).stdout


class Server:
    """`licensor serve` on a free port; stopped with SIGTERM."""

    def __init__(self, data_dir):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_")}
        env.update(LICENSOR_DATA_DIR=str(data_dir), LICENSOR_LISTEN="127.0.0.1:0", LICENSOR_LOG_FORMAT="json")
        self.process = subprocess.Popen(
            [str(BINARY), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.time() + 60
        self.url = None
        while self.url is None and time.time() < deadline:
            line = self.process.stderr.readline()
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.url = f"http://127.0.0.1:{found.group(1)}"
        assert self.url, "the server did not start"
        threading.Thread(target=self.process.stderr.read, daemon=True).start()

    def call(self, method, path, token, body=None):
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as res:
            return json.loads(res.read())

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture()
def server(tmp_path):
    data = tmp_path / "data"
    token = licensor(data, "admin", "token", "create", "--scope", "write", "--name", "python").strip().splitlines()[-1]
    served = Server(data)
    # The key set as the vendor ships it with the application.
    keys = licensor(data, "keys", "export-public")
    served.token = token
    served.keys = keys
    yield served
    served.stop()


def provision(server, floating=False):
    product = server.call("POST", "/api/v1/products", server.token, {"code": "py-app", "name": "Py App"})
    kind = {
        "product_id": product["id"],
        "name": "Floating" if floating else "Pro",
        "duration_days": 365,
        "max_machines": 2,
        "entitlements": [],
        "offline_checkin_days": 7,
    }
    if floating:
        kind.update(floating=True, heartbeat_window_secs=600)
    license_type = server.call("POST", "/api/v1/license-types", server.token, kind)
    issued = server.call(
        "POST", "/api/v1/licenses", server.token, {"license_type_id": license_type["id"], "email": "dev@example.com"}
    )
    return issued["key"]


def test_activate_validate_deactivate_then_offline_grace_and_a_clock_set_back(server, tmp_path):
    key = provision(server)
    now = [time.time()]
    client = Client(server.url, "py-app", server.keys, state_path=tmp_path / "state.json", clock=lambda: now[0])

    first = client.validate(key, "py-fp-1")
    assert (first.valid, first.code, first.offline) == (False, "NOT_ACTIVATED", False)
    assert first.next_action and first.next_action["message"]
    activated = client.activate(key, "py-fp-1", name="CI box", platform="Linux")
    assert activated.created and activated.machine_file.startswith("-----BEGIN LICENSOR LICENSE-----")
    again = client.activate(key, "py-fp-1")
    assert not again.created, "an active fingerprint takes no second seat"
    result = client.validate(key, "py-fp-1")
    assert (result.valid, result.code, result.offline) == (True, "VALID", False)
    assert result.license["product"]["code"] == "py-app"
    assert result.request_id

    # Another program on this machine, with a state of its own: valid
    # online, it fetches the machine file its offline grace needs.
    other = Client(server.url, "py-app", server.keys, state_path=tmp_path / "other.json", clock=lambda: now[0])
    assert other.validate(key, "py-fp-1").valid

    # The server stops: the kept machine file answers until its deadline.
    server.stop()
    assert other.validate(key, "py-fp-1").offline
    offline = client.validate(key, "py-fp-1")
    assert (offline.valid, offline.offline) == (True, True)
    assert offline.deadline and 6 * 86_400 < offline.deadline - now[0] <= 7 * 86_400 + 60
    assert offline.license["id"] == result.license["id"], "the facts of the last signed answer"
    # A clock set back an hour before what was already seen: refused.
    now[0] -= 3600
    rolled = client.validate(key, "py-fp-1")
    assert (rolled.valid, rolled.code, rolled.offline) == (False, "CLOCK_BEHIND", True)
    # Past the check-in deadline: refused until the application checks in.
    now[0] += 3600 + 8 * 86_400
    overdue = client.validate(key, "py-fp-1")
    assert (overdue.valid, overdue.code) == (False, "CHECK_IN_OVERDUE")
    # Another machine has no grace; without a state file, no answer at all.
    with pytest.raises(Unreachable):
        client.validate(key, "py-fp-2")
    with pytest.raises(Unreachable) as e:
        Client(server.url, "py-app", server.keys, retries=1).validate(key, "py-fp-1")
    assert e.value.code == "unreachable"

    # Editing the state file earns nothing: the machine file is verified.
    state = json.loads((tmp_path / "state.json").read_text())
    lines = state["machine_file"].splitlines()
    lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]
    state["machine_file"] = "\n".join(lines)
    (tmp_path / "state.json").write_text(json.dumps(state))
    now[0] -= 8 * 86_400
    tampered = client.validate(key, "py-fp-1")
    assert not tampered.valid and tampered.code in {"BAD_SIGNATURE", "BAD_ENCODING"}


def test_floating_seats_heartbeat_and_deactivate(server, tmp_path):
    key = provision(server, floating=True)
    client = Client(server.url, "py-app", server.keys, state_path=tmp_path / "state.json")
    client.activate(key, "py-float-1")
    beat = client.heartbeat(key, "py-float-1")
    assert beat.next_heartbeat_before and beat.next_heartbeat_before > time.time()
    beats = client.start_heartbeats(key, "py-float-1")
    time.sleep(0.5)
    beats.stop()
    assert beats.beats >= 1 and beats.last_error is None
    done = client.deactivate(key, "py-float-1")
    assert done.machine["deactivated_at"]
    with pytest.raises(LicensorError) as refused:
        client.heartbeat(key, "py-float-1")
    assert refused.value.code == "NOT_ACTIVATED" and refused.value.status == 422
    assert refused.value.request_id
    assert client.validate(key, "py-float-1").code == "NOT_ACTIVATED"


def test_answers_not_signed_by_the_pinned_keys_are_never_valid(server, tmp_path):
    key = provision(server)
    other = Keys.from_public_key("knMI9T1nZVA9K2TBA6tapHIGqzlQLP6PmEQv21QxALc=")
    with pytest.raises(AnswerRejected) as e:
        Client(server.url, "py-app", other).validate(key, "py-fp-1")
    assert e.value.code == "unknown_key"

    # A server that answers "valid" without a signature, or with the nonce
    # of another request.
    class Forger(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            self.rfile.read(length)
            body = json.dumps({"valid": True, "code": "VALID", "meta": {"nonce": "old"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    forger = http.server.HTTPServer(("127.0.0.1", 0), Forger)
    threading.Thread(target=forger.serve_forever, daemon=True).start()
    try:
        client = Client(f"http://127.0.0.1:{forger.server_port}", "py-app", server.keys)
        with pytest.raises(AnswerRejected) as e:
            client.validate(key, "py-fp-1")
        assert e.value.code == "missing_signature"
    finally:
        forger.shutdown()
