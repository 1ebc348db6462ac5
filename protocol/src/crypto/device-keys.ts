/** A device's two long-term key pairs: Ed25519 for signing (records, sealed payloads, sign-in, and
 * the MLS credential, which uses the same seed) and X25519 for receiving sealed payloads. Both
 * secrets are 32 random bytes from the caller's randomness source; every operation goes through the
 * one crypto provider (provider.ts). */
import { loadCryptoProvider, platformRandom, type RandomSource } from './provider.js';

export interface DeviceKeys {
  signPub: Uint8Array;
  /** 32-byte Ed25519 seed (RFC 8032 private key), the form @noble/curves and ts-mls use. */
  signSeed: Uint8Array;
  encPub: Uint8Array;
  /** 32-byte X25519 secret scalar. */
  encSecret: Uint8Array;
}

export async function generateDeviceKeys(random: RandomSource = platformRandom): Promise<DeviceKeys> {
  const crypto = await loadCryptoProvider();
  const signSeed = random(32);
  const encSecret = random(32);
  return { signPub: crypto.ed25519PublicKey(signSeed), signSeed, encPub: crypto.x25519Base(encSecret), encSecret };
}

export async function signPubFromSeed(signSeed: Uint8Array): Promise<Uint8Array> {
  if (signSeed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  return (await loadCryptoProvider()).ed25519PublicKey(signSeed);
}

export async function encPubFromSecret(encSecret: Uint8Array): Promise<Uint8Array> {
  if (encSecret.length !== 32) throw new RangeError('an X25519 secret is 32 bytes');
  return (await loadCryptoProvider()).x25519Base(encSecret);
}

/** Ed25519 (RFC 8032, pure): deterministic, 64 bytes. The provider keeps the expanded key per seed
 * array, so a device signing many records expands its seed once. */
export async function sign(signSeed: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  if (signSeed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  return (await loadCryptoProvider()).ed25519Sign(signSeed, message);
}

/** libsodium's strict verification: it refuses non-canonical encodings and small-order keys, so it
 * accepts a subset of what noble's default ZIP-215 rules accept. Malformed inputs give `false`. */
export async function verify(signPub: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  return (await loadCryptoProvider()).ed25519Verify(signPub, message, signature);
}
