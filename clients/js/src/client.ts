// The online client: validate, activate, deactivate and heartbeat, every
// answer's signature, nonce and date checked against pinned keys, with
// retries, and offline grace from the state file when the server cannot be
// reached. The same model as the Python client (docs/clients.md).

import { randomBytes } from "node:crypto";
import { AnswerRejected, LicensorError, type NextAction, Unreachable } from "./errors.js";
import { StateFile } from "./state.js";
import { CLOCK_TOLERANCE_SECS, Keys, VerifyError, verifyLicenseFile, verifyResponse } from "./verify.js";

/** Codes after which the kept offline grace is dropped. */
const ENDS_GRACE = new Set([
  "NOT_FOUND",
  "PRODUCT_MISMATCH",
  "REVOKED",
  "SUSPENDED",
  "EXPIRED",
  "NOT_ACTIVATED",
  "HEARTBEAT_DEAD",
]);

export interface Validation {
  valid: boolean;
  code: string;
  detail: string;
  inGrace: boolean;
  nextAction: NextAction | null;
  license: Record<string, unknown> | null;
  machine: Record<string, unknown> | null;
  requestId: string | null;
  /** Answered from the kept machine file: the server was out of reach. */
  offline: boolean;
  /** Offline: check in before this (unix seconds). */
  deadline: number | null;
}

export interface MachineAnswer {
  machine: Record<string, unknown>;
  license: Record<string, unknown>;
  machineFile: string | null;
  nextHeartbeatBefore: number | null;
  created: boolean;
  requestId: string | null;
}

export interface ClientOptions {
  /** Where the offline grace is kept; without it an unreachable server is an error. */
  statePath?: string;
  /** Per request, milliseconds (10 s). */
  timeoutMs?: number;
  /** Retries on no answer, 5xx and 429 (3). */
  retries?: number;
  /** Largest distance between an answer's Date and this clock (300 s). */
  maxSkewSecs?: number;
  /** Unix seconds; `Date.now() / 1000` by default. */
  clock?: () => number;
}

interface Answer {
  status: number;
  body: Uint8Array;
  headers: Headers;
}

export class Client {
  readonly baseUrl: string;
  readonly keys: Keys;
  private readonly state: StateFile | null;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxSkewSecs: number;
  readonly clock: () => number;

  /**
   * `keys`: a `Keys`, the JSON of `/.well-known/licensor-keys.json`, or one
   * public key in base64, pinned in the application.
   */
  constructor(
    baseUrl: string,
    readonly product: string,
    keys: Keys | string,
    options: ClientOptions = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.keys = typeof keys !== "string" ? keys : keys.trimStart().startsWith("{") ? Keys.fromJson(keys) : Keys.fromPublicKey(keys);
    this.state = options.statePath ? new StateFile(options.statePath) : null;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = Math.max(0, options.retries ?? 3);
    this.maxSkewSecs = options.maxSkewSecs ?? CLOCK_TOLERANCE_SECS;
    this.clock = options.clock ?? (() => Date.now() / 1000);
  }

  /** Asks the server, with a fresh nonce; offline, answers from the kept grace until its deadline. */
  async validate(key: string, fingerprint: string, entitlements: string[] = []): Promise<Validation> {
    const nonce = newNonce();
    const body: Record<string, unknown> = { key, fingerprint, product: this.product, nonce };
    if (entitlements.length > 0) body.entitlements = entitlements;
    let answer: Answer;
    try {
      answer = await this.post("/api/v1/licenses/validate", body);
    } catch (e) {
      if (e instanceof Unreachable) return this.offline(key, fingerprint, entitlements, e);
      throw e;
    }
    const data = this.checked(answer, nonce);
    const result: Validation = {
      valid: data.valid === true,
      code: String(data.code),
      detail: String(data.detail ?? ""),
      inGrace: data.in_grace === true,
      nextAction: (data.next_action as NextAction | null) ?? null,
      license: (data.license as Record<string, unknown> | null) ?? null,
      machine: (data.machine as Record<string, unknown> | null) ?? null,
      requestId: answer.headers.get("x-request-id"),
      offline: false,
      deadline: null,
    };
    this.remember(key, fingerprint, answer, result);
    await this.ensureMachineFile(key, fingerprint, result);
    return result;
  }

  /**
   * A machine valid online but with no machine file kept (activated by
   * another program, or the state file was lost) fetches one: activating
   * an active machine takes no second seat and answers its file.
   */
  private async ensureMachineFile(key: string, fingerprint: string, result: Validation): Promise<void> {
    if (!result.valid || !this.state || this.state.load(key, fingerprint).machineFile) return;
    try {
      await this.activate(key, fingerprint);
    } catch (e) {
      if (!(e instanceof LicensorError)) throw e;
      // The grace waits for the next validation; the verdict stands.
    }
  }

