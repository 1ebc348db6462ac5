/** The encrypted, transactional layer every backend shares. A backend stores only
 * (store name, partition tag, position) → ciphertext:
 * - the partition (a group id, say) is replaced by a keyed BLAKE2b tag, so the files or IndexedDB
 *   records do not say which groups this device is in; positions stay clear because range reads
 *   need their order, and a log seq or epoch is something the relay knows anyway;
 * - each value is XChaCha20-Poly1305 under a subkey of the storage key, with the store name,
 *   partition and position as associated data, so a ciphertext moved to another key (an old group
 *   state over a new one, one group's message into another group) fails to open instead of being
 *   believed.
 * A check record written when the store is created tells a wrong storage key apart at open, before
 * any real record is read. Writes are buffered per transaction and committed in one backend call,
 * so a transaction writes exactly the records it changed, never the whole history. */
import { lp16, u64 } from '@agora/protocol/crypto/bytes';
import { decryptProfile, encryptProfile } from '../crypto/profile-crypto.js';
import { getSodium, type Sodium } from '@agora/protocol/crypto/sodium';
import { AgoraError } from '../core/errors.js';
import { concatBytes, fromUtf8, toB64u, utf8 } from '@agora/protocol/encoding';
import {
  STORE_NAMES,
  type ClientStore,
  type RangeEntry,
  type RangePage,
  type RangeQuery,
  type RawOp,
  type RecordKey,
  type StorageKey,
  type StoreBackend,
  type StoreName,
  type StoreTx,
  type TxMode,
} from './types.js';

export const STORE_FORMAT_VERSION = 1;
/** Partitions are ids (group ids, "device"); a bound keeps the associated data framing valid. */
export const MAX_PART_CHARS = 256;
/** A group's MLS state at 1,000 members is about a megabyte; this leaves room without letting a
 * bug write hundreds of megabytes into one IndexedDB record. */
export const MAX_VALUE_BYTES = 32 * 1024 * 1024;
export const MAX_RANGE_LIMIT = 10_000;

/** Reserved for the store's own records; not a StoreName, so callers cannot reach it. */
const META_STORE = '_meta';
const CHECK_TEXT = 'agora-store-check';
const DOMAIN = 'agora-store-v1';

interface Keys {
  value: Uint8Array;
  tag: Uint8Array;
}

function deriveKeys(sodium: Sodium, key: StorageKey): Keys {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new RangeError('a storage key is 32 bytes');
  return {
    value: sodium.crypto_generichash(32, utf8(`${DOMAIN}/value`), key),
    tag: sodium.crypto_generichash(32, utf8(`${DOMAIN}/tag`), key),
  };
}

function splitKey(key: RecordKey): [string, number] {
  const [part, index] = typeof key === 'string' ? [key, 0] : key;
  checkPart(part);
  checkIndex(index, 'position');
  return [part, index];
}

function checkPart(part: unknown): asserts part is string {
  if (typeof part !== 'string' || part.length > MAX_PART_CHARS) throw new RangeError(`a partition is a string of at most ${MAX_PART_CHARS} characters`);
}

function checkIndex(index: unknown, what: string): asserts index is number {
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw new RangeError(`${what} must be a non-negative safe integer`);
}

function aad(store: string, part: string, index: number): Uint8Array {
  return concatBytes(utf8(DOMAIN), lp16(utf8(store)), lp16(utf8(part)), u64(index));
}

