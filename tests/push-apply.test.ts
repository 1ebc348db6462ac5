/** A listening device applies the log entry a push carries, with no HTTP request, when it is the next
 * one of the group; pushes the (misbehaving) relay duplicates or reorders show each message once and
 * in order; a gap costs one read of that group's log; a forged pushed entry is refused and never
 * takes the place of the entry the log holds. Requests are counted at the client's fetch. */
import { rm } from 'node:fs/promises';
import { AgoraClient, type ClientDeps } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import { startWorld, tempDir as newDir, PASSPHRASE, type World, wsFactory } from './helpers.js';
import { startEvilRelay, type EvilRelay, type PushTamper } from './kt/evil-relay.js';

interface EntryPush {
  type: 'entry';
  groupId: string;
  entry: { seq: number; kind: string; epoch: number; sender: string; at: number; payload: string };
}
const isEntry = (p: unknown): p is EntryPush => (p as { type?: unknown }).type === 'entry';

let world: World;
let proxy: EvilRelay;
const dirs: string[] = [];
let requests: string[] = [];

function counted(profileDir: string): ClientDeps {
  const deps = nodeDeps({ profileDir, passphrase: PASSPHRASE, addGraceMs: 0, webSocket: wsFactory });
  return {
    ...deps,
    fetch: async (url, init) => {
      requests.push(`${init.method} ${new URL(url).pathname.replace(/\/(g|d|u)_[A-Za-z0-9_-]+/g, '/:id')}`);
      return deps.fetch(url, init);
    },
  };
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let admin: AgoraClient;
let alice: AgoraClient;
const shown: string[] = [];
let lastPush: EntryPush | undefined;
const ctl = new AbortController();
let listening: Promise<void>;

beforeAll(async () => {
  world = await startWorld();
  proxy = await startEvilRelay(world.url);
  const adminDir = await newDir('profile');
  const aliceDir = await newDir('profile');
  dirs.push(adminDir, aliceDir);
  admin = await AgoraClient.register(nodeDeps({ profileDir: adminDir, passphrase: PASSPHRASE, addGraceMs: 0, webSocket: wsFactory }), { server: world.url, invite: world.adminInvite, name: 'Admin' });
  const invite = await admin.createInvite({ name: 'Alice' });
  alice = await AgoraClient.register(counted(aliceDir), { server: proxy.url, invite: invite.code });
  await admin.sync();
  await admin.createGroup({ name: 'ops', kind: 'secret' });
  await admin.addMembers('ops', ['Alice']);
  await admin.send('ops', 'before listening');
  await alice.sync();
  await admin.sync();
  proxy.setPush((p) => {
    if (isEntry(p)) lastPush = p;
    return undefined;
  });
  requests = [];
  listening = alice.listen({ signal: ctl.signal, onMessage: (_g, _n, m) => shown.push(m.text) });
  // Connected and caught up: the catch-up on connect is the one sync.
  await until('the connect catch-up', () => requests.includes('GET /v1/sync'));
  await new Promise((r) => setTimeout(r, 500));
}, 60_000);

afterAll(async () => {
  ctl.abort();
  await listening;
  await proxy.close();
  await world.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Sets the relay's push rule; every entry push the real relay sends is remembered first. */
function onPush(rule: PushTamper): void {
  proxy.setPush((p) => {
    if (isEntry(p)) lastPush = p;
    return rule(p);
  });
}

beforeEach(() => onPush(() => undefined));

test('steady state: each pushed message is applied with no request', async () => {
  requests = [];
  shown.length = 0;
  const n = 5;
  for (let i = 1; i <= n; i++) await admin.send('ops', `steady ${i}`);
  await until(`${n} messages`, () => shown.length >= n);
  await new Promise((r) => setTimeout(r, 300));
  expect(shown).toEqual(Array.from({ length: n }, (_, i) => `steady ${i + 1}`));
  expect(requests).toEqual([]);
  console.log(`listening device, ${n} messages pushed: ${requests.length} HTTP requests`);
}, 30_000);

test('duplicate and out-of-order pushes show each message once, in order, with no request', async () => {
  requests = [];
  shown.length = 0;
  const held: EntryPush[] = [];
  // The relay holds three pushes back, then sends them as 2, 1, 1, 3, 2.
  onPush((p) => {
    if (!isEntry(p)) return undefined;
    held.push(p);
    if (held.length < 3) return [];
    const [a, b, c] = held;
    return [b, a, a, c, b];
  });
  for (const t of ['first', 'second', 'third']) await admin.send('ops', t);
  await until('three messages', () => shown.length >= 3);
  await new Promise((r) => setTimeout(r, 800)); // past the gap wait: nothing more may come
  expect(shown).toEqual(['first', 'second', 'third']);
  expect(requests).toEqual([]);
}, 30_000);

test('a gap is closed by exactly one read of that group\'s log', async () => {
  requests = [];
  shown.length = 0;
  let dropped = false;
  // The relay swallows one push: the next entry arrives past a gap.
  onPush((p) => {
    if (!isEntry(p)) return undefined;
    if (!dropped) {
      dropped = true;
      return [];
    }
    return undefined;
  });
  await admin.send('ops', 'lost push');
  await admin.send('ops', 'after the gap');
  await until('two messages', () => shown.length >= 2);
  await new Promise((r) => setTimeout(r, 800));
  expect(shown).toEqual(['lost push', 'after the gap']);
  // The entries read are proven against the newest checkpoint, as on every log read.
  expect(requests).toEqual(['GET /v1/groups/:id/log', 'GET /v1/kt/checkpoint']);

  // And the push stream after it is applied directly again.
  requests = [];
  await admin.send('ops', 'back to steady');
  await until('the next message', () => shown.length >= 3);
  expect(shown[2]).toBe('back to steady');
  expect(requests).toEqual([]);
}, 30_000);

test('a forged pushed entry is refused: the log read decides, and the real entry at its place is shown', async () => {
  const template = lastPush!;
  expect(template).toBeDefined();
  const next = template.entry.seq + 1;
  const payload = template.entry.payload;
  // Same sender, next seq, tampered ciphertext (the signature no longer verifies).
  const flipped = (payload[10] === 'A' ? 'B' : 'A');
  const badSignature: EntryPush = { ...template, entry: { ...template.entry, seq: next, payload: payload.slice(0, 10) + flipped + payload.slice(11) } };
  // A sender the key-transparency log has never shown this device.
  const unknownSender: EntryPush = { ...template, entry: { ...template.entry, seq: next, sender: template.entry.sender.slice(0, -4) + 'AAAA' } };
  for (const forged of [badSignature, unknownSender]) {
    requests = [];
    shown.length = 0;
    proxy.inject(forged);
    await until('the log read', () => requests.includes('GET /v1/groups/:id/log'));
    await new Promise((r) => setTimeout(r, 300));
    // The log holds nothing at that place yet: nothing to prove either.
    expect(requests).toEqual(['GET /v1/groups/:id/log']);
    expect(shown).toEqual([]);
  }
  requests = [];
  await admin.send('ops', 'the real one');
  await until('the real message', () => shown.length >= 1);
  expect(shown).toEqual(['the real one']);
  expect(lastPush!.entry.seq).toBe(next);
  expect(requests).toEqual([]);
}, 30_000);

test('pushes that arrive during a sync wait for it and are applied after it, in order', async () => {
  requests = [];
  shown.length = 0;
  // The relay holds the sync's answer until the three messages were pushed past it.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  proxy.set(async (ex) => {
    if (ex.path.startsWith('/v1/sync')) await held;
    return undefined;
  });
  try {
    // A `groups` push (a new public group) starts the one-request sync.
    await admin.createGroup({ name: 'news-during', kind: 'public' });
    await until('the sync', () => requests.includes('GET /v1/sync'));
    const from = lastPush!.entry.seq;
    for (const t of ['during 1', 'during 2', 'during 3']) await admin.send('ops', t);
    await until('the three pushes', () => lastPush!.entry.seq === from + 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(shown).toEqual([]);
    release();
    await until('three messages', () => shown.length >= 3);
    await new Promise((r) => setTimeout(r, 800));
  } finally {
    release();
    proxy.set(undefined);
  }
  expect(shown).toEqual(['during 1', 'during 2', 'during 3']);
  expect(requests).toEqual(['GET /v1/sync']);
}, 30_000);

test('pushes of entries a sync already read are dropped as duplicates', async () => {
  requests = [];
  shown.length = 0;
  const late: unknown[] = [];
  // The relay delays the entry pushes until after the sync that reads the same entries.
  onPush((p) => {
    if (!isEntry(p)) return undefined;
    late.push(p);
    return [];
  });
  for (const t of ['read by the sync 1', 'read by the sync 2']) await admin.send('ops', t);
  await until('both pushes held', () => late.length === 2);
  await admin.createGroup({ name: 'news-covered', kind: 'public' });
  await until('the sync', () => shown.length >= 2);
  for (const p of late) proxy.inject(p);
  await new Promise((r) => setTimeout(r, 800));
  expect(shown).toEqual(['read by the sync 1', 'read by the sync 2']);
  expect(requests).toEqual(['GET /v1/sync', 'GET /v1/groups/:id/log']);
}, 30_000);
