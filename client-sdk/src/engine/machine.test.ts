/** The client machine without a relay: each test feeds it scripted answers and checks the requests it
 * asks for and the state and events it ends with. The answers are realistic because they were
 * recorded once, in beforeAll, from a real relay (closed again before any test runs): one device's
 * sync that meets a new colleague in the key-transparency log, a commit adding them and a message;
 * a later log page of two messages; a send. */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRelay } from '@agora/server';
import { AgoraClient, type ClientDeps } from '../client.js';
import type { ProfileStorage } from '../state/profile.js';
import type { ProfileState } from '../core/state.js';
import { AgoraError } from '../core/errors.js';
import { RelayHttp } from '../transport/http.js';
import { nodeFetch } from '../node/index.js';
import type * as api from '@agora/protocol/api';
import type { RandomSource } from '@agora/protocol/crypto/random';
import { makeCryptoProvider, type CryptoProvider } from '@agora/protocol/crypto/provider';
import { getSodium } from '@agora/protocol/crypto/sodium';
import { CURRENT_WINDOW_MS, Machine, loadMlsFor, type MachineConfig } from './machine.js';
import { drive, type Perform } from './driver.js';
import type { Effect, Op } from './op.js';
import { syncUnlocked } from './sync.js';
import { applyPending, sendText } from './records.js';
import { updateGroup } from './operations.js';
import type { SyncReport } from './types.js';

/** A profile kept in memory as JSON, as a store would serialise it. */
class MemoryProfile implements ProfileStorage {
  readonly location = 'memory';
  json: string | undefined;
  async lock() {
    return async () => undefined;
  }
  async exists() {
    return this.json !== undefined;
  }
  async load(): Promise<ProfileState> {
    return JSON.parse(this.json!) as ProfileState;
  }
  async save(state: ProfileState) {
    this.json = JSON.stringify(state);
  }
}

interface Exchange {
  method: string;
  path: string;
  answer?: unknown;
  error?: { code: string; message: string; status?: number; entries?: unknown[] };
}

