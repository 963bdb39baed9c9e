// How an application checks its license with @licensor/client: validate
// online (activating this machine the first time), fall back to the kept
// offline grace when the server is out of reach.
//
//   node examples/check-license.mjs https://licenses.example.com my-app licensor-keys.json XXXXX-XXXXX-XXXXX-XXXXX-XXXXX
//
// Exit status: 0 licensed, 1 not licensed, 2 no verdict.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Client, LicensorError, machineFingerprint } from "../dist/index.js";

const [server, product, keysPath, key] = process.argv.slice(2);
if (!key) {
  console.error("usage: check-license.mjs SERVER PRODUCT KEYS_JSON LICENSE_KEY");
  process.exit(2);
}
const client = new Client(server, product, readFileSync(keysPath, "utf8"), {
  statePath: join(homedir(), ".licensor-example", "state.json"),
});
const fingerprint = machineFingerprint(product);
try {
  let result = await client.validate(key, fingerprint);
  if (result.code === "NOT_ACTIVATED") {
    await client.activate(key, fingerprint, `${product} on this machine`);
    result = await client.validate(key, fingerprint);
  }
  if (result.valid) {
    console.log(`licensed (${result.offline ? `offline until ${result.deadline}` : "online"})`);
    process.exit(0);
  }
  console.log(`not licensed: ${result.detail} ${result.nextAction?.url ?? ""}`.trim());
  process.exit(1);
} catch (e) {
  if (!(e instanceof LicensorError)) throw e;
  console.error(`no verdict: ${e.detail} (request ${e.requestId})`);
  process.exit(2);
}
