import { describe, expect, it } from '@jest/globals';
import { createHash, hkdfSync } from 'node:crypto';
import { concatBytes, utf8 } from '../encoding.js';
import { generateInviteCode, normaliseInvite } from '../signing.js';
import { getSodium } from '../crypto/sodium.js';
import { sign, verify } from '../crypto/device-keys.js';
import { u64 } from '../crypto/bytes.js';
import {
  EntryError, compareIds, decodeEntry, decodeSnapshotLeaf, deviceEnrolmentMessage, deviceSetHash, encodeEntry,
  encodeSnapshotLeaf, entryHash, idListHash, inviteApprovalMessage, inviteKeyPair, invitePublicKey, inviteSeed,
  membershipMessage, memberSetHash, orgKeyGenerationMessage, sortedIds, type Entry, type EntryType,
  auditorKeyId, decodeSealedMembers, encodeSealedMembers, isLegacyMembership, membershipCommitment, type GroupMembershipEntry,
} from './entries.js';

const pat = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const T = 1_750_000_000_000;
const U = 'u_AAAAAAAAAAAAAAAAAAAAAA';
const B = 'd_BBBBBBBBBBBBBBBBBBBBBB';
const C = 'd_CCCCCCCCCCCCCCCCCCCCCC';
const D = 'u_DDDDDDDDDDDDDDDDDDDDDD';

/** One entry of each type with fixed, recognisable field values. */
const FIXTURES: Record<EntryType, Entry> = {
  'user-created': {
    type: 'user-created', time: T, userId: U, userSeq: 1, prevHash: new Uint8Array(32), name: 'Jonas Weber', role: 'announcer',
    approvedByDevice: B,
  },
  'device-added': {
    type: 'device-added', time: T + 1, userId: U, userSeq: 2, prevHash: pat(32, 0x10), deviceId: C, signPub: pat(32, 0x20),
    encPub: pat(32, 0x40), via: 'user-invite', invitePub: pat(32, 0x60), approverDeviceId: B, approval: pat(64, 0x80),
    inviteSig: pat(64, 0xc0), deviceSig: pat(64, 0x00),
  },
  'device-revoked': { type: 'device-revoked', time: T + 2, userId: U, userSeq: 3, prevHash: pat(32, 0x30), deviceId: C, byUserId: D },
  'user-deactivated': { type: 'user-deactivated', time: T + 3, userId: U, userSeq: 4, prevHash: pat(32, 0x50), byUserId: D },
  'orgkey-generation': {
    type: 'orgkey-generation', time: T + 4, generation: 7, creatorDeviceId: B, deviceSetHash: pat(32, 0x70), signature: pat(64, 0x90),
  },
  'group-membership': {
    type: 'group-membership', time: T + 5, groupId: 'g_EEEEEEEEEEEEEEEEEEEEEE', epoch: 3, members: [B, C], committerDeviceId: B,
    signature: pat(64, 0xa0),
  },
  snapshot: { type: 'snapshot', time: T + 6, userCount: 2, snapshotRoot: pat(32, 0xe0) },
};

/** The frozen encodings: a change here is a change of the log format, which every verifier and every
 * stored log depends on. Bump ENTRY_VERSION rather than edit these. */
