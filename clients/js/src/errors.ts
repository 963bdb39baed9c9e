// What the client throws: the API's refusals with their stable `code`,
// answers that fail their checks, and an unreachable server.

export interface NextAction {
  message: string;
  url: string | null;
}

/** A refusal or failure with the API's `code`, `detail`, `next_action`, HTTP `status` and `requestId`. */
export class LicensorError extends Error {
  constructor(
    readonly code: string,
    readonly detail: string,
    readonly status: number | null = null,
    readonly nextAction: NextAction | null = null,
    readonly requestId: string | null = null,
  ) {
    super(`${code}: ${detail}`);
    this.name = "LicensorError";
  }
}

/** An answer that is not provably this vendor's fresh answer to this request. Never "valid". */
export class AnswerRejected extends LicensorError {
  constructor(code: string, detail: string, status: number | null = null, requestId: string | null = null) {
    super(code, detail, status, null, requestId);
    this.name = "AnswerRejected";
  }
}

/** No answer (connection refused, timeout, 5xx or 429 after the retries) and no offline grace. */
export class Unreachable extends LicensorError {
  constructor(code: string, detail: string, status: number | null = null, nextAction: NextAction | null = null, requestId: string | null = null) {
    super(code, detail, status, nextAction, requestId);
    this.name = "Unreachable";
  }
}
