/** (e) The client engine on the Node driver: what one operation costs in requests, bytes on the
 * wire and time, and what one save of the device's state writes to disk as the history grows —
 * the single encrypted profile file of earlier releases next to the StoreProfile the client now
 * saves through (keyed records in the Node journal store). */
import { performance } from 'node:perf_hooks';
import { AgoraClient, EncryptedProfile, fromB64u, newId, type ClientDeps } from '@agora/client-sdk';
import { FileBlobStore, nodeDeps, nodeProfile } from '@agora/client-sdk/node';
import type { ProfileState } from '../../client-sdk/dist/core/state.js';
import type { BlobStore } from '../../client-sdk/dist/state/profile.js';
import { derivePublicGroupKey } from '../../client-sdk/dist/crypto/orgkeys.js';
import { sealRecord } from '../../client-sdk/dist/crypto/records.js';
import { nodeFileIo, type FileIo } from '../../client-sdk/dist/node/file-client-store.js';
import { wsFactory } from '../../cli/dist/ws.js';
import { PASSPHRASE, profileDevice, TempDirs } from './devices.js';
import { startServer, type ServerHandle } from './server-worker.js';
import { median, num, type Section } from './report.js';

export interface ClientEngineOptions {
  sends: number;
  reads: number;
  idleSyncs: number;
  /** Messages in the group a new device opens. */
  openMessages: number;
  /** History sizes at which one save is measured. */
  historySizes: number[];
  /** Whole-profile saves timed at each history size (the median is reported). */
  profileSaves: number;
  /** StoreProfile saves timed at each history size (cheap, so more of them). */
  storeSaves: number;
}

export const DEFAULT_CLIENT_ENGINE: ClientEngineOptions = {
  sends: 50,
  reads: 20,
  idleSyncs: 20,
  openMessages: 1000,
  historySizes: [0, 100, 1000, 10_000],
  profileSaves: 5,
  storeSaves: 21,
};

const TEXT = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(3).slice(0, 150);
const millis = (ms: number) => `${num(ms)} ms`;
const bytes = (n: number) => (n >= 10 * 1024 * 1024 ? `${num(n / 2 ** 20)} MiB` : n >= 10 * 1024 ? `${num(n / 1024)} KiB` : `${Math.round(n).toLocaleString('en-US')} B`);

/** Requests and body bytes seen at one client's fetch since the last `take`. */
class Meter {
  /** "METHOD /path" of every request, ids and query left out, as tests/request-counts.test.ts names them. */
  paths: string[] = [];
  requests = 0;
  sent = 0;
  received = 0;
  take(): { requests: number; sent: number; received: number } {
    const r = { requests: this.requests, sent: this.sent, received: this.received };
    this.requests = this.sent = this.received = 0;
    this.paths = [];
    return r;
  }
}

/** The client's deps with its fetch wrapped, as tests/request-counts.test.ts counts requests: here
 * also the UTF-8 length of every request body and every response body (headers not counted). */
function metered(deps: ClientDeps, meter: Meter): ClientDeps {
  return {
    ...deps,
    fetch: async (url, init) => {
      meter.requests += 1;
      meter.paths.push(`${init.method} ${new URL(url).pathname.replace(/\/(g|d|u)_[A-Za-z0-9_-]+/g, '/:id')}`);
      meter.sent += init.body === undefined ? 0 : Buffer.byteLength(init.body);
      const res = await deps.fetch(url, init);
      const body = await res.text();
      meter.received += Buffer.byteLength(body);
      return { status: res.status, text: async () => body };
    },
  };
}

interface OpCost {
  requests: number[];
  sent: number[];
  received: number[];
  ms: number[];
}

/** Waits until a listening client has made `syncs` syncs and then no request for 500 ms: its start-up
 * catch-up is done. */
