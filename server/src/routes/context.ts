/** What every route module gets: the injected dependencies and small helpers that keep handlers
 * to the rules (parse at the edge, JSON errors, authentication and rate limits before any work). */
import type { Router, RouterContext } from '@koa/router';
import type { ZodType } from 'zod';
import { LIMITS, type KtReaderRole } from '@agora/protocol';
import type { Auth, Principal } from '../auth.js';
import { readJson } from '../body.js';
import { AppError, parseWith, type LogFn } from '../errors.js';
import type { PushHub } from '../hub.js';
import type { KtLog } from '../kt/log.js';
import type { KtAccess, KtReader } from '../kt/access.js';
import type { Store } from '../store/types.js';

export interface RouteDeps {
  store: Store;
  hub: PushHub;
  auth: Auth;
  now: () => number;
  log: LogFn;
  kt: KtLog;
  ktAccess: KtAccess;
}

export type Ctx = RouterContext;
export type Handler = (ctx: Ctx) => Promise<void>;
export type AuthedHandler = (ctx: Ctx, who: Principal) => Promise<void>;
/** Who reads the key-transparency log: an employee's device, or a witness or auditor by its key. */
export type KtCaller = { kind: 'device'; principal: Principal } | { kind: KtReaderRole; reader: KtReader };

export interface RouteKit {
  router: Router;
  deps: RouteDeps;
  /** Wraps a handler that needs a signed-in, active device (bearer token, per-device rate limit). */
  authed(handler: AuthedHandler): Handler;
  /** Wraps an unauthenticated handler that writes (per-address rate limit). */
  open(handler: Handler): Handler;
  /** Wraps a key-transparency handler: it needs a signed-in, active device, or a witness or auditor
   * token (kt/access.ts) whose role is `allowed`; each is rate-limited per device or key. */
  ktRead(allowed: readonly KtReaderRole[], handler: (ctx: Ctx, who: KtCaller) => Promise<void>): Handler;
  /** Runs `work` (pushes) once the answer has gone out: Koa writes the response only after the
   * handler returns, and a device must learn of its own write from the answer before the push. */
  later(ctx: Ctx, work: () => void | Promise<void>): void;
}

/** The JSON body, parsed with a protocol schema. */
export async function body<S extends ZodType>(ctx: Ctx, schema: S): Promise<ReturnType<S['parse']>> {
  return parseWith(schema, await readJson(ctx, LIMITS.bodyBytes));
}

/** For routes that take no input: a body, if sent at all, must still be well-formed JSON within
 * the limit, so every POST follows the same input rules. */
export async function noBody(ctx: Ctx): Promise<void> {
  const length = ctx.get('content-length');
  const chunked = ctx.get('transfer-encoding') !== '';
  if (!chunked && (length === '' || length === '0')) return;
  await readJson(ctx, LIMITS.bodyBytes);
}

export function query<S extends ZodType>(ctx: Ctx, schema: S): ReturnType<S['parse']> {
  return parseWith(schema, ctx.query);
}

/** A path parameter that must match an id schema; a malformed id names nothing, so it is a 404. */
export function idParam(ctx: Ctx, name: string, schema: ZodType<string>, what: string): string {
  const value = ctx.params[name];
  if (typeof value !== 'string' || !schema.safeParse(value).success) throw new AppError('not_found', `no such ${what}`);
  return value;
}

export function requireAdmin(who: Principal): void {
  if (who.user.role !== 'admin') throw new AppError('forbidden', 'only an administrator may do this');
}

export function reply(ctx: Ctx, status: number, payload: object): void {
  ctx.status = status;
  ctx.body = payload;
}
