/** The relay's key-transparency log service. Changes that the log describes (registrations,
 * deactivations, secret-group membership, organisation-key generations) go through `write`, which
 * drafts their entries against the current state, hands them to the store method that makes the
 * change (one transaction for both) and, once stored, applies them to the in-memory tree. Writes
 * run one at a time per relay; several relays on one database are kept in line by the store, which
 * refuses a batch computed for a log size that has since grown (KtConflict), and the batch is
 * redrafted after catching up.
 *
 * Reads serve what witnesses, auditors and clients need: signed checkpoints (C2SP signed notes
 * with the witnesses' cosignatures), entries, inclusion and consistency proofs, and a person's
 * entries with the snapshot that proves their keys are the latest. Content records never pass
 * through here. */
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';
import {
  decodeEntry, ed25519Vkey, formatCheckpoint, formatSignatureLine, leafHash, parseCheckpoint, parseNote,
  parseVkey, signNote, SIG_TYPE_COSIGNATURE_V1, verifyCosignature, type NoteSignature,
  MerkleLevels, type WebBuildFile,
} from '@agora/protocol/kt';
import { webBuildHash } from '@agora/protocol/kt/web-build';
import { LIMITS, bytesEqual, fromB64u, toB64u } from '@agora/protocol';
import { platformRandom } from '@agora/protocol/crypto/random';
import { AppError } from '../errors.js';
import { isKtConflict, type Store } from '../store/types.js';
import { KtDraft, KtState } from './state.js';

export const KT_LOG_KEY_META = 'kt-log-key';
/** Distinct witnesses whose cosignatures are kept per checkpoint size: whatever witness list the
 * organisation publishes, the answer stays small. */
export const MAX_COSIGNERS = 32;
/** Cosignature timestamps further ahead than this are refused (clients refuse them anyway). */
const MAX_COSIGNATURE_SKEW_S = 300;
const SNAPSHOT_CACHE = 4;

/** Creates the log key if it does not exist yet; every relay on the store reads the same one. */
export async function ensureLogKey(store: Store): Promise<Uint8Array> {
  return fromB64u(await store.setMetaIfAbsent(KT_LOG_KEY_META, toB64u(platformRandom(32))));
}

export interface CheckpointView {
  checkpoint: string;
  size: number;
  cosigners: string[];
}

export interface ProvenEntry {
  index: number;
  entry: Uint8Array;
  proof: Uint8Array[];
}

export interface UserView {
  size: number;
  entries: ProvenEntry[];
  snapshot: ProvenEntry & { leaf: Uint8Array; leafIndex: number; leafProof: Uint8Array[] };
}

interface Keys {
  origin: string;
  seed: Uint8Array;
  vkey: string;
}

export class KtLog {
  private state = new KtState();
  private keys: Keys | undefined;
  private loading: Promise<Keys> | undefined;
  private writes: Promise<unknown> = Promise.resolve();
  /** The log's own signature line of the latest size asked for: signing is cheap, not free. */
  private signed: { size: number; line: string } | undefined;
  /** A web build waiting for the log's first entry (logWebBuild). */
  private pendingWebBuild: WebBuildFile[] | undefined;
  private readonly snapshotTrees = new Map<number, { ids: string[]; leaves: Uint8Array[]; tree: MerkleLevels }>();

  constructor(private readonly deps: { store: Store; now: () => number }) {}

  /** Loads the origin, the log key and every stored entry; idempotent, retried after a failure. */
  ready(): Promise<Keys> {
    if (this.keys) return Promise.resolve(this.keys);
    this.loading ??= this.load().then(
      (keys) => {
        this.keys = keys;
        return keys;
      },
      (err: unknown) => {
        this.loading = undefined;
        throw err;
      },
    );
    return this.loading;
  }

  private async load(): Promise<Keys> {
    const org = await this.deps.store.getOrg();
    if (!org) throw new AppError('not_found', 'the organisation is not set up yet');
    const seed = await ensureLogKey(this.deps.store);
    const origin = `agora/${org.id}`;
    await this.catchUp();
    const publicKey = (await loadCryptoProvider()).ed25519PublicKey(seed);
    return { origin, seed, vkey: ed25519Vkey(origin, publicKey) };
  }

