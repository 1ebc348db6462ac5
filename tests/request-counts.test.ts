/** HTTP requests per operation, counted at the client's fetch: what a phone on mobile data pays
 * (each request 100–300 ms there). A steady client starts every operation from one GET /v1/sync and
 * reads a group's log only when the sync answer shows it moved. */
import { rm } from 'node:fs/promises';
import { AgoraClient, type ClientDeps, type WebSocketFactory, type WebSocketLike } from '@agora/client-sdk';
import { nodeDeps, nodeProfile } from '@agora/client-sdk/node';
import { LIMITS } from '@agora/protocol';
import { CURRENT_WINDOW_MS } from '../client-sdk/src/engine/machine.js';
import { startWorld, tempDir as newDir, PASSPHRASE, type World, wsFactory } from './helpers.js';

let world: World;
const dirs: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await newDir(prefix);
  dirs.push(dir);
  return dir;
}
let requests: string[] = [];
/** Added to the clock of the counted client: moves it past its token's lifetime. */
let skew = 0;

/** Set: the next sync answer is lost on the way back (the relay did answer). */
let loseNextSync = false;

/** Deps whose fetch records each request as "METHOD /path" with ids and query left out. */
function counted(profileDir: string, opts: { clock?: boolean } = {}): ClientDeps {
  const deps = nodeDeps({ profileDir, passphrase: PASSPHRASE, addGraceMs: 0, now: opts.clock ? () => Date.now() + skew : undefined });
  return {
    ...deps,
    fetch: async (url, init) => {
      const path = new URL(url).pathname.replace(/\/(g|d|u)_[A-Za-z0-9_-]+/g, '/:id');
      requests.push(`${init.method} ${path}`);
      const res = await deps.fetch(url, init);
      if (path === '/v1/sync' && loseNextSync) {
        loseNextSync = false;
        await res.text();
        throw new Error('connection reset');
      }
      return res;
    },
  };
}

/** Waits for `ready`, then until the counted client has made no request for 400 ms (a listening
 * device's background work is done). */
async function quiet(ready: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + 30_000;
  let seen = -1;
  for (;;) {
    if (Date.now() > deadline) throw new Error('the listening client did not settle');
    if (ready() && seen === requests.length) return;
    seen = requests.length;
    await new Promise((r) => setTimeout(r, 400));
  }
}

/** The test world's WebSocket, whose pushes of commits are dropped while `hold()` says so: a push
 * that has not arrived yet when the device sends. */
function holding(hold: () => boolean): WebSocketFactory {
  return (url, protocols) => {
    const ws = wsFactory(url, protocols);
    const outer: WebSocketLike = { onopen: null, onmessage: null, onclose: null, onerror: null, close: () => ws.close() };
    ws.onopen = (ev) => outer.onopen?.(ev);
    ws.onmessage = (ev) => {
      if (hold() && /"kind":"commit"/.test(String(ev.data))) return;
      outer.onmessage?.(ev);
    };
    ws.onclose = (ev) => outer.onclose?.(ev);
    ws.onerror = (ev) => outer.onerror?.(ev);
    return outer;
  };
}

async function count<T>(fn: () => Promise<T>): Promise<{ result: T; requests: string[] }> {
  requests = [];
  const result = await fn();
  return { result, requests };
}

let admin: AgoraClient;

