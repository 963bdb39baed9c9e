// What the client keeps on disk for offline grace: the last signed VALID
// answer and the last machine file of one license on one machine, and the
// latest time seen. Everything in it is verified again when read; the file
// has the same format as the Python client's.

import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { canonicalKey } from "./verify.js";

const FORMAT = 1;

export function keyDigest(key: string): string {
  return createHash("sha256").update(canonicalKey(key)).digest("hex");
}

export interface SignedAnswer {
  body: Uint8Array;
  requestId: string;
  date: string;
  signature: string;
}

export interface OfflineState {
  keyDigest: string;
  fingerprint: string;
  latestSeen: number;
  answer: SignedAnswer | null;
  machineFile: string | null;
}

export class StateFile {
  constructor(readonly path: string) {}

  load(key: string, fingerprint: string): OfflineState {
    const digest = keyDigest(key);
    const empty: OfflineState = { keyDigest: digest, fingerprint, latestSeen: 0, answer: null, machineFile: null };
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(readFileSync(this.path, "utf8")) as Record<string, unknown>;
    } catch {
      return empty;
    }
    const latestSeen = typeof data.latest_seen === "number" ? data.latest_seen : 0;
    if (data.format !== FORMAT || data.key_digest !== digest || data.fingerprint !== fingerprint) {
      return { ...empty, latestSeen };
    }
    let answer: SignedAnswer | null = null;
    const stored = data.answer as Record<string, unknown> | null;
    if (stored && typeof stored.body === "string") {
      answer = {
        body: Buffer.from(stored.body, "base64"),
        requestId: String(stored.request_id ?? ""),
        date: String(stored.date ?? ""),
        signature: String(stored.signature ?? ""),
      };
    }
    return {
      keyDigest: digest,
      fingerprint,
      latestSeen,
      answer,
      machineFile: typeof data.machine_file === "string" ? data.machine_file : null,
    };
  }

  save(state: OfflineState): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const text = JSON.stringify({
      format: FORMAT,
      key_digest: state.keyDigest,
      fingerprint: state.fingerprint,
      latest_seen: state.latestSeen,
      answer: state.answer
        ? {
            body: Buffer.from(state.answer.body).toString("base64"),
            request_id: state.answer.requestId,
            date: state.answer.date,
            signature: state.answer.signature,
          }
        : null,
      machine_file: state.machineFile,
    });
    const tmp = join(dirname(this.path), `.licensor-${process.pid}-${Date.now()}`);
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
