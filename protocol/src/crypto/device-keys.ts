/** A device's two long-term key pairs: Ed25519 for signing (records, sealed payloads, sign-in, and
 * the MLS credential, which uses the same seed through @noble/curves) and X25519 for receiving
 * sealed payloads. Both secrets are 32 random bytes from crypto.getRandomValues. */
import { bytesEqual, randomBytes } from '../encoding.js';
import { getSodium } from './sodium.js';

export interface DeviceKeys {
  signPub: Uint8Array;
  /** 32-byte Ed25519 seed (RFC 8032 private key), the form @noble/curves and ts-mls use. */
  signSeed: Uint8Array;
  encPub: Uint8Array;
  /** 32-byte X25519 secret scalar. */
  encSecret: Uint8Array;
}

export async function generateDeviceKeys(): Promise<DeviceKeys> {
  const sodium = await getSodium();
  const signSeed = randomBytes(32);
  const encSecret = randomBytes(32);
  const { publicKey: signPub } = sodium.crypto_sign_seed_keypair(signSeed);
  const encPub = sodium.crypto_scalarmult_base(encSecret);
  return { signPub, signSeed, encPub, encSecret };
}

export async function signPubFromSeed(signSeed: Uint8Array): Promise<Uint8Array> {
  return (await expandedSecret(signSeed)).slice(32);
}

export async function encPubFromSecret(encSecret: Uint8Array): Promise<Uint8Array> {
  if (encSecret.length !== 32) throw new RangeError('an X25519 secret is 32 bytes');
  return (await getSodium()).crypto_scalarmult_base(encSecret);
}

// libsodium signs with the 64-byte expanded key (seed || public key). Deriving it costs one scalar
// multiplication, as much as the signature itself, so it is kept per seed array. The copy of the seed
// notices a caller that overwrote (e.g. zeroed) its array.
const expanded = new WeakMap<Uint8Array, { seed: Uint8Array; secret: Uint8Array }>();

async function expandedSecret(signSeed: Uint8Array): Promise<Uint8Array> {
  if (signSeed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  const cached = expanded.get(signSeed);
  if (cached && bytesEqual(cached.seed, signSeed)) return cached.secret;
  const sodium = await getSodium();
  const secret = sodium.crypto_sign_seed_keypair(signSeed).privateKey;
  expanded.set(signSeed, { seed: signSeed.slice(), secret });
  return secret;
}

/** Ed25519 (RFC 8032, pure): deterministic, 64 bytes, byte-identical to @noble/curves' output. */
export async function sign(signSeed: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  const secret = await expandedSecret(signSeed);
  return (await getSodium()).crypto_sign_detached(message, secret);
}

/** libsodium's strict verification: it refuses non-canonical encodings and small-order keys, so it
 * accepts a subset of what noble's default ZIP-215 rules accept. Malformed inputs give `false`. */
export async function verify(signPub: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (signPub.length !== 32 || signature.length !== 64) return false;
  const sodium = await getSodium();
  try {
    return sodium.crypto_sign_verify_detached(signature, message, signPub);
  } catch {
    return false;
  }
}
