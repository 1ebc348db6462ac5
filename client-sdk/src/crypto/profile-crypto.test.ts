import { describe, expect, it } from '@jest/globals';
import { fromB64u, utf8 } from '@agora/protocol/encoding';
import {
  KDF_MEMLIMIT,
  KDF_OPSLIMIT,
  ProfileDecryptError,
  decryptProfile,
  deriveProfileKey,
  encryptProfile,
  newKdfParams,
  type KdfParams,
} from './profile-crypto.js';

// Cheap parameters keep the suite fast; one test below runs the real ones.
const cheap = (): KdfParams => ({ ...newKdfParams(), opslimit: 1, memlimit: 8 * 1024 * 1024 });
const AAD = utf8('agora-profile-v1');

describe('newKdfParams', () => {
  it('chooses Argon2id13 with the measured parameters and a fresh 16-byte salt', () => {
    const a = newKdfParams();
    const b = newKdfParams();
    expect(a).toMatchObject({ alg: 'argon2id13', opslimit: KDF_OPSLIMIT, memlimit: KDF_MEMLIMIT });
    expect(fromB64u(a.salt)).toHaveLength(16);
    expect(a.salt).not.toBe(b.salt);
  });
});

describe('deriveProfileKey', () => {
  it('derives a stable 32-byte key with the default parameters', async () => {
    const params = newKdfParams();
    const k1 = await deriveProfileKey('1234-Bauamt', params);
    expect(k1).toHaveLength(32);
    expect(await deriveProfileKey('1234-Bauamt', { ...params, opslimit: 1, memlimit: 8 * 1024 * 1024 })).not.toEqual(k1);
  });

  it('depends on passphrase and salt, and treats composed and decomposed accents alike', async () => {
    const params = cheap();
    const key = await deriveProfileKey('Grüße', params);
    expect(await deriveProfileKey('Gru\u0308ße', params)).toEqual(key);
    expect(await deriveProfileKey('Grüsse', params)).not.toEqual(key);
    expect(await deriveProfileKey('Grüße', cheap())).not.toEqual(key);
  });

  it('refuses parameters outside the bounds a stored profile may carry', async () => {
    for (const bad of [
      { ...cheap(), memlimit: 4 * 1024 * 1024 * 1024 },
      { ...cheap(), opslimit: 0 },
      { ...cheap(), salt: 'short' },
      { ...cheap(), alg: 'scrypt' as 'argon2id13' },
    ]) {
      await expect(deriveProfileKey('x', bad)).rejects.toThrow(RangeError);
    }
  });
});

describe('encryptProfile / decryptProfile', () => {
  it('round-trips with a random nonce in front', async () => {
    const key = await deriveProfileKey('pin', cheap());
    const plain = utf8('{"devices":[]}');
    const a = await encryptProfile(key, plain, AAD);
    const b = await encryptProfile(key, plain, AAD);
    expect(a).toHaveLength(24 + plain.length + 16);
    expect(a.subarray(0, 24)).not.toEqual(b.subarray(0, 24));
    expect(await decryptProfile(key, a, AAD)).toEqual(plain);
  });

  it('fails with one clear error for a wrong passphrase, a tampered byte, another AAD or a truncated file', async () => {
    const params = cheap();
    const key = await deriveProfileKey('right', params);
    const sealed = await encryptProfile(key, utf8('secret state'), AAD);
    const wrongKey = await deriveProfileKey('wrong', params);
    const tampered = sealed.slice();
    tampered[30] ^= 1;
    for (const attempt of [
      decryptProfile(wrongKey, sealed, AAD),
      decryptProfile(key, tampered, AAD),
      decryptProfile(key, sealed, utf8('agora-other-v1')),
      decryptProfile(key, sealed.subarray(0, 30), AAD),
    ]) {
      const error = await attempt.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProfileDecryptError);
      expect((error as Error).message).toBe('wrong passphrase or corrupted profile');
    }
  });
});
