// Offline verification against a bare Ed25519 verify of the same bytes
// (target: within 1.2x). Thirty-one short rounds, each bracketed: bare,
// file, bare again; the figure is the median round's ratio, so a busy
// moment moves one round, not the result.
//
//     cd clients/js && npm run build && node bench/verify.bench.mjs
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { Keys, verifyLicenseFile } from "../dist/index.js";

const vectors = new URL("../../../tests/vectors/", import.meta.url);
const text = readFileSync(new URL("license.lic", vectors), "utf8");
const keysJson = readFileSync(new URL("keys.json", vectors), "utf8");
const keys = Keys.fromJson(keysJson);
const envelope = JSON.parse(Buffer.from(text.trim().split("\n").slice(1, -1).join(""), "base64").toString());
const raw = Buffer.from(JSON.parse(keysJson).keys[envelope.kid].public_key, "base64");
const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
const signature = Buffer.from(envelope.sig, "base64url");
const message = Buffer.from(`licensor-license-v1.${envelope.payload}`);

function perCall(f, seconds) {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < 200; i++) f();
    n += 200;
  }
  return ((performance.now() - start) / n) * 1000;
}

const bare = () => verify(null, message, publicKey, signature);
const whole = () => verifyLicenseFile(text, keys, { now: 1_800_000_000 });
perCall(bare, 0.3);
const rounds = [];
for (let i = 0; i < 31; i++) {
  const b1 = perCall(bare, 0.05);
  const f = perCall(whole, 0.05);
  const b2 = perCall(bare, 0.05);
  rounds.push({ ratio: f / ((b1 + b2) / 2), b1, f, b2 });
}
rounds.sort((a, b) => a.ratio - b.ratio);
const { ratio, b1, f, b2 } = rounds[15];
console.log(`typescript: bare verify ${b1.toFixed(1)} / ${b2.toFixed(1)} us, license file verify ${f.toFixed(1)} us, median ratio ${ratio.toFixed(2)}`);
