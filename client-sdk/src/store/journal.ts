/** The Node file backend's on-disk format, kept free of Node so it can be tested and reused on its
 * own: an append-only journal of frames, one per committed transaction.
 *
 *   frame   = "AGJ1" | u32 payload length | payload | 16-byte BLAKE2b(length | payload)
 *   payload = u32 op count | op*
 *   op      = u8 1 (put) | lp16 store | lp16 tag | u64 position | u32 value length | value
 *           | u8 2 (delete) | lp16 store | lp16 tag | u64 position
 *
 * A commit is durable once its frame is appended and fsynced. A crash mid-append leaves a torn last
 * frame, which fails its length or checksum and is dropped when the journal is read back, so a
 * transaction is either wholly in the journal or not at all. A bad frame with good frames after
 * it is not a crash (appends only ever tear the end) and is reported as damage. */
import { lp16, readU64, Reader, u32, u64, u8 } from '@agora/protocol/crypto/bytes';
import type { Sodium } from '@agora/protocol/crypto/sodium';
import { bytesEqual, concatBytes, fromUtf8, utf8 } from '@agora/protocol/encoding';
import type { RawOp } from './types.js';

const MAGIC = utf8('AGJ1');
const HASH_BYTES = 16;
const HEAD_BYTES = MAGIC.length + 4;
/** One frame holds one transaction; a bound keeps a damaged length from allocating gigabytes. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export class JournalCorrupt extends Error {
  override readonly name = 'JournalCorrupt';
}

function frameHash(sodium: Sodium, length: Uint8Array, payload: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(HASH_BYTES, concatBytes(length, payload), null);
}

export function encodeFrame(sodium: Sodium, ops: readonly RawOp[]): Uint8Array {
  const parts: Uint8Array[] = [u32(ops.length)];
  for (const op of ops) {
    parts.push(u8(op.kind === 'put' ? 1 : 2), lp16(utf8(op.store)), lp16(utf8(op.tag)), u64(op.index));
    if (op.kind === 'put') parts.push(u32(op.value.length), op.value);
  }
  const payload = concatBytes(...parts);
  if (payload.length > MAX_FRAME_BYTES) throw new RangeError('a transaction is too large for one journal frame');
  const length = u32(payload.length);
  return concatBytes(MAGIC, length, payload, frameHash(sodium, length, payload));
}

function decodePayload(payload: Uint8Array): RawOp[] {
  const reader = new Reader(payload);
  const count = reader.u32();
  const ops: RawOp[] = [];
  for (let i = 0; i < count; i++) {
    const kind = reader.u8();
    const store = fromUtf8(reader.lp16());
    const tag = fromUtf8(reader.lp16());
    const index = readU64(reader);
    if (kind === 1) ops.push({ kind: 'put', store, tag, index, value: reader.take(reader.u32()).slice() });
    else if (kind === 2) ops.push({ kind: 'delete', store, tag, index });
    else throw new JournalCorrupt('unknown journal op');
  }
  if (reader.remaining !== 0) throw new JournalCorrupt('trailing bytes in a journal frame');
  return ops;
}

export interface JournalReadResult {
  /** The committed transactions, in order. */
  frames: RawOp[][];
  /** Bytes of whole frames; anything after this is a torn last write to cut off. */
  validLength: number;
}

export function readJournal(sodium: Sodium, bytes: Uint8Array): JournalReadResult {
  const frames: RawOp[][] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const rest = bytes.length - offset;
    const torn = (): JournalReadResult => ({ frames, validLength: offset });
    if (rest < HEAD_BYTES) return torn();
    if (!bytesEqual(bytes.subarray(offset, offset + MAGIC.length), MAGIC)) {
      // A torn append can leave the start of a frame, never a wrong magic before a good frame.
      throw new JournalCorrupt(`bad frame marker at byte ${offset}`);
    }
    const lengthBytes = bytes.subarray(offset + MAGIC.length, HEAD_BYTES + offset);
    const length = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 4).getUint32(0);
    const end = offset + HEAD_BYTES + length + HASH_BYTES;
    if (length > MAX_FRAME_BYTES || end > bytes.length) return torn();
    const payload = bytes.subarray(offset + HEAD_BYTES, offset + HEAD_BYTES + length);
    if (!bytesEqual(frameHash(sodium, lengthBytes, payload), bytes.subarray(end - HASH_BYTES, end))) {
      if (end === bytes.length) return torn();
      throw new JournalCorrupt(`bad checksum in the frame at byte ${offset}`);
    }
    try {
      frames.push(decodePayload(payload));
    } catch (error) {
      throw error instanceof JournalCorrupt ? error : new JournalCorrupt(`unreadable frame at byte ${offset}`);
    }
    offset = end;
  }
  return { frames, validLength: offset };
}
