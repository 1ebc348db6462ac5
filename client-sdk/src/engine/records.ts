/** A group's log: reading and applying it, pushed entries, and sending text and meta records. */
import * as api from '@agora/protocol/api';
import { sameName } from '@agora/protocol/names';
import { fromB64u, newId } from '@agora/protocol/encoding';
import { AgoraError } from '../core/errors.js';
import type { GroupLocal, StoredMessage } from '../core/state.js';
import { type IngestContext, type IngestResult, ingestEntries } from '../core/ingest.js';
import { type MetaBody, sealRecord } from '../crypto/records.js';
import { derivePublicGroupKey } from '../crypto/orgkeys.js';
import { type Op, ask, persist } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import type { MessageView, SyncReport } from './types.js';
import { asDevice, device, fetchSync, mlsLookup, nameOf } from './directory.js';
import { logEpochOf, treeMembers, updateCommit, updateDue } from './membership.js';
import { orgKey, orgLog, syncOrgKeys, writableOrgGeneration } from './orgkeys.js';
import { rotationOwed } from '../core/orgkey-log.js';
import { findGroup, localGroup } from './groups.js';
import { syncMailbox } from './mailbox.js';

/** Reads a group's log from this device's cursor and applies it. `head`: the log's last seq as the
 * relay listed it just before (a sync answer); the log is read only up to there. A relay that
 * understates it only delays entries, as one that withholds them from the log read would. */
export async function* syncGroupLog(mc: Machine, groupId: string, head?: number): Op<StoredMessage[]> {
  const local = mc.state.groups[groupId];
  if (!local || (local.kind === 'secret' && (!local.mls || local.removed))) return [];
  const out: StoredMessage[] = [];
  for (;;) {
    const current = mc.state.groups[groupId];
    const after = logAfter(mc, current);
    if (head !== undefined && after >= head) break;
    const { entries } = yield* ask(req.log(groupId, after));
    if (entries.length === 0) break;
    const before = current.cursor;
    yield* mc.trust.ensureDevices(involvedDevices(mc, current, entries));
    const result = await ingestEntries(current, entries, ingestContext(mc, groupId));
    yield* keepIngested(mc, groupId, result);
    out.push(...result.messages);
    if (result.group.cursor === before) break;
    if (result.group.removed) break;
  }
  return out;
}

/** Every key ingesting these entries uses: senders, added devices and the group's current
 * members. Each must be one the key-transparency log proves. */
export function involvedDevices(mc: Machine, local: GroupLocal, entries: api.LogEntry[]): Set<string> {
  const involved = new Set(entries.flatMap((e) => [e.sender, ...(e.added ?? [])]));
  if (local.mls) for (const m of treeMembers(mc, local.mls)) involved.add(m.deviceId);
  return involved;
}

export function ingestContext(mc: Machine, groupId: string): IngestContext {
  return {
    selfDeviceId: mc.state.deviceId,
    device: (id) => asDevice(mc, id),
    mlsLookup: mlsLookup(mc),
    publicKey: (gen) => {
      const k = orgKey(mc, gen);
      return k ? derivePublicGroupKey(k, groupId) : undefined;
    },
    revoked: (id) => mc.trust.device(id)?.active === false,
  };
}

/** Keeps an ingest result as the group's state, raising alarms for refused commits and comparing
 * the checkpoints the senders carried with this device's own. */
export async function* keepIngested(mc: Machine, groupId: string, result: IngestResult): Op<void> {
  mc.state.groups[groupId] = result.group;
  for (const r of result.refusedCommits) {
    // A member's modified client or the relay itself: either way the people should know.
    mc.trust.alarm('commit_refused', `${result.group.name}: a commit (entry ${r.seq}) from device ${r.sender} was refused and voided: ${r.reason}`, [
      JSON.stringify({ groupId, seq: r.seq, sender: r.sender }),
    ]);
  }
  const distinct = new Map(result.checkpoints.map((c) => [c.note, c.senderDevice]));
  for (const [note, sender] of distinct) yield* mc.trust.compareGossip(note, nameOf(mc, device(mc, sender)?.userId ?? sender));
}

/** The log position after which this device reads a group next. */
export function logAfter(mc: Machine, local: GroupLocal): number {
  return Math.max(local.cursor, local.readableFrom > 0 ? local.readableFrom - 1 : 0);
}

/** Applies pushed entries that continue a group's log right after this device's position, with
 * no request. Undefined when they must come from the log read instead: the group is not one this
 * device reads, a key involved is not already proven by the key-transparency log on this device
 * (proving it takes requests), or ingesting refuses anything (a forged or replayed entry, a
 * commit this device cannot process). The read then decides, exactly as for any log entry, so a
 * push can never make this device skip the entry the log holds at that position. */
