/** Answers lost on the way back: the relay stored a commit or a record but the client never heard.
 * The client must neither wedge its group nor make its next message look like a replay. */
import { rm } from 'node:fs/promises';
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import { startWorld, tempDir, PASSPHRASE, type World } from './helpers.js';
import { startEvilRelay, type EvilRelay } from './kt/evil-relay.js';

let world: World;
let proxy: EvilRelay;
const dirs: string[] = [];
afterAll(async () => {
  await proxy.close();
  await world.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function join(admin: AgoraClient, name: string): Promise<AgoraClient> {
  const dir = await tempDir('resilience');
  dirs.push(dir);
  const { code } = await admin.createInvite({ name });
  return AgoraClient.register(nodeDeps({ profileDir: dir, passphrase: PASSPHRASE, addGraceMs: 0 }), { server: proxy.url, invite: code });
}

test('a lost commit answer is recovered from the log; a lost record answer leaves a gap, not a replay', async () => {
  world = await startWorld();
  proxy = await startEvilRelay(world.url);
  const admin = (await world.register(world.adminInvite, 'Admin')).client;
  const alice = await join(admin, 'Alice');
  const bob = await join(admin, 'Bob');
  const carol = await join(admin, 'Carol');
  const g = await alice.createGroup({ name: 'lossy', kind: 'secret' });
  await alice.addMembers(g.id, ['Bob']);

  // The relay takes Alice's commit adding Carol, and the answer is lost.
  proxy.set((ex) => (ex.method === 'POST' && ex.path.endsWith('/commits') ? { status: 502, body: { error: { code: 'internal', message: 'gateway' } } } : undefined));
  await expect(alice.addMembers(g.id, ['Carol'])).rejects.toBeTruthy();
  proxy.set(undefined);
  await alice.send(g.id, 'after the lost answer'); // Alice catches up with her own commit
  for (const c of [bob, carol]) expect((await c.read(g.id)).messages.map((m) => m.text)).toEqual(['after the lost answer']);

  // The relay takes a record, and the answer is lost: the next record is still accepted by readers.
  proxy.set((ex) => (ex.method === 'POST' && ex.path.endsWith('/records') ? { status: 502, body: { error: { code: 'internal', message: 'gateway' } } } : undefined));
  await expect(alice.send(g.id, 'answer lost')).rejects.toBeTruthy();
  proxy.set(undefined);
  await alice.send(g.id, 'next one');
  const read = await bob.read(g.id);
  expect(read.messages.map((m) => m.text)).toEqual(['after the lost answer', 'answer lost', 'next one']);
  expect(read.warnings.filter((w) => w.includes('refused'))).toEqual([]);
});
