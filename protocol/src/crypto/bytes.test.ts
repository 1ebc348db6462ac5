import { describe, expect, it } from '@jest/globals';
import { FrameError, Reader, lp16, readU64, u16, u32, u64, u8 } from './bytes.js';

describe('frame integers', () => {
  it('encodes big-endian and refuses values that do not fit', () => {
    expect(u8(255)).toEqual(Uint8Array.of(255));
    expect(u16(0x1234)).toEqual(Uint8Array.of(0x12, 0x34));
    expect(u32(0xdeadbeef)).toEqual(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    expect(u64(2 ** 32 + 5)).toEqual(Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 5));
    expect(u64(Number.MAX_SAFE_INTEGER)).toEqual(Uint8Array.of(0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    expect(() => u8(256)).toThrow(RangeError);
    expect(() => u16(-1)).toThrow(RangeError);
    expect(() => u32(2 ** 32)).toThrow(RangeError);
    expect(() => u64(2 ** 53)).toThrow(RangeError);
    expect(() => u64(1.5)).toThrow(RangeError);
  });

  it('reads back what was written and throws FrameError past the end', () => {
    const r = new Reader(Uint8Array.of(7, 0, 2, 0xaa, 0xbb, ...u64(2 ** 40 + 3), 0, 0, 0, 9));
    expect(r.u8()).toBe(7);
    expect(r.lp16()).toEqual(Uint8Array.of(0xaa, 0xbb));
    expect(readU64(r)).toBe(2 ** 40 + 3);
    expect(r.u32()).toBe(9);
    expect(r.remaining).toBe(0);
    expect(() => r.u8()).toThrow(FrameError);
    expect(() => new Reader(lp16(Uint8Array.of(1, 2)).subarray(0, 3)).lp16()).toThrow(FrameError);
    expect(() => readU64(new Reader(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0)))).toThrow(FrameError);
  });
});
