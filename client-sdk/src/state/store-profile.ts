/** A profile kept in a keyed, encrypted `ClientStore` (IndexedDB in browsers, the journal in Node)
 * instead of one blob: `save` writes only the records whose content changed since the last load or
 * save (the new message, the group's small record), in one transaction, so a save costs the same
 * after ten messages or ten thousand. The record layout is records.ts's.
 *
 * The store is opened (the key source unlocked: Argon2id for a passphrase) once, on first use, and
 * stays open: a long-running process or page unlocks once, not per operation. What is stored may
 * still change between operations (another process, another tab): every operation takes `lock`,
 * the backend picks up other writers' commits right after (StoreBackend.refresh), and what this
 * object remembers of the stored content is dropped at each lock, so a save never relies on a view
 * older than the lock it runs under. */
import { toB64u } from '@agora/protocol/encoding';
import { platformRandom } from '@agora/protocol/crypto/random';
import { getSodium, type Sodium } from '@agora/protocol/crypto/sodium';
import { AgoraError } from '../core/errors.js';
import type { ProfileState, StoredMessage } from '../core/state.js';
import { addKeySlot, parseKeyHeader, removeKeySlots, unlockKeyHeader, type KeyHeader, type KeySlot, type ProfileKeySource } from '../keysource/header.js';
import { MAX_RANGE_LIMIT } from '../store/client-store.js';
import { openProfileStore, saveKeyHeader } from '../store/open.js';
import type { ClientStore, RangeQuery, StorageKey, StoreBackend, StoreName, StoreTx } from '../store/types.js';
import type { ProfileStorage } from './profile.js';
import { generationRecord, profileRecords, readGeneration, readProfile, recordBytes, recordId, sameMessage, type ProfileRecord, type RecordReader } from './records.js';

export interface StoreProfileOptions {
  backend: StoreBackend;
  keySource: ProfileKeySource;
  /** Takes the profile's cross-process (or cross-tab) lock and returns its release: the Node lock
   * file (`nodeProfileLock`), the Web Locks API (`webLock`). */
  lock: () => Promise<() => Promise<void>>;
  /** Where the profile is, for messages (default: the backend's description). */
  describe?: string;
}

/** What the last `save` wrote: records put and deleted, and their plaintext bytes (each record is
 * stored as its ciphertext: 40 bytes more, plus the backend's framing). */
export interface SaveStats {
  records: number;
  deleted: number;
  bytes: number;
}

const STORES: StoreName[] = ['identity', 'groups', 'contentKeys', 'messages'];

/** What is stored under one key, enough to tell whether a new value differs: a digest of the
 * plaintext, or the value itself for the many small records (content keys, messages). */
type Known = { store: StoreName; part: string; index: number } & ({ digest: string } | { key: string } | { message: StoredMessage });

/** The state as last loaded or saved, what each stored record holds, and the save token then. */
interface Snapshot {
  generation: string | undefined;
  state: ProfileState;
  known: Map<string, Known>;
}

export class StoreProfile implements ProfileStorage {
  private opened: ClientStore | undefined;
  /** The key header and storage key, kept only to add or drop a way to unlock. */
  private unlocked: { header: KeyHeader; key: StorageKey } | undefined;
  private opening: Promise<ClientStore> | undefined;
  /** Kept between operations: a load whose save token matches answers from here without reading
   * and decrypting every record again. */
  private snapshot: Snapshot | undefined;
  /** The snapshot was checked against the store (or written) under the lock held now. */
  private trusted = false;
  private held = 0;
  private closed = false;
  /** States loadHead returned: never saved. */
  private readonly heads = new WeakSet<ProfileState>();
  lastSave: SaveStats = { records: 0, deleted: 0, bytes: 0 };

  constructor(private readonly opts: StoreProfileOptions) {}

  get location(): string {
    return this.opts.describe ?? this.opts.backend.describe();
  }

  /** The opened store (undefined before the first load, save or exists), for an app's own records
   * beside the profile's: those belong in the `outbox` namespace, which saves never touch. */
  get store(): ClientStore | undefined {
    return this.opened;
  }

