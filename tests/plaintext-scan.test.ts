/** What the relay holds and what it tells outsiders: after a realistic exchange, neither the relay's
 * whole data directory (database, WAL, every file) nor any HTTP response to a non-member contains
 * a byte of the plaintext sent in a secret group. */
import { readFile, stat } from 'node:fs/promises';
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps, nodeFetch } from '@agora/client-sdk/node';
import { filesUnder, startWorld, PASSPHRASE, tempDir, type World } from './helpers.js';

const MARKERS = ['Geheimsache Kanalsanierung 4711', 'Personalakte Mustermann vertraulich', 'Zugangscode Tor 3: 8842'];

function forms(text: string): Buffer[] {
  const b = Buffer.from(text, 'utf8');
  return [b, Buffer.from(text, 'utf16le'), Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url')), Buffer.from(b.toString('hex'))];
}

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world.close();
});

test('no plaintext in the data directory or in any response to a non-member', async () => {
  const admin = (await world.register(world.adminInvite, 'Admin')).client;
  const alice = (await world.register((await admin.createInvite({ name: 'Alice' })).code)).client;
  const bob = (await world.register((await admin.createInvite({ name: 'Bob' })).code)).client;
  const outsiderInvite = (await admin.createInvite({ name: 'Outsider' })).code;

  const g = await alice.createGroup({ name: 'Tiefbau', kind: 'secret' });
  await alice.addMembers(g.id, ['Bob']);
  for (const m of MARKERS) await alice.send(g.id, m);
  await bob.send(g.id, MARKERS[0] + ' (reply)');
  expect((await bob.read(g.id)).messages.map((m) => m.text)).toEqual([...MARKERS, MARKERS[0] + ' (reply)']);

  // A non-member who records every response body it receives.
  const bodies: string[] = [];
  const recording: typeof nodeFetch = async (url, init) => {
    const res = await nodeFetch(url, init);
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, text: async () => text };
  };
  const outsiderDir = await tempDir('outsider');
  const deps = { ...nodeDeps({ profileDir: outsiderDir, passphrase: PASSPHRASE }), fetch: recording };
  const outsider = await AgoraClient.register(deps, { server: world.url, invite: outsiderInvite });
  await outsider.sync();
  await outsider.listGroups();
  await expect(outsider.read(g.id)).rejects.toThrow();
  await expect(outsider.send(g.id, 'let me in')).rejects.toThrow();
  const raw = await recording(`${world.url}/v1/groups/${g.id}/log?after=0`, { method: 'GET', headers: { authorization: `Bearer ${(await import('@agora/client-sdk')).toB64u(new Uint8Array(8))}` } });
  expect(raw.status).toBe(401);
  expect(bodies.length).toBeGreaterThan(5);

  const needles = MARKERS.flatMap(forms);
  for (const body of bodies) for (const n of needles) expect(body.includes(n.toString('latin1'))).toBe(false);

  const files = await filesUnder(world.dataDir);
  expect(files.some((f) => f.endsWith('.sqlite'))).toBe(true);
  let scanned = 0;
  for (const f of files) {
    if (!(await stat(f)).isFile()) continue;
    const content = await readFile(f);
    scanned += content.length;
    for (const n of needles) expect(content.includes(n)).toBe(false);
  }
  expect(scanned).toBeGreaterThan(10_000);
});
