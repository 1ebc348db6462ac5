/** Content records: what a person writes into a group. A record is signed by its author device and
 * then encrypted under the group's current content key: the MLS exporter key of the
 * epoch for a secret group, the key derived from the organisation-key generation for a public one
 * (its `epoch` field then holds the generation).
 *
 * Wire format (the b64u string in RecordRequest.ciphertext):
 *   nonce (24) || XChaCha20-Poly1305-IETF( frame, aad )
 *   aad   = "agora-record-v1\n" || u16 len || groupId || u64 epoch
 *   frame = u8 frameVersion (1) || u32 len || record bytes || Ed25519 signature (64) || zero padding
 * The record bytes are the record's canonical JSON (fixed key order, see canonicalRecordBytes); the
 * signature is over
 *   "agora-record-sig-v1\n" || u16 len || groupId || u64 epoch || u16 len || record id || SHA-256(record bytes)
 * and is checked against those exact bytes, never a re-serialisation. A reader also refuses record
 * bytes that are not in canonical form, so every client interprets a signed record the same way.
 *
 * Padding: the whole ciphertext is padded to a power of two of at least 256 bytes, at most
 * LIMITS.recordBytes. Ids, counters, signature, nonce and tag alone take ~355 bytes, so every text
 * up to ~155 ASCII characters gives a 512-byte ciphertext, up to ~665 a 1 KiB one, and so on. The
 * relay and anyone on the wire learn only a size class, at the cost of at most doubling a record;
 * a 30 KB text is still distinguishable from a chat line.
 *
 * The AAD binds the ciphertext to its group and epoch: a record copied into another group's log or
 * relabelled with another epoch fails to decrypt. The inner groupId/epoch/senderDeviceId are checked
 * as well, so a group member who encrypts a record meant for elsewhere under the right key is caught.
 * The per-sender counter (dropped records, replays) needs state and is the caller's: checkCounter. */
import * as z from 'zod';
import { DeviceId, Epoch, GroupId, UserId } from '@agora/protocol/api';
import { Name } from '@agora/protocol/names';
import { LIMITS } from '@agora/protocol/limits';
import { bytesEqual, concatBytes, fromB64u, fromUtf8, toB64u, utf8 } from '@agora/protocol/encoding';
import { platformRandom, type RandomSource } from '@agora/protocol/crypto/random';
import { FrameError, Reader, lp16, u32, u64 } from '@agora/protocol/crypto/bytes';
import { sign, verify } from '@agora/protocol/crypto/device-keys';
import { getSodium } from '@agora/protocol/crypto/sodium';

export const RECORD_VERSION = 1;
/** Text length in UTF-16 code units (String.length). The byte limit below can bind first for texts
 * dominated by characters that need escaping in JSON. */
export const MAX_TEXT_CHARS = 65_536;

const FRAME_VERSION = 1;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const SIGNATURE_BYTES = 64;
const FRAME_HEADER_BYTES = 1 + 4;
/** Bytes a record's ciphertext adds to its frame: nonce and Poly1305 tag. */
export const RECORD_OVERHEAD = NONCE_BYTES + TAG_BYTES;
const MIN_CIPHERTEXT_BYTES = 256;

const AAD_LABEL = utf8('agora-record-v1\n');
const SIGNATURE_LABEL = utf8('agora-record-sig-v1\n');

export const RecordId = z.string().regex(/^r_[A-Za-z0-9_-]{22}$/, 'must be a r_ id');
/** A secret group's description, set with its name. */
export const MAX_DESCRIPTION_CHARS = 2_000;

const TextBody = z.strictObject({ text: z.string().max(MAX_TEXT_CHARS) });
/** 'meta': a secret group's name (and description), encrypted to its members like any record so the
 * relay never learns it. The latest one an owner wrote is the group's name. */
const MetaBody = z.strictObject({ name: Name, description: z.string().max(MAX_DESCRIPTION_CHARS).optional() });
export type MetaBody = z.infer<typeof MetaBody>;

export const ContentRecordSchema = z.strictObject({
  v: z.literal(RECORD_VERSION),
  id: RecordId,
  groupId: GroupId,
  epoch: Epoch,
  senderUserId: UserId,
  senderDeviceId: DeviceId,
  /** Per (sender device, group), from 1, never reused, continuing across epochs. */
  counter: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  sentAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  type: z.enum(['text', 'meta']),
  body: z.union([TextBody, MetaBody]),
  /** The sender's latest verified key-transparency checkpoint (a signed note), so members compare
   * their views of the log inside the encryption, where the relay cannot strip or change it. */
  kt: z.string().max(8_192).optional(),
}).superRefine((r, ctx) => {
  // The type says how to read the body; a body of the other shape is malformed.
  if (!(r.type === 'text' ? TextBody : MetaBody).safeParse(r.body).success) {
    ctx.addIssue({ code: 'custom', path: ['body'], message: `not a ${r.type} body` });
  }
});
export type ContentRecord = z.infer<typeof ContentRecordSchema>;

