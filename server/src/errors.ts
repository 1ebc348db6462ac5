/** The relay's failures as protocol error codes, and the outermost middleware that turns every
 * failure into the one JSON error shape. Anything that is not an AppError is a bug or an outage:
 * the client learns only `internal`, the relay's log gets the detail (never a request body). */
import type { Middleware } from 'koa';
import type { ZodType } from 'zod';
import { ERROR_STATUS, type ErrorBody, type ErrorCode } from '@agora/protocol';

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field?: string;
  readonly epoch?: number;
  readonly entries?: unknown[];
  /** Extra response headers, e.g. Retry-After for rate_limited. */
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, extra: { field?: string; epoch?: number; entries?: unknown[]; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    if (extra.field !== undefined) this.field = extra.field;
    if (extra.epoch !== undefined) this.epoch = extra.epoch;
    if (extra.entries !== undefined) this.entries = extra.entries;
    if (extra.headers !== undefined) this.headers = extra.headers;
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.field !== undefined) error.field = this.field;
    if (this.epoch !== undefined) error.epoch = this.epoch;
    if (this.entries !== undefined) error.entries = this.entries;
    return { error };
  }
}

/** Validates untrusted input with a shared protocol schema. The first issue names the field by its
 * dotted path ("added.3"); zod's messages describe the rule, not the value, so nothing the client
 * sent is echoed back into logs or answers. */
export function parseWith<S extends ZodType>(schema: S, value: unknown): ReturnType<S['parse']> {
  const result = schema.safeParse(value);
  if (result.success) return result.data as ReturnType<S['parse']>;
  const issue = result.error.issues[0];
  const field = issue.path.map(String).join('.');
  const message = field ? `${field}: ${issue.message}` : `request: ${issue.message}`;
  throw new AppError('invalid_field', message, field ? { field } : {});
}

export type LogFn = (line: string) => void;

export function errorMiddleware(log: LogFn): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      // Koa answers an unmatched route with a text 404; keep every non-2xx in the one JSON shape.
      if (ctx.status === 404 && ctx.body == null) {
        throw new AppError('not_found', 'no such route');
      }
    } catch (err) {
      const appError = err instanceof AppError ? err : new AppError('internal', 'internal error');
      if (!(err instanceof AppError)) {
        const detail = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
        log(`internal error on ${ctx.method} ${ctx.path}: ${detail}`);
      }
      ctx.status = appError.status;
      if (appError.headers) ctx.set(appError.headers);
      ctx.body = appError.toBody();
    }
  };
}
