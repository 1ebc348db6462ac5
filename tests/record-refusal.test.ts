/** A record sealed under an old epoch is refused with 409 stale_epoch; when its sender said where it
 * stands in the log (`after`), the refusal carries the entries after that position so the sender
 * catches up without reading the log. Those entries are exactly what a log read would give that
 * device: never anything from before its person joined the group. */
import { RelayHttp } from '@agora/client-sdk';
import { nodeFetch } from '@agora/client-sdk/node';
import type { AgoraError } from '../client-sdk/src/core/errors.js';
import { profileState, startWorld, type World } from './helpers.js';

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world.close();
});

test('the refusal carries the entries after the sender\'s position, from its person\'s join point at the earliest', async () => {
  const admin = await world.register(world.adminInvite, 'Admin');
  const alice = await world.register((await admin.client.createInvite({ name: 'Alice' })).code);
  const bob = await world.register((await admin.client.createInvite({ name: 'Bob' })).code);
  await admin.client.sync();
  const g = (await admin.client.createGroup({ name: 'Werkstatt', kind: 'secret' })).id;
  await admin.client.addMembers(g, ['Alice']);
  await admin.client.send(g, 'before Bob');
  await admin.client.addMembers(g, ['Bob']);
  await admin.client.send(g, 'after Bob');
  await bob.client.sync();
  await admin.client.updateGroup(g);

  const refusal = async (who: { profileDir: string }, after: number): Promise<AgoraError> => {
    const state = await profileState(who.profileDir);
    const http = new RelayHttp(world.url, nodeFetch, async () => state.token!.value);
    const log = await http.log(g, 0);
    const stale = log.entries.filter((e) => e.kind === 'commit').at(-2)!.epoch;
    const e = await http.appendRecord(g, { epoch: stale, ciphertext: 'AAAA', after }).catch((x: unknown) => x as AgoraError);
    expect(e).toMatchObject({ code: 'stale_epoch', details: { status: 409 } });
    return e as AgoraError;
  };
  const full = (await new RelayHttp(world.url, nodeFetch, async () => (await profileState(alice.profileDir)).token!.value).log(g, 0)).entries;
  const joinOfBob = full.find((e) => e.kind === 'commit' && e.added?.some((d) => d === (bob.client.me.deviceId)))!.seq;

  // Alice, a member from early on, gets everything after the position she names.
  expect((await refusal(alice, 0)).details.entries).toEqual(full);
  expect((await refusal(alice, joinOfBob)).details.entries).toEqual(full.filter((e) => e.seq > joinOfBob));
  // Bob names position 0, but gets nothing from before the commit that added him.
  const forBob = (await refusal(bob, 0)).details.entries as { seq: number }[];
  expect(forBob[0].seq).toBe(joinOfBob);
  expect(forBob.map((e) => e.seq)).toEqual(full.filter((e) => e.seq >= joinOfBob).map((e) => e.seq));
  // Without a position, the refusal names the epoch only.
  const state = await profileState(alice.profileDir);
  const http = new RelayHttp(world.url, nodeFetch, async () => state.token!.value);
  const plain = await http.appendRecord(g, { epoch: 0, ciphertext: 'AAAA' }).catch((x: unknown) => x as AgoraError);
  expect(plain).toMatchObject({ code: 'stale_epoch' });
  expect((plain as AgoraError).details.entries).toBeUndefined();
});