const FROZEN: Record<EntryType, string> = {
  'user-created':
    '0101000001977420dc000018755f41414141414141414141414141414141414141414141000000000000000100000000000000000000000000000000' +
    '00000000000000000000000000000000000b4a6f6e6173205765626572010018645f42424242424242424242424242424242424242424242',
  'device-added':
    '0102000001977420dc010018755f414141414141414141414141414141414141414141410000000000000002101112131415161718191a1b1c1d1e1f' +
    '202122232425262728292a2b2c2d2e2f0018645f43434343434343434343434343434343434343434343202122232425262728292a2b2c2d2e2f3031' +
    '32333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f01606162636465666768696a6b6c' +
    '6d6e6f707172737475767778797a7b7c7d7e7f0018645f42424242424242424242424242424242424242424242808182838485868788898a8b8c8d8e' +
    '8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9ca' +
    'cbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203040506' +
    '0708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f',
  'device-revoked':
    '0103000001977420dc020018755f414141414141414141414141414141414141414141410000000000000003303132333435363738393a3b3c3d3e3f' +
    '404142434445464748494a4b4c4d4e4f0018645f434343434343434343434343434343434343434343430018755f4444444444444444444444444444' +
    '4444444444444444',
  'user-deactivated':
    '0104000001977420dc030018755f414141414141414141414141414141414141414141410000000000000004505152535455565758595a5b5c5d5e5f' +
    '606162636465666768696a6b6c6d6e6f0018755f44444444444444444444444444444444444444444444',
  'orgkey-generation':
    '0105000001977420dc04000000070018645f42424242424242424242424242424242424242424242707172737475767778797a7b7c7d7e7f80818283' +
    '8485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf' +
    'c0c1c2c3c4c5c6c7c8c9cacbcccdcecf',
  'group-membership':
    '0106000001977420dc050018675f45454545454545454545454545454545454545454545000000000000000300020018645f42424242424242424242' +
    '4242424242424242424242420018645f434343434343434343434343434343434343434343430018645f42424242424242424242424242424242424242' +
    '424242a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8' +
    'd9dadbdcdddedf',
  snapshot: '0107000001977420dc0600000002e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
};

const TYPES = Object.keys(FIXTURES) as EntryType[];

describe('entry encoding', () => {
  it.each(TYPES)('%s: encodes to its frozen bytes and decodes back to the same value', (type) => {
    const bytes = encodeEntry(FIXTURES[type]);
    expect(hex(bytes)).toBe(FROZEN[type]);
    expect(decodeEntry(bytes)).toEqual(FIXTURES[type]);
    expect(decodeEntry(unhex(FROZEN[type]))).toEqual(FIXTURES[type]);
  });

  it('the header is version 1, the type byte and the time in milliseconds', () => {
    for (const [i, type] of TYPES.entries()) {
      const bytes = encodeEntry(FIXTURES[type]);
      expect(bytes[0]).toBe(1);
      expect(bytes[1]).toBe(i + 1);
      expect(hex(bytes.subarray(2, 10))).toBe(hex(u64(FIXTURES[type].time)));
    }
  });

  it('round-trips the other roles, enrolments, bootstrap approvals, unicode names and large numbers', () => {
    const variants: Entry[] = [
      { ...FIXTURES['user-created'], role: 'admin', approvedByDevice: '', name: 'Zoë \u{1F600} \uFEFFBOM' },
      { ...FIXTURES['user-created'], role: 'member', userSeq: 2 ** 53 - 1, prevHash: pat(32, 9), time: 0 },
      { ...FIXTURES['device-added'], via: 'bootstrap', approverDeviceId: '', approval: new Uint8Array(64) },
      { ...FIXTURES['device-added'], via: 'device-invite' },
      { ...FIXTURES['orgkey-generation'], generation: 0xffff_ffff },
      { ...FIXTURES['group-membership'], members: [B], epoch: 0 },
      { ...FIXTURES.snapshot, userCount: 0 },
    ];
    for (const v of variants) expect(decodeEntry(encodeEntry(v))).toEqual(v);
  });

  it('refuses to encode values no decoder would accept', () => {
    const bad: unknown[] = [
      { ...FIXTURES['user-created'], prevHash: pat(32, 1) }, // seq 1 must start the chain
      { ...FIXTURES['user-created'], userSeq: 0 },
      { ...FIXTURES['user-created'], name: '' },
      { ...FIXTURES['user-created'], role: 'owner' },
      { ...FIXTURES['device-added'], signPub: pat(31, 0) },
      { ...FIXTURES['device-added'], via: 'bootstrap' }, // a bootstrap enrolment has no approver
      { ...FIXTURES['device-added'], approverDeviceId: '' },
      { ...FIXTURES['group-membership'], members: [C, B] },
      { ...FIXTURES['group-membership'], members: [B, B] },
      { ...FIXTURES['group-membership'], members: [] },
      { ...FIXTURES['orgkey-generation'], generation: 2 ** 32 },
      { ...FIXTURES.snapshot, time: -1 },
      { ...FIXTURES.snapshot, time: 1.5 },
      { ...FIXTURES.snapshot, type: 'nonsense' },
    ];
    for (const b of bad) expect(() => encodeEntry(b as Entry)).toThrow(EntryError);
  });
});

