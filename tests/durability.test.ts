/** The relay as its own process: a restart keeps groups and history, and a `kill -9` in the middle of
 * a stream of sends loses no message the relay acknowledged. */
import { rm } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import { PASSPHRASE, spawnRelay, tempDir } from './helpers.js';

const dirs: string[] = [];
async function dir(prefix: string) {
  const d = await tempDir(prefix);
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function register(url: string, invite: string, name?: string) {
  return AgoraClient.register(nodeDeps({ profileDir: await dir('p'), passphrase: PASSPHRASE, addGraceMs: 0 }), { server: url, invite, name });
}

async function stop(child: import('node:child_process').ChildProcess, signal: NodeJS.Signals) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

test('restart keeps groups and history; kill -9 loses no acknowledged message', async () => {
  const dataDir = await dir('relay');
  let relay = await spawnRelay(dataDir);
  const port = relay.port;
  const invite = (await readFile(path.join(dataDir, 'admin-invite.txt'), 'utf8')).trim();
  expect(relay.stdout()).toContain(invite);
  const admin = await register(relay.url, invite, 'Admin');
  const alice = await register(relay.url, (await admin.createInvite({ name: 'Alice' })).code);
  const bob = await register(relay.url, (await admin.createInvite({ name: 'Bob' })).code);
  const g = await alice.createGroup({ name: 'Depot', kind: 'secret' });
  await alice.addMembers(g.id, ['Bob']);
  await alice.send(g.id, 'before restart');

  // Graceful restart on the same port: the clients' saved server URL stays valid.
  await stop(relay.child, 'SIGTERM');
  relay = await spawnRelay(dataDir, port);
  expect(relay.stdout()).not.toContain(invite); // the bootstrap invite is printed once only
  expect((await bob.read(g.id)).messages.map((m) => m.text)).toEqual(['before restart']);
  await bob.send(g.id, 'after restart');
  expect((await alice.read(g.id)).messages.map((m) => m.text)).toEqual(['before restart', 'after restart']);

  // A stream of sends, and kill -9 while it runs.
  const acked: string[] = [];
  let failed = 0;
  const sender = (async () => {
    for (let i = 0; i < 400; i++) {
      const text = `burst ${i}`;
      try {
        await alice.send(g.id, text);
        acked.push(text);
      } catch {
        failed++;
        break;
      }
    }
  })();
  while (acked.length < 15) await new Promise((r) => setTimeout(r, 20));
  relay.child.kill('SIGKILL');
  await sender;
  expect(failed).toBe(1);
  relay = await spawnRelay(dataDir, port);
  const after = (await bob.read(g.id)).messages.map((m) => m.text);
  for (const text of acked) expect(after).toContain(text);
  // Nothing is duplicated or reordered either.
  const bursts = after.filter((t) => t.startsWith('burst '));
  expect(bursts).toEqual([...bursts].sort((a, b) => Number(a.slice(6)) - Number(b.slice(6))));
  await stop(relay.child, 'SIGTERM');
}, 120_000);
