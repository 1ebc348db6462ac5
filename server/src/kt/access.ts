/** Who may read the key-transparency log. The log names every member of staff, their devices and
 * the changes of every secret group, so the relay serves it only to the organisation's own devices
 * and to the witnesses and auditors that the organisation's published policy names.
 *
 * Witnesses and auditors have no account: they prove possession of the Ed25519 key the policy lists
 * by signing a relay challenge, and get a short-lived bearer token for that key and role. Challenges
 * are stateless (a MAC over the key, role and expiry), so an unauthenticated caller costs the relay
 * no write; tokens are MACs too, and every request re-reads the published policy, so taking a key
 * out of the policy ends its access at once. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { platformRandom } from '@agora/protocol/crypto/random';
import { PolicySchema, SIG_TYPE_COSIGNATURE_V1, parseVkey, type Policy } from '@agora/protocol/kt';
import { LIMITS, fromB64u, ktReaderChallengeMessage, toB64u, type KtReaderRole } from '@agora/protocol';
import { verifyEd25519 } from '../auth.js';
import { AppError } from '../errors.js';
import type { Store } from '../store/types.js';

/** Where the published policy lives in the store's meta storage (JSON text). */
export const KT_POLICY_META = 'kt-policy';
const READER_SECRET_META = 'kt-reader-secret';
/** Reader tokens carry this prefix: device tokens never do, so the two kinds cannot be confused. */
const READER_TOKEN_PREFIX = 'ktr.';
const NONCE_BYTES = 16;
const MAC_BYTES = 32;

/** A witness or auditor signed in with its own key. */
export interface KtReader {
  role: KtReaderRole;
  /** base64url Ed25519 public key. */
  key: string;
  name: string;
}

/** The published policy's witness and auditor keys, as raw base64url Ed25519 public keys. */
function readersOf(policy: Policy, role: KtReaderRole): { key: string; name: string }[] {
  if (role === 'auditor') return policy.auditors.map((a) => ({ key: a.signPub, name: a.name }));
  return policy.witnesses.map((w) => {
    // PolicySchema checked every witness vkey, so this parse cannot fail.
    const k = parseVkey(w.vkey);
    return { key: toB64u(k.publicKey), name: k.name };
  });
}

/** The raw public key inside a cosignature/v1 verifier key, or undefined if it is not one. */
export function cosignerKey(vkey: string): string | undefined {
  try {
    const k = parseVkey(vkey);
    return k.type === SIG_TYPE_COSIGNATURE_V1 ? toB64u(k.publicKey) : undefined;
  } catch {
    return undefined;
  }
}

export class KtAccess {
  private secret: Promise<Buffer> | undefined;
  /** The last policy text read and its parse: the policy is read on every request but rarely changes. */
  private parsed: { text: string; policy: Policy } | undefined;

  constructor(private readonly deps: { store: Store; now: () => number }) {}

  private readerSecret(): Promise<Buffer> {
    if (!this.secret) {
      const loading = this.deps.store
        .setMetaIfAbsent(READER_SECRET_META, Buffer.from(platformRandom(32)).toString('hex'))
        .then((hex) => Buffer.from(hex, 'hex'));
      // A failed load must not poison every later request.
      loading.catch(() => {
        if (this.secret === loading) this.secret = undefined;
      });
      this.secret = loading;
    }
    return this.secret;
  }

  private async mac(label: string, parts: (string | Uint8Array)[]): Promise<Buffer> {
    const h = createHmac('sha256', await this.readerSecret()).update(`${label}\n`);
    for (const p of parts) {
      const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      // length-prefixed, so no two part lists MAC the same bytes
      h.update(Buffer.from(Uint32Array.of(bytes.length).buffer)).update(bytes);
    }
    return h.digest();
  }

  /** The policy an administrator published, or null. */
  async published(): Promise<Policy | null> {
    const text = await this.deps.store.getMeta(KT_POLICY_META);
    if (text === undefined) return null;
    if (this.parsed?.text !== text) this.parsed = { text, policy: PolicySchema.parse(JSON.parse(text)) };
    return this.parsed.policy;
  }

  /** Stores the organisation's policy. It must name this log, or no client could use it. */
  async publish(policy: Policy, log: { origin: string; vkey: string }): Promise<void> {
    if (policy.log.origin !== log.origin) throw new AppError('invalid_field', 'log.origin: not the origin of this log', { field: 'log.origin' });
    if (policy.log.vkey !== log.vkey) throw new AppError('invalid_field', "log.vkey: not this log's key", { field: 'log.vkey' });
    await this.deps.store.setMeta(KT_POLICY_META, JSON.stringify(policy));
  }

