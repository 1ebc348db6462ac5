/** Device sign-in: a single-use challenge signed with the device's Ed25519 key buys a short-lived
 * bearer token. Tokens are stateless HMACs under a secret kept in the store, so every relay
 * instance sharing the store accepts them; revocation still takes effect at once because every
 * authenticated request re-reads the device and its user.
 *
 * Challenges are stateless too: anyone can ask for one without an account, so issuing one must not
 * cost a database write and an fsync. A challenge is 32 bytes, the size the wire has always
 * carried: its expiry, a random nonce and a MAC binding both to the device it was issued for. Single
 * use is enforced in memory: a used challenge is remembered until it expires, which bounds that
 * memory by the sign-in rate times the challenge lifetime. */
import { createHmac, createPublicKey, timingSafeEqual, verify } from 'node:crypto';
import { platformRandom } from '@agora/protocol/crypto/random';
import { DeviceId, LIMITS, authChallengeMessage } from '@agora/protocol';
import { AppError } from './errors.js';
import type { DeviceRow, Store, UserRow } from './store/types.js';

export interface Principal {
  device: DeviceRow;
  user: UserRow;
}

const TOKEN_SECRET_META = 'token-secret';

/** Challenge layout: 6-byte big-endian expiry (ms), 10-byte nonce, 16-byte truncated HMAC-SHA256. */
const EXPIRY_BYTES = 6;
const NONCE_BYTES = 10;
const CHALLENGE_MAC_BYTES = 16;
const CHALLENGE_BYTES = EXPIRY_BYTES + NONCE_BYTES + CHALLENGE_MAC_BYTES;
/** Used challenges remembered at once. Sign-in is rate-limited per address, so this is reached only
 * by a flood from very many addresses; sign-in then fails closed (rate_limited) instead of growing. */
export const MAX_REMEMBERED_CHALLENGES = 100_000;

/** Challenges already exchanged for a token, each kept until its expiry. */
export class UsedChallenges {
  /** Insertion order is close to expiry order (every challenge lives equally long), so expired ones
   * are dropped from the front as new ones arrive. */
  private readonly used = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  /** False if `challenge` was used before; otherwise remembers it until `expiresAt`. */
  use(challenge: string, expiresAt: number, now: number): boolean {
    for (const [key, expiry] of this.used) {
      if (expiry > now) break;
      this.used.delete(key);
    }
    if (this.used.has(challenge)) return false;
    if (this.used.size >= this.capacity) {
      for (const [key, expiry] of this.used) if (expiry <= now) this.used.delete(key);
      if (this.used.size >= this.capacity) throw new AppError('rate_limited', 'too many sign-ins, try again shortly', { headers: { 'Retry-After': '60' } });
    }
    this.used.set(challenge, expiresAt);
    return true;
  }

  get size(): number {
    return this.used.size;
  }
}

/** Ed25519 verification over raw 32-byte public keys as the wire carries them. Any malformed key
 * or signature is simply "does not verify". */
export function verifyEd25519(signPubB64u: string, message: Uint8Array, signatureB64u: string): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: signPubB64u }, format: 'jwk' });
    const signature = Buffer.from(signatureB64u, 'base64url');
    if (signature.length !== 64) return false;
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

export class Auth {
  private secret: Promise<Buffer> | undefined;
  private challengeKey: Promise<Buffer> | undefined;
  private readonly used: UsedChallenges;

  constructor(private readonly deps: { store: Store; now: () => number; maxRememberedChallenges?: number }) {
    this.used = new UsedChallenges(deps.maxRememberedChallenges ?? MAX_REMEMBERED_CHALLENGES);
  }

  /** Loads (or, first of all instances, creates) the shared HMAC secret. */
  private tokenSecret(): Promise<Buffer> {
    if (!this.secret) {
      const candidate = Buffer.from(platformRandom(32)).toString('hex');
      const loading = this.deps.store
        .setMetaIfAbsent(TOKEN_SECRET_META, candidate)
        .then((hex) => Buffer.from(hex, 'hex'));
      // A failed load must not poison every later request.
      loading.catch(() => {
        if (this.secret === loading) this.secret = undefined;
      });
      this.secret = loading;
    }
    return this.secret;
  }

  /** Loads the shared secret now, so that the first unauthenticated request does not create it. */
  async ready(): Promise<void> {
    await this.tokenSecret();
  }

  /** A key of its own for challenges, so a challenge MAC can never pass for a token MAC. */
  private challengeSecret(): Promise<Buffer> {
    if (!this.challengeKey) {
      const key = this.tokenSecret().then((secret) => createHmac('sha256', secret).update('agora-challenge-key-v1').digest());
      key.catch(() => {
        if (this.challengeKey === key) this.challengeKey = undefined;
      });
      this.challengeKey = key;
    }
    return this.challengeKey;
  }

