// Against a real `licensor serve` started here on a fresh data directory:
// provision, activate, validate, heartbeat, deactivate, offline grace with
// the server stopped, a clock set back, and answers that are not the
// vendor's. The binary is $LICENSOR_BIN, or the repository's debug build.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { AnswerRejected, Client, Keys, LicensorError, Unreachable } from "../dist/index.js";

const binary = process.env.LICENSOR_BIN ?? fileURLToPath(new URL("../../../target/debug/licensor", import.meta.url));
const skip = !process.env.LICENSOR_BIN && !existsSync(binary) ? `no licensor binary at ${binary}: cargo build` : false;

function cleanEnv(dataDir) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LICENSOR_")));
  return { ...env, LICENSOR_DATA_DIR: dataDir };
}

// The binary run through env(1) with this process's LICENSOR_* variables
// unset: Deno adds the parent's environment to the one given, and the
// server refuses a LICENSOR_ variable that is not a setting (LICENSOR_BIN).
const unset = Object.keys(process.env).filter((k) => k.startsWith("LICENSOR_")).flatMap((k) => ["-u", k]);
const command = (args) => ["/usr/bin/env", [...unset, binary, ...args]];

const licensor = (dataDir, ...args) => execFileSync(...command(args), { env: cleanEnv(dataDir), encoding: "utf8" });

