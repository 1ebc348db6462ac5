import { beforeAll, describe, expect, it } from '@jest/globals';
import { RecordRequest } from '@agora/protocol/api';
import { concatBytes, fromB64u, newId, toB64u, utf8 } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { LIMITS } from '@agora/protocol/limits';
import { u32 } from '@agora/protocol/crypto/bytes';
import { generateDeviceKeys, sign, type DeviceKeys } from '@agora/protocol/crypto/device-keys';
import {
  ContentRecordSchema,
  MAX_TEXT_CHARS,
  RecordRejected,
  canonicalRecordBytes,
  checkCounter,
  encryptRecordFrame,
  openRecord,
  recordAad,
  recordCiphertextBytes,
  recordSignatureMessage,
  sealRecord,
  type ContentRecord,
  type RecordRejection,
} from './records.js';
import { getSodium } from '@agora/protocol/crypto/sodium';
import { measureRecordCrypto } from './measure.js';

const groupId = newId('g');
const otherGroupId = newId('g');
const userId = newId('u');
const deviceId = newId('d');
const otherDeviceId = newId('d');
const epoch = 3;
const key = randomBytes(32);
let author: DeviceKeys;
let intruder: DeviceKeys;

beforeAll(async () => {
  author = await generateDeviceKeys();
  intruder = await generateDeviceKeys();
});

function rec(over: Partial<ContentRecord> = {}): ContentRecord {
  return {
    v: 1,
    id: newId('r'),
    groupId,
    epoch,
    senderUserId: userId,
    senderDeviceId: deviceId,
    counter: 1,
    sentAt: 1_750_000_000_000,
    type: 'text',
    body: { text: 'Guten Morgen, Bauamt!' },
    ...over,
  };
}

const seal = (record: ContentRecord, signSeed = author.signSeed) => sealRecord({ record, key, signSeed });
type OpenInput = Parameters<typeof openRecord>[0];
const open = (ciphertext: string, over: Partial<OpenInput> = {}) =>
  openRecord({ ciphertext, key, groupId, epoch, senderDeviceId: deviceId, senderSignPub: author.signPub, ...over });

async function expectRejected(promise: Promise<unknown>, reason: RecordRejection): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RecordRejected);
  expect((error as RecordRejected).reason).toBe(reason);
}

function flipBit(ciphertext: string, index: number): string {
  const bytes = fromB64u(ciphertext);
  bytes[index < 0 ? bytes.length + index : index] ^= 0x01;
  return toB64u(bytes);
}

/** A group member who holds the key and signs correctly with its own device but builds the record
 * bytes and the encryption context itself. */
async function forge(input: {
  bytes: Uint8Array;
  sigFor: { groupId: string; epoch: number; recordId: string };
  aad?: { groupId: string; epoch: number };
  frameVersion?: number;
}): Promise<string> {
  const message = await recordSignatureMessage({ ...input.sigFor, recordBytes: input.bytes });
  return encryptRecordFrame({
    recordBytes: input.bytes,
    signature: await sign(author.signSeed, message),
    key,
    groupId: input.aad?.groupId ?? groupId,
    epoch: input.aad?.epoch ?? epoch,
    frameVersion: input.frameVersion,
  });
}

/** Encrypts an arbitrary frame under the right key and context. */
async function encryptRaw(frame: Uint8Array): Promise<string> {
  const sodium = await getSodium();
  const nonce = randomBytes(24);
  return toB64u(concatBytes(nonce, sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(frame, recordAad(groupId, epoch), null, nonce, key)));
}