const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** The instant every run of the machine sees (the recording's). */
let now = 0;
const config = { addGraceMs: 0 };
function machineFrom(stateJson: string, extra: MachineConfig = {}): Machine {
  return new Machine(() => now, { ...config, ...extra }, JSON.parse(stateJson) as ProfileState);
}
/** Makes `mc` current, as a listening driver does: the push channel opens, then a catch-up
 * verifies a checkpoint (here the one its state holds, so no request); then a new operation
 * starts on it. */
async function makeCurrent(mc: Machine): Promise<void> {
  mc.channelOpened();
  await drive(mc.catchUp(mc.trust.refresh(mc.state.kt.checkpoint!.note)), async (e) => {
    throw new Error(`no request expected, asked for ${e.kind}`);
  });
  mc.begin();
}

/** Drives `op` against a real relay and records each request with its raw answer. */
async function record<T>(url: string, mc: Machine, op: Op<T>): Promise<{ result: T; script: Exchange[] }> {
  const http = new RelayHttp(url, nodeFetch, async () => mc.state.token?.value);
  const script: Exchange[] = [];
  const result = await drive(op, async (e) => {
    if (e.kind === 'persist') return;
    try {
      const answer = await http.perform(e.request);
      script.push({ method: e.request.method, path: e.request.path, answer: clone(answer) });
      return answer;
    } catch (err) {
      const a = err as AgoraError;
      script.push({ method: e.request.method, path: e.request.path, error: { code: a.code, message: a.message, status: a.details?.status, entries: a.details?.entries } });
      throw err;
    }
  });
  return { result, script };
}

/** Answers from a script by request (method and path; the same request asked again gets the next
 * answer recorded for it, the last one from then on); `lose`: the answer to the request at that
 * position is lost on the way (the relay may have acted on it). */
function scripted(script: Exchange[], opts: { lose?: number; onEffect?: (e: Effect, mc: number) => void } = {}) {
  const byKey = new Map<string, Exchange[]>();
  for (const x of script) byKey.set(key(x), [...(byKey.get(key(x)) ?? []), x]);
  const asked: string[] = [];
  const effects: Effect['kind'][] = [];
  const perform: Perform = async (e) => {
    effects.push(e.kind);
    opts.onEffect?.(e, effects.length);
    if (e.kind === 'persist') return;
    const k = key(e.request);
    asked.push(k);
    if (opts.lose === asked.length - 1) throw new AgoraError('network', 'cannot reach the relay (connection reset)');
    const queue = byKey.get(k);
    const x = (queue && queue.length > 1 ? queue.shift() : queue?.[0]) ?? caughtUpSync(script, e.request.path);
    if (!x) throw new Error(`the machine asked for a request the script does not hold: ${k}`);
    if (x.error) throw new AgoraError(x.error.code as never, x.error.message, { status: x.error.status, entries: clone(x.error.entries) });
    return clone(x.answer);
  };
  return { perform, asked, effects };
}

/** The relay's answer to a sync from the cursor a recorded sync answer ended at (a device that
 * applied that answer's directory part before it failed or stopped): the same answer without the
 * directory changes, which the device holds already. Mailbox items it took are skipped by the
 * device itself (their seq is at or below its cursor). */
function caughtUpSync(script: Exchange[], asked: string): Exchange | undefined {
  const m = /^\/v1\/sync\?cursor=(\d+)\.(\d+)(.*)$/.exec(asked);
  const recorded = script.find((x) => x.path.startsWith('/v1/sync?'));
  if (!m || !recorded) return undefined;
  const answer = recorded.answer as api.SyncResponse;
  if (m[1] !== answer.cursor.split('.')[0] || !recorded.path.endsWith(m[3])) return undefined;
  return { ...recorded, path: asked, answer: { ...answer, directory: { full: false, users: [], devices: [] } } };
}

let before: string; // Alice's state before her sync
let afterSync: string; // ...and after it
let syncScript: Exchange[];
let syncReport: SyncReport;
let laterLog: api.LogResponse; // two messages after her sync, as a log page
let groupId: string;
let sendScript: Exchange[];
let afterSend: string; // Alice's state after that send
let movedScript: Exchange[]; // her next send, after a commit of the admin's
let afterMoved: string; // Alice's state after that send
let updateScript: Exchange[]; // her update commit (fresh path secrets, HPKE to the others' leaves)

beforeAll(async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'agora-engine-'));
  const relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true });
  try {
    const deps = (): ClientDeps & { profile: MemoryProfile } => ({ profile: new MemoryProfile(), fetch: nodeFetch, addGraceMs: 0 });
    const adminDeps = deps();
    const adminInvite = relay.adminInvite ?? (await readFile(path.join(dataDir, 'admin-invite.txt'), 'utf8')).trim();
    const admin = await AgoraClient.register(adminDeps, { server: relay.url, invite: adminInvite, name: 'Admin' });
    const aliceDeps = deps();
    const alice = await AgoraClient.register(aliceDeps, { server: relay.url, invite: (await admin.createInvite({ name: 'Alice' })).code });
    await admin.sync();
    groupId = (await admin.createGroup({ name: 'ops', kind: 'secret' })).id;
    await admin.addMembers('ops', ['Alice']);
    await alice.sync();
    // What Alice meets on her next sync: a new colleague in the log, a commit adding him, a message.
    await AgoraClient.register(deps(), { server: relay.url, invite: (await admin.createInvite({ name: 'Bob' })).code });
    await admin.sync();
    await admin.addMembers('ops', ['Bob']);
    await admin.send('ops', 'hello');

    before = aliceDeps.profile.json!;
    const state = JSON.parse(before) as ProfileState;
    await loadMlsFor(state);
    now = Date.now();
    const mc = machineFrom(before);
    mc.begin();
    const synced = await record(relay.url, mc, syncUnlocked(mc));
    syncScript = synced.script;
    syncReport = synced.result;
    afterSync = JSON.stringify(mc.state);

    // Records carry their sender's last verified checkpoint: the admin's is Alice's again after a
    // sync, so reading his records needs no proof between two checkpoints.
    await admin.sync();
    await admin.send('ops', 'two');
    await admin.send('ops', 'three');
    const http = new RelayHttp(relay.url, nodeFetch, async () => mc.state.token?.value);
    laterLog = await http.log(groupId, mc.state.groups[groupId].cursor);

    const sender = machineFrom(afterSync);
    sender.begin();
    sendScript = (await record(relay.url, sender, sendText(sender, 'ops', 'reply'))).script;
    afterSend = JSON.stringify(sender.state);
    await admin.updateGroup('ops');
    const mover = machineFrom(afterSend);
    mover.begin();
    await makeCurrent(mover);
    movedScript = (await record(relay.url, mover, sendText(mover, 'ops', 'after the commit'))).script;
    afterMoved = JSON.stringify(mover.state);
    const updater = machineFrom(afterMoved);
    updater.begin();
    updateScript = (await record(relay.url, updater, updateGroup(updater, 'ops'))).script;
  } finally {
    await relay.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}, 120_000);

