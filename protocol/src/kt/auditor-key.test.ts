import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromB64u } from '../encoding.js';
import { getSodium } from '../crypto/sodium.js';
import { AuditorKeySchema, auditorPolicyEntry, newAuditorKey } from './auditor-key.js';
import { PolicySchema } from './policy.js';
import { ed25519Vkey } from './note.js';

describe('auditor key', () => {
  it('makes a key file whose public entry the policy takes, with keys libsodium agrees on', async () => {
    const key = newAuditorKey('Security officer');
    expect(AuditorKeySchema.parse(key)).toEqual(key);
    const entry = auditorPolicyEntry(key);
    const log = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    const policy = PolicySchema.parse({ log: { origin: 'agora/o_x', vkey: ed25519Vkey('agora/o_x', log) }, witnesses: [], auditors: [entry], quorum: 0, maxCheckpointAgeSeconds: 60 });
    expect(policy.auditors).toEqual([entry]);
    // A sealed box to encPub opens with encSecret: the member lists encrypted to auditors are readable.
    const sodium = await getSodium();
    const sealed = sodium.crypto_box_seal(new Uint8Array([1, 2, 3]), fromB64u(entry.encPub));
    expect(Array.from(sodium.crypto_box_seal_open(sealed, fromB64u(entry.encPub), fromB64u(key.encSecret)))).toEqual([1, 2, 3]);
  });

  it('refuses a key file with a short key or an unknown field', () => {
    const key = newAuditorKey('x');
    expect(AuditorKeySchema.safeParse({ ...key, signSeed: key.signSeed.slice(0, 20) }).success).toBe(false);
    expect(AuditorKeySchema.safeParse({ ...key, extra: 1 }).success).toBe(false);
  });
});
