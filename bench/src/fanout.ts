/** (a) Relay fan-out: one public group with 100 connected devices; senders append records of
 * realistic size and every receiver counts the `entry` pushes. The same load generator drives a
 * plain `ws` broadcast server in the same run, which is the limit the relay is measured against. */
import http from 'node:http';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { PushMessage, WS_PROTOCOL, newId, wsTokenProtocol } from '@agora/client-sdk';
import { registerNodeClient } from '@agora/client-sdk/node';
import { openSqliteStore } from '@agora/server';
import { readFile } from 'node:fs/promises';
import { createInvites, pool, profileDevice, registerRawDevice, PASSPHRASE, TempDirs, type RawDevice } from './devices.js';
import { eluBetween, startServer, type EluSample, type ServerHandle } from './server-worker.js';
import { median, num, quantile, type Section } from './report.js';

export interface FanoutOptions {
  receivers: number;
  /** Sender counts to measure, each against both servers. */
  senderCounts: number[];
  /** Messages each sender keeps in flight (sent, not yet received by every receiver). */
  window: number;
  warmupMs: number;
  measureMs: number;
  /** Rounds per sender count; in each round every server runs once, so slow phases of a shared
   * machine hit all of them, and the table reports medians over rounds. */
  rounds: number;
  /** Base64url characters of each record's ciphertext. */
  payloadChars: number;
}

export const DEFAULT_FANOUT: FanoutOptions = {
  receivers: 100,
  senderCounts: [1, 4],
  window: 8,
  warmupMs: 1000,
  measureMs: 3000,
  rounds: 5,
  payloadChars: 600,
};

const ID_CHARS = 8;
const MAX_IDS = 1 << 20;
const DELIVERY_TIMEOUT_MS = 20_000;
const PAYLOAD_MARK = Buffer.from('"payload":"');
const ENTRY_PREFIX = Buffer.from('{"type":"entry"');

type TargetLabel = 'plain' | 'relay' | 'relay-tmpfs';

interface Target {
  label: TargetLabel;
  receivers: WebSocket[];
  /** Resolves when the server accepted the message (relay: 201 after the durable write; plain: written to the socket). */
  send(sender: number, id: number, payload: string): Promise<void>;
  server: ServerHandle;
  close(): Promise<void>;
}

interface RunResult {
  target: TargetLabel;
  senders: number;
  deliveredPerSec: number;
  messagesPerSec: number;
  p50: number;
  p99: number;
  serverBusy: number;
  clientBusy: number;
  sent: number;
  checked: number;
}

/** Ids ride in the first characters of the ciphertext (base 36 is inside base64url's alphabet), so
 * a receiver finds which message arrived without parsing the whole push. */
function makePayload(id: number, chars: number): string {
  const head = id.toString(36).padStart(ID_CHARS, '0');
  return head + randomBytes(Math.ceil(((chars - ID_CHARS) * 3) / 4)).toString('base64url').slice(0, chars - ID_CHARS);
}

function openSocket(url: string, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function closeSockets(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 2000);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close();
        }),
    ),
  );
}

