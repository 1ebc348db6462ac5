import { decodeWelcomeInfo, encodeWelcomeInfo, openOwners, ownerVerdict, sealOwners, type CommitFacts } from './roles.js';
import { utf8 } from '@agora/protocol/encoding';

const key = new Uint8Array(32).fill(7);
const G = 'g_AAAAAAAAAAAAAAAAAAAAAA';
const alice = 'u_aaaaaaaaaaaaaaaaaaaaaa';
const bob = 'u_bbbbbbbbbbbbbbbbbbbbbb';
const carol = 'u_cccccccccccccccccccccc';

function facts(over: Partial<CommitFacts>): CommitFacts {
  return {
    owners: [alice],
    committerUser: bob,
    added: [],
    removed: [],
    revoked: () => false,
    stated: [alice],
    peopleAfter: new Set([alice, bob, carol]),
    ...over,
  };
}

describe('owner set in a commit', () => {
  test('seals and opens under the epoch key, bound to the group', async () => {
    const sealed = await sealOwners([bob, alice, alice], key, G);
    expect(await openOwners(sealed, key, G)).toEqual([alice, bob]);
    await expect(openOwners(sealed, new Uint8Array(32).fill(8), G)).rejects.toThrow('does not open');
    await expect(openOwners(sealed, key, 'g_BBBBBBBBBBBBBBBBBBBBBB')).rejects.toThrow('does not open');
    expect(await openOwners(new Uint8Array(0), key, G)).toBeNull();
    await expect(openOwners(Uint8Array.of(9, 1, 2), key, G)).rejects.toThrow('unknown format');
  });
});

describe('the owner rule', () => {
  test('an owner adds and removes anyone and names owners among the members', () => {
    expect(ownerVerdict(facts({ committerUser: alice, added: [{ deviceId: 'd_x', userId: carol }], removed: ['d_b'] }))).toEqual({ ok: true, owners: [alice] });
    expect(ownerVerdict(facts({ committerUser: alice, stated: [alice, carol] }))).toEqual({ ok: true, owners: [alice, carol] });
    expect(ownerVerdict(facts({ committerUser: alice, stated: [alice, 'u_zzzzzzzzzzzzzzzzzzzzzz'] }))).toMatchObject({ ok: false, reason: expect.stringContaining('not in the group') });
    expect(ownerVerdict(facts({ owners: [alice, carol], committerUser: alice, stated: [alice] }))).toMatchObject({ ok: false, reason: expect.stringContaining('dropped') });
  });

  test('owners who left the group drop out of the set', () => {
    const out = ownerVerdict(facts({ owners: [alice, carol], committerUser: alice, removed: ['d_c'], stated: [alice], peopleAfter: new Set([alice, bob]) }));
    expect(out).toEqual({ ok: true, owners: [alice] });
  });

  test('any member: pure updates, own devices, revoked devices; nothing else', () => {
    expect(ownerVerdict(facts({}))).toEqual({ ok: true, owners: [alice] });
    expect(ownerVerdict(facts({ added: [{ deviceId: 'd_b2', userId: bob }] })).ok).toBe(true);
    expect(ownerVerdict(facts({ removed: ['d_gone'], revoked: (d) => d === 'd_gone' })).ok).toBe(true);
    expect(ownerVerdict(facts({ added: [{ deviceId: 'd_c1', userId: carol }] }))).toMatchObject({ ok: false, reason: 'only an owner may add other people' });
    expect(ownerVerdict(facts({ removed: ['d_c1'] }))).toMatchObject({ ok: false, reason: expect.stringContaining('only an owner may remove') });
    expect(ownerVerdict(facts({ stated: [alice, bob] }))).toMatchObject({ ok: false, reason: 'only an owner may name owners' });
    expect(ownerVerdict(facts({ stated: null }))).toMatchObject({ ok: false, reason: expect.stringContaining('no owner set') });
  });

  test('a group whose owners are unknown adopts the first set a commit states', () => {
    expect(ownerVerdict(facts({ owners: [], added: [{ deviceId: 'd_c1', userId: carol }], stated: [bob] }))).toEqual({ ok: true, owners: [bob] });
    expect(ownerVerdict(facts({ owners: [], stated: null }))).toEqual({ ok: true, owners: [] });
  });
});

describe('the group description in a Welcome', () => {
  test('round-trips owners, name and description; owners without a leaf drop out', () => {
    const data = encodeWelcomeInfo({ owners: [carol, alice, alice], name: 'Bauamt intern', description: 'nur Leitung' });
    expect(decodeWelcomeInfo(data, new Set([alice, bob, carol]))).toEqual({ owners: [alice, carol], name: 'Bauamt intern', description: 'nur Leitung' });
    expect(decodeWelcomeInfo(data, new Set([alice, bob]))).toEqual({ owners: [alice], name: 'Bauamt intern', description: 'nur Leitung' });
    expect(decodeWelcomeInfo(encodeWelcomeInfo({ owners: [] }), new Set([alice]))).toEqual({ owners: [] });
  });

  test('a malformed description is refused, not guessed at', () => {
    const people = new Set([alice]);
    expect(() => decodeWelcomeInfo(utf8('not json'), people)).toThrow(/not JSON/);
    expect(() => decodeWelcomeInfo(utf8(JSON.stringify({ v: 2, owners: [alice] })), people)).toThrow(/malformed/);
    expect(() => decodeWelcomeInfo(utf8(JSON.stringify({ v: 1, owners: ['alice'] })), people)).toThrow(/malformed/);
    expect(() => decodeWelcomeInfo(utf8(JSON.stringify({ v: 1, owners: [alice], name: 'A\u202eB' })), people)).toThrow(/malformed/);
    expect(() => decodeWelcomeInfo(utf8(JSON.stringify({ v: 1, owners: [alice], extra: 1 })), people)).toThrow(/malformed/);
  });
});
