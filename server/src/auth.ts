/** Device sign-in: a single-use challenge signed with the device's Ed25519 key buys a short-lived
 * bearer token. Tokens are stateless HMACs under a secret kept in the store, so every relay
 * instance sharing the store accepts them; revocation still takes effect at once because every
 * authenticated request re-reads the device and its user. */
import { createHmac, createPublicKey, randomBytes, timingSafeEqual, verify } from 'node:crypto';
import { DeviceId, LIMITS, authChallengeMessage } from '@agora/client-sdk/protocol';
import { AppError } from './errors.js';
import type { DeviceRow, Store, UserRow } from './store/types.js';

export interface Principal {
  device: DeviceRow;
  user: UserRow;
}

const TOKEN_SECRET_META = 'token-secret';

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

  constructor(private readonly deps: { store: Store; now: () => number }) {}

  /** Loads (or, first of all instances, creates) the shared HMAC secret. */
  private tokenSecret(): Promise<Buffer> {
    if (!this.secret) {
      const candidate = randomBytes(32).toString('hex');
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

  async challenge(deviceId: string): Promise<{ challenge: string; expiresAt: number }> {
    const device = await this.deps.store.getDevice(deviceId);
    if (!device) throw new AppError('not_found', 'no such device');
    if (device.status !== 'active') throw new AppError('forbidden', 'device revoked');
    const challenge = randomBytes(32).toString('base64url');
    const expiresAt = this.deps.now() + LIMITS.challengeTtlMs;
    await this.deps.store.putChallenge(deviceId, challenge, expiresAt);
    return { challenge, expiresAt };
  }

  async token(input: { deviceId: string; challenge: string; signature: string }): Promise<{ token: string; expiresAt: number }> {
    const { store, now } = this.deps;
    // Consumed before the signature is checked, so one challenge allows exactly one attempt.
    if (!(await store.consumeChallenge(input.deviceId, input.challenge, now()))) {
      throw new AppError('challenge_invalid', 'challenge unknown, used or expired');
    }
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
