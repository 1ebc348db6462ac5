/** Fixed-width integers and length-prefixed fields for the binary frames this folder signs and
 * encrypts. Length prefixes make every concatenation unambiguous, so two different field tuples
 * can never produce the same signed bytes. */
import { concatBytes } from '../encoding.js';

export function u8(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError('u8 out of range');
  return Uint8Array.of(n);
}

export function u16(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError('u16 out of range');
  return Uint8Array.of(n >>> 8, n & 0xff);
}

export function u32(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError('u32 out of range');
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** Epochs and generations are JSON numbers, so they never exceed 2^53 - 1. */
export function u64(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('u64 out of range');
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(n / 0x1_0000_0000));
  view.setUint32(4, n >>> 0);
  return out;
}

/** A field of at most 65,535 bytes with its length in front. */
export function lp16(bytes: Uint8Array): Uint8Array {
  return concatBytes(u16(bytes.length), bytes);
}

/** Reads the frames written with the helpers above; every read past the end throws FrameError. */
export class FrameError extends Error {}

export class Reader {
  private offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  take(n: number): Uint8Array {
    if (n < 0 || n > this.remaining) throw new FrameError('frame truncated');
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  u8(): number {
    return this.take(1)[0];
  }

  u16(): number {
    const b = this.take(2);
    return (b[0] << 8) | b[1];
  }

  u32(): number {
    const b = this.take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  lp16(): Uint8Array {
    return this.take(this.u16());
  }

  rest(): Uint8Array {
    return this.take(this.remaining);
  }
}

export function readU64(reader: Reader): number {
  const high = reader.u32();
  const low = reader.u32();
  const n = high * 0x1_0000_0000 + low;
  if (!Number.isSafeInteger(n)) throw new FrameError('u64 beyond 2^53');
  return n;
}
