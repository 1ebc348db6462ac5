import { describe, expect, it } from '@jest/globals';
import { getSodium } from './sodium.js';

describe('getSodium', () => {
  it('loads libsodium once and hands out the same instance', async () => {
    const [a, b] = await Promise.all([getSodium(), getSodium()]);
    expect(a).toBe(b);
    expect(a).toBe(await getSodium());
    expect(typeof a.crypto_pwhash).toBe('function'); // the sumo build
  });
});
