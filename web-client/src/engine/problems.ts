/** What went wrong, in words for the person: every failure the engine reports is turned into a
 * catalogue key that says what happened and what to do. The SDK's message (English, for
 * developers) is kept as `detail` for a "Details" line and bug reports, never shown alone. */
import type { MessageKey, Params } from '../i18n/index.js';

export interface Problem {
  key: MessageKey;
  params?: Params;
  /** The original error code and message, for the person who supports the user. */
  detail?: string;
}

/** Where the failure happened changes what to say about the same code. */
export type Context = 'invite' | 'unlock' | 'send' | 'general';

function codeOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') return (e as { code: string }).code;
  return undefined;
}

export function isQuotaError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const name = (e as { name?: unknown }).name;
  if (name === 'QuotaExceededError') return true;
  // IndexedDB reports a full disk as an aborted transaction whose error is the quota error.
  const inner = (e as { error?: unknown; inner?: unknown }).error;
  return inner !== undefined && inner !== e && isQuotaError(inner);
}

export function isNetworkError(e: unknown): boolean {
  return codeOf(e) === 'network';
}

/** Failures the person can act on from the words alone carry no technical detail; the rest keep
 * it, for whoever helps them. */
const PLAIN: ReadonlySet<string> = new Set(['network', 'wrong_passphrase', 'invite_used', 'invite_expired', 'rate_limited', 'profile_locked']);

export function problemOf(e: unknown, context: Context = 'general'): Problem {
  const message = e instanceof Error ? e.message : String(e);
  const code = codeOf(e);
  const detail = code && PLAIN.has(code) ? undefined : code ? `${code}: ${message}` : message;
  if (isQuotaError(e) || /quota/i.test(message)) return { key: 'problem.quota', detail };
  // A code chunk (the crypto, loaded after the first paint) did not arrive: the network is gone.
  if (/dynamically imported module|importing a module script failed|error loading dynamically/i.test(message)) return { key: 'problem.offline', detail };
  switch (code) {
    case 'network':
      return { key: context === 'send' ? 'problem.offlineSend' : 'problem.offline', detail };
    case 'wrong_passphrase':
      return { key: context === 'unlock' ? 'problem.wrongPin' : 'problem.deviceKeyGone', detail };
    case 'invite_used':
      return { key: 'problem.inviteUsed', detail };
    case 'invite_expired':
      return { key: 'problem.inviteExpired', detail };
    case 'not_found':
    case 'bad_signature':
      return { key: context === 'invite' ? 'problem.inviteUnknown' : 'problem.notFound', detail };
    case 'invalid_field':
    case 'bad_request':
    case 'usage':
      return { key: context === 'invite' ? 'problem.inviteInvalid' : 'problem.invalid', detail };
    case 'forbidden':
      return { key: 'problem.forbidden', detail };
    case 'not_a_member':
      return { key: 'problem.notMember', detail };
    case 'conflict':
    case 'stale_epoch':
      return { key: 'problem.conflict', detail };
    case 'rate_limited':
      return { key: 'problem.rateLimited', detail };
    case 'profile_locked':
      return { key: 'problem.otherTab', detail };
    case 'profile_corrupt':
      return { key: 'problem.corrupt', detail };
    default:
      return { key: 'problem.unexpected', detail };
  }
}