  private async named(role: KtReaderRole, key: string): Promise<{ key: string; name: string }> {
    const policy = await this.published();
    const hit = policy && readersOf(policy, role).find((r) => r.key === key);
    if (!hit) throw new AppError('forbidden', `this key is not a ${role} in the organisation's published key-transparency policy`);
    return hit;
  }

  async challenge(role: KtReaderRole, key: string): Promise<{ challenge: string; expiresAt: number }> {
    await this.named(role, key);
    const expiresAt = this.deps.now() + LIMITS.challengeTtlMs;
    const nonce = Buffer.from(platformRandom(NONCE_BYTES));
    const tail = Buffer.concat([nonce, Buffer.from(String(expiresAt), 'utf8')]);
    const mac = await this.mac('agora-kt-challenge', [role, key, tail]);
    return { challenge: toB64u(Buffer.concat([mac, tail])), expiresAt };
  }

  async token(input: { role: KtReaderRole; key: string; challenge: string; signature: string }): Promise<{ token: string; expiresAt: number }> {
    const raw = Buffer.from(fromB64u(input.challenge));
    const invalid = () => new AppError('challenge_invalid', 'challenge unknown or expired');
    if (raw.length <= MAC_BYTES + NONCE_BYTES) throw invalid();
    const mac = raw.subarray(0, MAC_BYTES);
    const tail = raw.subarray(MAC_BYTES);
    const expected = await this.mac('agora-kt-challenge', [input.role, input.key, tail]);
    if (!timingSafeEqual(mac, expected)) throw invalid();
    const expiresAtChallenge = Number(tail.subarray(NONCE_BYTES).toString('utf8'));
    if (!Number.isSafeInteger(expiresAtChallenge) || expiresAtChallenge <= this.deps.now()) throw invalid();
    const message = ktReaderChallengeMessage({ role: input.role, key: input.key, challenge: input.challenge });
    if (!verifyEd25519(input.key, message, input.signature)) throw new AppError('bad_signature', 'signature does not verify');
    await this.named(input.role, input.key);
    const expiresAt = this.deps.now() + LIMITS.tokenTtlMs;
    const body = Buffer.from(JSON.stringify({ r: input.role, k: input.key, e: expiresAt })).toString('base64url');
    const tokenMac = (await this.mac('agora-kt-token', [body])).toString('base64url');
    return { token: `${READER_TOKEN_PREFIX}${body}.${tokenMac}`, expiresAt };
  }

  /** True for tokens this class issues (they are checked here, not as device tokens). */
  static isReaderToken(token: string): boolean {
    return token.startsWith(READER_TOKEN_PREFIX);
  }

  /** The witness or auditor a token names, if the token is genuine, unexpired, and its key is still
   * in the published policy. */
  async reader(token: string): Promise<KtReader> {
    const rest = token.slice(READER_TOKEN_PREFIX.length);
    const dot = rest.indexOf('.');
    if (!token.startsWith(READER_TOKEN_PREFIX) || dot <= 0 || dot !== rest.lastIndexOf('.') || token.length > 512) {
      throw new AppError('unauthenticated', 'malformed token');
    }
    const body = rest.slice(0, dot);
    const given = Buffer.from(rest.slice(dot + 1), 'base64url');
    const expected = await this.mac('agora-kt-token', [body]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AppError('unauthenticated', 'invalid token');
    let claims: { r?: unknown; k?: unknown; e?: unknown };
    try {
      claims = (JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) ?? {}) as typeof claims;
    } catch {
      throw new AppError('unauthenticated', 'invalid token');
    }
    const { r, k, e } = claims;
    if ((r !== 'witness' && r !== 'auditor') || typeof k !== 'string' || typeof e !== 'number') throw new AppError('unauthenticated', 'invalid token');
    if (e <= this.deps.now()) throw new AppError('unauthenticated', 'token expired');
    const named = await this.named(r, k);
    return { role: r, key: k, name: named.name };
  }

  /** With a published policy, only its witnesses may cosign. */
  async checkCosigner(vkey: string): Promise<void> {
    const policy = await this.published();
    if (!policy) return;
    const key = cosignerKey(vkey);
    if (!key || !readersOf(policy, 'witness').some((w) => w.key === key)) {
      throw new AppError('forbidden', "vkey: this witness is not in the organisation's published key-transparency policy", { field: 'vkey' });
    }
  }
}