  private async challengeMac(deviceId: string, expiryAndNonce: Buffer): Promise<Buffer> {
    return createHmac('sha256', await this.challengeSecret())
      .update(`agora-challenge-v1\n${deviceId}\n`)
      .update(expiryAndNonce)
      .digest()
      .subarray(0, CHALLENGE_MAC_BYTES);
  }

  /** Issues a challenge without writing anything: see the module comment. */
  async challenge(deviceId: string): Promise<{ challenge: string; expiresAt: number }> {
    const device = await this.deps.store.getDevice(deviceId);
    if (!device) throw new AppError('not_found', 'no such device');
    if (device.status !== 'active') throw new AppError('forbidden', 'device revoked');
    const expiresAt = this.deps.now() + LIMITS.challengeTtlMs;
    const head = Buffer.alloc(EXPIRY_BYTES + NONCE_BYTES);
    head.writeUIntBE(expiresAt, 0, EXPIRY_BYTES);
    head.set(platformRandom(NONCE_BYTES), EXPIRY_BYTES);
    const challenge = Buffer.concat([head, await this.challengeMac(deviceId, head)]).toString('base64url');
    return { challenge, expiresAt };
  }

  /** Checks that `challenge` was issued by this relay for `deviceId`, is unexpired and unused, and
   * marks it used. */
  private async consumeChallenge(deviceId: string, challenge: string): Promise<void> {
    const invalid = new AppError('challenge_invalid', 'challenge unknown, used or expired');
    const bytes = Buffer.from(challenge, 'base64url');
    if (bytes.length !== CHALLENGE_BYTES) throw invalid;
    const head = bytes.subarray(0, EXPIRY_BYTES + NONCE_BYTES);
    const mac = bytes.subarray(EXPIRY_BYTES + NONCE_BYTES);
    if (!timingSafeEqual(mac, await this.challengeMac(deviceId, head))) throw invalid;
    const expiresAt = head.readUIntBE(0, EXPIRY_BYTES);
    const now = this.deps.now();
    if (expiresAt <= now) throw invalid;
    // The canonical encoding, so another spelling of the same bytes is the same challenge.
    if (!this.used.use(bytes.toString('base64url'), expiresAt, now)) throw invalid;
  }

  /** Used challenges held in memory (for tests and monitoring). */
  get rememberedChallenges(): number {
    return this.used.size;
  }

  async token(input: { deviceId: string; challenge: string; signature: string }): Promise<{ token: string; expiresAt: number }> {
    const { store, now } = this.deps;
    // Consumed before the signature is checked, so one challenge allows exactly one attempt.
    await this.consumeChallenge(input.deviceId, input.challenge);
    const device = await store.getDevice(input.deviceId);
    if (!device) throw new AppError('unauthenticated', 'no such device');
    const message = authChallengeMessage({ deviceId: input.deviceId, challenge: input.challenge });
    if (!verifyEd25519(device.signPub, message, input.signature)) {
      throw new AppError('bad_signature', 'signature does not verify');
    }
    await this.principalOf(device);
    const expiresAt = now() + LIMITS.tokenTtlMs;
    const body = Buffer.from(JSON.stringify({ d: device.id, e: expiresAt })).toString('base64url');
    const mac = createHmac('sha256', await this.tokenSecret()).update(body).digest('base64url');
    return { token: `${body}.${mac}`, expiresAt };
  }

  /** Checks the token's MAC and expiry only; returns the device id it names. Cheap enough to run
   * before the rate limiter, which keys on that id. */
  async tokenDevice(token: string): Promise<string> {
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.') || token.length > 512) {
      throw new AppError('unauthenticated', 'malformed token');
    }
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = createHmac('sha256', await this.tokenSecret()).update(body).digest();
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError('unauthenticated', 'invalid token');
    }
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      throw new AppError('unauthenticated', 'invalid token');
    }
    const { d, e } = (claims ?? {}) as { d?: unknown; e?: unknown };
    if (typeof e !== 'number' || !DeviceId.safeParse(d).success) throw new AppError('unauthenticated', 'invalid token');
    if (e <= this.deps.now()) throw new AppError('unauthenticated', 'token expired');
    return d as string;
  }

  /** The device and its person, refusing revoked devices and deactivated people. */
  async principal(deviceId: string): Promise<Principal> {
    const device = await this.deps.store.getDevice(deviceId);
    if (!device) throw new AppError('unauthenticated', 'no such device');
    return this.principalOf(device);
  }

  private async principalOf(device: DeviceRow): Promise<Principal> {
    if (device.status !== 'active') throw new AppError('forbidden', 'device revoked');
    const user = await this.deps.store.getUser(device.userId);
    if (!user) throw new AppError('unauthenticated', 'no such user');
    if (user.status !== 'active') throw new AppError('forbidden', 'account deactivated');
    return { device, user };
  }

  async authenticate(token: string): Promise<Principal> {
    return this.principal(await this.tokenDevice(token));
  }
}

/** The token from an `Authorization: Bearer` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}