async function runSync(stateJson: string, perform: Perform) {
  const mc = machineFrom(stateJson);
  mc.begin();
  const report = await drive(syncUnlocked(mc), perform);
  return { mc, report };
}

test('a sync asks for exactly the recorded requests and ends in the recorded state', async () => {
  // The recording is what makes the other tests meaningful: a new colleague to verify, a commit, a message.
  const paths = syncScript.map((x) => x.path.split('?')[0]);
  expect(paths[0]).toBe('/v1/sync');
  expect(paths).toContain(`/v1/groups/${groupId}/log`);
  expect(paths.some((p) => p.startsWith('/v1/kt/users/'))).toBe(true);
  expect(syncReport.newMessages.map((m) => m.message.text)).toEqual(['hello']);

  const s = scripted(syncScript);
  const { mc, report } = await runSync(before, s.perform);
  expect(s.asked).toEqual(syncScript.map(key));
  expect(report).toEqual(syncReport);
  expect(clone(mc.state)).toEqual(clone(JSON.parse(afterSync)));
});

test('a lost answer at any step: the operation fails or goes on, and running it again ends in the same state', async () => {
  for (let k = 0; k < syncScript.length; k++) {
    const lossy = scripted(syncScript, { lose: k });
    const mc = machineFrom(before);
    mc.begin();
    // A driver saves what the operation did up to the failure (AgoraClient.tx does).
    await drive(syncUnlocked(mc), lossy.perform).catch((e: unknown) => {
      expect(e).toBeInstanceOf(AgoraError);
    });
    expect(lossy.asked.slice(0, k + 1)).toEqual(syncScript.slice(0, k + 1).map(key));
    const retry = scripted(syncScript);
    const { mc: again } = await runSync(JSON.stringify(mc.state), retry.perform);
    if (k === 0) {
      // Nothing was applied: the same request is asked again, unchanged (its cursor names what this
      // device applied, not what it asked for).
      expect(retry.asked[0]).toBe(syncScript[0] ? key(syncScript[0]) : undefined);
      expect(JSON.parse(JSON.stringify(mc.state))).toEqual(JSON.parse(before));
    }
    // A lost answer the machine goes on without is reported, never silently dropped: the one
    // comparison of another member's checkpoint it could not make is an alarm.
    const reference = JSON.parse(afterSync) as ProfileState;
    const extra = again.state.kt.alarms.filter((a) => !reference.kt.alarms.some((r) => r.kind === a.kind && r.message === a.message));
    for (const a of extra) expect(a).toMatchObject({ kind: 'unverifiable', message: expect.stringContaining('the relay did not answer') });
    again.state.kt.alarms = again.state.kt.alarms.filter((a) => !extra.includes(a));
    expect(clone(again.state)).toEqual(clone(reference));
  }
});