  async lock(): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('this profile is closed');
    if (!this.opened) await this.unlockAhead();
    const release = await this.opts.lock();
    try {
      this.trusted = false;
      await this.opts.backend.refresh?.();
    } catch (error) {
      await release();
      throw error;
    }
    this.held++;
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      this.held--;
      this.trusted = false;
      await release();
    };
  }

  /** The slow part of the first open (Argon2id for a passphrase) done before taking the lock, so
   * other processes on the profile do not wait for it; a wrong passphrase fails here. The key source
   * keeps the derived key (PassphraseKeySource does), so the open under the lock does not derive
   * again. The header is replaced only by an atomic rename, so reading it unlocked is safe. */
  private async unlockAhead(): Promise<void> {
    const bytes = await this.opts.backend.readHeader();
    if (bytes === undefined) return;
    const key = await unlockKeyHeader(parseKeyHeader(bytes, this.location), this.opts.keySource);
    key.fill(0);
  }

  /** Runs `fn` under the lock unless this object holds it already (AgoraClient.open loads without). */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held > 0) return fn();
    const release = await this.lock();
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** True once a device has been saved here. Unlocks the store when it exists, so a wrong
   * passphrase is reported here rather than later. */
  async exists(): Promise<boolean> {
    if (!this.opened && (await this.opts.backend.readHeader()) === undefined) return false;
    return this.locked(async () => {
      const store = await this.open(false);
      return (await store.read(['identity'], (tx) => tx.get('identity', ['device', 0]))) !== undefined;
    });
  }

  private open(create: boolean): Promise<ClientStore> {
    if (this.opened) return Promise.resolve(this.opened);
    if (this.closed) return Promise.reject(new Error('this profile is closed'));
    this.opening ??= (async () => {
      try {
        if (!create && (await this.opts.backend.readHeader()) === undefined) {
          throw new AgoraError('not_registered', `no Agora profile at ${this.location}: run "agora register" first`);
        }
        const opened = await openProfileStore({ backend: this.opts.backend, keySource: this.opts.keySource, create });
        this.unlocked = { header: opened.header, key: opened.key };
        this.opened = opened.store;
        return opened.store;
      } finally {
        this.opening = undefined;
      }
    })();
    return this.opening;
  }

  async load(): Promise<ProfileState> {
    return this.locked(async () => {
      const store = await this.open(false);
      const sodium = await getSodium();
      return store.read(STORES, async (tx) => {
        const r = reader(tx);
        const generation = await readGeneration(r, this.location);
        // Nobody saved since this object did (every save that changes anything replaces the token).
        if (this.snapshot && generation !== undefined && generation === this.snapshot.generation) {
          this.trusted = true;
          return cloneState(this.snapshot.state);
        }
        const known = new Map<string, Known>();
        const state = await readProfile(r, this.location, (rec) => known.set(recordId(rec.store, rec.part, rec.index), knownOf(sodium, rec)));
        this.snapshot = { generation, state: cloneState(state), known };
        indexMessages(this.snapshot);
        this.trusted = true;
        return state;
      });
    });
  }

  /** The state without messages (see ProfileStorage.loadHead): the device, directory, key
   * transparency and group records, a few dozen whatever the history holds. It becomes no snapshot,
   * so the next `load` reads everything and a save never takes it for what is stored. */
  async loadHead(): Promise<ProfileState> {
    return this.locked(async () => {
      const store = await this.open(false);
      const head = await store.read(STORES, (tx) => readProfile(reader(tx), this.location, () => undefined, { messages: false }));
      this.heads.add(head);
      return head;
    });
  }

  async save(state: ProfileState): Promise<void> {
    // Saved, a state without its messages would delete every message record.
    if (this.heads.has(state)) throw new Error('a profile head (loadHead) is never saved: load the whole state first');
    return this.locked(async () => {
      const store = await this.open(true);
      const sodium = await getSodium();
      const records = profileRecords(state);
      const next = new Map<string, Known>();
      const stats: SaveStats = { records: 0, deleted: 0, bytes: 0 };
      const trusted = this.trusted;
      this.trusted = false;
      let generation: string | undefined;
      await store.transaction(STORES, 'readwrite', async (tx) => {
        let stored: Omit<Snapshot, 'state'> | undefined = trusted ? this.snapshot : undefined;
        if (!stored && this.snapshot?.generation !== undefined && (await readGeneration(reader(tx), this.location)) === this.snapshot.generation) stored = this.snapshot;
        stored ??= await storedRecords(tx, this.location, sodium);
        const put = (r: ProfileRecord) => {
          const bytes = recordBytes(r);
          tx.put(r.store, [r.part, r.index], bytes);
          stats.records++;
          stats.bytes += bytes.length;
        };
        for (const r of records) {
          const id = recordId(r.store, r.part, r.index);
          const entry = knownOf(sodium, r);
          next.set(id, entry);
          if (!same(stored.known.get(id), entry)) put(r);
        }
        // A group left behind (or a record the state no longer has) goes with it.
        for (const [id, k] of stored.known) {
          if (next.has(id)) continue;
          tx.delete(k.store, [k.part, k.index]);
          stats.deleted++;
        }
        generation = stored.generation;
        if (stats.records > 0 || stats.deleted > 0 || generation === undefined) {
          generation = toB64u(platformRandom(16));
          put(generationRecord(generation));
        }
      });
      this.snapshot = { generation, state: cloneState(state), known: next };
      // The snapshot's own copies, never the caller's objects, stand for the stored messages.
      indexMessages(this.snapshot);
      this.trusted = true;
      this.lastSave = stats;
    });
  }

  /** Adds a way to unlock this profile (e.g. "stay signed in on this device" with a
   * WebCryptoKeySource after a passphrase unlock). Only the key header changes. */
  async addUnlockMethod(source: ProfileKeySource): Promise<void> {
    await this.locked(async () => {
      await this.open(false);
      const { header, key } = this.unlocked!;
      const next = await addKeySlot(header, key, source);
      await saveKeyHeader(this.opts.backend, next);
      this.unlocked = { header: next, key };
    });
  }

  /** Drops ways to unlock (signing out of this device drops its device-key slot); the last stays. */
  async removeUnlockMethods(drop: (slot: KeySlot) => boolean): Promise<void> {
    await this.locked(async () => {
      await this.open(false);
      const next = removeKeySlots(this.unlocked!.header, drop);
      await saveKeyHeader(this.opts.backend, next);
      this.unlocked = { ...this.unlocked!, header: next };
    });
  }

  /** Closes the store (and the backend). A profile that failed to unlock closed its backend already:
   * build a new one (a new key source, a new backend) to try another passphrase. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.opening?.catch(() => undefined);
    if (this.opened) await this.opened.close();
    else await this.opts.backend.close();
    this.opened = undefined;
    this.snapshot = undefined;
    this.unlocked?.key.fill(0);
    this.unlocked = undefined;
  }
}

function knownOf(sodium: Sodium, r: ProfileRecord): Known {
  const at = { store: r.store, part: r.part, index: r.index };
  if (r.kind === 'json') return { ...at, digest: toB64u(sodium.crypto_generichash(16, r.bytes, null)) };
  if (r.kind === 'key') return { ...at, key: r.key };
  return { ...at, message: r.message };
}

function same(a: Known | undefined, b: Known): boolean {
  if (!a) return false;
  if ('digest' in a) return 'digest' in b && a.digest === b.digest;
  if ('key' in a) return 'key' in b && a.key === b.key;
  return 'message' in b && sameMessage(a.message, b.message);
}

function indexMessages(snapshot: Snapshot): void {
  for (const group of Object.values(snapshot.state.groups)) {
    for (const message of group.messages) snapshot.known.set(recordId('messages', group.id, message.seq), { store: 'messages', part: group.id, index: message.seq, message });
  }
}

/** A deep copy; messages, the bulk, by spreading (structuredClone is many times slower on them). */
function cloneState(state: ProfileState): ProfileState {
  const { groups, ...rest } = state;
  const copy: ProfileState['groups'] = {};
  for (const [id, group] of Object.entries(groups)) {
    const { messages, ...meta } = group;
    // In log order, as a full load returns them (already sorted: linear).
    copy[id] = { ...structuredClone(meta), messages: messages.map((m) => ({ ...m })).sort((a, b) => a.seq - b.seq) };
  }
  return { ...structuredClone(rest), groups: copy };
}

function reader(tx: Pick<StoreTx, 'get' | 'range'>): RecordReader {
  return {
    get: (store, part, index) => tx.get(store, [part, index]),
    async all(store, part) {
      const out: { index: number; value: Uint8Array }[] = [];
      let query: RangeQuery | undefined = { part, limit: MAX_RANGE_LIMIT };
      while (query) {
        const page = await tx.range(store, query);
        out.push(...page.entries);
        query = page.next;
      }
      return out;
    },
  };
}

/** What is stored now, read in full: the slow path, for a save that no load preceded under the
 * current lock. An empty store (a new profile) has nothing. */
async function storedRecords(tx: StoreTx, where: string, sodium: Sodium): Promise<Omit<Snapshot, 'state'>> {
  const known = new Map<string, Known>();
  const r = reader(tx);
  const generation = await readGeneration(r, where);
  try {
    await readProfile(r, where, (rec) => known.set(recordId(rec.store, rec.part, rec.index), knownOf(sodium, rec)));
  } catch (error) {
    if (error instanceof AgoraError && error.code === 'not_registered') return { generation, known };
    throw error;
  }
  return { generation, known };
}
