// Licensor's client library for Node 18+ (and Deno and Bun, through their
// `node:` built-ins): check a license online with signed answers and
// offline with signed files, with offline grace and a clock that cannot be
// set back (docs/clients.md).

export { Client, Heartbeats, type ClientOptions, type MachineAnswer, type Validation } from "./client.js";
export { AnswerRejected, LicensorError, type NextAction, Unreachable } from "./errors.js";
export { fingerprintOf, machineFingerprint, osMachineId } from "./fingerprint.js";
export {
  canonicalKey,
  Keys,
  keyId,
  type Licensee,
  type Payload,
  VerifyError,
  type VerifyOptions,
  verifyLicenseFile,
  verifyResponse,
} from "./verify.js";