describe('sealRecord / openRecord round trip', () => {
  it('opens what it sealed, and the ciphertext fits RecordRequest', async () => {
    const record = rec({ body: { text: 'Grüße aus der Baustelle 🏗️ — "Zitat" \\ \n zweite Zeile' } });
    const ciphertext = await seal(record);
    expect(RecordRequest.safeParse({ epoch, ciphertext }).success).toBe(true);
    expect(await open(ciphertext)).toEqual(record);
  });

  it('uses a fresh nonce each time: the same record seals to different ciphertexts', async () => {
    const record = rec();
    const [a, b] = [await seal(record), await seal(record)];
    expect(a).not.toBe(b);
    expect(await open(a)).toEqual(await open(b));
  });

  it('signs canonical bytes, so the key order of the input object does not matter', async () => {
    const record = rec();
    const shuffled = { body: record.body, type: record.type, sentAt: record.sentAt, counter: record.counter, senderDeviceId: record.senderDeviceId, senderUserId: record.senderUserId, epoch: record.epoch, groupId: record.groupId, id: record.id, v: record.v } as ContentRecord;
    expect(canonicalRecordBytes(shuffled)).toEqual(canonicalRecordBytes(record));
    expect(await open(await seal(shuffled))).toEqual(record);
  });

  it('accepts a text of exactly MAX_TEXT_CHARS characters', async () => {
    const record = rec({ body: { text: 'a'.repeat(MAX_TEXT_CHARS) } });
    expect((await open(await seal(record))).body.text).toHaveLength(MAX_TEXT_CHARS);
  });
});

describe('padding', () => {
  it('gives texts of 10 and 100 characters the same ciphertext length', async () => {
    const short = await seal(rec({ body: { text: 'x'.repeat(10) } }));
    const long = await seal(rec({ body: { text: 'y'.repeat(100) } }));
    expect(short.length).toBe(long.length);
    expect(fromB64u(short).length).toBe(512);
  });

  it('pads to powers of two, so a longer text moves to the next size class', async () => {
    const sizes = await Promise.all([300, 1000, 5000].map(async (n) => fromB64u(await seal(rec({ body: { text: 'z'.repeat(n) } }))).length));
    expect(sizes).toEqual([1024, 2048, 8192]);
  });

  it('computes buckets from 256 bytes up to LIMITS.recordBytes', () => {
    expect(recordCiphertextBytes(1)).toBe(256);
    expect(recordCiphertextBytes(216)).toBe(256);
    expect(recordCiphertextBytes(217)).toBe(512);
    expect(recordCiphertextBytes(LIMITS.recordBytes - 40)).toBe(LIMITS.recordBytes);
    expect(recordCiphertextBytes(LIMITS.recordBytes - 39)).toBeUndefined();
  });
});

