/** A device whose profile is the single encrypted file of earlier releases keeps working after the
 * update: the first open imports it into the keyed store, and the device reads its history and
 * sends as before. */
import { readdir, rm } from 'node:fs/promises';
import { EncryptedProfile } from '@agora/client-sdk';
import { FileBlobStore, LEGACY_PROFILE_FILE, MIGRATED_PROFILE_FILE } from '@agora/client-sdk/node';
import { PASSPHRASE, profileState, startWorld, tempDir, type World } from './helpers.js';

let world: World;
let legacyDir: string;
afterAll(async () => {
  await world.close();
  await rm(legacyDir, { recursive: true, force: true });
});

test('a profile written in the single-file format opens, reads its messages and sends', async () => {
  world = await startWorld();
  const admin = (await world.register(world.adminInvite, 'IT')).client;
  const aliceReg = await world.register((await admin.createInvite({ name: 'Alice' })).code);
  const bob = (await world.register((await admin.createInvite({ name: 'Bob' })).code)).client;
  const g = await aliceReg.client.createGroup({ name: 'Station 3', kind: 'secret' });
  await aliceReg.client.addMembers(g.id, ['Bob']);
  await aliceReg.client.send(g.id, 'eins');
  await bob.send(g.id, 'zwei');
  expect((await aliceReg.client.read(g.id)).messages.map((m) => m.text)).toEqual(['eins', 'zwei']);

  // Alice's device as the earlier release kept it: the same state, written by EncryptedProfile
  // into a directory of its own (the original directory is not used again).
  legacyDir = await tempDir('legacy-profile');
  await new EncryptedProfile(new FileBlobStore(legacyDir), PASSPHRASE).save(await profileState(aliceReg.profileDir));
  expect(await readdir(legacyDir)).toEqual([LEGACY_PROFILE_FILE]);

  const alice = await world.open(legacyDir);
  expect((await alice.read(g.id)).messages.map((m) => m.text)).toEqual(['eins', 'zwei']);
  const files = await readdir(legacyDir);
  expect(files).toEqual(expect.arrayContaining(['key-header', 'store.journal', MIGRATED_PROFILE_FILE]));
  expect(files).not.toContain(LEGACY_PROFILE_FILE);

  await alice.send(g.id, 'drei');
  expect((await bob.read(g.id)).messages.map((m) => m.text)).toEqual(['eins', 'zwei', 'drei']);
  await bob.send(g.id, 'vier');
  // A second process on the migrated directory sees everything.
  expect((await (await world.open(legacyDir)).read(g.id)).messages.map((m) => m.text)).toEqual(['eins', 'zwei', 'drei', 'vier']);
});