async function settled(meter: Meter, syncs: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  let seen = -1;
  for (;;) {
    if (performance.now() > deadline) throw new Error('the listening client did not settle');
    if (meter.paths.filter((p) => p === 'GET /v1/sync').length >= syncs && seen === meter.requests) return;
    seen = meter.requests;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function measure(times: number, meter: Meter, op: (i: number) => Promise<unknown>, before?: (i: number) => Promise<unknown>): Promise<OpCost> {
  const cost: OpCost = { requests: [], sent: [], received: [], ms: [] };
  for (let i = 0; i < times; i++) {
    await before?.(i);
    meter.take();
    const t = performance.now();
    await op(i);
    cost.ms.push(performance.now() - t);
    const m = meter.take();
    cost.requests.push(m.requests);
    cost.sent.push(m.sent);
    cost.received.push(m.received);
  }
  return cost;
}

function range(xs: number[], fmt: (x: number) => string): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? fmt(lo) : `${fmt(median(xs))} (${fmt(lo)}–${fmt(hi)})`;
}

function opRow(name: string, c: OpCost): string[] {
  return [name, range(c.requests, String), range(c.sent, bytes), range(c.received, bytes), millis(median(c.ms))];
}

/** A BlobStore that counts the bytes handed to `write`. */
class CountingBlobStore implements BlobStore {
  written = 0;
  constructor(private readonly inner: BlobStore) {}
  read() {
    return this.inner.read();
  }
  async write(b: Uint8Array) {
    this.written += b.length;
    await this.inner.write(b);
  }
  lock() {
    return this.inner.lock();
  }
  describe() {
    return this.inner.describe();
  }
}

/** nodeFileIo, counting the bytes appended or written (journal frames, compactions, the header). */
function countingIo(): FileIo & { written: number; compactions: number } {
  const io = {
    ...nodeFileIo,
    written: 0,
    compactions: 0,
    async append(file: string, b: Uint8Array) {
      io.written += b.length;
      await nodeFileIo.append(file, b);
    },
    async writeSynced(file: string, b: Uint8Array) {
      io.written += b.length;
      if (file.endsWith('.compact')) io.compactions += 1;
      await nodeFileIo.writeSynced(file, b);
    },
  };
  return io;
}

function message(i: number, sender: string, senderDevice: string) {
  return { id: `r_bench${String(i).padStart(8, '0')}`, seq: i + 1, sender, senderDevice, sentAt: 1_780_000_000_000 + i * 1000, text: `#${i + 1} ${TEXT}` };
}

/** Posts `count` text records to a public group as the device whose profile is in `profileDir`,
 * sealed by the SDK's sealRecord exactly as AgoraClient.send seals them (organisation key of the
 * newest generation, the device's next counters, its checkpoint note), but without the sender's
 * own sync and profile save per message, which would make filling the group cost a minute. The
 * reader checks every record as it checks any other, so a record built wrongly fails the read. */
async function postDirectly(server: string, profileDir: string, groupId: string, count: number, text: (i: number) => string): Promise<void> {
  const state = await nodeProfile({ profileDir, passphrase: PASSPHRASE }).load();
  const device = await profileDevice(server, profileDir);
  const generation = Math.max(...Object.keys(state.orgKeys).map(Number));
  if (!Number.isFinite(generation)) throw new Error('the posting device holds no organisation key');
  const key = derivePublicGroupKey(fromB64u(state.orgKeys[String(generation)]), groupId);
  const first = (state.sentCounters[groupId] ?? 0) + 1;
  for (let i = 0; i < count; i++) {
    const record = {
      v: 1 as const,
      id: newId('r'),
      groupId,
      epoch: generation,
      senderUserId: state.userId,
      senderDeviceId: state.deviceId,
      counter: first + i,
      sentAt: Date.now(),
      type: 'text' as const,
      body: { text: text(i) },
      kt: state.kt.checkpoint?.note,
    };
    await device.http.appendRecord(groupId, { epoch: generation, ciphertext: await sealRecord({ record, key, signSeed: device.signSeed }) });
  }
}

interface SaveCost {
  history: number;
  profileBytes: number;
  profileMs: number;
  /** EncryptedProfile.load with the key already derived: what every operation starts with. */
  profileLoadMs: number;
  /** The largest of the measured StoreProfile saves (bytes appended to the journal). */
  storeBytes: number;
  /** Records the largest save wrote. */
  storeRecords: number;
  storeMs: number;
  /** StoreProfile.load inside a later operation (the save token unchanged: no records decrypted). */
  storeLoadMs: number;
  /** Compactions (the live records rewritten) during the measured saves. */
  compactions: number;
  /** A new process's first load with the key already derived: journal replay, every record decrypted. */
  storeOpenMs: number;
}

/** One save at each history size: the whole encrypted profile of earlier releases, and the
 * StoreProfile the client saves through (one lock, load, one new message, save). */
async function saveCosts(base: ProfileState, groupId: string, opts: ClientEngineOptions, dirs: TempDirs): Promise<SaveCost[]> {
  const out: SaveCost[] = [];
  const me = { sender: base.userId, senderDevice: base.deviceId };
  for (const n of opts.historySizes) {
    // --- the single file of earlier releases: EncryptedProfile.save rewrites everything ---
    const state: ProfileState = structuredClone(base);
    // Only the filled group holds messages, so N is the whole history.
    for (const g of Object.values(state.groups)) g.messages = [];
    const group = state.groups[groupId];
    group.messages = Array.from({ length: n }, (_, i) => message(i, me.sender, me.senderDevice));
    group.cursor = n;
    const blobs = new CountingBlobStore(new FileBlobStore(await dirs.make('save-profile')));
    const profile = new EncryptedProfile(blobs, PASSPHRASE);
    await profile.save(state); // derives the Argon2id key once: not part of a save's cost
    const profileMs: number[] = [];
    let profileBytes = 0;
    for (let k = 0; k < opts.profileSaves; k++) {
      group.messages.push(message(n + k, me.sender, me.senderDevice));
      group.cursor += 1;
      blobs.written = 0;
      const t = performance.now();
      await profile.save(state);
      profileMs.push(performance.now() - t);
      profileBytes = Math.max(profileBytes, blobs.written);
    }
    const loadMs: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t = performance.now();
      const loaded = await profile.load();
      loadMs.push(performance.now() - t);
      if (loaded.groups[groupId].messages.length !== n + opts.profileSaves) throw new Error('the saved profile does not hold the history it was given');
    }

    // --- StoreProfile on the Node journal, as the client saves: one lock, load, change, save ---
    const io = countingIo();
    const dir = await dirs.make('save-store');
    const storeMs: number[] = [];
    const storeLoadMs: number[] = [];
    let storeBytes = 0;
    let storeRecords = 0;
    let compactions = 0;
    const profileOf = () => nodeProfile({ profileDir: dir, passphrase: PASSPHRASE, io });
    const atN = structuredClone(state);
    atN.groups[groupId].messages = atN.groups[groupId].messages.slice(0, n);
    atN.groups[groupId].cursor = n;
    const stored = profileOf();
    await stored.save(atN); // the first save derives the key and writes all history: not measured
    for (let k = 0; k < opts.storeSaves; k++) {
      const release = await stored.lock();
      try {
        let t = performance.now();
        const s = await stored.load();
        storeLoadMs.push(performance.now() - t);
        s.groups[groupId].messages.push(message(n + k, me.sender, me.senderDevice));
        s.groups[groupId].cursor = n + k + 1;
        io.written = 0;
        io.compactions = 0;
        t = performance.now();
        await stored.save(s);
        storeMs.push(performance.now() - t);
        if (io.written > storeBytes) {
          storeBytes = io.written;
          storeRecords = stored.lastSave.records;
        }
        compactions += io.compactions;
      } finally {
        await release();
      }
    }
    await stored.close();
    // Another process: its first operation replays the journal and decrypts every record.
    const reopened = profileOf();
    const release = await reopened.lock(); // derives the key (Argon2id) ahead of the lock: not timed
    let storeOpenMs: number;
    try {
      const t = performance.now();
      const last = await reopened.load();
      storeOpenMs = performance.now() - t;
      const got = last.groups[groupId].messages.length;
      if (got !== n + opts.storeSaves) throw new Error(`the reopened profile holds ${got} of ${n + opts.storeSaves} messages`);
    } finally {
      await release();
      await reopened.close();
    }
    out.push({ history: n, profileBytes, profileMs: median(profileMs), profileLoadMs: median(loadMs), storeBytes, storeRecords, storeMs: median(storeMs), storeLoadMs: median(storeLoadMs), compactions, storeOpenMs });
  }
  return out;
}