export async function* applyPushed(mc: Machine, groupId: string, entries: api.LogEntry[]): Op<StoredMessage[] | undefined> {
  const current = mc.state.groups[groupId];
  if (!current || (current.kind === 'secret' && (!current.mls || current.removed))) return undefined;
  if (entries.length === 0 || entries[0].seq !== logAfter(mc, current) + 1) return undefined;
  for (const id of involvedDevices(mc, current, entries)) if (!mc.trust.device(id)) return undefined;
  const result = await ingestEntries(current, entries, ingestContext(mc, groupId));
  const refused = result.group.rejected.length !== current.rejected.length || result.refusedCommits.length > 0;
  if (refused || result.group.cursor !== entries[entries.length - 1].seq) return undefined;
  yield* keepIngested(mc, groupId, result);
  return result.messages;
}

/** Applies the queued pushed entries (see listen): per group, drops what this device's position
 * covers, applies the run that continues it, and reads the log of a group whose entries cannot be
 * applied locally or whose gap is overdue. Entries left waiting are past a gap. */
export async function* applyPending(mc: Machine, pending: Map<string, Map<number, api.LogEntry>>, overdue: Set<string>): Op<SyncReport> {
  mc.warnings = [];
  const newMessages: SyncReport['newMessages'] = [];
  for (const groupId of new Set([...pending.keys(), ...overdue])) {
    const waiting = pending.get(groupId) ?? new Map<number, api.LogEntry>();
    let read = overdue.delete(groupId);
    const dropCovered = () => {
      const local = mc.state.groups[groupId];
      const after = local ? logAfter(mc, local) : Infinity;
      for (const seq of waiting.keys()) if (seq <= after) waiting.delete(seq);
      return after;
    };
    if (!read) {
      const after = dropCovered();
      const run: api.LogEntry[] = [];
      for (let seq = after + 1; waiting.has(seq); seq++) run.push(waiting.get(seq)!);
      if (run.length > 0) {
        const msgs = yield* applyPushed(mc, groupId, run);
        if (msgs) for (const m of msgs) newMessages.push({ groupId, message: view(mc, m) });
        else read = true;
      }
    }
    if (read) {
      // What waited before the read and is still ahead of it is not in the log: dropped. Pushes
      // that arrive during the read stay queued for the next round. A read that fails drops
      // them too rather than retry on a timer: the sync on reconnect reads every group that moved.
      const before = [...waiting.keys()];
      // Up to the newest pushed entry: one page, instead of a second read to find the end.
      const head = before.length > 0 ? Math.max(...before) : undefined;
      try {
        for (const m of (yield* syncGroupLog(mc, groupId, head))) newMessages.push({ groupId, message: view(mc, m) });
      } finally {
        for (const seq of before) waiting.delete(seq);
      }
    }
    dropCovered();
  }
  return { newMessages, warnings: [...mc.trust.raised.map((a) => `ALARM: ${a.message}`), ...mc.warnings] };
}

/** Writes a secret group's name (and description) into its log, encrypted under the current
 * epoch like any record, so only members read it; retried under a newer epoch if a commit wins. */
export async function* sendMeta(mc: Machine, groupId: string, meta: MetaBody): Op<void> {
  const g = { id: groupId, name: meta.name };
  for (let attempt = 0; attempt < 5; attempt++) {
    yield* syncGroupLog(mc, g.id);
    const local = mc.state.groups[g.id];
    if (!local?.mls || local.removed) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
    const epoch = logEpochOf(mc, local);
    const key = fromB64u(local.epochKeys[String(epoch)]);
    const counter = (mc.state.sentCounters[g.id] ?? 0) + 1;
    const record = {
      v: 1 as const, id: newId('r', mc.random), groupId: g.id, epoch, senderUserId: mc.state.userId, senderDeviceId: mc.state.deviceId,
      counter, sentAt: mc.now(), type: 'meta' as const, body: meta, kt: mc.trust.checkpointNote,
    };
    const ciphertext = await sealRecord({ record, key, signSeed: fromB64u(mc.state.keys.signSeed), random: mc.random });
    mc.state.sentCounters[g.id] = counter;
    yield* persist();
    try {
      const { seq } = yield* ask(req.appendRecord(g.id, { epoch, ciphertext }));
      if (seq > local.metaSeq) {
        local.name = meta.name;
        local.description = meta.description ?? null;
        local.metaSeq = seq;
      }
      return;
    } catch (e) {
      if (e instanceof AgoraError && (e.code === 'stale_epoch' || e.code === 'conflict')) continue;
      throw e;
    }
  }
  throw new AgoraError('conflict', `"${g.name}" is changing too fast; try again`);
}