  /** Activates this machine (again: no second seat) and keeps its machine file. */
  async activate(key: string, fingerprint: string, name?: string, platform?: string): Promise<MachineAnswer> {
    const nonce = newNonce();
    const body: Record<string, unknown> = { key, fingerprint, product: this.product, nonce };
    if (name !== undefined) body.name = name;
    if (platform !== undefined) body.platform = platform;
    const answer = await this.post("/api/v1/machines/activate", body);
    const result = this.machineAnswer(answer, nonce);
    if (result.machineFile && this.state) {
      const state = this.state.load(key, fingerprint);
      state.machineFile = result.machineFile;
      state.latestSeen = Math.max(state.latestSeen, answerTime(answer));
      this.state.save(state);
    }
    return result;
  }

  /** Frees this machine's seat; its offline grace goes with it. */
  async deactivate(key: string, fingerprint: string): Promise<MachineAnswer> {
    const nonce = newNonce();
    const result = this.machineAnswer(await this.post("/api/v1/machines/deactivate", { key, fingerprint, nonce }), nonce);
    if (this.state) {
      const state = this.state.load(key, fingerprint);
      this.state.save({ ...state, answer: null, machineFile: null });
    }
    return result;
  }

  /** Keeps a floating seat: call before `nextHeartbeatBefore`. */
  async heartbeat(key: string, fingerprint: string): Promise<MachineAnswer> {
    const nonce = newNonce();
    return this.machineAnswer(await this.post("/api/v1/machines/heartbeat", { key, fingerprint, nonce }), nonce);
  }

  /** Heartbeats in the background, each halfway to the previous answer's deadline, until `stop()`. */
  startHeartbeats(key: string, fingerprint: string): Heartbeats {
    return new Heartbeats(this, key, fingerprint);
  }

  private offline(key: string, fingerprint: string, entitlements: string[], unreachable: Unreachable): Validation {
    if (!this.state) throw unreachable;
    const state = this.state.load(key, fingerprint);
    if (!state.machineFile) {
      throw new Unreachable(
        unreachable.code,
        `${unreachable.detail}; no offline grace is kept for this machine (activate it online first)`,
      );
    }
    const now = Math.floor(this.clock());
    const refused = (code: string, detail: string): Validation => ({
      valid: false,
      code,
      detail,
      inGrace: false,
      nextAction: null,
      license: null,
      machine: null,
      requestId: null,
      offline: true,
      deadline: null,
    });
    if (now + CLOCK_TOLERANCE_SECS < state.latestSeen) {
      return refused(
        "CLOCK_BEHIND",
        "This computer's clock is behind a time it has already seen: correct the clock, or connect.",
      );
    }
    let license: Record<string, unknown> | null = null;
    if (state.answer) {
      try {
        verifyResponse(this.keys, state.answer.signature, state.answer.requestId, state.answer.date, state.answer.body);
        license = (JSON.parse(Buffer.from(state.answer.body).toString("utf8")) as { license?: Record<string, unknown> }).license ?? null;
      } catch {
        license = null;
      }
    }
    let payload;
    try {
      payload = verifyLicenseFile(state.machineFile, this.keys, { fingerprint, now });
    } catch (e) {
      if (e instanceof VerifyError) return refused(e.code.toUpperCase(), e.detail);
      throw e;
    }
    state.latestSeen = Math.max(state.latestSeen, now);
    this.state.save(state);
    const deadline = payload.valid_until ?? null;
    const missing = entitlements.filter((e) => !payload.entitlements.includes(e));
    if (missing.length > 0) {
      return { ...refused("ENTITLEMENT_MISSING", `The license lacks ${missing.join(", ")}.`), license, deadline };
    }
    return {
      valid: true,
      code: "VALID",
      detail: "The license is valid (offline, from the machine file).",
      inGrace: payload.expires_at !== null && now >= payload.expires_at,
      nextAction: null,
      license,
      machine: null,
      requestId: null,
      offline: true,
      deadline,
    };
  }

  private remember(key: string, fingerprint: string, answer: Answer, result: Validation): void {
    if (!this.state) return;
    const state = this.state.load(key, fingerprint);
    state.latestSeen = Math.max(state.latestSeen, answerTime(answer), Math.floor(this.clock()));
    if (result.valid) {
      state.answer = {
        body: answer.body,
        requestId: answer.headers.get("x-request-id") ?? "",
        date: answer.headers.get("date") ?? "",
        signature: answer.headers.get("licensor-signature") ?? "",
      };
    } else if (ENDS_GRACE.has(result.code)) {
      state.answer = null;
      state.machineFile = null;
    }
    this.state.save(state);
  }

