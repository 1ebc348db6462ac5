/** Applies a group's log entries to the local group state: commits advance the MLS epoch, records are
 * opened, verified and kept. Sans-I/O: the caller fetched the entries and persists the result.
 * Every check that fails is kept as a rejection so the person can be told, never silently dropped. */
import type { LogEntry, Device } from '@agora/protocol/api';
import { fromB64u, toB64u } from '@agora/protocol/encoding';
import { openRecord, checkCounter, RecordRejected } from '../crypto/records.js';
import { processCommit, exportContentKey, groupInfo, loadMls, MlsCheckError, type DeviceLookup } from '../mls/index.js';
import type { GroupLocal, Rejection, StoredMessage } from './state.js';
import { openOwners, ownerVerdict } from './roles.js';
import { membershipCheckFor } from './membership.js';

export interface IngestContext {
  /** This device: its own commits are merged from staged state, never processed. */
  selfDeviceId: string;
  device(deviceId: string): Device | undefined;
  mlsLookup: DeviceLookup;
  /** Public groups: the content key for an organisation-key generation, if this device holds it. */
  publicKey(generation: number): Uint8Array | undefined;
  /** The key-transparency log proves the device revoked or its person deactivated. */
  revoked(deviceId: string): boolean;
}

export interface IngestResult {
  group: GroupLocal;
  messages: StoredMessage[];
  /** Epochs whose keys appeared: the caller may share them with its own other devices. */
  newEpochs: number[];
  /** Key-transparency checkpoints the senders carried, for the caller to compare with its own. */
  checkpoints: { note: string; senderDevice: string }[];
  /** Commits this device voided (refused and kept its state), for the caller to report. */
  refusedCommits: Rejection[];
}