export function view(mc: Machine, m: StoredMessage): MessageView {
  return { id: m.id, seq: m.seq, sender: m.sender, senderName: nameOf(mc, m.sender), sentAt: m.sentAt, text: m.text };
}

/** A text record of this device, sealed under `key` for `epoch`. */
async function textRecord(mc: Machine, groupId: string, epoch: number, key: Uint8Array, text: string) {
  const counter = (mc.state.sentCounters[groupId] ?? 0) + 1;
  const record = {
    v: 1 as const,
    id: newId('r', mc.random),
    groupId,
    epoch,
    senderUserId: mc.state.userId,
    senderDeviceId: mc.state.deviceId,
    counter,
    sentAt: mc.now(),
    type: 'text' as const,
    body: { text },
    kt: mc.trust.checkpointNote,
  };
  return { record, counter, ciphertext: await sealRecord({ record, key, signSeed: fromB64u(mc.state.keys.signSeed), random: mc.random }) };
}

/** The secret group `ref` names among the groups this device holds: by id, or the one local group
 * of that name (undefined when none or several: the relay's list then decides). */
function heldGroup(mc: Machine, ref: string): GroupLocal | undefined {
  const byId = mc.state.groups[ref];
  const hits = byId ? [byId] : Object.values(mc.state.groups).filter((g) => g.name !== '' && sameName(g.name, ref));
  const g = hits.length === 1 ? hits[0] : undefined;
  if (!g) return undefined;
  return g.kind === 'public' || (g.mls && !g.removed) ? g : undefined;
}

/** Why a refused record is not in the log and never will be (a 4xx: the relay refused it before
 * writing it), or undefined when nobody knows (no answer, a 5xx). */
function refusedBeforeWrite(e: unknown): AgoraError | undefined {
  const status = e instanceof AgoraError ? e.details.status : undefined;
  return status !== undefined && status >= 400 && status < 500 ? (e as AgoraError) : undefined;
}

/** The entries a stale_epoch refusal carried (what the sender had not read), applied as pushed
 * entries are: only when they continue this device's position, every key involved is proven by the
 * key-transparency log on this device already, and nothing is refused. Returns the last seq
 * applied, or undefined (the log is read instead). */
async function* applyRefusal(mc: Machine, groupId: string, refusal: AgoraError): Op<number | undefined> {
  if (refusal.code !== 'stale_epoch') return undefined;
  const missing = api.LogResponse.shape.entries.safeParse(refusal.details.entries);
  if (!missing.success || missing.data.length === 0) return undefined;
  // What others wrote meanwhile is kept like any entry read; it shows on the next read.
  return (yield* applyPushed(mc, groupId, missing.data)) ? missing.data[missing.data.length - 1].seq : undefined;
}

/** A send without catching up first, while this device is current (Machine.isCurrent: its push
 * channel is open and it verified a checkpoint within the window): one request.
 *
 * Secret group: the record is sealed under the epoch key this device holds for the epoch it last
 * saw, which trusts no key anew; when a commit landed since, the relay refuses it with the entries
 * this device has not read, which bring the new epoch, and it is sealed again: two requests. Those
 * entries are applied only as a pushed entry is (applyPushed: continuing this device's position,
 * every key involved proven by the key-transparency log already, nothing refused).
 *
 * Public group: sealed under the newest organisation-key generation this device holds that its
 * log scan allows writing under, when that scan (done by the sync that made it current, at most a
 * window ago) owes no rotation. A revocation since would have been pushed as a directory change,
 * which ends "current" until a sync has read it; the full send then rotates first, as always.
 *
 * Undefined when the full send takes over: a group not held here, an update commit or a key
 * rotation due, entries that cannot be applied without requests, or any other refusal. */
async function* sendSteady(mc: Machine, groupRef: string, text: string): Op<{ id: string; seq: number } | undefined> {
  const local = heldGroup(mc, groupRef);
  if (!local || !mc.state.kt.checkpoint) return undefined;
  if (local.kind === 'public') return yield* sendSteadyPublic(mc, local, text);
  if (updateDue(mc, local)) return undefined;
  const groupId = local.id;
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = mc.state.groups[groupId];
    if (!current.mls || current.removed) return undefined;
    const epoch = logEpochOf(mc, current);
    const key = current.epochKeys[String(epoch)];
    if (!key) return undefined;
    const { record, counter, ciphertext } = await textRecord(mc, groupId, epoch, fromB64u(key), text);
    // Spent and saved before the send, as in the full send below.
    mc.state.sentCounters[groupId] = counter;
    yield* persist();
    try {
      const { seq } = yield* ask(req.appendRecord(groupId, { epoch, ciphertext, after: logAfter(mc, current) }));
      mc.state.groups[groupId].pcs.sent += 1;
      return { id: record.id, seq };
    } catch (e) {
      const refusal = refusedBeforeWrite(e);
      if (!refusal) throw e;
      // No reader ever sees a refused record, so its counter is given back rather than shown to
      // every member as a gap.
      mc.state.sentCounters[groupId] = counter - 1;
      if ((yield* applyRefusal(mc, groupId, refusal)) === undefined) return undefined;
    }
  }
  return undefined;
}