  /** Applies entries other relays (or an earlier run) stored. Snapshot roots are recomputed for
   * the last snapshot only: a long replay would otherwise rebuild the snapshot tree per new user. */
  private async catchUp(): Promise<void> {
    const { store } = this.deps;
    const size = await store.ktSize();
    let lastSnapshot: { index: number; userCount: number; root: Uint8Array } | undefined;
    while (this.state.size < size) {
      const from = this.state.size;
      const rows = await store.readKtEntries(from, Math.min(size, from + LIMITS.ktPageSize));
      // another caller applied them while this one read
      if (this.state.size !== from) continue;
      if (rows.length === 0) throw new Error(`key-transparency entry ${from} is missing from the store`);
      for (const row of rows) {
        const index = this.state.size;
        const e = this.state.apply(row, false);
        if (e.type === 'snapshot') lastSnapshot = { index, userCount: e.userCount, root: e.snapshotRoot };
      }
    }
    if (lastSnapshot && this.state.isCurrentSnapshot(lastSnapshot.index)) {
      this.state.checkSnapshot(lastSnapshot.userCount, lastSnapshot.root);
    }
  }

  /** Runs one logged change: `change` drafts the entries and makes the store call with
   * `draft.seal()`; `stored` says from its result whether the change (and so the batch) was
   * stored. Redrafts when another relay appended first. */
  async write<T>(change: (draft: KtDraft) => Promise<T>, stored: (result: T) => boolean): Promise<T> {
    await this.ready();
    const run = async (): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        await this.catchUp();
        const draft = new KtDraft(this.state, this.deps.now());
        let result: T;
        try {
          result = await change(draft);
        } catch (err) {
          if (isKtConflict(err) && attempt < 10) continue;
          throw err;
        }
        if (stored(result)) {
          const batch = draft.batch;
          if (!batch) throw new Error('a logged change was stored without its log entries');
          // a concurrent reader's catch-up may have applied the stored batch already
          for (const e of batch.entries.slice(this.state.size - batch.expectedSize)) this.state.apply(e.entry);
        }
        const pending = this.pendingWebBuild;
        if (pending && this.state.size > 0) {
          // queued behind this write; a failure leaves it pending for the next change
          this.pendingWebBuild = undefined;
          this.logWebBuild(pending).catch(() => {
            this.pendingWebBuild ??= pending;
          });
        }
        return result;
      }
    };
    const next = this.writes.then(run, run);
    this.writes = next.catch(() => undefined);
    return next;
  }

  /** Appends a WEB_BUILD entry for the web app build the relay is about to serve, unless the latest
   * one in the log is that build already (a restart, or another relay on the store logged it).
   *
   * An empty log is the exception: its first entry must be the first administrator's (kt/chain.ts
   * accepts a bootstrap enrolment only at index 0), so the build waits and is appended right after
   * the first change the log records; `index` is undefined until then. */
  async logWebBuild(files: WebBuildFile[]): Promise<{ index: number | undefined; buildHash: string; appended: boolean }> {
    const buildHash = webBuildHash(files);
    return this.write(
      async (draft) => {
        if (draft.size === 0) {
          this.pendingWebBuild = files;
          return { index: undefined, buildHash, appended: false };
        }
        this.pendingWebBuild = undefined;
        const latest = draft.latestWebBuild;
        if (latest?.buildHash === buildHash) return { index: latest.index, buildHash, appended: false };
        draft.webBuild(files);
        const batch = draft.seal();
        await this.deps.store.appendKt(batch);
        return { index: batch.expectedSize, buildHash, appended: true };
      },
      (r) => r.appended,
    );
  }

  /** Brings the state up to the store and returns the keys (read paths). */
  private async current(): Promise<Keys> {
    const keys = await this.ready();
    await this.catchUp();
    return keys;
  }

  private checkSize(size: number, what: string, min = 0): void {
    if (size < min || size > this.state.size) {
      throw new AppError('invalid_field', `${what}: must be from ${min} to the log size ${this.state.size}`, { field: what });
    }
  }

  async policy(): Promise<{ origin: string; vkey: string; size: number }> {
    const keys = await this.current();
    return { origin: keys.origin, vkey: keys.vkey, size: this.state.size };
  }

  /** Where the ORGKEY_GENERATION entries are in the log, and whether a revocation or deactivation
   * came after the latest one (then any active employee's device may create the next generation). */
  async orgKeyGenerations(): Promise<{ indexes: ReadonlyMap<number, number>; rotationDue: boolean }> {
    await this.current();
    return { indexes: new Map(this.state.generationIndex), rotationDue: this.state.rotationDue };
  }

  /** The signed checkpoint of `size` (default: the current size) with every cosignature of it, or
   * with `only`, the cosignatures of those witness keys. */
  async checkpoint(size?: number, only?: string[]): Promise<CheckpointView> {
    const keys = await this.current();
    const n = size ?? this.state.size;
    this.checkSize(n, 'size');
    const body = formatCheckpoint({ origin: keys.origin, size: n, root: this.state.tree.root(n), extensions: [] });
    if (this.signed?.size !== n) this.signed = { size: n, line: formatSignatureLine(signNote(body, keys.origin, keys.seed)) };
    const line = this.signed.line;
    const all = await this.deps.store.listCosignatures(n);
    const cosignatures = only ? all.filter((c) => only.includes(c.vkey)) : all;
    return {
      checkpoint: `${body}\n${line}${cosignatures.map((c) => c.line).join('')}`,
      size: n,
      cosigners: cosignatures.map((c) => c.name),
    };
  }

  /** The checkpoint of the largest size at least `minWitnesses` witnesses cosigned; with
   * `witnesses` (verifier keys), counting and showing only theirs, so that cosignatures by anyone
   * else, however many and however new, never change which checkpoint a client gets. */
  async cosignedCheckpoint(minWitnesses: number, witnesses?: string[]): Promise<CheckpointView> {
    await this.current();
    const size = await this.deps.store.latestCosignedSize(minWitnesses, witnesses);
    if (size === undefined || size > this.state.size) {
      throw new AppError('not_found', `no checkpoint has ${minWitnesses} cosignatures${witnesses ? ' by these witnesses' : ''} yet`);
    }
    return this.checkpoint(size, witnesses);
  }

  async entries(start: number, end: number): Promise<{ index: number; entry: Uint8Array }[]> {
    await this.current();
    this.checkSize(start, 'start');
    if (end < start) throw new AppError('invalid_field', 'end: must not be below start', { field: 'end' });
    const stop = Math.min(end, this.state.size, start + LIMITS.ktPageSize);
    const rows = await this.deps.store.readKtEntries(start, stop);
    return rows.map((entry, i) => ({ index: start + i, entry }));
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    await this.current();
    this.checkSize(size, 'size', 1);
    if (index >= size) throw new AppError('invalid_field', 'index: must be below size', { field: 'index' });
    return this.state.tree.inclusionProof(index, size);
  }

  /** A secret group's membership entry of one epoch, below `size`, with its inclusion proof: each
   * member fetches it after a commit and checks it against its own MLS tree. */
  async membership(groupId: string, epoch: number, size: number): Promise<ProvenEntry> {
    await this.current();
    this.checkSize(size, 'size', 1);
    const index = this.state.membershipIndex(groupId, epoch);
    if (index === undefined || index >= size) throw new AppError('not_found', 'no membership entry for that group and epoch at that size');
    const [entry] = await this.deps.store.getKtEntries([index]);
    return { index, entry, proof: this.state.tree.inclusionProof(index, size) };
  }

  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    await this.current();
    this.checkSize(to, 'to', 1);
    if (from < 1 || from > to) throw new AppError('invalid_field', 'from: must be from 1 to `to`', { field: 'from' });
    return this.state.tree.consistencyProof(from, to);
  }

  /** All of a person's entries below `size` with inclusion proofs, and the latest snapshot below
   * `size` with the person's leaf and its proof in the snapshot tree. */
  async user(userId: string, size?: number): Promise<UserView> {
    await this.current();
    const n = size ?? this.state.size;
    this.checkSize(n, 'size', 1);
    const indexes = (await this.deps.store.listKtUserIndexes(userId)).filter((i) => i < n);
    if (indexes.length === 0) throw new AppError('not_found', 'no such user in the log at that size');
    const snapIndex = this.state.snapshotBefore(n);
    if (snapIndex === undefined || snapIndex < indexes[0]) {
      throw new AppError('not_found', 'no snapshot at that size lists this user yet');
    }
    const rows = await this.deps.store.getKtEntries([...indexes, snapIndex]);
    // everything below is synchronous: the state cannot move while the answer is assembled
    const snap = this.snapshotTree(snapIndex);
    const leafIndex = snap.ids.indexOf(userId);
    if (leafIndex < 0) throw new Error('a snapshot misses a user created before it');
    const snapEntry = rows[rows.length - 1];
    const e = decodeEntry(snapEntry);
    if (e.type !== 'snapshot' || !bytesEqual(e.snapshotRoot, snap.tree.root())) throw new Error('snapshot tree does not match its entry');
    return {
      size: n,
      entries: indexes.map((index, i) => ({ index, entry: rows[i], proof: this.state.tree.inclusionProof(index, n) })),
      snapshot: {
        index: snapIndex,
        entry: snapEntry,
        proof: this.state.tree.inclusionProof(snapIndex, n),
        leaf: snap.leaves[leafIndex],
        leafIndex,
        leafProof: snap.tree.inclusionProof(leafIndex),
      },
    };
  }

  private snapshotTree(index: number): { ids: string[]; leaves: Uint8Array[]; tree: MerkleLevels } {
    if (this.state.isCurrentSnapshot(index)) {
      const ids = [...this.state.sortedUsers()];
      return { ids, leaves: ids.map((id) => this.state.users.get(id)!.leaf), tree: this.state.currentSnapshotTree() };
    }
    let hit = this.snapshotTrees.get(index);
    if (!hit) {
      const { userIds, leaves } = this.state.leavesAt(index);
      hit = { ids: userIds, leaves, tree: MerkleLevels.fromLeafHashes(leaves.map(leafHash)) };
      this.snapshotTrees.set(index, hit);
      if (this.snapshotTrees.size > SNAPSHOT_CACHE) this.snapshotTrees.delete(this.snapshotTrees.keys().next().value!);
    }
    return hit;
  }

  /** Checks a witness's cosignature of one of the log's checkpoints and keeps it. */
  async addCosignature(input: { checkpoint: string; cosignature: string; vkey: string }): Promise<{ size: number; cosigners: string[] }> {
    const keys = await this.current();
    const bad = (field: string, why: string) => new AppError('invalid_field', `${field}: ${why}`, { field });
    let body: string;
    let size: number;
    try {
      body = parseNote(input.checkpoint).text;
      const c = parseCheckpoint(body);
      if (c.origin !== keys.origin || c.extensions.length > 0) throw bad('checkpoint', 'not a checkpoint of this log');
      if (c.size > this.state.size || !bytesEqual(c.root, this.state.tree.root(c.size))) {
        throw bad('checkpoint', 'not a checkpoint of this log');
      }
      size = c.size;
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw bad('checkpoint', 'not a signed checkpoint note');
    }
    let witness: { name: string; publicKey: Uint8Array };
    try {
      const k = parseVkey(input.vkey);
      if (k.type !== SIG_TYPE_COSIGNATURE_V1) throw new Error('not a cosignature key');
      witness = { name: k.name, publicKey: k.publicKey };
    } catch {
      throw bad('vkey', 'not a cosignature/v1 verifier key');
    }
    let sig: NoteSignature;
    try {
      const line = input.cosignature.endsWith('\n') ? input.cosignature : `${input.cosignature}\n`;
      const parsed = parseNote(`${body}\n${line}`);
      if (parsed.signatures.length !== 1) throw new Error('one line expected');
      sig = parsed.signatures[0];
    } catch {
      throw bad('cosignature', 'not one note signature line');
    }
    const ok = verifyCosignature(body, sig, witness);
    if (!ok) throw bad('cosignature', 'does not verify for this witness and checkpoint');
    if (ok.timestamp > Math.floor(this.deps.now() / 1000) + MAX_COSIGNATURE_SKEW_S) throw bad('cosignature', 'timestamp in the future');
    const vkey = input.vkey;
    const existing = await this.deps.store.listCosignatures(size);
    if (!existing.some((c) => c.vkey === vkey) && existing.length >= MAX_COSIGNERS) {
      throw new AppError('conflict', `this checkpoint has ${MAX_COSIGNERS} cosignatures already`);
    }
    await this.deps.store.putCosignature({ size, vkey, name: witness.name, line: formatSignatureLine(sig), timestamp: ok.timestamp });
    const after = await this.deps.store.listCosignatures(size);
    return { size, cosigners: after.map((c) => c.name) };
  }
}