export async function clientEngineSection(opts: ClientEngineOptions = DEFAULT_CLIENT_ENGINE): Promise<Section> {
  const dirs = new TempDirs();
  let server: ServerHandle | undefined;
  const meter = new Meter();
  const bobMeter = new Meter();
  let openPaths: string[] = [];
  let idle: OpCost, send: OpCost, sendAfterSync: OpCost, sendListening: OpCost, read: OpCost, readNothing: OpCost, open: OpCost;
  const setup: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const r = await f();
    setup[name] = performance.now() - t;
    return r;
  };
  let saves: SaveCost[];
  try {
    const sectionStart = performance.now();
    server = await startServer({ kind: 'relay', dataDir: await dirs.make('engine-relay') });
    const url = server.url;
    const adminDir = await dirs.make('admin');
    const admin = await AgoraClient.register(nodeDeps({ profileDir: adminDir, passphrase: PASSPHRASE, addGraceMs: 0 }), { server: url, invite: server.adminInvite!, name: 'Admin' });
    const invite = await admin.createInvite({ name: 'Alice' });
    const aliceDeps = nodeDeps({ profileDir: await dirs.make('alice'), passphrase: PASSPHRASE, addGraceMs: 0 });
    const alice = await AgoraClient.register(metered(aliceDeps, meter), { server: url, invite: invite.code });
    await admin.sync();
    const ops = await admin.createGroup({ name: 'ops', kind: 'secret' });
    await admin.addMembers(ops.id, ['Alice']);
    const news = await admin.createGroup({ name: 'news', kind: 'public' });
    await alice.sync();
    await alice.read(ops.id);
    await alice.sync();

    // Steady state: Alice is caught up; each operation starts from what the last one left.
    idle = await measure(opts.idleSyncs, meter, () => alice.sync());
    send = await measure(opts.sends, meter, (i) => alice.send(ops.id, `${i} ${TEXT}`));
    sendAfterSync = await measure(opts.reads, meter, (i) => alice.send(ops.id, `again ${i} ${TEXT}`), () => alice.sync());
    read = await measure(opts.reads, meter, () => alice.read(ops.id), (i) => admin.send(ops.id, `from admin ${i} ${TEXT}`));
    readNothing = await measure(opts.reads, meter, () => alice.read(ops.id));

    // The same device listening, as the web app always is while open: its push channel is open and a
    // sync since verified a checkpoint, so it is current and a send goes out as one request.
    const live = await AgoraClient.open(metered({ ...aliceDeps, webSocket: wsFactory }, meter));
    const ctl = new AbortController();
    const listening = live.listen({ signal: ctl.signal, onMessage: () => undefined });
    try {
      await settled(meter, 2);
      sendListening = await measure(opts.sends, meter, (i) => live.send(ops.id, `live ${i} ${TEXT}`));
    } finally {
      ctl.abort();
      await listening;
    }

    // The public group a newcomer opens, filled through the administrator's client.
    await timed('fill', () => postDirectly(url, adminDir, news.id, opts.openMessages, (i) => `#${i + 1} ${TEXT}`));
    const bobInvite = await admin.createInvite({ name: 'Bob' });
    const bob = await AgoraClient.register(metered(nodeDeps({ profileDir: await dirs.make('bob'), passphrase: PASSPHRASE, addGraceMs: 0 }), bobMeter), { server: url, invite: bobInvite.code });
    await admin.sync(); // seals the organisation key to Bob's device
    await bob.sync();
    open = await measure(1, bobMeter, async () => {
      const r = await bob.read(news.id);
      if (r.messages.length !== opts.openMessages) throw new Error(`Bob read ${r.messages.length} of ${opts.openMessages} messages (warnings: ${r.warnings.join('; ')})`);
      openPaths = [...bobMeter.paths];
    });

    const adminState = await nodeProfile({ profileDir: adminDir, passphrase: PASSPHRASE }).load();
    saves = await timed('saves', () => saveCosts(adminState, ops.id, opts, dirs));
    setup.total = performance.now() - sectionStart;
  } finally {
    await server?.close();
    await dirs.cleanup();
  }

  const first = saves.find((x) => x.history > 0) ?? saves[0];
  const last = saves[saves.length - 1];
  const empty = saves.find((x) => x.history === 0);
  const storeMin = Math.min(...saves.map((x) => x.storeBytes));
  const storeMax = Math.max(...saves.map((x) => x.storeBytes));
  // The message's seq and the cursor get one digit longer per tenfold: a few bytes, not growth.
  const storeFlat = storeMax - storeMin <= 64;
  const compactions = saves.reduce((sum, x) => sum + x.compactions, 0);
  return {
    title: '(e) Client engine: requests, bytes and time per operation, on the Node driver',
    findings: [
      `A send of a listening device (current: push channel open, a checkpoint verified within the window) costs ${range(sendListening.requests, String)} request${median(sendListening.requests) === 1 ? '' : 's'} and ${millis(median(sendListening.ms))}; a device that does not listen (each \`agora send\`) pays a catch-up first.`,
      `A send costs ${millis(median(send.ms))} (median of ${opts.sends}) and ${range(send.requests, String)} requests; a new device opens a public group of ${opts.openMessages.toLocaleString('en-US')} messages (fetch, decrypt, verify every record, save) in ${millis(open.ms[0])}.`,
      `The client saves its state through StoreProfile (keyed records in the Node journal store): a save after one new message writes ${last.storeRecords} records, ${storeFlat ? `${bytes(storeMin)}–${bytes(storeMax)} at every history size (it does not grow)` : `${saves.map((x) => bytes(x.storeBytes)).join(', ')} at these history sizes`}, and takes ${millis(last.storeMs)} after ${last.history.toLocaleString('en-US')} stored messages (${millis(first.storeMs)} after ${first.history.toLocaleString('en-US')}); the load that starts each operation takes ${millis(last.storeLoadMs)} there, since nothing was written by another process in between. The single encrypted file of earlier releases rewrote everything instead: ${bytes(last.profileBytes)} and ${millis(last.profileMs)} per save after ${last.history.toLocaleString('en-US')} messages, against ${bytes(first.profileBytes)} after ${first.history.toLocaleString('en-US')} (${empty ? `${bytes(empty.profileBytes)} with no messages at all; ` : ''}≈ ${bytes((last.profileBytes - first.profileBytes) / (last.history - first.history))} more per stored message), and ${millis(last.profileLoadMs)} per load. A new process pays for the whole history once, at its first operation: ${millis(last.storeOpenMs)} to replay the journal and decrypt every record at ${last.history.toLocaleString('en-US')} messages (Argon2id not included).`,
    ],
    how: [
      `A real relay (SQLite in a temporary directory) runs in a worker thread; the clients are \`AgoraClient\`s on the Node driver (\`nodeDeps\`: the profile as a StoreProfile on the Node journal store, global fetch) in the main thread. Alice's and Bob's clients get a fetch wrapped as tests/request-counts.test.ts wraps it, which here also counts the UTF-8 length of each request body and each response body (HTTP headers are not counted). The administrator creates a secret group with Alice and a public group; Alice reads the secret group once so that she is in the steady state, and each measured operation starts from the state the previous one left.`,
      `Measured on Alice's client: ${opts.idleSyncs} idle \`sync()\`s; ${opts.sends} \`send\`s in a row (each one reads back the log its own previous record moved, so a send in a run costs a log read too, except the first, which follows an idle sync; the leaf-refresh commit a secret group's member makes every 1,000 records or about a week falls in none of them); ${opts.reads} sends each right after a \`sync()\`; ${opts.reads} \`read\`s each after the administrator posted one message; ${opts.reads} \`read\`s with nothing new; then the same profile opened by a second client with a WebSocket (the CLI's \`ws\` factory), listening as the web app does while open, and after its start-up syncs settled ${opts.sends} \`send\`s in a row (the push of each record is applied with no request). Cells give the median and, where they differ, the range; times are medians of the wall clock.`,
      `Opening a group: the administrator's device posts ${opts.openMessages.toLocaleString('en-US')} messages of ~155 characters to the public group (setup, timed below). Each record is made by the SDK's \`sealRecord\` with the administrator's device key, the public group's key derived from its organisation key, consecutive counters and its checkpoint note — what \`send\` makes — and posted with \`POST /v1/groups/:id/records\` one at a time; going through \`send\` instead would add the sender's own sync, log read and whole-profile save to each of them (and those saves grow with the sender's history, as the table below shows), which is not what is measured here. Then Bob registers, the administrator's sync seals the organisation key to him, Bob syncs, and then his first \`read\` of the group is timed: sync, paged log fetch, opening and checking the signature of every record, and the profile save. The read is checked to return all ${opts.openMessages.toLocaleString('en-US')} messages. Its requests: ${openPaths.map((p) => `\`${p}\``).join(', ')}.`,
      `Save cost: the administrator's real profile state (device keys, directory, KeyPackages, the secret group's MLS state and content keys) is taken from disk and its secret group's history filled directly with ${opts.historySizes.map((n) => n.toLocaleString('en-US')).join(', ')} messages of ~155 characters (no relay and no sends involved: the messages are put into the loaded state as \`StoredMessage\`s, as the client stores the ones it reads). Then ${opts.profileSaves} messages are added one at a time, each followed by \`EncryptedProfile.save\` into a fresh profile directory (the one-off Argon2id key derivation done before), counting the bytes handed to the file store (the whole file, written to a temporary file, fsynced and renamed); the table gives the largest of them and the median time, and the median of 3 \`EncryptedProfile.load\`s of the result (key already derived: file read, decryption, JSON and schema parse), which the client does at the start of every operation. For StoreProfile (\`nodeProfile\`: the Node journal backend under a passphrase, what the CLI uses), the same state with N messages is saved once into a fresh directory (deriving the key and writing all records: not measured); then each of ${opts.storeSaves} operations takes the profile lock, loads (timed), adds one message and advances the group's cursor, and saves (timed), counting the bytes appended to the journal (a compaction, which rewrites the live records once the journal has grown to twice their size plus 1 MiB, would count too: ${compactions === 0 ? 'none fell in the measured saves' : `${compactions} fell in the measured saves`}); the table gives the largest and the median times. Last, a second handle on the directory (as another process) takes the lock, deriving the key ahead of it, and its first load is timed: journal replay, every record decrypted and parsed; it is checked to hold every message.`,
    ],
    tables: [
      {
        caption: 'Per operation (Alice, steady state; bodies only)',
        headers: ['operation', 'requests', 'bytes sent', 'bytes received', 'time (median)'],
        rows: [
          opRow('idle sync', idle),
          opRow('send, right after own send', send),
          opRow('send, right after a sync', sendAfterSync),
          opRow('send while listening (push channel open, checkpoint within the window)', sendListening),
          opRow('read, one new message', read),
          opRow('read, nothing new', readNothing),
          opRow(`new device opens a public group of ${opts.openMessages.toLocaleString('en-US')} messages (one read)`, open),
        ],
      },
      {
        caption: 'One save of the device state after N stored messages',
        headers: ['stored messages', 'single file: bytes written', 'single file: save', 'single file: load', 'StoreProfile: bytes written', 'StoreProfile: records', 'StoreProfile: save', 'StoreProfile: load', 'StoreProfile: first load of a process'],
        rows: saves.map((s) => [s.history.toLocaleString('en-US'), bytes(s.profileBytes), millis(s.profileMs), millis(s.profileLoadMs), bytes(s.storeBytes), String(s.storeRecords), millis(s.storeMs), millis(s.storeLoadMs), millis(s.storeOpenMs)]),
      },
      {
        caption: 'Where the section spends its time (not measurements)',
        headers: ['step', 'wall time'],
        rows: [
          [`administrator's device posts ${opts.openMessages.toLocaleString('en-US')} records (sealRecord + POST, one at a time)`, `${num(setup.fill / 1000)} s`],
          [`building the histories and timing the saves`, `${num(setup.saves / 1000)} s`],
          ['whole section', `${num(setup.total / 1000)} s`],
        ],
      },
    ],
  };
}