export type RecordRejection =
  | 'decrypt_failed'
  | 'malformed'
  | 'bad_signature'
  | 'wrong_group'
  | 'wrong_epoch'
  | 'wrong_sender'
  | 'unsupported_version';

/** Why a record was refused. The message names the reason (and for `malformed` which field), never
 * any content. */
export class RecordRejected extends Error {
  override readonly name = 'RecordRejected';
  readonly reason: RecordRejection;
  constructor(reason: RecordRejection, detail?: string) {
    super(detail ? `record rejected: ${reason} (${detail})` : `record rejected: ${reason}`);
    this.reason = reason;
  }
}

/** The signed form of a record: JSON with a fixed key order. Built field by field so that neither
 * property insertion order nor extra properties on the input can change the bytes. */
export function canonicalRecordBytes(record: ContentRecord): Uint8Array {
  return utf8(
    JSON.stringify({
      v: record.v,
      id: record.id,
      groupId: record.groupId,
      epoch: record.epoch,
      senderUserId: record.senderUserId,
      senderDeviceId: record.senderDeviceId,
      counter: record.counter,
      sentAt: record.sentAt,
      type: record.type,
      body: canonicalBody(record.body),
      ...(record.kt === undefined ? {} : { kt: record.kt }),
    }),
  );
}

function canonicalBody(body: ContentRecord['body']): Record<string, string> {
  if ('text' in body) return { text: body.text };
  return body.description === undefined ? { name: body.name } : { name: body.name, description: body.description };
}

export function recordAad(groupId: string, epoch: number): Uint8Array {
  return concatBytes(AAD_LABEL, lp16(utf8(groupId)), u64(epoch));
}

export async function recordSignatureMessage(input: {
  groupId: string;
  epoch: number;
  recordId: string;
  recordBytes: Uint8Array;
}): Promise<Uint8Array> {
  const sodium = await getSodium();
  return concatBytes(
    SIGNATURE_LABEL,
    lp16(utf8(input.groupId)),
    u64(input.epoch),
    lp16(utf8(input.recordId)),
    sodium.crypto_hash_sha256(input.recordBytes),
  );
}

/** The ciphertext size (nonce and tag included) for a frame of `frameBytes`, or undefined when it
 * exceeds LIMITS.recordBytes. */
export function recordCiphertextBytes(frameBytes: number): number | undefined {
  const needed = frameBytes + RECORD_OVERHEAD;
  if (needed > LIMITS.recordBytes) return undefined;
  let size = MIN_CIPHERTEXT_BYTES;
  while (size < needed) size *= 2;
  return Math.min(size, LIMITS.recordBytes);
}

function checkKey(key: Uint8Array): void {
  if (key.length !== 32) throw new RangeError('a content key is 32 bytes');
}

/** @internal Frames, pads and encrypts already-signed record bytes without checking them. It is
 * sealRecord's last step, exported so tests can play a misbehaving group member; not in index.ts. */
export async function encryptRecordFrame(input: {
  recordBytes: Uint8Array;
  signature: Uint8Array;
  key: Uint8Array;
  groupId: string;
  epoch: number;
  frameVersion?: number;
  /** Draws the nonce; the platform's CSPRNG unless the caller injects its own. */
  random?: RandomSource;
}): Promise<string> {
  checkKey(input.key);
  const { recordBytes, signature } = input;
  const frameBytes = FRAME_HEADER_BYTES + recordBytes.length + signature.length;
  const total = recordCiphertextBytes(frameBytes);
  if (total === undefined) throw new RecordRejected('malformed', `record exceeds ${LIMITS.recordBytes} bytes`);
  const frame = new Uint8Array(total - RECORD_OVERHEAD); // zero-filled: the padding
  frame[0] = input.frameVersion ?? FRAME_VERSION;
  frame.set(u32(recordBytes.length), 1);
  frame.set(recordBytes, FRAME_HEADER_BYTES);
  frame.set(signature, FRAME_HEADER_BYTES + recordBytes.length);
  const sodium = await getSodium();
  const nonce = (input.random ?? platformRandom)(NONCE_BYTES);
  const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(frame, recordAad(input.groupId, input.epoch), null, nonce, input.key);
  return toB64u(concatBytes(nonce, sealed));
}

/** Signs the record with the author device's seed and encrypts it under `key`. Refuses (with
 * RecordRejected 'malformed') a record that a reader would refuse: schema violations or oversize. */
