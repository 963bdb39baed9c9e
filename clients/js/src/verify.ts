// Offline checks: license and machine files (docs/license-file.md) and the
// signatures of API answers (docs/api.md, "Response signatures"), against
// keys the application pins. Every verdict equals the server's
// `src/verify.rs` and `licensor verify` on the shared vectors.

import {
  createDecipheriv,
  createHash,
  createPublicKey,
  hkdfSync,
  verify as edVerify,
  type KeyObject,
} from "node:crypto";

export const BEGIN = "-----BEGIN LICENSOR LICENSE-----";
export const END = "-----END LICENSOR LICENSE-----";
/** How far a clock may be behind a file's issue time before it counts as set back. */
export const CLOCK_TOLERANCE_SECS = 300;
const SIGNING_PREFIX = "licensor-license-v1.";
const ENVELOPE_FIELDS = new Set(["v", "alg", "kid", "enc", "payload", "sig"]);
const REQUIRED_FIELDS = ["v", "alg", "kid", "payload", "sig"];

/** A refused file or answer; `code` is the verdict's stable name. */
export class VerifyError extends Error {
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = "VerifyError";
  }
}

interface KnownKey {
  key: KeyObject;
  revokedAt: number | null;
}

/**
 * The public keys an application trusts, by key id: the document of
 * `/.well-known/licensor-keys.json` (pinned in the application), or one
 * public key. A key marked `revoked_at` is known and refused.
 */
export class Keys {
  private constructor(private readonly keys: Map<string, KnownKey>) {}

  static fromJson(text: string): Keys {
    let entries: [string, { public_key?: string; revoked_at?: number | null }][];
    try {
      const document = JSON.parse(text) as { keys: Record<string, { public_key?: string; revoked_at?: number }> };
      entries = Object.entries(document.keys);
    } catch {
      throw new Error("the key set is not the JSON of /.well-known/licensor-keys.json");
    }
    const keys = new Map<string, KnownKey>();
    for (const [kid, entry] of entries) {
      keys.set(kid, { key: publicKey(entry.public_key ?? ""), revokedAt: entry.revoked_at ?? null });
    }
    return new Keys(keys);
  }

  /** One key from the standard base64 of its 32 bytes; its id computed as the server does. */
  static fromPublicKey(text: string): Keys {
    const raw = rawPublicKey(text);
    return new Keys(new Map([[keyId(raw), { key: publicKey(text), revokedAt: null }]]));
  }

  kids(): string[] {
    return [...this.keys.keys()].sort();
  }

  trusted(kid: string): KeyObject {
    const known = this.keys.get(kid);
    if (!known) throw new VerifyError("unknown_key", `signed with key ${kid}, which is not among the trusted keys`);
    if (known.revokedAt !== null) throw new VerifyError("revoked_key", `signed with key ${kid}, which the vendor revoked`);
    return known.key;
  }
}

function rawPublicKey(text: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed)) throw new Error("a public key is not base64");
  const raw = Buffer.from(trimmed, "base64");
  if (raw.length !== 32) throw new Error("a public key is not 32 bytes");
  return raw;
}

function publicKey(text: string): KeyObject {
  const raw = rawPublicKey(text);
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

/** The first 8 bytes of the SHA-256 of the 32-byte key, hex. */
export function keyId(raw: Uint8Array): string {
  return createHash("sha256").update(raw).digest("hex").slice(0, 16);
}

/** Strict base64url without padding. */
function b64url(text: string): Buffer {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new Error("not base64url");
  }
  return Buffer.from(text, "base64url");
}

const CROCKFORD = /^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{25}$/;

/**
 * A license key as the server reads it: a Licensor key without spaces or
 * dashes, upper case, O read as 0 and I, L as 1; a vendor's own key exactly
 * as given, trimmed.
 */
export function canonicalKey(key: string): string {
  const folded = key
    .replace(/[ \t-]/g, "")
    .toUpperCase()
    .replace(/O/g, "0")
    .replace(/[IL]/g, "1");
  return CROCKFORD.test(folded) ? folded : key.trim();
}

export interface Licensee {
  organization_id: string | null;
  name: string | null;
  email: string | null;
}

/** What a verified file says (docs/license-file.md, "Payload"). */
export interface Payload {
  type: "license" | "machine";
  license_id: string;
  product: string;
  license_type: string;
  licensee: Licensee;
  entitlements: string[];
  max_machines: number;
  issued_at: number;
  expires_at: number | null;
  grace_days: number;
  file_issued_at: number;
  fingerprint?: string;
  valid_until?: number;
}

function isPayload(value: unknown): value is Payload {
  const p = value as Payload;
  return (
    typeof p === "object" &&
    p !== null &&
    typeof p.type === "string" &&
    typeof p.license_id === "string" &&
    typeof p.product === "string" &&
    typeof p.license_type === "string" &&
    typeof p.licensee === "object" &&
    p.licensee !== null &&
    Array.isArray(p.entitlements) &&
    typeof p.max_machines === "number" &&
    typeof p.issued_at === "number" &&
    (p.expires_at === null || p.expires_at === undefined || typeof p.expires_at === "number") &&
    typeof p.grace_days === "number" &&
    typeof p.file_issued_at === "number"
  );
}