async function relayTarget(
  opts: FanoutOptions,
  dirs: TempDirs,
  maxSenders: number,
  tmpfs?: string,
): Promise<Target & { groupId: string; senderDevices: RawDevice[]; setupMs: number }> {
  const started = performance.now();
  const dataDir = await dirs.make('fanout-relay', tmpfs);
  const server = await startServer({ kind: 'relay', dataDir });
  try {
    // The first administrator through the SDK: it creates organisation-key generation 1, so the
    // relay accepts public records with epoch 1, and the public group.
    const adminDir = await dirs.make('fanout-admin');
    const admin = await registerNodeClient({ profileDir: adminDir, passphrase: PASSPHRASE, server: server.url, invite: server.adminInvite!, name: 'Admin' });
    const group = await admin.createGroup({ name: 'Fan-out', kind: 'public' });
    const adminDevice = await profileDevice(server.url, adminDir);
    const invites = await createInvites(adminDevice, 'Bench person', opts.receivers + maxSenders);
    const devices = await pool(invites, 8, (code) => registerRawDevice(server.url, code));
    const receiverDevices = devices.slice(0, opts.receivers);
    const senderDevices = devices.slice(opts.receivers);
    const wsUrl = `${server.url.replace(/^http/, 'ws')}/v1/ws`;
    const receivers = await pool(receiverDevices, 8, async (d) => openSocket(wsUrl, [WS_PROTOCOL, wsTokenProtocol(await d.token())]));
    const tokens = await Promise.all(senderDevices.map((d) => d.token()));
    const agents = senderDevices.map(() => new http.Agent({ keepAlive: true, maxSockets: opts.window }));
    const { hostname, port } = new URL(server.url);
    const path = `/v1/groups/${encodeURIComponent(group.id)}/records`;
    const send = (sender: number, _id: number, payload: string) =>
      new Promise<void>((resolve, reject) => {
        const body = JSON.stringify({ epoch: 1, ciphertext: payload });
        const req = http.request(
          {
            host: hostname,
            port,
            path,
            method: 'POST',
            agent: agents[sender],
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${tokens[sender]}` },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`relay answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`))));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    return {
      label: tmpfs ? 'relay-tmpfs' : 'relay',
      receivers,
      send,
      server,
      groupId: group.id,
      senderDevices,
      setupMs: performance.now() - started,
      async close() {
        await closeSockets(receivers);
        for (const a of agents) a.destroy();
        await server.close();
      },
    };
  } catch (e) {
    await server.close();
    throw e;
  }
}

async function plainTarget(opts: FanoutOptions, maxSenders: number): Promise<Target> {
  const server = await startServer({ kind: 'plain' });
  try {
    const receivers = await pool(Array.from({ length: opts.receivers }), 8, () => openSocket(`${server.url}/recv`));
    const senders = await Promise.all(Array.from({ length: maxSenders }, () => openSocket(`${server.url}/send`)));
    // What the relay pushes for a record, byte for byte in shape and size, so receivers do the same work.
    const groupId = newId('g');
    const deviceIds = senders.map(() => newId('d'));
    let seq = 0;
    const send = (sender: number, _id: number, payload: string) =>
      new Promise<void>((resolve, reject) => {
        const entry = { seq: ++seq, kind: 'record', epoch: 1, sender: deviceIds[sender], at: Date.now(), payload };
        senders[sender].send(JSON.stringify({ type: 'entry', groupId, entry }), (err) => (err ? reject(err) : resolve()));
      });
    return {
      label: 'plain',
      receivers,
      send,
      server,
      async close() {
        await closeSockets([...receivers, ...senders]);
        await server.close();
      },
    };
  } catch (e) {
    await server.close();
    throw e;
  }
}

/** One measured run: `senders` senders each keep `window` messages in flight; a message leaves the
 * window when the server accepted it and every receiver got it. */
async function measure(target: Target, senders: number, opts: FanoutOptions): Promise<RunResult> {
  const R = target.receivers.length;
  const sentAt = new Float64Array(MAX_IDS);
  const counts = new Uint16Array(MAX_IDS);
  const payloads = new Map<number, string>();
  const waiters = new Map<number, () => void>();
  const latencies = new Float64Array(Math.ceil((opts.measureMs / 1000) * 1_000_000));
  let nLat = 0;
  let delivered = 0;
  let measuring = false;
  let checked = 0;
  let failure: Error | undefined;

  const onMessage = (data: Buffer) => {
    if (data.length < ENTRY_PREFIX.length || data.compare(ENTRY_PREFIX, 0, ENTRY_PREFIX.length, 0, ENTRY_PREFIX.length) !== 0) return;
    const at = data.indexOf(PAYLOAD_MARK);
    if (at < 0) return;
    const start = at + PAYLOAD_MARK.length;
    const id = parseInt(data.toString('latin1', start, start + ID_CHARS), 36);
    const now = performance.now();
    if (measuring) {
      delivered++;
      if (nLat < latencies.length) latencies[nLat++] = now - sentAt[id];
    }
    // One push in a hundred is parsed and validated in full, as the SDK does every push, and its
    // ciphertext compared with what was sent: the counting above is then known to count the real thing.
    if ((counts[id] + id) % 100 === 0) {
      const msg = PushMessage.safeParse(JSON.parse(data.toString('utf8')));
      if (!msg.success || msg.data.type !== 'entry' || msg.data.entry.payload !== payloads.get(id)) {
        failure ??= new Error(`${target.label}: a push did not carry the record that was sent`);
      } else checked++;
    }
    if (++counts[id] === R) {
      payloads.delete(id);
      const w = waiters.get(id);
      if (w) {
        waiters.delete(id);
        w();
      }
    }
  };
  const handlers = target.receivers.map((ws) => {
    const h = (data: Buffer) => onMessage(data);
    ws.on('message', h);
    return h;
  });

  const timers = new Set<NodeJS.Timeout>();
  let nextId = 1;
  let stop = false;
  let sent = 0;
  const slot = async (sender: number) => {
    while (!stop && !failure) {
      const id = nextId++;
      if (id >= MAX_IDS) throw new Error('fan-out bench: id space exhausted; lower measureMs');
      const payload = makePayload(id, opts.payloadChars);
      payloads.set(id, payload);
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${target.label}: message ${id} not delivered to all ${R} receivers within ${DELIVERY_TIMEOUT_MS} ms`)), DELIVERY_TIMEOUT_MS);
        timers.add(timer);
        waiters.set(id, () => {
          clearTimeout(timer);
          timers.delete(timer);
          resolve();
        });
      });
      // If the send fails first, this wait is abandoned; its timer is cleared when the run ends.
      done.catch(() => undefined);
      sentAt[id] = performance.now();
      await Promise.all([target.send(sender, id, payload), done]);
      sent++;
    }
  };
  const lanes = Array.from({ length: senders * opts.window }, (_, i) => slot(i % senders));
  const running = Promise.all(lanes);
  // A lane that fails ends the run at once instead of after the warm-up and measuring sleeps.
  running.catch(() => (stop = true));

  await new Promise((r) => setTimeout(r, opts.warmupMs));
  const serverElu0: EluSample = await target.server.elu();
  const clientElu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, opts.measureMs));
  measuring = false;
  const t1 = performance.now();
  const clientElu = performance.eventLoopUtilization(clientElu0).utilization;
  const serverElu1 = await target.server.elu();
  stop = true;
  try {
    await running;
  } finally {
    target.receivers.forEach((ws, i) => ws.off('message', handlers[i]));
    for (const t of timers) clearTimeout(t);
  }
  if (failure) throw failure;
  const lat = latencies.subarray(0, nLat).sort();
  const seconds = (t1 - t0) / 1000;
  return {
    target: target.label,
    senders,
    deliveredPerSec: delivered / seconds,
    messagesPerSec: delivered / R / seconds,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    serverBusy: eluBetween(serverElu0, serverElu1),
    clientBusy: clientElu,
    sent,
    checked,
  };
}