describe('openRecord rejections', () => {
  it('decrypt_failed: a flipped bit in the nonce, the body or the tag', async () => {
    const ciphertext = await seal(rec());
    for (const index of [0, 23, 24, 100, -1]) await expectRejected(open(flipBit(ciphertext, index)), 'decrypt_failed');
  });

  it('decrypt_failed: the wrong content key', async () => {
    await expectRejected(open(await seal(rec()), { key: randomBytes(32) }), 'decrypt_failed');
  });

  it('decrypt_failed: a ciphertext moved to another group or filed under another epoch', async () => {
    const ciphertext = await seal(rec());
    await expectRejected(open(ciphertext, { groupId: otherGroupId }), 'decrypt_failed');
    await expectRejected(open(ciphertext, { epoch: epoch + 1 }), 'decrypt_failed');
  });

  it('wrong_group / wrong_epoch: a member encrypts a record written for elsewhere under this context', async () => {
    const elsewhere = rec({ groupId: otherGroupId });
    const forgedGroup = await forge({ bytes: canonicalRecordBytes(elsewhere), sigFor: { groupId: otherGroupId, epoch, recordId: elsewhere.id } });
    await expectRejected(open(forgedGroup), 'wrong_group');
    const earlier = rec({ epoch: epoch - 1 });
    const forgedEpoch = await forge({ bytes: canonicalRecordBytes(earlier), sigFor: { groupId, epoch: epoch - 1, recordId: earlier.id } });
    await expectRejected(open(forgedEpoch), 'wrong_epoch');
  });

  it('wrong_sender: a record re-posted by another device than the one it names', async () => {
    const ciphertext = await seal(rec());
    await expectRejected(open(ciphertext, { senderDeviceId: otherDeviceId, senderSignPub: intruder.signPub }), 'wrong_sender');
  });

  it('bad_signature: another device signs a record in the author device\'s name', async () => {
    await expectRejected(open(await seal(rec(), intruder.signSeed)), 'bad_signature');
  });

  it('bad_signature: the signature was made for another group, epoch or record id', async () => {
    const record = rec();
    const bytes = canonicalRecordBytes(record);
    for (const sigFor of [
      { groupId: otherGroupId, epoch, recordId: record.id },
      { groupId, epoch: epoch + 1, recordId: record.id },
      { groupId, epoch, recordId: newId('r') },
    ]) {
      await expectRejected(open(await forge({ bytes, sigFor })), 'bad_signature');
    }
  });

  it('bad_signature: a flipped bit in the signature inside a correctly encrypted frame', async () => {
    const record = rec();
    const bytes = canonicalRecordBytes(record);
    const signature = await sign(author.signSeed, await recordSignatureMessage({ groupId, epoch, recordId: record.id, recordBytes: bytes }));
    signature[5] ^= 0x80;
    await expectRejected(open(await encryptRecordFrame({ recordBytes: bytes, signature, key, groupId, epoch })), 'bad_signature');
  });

  it('malformed: text over MAX_TEXT_CHARS, refused by sealRecord and by openRecord', async () => {
    const record = rec({ body: { text: 'b'.repeat(MAX_TEXT_CHARS + 1) } });
    await expectRejected(seal(record), 'malformed');
    const forged = await forge({ bytes: canonicalRecordBytes(record), sigFor: { groupId, epoch, recordId: record.id } });
    await expectRejected(open(forged), 'malformed');
  });

  it('malformed: a text within the character limit whose encoding exceeds LIMITS.recordBytes', async () => {
    // Control characters take six bytes each in JSON.
    const error = await seal(rec({ body: { text: '\u0001'.repeat(MAX_TEXT_CHARS) } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecordRejected);
    expect((error as RecordRejected).reason).toBe('malformed');
    expect((error as Error).message).not.toContain('\u0001');
  });

  it('malformed: invalid records are refused by sealRecord without quoting their content', async () => {
    const secret = 'geheimes Projekt Nordflügel';
    for (const bad of [
      { ...rec(), counter: 0 },
      { ...rec(), id: 'x_not-a-record-id' },
      { ...rec(), groupId: secret },
      { ...rec(), extra: secret },
      { ...rec(), body: { text: 'ok', extra: secret } },
    ]) {
      const error = await seal(bad as ContentRecord).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RecordRejected);
      expect((error as RecordRejected).reason).toBe('malformed');
      expect((error as Error).message).not.toContain(secret);
    }
  });

  it('malformed: not base64url, or too short to hold a frame', async () => {
    await expectRejected(open('not*base64url'), 'malformed');
    await expectRejected(open(toB64u(randomBytes(60))), 'malformed');
    await expectRejected(open(toB64u(new Uint8Array(LIMITS.recordBytes + 1))), 'malformed');
  });

  it('malformed: signed record bytes that are not canonical JSON', async () => {
    const record = rec();
    const spaced = utf8(JSON.stringify(JSON.parse(new TextDecoder().decode(canonicalRecordBytes(record))), null, 1));
    await expectRejected(open(await forge({ bytes: spaced, sigFor: { groupId, epoch, recordId: record.id } })), 'malformed');
    const duplicated = utf8(new TextDecoder().decode(canonicalRecordBytes(record)).replace('{"v":1,', `{"v":1,"groupId":"${otherGroupId}",`));
    await expectRejected(open(await forge({ bytes: duplicated, sigFor: { groupId, epoch, recordId: record.id } })), 'malformed');
  });

  it('malformed: signed bytes that are not JSON, or JSON with an unknown field', async () => {
    const record = rec();
    await expectRejected(open(await forge({ bytes: utf8('{"v":1,'), sigFor: { groupId, epoch, recordId: record.id } })), 'malformed');
    await expectRejected(open(await forge({ bytes: Uint8Array.of(0xff, 0xfe), sigFor: { groupId, epoch, recordId: record.id } })), 'malformed');
    const extra = utf8(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(canonicalRecordBytes(record))), extra: 1 }));
    await expectRejected(open(await forge({ bytes: extra, sigFor: { groupId, epoch, recordId: record.id } })), 'malformed');
  });

  it('malformed: a frame whose length field runs past its end, or with non-zero padding', async () => {
    const record = rec();
    const bytes = canonicalRecordBytes(record);
    const signature = await sign(author.signSeed, await recordSignatureMessage({ groupId, epoch, recordId: record.id, recordBytes: bytes }));
    const good = concatBytes(Uint8Array.of(1), u32(bytes.length), bytes, signature, new Uint8Array(100));
    expect(await open(await encryptRaw(good))).toEqual(record);
    const truncated = concatBytes(Uint8Array.of(1), u32(bytes.length + 200), bytes, signature);
    await expectRejected(open(await encryptRaw(truncated)), 'malformed');
    const dirty = good.slice();
    dirty[dirty.length - 1] = 1;
    await expectRejected(open(await encryptRaw(dirty)), 'malformed');
  });

  it('unsupported_version: an unknown frame version', async () => {
    const record = rec();
    await expectRejected(open(await forge({ bytes: canonicalRecordBytes(record), sigFor: { groupId, epoch, recordId: record.id }, frameVersion: 2 })), 'unsupported_version');
  });

  it('unsupported_version: an unknown record version', async () => {
    const record = rec();
    const v2 = utf8(new TextDecoder().decode(canonicalRecordBytes(record)).replace('{"v":1,', '{"v":2,'));
    await expectRejected(open(await forge({ bytes: v2, sigFor: { groupId, epoch, recordId: record.id } })), 'unsupported_version');
  });
});