test('a restart between any two steps: the state serialised there, a new machine on it, the same end state', async () => {
  for (let k = 1; k <= syncScript.length; k++) {
    const mc = machineFrom(before);
    mc.begin();
    const first = scripted(syncScript);
    const op = syncUnlocked(mc);
    // Runs k steps by hand, then drops the operation as a killed process would.
    let step = await op.next();
    for (let i = 0; i < k && !step.done; i++) {
      const answer = await first.perform(step.value);
      step = await op.next(answer);
    }
    const snapshot = JSON.stringify(mc.state);
    await op.return(undefined as never);
    const { mc: again } = await runSync(snapshot, scripted(syncScript).perform);
    expect(clone(again.state)).toEqual(clone(JSON.parse(afterSync)));
  }
});

/** The pushed entries queued by group, as listen keeps them. */
function pushes(entries: api.LogEntry[]): Map<string, Map<number, api.LogEntry>> {
  const waiting = new Map<number, api.LogEntry>();
  // A duplicate push of one seq keeps the first copy.
  for (const e of entries) if (!waiting.has(e.seq)) waiting.set(e.seq, e);
  return new Map([[groupId, waiting]]);
}

test('pushed entries that continue the log are applied with no request; duplicates change nothing', async () => {
  expect(laterLog.entries).toHaveLength(2);
  const [two, three] = laterLog.entries;
  const mc = machineFrom(afterSync);
  mc.begin();
  const s = scripted([]);
  const pending = pushes([two, three, two]);
  const report = await drive(applyPending(mc, pending, new Set()), s.perform);
  expect(s.asked).toEqual([]);
  expect(report.newMessages.map((m) => m.message.text)).toEqual(['two', 'three']);
  expect(pending.get(groupId)!.size).toBe(0);
  const applied = JSON.stringify(mc.state);

  // The same pushes again (a reconnect replays them): nothing new, no request, the state as it was.
  const again = await drive(applyPending(mc, pushes([three, two]), new Set()), s.perform);
  expect(s.asked).toEqual([]);
  expect(again.newMessages).toEqual([]);
  expect(JSON.stringify(mc.state)).toBe(applied);
});

test('an entry past a gap waits with no request; once overdue, one log read fills the gap', async () => {
  const [two, three] = laterLog.entries;
  const mc = machineFrom(afterSync);
  mc.begin();
  const cursor = mc.state.groups[groupId].cursor;
  const logRead: Exchange = { method: 'GET', path: `/v1/groups/${groupId}/log?after=${cursor}`, answer: laterLog };
  // Each operation verifies a fresh checkpoint before it trusts a key: the one the sync brought.
  const checkpoint: Exchange = { method: 'GET', path: '/v1/kt/checkpoint', answer: (syncScript[0].answer as api.SyncResponse).checkpoint };
  const s = scripted([checkpoint, logRead]);
  const pending = pushes([three]);
  const waited = await drive(applyPending(mc, pending, new Set()), s.perform);
  expect(s.asked).toEqual([]);
  expect(waited.newMessages).toEqual([]);
  expect([...pending.get(groupId)!.keys()]).toEqual([three.seq]);

  // The missing entry arrives late: both apply in log order, still no request.
  const late = machineFrom(afterSync);
  late.begin();
  const inOrder = pushes([three, two]);
  const both = await drive(applyPending(late, inOrder, new Set()), s.perform);
  expect(s.asked).toEqual([]);
  expect(both.newMessages.map((m) => m.message.text)).toEqual(['two', 'three']);

  // It never arrives: the wait ends (the driver's timer) and the log is read once, up to the newest push.
  const read = await drive(applyPending(mc, pending, new Set([groupId])), s.perform);
  expect(s.asked).toEqual([key(logRead), key(checkpoint)]);
  expect(read.newMessages.map((m) => m.message.text)).toEqual(['two', 'three']);
  expect(JSON.stringify(mc.state.groups[groupId].messages)).toBe(JSON.stringify(late.state.groups[groupId].messages));
});

