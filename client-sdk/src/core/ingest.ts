/** Applies a group's log entries to the local group state: commits advance the MLS epoch, records are
 * opened, verified and kept. Sans-I/O: the caller fetched the entries and persists the result.
 * Every check that fails is kept as a rejection so the person can be told, never silently dropped. */
import type { LogEntry, Device } from '../protocol/api.js';
import { fromB64u, toB64u } from '../protocol/encoding.js';
import { openRecord, checkCounter, RecordRejected } from '../crypto/records.js';
import { processCommit, exportContentKey, groupInfo, MlsCheckError, type DeviceLookup } from '../mls/group.js';
import type { GroupLocal, StoredMessage } from './state.js';

export interface IngestContext {
  /** This device: its own commits are merged from staged state, never processed. */
  selfDeviceId: string;
  device(deviceId: string): Device | undefined;
  mlsLookup: DeviceLookup;
  /** Public groups: the content key for an organisation-key generation, if this device holds it. */
  publicKey(generation: number): Uint8Array | undefined;
}

export interface IngestResult {
  group: GroupLocal;
  messages: StoredMessage[];
  /** Epochs whose keys appeared: the caller may share them with its own other devices. */
  newEpochs: number[];
  /** Key-transparency checkpoints the senders carried, for the caller to compare with its own. */
  checkpoints: { note: string; senderDevice: string }[];
}

export async function ingestEntries(start: GroupLocal, entries: LogEntry[], ctx: IngestContext): Promise<IngestResult> {
  const group: GroupLocal = structuredClone(start);
  const messages: StoredMessage[] = [];
  const newEpochs: number[] = [];
  const checkpoints: IngestResult['checkpoints'] = [];
  const seen = new Set(group.messages.map((m) => m.id));
  for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
    if (entry.seq <= group.cursor) continue; // at-least-once delivery: already applied
    group.cursor = entry.seq;
    if (entry.kind === 'commit') {
      if (group.kind !== 'secret' || !group.mls) continue;
      const state = fromB64u(group.mls);
      const current = groupInfo(state).epoch;
      if (entry.epoch < current) continue; // our own commit, merged when the relay accepted it
      const pending = group.pendingCommit;
      if (pending && entry.epoch === current && entry.sender === ctx.selfDeviceId && entry.payload === pending.commit) {
        // Our own commit, accepted although its answer was lost: merge the state staged for it.
        const staged = fromB64u(pending.staged);
        group.mls = pending.staged;
        group.pendingCommit = null;
        const epoch = groupInfo(staged).epoch;
        group.epochKeys[String(epoch)] = toB64u(await exportContentKey(staged));
        newEpochs.push(epoch);
        continue;
      }
      if (pending && entry.epoch >= pending.epoch) group.pendingCommit = null; // another commit won
      if (entry.epoch > current) {
        group.rejected.push({ seq: entry.seq, reason: `commit for epoch ${entry.epoch}, but this device is at ${current}`, sender: entry.sender });
        continue;
      }
      try {
        const result = await processCommit(state, entry.payload, { added: entry.added ?? [], removed: entry.removed ?? [] }, ctx.mlsLookup);
        if (result.removed) {
          group.removed = true;
          group.mls = null;
          continue;
        }
        group.mls = toB64u(result.state);
        group.epochKeys[String(result.epoch)] = toB64u(await exportContentKey(result.state));
        newEpochs.push(result.epoch);
      } catch (e) {
        const reason = e instanceof MlsCheckError ? `commit refused: ${e.message}` : 'commit could not be processed';
        group.rejected.push({ seq: entry.seq, reason, sender: entry.sender });
      }
      continue;
    }
    const reject = (reason: string) => group.rejected.push({ seq: entry.seq, reason, sender: entry.sender });
    const sender = ctx.device(entry.sender);
    if (!sender) {
      reject('sent by a device this client does not know');
      continue;
    }
    const key =
      group.kind === 'secret'
        ? group.epochKeys[String(entry.epoch)] && fromB64u(group.epochKeys[String(entry.epoch)])
        : ctx.publicKey(entry.epoch);
    if (!key) {
      reject(group.kind === 'secret' ? `no key for epoch ${entry.epoch} (sent before this device joined)` : `no organisation key generation ${entry.epoch}`);
      continue;
    }
    try {
      const record = await openRecord({
        ciphertext: entry.payload,
        key,
        groupId: group.id,
        epoch: entry.epoch,
        senderDeviceId: entry.sender,
        senderSignPub: fromB64u(sender.signPub),
      });
      if (record.senderUserId !== sender.userId) {
        reject('record claims another author than its device');
        continue;
      }
      if (seen.has(record.id)) continue; // the same record appended twice (a retried send)
      // A reader of the whole log (public groups) knows each sender starts at 1, so a record
      // withheld before the first one it sees is a visible gap too.
      const last = group.counters[entry.sender] ?? (group.kind === 'public' ? 0 : undefined);
      const verdict = checkCounter(last, record.counter);
      if (verdict === 'replay') {
        reject(`replayed or reordered record (counter ${record.counter})`);
        continue;
      }
      if (verdict === 'gap') {
        group.gaps.push({ senderDevice: entry.sender, from: (last ?? 0) + 1, to: record.counter - 1 });
      }
      group.counters[entry.sender] = record.counter;
      seen.add(record.id);
      const message: StoredMessage = {
        id: record.id,
        seq: entry.seq,
        sender: record.senderUserId,
        senderDevice: record.senderDeviceId,
        sentAt: record.sentAt,
        text: record.body.text,
      };
      group.messages.push(message);
      messages.push(message);
      if (record.kt) checkpoints.push({ note: record.kt, senderDevice: entry.sender });
    } catch (e) {
      reject(e instanceof RecordRejected ? `record refused: ${e.reason}` : 'record could not be opened');
    }
  }
  return { group, messages, newEpochs, checkpoints };
}