describe('ContentRecordSchema', () => {
  it('accepts the record shape and refuses unknown types', () => {
    expect(ContentRecordSchema.safeParse(rec()).success).toBe(true);
    expect(ContentRecordSchema.safeParse({ ...rec(), type: 'post' }).success).toBe(false);
    expect(ContentRecordSchema.safeParse({ ...rec(), epoch: -1 }).success).toBe(false);
    expect(ContentRecordSchema.safeParse({ ...rec(), sentAt: 1.5 }).success).toBe(false);
  });
});

describe('checkCounter', () => {
  it('classifies counters against the last accepted one', () => {
    expect(checkCounter(undefined, 1)).toBe('ok');
    expect(checkCounter(undefined, 57)).toBe('ok');
    expect(checkCounter(0, 1)).toBe('ok');
    expect(checkCounter(0, 2)).toBe('gap');
    expect(checkCounter(4, 5)).toBe('ok');
    expect(checkCounter(4, 7)).toBe('gap');
    expect(checkCounter(4, 4)).toBe('replay');
    expect(checkCounter(4, 2)).toBe('replay');
  });

  it('refuses counters that no valid record can carry', () => {
    expect(() => checkCounter(1, 0)).toThrow(RangeError);
    expect(() => checkCounter(1, 2.5)).toThrow(RangeError);
  });
});

describe('measureRecordCrypto', () => {
  it('reports positive per-record timings for real seal and open calls', async () => {
    const t = await measureRecordCrypto(20);
    expect(t.iterations).toBe(20);
    expect(t.sealUs).toBeGreaterThan(0);
    expect(t.openUs).toBeGreaterThan(0);
    expect(t.ciphertextChars).toBe(Math.ceil((1024 * 4) / 3)); // 200 characters: the 1 KiB class
  });
});