/** Serialises transactions in this process. Each one runs to completion before the next starts,
 * which is what makes the read-then-buffer-then-commit scheme below isolated. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

class EncryptedClientStore implements ClientStore {
  private readonly mutex = new Mutex();
  private closed = false;

  constructor(
    private readonly backend: StoreBackend,
    private readonly sodium: Sodium,
    private readonly keys: Keys,
  ) {}

  describe(): string {
    return this.backend.describe();
  }

  tag(store: string, part: string): string {
    return toB64u(this.sodium.crypto_generichash(16, concatBytes(lp16(utf8(store)), utf8(part)), this.keys.tag));
  }

  async seal(store: string, part: string, index: number, value: Uint8Array): Promise<Uint8Array> {
    return encryptProfile(this.keys.value, value, aad(store, part, index));
  }

  async open(store: string, part: string, index: number, sealed: Uint8Array): Promise<Uint8Array> {
    try {
      return await decryptProfile(this.keys.value, sealed, aad(store, part, index));
    } catch {
      throw new AgoraError('profile_corrupt', `a record in the local store at ${this.describe()} failed authentication: the store was damaged or tampered with`);
    }
  }

  transaction<T>(stores: readonly StoreName[], mode: TxMode, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    for (const s of stores) if (!(STORE_NAMES as readonly string[]).includes(s)) return Promise.reject(new RangeError(`unknown store "${String(s)}"`));
    if (mode !== 'readonly' && mode !== 'readwrite') return Promise.reject(new RangeError('mode is readonly or readwrite'));
    return this.mutex.run(async () => {
      if (this.closed) throw new Error('the client store is closed');
      const tx = new Tx(this, this.backend, new Set(stores), mode);
      try {
        const result = await fn(tx);
        await tx.commit();
        return result;
      } finally {
        tx.finish();
      }
    });
  }

  read<T>(stores: readonly StoreName[], fn: (tx: Pick<StoreTx, 'get' | 'range'>) => Promise<T>): Promise<T> {
    return this.transaction(stores, 'readonly', fn);
  }

  close(): Promise<void> {
    return this.mutex.run(async () => {
      if (this.closed) return;
      this.closed = true;
      this.keys.value.fill(0);
      this.keys.tag.fill(0);
      await this.backend.close();
    });
  }
}

/** Buffered writes of one transaction, in plaintext, keyed by store and partition so reads inside
 * the transaction see them (read-your-writes) and range reads can merge them with the backend. */
type Pending = Map<number, Uint8Array | null>;

class Tx implements StoreTx {
  private readonly pending = new Map<string, { store: string; part: string; tag: string; writes: Pending }>();
  private done = false;

  constructor(
    private readonly owner: EncryptedClientStore,
    private readonly backend: StoreBackend,
    private readonly stores: ReadonlySet<StoreName>,
    private readonly mode: TxMode,
  ) {}

  private check(store: StoreName, write: boolean): void {
    // A callback that kept the tx object and uses it after returning would write outside any
    // transaction; refuse, as IndexedDB does.
    if (this.done) throw new Error('this transaction has finished');
    if (!this.stores.has(store)) throw new RangeError(`store "${store}" is not part of this transaction`);
    if (write && this.mode !== 'readwrite') throw new Error('a readonly transaction cannot write');
  }

  private slot(store: StoreName, part: string) {
    const id = `${store}\u0000${part}`;
    let slot = this.pending.get(id);
    if (!slot) {
      slot = { store, part, tag: this.owner.tag(store, part), writes: new Map() };
      this.pending.set(id, slot);
    }
    return slot;
  }

  async get(store: StoreName, key: RecordKey): Promise<Uint8Array | undefined> {
    this.check(store, false);
    const [part, index] = splitKey(key);
    const buffered = this.pending.get(`${store}\u0000${part}`)?.writes.get(index);
    if (buffered !== undefined) return buffered === null ? undefined : buffered.slice();
    const sealed = await this.backend.get(store, this.owner.tag(store, part), index);
    return sealed === undefined ? undefined : this.owner.open(store, part, index, sealed);
  }

  put(store: StoreName, key: RecordKey, value: Uint8Array): void {
    this.check(store, true);
    const [part, index] = splitKey(key);
    if (!(value instanceof Uint8Array)) throw new TypeError('a stored value is a Uint8Array');
    if (value.length > MAX_VALUE_BYTES) throw new RangeError(`a stored value is at most ${MAX_VALUE_BYTES} bytes`);
    this.slot(store, part).writes.set(index, value.slice());
  }

  delete(store: StoreName, key: RecordKey): void {
    this.check(store, true);
    const [part, index] = splitKey(key);
    this.slot(store, part).writes.set(index, null);
  }

  async range(store: StoreName, query: RangeQuery): Promise<RangePage> {
    this.check(store, false);
    checkPart(query.part);
    const order = query.order ?? 'oldest';
    if (order !== 'oldest' && order !== 'newest') throw new RangeError('order is oldest or newest');
    const limit = query.limit ?? MAX_RANGE_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_RANGE_LIMIT) throw new RangeError(`limit is 1 to ${MAX_RANGE_LIMIT}`);
    if (query.after !== undefined) checkIndex(query.after, 'after');
    if (query.before !== undefined) checkIndex(query.before, 'before');
    const lo = query.after === undefined ? 0 : query.after + 1;
    const hi = query.before === undefined ? Number.MAX_SAFE_INTEGER : query.before - 1;
    if (lo > hi) return { entries: [], next: undefined };