export async function sealRecord(input: { record: ContentRecord; key: Uint8Array; signSeed: Uint8Array; random?: RandomSource }): Promise<string> {
  checkKey(input.key);
  const parsed = ContentRecordSchema.safeParse(input.record);
  if (!parsed.success) throw new RecordRejected('malformed', `invalid ${issuePaths(parsed.error)}`);
  const record = parsed.data;
  const recordBytes = canonicalRecordBytes(record);
  const message = await recordSignatureMessage({ groupId: record.groupId, epoch: record.epoch, recordId: record.id, recordBytes });
  const signature = await sign(input.signSeed, message);
  return encryptRecordFrame({ recordBytes, signature, key: input.key, groupId: record.groupId, epoch: record.epoch, random: input.random });
}

/** Opens a record read from a group log; `senderDeviceId` is the relay-authenticated sender of the
 * log entry, `senderSignPub` its directory key. Throws RecordRejected. The caller still checks that
 * record.senderUserId owns that device, and the counter with checkCounter. */
export async function openRecord(input: {
  ciphertext: string;
  key: Uint8Array;
  groupId: string;
  epoch: number;
  senderDeviceId: string;
  senderSignPub: Uint8Array;
}): Promise<ContentRecord> {
  checkKey(input.key);
  let sealed: Uint8Array;
  try {
    sealed = fromB64u(input.ciphertext);
  } catch {
    throw new RecordRejected('malformed', 'ciphertext is not base64url');
  }
  if (sealed.length < RECORD_OVERHEAD + FRAME_HEADER_BYTES + SIGNATURE_BYTES || sealed.length > LIMITS.recordBytes) {
    throw new RecordRejected('malformed', 'ciphertext length out of range');
  }
  const sodium = await getSodium();
  let frame: Uint8Array;
  try {
    frame = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      sealed.subarray(NONCE_BYTES),
      recordAad(input.groupId, input.epoch),
      sealed.subarray(0, NONCE_BYTES),
      input.key,
    );
  } catch {
    throw new RecordRejected('decrypt_failed');
  }

  const { recordBytes, signature } = parseFrame(frame);
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(recordBytes));
  } catch {
    throw new RecordRejected('malformed', 'record is not UTF-8 JSON');
  }
  if (typeof json === 'object' && json !== null && 'v' in json && json.v !== RECORD_VERSION) {
    throw new RecordRejected('unsupported_version', 'record version');
  }
  const parsed = ContentRecordSchema.safeParse(json);
  if (!parsed.success) throw new RecordRejected('malformed', `invalid ${issuePaths(parsed.error)}`);
  const record = parsed.data;
  if (!bytesEqual(canonicalRecordBytes(record), recordBytes)) throw new RecordRejected('malformed', 'record is not canonical');

  if (record.groupId !== input.groupId) throw new RecordRejected('wrong_group');
  if (record.epoch !== input.epoch) throw new RecordRejected('wrong_epoch');
  if (record.senderDeviceId !== input.senderDeviceId) throw new RecordRejected('wrong_sender');

  const message = await recordSignatureMessage({ groupId: record.groupId, epoch: record.epoch, recordId: record.id, recordBytes });
  if (!(await verify(input.senderSignPub, message, signature))) throw new RecordRejected('bad_signature');
  return record;
}

function parseFrame(frame: Uint8Array): { recordBytes: Uint8Array; signature: Uint8Array } {
  try {
    const reader = new Reader(frame);
    if (reader.u8() !== FRAME_VERSION) throw new RecordRejected('unsupported_version', 'frame version');
    const recordBytes = reader.take(reader.u32());
    const signature = reader.take(SIGNATURE_BYTES);
    // Non-zero padding would be a covert channel a reader cannot see; refuse it.
    if (reader.rest().some((b) => b !== 0)) throw new RecordRejected('malformed', 'non-zero padding');
    return { recordBytes, signature };
  } catch (e) {
    if (e instanceof FrameError) throw new RecordRejected('malformed', 'frame truncated');
    throw e;
  }
}

function issuePaths(error: z.ZodError): string {
  // Field paths only: a zod message may quote the offending value, which can be plaintext.
  return [...new Set(error.issues.map((i) => i.path.join('.') || 'record'))].join(', ');
}

/** Classifies a sender's record counter against the last one accepted from that device in this group.
 * Pass `last` undefined when nothing is known (e.g. the reader joined after the sender started): any
 * counter is then 'ok'. Pass 0 when the reader has the group's whole log, so that a missing first
 * record also shows as a gap. 'replay' covers duplicates and reordering. */
export function checkCounter(last: number | undefined, counter: number): 'ok' | 'gap' | 'replay' {
  if (!Number.isSafeInteger(counter) || counter < 1) throw new RangeError('a record counter is a positive integer');
  if (last === undefined) return 'ok';
  if (counter <= last) return 'replay';
  return counter === last + 1 ? 'ok' : 'gap';
}