interface AppendTimes {
  meanMs: number;
  p50: number;
  p99: number;
  /** `together` appends issued at once, which the store writes as one group commit. */
  together: number;
  /** Per record, with `together` appends issued at once (mean over all of them). */
  groupMeanMs: number;
}

/** The relay's durable write measured alone: the Store call a record append makes, in a fresh
 * SQLite database on the same file system as the relay's data directory; one at a time (one
 * transaction and fsync each), then several at once (one group commit for all of them). */
async function measureStoreAppend(dirs: TempDirs, payloadChars: number, count = 1000, together = 8): Promise<AppendTimes> {
  const store = await openSqliteStore(await dirs.make('store-append'));
  try {
    const group = { id: newId('g'), name: 'Append', kind: 'public' as const, departmentId: null, epoch: null, createdBy: null, createdAt: Date.now(), head: 0 };
    await store.createGroup(group);
    const sender = newId('d');
    const append = () => store.appendRecord({ groupId: group.id, epoch: 1, sender, at: Date.now(), payload: makePayload(0, payloadChars) });
    for (let i = 0; i < 100; i++) await append();
    const times = new Float64Array(count);
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await append();
      times[i] = performance.now() - t;
    }
    const meanMs = (performance.now() - t0) / count;
    times.sort();
    const rounds = Math.ceil(count / together);
    const t1 = performance.now();
    for (let i = 0; i < rounds; i++) {
      const seqs = await Promise.all(Array.from({ length: together }, append));
      if (new Set(seqs).size !== together) throw new Error('store bench: concurrent appends shared a seq');
    }
    const groupMeanMs = (performance.now() - t1) / (rounds * together);
    return { meanMs, p50: quantile(times, 0.5), p99: quantile(times, 0.99), together, groupMeanMs };
  } finally {
    await store.close();
  }
}

