/** Public groups under organisation-key generations: a newcomer gets the keys from any colleague's
 * device and reads the full history; deactivating a person rotates the key, removes them from
 * secret groups and leaves them unable to open anything posted afterwards. */
import { AgoraError } from '@agora/client-sdk';
import { nodeProfile } from '@agora/client-sdk/node';
import { fromB64u } from '@agora/protocol';
import { derivePublicGroupKey } from '../client-sdk/src/crypto/orgkeys.js';
import { openRecord } from '../client-sdk/src/crypto/records.js';
import { openSqliteStore } from '../server/src/store/sqlite.js';
import { startWorld, PASSPHRASE, type World } from './helpers.js';

let world: World;
afterAll(async () => world.close());

test('newcomers read the whole public history; a deactivated person reads nothing new', async () => {
  world = await startWorld();
  const admin = (await world.register(world.adminInvite, 'IT')).client;
  const alice = (await world.register((await admin.createInvite({ name: 'Alice' })).code)).client;
  const bobReg = await world.register((await admin.createInvite({ name: 'Bob' })).code);
  const bob = bobReg.client;
  // The admin's device seals generation 1 to the devices registered since its last sync.
  await admin.sync();

  const news = await admin.createGroup({ name: 'Neuigkeiten', kind: 'public' });
  await admin.send('Neuigkeiten', 'Serverwartung am Samstag');
  await alice.send(news.id, 'Danke für die Info');
  expect((await bob.read('Neuigkeiten')).messages.map((m) => `${m.senderName}: ${m.text}`)).toEqual([
    'IT: Serverwartung am Samstag',
    'Alice: Danke für die Info',
  ]);

  // A newcomer cannot read until a colleague's device has sealed the organisation key for them...
  const carol = (await world.register((await admin.createInvite({ name: 'Carol' })).code)).client;
  await expect(carol.send(news.id, 'Hallo')).rejects.toMatchObject({ code: 'no_key' });
  // ...which any colleague's device does on its next sync; then the full history opens.
  await alice.sync();
  expect((await carol.read(news.id)).messages.map((m) => m.text)).toEqual(['Serverwartung am Samstag', 'Danke für die Info']);
  await carol.send(news.id, 'Hallo zusammen');

  // Bob is also in a secret group with Alice.
  const team = await alice.createGroup({ name: 'Team', kind: 'secret' });
  await alice.addMembers(team.id, ['Bob', 'Carol']);

  // Bob leaves the organisation.
  await admin.deactivate('Bob');
  await expect(bob.read(news.id)).rejects.toBeInstanceOf(AgoraError);
  await admin.send(news.id, 'nach Bobs Austritt');
  await alice.sync(); // removes Bob's device from the secret group
  expect((await alice.groupMembers(team.id)).map((m) => m.name).sort()).toEqual(['Alice', 'Carol']);
  await alice.send(team.id, 'ohne Bob');
  expect((await carol.read(team.id)).messages.map((m) => m.text)).toEqual(['ohne Bob']);

  // What Bob's device holds cannot open the post made after his deactivation.
  const bobState = await nodeProfile({ profileDir: bobReg.profileDir, passphrase: PASSPHRASE }).load();
  expect(Object.keys(bobState.orgKeys)).toEqual(['1']);
  const store = await openSqliteStore(world.dataDir);
  try {
    expect(await store.currentGeneration()).toBe(2);
    const bobDevice = bobState.deviceId;
    expect((await store.listEnvelopes(bobDevice)).map((e) => e.generation)).toEqual([1]);
    const last = (await store.readLog(news.id, 0, 100)).at(-1)!;
    expect(last.epoch).toBe(2);
    const adminDevice = admin.me.deviceId;
    const adminKey = fromB64u((await admin.directory()).devices.find((d) => d.id === adminDevice)!.signPub);
    await expect(
      openRecord({ ciphertext: last.payload, key: derivePublicGroupKey(fromB64u(bobState.orgKeys['1']), news.id), groupId: news.id, epoch: 2, senderDeviceId: adminDevice, senderSignPub: adminKey }),
    ).rejects.toThrow();
  } finally {
    await store.close();
  }
  // Everyone else reads it.
  for (const c of [alice, carol]) expect((await c.read(news.id)).messages.at(-1)?.text).toBe('nach Bobs Austritt');
});
