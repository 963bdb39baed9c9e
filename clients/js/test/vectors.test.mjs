// The shared conformance vectors (tests/vectors/ at the repository's root,
// made by the server's own code): every verdict equal.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { canonicalKey, fingerprintOf, Keys, VerifyError, verifyLicenseFile } from "../dist/index.js";

const vectors = new URL("../../../tests/vectors/", import.meta.url);
const read = (name) => readFileSync(new URL(name, vectors), "utf8");
const cases = JSON.parse(read("cases.json")).cases;
const keys = Keys.fromJson(read("keys.json"));

function verdict(c) {
  try {
    verifyLicenseFile(read(c.file), keys, { fingerprint: c.fingerprint, now: c.now, licenseKey: c.license_key });
    return "valid";
  } catch (e) {
    if (e instanceof VerifyError) return e.code;
    throw e;
  }
}

for (const c of cases) {
  test(`${c.file} at ${c.now}: ${c.verdict}`, () => assert.equal(verdict(c), c.verdict));
}

test("the vectors cover every kind of refusal", () => {
  const verdicts = new Set(cases.map((c) => c.verdict));
  for (const v of ["valid", "expired", "clock_behind", "fingerprint_mismatch", "key_required", "wrong_key", "bad_signature", "unknown_key", "revoked_key"]) {
    assert.ok(verdicts.has(v), v);
  }
});

test("a single public key gets its id as the server computes it", () => {
  for (const [kid, entry] of Object.entries(JSON.parse(read("keys.json")).keys)) {
    assert.deepEqual(Keys.fromPublicKey(entry.public_key).kids(), [kid]);
  }
});

test("damaged text is refused with a verdict, never another exception", () => {
  const good = read("license.lic");
  for (const text of ["", "hello", good.replace("-----END", "-----ENDX"), `${good.slice(0, -40)}\n-----END LICENSOR LICENSE-----`,
    "-----BEGIN LICENSOR LICENSE-----\n!!!!\n-----END LICENSOR LICENSE-----"]) {
    assert.throws(() => verifyLicenseFile(text, keys, { now: 1_800_000_000 }), (e) => e instanceof VerifyError && ["bad_armor", "bad_encoding", "bad_signature"].includes(e.code));
  }
});

test("keys are read as the server reads them; fingerprints as every client makes them", () => {
  assert.equal(canonicalKey("44gj2-89144-gj289-144gj-28914"), "44GJ289144GJ289144GJ28914");
  assert.equal(canonicalKey("VENDOR-key-42"), "VENDOR-key-42");
  // Every client makes this fingerprint of this machine id for this app.
  assert.equal(fingerprintOf("my-app", " ABC123\n"), "a7168b3d885621b796e68aae37ed3119a1599d03a1549c819f0e2b0177ec8f9f");
});

const answers = JSON.parse(read("answers.json")).answers;
for (const a of answers) {
  test(`signed answer, ${a.name}: ${a.verdict}`, async () => {
    const { verifyResponse } = await import("../dist/index.js");
    let got = "valid";
    try {
      verifyResponse(keys, a.signature, a.request_id, a.date, Buffer.from(a.body));
    } catch (e) {
      if (!(e instanceof VerifyError)) throw e;
      got = e.code;
    }
    assert.equal(got, a.verdict);
  });
}