/** A RAM file system for the diagnostic run, if this machine has one. */
async function tmpfsDir(): Promise<string | undefined> {
  try {
    const mounts = await readFile('/proc/mounts', 'utf8');
    return mounts.split('\n').some((l) => l.split(' ')[1] === '/dev/shm' && l.split(' ')[2] === 'tmpfs') ? '/dev/shm' : undefined;
  } catch {
    return undefined;
  }
}

const LABELS: Record<TargetLabel, string> = {
  plain: 'plain ws broadcast',
  relay: 'Agora relay',
  'relay-tmpfs': 'Agora relay, database on tmpfs (diagnostic, not durable)',
};

export async function fanoutSection(opts: FanoutOptions = DEFAULT_FANOUT): Promise<Section> {
  const dirs = new TempDirs();
  const maxSenders = Math.max(...opts.senderCounts);
  const results: (RunResult & { round: number })[] = [];
  const relays: Awaited<ReturnType<typeof relayTarget>>[] = [];
  let plain: Target | undefined;
  let append: AppendTimes | undefined;
  const tmpfs = await tmpfsDir();
  try {
    append = await measureStoreAppend(dirs, opts.payloadChars);
    plain = await plainTarget(opts, maxSenders);
    relays.push(await relayTarget(opts, dirs, maxSenders));
    if (tmpfs) relays.push(await relayTarget(opts, dirs, maxSenders, tmpfs));
    for (const senders of opts.senderCounts) {
      for (let round = 0; round < opts.rounds; round++) {
        results.push({ ...(await measure(plain, senders, opts)), round });
        for (const relay of relays) results.push({ ...(await measure(relay, senders, opts)), round });
      }
    }
    for (const relay of relays) {
      // Every acknowledged record is in the relay's log: the durable write was really done.
      const { head } = await relay.senderDevices[0].http.log(relay.groupId, 0, 1);
      const acked = results.filter((r) => r.target === relay.label).reduce((n, r) => n + r.sent, 0);
      if (head < acked) throw new Error(`${relay.label} acknowledged ${acked} records but its log holds ${head}`);
      if (relay.server.logs.length > 0) throw new Error(`${relay.label} logged during the bench: ${relay.server.logs.slice(0, 3).join(' | ')}`);
    }
  } finally {
    await Promise.allSettled([...relays.map((r) => r.close()), plain?.close()]);
    await dirs.cleanup();
  }

  const targets: TargetLabel[] = ['plain', ...relays.map((r) => r.label)];
  const runs = (target: TargetLabel, senders: number) => results.filter((x) => x.target === target && x.senders === senders);
  const med = (target: TargetLabel, senders: number, f: (r: RunResult) => number) => median(runs(target, senders).map(f));
  /** Relay/plain per round (both measured in that round), then the median and range over rounds. */
  const ratios = (target: TargetLabel, senders: number) => {
    const plainRuns = runs('plain', senders);
    const xs = runs(target, senders).map((r) => r.deliveredPerSec / plainRuns.find((p) => p.round === r.round)!.deliveredPerSec);
    return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
  };
  /** Server-thread busy time per message: what the server itself spends, whoever is the bottleneck. */
  const perRecordMs = (target: TargetLabel, senders: number) => med(target, senders, (r) => (1000 * r.serverBusy) / r.messagesPerSec);
  const rows: string[][] = [];
  for (const senders of opts.senderCounts) {
    for (const target of targets) {
      const q = ratios(target, senders);
      rows.push([
        LABELS[target],
        String(senders),
        String(senders * opts.window),
        num(med(target, senders, (r) => r.deliveredPerSec)),
        num(med(target, senders, (r) => r.messagesPerSec)),
        num(med(target, senders, (r) => r.p50)),
        num(med(target, senders, (r) => r.p99)),
        `${Math.round(med(target, senders, (r) => r.serverBusy) * 100)}%`,
        num(perRecordMs(target, senders)),
        `${Math.round(med(target, senders, (r) => r.clientBusy) * 100)}%`,
        target === 'plain' ? '1.00×' : `${q.median.toFixed(2)}× (${q.min.toFixed(2)}–${q.max.toFixed(2)})`,
      ]);
    }
  }
  const findings = opts.senderCounts.map((s) => {
    const q = ratios('relay', s);
    return `${s} sender${s > 1 ? 's' : ''}: the relay delivered ${num(med('relay', s, (r) => r.deliveredPerSec))} pushes/s (${num(med('relay', s, (r) => r.messagesPerSec))} records/s to ${opts.receivers} devices), ${q.median.toFixed(2)}× the plain ws server's ${num(med('plain', s, (r) => r.deliveredPerSec))} (median over ${opts.rounds} rounds; range ${q.min.toFixed(2)}–${q.max.toFixed(2)}×) — the ≥ 0.5× target is ${q.median >= 0.5 ? 'met' : '**not met**'}; p50/p99 send→receive ${num(med('relay', s, (r) => r.p50))}/${num(med('relay', s, (r) => r.p99))} ms against ${num(med('plain', s, (r) => r.p50))}/${num(med('plain', s, (r) => r.p99))} ms.`;
  });
  const s0 = opts.senderCounts[0];
  const relayMs = perRecordMs('relay', s0);
  const plainMs = perRecordMs('plain', s0);
  const tmpfsMs = tmpfs ? perRecordMs('relay-tmpfs', s0) : NaN;
  findings.push(
    `Where the time goes (server-thread busy time per record, ${s0} sender): plain server ${num(plainMs)} ms (the ${opts.receivers} socket writes), relay ${num(relayMs)} ms` +
      (tmpfs
        ? `, relay with its database on tmpfs ${num(tmpfsMs)} ms. So the durable commit costs the relay ≈ ${num(relayMs - tmpfsMs)} ms per record under this load, and the request path (HTTP, token check, store reads for principal, group and generation, zod) plus its fan-out ≈ ${tmpfsMs >= plainMs ? `${num(tmpfsMs - plainMs)} ms more` : `${num(plainMs - tmpfsMs)} ms less`} than the plain server's fan-out${tmpfsMs < plainMs ? ' (the relay writes the pushes of records committed together with one system call per socket, the plain server each message on its own)' : ''}.`
        : '.') +
      ` One durable append through the store alone on a quiet thread (SQLite WAL, \`synchronous=FULL\`, one transaction and fsync per record) took ${num(append!.meanMs)} ms (p50 ${num(append!.p50)}, p99 ${num(append!.p99)} ms); with ${append!.together} appends issued at once, which the store writes as one transaction with one fsync, ${num(append!.groupMeanMs)} ms per record. better-sqlite3 is synchronous, so the fsync blocks the relay's event loop; the store therefore group-commits: records that arrive while one commit is being written are written together in the next transaction, each acknowledged only after that transaction is on disk, which is why more senders raise the relay's rate instead of queueing behind one fsync each.`,
  );
  findings.push(
    `The plain server's rate is bounded by this harness as much as by the server: the thread that runs the load generator and all ${opts.receivers} receivers was ${Math.round(med('plain', s0, (r) => r.clientBusy) * 100)}% busy during the plain runs, so the true plain limit is higher than shown and the delivered ratio flatters the relay. Compared by what each server's own thread spends per message (the "server ms/message" column, which does not depend on who the bottleneck is), the relay does ${(plainMs / relayMs).toFixed(2)}× the plain server's work rate with ${s0} sender.`,
  );
  return {
    title: `(a) Relay fan-out: ${opts.receivers} devices in one group`,
    findings,
    how: [
      `The real relay (\`startRelay\`: Koa, zod validation, bearer-token check, SQLite in a temporary directory with WAL and \`synchronous=FULL\`, the push hub, rate limiting off) runs in a worker thread, so on this ${os.availableParallelism()}-core machine it has one core and the load generator and receivers, which stand in for other machines, have the other. The organisation is set up as in production: the first administrator registers through the SDK (\`registerNodeClient\`, which also creates organisation-key generation 1) and creates a **public** group; ${opts.receivers + maxSenders} further people are invited over \`POST /v1/invites\` (the code made on the administrator's device, which signs its approval of the invite key) and register their devices over \`POST /v1/register\`, each enrolment signed with the invite key and with the new device's Ed25519 key as the SDK does it; each device signs in by challenge-response. A public group was chosen because the relay routes a public group's records to every connected device without any MLS state on its side; a secret group routes the same way (to the member devices its commits declared) and would need real commits only to set up.`,
      `${opts.receivers} receiver devices hold authenticated WebSocket connections (token in the subprotocol, as the SDK sends it). Each sender is a separate device that \`POST\`s records (\`{"epoch":1,"ciphertext":…}\`, ${opts.payloadChars} base64url characters of random bytes, the size of a short sealed text message; the relay only stores and routes it) over keep-alive HTTP. The relay writes each record durably before answering 201 and then pushes one \`entry\` message to every connected device. Senders hold no WebSocket, so both servers deliver every message to exactly ${opts.receivers} receivers.`,
      `The plain baseline is a minimal \`ws\` server in the same kind of worker thread: a sender's socket sends the very JSON the relay would push (same shape and size), and the server writes it unchanged to the ${opts.receivers} receiver sockets as it arrives — no parsing, no storage, no authentication. The relay serialises each push once and gathers the pushes of one event-loop turn (the records of one group commit), writing each socket's share with one system call, each push still its own WebSocket frame; the plain server does not gather, so under load the relay makes fewer writes per message than the baseline.`,
      `The load generator is the same for both: each sender keeps ${opts.window} messages in flight, where a message leaves the window only when the server accepted it and all ${opts.receivers} receivers got it, so queues stay bounded and latency is not inflated by an unbounded backlog. Each run warms up for ${opts.warmupMs / 1000} s and is then measured for ${opts.measureMs / 1000} s. For each sender count there are ${opts.rounds} rounds, and in each round every server runs once, one after the other; the table shows medians over the rounds, and the relay/plain ratio is taken per round (the two runs are seconds apart) and then its median and range are shown — this machine is shared and its speed drifts. "Delivered/s" counts pushes arriving at receivers in the measured window, "messages/s" is that divided by ${opts.receivers}; latency runs from just before the sender's request to each receiver's arrival (every delivery is a sample). Receivers find the message id in the first characters of the ciphertext; one push in a hundred is parsed and validated in full with the SDK's zod \`PushMessage\` schema and its ciphertext compared with what was sent. After the runs the bench checks that each relay's log holds every acknowledged record and that the relay logged no error. "Server busy" and "client busy" are the event-loop utilisation of the server thread and of the load-generator thread in the measured window (a thread near 100% is the bottleneck; the relay's fsync counts as busy, since better-sqlite3 waits for it on the event loop); "server ms/message" is server busy time divided by messages handled.`,
      `The store-alone figures call the relay's SQLite \`Store.appendRecord\` ${1000} times in a row (after 100 warm-up calls) in a fresh database in the same temporary directory tree, then ${1000} times more in rounds of ${append!.together} issued at once. fsync latency on this virtual disk varies from run to run (0.2–1.2 ms was seen while writing this bench), so the absolute relay rate moves with it.`,
    ],
    tables: [
      {
        headers: ['server', 'senders', 'in flight', 'delivered/s', 'messages/s', 'p50 ms', 'p99 ms', 'server busy', 'server ms/message', 'client busy', 'delivered vs plain (range)'],
        rows,
      },
      {
        caption: 'The relay\'s durable write alone',
        headers: ['operation', 'mean ms', 'p50 ms', 'p99 ms', 'records/s ceiling'],
        rows: [
          ['Store.appendRecord (SQLite, WAL, synchronous=FULL), one at a time', num(append!.meanMs), num(append!.p50), num(append!.p99), num(1000 / append!.meanMs)],
          [`Store.appendRecord, ${append!.together} at once (one group commit), per record`, num(append!.groupMeanMs), '', '', num(1000 / append!.groupMeanMs)],
        ],
      },
    ],
  };
}
