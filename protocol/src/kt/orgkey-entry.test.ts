/** ORGKEY_GENERATION version 2 (with the key commitment) next to the frozen version 1. */
import { describe, expect, it } from '@jest/globals';
import { concatBytes, utf8 } from '../encoding.js';
import { EntryError, ORGKEY_ENTRY_VERSION, decodeEntry, encodeEntry, orgKeyGenerationMessage, type OrgKeyGenerationEntry } from './entries.js';

const pat = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const T = 1_750_000_000_000;
const B = 'd_BBBBBBBBBBBBBBBBBBBBBB';

const v1: OrgKeyGenerationEntry = { type: 'orgkey-generation', time: T + 4, generation: 7, creatorDeviceId: B, deviceSetHash: pat(32, 0x70), signature: pat(64, 0x90) };
const v2: OrgKeyGenerationEntry = { ...v1, keyCommitment: pat(32, 0xd0) };

describe('ORGKEY_GENERATION version 2', () => {
  it('is version 1 with the commitment between the device-set hash and the signature', () => {
    const one = encodeEntry(v1);
    const two = encodeEntry(v2);
    expect(one[0]).toBe(1);
    expect(two[0]).toBe(ORGKEY_ENTRY_VERSION);
    const split = one.length - 64;
    expect(hex(two)).toBe(hex(concatBytes(Uint8Array.of(2), one.subarray(1, split), pat(32, 0xd0), one.subarray(split))));
  });

  it('decodes both versions back to what was encoded', () => {
    expect(decodeEntry(encodeEntry(v2))).toEqual(v2);
    const old = decodeEntry(encodeEntry(v1));
    expect(old).toEqual(v1);
    expect('keyCommitment' in old).toBe(false);
  });

  it('refuses a version-2 entry without its commitment, a version-1 entry with one, and version 2 for other types', () => {
    const one = encodeEntry(v1);
    const two = encodeEntry(v2);
    expect(() => decodeEntry(concatBytes(Uint8Array.of(2), one.subarray(1)))).toThrow(EntryError);
    expect(() => decodeEntry(concatBytes(Uint8Array.of(1), two.subarray(1)))).toThrow(EntryError);
    const snapshot = encodeEntry({ type: 'snapshot', time: T, userCount: 1, snapshotRoot: pat(32, 1) });
    expect(() => decodeEntry(concatBytes(Uint8Array.of(ORGKEY_ENTRY_VERSION), snapshot.subarray(1)))).toThrow(EntryError);
    expect(() => encodeEntry({ ...v2, keyCommitment: pat(31, 0) })).toThrow(EntryError);
  });

  it('signs the commitment under a label of its own', () => {
    expect(hex(orgKeyGenerationMessage(7, pat(32, 1), pat(32, 0x40)))).toBe(
      hex(utf8('agora-kt-orgkey-v2\n')) + '00000007' + hex(pat(32, 1)) + hex(pat(32, 0x40)),
    );
    expect(hex(orgKeyGenerationMessage(7, pat(32, 1)))).toBe(hex(utf8('agora-kt-orgkey-v1\n')) + '00000007' + hex(pat(32, 1)));
  });
});
