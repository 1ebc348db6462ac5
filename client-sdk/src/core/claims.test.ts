import { describe, expect, it } from '@jest/globals';
import { checkClaimAnswer, ClaimMismatch } from './claims.js';

/** A package "belongs" to the device named in it: enough to test the matching rules. */
const check = async (kp: string, deviceId: string) => {
  if (kp !== `kp-of-${deviceId}`) throw new Error(`belongs to ${kp.slice(6)}`);
};
const kp = (deviceId: string, keyPackage = `kp-of-${deviceId}`) => ({ deviceId, keyPackage, lastResort: false });

describe('checkClaimAnswer', () => {
  it('accepts exactly the requested devices, in request order, with the missing ones apart', async () => {
    const out = await checkClaimAnswer(['d_b', 'd_a', 'd_c'], { keyPackages: [kp('d_a'), kp('d_b')], missing: ['d_c'] }, check);
    expect(out).toEqual({ packages: [{ deviceId: 'd_b', keyPackage: 'kp-of-d_b' }, { deviceId: 'd_a', keyPackage: 'kp-of-d_a' }], missing: ['d_c'] });
  });

  it.each([
    ['an extra device', { keyPackages: [kp('d_a'), kp('d_x')], missing: [] }, /d_x, which was not asked for/],
    ['an extra device declared missing', { keyPackages: [kp('d_a')], missing: ['d_x'] }, /d_x, which was not asked for/],
    ['a device left out', { keyPackages: [], missing: [] }, /left out device d_a/],
    ['a device twice', { keyPackages: [kp('d_a'), kp('d_a')], missing: [] }, /answered twice for device d_a/],
    ['a device both served and missing', { keyPackages: [kp('d_a')], missing: ['d_a'] }, /answered twice for device d_a/],
    ['another device\'s package', { keyPackages: [kp('d_a', 'kp-of-d_x')], missing: [] }, /served for device d_a is not that device's \(belongs to d_x\)/],
  ])('refuses %s', async (_what, answer, why) => {
    const err = await checkClaimAnswer(['d_a'], answer, check).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClaimMismatch);
    expect((err as Error).message).toMatch(why);
  });
});