  /** The body of a signed answer, once its signature, Date and nonce hold. */
  private checked(answer: Answer, nonce: string): Record<string, unknown> {
    const requestId = answer.headers.get("x-request-id") ?? "";
    const date = answer.headers.get("date") ?? "";
    try {
      verifyResponse(this.keys, answer.headers.get("licensor-signature"), requestId, date, answer.body);
    } catch (e) {
      if (e instanceof VerifyError) throw new AnswerRejected(e.code, e.detail, answer.status, requestId);
      throw e;
    }
    const when = Date.parse(date) / 1000;
    if (Number.isNaN(when)) throw new AnswerRejected("bad_date", "the answer's Date is unreadable", answer.status, requestId);
    const skew = when - this.clock();
    if (Math.abs(skew) > this.maxSkewSecs) {
      throw new AnswerRejected(
        "date_skew",
        `the answer's Date is ${Math.round(skew)} s from this machine's clock (more than ${this.maxSkewSecs} s): a replayed answer, or a wrong clock`,
        answer.status,
        requestId,
      );
    }
    const data = parseObject(answer);
    const meta = (data.meta ?? {}) as Record<string, unknown>;
    if (meta.nonce !== nonce) {
      throw new AnswerRejected("nonce_mismatch", "the answer is not for this request", answer.status, requestId);
    }
    return data;
  }

  private machineAnswer(answer: Answer, nonce: string): MachineAnswer {
    const data = this.checked(answer, nonce);
    return {
      machine: ((data.machine ?? data.deactivated) as Record<string, unknown>) ?? {},
      license: (data.license as Record<string, unknown>) ?? {},
      machineFile: typeof data.machine_file === "string" ? data.machine_file : null,
      nextHeartbeatBefore: typeof data.next_heartbeat_before === "number" ? data.next_heartbeat_before : null,
      created: answer.status === 201,
      requestId: answer.headers.get("x-request-id"),
    };
  }

  /** POSTs JSON, retrying on no answer, 5xx and 429 (honouring Retry-After); a 4xx throws its problem. */
  private async post(path: string, body: Record<string, unknown>): Promise<Answer> {
    let last: Unreachable | null = null;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      let wait = 250 * 2 ** attempt;
      try {
        const res = await fetch(this.baseUrl + path, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const answer: Answer = { status: res.status, body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
        if (res.ok) return answer;
        if (res.status === 429 || res.status >= 500) {
          last = problem(answer, true) as Unreachable;
          const retryAfter = Number(res.headers.get("retry-after") ?? "0");
          if (Number.isFinite(retryAfter)) wait = Math.max(wait, retryAfter * 1000);
        } else {
          throw problem(answer, false);
        }
      } catch (e) {
        if (e instanceof LicensorError) throw e;
        last = new Unreachable("unreachable", `no answer from ${this.baseUrl}: ${(e as Error).message}`);
      }
      if (attempt < this.retries) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 30_000)));
    }
    throw last ?? new Unreachable("unreachable", `no answer from ${this.baseUrl}`);
  }
}

/** A fresh random nonce: an answer that echoes it answers this request. */
function newNonce(): string {
  return randomBytes(18).toString("base64url");
}

function answerTime(answer: Answer): number {
  const when = Date.parse(answer.headers.get("date") ?? "");
  return Number.isNaN(when) ? 0 : Math.floor(when / 1000);
}

function parseObject(answer: Answer): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(answer.body).toString("utf8"));
  } catch {
    throw new LicensorError("bad_answer", "the server's answer is not JSON", answer.status);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new LicensorError("bad_answer", "the server's answer is not a JSON object", answer.status);
  }
  return data as Record<string, unknown>;
}

function problem(answer: Answer, retryable: boolean): LicensorError {
  let data: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(Buffer.from(answer.body).toString("utf8")) as unknown;
    if (typeof parsed === "object" && parsed !== null) data = parsed as Record<string, unknown>;
  } catch {
    data = {};
  }
  const args = [
    String(data.code ?? `http_${answer.status}`),
    String(data.detail ?? `the server answered ${answer.status}`),
    answer.status,
    (data.next_action as NextAction | null) ?? null,
    (data.request_id as string | undefined) ?? answer.headers.get("x-request-id"),
  ] as const;
  return retryable ? new Unreachable(...args) : new LicensorError(...args);
}

/** Heartbeats of one floating seat in the background; `lastError` is the latest failure. */
export class Heartbeats {
  beats = 0;
  lastError: LicensorError | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private running: Promise<void>;

  constructor(
    private readonly client: Client,
    private readonly key: string,
    private readonly fingerprint: string,
  ) {
    this.running = this.beat();
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    let wait = 30_000;
    try {
      const answer = await this.client.heartbeat(this.key, this.fingerprint);
      this.beats += 1;
      this.lastError = null;
      if (answer.nextHeartbeatBefore) wait = Math.max(1000, ((answer.nextHeartbeatBefore - this.client.clock()) / 2) * 1000);
    } catch (e) {
      if (!(e instanceof LicensorError)) throw e;
      this.lastError = e;
      if (e.code === "HEARTBEAT_DEAD") return;
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => {
        this.running = this.beat();
      }, wait);
      this.timer.unref?.();
    }
  }

  /** Stops after the heartbeat in flight, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
