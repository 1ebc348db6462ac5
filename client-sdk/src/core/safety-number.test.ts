import { fingerprint } from '@agora/protocol/kt/audit';
import { toB64u } from '@agora/protocol/encoding';
import { loggedSigningKeys, matchesSafetyDigits, matchesSafetyQr, safetyNumber, SAFETY_NUMBER_VERSION } from './safety-number.js';

const key = (fill: number, len = 32) => new Uint8Array(len).fill(fill);
const anna = { userId: 'u_anna', keys: [key(1), key(2)] };
const ben = { userId: 'u_ben', keys: [key(3)] };

describe('safetyNumber', () => {
  const sn = safetyNumber(anna, ben);

  it('is 60 digits in 12 groups of 5', () => {
    expect(sn.digits).toMatch(/^\d{60}$/);
    expect(sn.groups).toHaveLength(12);
    expect(sn.groups.every((g) => /^\d{5}$/.test(g))).toBe(true);
    expect(sn.groups.join('')).toBe(sn.digits);
  });

  it('is the same for both people, whoever computes it', () => {
    expect(safetyNumber(ben, anna)).toEqual(sn);
  });

  it('does not depend on the order or repetition of a person\'s keys', () => {
    expect(safetyNumber({ userId: 'u_anna', keys: [key(2), key(1), key(2)] }, ben).digits).toBe(sn.digits);
  });

  it('changes when a key is substituted, added or removed, and only in that person\'s half', () => {
    const substituted = safetyNumber(anna, { userId: 'u_ben', keys: [key(4)] });
    expect(substituted.digits).not.toBe(sn.digits);
    // u_anna sorts first: her half stays, Ben's changes
    expect(substituted.digits.slice(0, 30)).toBe(sn.digits.slice(0, 30));
    expect(substituted.digits.slice(30)).not.toBe(sn.digits.slice(30));
    expect(safetyNumber({ userId: 'u_anna', keys: [key(1)] }, ben).digits.slice(0, 30)).not.toBe(sn.digits.slice(0, 30));
    expect(safetyNumber({ userId: 'u_anna', keys: [key(1), key(2), key(5)] }, ben).digits).not.toBe(sn.digits);
  });

  it('binds each half to the person: the same keys under another user id give another number', () => {
    expect(safetyNumber({ userId: 'u_anne', keys: anna.keys }, ben).digits).not.toBe(sn.digits);
  });

  it('does not let key boundaries shift: [ab] and [a, b] differ', () => {
    const joined = safetyNumber({ userId: 'u_anna', keys: [new Uint8Array([...key(1), ...key(2)])] }, ben);
    expect(joined.digits).not.toBe(sn.digits);
  });

  it('is stable across releases (frozen value)', () => {
    expect(SAFETY_NUMBER_VERSION).toBe(1);
    expect(sn.digits).toMatchSnapshot();
  });

  it('refuses a person without keys and a number with oneself', () => {
    expect(() => safetyNumber(anna, { userId: 'u_ben', keys: [] })).toThrow(RangeError);
    expect(() => safetyNumber(anna, anna)).toThrow(RangeError);
  });
});

describe('comparing', () => {
  const sn = safetyNumber(anna, ben);

  it('matches its own QR payload only', () => {
    expect(matchesSafetyQr(sn.qr, sn)).toBe(true);
    expect(matchesSafetyQr(` ${sn.qr}\n`, sn)).toBe(true);
    expect(matchesSafetyQr(safetyNumber(anna, { userId: 'u_ben', keys: [key(4)] }).qr, sn)).toBe(false);
    expect(matchesSafetyQr(sn.digits, sn)).toBe(false);
    expect(matchesSafetyQr(sn.qr.replace(':1:', ':2:'), sn)).toBe(false);
  });

  it('matches typed digits with spaces or dashes, and nothing shorter', () => {
    expect(matchesSafetyDigits(sn.groups.join(' '), sn)).toBe(true);
    expect(matchesSafetyDigits(sn.groups.join('-'), sn)).toBe(true);
    expect(matchesSafetyDigits(sn.digits.slice(0, 59), sn)).toBe(false);
  });
});

describe('loggedSigningKeys', () => {
  const k1 = key(7);
  const k2 = key(8);
  async function logged() {
    return [
      { deviceId: 'd_1', fingerprint: await fingerprint(k1), active: true },
      { deviceId: 'd_2', fingerprint: await fingerprint(k2), active: true },
      { deviceId: 'd_old', fingerprint: 'ffffffffffffffff', active: false },
    ];
  }

  it('takes the directory keys the log fingerprints, for the active devices only', async () => {
    const served = [{ id: 'd_2', signPub: toB64u(k2) }, { id: 'd_1', signPub: toB64u(k1) }, { id: 'd_x', signPub: toB64u(key(9)) }];
    expect(await loggedSigningKeys(await logged(), served)).toEqual([k1, k2]);
  });

  it('gives nothing when the relay serves another key or none for a logged device', async () => {
    expect(await loggedSigningKeys(await logged(), [{ id: 'd_1', signPub: toB64u(k1) }, { id: 'd_2', signPub: toB64u(key(9)) }])).toBeUndefined();
    expect(await loggedSigningKeys(await logged(), [{ id: 'd_1', signPub: toB64u(k1) }])).toBeUndefined();
    expect(await loggedSigningKeys(await logged(), [{ id: 'd_1', signPub: '***' }, { id: 'd_2', signPub: toB64u(k2) }])).toBeUndefined();
    expect(await loggedSigningKeys([], [])).toBeUndefined();
  });
});
