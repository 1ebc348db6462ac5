import { beforeAll, describe, expect, it } from '@jest/globals';
import { hkdfSync } from 'node:crypto';
import { Envelope, HistoryRequest } from '@agora/protocol/api';
import { concatBytes, fromB64u, newId, toB64u, utf8 } from '@agora/protocol/encoding';
import { LIMITS } from '@agora/protocol/limits';
import { sha256 } from '@noble/hashes/sha2.js';
import { lp16, u64 } from '@agora/protocol/crypto/bytes';
import { generateDeviceKeys, type DeviceKeys } from '@agora/protocol/crypto/device-keys';
import {
  SealedRejected,
  orgKeyCommitment,
  derivePublicGroupKey,
  newOrgKey,
  openFromDevice,
  openOrgKey,
  sealOrgKey,
  sealToDevice,
  type SealRejection,
} from './orgkeys.js';
import { getSodium } from '@agora/protocol/crypto/sodium';

interface Dev {
  id: string;
  keys: DeviceKeys;
}
let alice: Dev; // sealer
let bob: Dev; // recipient
let mallory: Dev; // another device of the organisation
const directory = new Map<string, Uint8Array>();
const lookup = (deviceId: string) => directory.get(deviceId);

beforeAll(async () => {
  const make = async (): Promise<Dev> => ({ id: newId('d'), keys: await generateDeviceKeys() });
  [alice, bob, mallory] = [await make(), await make(), await make()];
  for (const d of [alice, bob, mallory]) directory.set(d.id, d.keys.signPub);
});

const recipient = (d: Dev) => ({ deviceId: d.id, encPub: d.keys.encPub });
const sealer = (d: Dev) => ({ deviceId: d.id, signSeed: d.keys.signSeed });
const self = (d: Dev) => ({ deviceId: d.id, encPub: d.keys.encPub, encSecret: d.keys.encSecret });

async function expectRejected(promise: Promise<unknown>, reason: SealRejection): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SealedRejected);
  expect((error as SealedRejected).reason).toBe(reason);
}