beforeAll(async () => {
  world = await startWorld();
  admin = await AgoraClient.register(counted(await tempDir('profile')), { server: world.url, invite: world.adminInvite, name: 'Admin' });
});
afterAll(async () => {
  await world.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('requests per operation', async () => {
  const invite = await admin.createInvite({ name: 'Alice' });
  const aliceDir = await tempDir('profile');
  const alice = await AgoraClient.register(counted(aliceDir, { clock: true }), { server: world.url, invite: invite.code });
  await admin.sync(); // seals the organisation key to Alice's device
  await admin.createGroup({ name: 'ops', kind: 'secret' });
  await admin.addMembers('ops', ['Alice']);
  await admin.createGroup({ name: 'news', kind: 'public' });
  await admin.send('news', 'welcome');
  // Alice joins and catches up; from here on she is in the steady state.
  await alice.sync();
  await alice.joinGroup('news');
  await alice.sync();

  // The "before" column: the same scenario run against the client that made one request per part
  // (dd69490), for the record; it reads every group's log on each sync (two groups here).
  const rows: [string, string, number][] = [];

  const idle = await count(() => alice.sync());
  expect(idle.result.newMessages).toEqual([]);
  expect(idle.requests).toEqual(['GET /v1/sync']);
  rows.push(['idle sync', '9', idle.requests.length]);

  skew = LIMITS.tokenTtlMs;
  const expired = await count(() => alice.sync());
  expect(expired.requests).toEqual(['POST /v1/auth/challenge', 'POST /v1/auth/token', 'GET /v1/sync']);
  rows.push(['idle sync, token expired', '11', expired.requests.length]);
  skew = 0; // the new token's lifetime is the relay's, counted from now

  await admin.send('ops', 'one message');
  const moved = await count(() => alice.sync());
  expect(moved.result.newMessages.map((m) => m.message.text)).toEqual(['one message']);
  expect(moved.requests).toEqual(['GET /v1/sync', 'GET /v1/groups/:id/log']);
  rows.push(['sync, one group moved', '10', moved.requests.length]);

  const send = await count(() => alice.send('ops', 'reply'));
  expect(send.requests).toEqual(['GET /v1/sync', 'POST /v1/groups/:id/records']);
  rows.push(['send (secret group)', '8', send.requests.length]);

  // Her own record moved the log: the next operation reads it (a second send in a row, too).
  const again = await count(() => alice.send('ops', 'and another'));
  expect(again.requests).toEqual(['GET /v1/sync', 'GET /v1/groups/:id/log', 'POST /v1/groups/:id/records']);
  rows.push(['send right after own send', '9', again.requests.length]);

  const catchUp = await count(() => alice.read('ops'));
  expect(catchUp.requests).toEqual(['GET /v1/sync', 'GET /v1/groups/:id/log']);
  const read = await count(() => alice.read('ops'));
  expect(read.result.messages.map((m) => m.text)).toEqual(['one message', 'reply', 'and another']);
  expect(read.requests).toEqual(['GET /v1/sync']);
  rows.push(['read, nothing new', '9', read.requests.length]);

  const sendPublic = await count(() => alice.send('news', 'thanks'));
  expect(sendPublic.requests).toEqual(['GET /v1/sync', 'POST /v1/groups/:id/records']);
  rows.push(['send (public group)', '7', sendPublic.requests.length]);

  // Listening, the same device is current (its push channel is open and the sync on connect
  // verified a checkpoint): a record to a secret group goes out at once, under the epoch key it
  // holds. Pushes keep it there: its own records and a commit whose keys it knows are applied with
  // no request. A commit whose push has not arrived yet makes the relay refuse the record with the
  // entries it lacks, applied with no request before sealing again.
  await alice.read('ops');
  let holdCommits = false;
  const live = await AgoraClient.open({ ...counted(aliceDir, { clock: true }), webSocket: holding(() => holdCommits) });
  const ctl = new AbortController();
  const listening = live.listen({ signal: ctl.signal, onMessage: () => undefined });
  try {
    // The sync before connecting, then the one on connect.
    await quiet(() => requests.filter((r) => r === 'GET /v1/sync').length >= 2);
    const quick = await count(() => live.send('ops', 'quick'));
    expect(quick.requests).toEqual(['POST /v1/groups/:id/records']);
    rows.push(['send (secret), listening', '8', quick.requests.length]);
    const quickAgain = await count(() => live.send('ops', 'quick again'));
    expect(quickAgain.requests).toEqual(['POST /v1/groups/:id/records']);
    rows.push(['  right after own send', '9', quickAgain.requests.length]);
    // A chat that goes on stays current: once three quarters of the window have passed, the next
    // round of the listener (here, a message pushed to it) schedules a sync, which verifies a
    // checkpoint again (one GET /v1/sync; a quarter of a minute after a round that finds it due,
    // not at once, so a sync that keeps failing cannot spin). A send past the first window is then
    // still one request.
    await quiet();
    skew += CURRENT_WINDOW_MS * 0.8;
    await admin.send('ops', 'a while later');
    requests = []; // the administrator's client is counted too
    await quiet(() => requests.includes('GET /v1/sync'));
    expect(requests).toEqual(['GET /v1/sync']);
    skew += CURRENT_WINDOW_MS * 0.5;
    const later = await count(() => live.send('ops', 'two minutes on'));
    expect(later.requests).toEqual(['POST /v1/groups/:id/records']);
    rows.push(['  a window later', '8', later.requests.length]);
    await quiet();
    await admin.updateGroup('ops');
    await quiet();
    const afterPushedCommit = await count(() => live.send('ops', 'after a commit'));
    expect(afterPushedCommit.requests).toEqual(['POST /v1/groups/:id/records']);
    rows.push(['  after a commit (pushed)', '–', afterPushedCommit.requests.length]);
    await quiet();
    holdCommits = true;
    await admin.updateGroup('ops');
    await quiet();
    const afterCommit = await count(() => live.send('ops', 'before its push'));
    expect(afterCommit.requests).toEqual(['POST /v1/groups/:id/records', 'POST /v1/groups/:id/records']);
    rows.push(['  after a commit, push late', '–', afterCommit.requests.length]);
    holdCommits = false;
    await quiet();
    // A public group: sealed under the organisation key the last sync's log scan allows, no
    // rotation owed, so one request too.
    const quickPublic = await count(() => live.send('news', 'public, listening'));
    expect(quickPublic.requests).toEqual(['POST /v1/groups/:id/records']);
    rows.push(['send (public), listening', '7', quickPublic.requests.length]);
    await quiet();
  } finally {
    ctl.abort();
    await listening;
    skew = 0;
  }
  // The push channel closed: the device catches up first again. (The two commits put membership
  // entries in the key-transparency log, which a listening device applying pushed commits had not
  // read: this catch-up proves the log only grew and checks them, hence the KT requests between.)
  const closed = await count(() => live.send('ops', 'not listening'));
  expect(closed.requests[0]).toBe('GET /v1/sync');
  expect(closed.requests.filter((r) => !r.startsWith('GET /v1/kt/')).slice(1)).toEqual(['POST /v1/groups/:id/records']);
  const seen = await admin.read('ops');
  expect(seen.messages.map((m) => m.text)).toEqual(expect.arrayContaining(['quick', 'quick again', 'two minutes on', 'after a commit', 'before its push', 'not listening']));
  expect(seen.warnings).toEqual([]);
  expect((await admin.read('news')).messages.map((m) => m.text)).toEqual(['welcome', 'thanks', 'public, listening']);

  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(
    ['HTTP requests per operation (steady state)', `${'operation'.padEnd(width)}  before  now`,
      ...rows.map(([op, before, now]) => `${op.padEnd(width)}  ${before.padStart(6)}  ${String(now).padStart(3)}`)].join('\n'),
  );
});

test('a sync answer lost on the way costs nothing: the next sync brings the same changes', async () => {
  const aliceDir = await tempDir('profile');
  const alice = await AgoraClient.register(counted(aliceDir), { server: world.url, invite: (await admin.createInvite({ name: 'Alice Two' })).code });
  const saved = () => nodeProfile({ profileDir: aliceDir, passphrase: PASSPHRASE }).load();
  await alice.sync();
  const before = await saved();
  await admin.createInvite({ name: 'Bob Two' }).then((i) => world.register(i.code));
  loseNextSync = true;
  await expect(alice.sync()).rejects.toMatchObject({ code: 'network' });
  const afterLoss = await saved();
  expect(afterLoss.directorySeq).toBe(before.directorySeq);
  expect(afterLoss.directory.users.some((u) => u.name === 'Bob Two')).toBe(false);
  await alice.sync();
  const after = await saved();
  expect(after.directorySeq).toBeGreaterThan(before.directorySeq);
  expect(after.directory.users.map((u) => u.name)).toContain('Bob Two');
  expect(after.directory.users.length).toBe(before.directory.users.length + 1);
});