    const tag = this.owner.tag(store, query.part);
    const overlay = [...(this.pending.get(`${store}\u0000${query.part}`)?.writes ?? new Map<number, Uint8Array | null>())].filter(([i]) => i >= lo && i <= hi);
    // Each buffered write can hide at most one backend entry, so this many backend entries always
    // suffice for limit + 1 merged ones (the +1 tells whether another page exists).
    const fetched = await this.backend.range(store, tag, { lo, hi, reverse: order === 'newest', limit: limit + 1 + overlay.length });
    const merged = new Map<number, Uint8Array>();
    for (const entry of fetched) merged.set(entry.index, await this.owner.open(store, query.part, entry.index, entry.value));
    for (const [i, v] of overlay) {
      if (v === null) merged.delete(i);
      else merged.set(i, v.slice());
    }
    const sorted: RangeEntry[] = [...merged].map(([index, value]) => ({ index, value })).sort((a, b) => (order === 'oldest' ? a.index - b.index : b.index - a.index));
    // If the fetch was cut at its limit, unfetched backend entries lie beyond the last fetched one;
    // but at least limit + 1 fetched entries survive the overlay and sort before them, so the
    // first `limit` entries and "is there more" are exact all the same.
    const entries = sorted.slice(0, limit);
    const more = sorted.length > limit;
    const edge = entries[entries.length - 1]?.index;
    const next = !more || edge === undefined ? undefined : order === 'oldest' ? { ...query, after: edge } : { ...query, before: edge };
    return { entries, next };
  }

  async commit(): Promise<void> {
    if (this.mode === 'readonly' || this.pending.size === 0) return;
    const ops: RawOp[] = [];
    for (const { store, part, tag, writes } of this.pending.values()) {
      for (const [index, value] of writes) {
        ops.push(value === null ? { kind: 'delete', store, tag, index } : { kind: 'put', store, tag, index, value: await this.owner.seal(store, part, index, value) });
      }
    }
    if (ops.length) await this.backend.commit(ops);
  }

  finish(): void {
    this.done = true;
    this.pending.clear();
  }
}

/** Opens (or, on an empty backend, initialises) the encrypted store. A key that does not open the
 * check record is refused here with `wrong_passphrase`, before anything is read or written. */
export async function openClientStore(opts: { backend: StoreBackend; key: StorageKey }): Promise<ClientStore> {
  const { backend } = opts;
  try {
    const sodium = await getSodium();
    const keys = deriveKeys(sodium, opts.key);
    const checkAad = aad(META_STORE, 'check', STORE_FORMAT_VERSION);
    const [sealed, version] = await Promise.all([backend.get(META_STORE, '', 0), backend.get(META_STORE, '', 1)]);
    // In clear, so a store written by a newer release is named as such rather than as a wrong key.
    if (version !== undefined && fromUtf8(version) !== String(STORE_FORMAT_VERSION)) {
      throw new AgoraError('profile_corrupt', `the local store at ${backend.describe()} has format ${fromUtf8(version).slice(0, 20)}, which this release does not read`);
    }
    if (sealed === undefined) {
      await backend.commit([
        { kind: 'put', store: META_STORE, tag: '', index: 0, value: await encryptProfile(keys.value, utf8(CHECK_TEXT), checkAad) },
        { kind: 'put', store: META_STORE, tag: '', index: 1, value: utf8(String(STORE_FORMAT_VERSION)) },
      ]);
    } else {
      let text: string;
      try {
        text = fromUtf8(await decryptProfile(keys.value, sealed, checkAad));
      } catch {
        throw new AgoraError('wrong_passphrase', `the storage key does not open the local store at ${backend.describe()} (wrong passphrase or device key, or the store is damaged)`);
      }
      if (text !== CHECK_TEXT) throw new AgoraError('profile_corrupt', `the local store at ${backend.describe()} has an unsupported format`);
    }
    return new EncryptedClientStore(backend, sodium, keys);
  } catch (error) {
    // The caller gets no store to close, so the backend (and its process lock) is released here.
    await backend.close().catch(() => undefined);
    throw error;
  }
}