describe('sealToDevice / openFromDevice', () => {
  it('round-trips a payload for each purpose and names the sealer', async () => {
    for (const purpose of ['orgkey', 'history'] as const) {
      const payload = utf8(`payload for ${purpose}`);
      const sealed = await sealToDevice({ purpose, payload, recipient: recipient(bob), sealer: sealer(alice) });
      expect(await openFromDevice({ purpose, sealed, self: self(bob), sealerSignPub: lookup })).toEqual({ payload, sealedBy: alice.id });
    }
  });

  it('produces crypto_box_seal boxes that libsodium itself opens', async () => {
    const sodium = await getSodium();
    const sealed = await sealToDevice({ purpose: 'history', payload: utf8('x'), recipient: recipient(bob), sealer: sealer(alice) });
    const inner = sodium.crypto_box_seal_open(fromB64u(sealed), bob.keys.encPub, bob.keys.encSecret);
    expect(inner[0]).toBe(1); // frame version
    expect(fromB64u(sealed).length).toBe(inner.length + 48);
  });

  it('decrypt_failed: another device cannot open it', async () => {
    const sealed = await sealToDevice({ purpose: 'orgkey', payload: utf8('k'), recipient: recipient(bob), sealer: sealer(alice) });
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed, self: self(mallory), sealerSignPub: lookup }), 'decrypt_failed');
  });

  it('decrypt_failed: a flipped bit anywhere', async () => {
    const sealed = fromB64u(await sealToDevice({ purpose: 'orgkey', payload: utf8('k'), recipient: recipient(bob), sealer: sealer(alice) }));
    for (const index of [0, 31, 32, 60, sealed.length - 1]) {
      const tampered = sealed.slice();
      tampered[index] ^= 0x04;
      await expectRejected(openFromDevice({ purpose: 'orgkey', sealed: toB64u(tampered), self: self(bob), sealerSignPub: lookup }), 'decrypt_failed');
    }
  });

  it('wrong_recipient: a recipient re-seals what it received to another device', async () => {
    const sodium = await getSodium();
    const toMallory = await sealToDevice({ purpose: 'orgkey', payload: utf8('k'), recipient: recipient(mallory), sealer: sealer(alice) });
    const inner = sodium.crypto_box_seal_open(fromB64u(toMallory), mallory.keys.encPub, mallory.keys.encSecret);
    const resealed = toB64u(sodium.crypto_box_seal(inner, bob.keys.encPub));
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed: resealed, self: self(bob), sealerSignPub: lookup }), 'wrong_recipient');
  });

  it('bad_signature: the re-sealing recipient also rewrites the recipient id', async () => {
    const sodium = await getSodium();
    const toMallory = await sealToDevice({ purpose: 'orgkey', payload: utf8('k'), recipient: recipient(mallory), sealer: sealer(alice) });
    const inner = sodium.crypto_box_seal_open(fromB64u(toMallory), mallory.keys.encPub, mallory.keys.encSecret);
    const rewritten = inner.slice();
    // version, purpose, u16 length, then the recipient id: same length, so only the bytes change.
    rewritten.set(utf8(bob.id), 4);
    const resealed = toB64u(sodium.crypto_box_seal(rewritten, bob.keys.encPub));
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed: resealed, self: self(bob), sealerSignPub: lookup }), 'bad_signature');
  });

  it('bad_signature: the sealer id names a device whose key did not sign', async () => {
    const sealed = await sealToDevice({ purpose: 'orgkey', payload: utf8('k'), recipient: recipient(bob), sealer: { deviceId: alice.id, signSeed: mallory.keys.signSeed } });
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed, self: self(bob), sealerSignPub: lookup }), 'bad_signature');
  });

  it('wrong_purpose: a history bundle offered as an organisation key and vice versa', async () => {
    const history = await sealToDevice({ purpose: 'history', payload: utf8('h'), recipient: recipient(bob), sealer: sealer(alice) });
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed: history, self: self(bob), sealerSignPub: lookup }), 'wrong_purpose');
    const orgkey = await sealToDevice({ purpose: 'orgkey', payload: utf8('k'), recipient: recipient(bob), sealer: sealer(alice) });
    await expectRejected(openFromDevice({ purpose: 'history', sealed: orgkey, self: self(bob), sealerSignPub: lookup }), 'wrong_purpose');
  });

  it('unknown_sealer: a device the directory lookup does not vouch for', async () => {
    const stranger = { deviceId: newId('d'), signSeed: (await generateDeviceKeys()).signSeed };
    const sealed = await sealToDevice({ purpose: 'orgkey', payload: utf8('k'), recipient: recipient(bob), sealer: stranger });
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed, self: self(bob), sealerSignPub: lookup }), 'unknown_sealer');
  });

  it('malformed / unsupported_version: garbage and unknown frame versions inside a valid box', async () => {
    const sodium = await getSodium();
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed: '***', self: self(bob), sealerSignPub: lookup }), 'malformed');
    const box = (bytes: Uint8Array) => toB64u(sodium.crypto_box_seal(bytes, bob.keys.encPub));
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed: box(Uint8Array.of(1, 1, 0, 200)), self: self(bob), sealerSignPub: lookup }), 'malformed');
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed: box(Uint8Array.of(1, 9, 0, 0, 0, 0)), self: self(bob), sealerSignPub: lookup }), 'malformed');
    await expectRejected(openFromDevice({ purpose: 'orgkey', sealed: box(Uint8Array.of(2, 1, 0, 0)), self: self(bob), sealerSignPub: lookup }), 'unsupported_version');
  });

  it('fits history bundles up to HistoryRequest and refuses larger ones before sealing', async () => {
    const payload = new Uint8Array(200_000).fill(7);
    const sealed = await sealToDevice({ purpose: 'history', payload, recipient: recipient(bob), sealer: sealer(alice) });
    expect(HistoryRequest.safeParse({ deviceId: bob.id, payload: sealed }).success).toBe(true);
    expect((await openFromDevice({ purpose: 'history', sealed, self: self(bob), sealerSignPub: lookup })).payload).toEqual(payload);
    const tooBig = new Uint8Array((LIMITS.mlsMessageChars * 3) / 4);
    await expect(sealToDevice({ purpose: 'history', payload: tooBig, recipient: recipient(bob), sealer: sealer(alice) })).rejects.toThrow(RangeError);
    await expect(sealToDevice({ purpose: 'orgkey', payload: new Uint8Array(800), recipient: recipient(bob), sealer: sealer(alice) })).rejects.toThrow(RangeError);
  });
});

