/** The SDK's closed set of error codes. `message` is written for the person at the keyboard: the
 * CLI prints it as its one line on stderr. */
import type { ErrorCode } from '@agora/protocol/errors';

export type ClientErrorCode =
  | ErrorCode
  | 'network'
  | 'not_registered'
  | 'profile_locked'
  | 'profile_corrupt'
  | 'wrong_passphrase'
  | 'no_passphrase'
  | 'ambiguous'
  | 'no_such_group'
  | 'no_such_user'
  | 'not_a_member'
  | 'no_key'
  | 'usage';

export class AgoraError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** `entries`: as the relay sent them with a stale_epoch refusal, unchecked (see ErrorBody). */
    readonly details: { status?: number; field?: string; epoch?: number; entries?: unknown[] } = {},
  ) {
    super(message);
    this.name = 'AgoraError';
  }
}