describe('strict decoding', () => {
  it.each(TYPES)('%s: every truncation and any trailing byte is refused', (type) => {
    const bytes = encodeEntry(FIXTURES[type]);
    for (let n = 0; n < bytes.length; n++) expect(() => decodeEntry(bytes.subarray(0, n))).toThrow(EntryError);
    expect(() => decodeEntry(concatBytes(bytes, Uint8Array.of(0)))).toThrow(/trailing/);
  });

  it('refuses unknown versions and types', () => {
    const bytes = encodeEntry(FIXTURES.snapshot);
    for (const version of [0, 2, 255]) {
      const v = bytes.slice();
      v[0] = version;
      expect(() => decodeEntry(v)).toThrow(/version/);
    }
    for (const type of [0, 8, 255]) {
      const t = bytes.slice();
      t[1] = type;
      expect(() => decodeEntry(t)).toThrow(EntryError);
    }
  });

  it('refuses unknown roles and enrolment kinds, invalid UTF-8 and non-canonical member lists', () => {
    const created = encodeEntry(FIXTURES['user-created']);
    const roleAt = created.length - 2 - 24 - 1;
    const role = created.slice();
    role[roleAt] = 3;
    expect(() => decodeEntry(role)).toThrow(/role/);

    const added = encodeEntry(FIXTURES['device-added']);
    const viaAt = 10 + 26 + 8 + 32 + 26 + 64;
    expect(added[viaAt]).toBe(1);
    const via = added.slice();
    via[viaAt] = 3;
    expect(() => decodeEntry(via)).toThrow(/enrolment/);

    const utf = created.slice();
    utf[10 + 2] = 0xff; // inside the userId
    expect(() => decodeEntry(utf)).toThrow(/UTF-8/);

    // the same two members in the wrong order: well-formed bytes, not the canonical encoding
    const swapped = { ...FIXTURES['group-membership'], members: [C, B] };
    const raw = concatBytes(
      encodeEntry(FIXTURES['group-membership']).subarray(0, 10 + 26 + 8 + 2),
      ...swapped.members.map((id) => concatBytes(Uint8Array.of(0, 24), utf8(id))),
      encodeEntry(FIXTURES['group-membership']).subarray(10 + 26 + 8 + 2 + 52),
    );
    expect(() => decodeEntry(raw)).toThrow(EntryError);
  });

  it('refuses a first chain entry with a non-zero prevHash and a bootstrap enrolment with an approval', () => {
    const created = encodeEntry(FIXTURES['user-created']);
    const chained = created.slice();
    chained[10 + 26 + 8] = 1;
    expect(() => decodeEntry(chained)).toThrow(EntryError);

    const boot = encodeEntry({ ...FIXTURES['device-added'], via: 'bootstrap', approverDeviceId: '', approval: new Uint8Array(64) });
    const approvalAt = boot.length - 3 * 64;
    const withApproval = boot.slice();
    withApproval[approvalAt] = 1;
    expect(() => decodeEntry(withApproval)).toThrow(EntryError);
  });

  it('refuses inputs that are not bytes', () => {
    expect(() => decodeEntry('0101' as unknown as Uint8Array)).toThrow(EntryError);
  });
});