async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "licensor-js-"));
  const data = join(dir, "data");
  const token = licensor(data, "admin", "token", "create", "--scope", "write", "--name", "js").trim().split("\n").pop();
  const child = spawn(...command(["serve"]), {
    env: { ...cleanEnv(data), LICENSOR_LISTEN: "127.0.0.1:0", LICENSOR_LOG_FORMAT: "json" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server did not start")), 60_000);
    createInterface({ input: child.stderr }).on("line", (line) => {
      const found = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (found) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${found[1]}`);
      }
    });
  });
  // The key set as the vendor ships it with the application (the server
  // made the first key as it started).
  const keys = licensor(data, "keys", "export-public");
  const call = async (method, path, body) => {
    const res = await fetch(url + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(res.ok, `${method} ${path}: ${res.status}`);
    return res.json();
  };
  // Stopped once nothing answers any more: polled with a timer, which
  // keeps every runtime's event loop alive (Deno's neither waits on a
  // child's "exit" event alone nor leaves signalCode unset until it exits).
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    for (;;) {
      try {
        await fetch(`${url}/healthz`, { headers: { Connection: "close" } });
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { url, keys, dir, call, stop };
}

async function provision(server, floating = false) {
  const product = await server.call("POST", "/api/v1/products", { code: "js-app", name: "JS App" });
  const kind = { product_id: product.id, name: floating ? "Floating" : "Pro", duration_days: 365, max_machines: 2, entitlements: [], offline_checkin_days: 7 };
  if (floating) Object.assign(kind, { floating: true, heartbeat_window_secs: 600 });
  const type = await server.call("POST", "/api/v1/license-types", kind);
  return (await server.call("POST", "/api/v1/licenses", { license_type_id: type.id, email: "dev@example.com" })).key;
}

test("activate, validate, then offline grace, a clock set back and an edited state file", { skip }, async () => {
  const server = await startServer();
  try {
    const key = await provision(server);
    let now = Date.now() / 1000;
    const statePath = join(server.dir, "state.json");
    const client = new Client(server.url, "js-app", server.keys, { statePath, clock: () => now });

    const first = await client.validate(key, "js-fp-1");
    assert.deepEqual([first.valid, first.code, first.offline], [false, "NOT_ACTIVATED", false]);
    assert.ok(first.nextAction?.message);
    const activated = await client.activate(key, "js-fp-1", "CI box", "Linux");
    assert.ok(activated.created && activated.machineFile?.startsWith("-----BEGIN LICENSOR LICENSE-----"));
    assert.equal((await client.activate(key, "js-fp-1")).created, false, "no second seat");
    const result = await client.validate(key, "js-fp-1");
    assert.deepEqual([result.valid, result.code, result.offline], [true, "VALID", false]);
    assert.equal(result.license.product.code, "js-app");

    // Another program on this machine, with a state of its own: valid
    // online, it fetches the machine file its offline grace needs.
    const other = new Client(server.url, "js-app", server.keys, { statePath: join(server.dir, "other.json"), clock: () => now });
    assert.equal((await other.validate(key, "js-fp-1")).valid, true);

    await server.stop();
    assert.equal((await other.validate(key, "js-fp-1")).offline, true);
    const offline = await client.validate(key, "js-fp-1");
    assert.deepEqual([offline.valid, offline.offline], [true, true]);
    assert.ok(offline.deadline - now > 6 * 86_400 && offline.deadline - now <= 7 * 86_400 + 60);
    assert.equal(offline.license.id, result.license.id);
    now -= 3600;
    const rolled = await client.validate(key, "js-fp-1");
    assert.deepEqual([rolled.valid, rolled.code, rolled.offline], [false, "CLOCK_BEHIND", true]);
    now += 3600 + 8 * 86_400;
    assert.equal((await client.validate(key, "js-fp-1")).code, "CHECK_IN_OVERDUE");
    await assert.rejects(client.validate(key, "js-fp-2"), Unreachable);
    await assert.rejects(new Client(server.url, "js-app", server.keys, { retries: 1 }).validate(key, "js-fp-1"), (e) => e instanceof Unreachable && e.code === "unreachable");

    const state = JSON.parse(readFileSync(statePath, "utf8"));
    const lines = state.machine_file.split("\n");
    lines[2] = (lines[2][0] === "B" ? "C" : "B") + lines[2].slice(1);
    state.machine_file = lines.join("\n");
    writeFileSync(statePath, JSON.stringify(state));
    now -= 8 * 86_400;
    const tampered = await client.validate(key, "js-fp-1");
    assert.ok(!tampered.valid && ["BAD_SIGNATURE", "BAD_ENCODING"].includes(tampered.code), tampered.code);
  } finally {
    await server.stop();
  }
});

test("floating seats heartbeat and deactivate", { skip }, async () => {
  const server = await startServer();
  try {
    const key = await provision(server, true);
    const client = new Client(server.url, "js-app", server.keys, { statePath: join(server.dir, "state.json") });
    await client.activate(key, "js-float-1");
    const beat = await client.heartbeat(key, "js-float-1");
    assert.ok(beat.nextHeartbeatBefore > Date.now() / 1000);
    const beats = client.startHeartbeats(key, "js-float-1");
    await new Promise((r) => setTimeout(r, 500));
    await beats.stop();
    assert.ok(beats.beats >= 1 && beats.lastError === null);
    const done = await client.deactivate(key, "js-float-1");
    assert.ok(done.machine.deactivated_at);
    await assert.rejects(client.heartbeat(key, "js-float-1"), (e) => e instanceof LicensorError && e.code === "NOT_ACTIVATED" && e.status === 422 && Boolean(e.requestId));
    assert.equal((await client.validate(key, "js-float-1")).code, "NOT_ACTIVATED");
  } finally {
    await server.stop();
  }
});

test("answers not signed by the pinned keys are never valid", { skip }, async () => {
  const server = await startServer();
  const forger = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ valid: true, code: "VALID", meta: { nonce: "old" } }));
    });
  });
  try {
    const key = await provision(server);
    const other = Keys.fromPublicKey("knMI9T1nZVA9K2TBA6tapHIGqzlQLP6PmEQv21QxALc=");
    await assert.rejects(new Client(server.url, "js-app", other).validate(key, "js-fp-1"), (e) => e instanceof AnswerRejected && e.code === "unknown_key");
    await new Promise((r) => forger.listen(0, "127.0.0.1", r));
    const client = new Client(`http://127.0.0.1:${forger.address().port}`, "js-app", server.keys);
    await assert.rejects(client.validate(key, "js-fp-1"), (e) => e instanceof AnswerRejected && e.code === "missing_signature");
  } finally {
    forger.close();
    await server.stop();
  }
});