async function* sendSteadyPublic(mc: Machine, local: GroupLocal, text: string): Op<{ id: string; seq: number } | undefined> {
  if (rotationOwed(orgLog(mc))) return undefined;
  let writable: { generation: number; key: Uint8Array };
  try {
    writable = writableOrgGeneration(mc);
  } catch {
    // No key to write under: the full send says why, after its catch-up.
    return undefined;
  }
  const { record, counter, ciphertext } = await textRecord(mc, local.id, writable.generation, derivePublicGroupKey(writable.key, local.id), text);
  mc.state.sentCounters[local.id] = counter;
  yield* persist();
  try {
    const { seq } = yield* ask(req.appendRecord(local.id, { epoch: writable.generation, ciphertext }));
    return { id: record.id, seq };
  } catch (e) {
    if (!refusedBeforeWrite(e)) throw e;
    mc.state.sentCounters[local.id] = counter - 1;
    return undefined;
  }
}

export async function* sendText(mc: Machine, groupRef: string, text: string): Op<{ id: string; seq: number }> {
  if (text.length === 0) throw new AgoraError('usage', 'the message is empty');
  if (mc.isCurrent()) {
    const steady = yield* sendSteady(mc, groupRef, text);
    if (steady) return steady;
  }
  const answer = yield* fetchSync(mc);
  const g = yield* findGroup(mc, groupRef, answer);
  // Every send also does a colleague's duty: hand the organisation key to new devices waiting
  // for it, so newcomers can read public groups as soon as anyone is active. Before a public
  // record it also rotates the key at once if the log shows a revocation not yet settled.
  yield* syncOrgKeys(mc, { writing: g.kind === 'public', fetched: answer });
  if (g.kind === 'secret') yield* syncMailbox(mc, answer.mailbox);
  /** How far the log is known to go: the sync answer's head, then what a refusal brought. */
  let head: number | undefined = g.head;
  for (let attempt = 0; attempt < 5; attempt++) {
    yield* syncGroupLog(mc, g.id, head);
    const local = localGroup(mc, g);
    let epoch: number;
    let key: Uint8Array;
    if (g.kind === 'secret') {
      if (!local.mls || local.removed) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
      if (attempt === 0 && updateDue(mc, local)) {
        // Post-compromise security by volume (and time): refresh this device's leaf first. A
        // failed update does not hold the message back; the next send or sync tries again.
        try {
          yield* updateCommit(mc, g);
        } catch {
          // tried again on the next send or sync
        }
        head = undefined;
        continue;
      }
      // The relay's epoch: it refuses (409) a record of any other, and readers too.
      epoch = logEpochOf(mc, local);
      key = fromB64u(local.epochKeys[String(epoch)]);
    } else {
      const w = writableOrgGeneration(mc);
      epoch = w.generation;
      key = derivePublicGroupKey(w.key, g.id);
    }
    const { record, counter, ciphertext } = await textRecord(mc, g.id, epoch, key, text);
    // The counter is spent before the send, and saved: if the answer is lost, the next record
    // leaves a visible gap instead of reusing the counter (which readers refuse as a replay).
    mc.state.sentCounters[g.id] = counter;
    yield* persist();
    try {
      const after = g.kind === 'secret' ? { after: logAfter(mc, local) } : {};
      const { seq } = yield* ask(req.appendRecord(g.id, { epoch, ciphertext, ...after }));
      if (g.kind === 'secret') local.pcs.sent += 1;
      return { id: record.id, seq };
    } catch (e) {
      // A commit landed between our catch-up and the send: catch up again and re-encrypt, from what
      // the refusal brought when it can be applied, else by reading the log to its end.
      const refusal = refusedBeforeWrite(e);
      if (!(refusal && (refusal.code === 'stale_epoch' || refusal.code === 'conflict'))) throw e;
      // Refused before it was written: no reader sees it, so its counter is given back.
      mc.state.sentCounters[g.id] = counter - 1;
      head = g.kind === 'secret' ? yield* applyRefusal(mc, g.id, refusal) : undefined;
    }
  }
  throw new AgoraError('conflict', `"${g.name}" is changing too fast; try again`);
}