describe('organisation-key generations', () => {
  it('seals a generation into an Envelope-sized string and opens it', async () => {
    const key = newOrgKey();
    const sealed = await sealOrgKey({ generation: 4, key, recipient: recipient(bob), sealer: sealer(alice) });
    expect(Envelope.safeParse({ generation: 4, deviceId: bob.id, sealed }).success).toBe(true);
    expect(sealed.length).toBeLessThanOrEqual(1024);
    expect(await openOrgKey({ sealed, expectedGeneration: 4, self: self(bob), sealerSignPub: lookup })).toEqual({ generation: 4, key, sealedBy: alice.id });
  });

  it('wrong_generation: an envelope filed under another generation by the relay', async () => {
    const sealed = await sealOrgKey({ generation: 3, key: newOrgKey(), recipient: recipient(bob), sealer: sealer(alice) });
    await expectRejected(openOrgKey({ sealed, expectedGeneration: 4, self: self(bob), sealerSignPub: lookup }), 'wrong_generation');
  });

  it('malformed: an organisation-key payload of the wrong size is never taken for a key', async () => {
    const sealed = await sealToDevice({ purpose: 'orgkey', payload: new Uint8Array(39), recipient: recipient(bob), sealer: sealer(alice) });
    await expectRejected(openOrgKey({ sealed, expectedGeneration: 1, self: self(bob), sealerSignPub: lookup }), 'malformed');
  });

  it('refuses invalid generations and key sizes', async () => {
    await expect(sealOrgKey({ generation: 0, key: newOrgKey(), recipient: recipient(bob), sealer: sealer(alice) })).rejects.toThrow(RangeError);
    await expect(sealOrgKey({ generation: 1, key: new Uint8Array(16), recipient: recipient(bob), sealer: sealer(alice) })).rejects.toThrow(RangeError);
  });

  it('newOrgKey gives 32 fresh random bytes', () => {
    const [a, b] = [newOrgKey(), newOrgKey()];
    expect(a).toHaveLength(32);
    expect(a).not.toEqual(b);
  });
});

describe('derivePublicGroupKey', () => {
  const g1 = newId('g');
  const g2 = newId('g');

  it('is HKDF-SHA256(generation key, "agora public group v1", group id)', () => {
    const gen = newOrgKey();
    const expected = new Uint8Array(hkdfSync('sha256', gen, utf8('agora public group v1'), utf8(g1), 32));
    expect(derivePublicGroupKey(gen, g1)).toEqual(expected);
  });

  it('matches a fixed vector, so the derivation cannot change unnoticed', () => {
    const gen = new Uint8Array(32).map((_, i) => i);
    // Computed once with node:crypto's hkdfSync.
    expect(toB64u(derivePublicGroupKey(gen, 'g_AAAAAAAAAAAAAAAAAAAAAA'))).toBe('3TwyHq8e92qrE9E8wX-X5W8TjkfBd3T8iyzIILWM6go');
  });

  it('differs per group and per generation and is deterministic', () => {
    const gen1 = newOrgKey();
    const gen2 = newOrgKey();
    const keys = [derivePublicGroupKey(gen1, g1), derivePublicGroupKey(gen1, g2), derivePublicGroupKey(gen2, g1), derivePublicGroupKey(gen2, g2)];
    expect(new Set(keys.map(toB64u)).size).toBe(4);
    expect(derivePublicGroupKey(gen1, g1)).toEqual(keys[0]);
    expect(keys[0]).not.toEqual(gen1);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => derivePublicGroupKey(concatBytes(newOrgKey(), Uint8Array.of(1)), g1)).toThrow(RangeError);
  });
});

describe('orgKeyCommitment', () => {
  const pat = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
  const key = pat(32, 0x11);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  it('is SHA-256 over the label, organisation, generation and key', () => {
    const expected = sha256(concatBytes(utf8('agora-orgkey-commitment-v1\n'), lp16(utf8('o_X')), u64(3), key));
    expect(hex(orgKeyCommitment('o_X', 3, key))).toBe(hex(expected));
  });
  it('differs for another organisation, generation or key', () => {
    const c = hex(orgKeyCommitment('o_X', 3, key));
    expect(hex(orgKeyCommitment('o_Y', 3, key))).not.toBe(c);
    expect(hex(orgKeyCommitment('o_X', 4, key))).not.toBe(c);
    expect(hex(orgKeyCommitment('o_X', 3, pat(32, 0x12)))).not.toBe(c);
    expect(() => orgKeyCommitment('o_X', 0, key)).toThrow(RangeError);
    expect(() => orgKeyCommitment('o_X', 3, pat(16, 0))).toThrow(RangeError);
  });
});
