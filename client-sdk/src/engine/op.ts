/** The machine's operations are async generators: each step yields an effect (a relay request as
 * data, or "persist the state now") and is resumed with the raw answer, or has the failure thrown in
 * at that point. Nothing here performs I/O; a driver does (driver.ts). `await` inside an operation
 * is for local computation only (crypto, MLS). */
import type * as z from 'zod';
import { AgoraError } from '../core/errors.js';
import type { RelayRequest } from './requests.js';

export type Effect =
  | { kind: 'request'; request: RelayRequest }
  /** The state must be on disk before the next request: its answer may be lost, and what the
   * request commits to (a spent counter, a staged commit) must survive that. */
  | { kind: 'persist' };

/** An operation of the machine returning T. */
export type Op<T> = AsyncGenerator<Effect, T, unknown>;

/** Asks the relay and returns its answer, checked against the request's schema. */
export async function* ask<S extends z.ZodType>(request: RelayRequest<S>): Op<z.infer<S>> {
  const raw: unknown = yield { kind: 'request', request };
  return checkAnswer(request, raw);
}

/** The relay's answer as the request's schema types it; a relay is not trusted to answer in shape. */
export function checkAnswer<S extends z.ZodType>(request: Pick<RelayRequest<S>, 'method' | 'path' | 'schema'>, raw: unknown): z.infer<S> {
  const parsed = request.schema.safeParse(raw);
  if (!parsed.success) {
    throw new AgoraError('internal', `the relay's answer to ${request.method} ${request.path.split('?')[0]} is malformed: ${parsed.error.issues[0]?.path.join('.')}`);
  }
  return parsed.data;
}

/** Has the driver save the state before going on. */
export async function* persist(): Op<void> {
  yield { kind: 'persist' };
}