test('a send spends and persists its counter before the record goes out; a lost answer leaves a gap, never a reused counter', async () => {
  const posts = sendScript.filter((x) => x.method === 'POST');
  expect(posts.map((x) => x.path)).toEqual([`/v1/groups/${groupId}/records`]);
  const counter = (JSON.parse(afterSync) as ProfileState).sentCounters[groupId] ?? 0;

  const persistedAt: { effect: number; counter: number }[] = [];
  let mc = machineFrom(afterSync);
  const lose = sendScript.findIndex((x) => x.method === 'POST');
  const lossy = scripted(sendScript, {
    lose,
    onEffect: (e, n) => {
      if (e.kind === 'persist') persistedAt.push({ effect: n, counter: mc.state.sentCounters[groupId] });
    },
  });
  mc.begin();
  await expect(drive(sendText(mc, 'ops', 'reply'), lossy.perform)).rejects.toMatchObject({ code: 'network' });
  // The persist comes right before the POST, with the counter already spent.
  const postAt = lossy.effects.lastIndexOf('request') + 1;
  expect(persistedAt.at(-1)).toEqual({ effect: postAt - 1, counter: counter + 1 });
  expect(mc.state.sentCounters[groupId]).toBe(counter + 1);

  // Sent again from the saved state: the same requests, the next counter.
  mc = machineFrom(JSON.stringify(mc.state));
  mc.begin();
  const retry = scripted(sendScript);
  const sent = await drive(sendText(mc, 'ops', 'reply'), retry.perform);
  // The log was read and applied before the loss: the retry goes straight to the record.
  expect(retry.asked).toEqual(sendScript.map(key).filter((k) => !k.includes('/log?')));
  expect(sent.seq).toBe((posts[0].answer as { seq: number }).seq);
  expect(mc.state.sentCounters[groupId]).toBe(counter + 2);
});

test('a send of a current device after a commit: the refusal brings the missing entries, applied with no request, and the record goes out again', async () => {
  const records = `POST /v1/groups/${groupId}/records`;
  expect(movedScript.map(key)).toEqual([records, records]);
  expect(movedScript[0].error).toMatchObject({ code: 'stale_epoch', status: 409 });
  // What she had not read: her own reply, and the commit.
  const before = JSON.parse(afterSend) as ProfileState;
  const missing = movedScript[0].error!.entries as api.LogEntry[];
  expect(missing.map((e) => e.kind)).toEqual(['record', 'commit']);
  expect(missing[0].seq).toBe(before.groups[groupId].cursor + 1);

  const mc = machineFrom(afterSend);
  mc.begin();
  await makeCurrent(mc);
  const s = scripted(movedScript);
  await drive(sendText(mc, 'ops', 'after the commit'), s.perform);
  expect(s.asked).toEqual([records, records]);
  // The commit is applied (a new epoch and its key) and the refused record's counter given back.
  expect(mc.state.groups[groupId].logEpoch).toBe(before.groups[groupId].logEpoch! + 1);
  expect(mc.state.sentCounters[groupId]).toBe(before.sentCounters[groupId] + 1);
  expect(mc.state.groups[groupId].messages.map((m) => m.text)).toEqual(expect.arrayContaining(['two', 'three', 'reply']));

  // Entries that do not continue this device's position are not applied on the relay's word: the
  // full send takes over (a sync first).
  const gap = machineFrom(afterSend);
  gap.begin();
  await makeCurrent(gap);
  const shifted = clone(movedScript);
  shifted[0].error!.entries = (shifted[0].error!.entries as api.LogEntry[]).map((e) => ({ ...e, seq: e.seq + 1 }));
  const g = scripted(shifted);
  await drive(sendText(gap, 'ops', 'after the commit'), g.perform).catch(() => undefined);
  expect(g.asked.slice(0, 2)).toEqual([records, expect.stringMatching(/^GET \/v1\/sync\?/)]);
});

