/** Opening a device without its stored messages (as the web app does, for a fast unlock), and
 * the web app's conversation order on the SDK's real output: every message the SDK reports (a
 * read, a sync, a pushed entry applied by `listen`) carries its log seq, and the web app's list
 * puts messages in log order by it, whatever order they arrive in (a push of a later message
 * before the catch-up that brings the earlier ones, a catch-up that repeats what a push showed). */
import { AgoraClient, type MessageView } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import { countUnread, insertInOrder, mergeRead } from '../web-client/src/engine/ordering.js';
import { PASSPHRASE, startWorld, type World } from './helpers.js';

let world: World;
let admin: AgoraClient;
let bob: AgoraClient;
let bobDir = '';

beforeAll(async () => {
  world = await startWorld();
  ({ client: admin } = await world.register(world.adminInvite, 'Admin'));
  const { code } = await admin.createInvite({ name: 'Bob' });
  ({ client: bob, profileDir: bobDir } = await world.register(code));
  await admin.createGroup({ name: 'Reihenfolge', kind: 'secret' });
  await admin.addMembers('Reihenfolge', ['Bob']);
});

afterAll(async () => {
  await world?.close();
});

/** A conversation item as the web app's engine makes it from an SDK message (engine.ts toItem). */
const item = (m: MessageView) => ({ id: m.id, seq: m.seq, text: m.text, mine: false });

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('every message the SDK reports carries its log seq, the same on every path', async () => {
  const pushed: MessageView[] = [];
  const ctl = new AbortController();
  const listening = bob.listen({ signal: ctl.signal, onMessage: (_g, _n, m) => pushed.push(m) });
  try {
    // The listener's catch-up (the Welcome, the group) has run once the first push arrives.
    const sent: { id: string; seq: number }[] = [];
    for (const text of ['eins', 'zwei', 'drei']) sent.push(await admin.send('Reihenfolge', text));
    await until('three pushed messages', () => pushed.length >= 3);
    expect(pushed.map((m) => [m.id, m.seq])).toEqual(sent.map((s) => [s.id, s.seq]));
  } finally {
    ctl.abort();
    await listening;
  }
  const read = (await bob.read('Reihenfolge')).messages;
  expect(read.map((m) => [m.id, m.seq])).toEqual(pushed.map((m) => [m.id, m.seq]));
  // Log positions: increasing, and not the order of the texts by chance.
  expect(read.map((m) => m.seq)).toEqual([...read.map((m) => m.seq)].sort((a, b) => a - b));
  expect(new Set(read.map((m) => m.seq)).size).toBe(3);

  // A second device of Bob's view (a sync report) gives the same positions.
  const again = await world.open(bobDir);
  await admin.send('Reihenfolge', 'vier');
  const report = await again.sync();
  const vier = report.newMessages.find((n) => n.message.text === 'vier')!.message;
  expect(vier.seq).toBeGreaterThan(read[2].seq);
});

it("the web app's list is in log order whatever order the messages arrive in", async () => {
  const log = (await bob.read('Reihenfolge')).messages;
  expect(log.map((m) => m.text)).toEqual(['eins', 'zwei', 'drei', 'vier']);
  const [eins, zwei, drei, vier] = log.map(item);

  // The newest is pushed first; the catch-up after a reconnect then delivers the older ones.
  let list = insertInOrder([], vier);
  for (const m of [eins, drei, zwei]) list = insertInOrder(list, m);
  // And once more (a catch-up that repeats a push): nothing twice.
  list = insertInOrder(list, drei);
  expect(list.map((m) => m.text)).toEqual(['eins', 'zwei', 'drei', 'vier']);

  // A read that ran while "vier" was pushed: the pushed one stays, in its place by seq.
  const readBefore = log.slice(0, 3).map(item);
  const merged = mergeRead(readBefore, [vier, zwei], new Set([zwei.id]));
  expect(merged.map((m) => m.text)).toEqual(['eins', 'zwei', 'drei', 'vier']);

  // Unread by log position: seen up to "zwei" leaves two, in whatever order they came.
  expect(countUnread(list, { lastReadId: zwei.id, lastReadSeq: zwei.seq })).toBe(2);
});

it('a device opened without its messages holds none until its first operation, which loads them all', async () => {
  const quick = await AgoraClient.open(nodeDeps({ profileDir: bobDir, passphrase: PASSPHRASE, addGraceMs: 0 }), { deferMessages: true });
  const group = (await bob.listGroups()).find((g) => g.name === 'Reihenfolge')!;
  expect(quick.me.name).toBe('Bob');
  expect(quick.storedMessages(group.id)).toEqual([]);
  // Work on the state held (no operation of its own) loads the whole state first.
  expect((await quick.resolveUser('Admin')).name).toBe('Admin');
  expect(quick.storedMessages(group.id).map((m) => m.text)).toEqual(['eins', 'zwei', 'drei', 'vier']);
  // And an operation saves the whole state: nothing is lost on disk.
  await quick.sync();
  const later = await world.open(bobDir);
  expect((await later.read('Reihenfolge')).messages.map((m) => m.text)).toEqual(['eins', 'zwei', 'drei', 'vier']);
});
