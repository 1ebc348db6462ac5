/** The closed set of error codes the relay returns, with their HTTP status. One table, used by the
 * relay to answer and by the SDK to explain; an unknown failure becomes `internal` and its details
 * stay in the relay's own log. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_field: 400,
  body_too_large: 413,
  unauthenticated: 401,
  bad_signature: 401,
  challenge_invalid: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  stale_epoch: 409,
  invite_used: 410,
  invite_expired: 410,
  rate_limited: 429,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Body of every non-2xx answer. `field` names the offending input where there is one. */
export interface ErrorBody {
  /** `entries`: with stale_epoch for a record that named the log position its sender read up to,
   * the log entries after it (what the sender must apply before it seals again). */
  error: { code: ErrorCode; message: string; field?: string; epoch?: number; entries?: unknown[] };
}

/** WebSocket close codes for the same failures (4000 + HTTP status, as is common). */
export function wsCloseCode(code: ErrorCode): number {
  return 4000 + ERROR_STATUS[code];
}