describe('a current device (one-request send)', () => {
  const noRequest: Perform = async (e) => {
    throw new Error(`no request expected, asked for ${e.kind}`);
  };
  /** A catch-up that verifies the checkpoint the state holds, as a sync's fetch would. */
  async function verify(mc: Machine): Promise<void> {
    mc.begin();
    await drive(mc.catchUp(mc.trust.refresh(mc.state.kt.checkpoint!.note)), noRequest);
    mc.begin();
  }

  test('is one whose push channel is open and whose catch-up since verified a checkpoint, within the window', async () => {
    let t = now;
    const mc = new Machine(() => t, config, JSON.parse(afterSend) as ProfileState);
    mc.begin();
    expect(mc.isCurrent()).toBe(false);
    expect(mc.refreshDueInMs()).toBeUndefined();
    // Verified before the channel opened: what changed in between was pushed to nobody.
    await verify(mc);
    mc.channelOpened();
    expect(mc.isCurrent()).toBe(false);
    expect(mc.refreshDueInMs()).toBe(0);
    await verify(mc);
    expect(mc.isCurrent()).toBe(true);
    expect(mc.currentWindowMs).toBe(CURRENT_WINDOW_MS);
    expect(mc.refreshDueInMs()).toBe((CURRENT_WINDOW_MS * 3) / 4);

    // The window is counted from the verification, on this device's clock.
    t += CURRENT_WINDOW_MS - 1;
    expect(mc.isCurrent()).toBe(true);
    expect(mc.refreshDueInMs()).toBe(0);
    t += 1;
    expect(mc.isCurrent()).toBe(false);
    await verify(mc);
    expect(mc.isCurrent()).toBe(true);

    // A push announcing a change (directory, organisation keys…): not current until a sync that
    // started after it has completed; one during which it arrived does not count, nor one that
    // verified no checkpoint.
    mc.changeNoticed();
    expect(mc.isCurrent()).toBe(false);
    await verify(mc);
    expect(mc.isCurrent()).toBe(true);
    mc.begin();
    const note = mc.state.kt.checkpoint!.note;
    await drive(mc.catchUp((async function* () {
      yield* mc.trust.refresh(note);
      mc.changeNoticed();
    })()), noRequest);
    expect(mc.isCurrent()).toBe(false);
    mc.begin();
    await drive(mc.catchUp((async function* () {})()), noRequest);
    expect(mc.isCurrent()).toBe(false);
    await verify(mc);
    expect(mc.isCurrent()).toBe(true);

    // A check of the log that fails ends it at once, within the window too.
    mc.begin();
    await expect(drive(mc.trust.refresh('not a checkpoint'), noRequest)).rejects.toMatchObject({ code: 'forbidden' });
    expect(mc.isCurrent()).toBe(false);
    await verify(mc);
    expect(mc.isCurrent()).toBe(true);

    // The channel closes: nothing tells the device what changes, and nothing is kept current.
    mc.channelClosed();
    expect(mc.isCurrent()).toBe(false);
    expect(mc.refreshDueInMs()).toBeUndefined();
  });

  test('the window is at most half the checkpoint age the policy accepts; alwaysCatchUp turns it off', async () => {
    const mc = machineFrom(afterSend);
    mc.state.kt.policy = { ...(mc.state.kt.policy as object), maxCheckpointAgeSeconds: 60 };
    expect(mc.currentWindowMs).toBe(30_000);

    const never = machineFrom(afterSend, { alwaysCatchUp: true });
    never.channelOpened();
    await verify(never);
    expect(never.isCurrent()).toBe(false);
    expect(never.refreshDueInMs()).toBeUndefined();
  });

  test('sends in one request; past the window it catches up first, as a device that does not listen', async () => {
    const records = `POST /v1/groups/${groupId}/records`;
    const current = machineFrom(afterSync);
    current.begin();
    await makeCurrent(current);
    const one = scripted(sendScript);
    await drive(sendText(current, 'ops', 'reply'), one.perform);
    // Sealed under the epoch key it holds: the two entries it has not read are in the same epoch.
    expect(one.asked).toEqual([records]);

    let t = now;
    const late = new Machine(() => t, config, JSON.parse(afterSync) as ProfileState);
    late.begin();
    await makeCurrent(late);
    t += late.currentWindowMs;
    const full = scripted(sendScript);
    await drive(sendText(late, 'ops', 'reply'), full.perform);
    expect(full.asked).toEqual(sendScript.map(key));
  });
});