describe('hashes and ordering', () => {
  it('compareIds orders by code point (UTF-8 byte order), not UTF-16 units', () => {
    expect(compareIds('a', 'b')).toBe(-1);
    expect(compareIds('b', 'a')).toBe(1);
    expect(compareIds('ab', 'a')).toBe(1);
    expect(compareIds('a', 'ab')).toBe(-1);
    expect(compareIds('same', 'same')).toBe(0);
    // U+FF61 < U+1F600 as code points and as UTF-8, but '\uFF61' > '\uD83D' as UTF-16 units
    expect(compareIds('\uFF61', '\u{1F600}')).toBe(-1);
    const ids = ['\u{1F600}', 'z', '\uFF61', 'A'];
    const byBytes = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(sortedIds(ids)).toEqual(byBytes);
  });

  it('idListHash is SHA-256 of the sorted ids joined by newlines, order-independent', () => {
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(hex(idListHash(['b', 'a']))).toBe(sha('a\nb'));
    expect(hex(idListHash([]))).toBe(sha(''));
    expect(hex(memberSetHash([C, B]))).toBe(sha(`${B}\n${C}`));
    expect(() => idListHash(['a', 'a'])).toThrow(EntryError);
    expect(() => idListHash(['a\nb'])).toThrow(EntryError);
  });

  it('deviceSetHash covers sorted (lp16 id, signPub, encPub) and hashes the empty string for no devices', () => {
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    expect(hex(deviceSetHash([]))).toBe(sha(new Uint8Array(0)));
    const d1 = { deviceId: 'd_1', signPub: pat(32, 3), encPub: pat(32, 4) };
    const d2 = { deviceId: 'd_2', signPub: pat(32, 1), encPub: pat(32, 2) };
    const expected = sha(concatBytes(Uint8Array.of(0, 3), utf8('d_1'), d1.signPub, d1.encPub, Uint8Array.of(0, 3), utf8('d_2'), d2.signPub, d2.encPub));
    expect(hex(deviceSetHash([d2, d1]))).toBe(expected);
    expect(hex(deviceSetHash([d2, d1]))).toBe('bdb339408703d840aba65b9384e8c927bdbe7a19b3b1a51b33e095cf4dc80be8');
    expect(hex(deviceSetHash([{ ...d1, encPub: pat(32, 5) }, d2]))).not.toBe(expected);
    expect(() => deviceSetHash([d1, d1])).toThrow(EntryError);
  });

  it('entryHash is plain SHA-256 of the entry bytes', () => {
    const bytes = encodeEntry(FIXTURES.snapshot);
    expect(hex(entryHash(bytes))).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('snapshot leaves round-trip strictly', () => {
    const leaf = { userId: U, userSeq: 4, userHeadHash: pat(32, 1), deviceSetHash: pat(32, 2) };
    const bytes = encodeSnapshotLeaf(leaf);
    expect(hex(bytes)).toBe(
      '0018755f414141414141414141414141414141414141414141410000000000000004' +
        '0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20' +
        '02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021',
    );
    expect(decodeSnapshotLeaf(bytes)).toEqual(leaf);
    expect(() => decodeSnapshotLeaf(bytes.subarray(1))).toThrow(EntryError);
    expect(() => decodeSnapshotLeaf(concatBytes(bytes, Uint8Array.of(1)))).toThrow(EntryError);
  });
});

describe('signed messages', () => {
  it('are domain-separated and length-prefixed', () => {
    expect(hex(inviteApprovalMessage({ invitePub: pat(32, 0x60), kind: 'user', name: 'Jonas', role: 'member' }))).toBe(
      hex(utf8('agora-kt-invite-v1\n')) + hex(pat(32, 0x60)) + '01' + '00054a6f6e6173' + '00',
    );
    expect(hex(inviteApprovalMessage({ invitePub: pat(32, 0x60), kind: 'device', userId: U }))).toBe(
      hex(utf8('agora-kt-invite-v1\n')) + hex(pat(32, 0x60)) + '02' + '0018' + hex(utf8(U)),
    );
    expect(hex(deviceEnrolmentMessage({ userId: 'u_1', deviceId: 'd_1', signPub: pat(32, 0x20), encPub: pat(32, 0x40) }))).toBe(
      hex(utf8('agora-kt-enrol-v1\n')) + '0003' + hex(utf8('u_1')) + '0003' + hex(utf8('d_1')) + hex(pat(32, 0x20)) + hex(pat(32, 0x40)),
    );
    expect(hex(orgKeyGenerationMessage(7, pat(32, 1)))).toBe(hex(utf8('agora-kt-orgkey-v1\n')) + '00000007' + hex(pat(32, 1)));
    expect(hex(membershipMessage('g_1', 3, pat(32, 1)))).toBe(
      hex(utf8('agora-kt-membership-v1\n')) + '0003' + hex(utf8('g_1')) + '0000000000000003' + hex(pat(32, 1)),
    );
    // a role change changes the approval
    const member = inviteApprovalMessage({ invitePub: pat(32, 0), kind: 'user', name: 'X', role: 'member' });
    const admin = inviteApprovalMessage({ invitePub: pat(32, 0), kind: 'user', name: 'X', role: 'admin' });
    expect(hex(member)).not.toBe(hex(admin));
    expect(() => orgKeyGenerationMessage(1, pat(31, 0))).toThrow(EntryError);
  });
});

describe('invite keys', () => {
  it('derive the seed with HKDF-SHA256(normalised code, salt "agora-invite-v1") and match libsodium', async () => {
    const code = 'abcd-efgh-ijkl-mnop-qrst';
    const seed = inviteSeed(code);
    const expected = new Uint8Array(hkdfSync('sha256', utf8(normaliseInvite(code)), utf8('agora-invite-v1'), new Uint8Array(0), 32));
    expect(hex(seed)).toBe(hex(expected));
    const sodium = await getSodium();
    const { publicKey } = sodium.crypto_sign_seed_keypair(seed);
    expect(hex(invitePublicKey(code))).toBe(hex(publicKey));
    expect(hex(invitePublicKey(code))).toBe('0ffdb057c66b8e4cc37d4148086228ea6dc6cb7427a47ad4b25153bfe3395edb');
    // any case, any dashes: the same key
    expect(hex(invitePublicKey('ABCDEFGHIJKLMNOPQRST'))).toBe(hex(publicKey));
    expect(hex(invitePublicKey('ABCD-EFGH-IJKL-MNOP-QRSU'))).not.toBe(hex(publicKey));
  });

  it('sign with the device-key code and verify with the derived public key', async () => {
    const code = generateInviteCode();
    expect(code).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){4}$/);
    const { seed, publicKey } = inviteKeyPair(code);
    const msg = deviceEnrolmentMessage({ userId: U, deviceId: C, signPub: pat(32, 1), encPub: pat(32, 2) });
    const sig = await sign(seed, msg);
    expect(await verify(publicKey, msg, sig)).toBe(true);
    expect(await verify(invitePublicKey(generateInviteCode()), msg, sig)).toBe(false);
  });
});

