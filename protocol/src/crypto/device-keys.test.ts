import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { utf8 } from '../encoding.js';
import { encPubFromSecret, generateDeviceKeys, sign, signPubFromSeed, verify } from './device-keys.js';

describe('device keys', () => {
  it('generates independent 32-byte keys whose public halves match their secrets', async () => {
    const k = await generateDeviceKeys();
    for (const part of [k.signPub, k.signSeed, k.encPub, k.encSecret]) expect(part).toHaveLength(32);
    expect(await signPubFromSeed(k.signSeed)).toEqual(k.signPub);
    expect(await encPubFromSecret(k.encSecret)).toEqual(k.encPub);
    const other = await generateDeviceKeys();
    expect(other.signSeed).not.toEqual(k.signSeed);
    expect(other.encSecret).not.toEqual(k.encSecret);
  });

  it('signs and verifies; a changed message, key or signature fails', async () => {
    const k = await generateDeviceKeys();
    const other = await generateDeviceKeys();
    const msg = utf8('agora-test\nhello');
    const sig = await sign(k.signSeed, msg);
    expect(sig).toHaveLength(64);
    expect(await verify(k.signPub, msg, sig)).toBe(true);
    expect(await verify(k.signPub, utf8('agora-test\nhellO'), sig)).toBe(false);
    expect(await verify(other.signPub, msg, sig)).toBe(false);
    const flipped = sig.slice();
    flipped[10] ^= 1;
    expect(await verify(k.signPub, msg, flipped)).toBe(false);
  });

  it('returns false instead of throwing for malformed keys and signatures', async () => {
    const k = await generateDeviceKeys();
    const msg = utf8('m');
    const sig = await sign(k.signSeed, msg);
    expect(await verify(k.signPub.subarray(0, 31), msg, sig)).toBe(false);
    expect(await verify(k.signPub, msg, sig.subarray(0, 63))).toBe(false);
    expect(await verify(new Uint8Array(32), msg, sig)).toBe(false); // small-order key
  });

  it('notices a seed array that was overwritten after it was first used', async () => {
    const a = await generateDeviceKeys();
    const b = await generateDeviceKeys();
    const seed = a.signSeed.slice();
    const msg = utf8('m');
    expect(await verify(a.signPub, msg, await sign(seed, msg))).toBe(true);
    seed.set(b.signSeed);
    expect(await verify(b.signPub, msg, await sign(seed, msg))).toBe(true);
  });

  it('rejects seeds that are not 32 bytes', async () => {
    await expect(sign(new Uint8Array(64), utf8('m'))).rejects.toThrow(RangeError);
  });
});

describe('Ed25519 interoperability with @noble/curves (the MLS layer signs with the same seed)', () => {
  it('derives the same public key and byte-identical signatures from one seed', async () => {
    const k = await generateDeviceKeys();
    expect(ed25519.getPublicKey(k.signSeed)).toEqual(k.signPub);
    const msg = utf8('agora interop ✓');
    expect(ed25519.sign(msg, k.signSeed)).toEqual(await sign(k.signSeed, msg));
  });

  it('verifies libsodium signatures with noble and noble signatures with libsodium', async () => {
    const k = await generateDeviceKeys();
    const msg = new Uint8Array(1000).map((_, i) => i * 7);
    expect(ed25519.verify(await sign(k.signSeed, msg), msg, k.signPub, { zip215: false })).toBe(true);
    const nobleSeed = ed25519.utils.randomSecretKey();
    const noblePub = ed25519.getPublicKey(nobleSeed);
    expect(await verify(noblePub, msg, ed25519.sign(msg, nobleSeed))).toBe(true);
    expect(await verify(noblePub, msg.subarray(1), ed25519.sign(msg, nobleSeed))).toBe(false);
  });
});