/** A deterministic randomness source: SHA-256 over the seed and a block counter. */
function seededRandom(seed: string): RandomSource {
  let block = 0;
  let pool = new Uint8Array(0);
  return (n) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; ) {
      if (pool.length === 0) pool = new Uint8Array(createHash('sha256').update(`${seed}/${block++}`).digest());
      const take = Math.min(pool.length, n - o);
      out.set(pool.subarray(0, take), o);
      pool = pool.subarray(take);
      o += take;
    }
    return out;
  };
}

test('every random byte comes from the injected source: the same seed gives byte-identical requests and state, another seed or the platform source other ones', async () => {
  /** A send (record id, AEAD nonce) and an update commit (MLS path secrets, HPKE ephemeral keys,
   * the sealed owner set's nonce), each driven from the state it was recorded from. */
  const run = async (random?: RandomSource) => {
    const requests: string[] = [];
    const onEffect = (e: Effect) => {
      if (e.kind === 'request') requests.push(JSON.stringify([e.request.method, e.request.path, e.request.body ?? null]));
    };
    const sender = machineFrom(afterSync, random ? { random } : {});
    sender.begin();
    await drive(sendText(sender, 'ops', 'reply'), scripted(sendScript, { onEffect }).perform);
    const updater = machineFrom(afterMoved, random ? { random } : {});
    updater.begin();
    await drive(updateGroup(updater, 'ops'), scripted(updateScript, { onEffect }).perform);
    // What the device writes (a POST may also be a batched log lookup, which only reads).
    const posts = requests.filter((r) => r.startsWith('["POST","/v1/groups/'));
    return { requests, posts, state: JSON.stringify([sender.state, updater.state]) };
  };
  const first = await run(seededRandom('one'));
  // The recording holds what makes this meaningful: a record and an MLS commit, both sent.
  expect(first.posts.map((r) => JSON.parse(r)[1] as string)).toEqual([`/v1/groups/${groupId}/records`, `/v1/groups/${groupId}/commits`]);
  const again = await run(seededRandom('one'));
  expect(again.requests).toEqual(first.requests);
  expect(again.state).toBe(first.state);

  const other = await run(seededRandom('two'));
  const platform = await run();
  for (const r of [other, platform]) {
    expect(r.posts).toHaveLength(2);
    for (let i = 0; i < 2; i++) expect(r.posts[i]).not.toBe(first.posts[i]);
  }
});

test('a machine given a crypto provider runs MLS over it and draws its randomness from it', async () => {
  const sodium = await getSodium();
  const counted = (random: RandomSource) => {
    const base = makeCryptoProvider(sodium, random);
    const calls = { sign: 0, dh: 0 };
    const provider: CryptoProvider = {
      ...base,
      ed25519Sign: (secret, message) => (calls.sign++, base.ed25519Sign(secret, message)),
      x25519: (secret, pub) => (calls.dh++, base.x25519(secret, pub)),
    };
    return { provider, calls };
  };
  const commit = async (extra: MachineConfig) => {
    const posted: string[] = [];
    const updater = machineFrom(afterMoved, extra);
    updater.begin();
    await drive(updateGroup(updater, 'ops'), scripted(updateScript, { onEffect: (e) => { if (e.kind === 'request' && e.request.method === 'POST') posted.push(JSON.stringify(e.request.body)); } }).perform);
    return { posted, state: JSON.stringify(updater.state) };
  };
  const { provider, calls } = counted(seededRandom('one'));
  const viaProvider = await commit({ crypto: provider });
  // The commit's signature and its HPKE encryptions to the other members went through the provider.
  expect(calls.sign).toBeGreaterThan(0);
  expect(calls.dh).toBeGreaterThan(0);
  // Its randomness is the machine's: the same seed given as `random` gives the same bytes.
  const viaRandom = await commit({ random: seededRandom('one') });
  expect(viaProvider.posted).toEqual(viaRandom.posted);
  expect(viaProvider.state).toBe(viaRandom.state);
  // Two sources would break that promise: refused.
  expect(() => machineFrom(afterMoved, { crypto: provider, random: seededRandom('two') })).toThrow(/two sources/);
});