export async function ingestEntries(start: GroupLocal, entries: LogEntry[], ctx: IngestContext): Promise<IngestResult> {
  const group: GroupLocal = structuredClone(start);
  const messages: StoredMessage[] = [];
  const newEpochs: number[] = [];
  const checkpoints: IngestResult['checkpoints'] = [];
  const refusedCommits: Rejection[] = [];
  const seen = new Set(group.messages.map((m) => m.id));
  // The state may come straight from storage, and the synchronous readers below need MLS loaded.
  if (group.mls) await loadMls();
  if (group.kind === 'secret' && group.mls && group.logEpoch === null) {
    // A profile from before relay and MLS epochs were told apart: they were equal then.
    group.logEpoch = groupInfo(fromB64u(group.mls)).epoch;
    group.lastCommitSeq = Math.max(group.lastCommitSeq, group.cursor);
  }
  if (group.cursorEpoch === null) group.cursorEpoch = group.logEpoch;
  /** Leaves of the current MLS tree, decoded once per state. */
  let leaves: Set<string> | undefined;
  for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
    if (entry.seq <= group.cursor) continue; // at-least-once delivery: already applied
    group.cursor = entry.seq;
    if (entry.kind === 'commit') {
      if (group.kind !== 'secret' || !group.mls) continue;
      await applyCommitEntry(group, entry, ctx, newEpochs, refusedCommits);
      leaves = undefined;
      continue;
    }
    const reject = (reason: string) => group.rejected.push({ seq: entry.seq, reason, sender: entry.sender });
    const sender = ctx.device(entry.sender);
    if (!sender) {
      reject('sent by a device this client does not know');
      continue;
    }
    if (group.kind === 'secret' && group.cursorEpoch !== null) {
      // A record is sealed under the epoch in force where it stands in the log: an older one was
      // held back (or is replayed) past a commit that may have removed someone who can read it.
      if (entry.epoch !== group.cursorEpoch) {
        reject(`sealed for epoch ${entry.epoch}, but epoch ${group.cursorEpoch} was in force at its place in the log`);
        continue;
      }
      // At the live edge the MLS state is the one in force, so its leaves are the epoch's members.
      // (Entries read again for history predate this device's state; their senders were checked
      // by the person's device that read them live.)
      if (group.mls && group.cursorEpoch === group.logEpoch && entry.seq > group.lastCommitSeq) {
        leaves ??= new Set(groupInfo(fromB64u(group.mls)).members.map((m) => m.deviceId));
        if (!leaves.has(entry.sender)) {
          reject(`sender device ${entry.sender} was not a member of the group in epoch ${entry.epoch}`);
          continue;
        }
      }
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
      if (!('text' in record.body)) {
        // A meta record names a secret group. Only its owners rename it (any member while the
        // owners are not known yet); a public group's name is public and lives on the relay.
        // Any member who adds its own new device restates the current name for it: harmless.
        const restated = record.body.name === group.name && (record.body.description ?? null) === (group.description ?? null);
        if (group.kind !== 'secret') reject('a public group carries no meta record');
        else if (group.owners.length > 0 && !group.owners.includes(record.senderUserId) && !restated) reject('group name set by someone who is not an owner');
        else if (entry.seq > group.metaSeq) {
          group.name = record.body.name;
          group.description = record.body.description ?? null;
          group.metaSeq = entry.seq;
        }
        if (record.kt) checkpoints.push({ note: record.kt, senderDevice: entry.sender });
        continue;
      }
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
  return { group, messages, newEpochs, checkpoints, refusedCommits };
}

/** Applies one commit entry, or voids it. A commit every honest member refuses (undecodable, refused
 * by MLS, against the owner rule, or numbered wrongly) must not freeze the group: each member keeps
 * its MLS state, counts the commit as the relay did (the relay's next epoch maps to the same content
 * key), and the next valid commit is built on the unchanged state. All members decide alike, since
 * they process the same log with the same rules. */
async function applyCommitEntry(group: GroupLocal, entry: LogEntry, ctx: IngestContext, newEpochs: number[], refused: Rejection[]): Promise<void> {
  if (entry.seq <= group.lastCommitSeq) {
    // Applied, voided or sent by this device already (read again for history): it only moves the
    // epoch in force at this place of the log.
    group.cursorEpoch = entry.epoch + 1;
    return;
  }
  const logEpoch = group.logEpoch ?? 0;
  const advance = (key: string | undefined) => {
    group.lastCommitSeq = entry.seq;
    group.logEpoch = logEpoch + 1;
    group.cursorEpoch = logEpoch + 1;
    if (key) {
      group.epochKeys[String(logEpoch + 1)] = key;
      newEpochs.push(logEpoch + 1);
    }
  };
  const pending = group.pendingCommit;
  if (pending && entry.epoch === logEpoch && entry.sender === ctx.selfDeviceId && entry.payload === pending.commit) {
    // Our own commit, accepted although its answer was lost: merge the state staged for it.
    group.mls = pending.staged;
    group.pendingCommit = null;
    group.membershipChecks.push(await membershipCheckFor(fromB64u(pending.staged), logEpoch + 1, ctx.selfDeviceId));
    advance(toB64u(await exportContentKey(fromB64u(pending.staged))));
    return;
  }
  if (pending && entry.epoch >= pending.epoch) group.pendingCommit = null; // another commit won
  if (entry.epoch < logEpoch) {
    // A repeated number is the relay's own inconsistency. This device keeps its place, so the
    // records that follow are refused until the numbering agrees again.
    const reason = `commit numbered epoch ${entry.epoch} by the relay, but the group is at epoch ${logEpoch}`;
    group.lastCommitSeq = entry.seq;
    group.rejected.push({ seq: entry.seq, reason, sender: entry.sender });
    refused.push({ seq: entry.seq, reason, sender: entry.sender });
    return;
  }
  if (entry.epoch > logEpoch) {
    // Commits this device was not shown (it was cut off by a commit every member voided, or the
    // relay withholds them). If this commit applies to the unchanged MLS state, those were voided
    // by its committer too: their epochs keep the current key. If it does not, it is voided below.
    // Either way no epoch in force goes backwards, so no older record becomes acceptable.
    const current = group.epochKeys[String(logEpoch)];
    for (let e = logEpoch + 1; e <= entry.epoch; e++) if (current) group.epochKeys[String(e)] = current;
    group.rejected.push({ seq: entry.seq, reason: `commits of epochs ${logEpoch}–${entry.epoch - 1} were not shown to this device`, sender: entry.sender });
    group.logEpoch = entry.epoch;
    return applyCommitEntry(group, entry, ctx, newEpochs, refused);
  }
  const key = group.epochKeys[String(logEpoch)];
  const void_ = (reason: string) => {
    group.rejected.push({ seq: entry.seq, reason, sender: entry.sender });
    refused.push({ seq: entry.seq, reason, sender: entry.sender });
    advance(key);
  };
  const state = fromB64u(group.mls!);
  try {
    const before = groupInfo(state).members;
    const inTree = new Set(before.map((m) => m.deviceId));
    // The declared lists also set the relay's routing straight after voided commits: removals of
    // devices that are no leaves (a voided add had them routed) and adds of devices that are leaves
    // already (a voided removal cut them off) change nothing in the tree.
    const removedLeaves = (entry.removed ?? []).filter((d) => inTree.has(d));
    const addedNew = (entry.added ?? []).filter((d) => !inTree.has(d));
    const result = await processCommit(state, entry.payload, { added: addedNew, removed: removedLeaves }, ctx.mlsLookup);
    if (result.committer !== entry.sender) return void_(`commit refused: signed by device ${result.committer}, but the log names ${entry.sender}`);
    const userOf = (d: string) => before.find((m) => m.deviceId === d)?.userId ?? ctx.mlsLookup(d)?.userId ?? '';
    const added = addedNew.map((deviceId) => ({ deviceId, userId: userOf(deviceId) }));
    const peopleAfter = new Set([...before.filter((m) => !removedLeaves.includes(m.deviceId)).map((m) => m.userId), ...added.map((a) => a.userId)]);
    let stated: string[] | null;
    try {
      stated = key ? await openOwners(result.authenticatedData, fromB64u(key), group.id) : null;
    } catch (e) {
      return void_(`commit refused: ${(e as Error).message}`);
    }
    const verdict = ownerVerdict({ owners: group.owners, committerUser: userOf(result.committer), added, removed: removedLeaves, revoked: ctx.revoked, stated, peopleAfter });
    if (!verdict.ok) return void_(`commit refused: ${verdict.reason}`);
    group.owners = verdict.owners;
    if (result.removed) {
      group.removed = true;
      group.mls = null;
      advance(undefined);
      return;
    }
    group.mls = toB64u(result.state);
    group.membershipChecks.push(await membershipCheckFor(result.state, logEpoch + 1, result.committer));
    advance(toB64u(await exportContentKey(result.state)));
  } catch (e) {
    void_(e instanceof MlsCheckError ? `commit refused: ${e.message}` : 'commit refused: it could not be processed');
  }
}