describe('membership entries, version 2 (commitment and sealed lists)', () => {
  const V2: Entry = {
    type: 'group-membership', time: T + 5, groupId: 'g_EEEEEEEEEEEEEEEEEEEEEE', epoch: 3, commitment: pat(32, 0x10),
    sealedForAuditors: [{ auditor: pat(8, 0x01), sealed: pat(5, 0x30) }, { auditor: pat(8, 0x02), sealed: pat(3, 0x40) }],
    committerDeviceId: B, signature: pat(64, 0xa0),
  };
  const FROZEN_V2 =
    '0206000001977420dc050018675f454545454545454545454545454545454545454545450000000000000003101112131415161718191a1b1c1d1e1f' +
    '202122232425262728292a2b2c2d2e2f0201020304050607080000000530313233340203040506070809000000034041420018645f42424242424242' +
    '424242424242424242424242424242a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcc' +
    'cdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf';

  it('encodes to its frozen bytes (version byte 2) and decodes back; version 1 entries still decode', () => {
    const bytes = encodeEntry(V2);
    expect(hex(bytes)).toBe(FROZEN_V2);
    expect(decodeEntry(bytes)).toEqual(V2);
    expect(isLegacyMembership(decodeEntry(unhex(FROZEN['group-membership'])) as GroupMembershipEntry)).toBe(true);
    expect(decodeEntry(encodeEntry({ ...V2, sealedForAuditors: [], epoch: 0 }))).toEqual({ ...V2, sealedForAuditors: [], epoch: 0 });
  });

  it('holds no member id: only the group, the epoch, the committer and opaque bytes', () => {
    const members = [C, 'd_ZZZZZZZZZZZZZZZZZZZZZZ'];
    const e = { ...V2, commitment: membershipCommitment(pat(32, 7), members) };
    const text = Buffer.from(encodeEntry(e)).toString('latin1');
    for (const id of members) expect(text).not.toContain(id);
  });

  it('refuses unsorted or repeated auditors, bad sizes, and a version-1 body under version 2', () => {
    const bad: unknown[] = [
      { ...V2, sealedForAuditors: [...V2.sealedForAuditors].reverse() },
      { ...V2, sealedForAuditors: [V2.sealedForAuditors[0], V2.sealedForAuditors[0]] },
      { ...V2, sealedForAuditors: [{ auditor: pat(7, 1), sealed: pat(1, 1) }] },
      { ...V2, sealedForAuditors: [{ auditor: pat(8, 1), sealed: new Uint8Array(0) }] },
      { ...V2, sealedForAuditors: Array.from({ length: 9 }, (_, i) => ({ auditor: pat(8, i * 8), sealed: pat(1, 1) })) },
      { ...V2, commitment: pat(31, 0) },
    ];
    for (const b of bad) expect(() => encodeEntry(b as Entry)).toThrow(EntryError);
    const legacyAsV2 = unhex(FROZEN['group-membership']);
    legacyAsV2[0] = 2;
    expect(() => decodeEntry(legacyAsV2)).toThrow(EntryError);
    const unsorted = unhex(FROZEN_V2);
    unsorted.set(pat(8, 0x09), 10 + 26 + 8 + 32 + 1); // first auditor id now sorts after the second
    expect(() => decodeEntry(unsorted)).toThrow(EntryError);
    expect(() => decodeEntry(concatBytes(unhex(FROZEN_V2), new Uint8Array(1)))).toThrow(EntryError);
  });

  it('the commitment binds the salt and the member set, in a domain of its own', () => {
    const salt = pat(32, 0x55);
    const c = membershipCommitment(salt, [B, C]);
    expect(membershipCommitment(salt, [C, B])).toEqual(c); // a set: order does not matter
    expect(membershipCommitment(pat(32, 0x56), [B, C])).not.toEqual(c);
    expect(membershipCommitment(salt, [B])).not.toEqual(c);
    expect(hex(c)).toBe(createHash('sha256').update('agora-kt-membership-commitment-v1\n').update(salt).update(memberSetHash([B, C])).digest('hex'));
    expect(c).not.toEqual(memberSetHash([B, C]));
    expect(() => membershipCommitment(pat(31, 0), [B])).toThrow(EntryError);
  });

  it('the sealed member list round-trips and is canonical', () => {
    const v = { salt: pat(32, 3), members: [B, C] };
    const bytes = encodeSealedMembers(v);
    expect(decodeSealedMembers(bytes)).toEqual(v);
    expect(encodeSealedMembers({ salt: v.salt, members: [C, B] })).toEqual(bytes);
    expect(() => decodeSealedMembers(bytes.subarray(0, bytes.length - 1))).toThrow(EntryError);
    expect(() => decodeSealedMembers(concatBytes(bytes, new Uint8Array(1)))).toThrow(EntryError);
    expect(auditorKeyId(pat(32, 0))).toHaveLength(8);
    // Padded to a size class: 1 or 16 members seal to the same length, 17 to the next class.
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `d_${String(i).padStart(22, '0')}`);
    expect(encodeSealedMembers({ salt: v.salt, members: ids(1) })).toHaveLength(encodeSealedMembers({ salt: v.salt, members: ids(16) }).length);
    expect(encodeSealedMembers({ salt: v.salt, members: ids(17) }).length).toBeGreaterThan(encodeSealedMembers({ salt: v.salt, members: ids(16) }).length);
    expect(decodeSealedMembers(encodeSealedMembers({ salt: v.salt, members: ids(17) })).members).toEqual(ids(17));
    const dirty = encodeSealedMembers(v);
    dirty[dirty.length - 1] = 1;
    expect(() => decodeSealedMembers(dirty)).toThrow(EntryError);
  });
});