export interface VerifyOptions {
  fingerprint?: string | null;
  /** Unix seconds; the clock by default. */
  now?: number;
  /** Opens an encrypted file. */
  licenseKey?: string | null;
}

/** Verifies a license or machine file; returns its payload or throws VerifyError. */
export function verifyLicenseFile(text: string, keys: Keys, options: VerifyOptions = {}): Payload {
  const now = Math.floor(options.now ?? Date.now() / 1000);
  const trimmed = text.trim();
  if (!trimmed.startsWith(BEGIN) || !trimmed.endsWith(END) || trimmed.length < BEGIN.length + END.length) {
    throw new VerifyError("bad_armor", "not a Licensor license file: the BEGIN/END lines are missing or misplaced");
  }
  let envelope: Record<string, unknown>;
  try {
    const body = trimmed.slice(BEGIN.length, trimmed.length - END.length).replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw new Error("base64");
    envelope = JSON.parse(Buffer.from(body, "base64").toString("utf8")) as Record<string, unknown>;
    const fields = Object.keys(envelope);
    if (
      typeof envelope !== "object" ||
      envelope === null ||
      Array.isArray(envelope) ||
      !fields.every((f) => ENVELOPE_FIELDS.has(f)) ||
      !REQUIRED_FIELDS.every((f) => f in envelope)
    ) {
      throw new Error("fields");
    }
  } catch {
    throw new VerifyError("bad_encoding", "the envelope is not the expected JSON");
  }
  const encryption = envelope.enc;
  if (envelope.v !== 1 || envelope.alg !== "ed25519" || (encryption !== undefined && encryption !== "aes-256-gcm")) {
    throw new VerifyError("unsupported", "this verifier reads version 1, ed25519");
  }
  const key = keys.trusted(String(envelope.kid));
  let signed = false;
  try {
    const signature = b64url(envelope.sig as string);
    signed =
      signature.length === 64 &&
      edVerify(null, Buffer.from(SIGNING_PREFIX + String(envelope.payload)), key, signature);
  } catch {
    signed = false;
  }
  if (!signed) throw new VerifyError("bad_signature", "the file was altered or not issued by this vendor");
  let data: Buffer;
  try {
    data = b64url(envelope.payload as string);
  } catch {
    throw new VerifyError("bad_encoding", "the payload is not base64url");
  }
  if (encryption !== undefined) {
    if (!options.licenseKey) throw new VerifyError("key_required", "the file is encrypted: give the license key to read it");
    const aesKey = Buffer.from(
      hkdfSync("sha256", Buffer.from(canonicalKey(options.licenseKey)), "licensor-license-v1", "payload-encryption", 32),
    );
    try {
      const decipher = createDecipheriv("aes-256-gcm", aesKey, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(data.length - 16));
      data = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
    } catch {
      throw new VerifyError("wrong_key", "the license key does not open this file");
    }
  }
  let payload: unknown;
  try {
    payload = JSON.parse(data.toString("utf8"));
  } catch {
    throw new VerifyError("bad_encoding", "the payload is not the expected JSON");
  }
  if (!isPayload(payload)) throw new VerifyError("bad_encoding", "the payload is not the expected JSON");
  if (now + CLOCK_TOLERANCE_SECS < payload.file_issued_at) {
    throw new VerifyError("clock_behind", "the computer's clock is behind the file's issue time");
  }
  if (payload.expires_at !== null && payload.expires_at !== undefined && now >= payload.expires_at + payload.grace_days * 86_400) {
    throw new VerifyError("expired", "the license expired");
  }
  if (payload.type === "machine") {
    if ((payload.fingerprint ?? null) !== (options.fingerprint ?? null)) {
      throw new VerifyError("fingerprint_mismatch", "this machine file is for another machine");
    }
    if (payload.valid_until !== undefined && payload.valid_until !== null && now >= payload.valid_until) {
      throw new VerifyError("check_in_overdue", "the offline period is over: connect to check in");
    }
  }
  return payload;
}

export function responseSigningMessage(requestId: string, date: string, body: Uint8Array): Buffer {
  const digest = createHash("sha256").update(body).digest("base64url");
  return Buffer.from(["licensor-response-v1", requestId, date, digest].join("\n"));
}

/** Checks an answer's `Licensor-Signature` over its request id, Date and exact body bytes. */
export function verifyResponse(
  keys: Keys,
  signatureHeader: string | null | undefined,
  requestId: string,
  date: string,
  body: Uint8Array,
): void {
  if (!signatureHeader) throw new VerifyError("missing_signature", "the answer is not signed");
  const fields = new Map<string, string>();
  for (const part of signatureHeader.split(",")) {
    const at = part.indexOf("=");
    if (at < 0) throw new VerifyError("bad_encoding", "the signature header is malformed");
    fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim().replace(/^"|"$/g, ""));
  }
  const kid = fields.get("kid");
  const sig = fields.get("sig");
  if (kid === undefined || sig === undefined) throw new VerifyError("bad_encoding", "the signature header is malformed");
  if (fields.get("alg") !== "ed25519") throw new VerifyError("unsupported", `algorithm ${fields.get("alg")}`);
  const key = keys.trusted(kid);
  let ok = false;
  try {
    const signature = b64url(sig);
    ok = signature.length === 64 && edVerify(null, responseSigningMessage(requestId, date, body), key, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new VerifyError("bad_signature", "the answer was altered or not signed by this vendor");
}
