/** The browser backend: one IndexedDB database per profile with an object store of records keyed
 * [store, partition tag, position] (IndexedDB orders array keys element by element, which gives
 * range reads by position inside a partition) and one holding the key source's clear header.
 * A commit is one readwrite IndexedDB transaction, atomic by the platform's guarantee. The plain
 * API is used: a wrapper library would add bundle weight for four calls.
 *
 * IndexedDB commits a transaction as soon as no request is pending, so nothing here awaits a
 * non-IndexedDB promise inside a transaction: the encrypted layer above encrypts before calling
 * commit and decrypts after the read transaction is done. */
import type { RangeEntry, RawOp, RawRange, StoreBackend } from './types.js';

const RECORDS = 'records';
const HEADER = 'header';
const DB_VERSION = 1;

/** The globals a browser provides; injected so the backend runs in Node tests over fake-indexeddb
 * and never reaches for `window`. */
export interface IndexedDbEnv {
  indexedDB: IDBFactory;
  IDBKeyRange: typeof IDBKeyRange;
}

export function browserIndexedDbEnv(): IndexedDbEnv {
  const g = globalThis as { indexedDB?: IDBFactory; IDBKeyRange?: typeof IDBKeyRange };
  if (!g.indexedDB || !g.IDBKeyRange) throw new Error('IndexedDB is not available in this environment');
  return { indexedDB: g.indexedDB, IDBKeyRange: g.IDBKeyRange };
}

/** Shared with the WebCrypto key source's own small database. */
export function idbRequest<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

export function idbDone(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

function asBytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new Error('the local store holds a record that is not bytes');
  return value;
}

export function openIndexedDb(env: IndexedDbEnv, name: string): Promise<IDBDatabase> {
  const req = env.indexedDB.open(name, DB_VERSION);
  req.onupgradeneeded = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains(RECORDS)) db.createObjectStore(RECORDS);
    if (!db.objectStoreNames.contains(HEADER)) db.createObjectStore(HEADER);
  };
  return idbRequest(req);
}

export class IndexedDbBackend implements StoreBackend {
  private constructor(
    private readonly db: IDBDatabase,
    private readonly env: IndexedDbEnv,
    private readonly name: string,
  ) {
    // Another tab upgrading the schema must not be blocked forever by this one.
    db.onversionchange = () => db.close();
  }

  static async open(opts: { name: string; env?: IndexedDbEnv }): Promise<IndexedDbBackend> {
    const env = opts.env ?? browserIndexedDbEnv();
    return new IndexedDbBackend(await openIndexedDb(env, opts.name), env, opts.name);
  }

  describe(): string {
    return `indexeddb:${this.name}`;
  }

  async get(store: string, tag: string, index: number): Promise<Uint8Array | undefined> {
    const value: unknown = await idbRequest(this.db.transaction(RECORDS, 'readonly').objectStore(RECORDS).get([store, tag, index]));
    return value === undefined ? undefined : asBytes(value);
  }

  async range(store: string, tag: string, { lo, hi, reverse, limit }: RawRange): Promise<RangeEntry[]> {
    const bounds = this.env.IDBKeyRange.bound([store, tag, lo], [store, tag, hi]);
    const records = this.db.transaction(RECORDS, 'readonly').objectStore(RECORDS);
    if (!reverse) {
      const [keys, values] = await Promise.all([idbRequest(records.getAllKeys(bounds, limit)), idbRequest(records.getAll(bounds, limit))]);
      return keys.map((k, i) => ({ index: (k as [string, string, number])[2], value: asBytes(values[i]) }));
    }
    return new Promise((resolve, reject) => {
      const out: RangeEntry[] = [];
      const req = records.openCursor(bounds, 'prev');
      req.onerror = () => reject(req.error ?? new Error('IndexedDB cursor failed'));
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor || out.length >= limit) return resolve(out);
        try {
          out.push({ index: (cursor.primaryKey as [string, string, number])[2], value: asBytes(cursor.value) });
        } catch (error) {
          return reject(error);
        }
        cursor.continue();
      };
    });
  }

  async commit(ops: readonly RawOp[]): Promise<void> {
    // 'strict': the promise resolves only once the data is on disk, as the file backend's fsync.
    const tx = this.db.transaction(RECORDS, 'readwrite', { durability: 'strict' });
    const finished = idbDone(tx);
    const records = tx.objectStore(RECORDS);
    try {
      for (const op of ops) {
        if (op.kind === 'put') records.put(op.value, [op.store, op.tag, op.index]);
        else records.delete([op.store, op.tag, op.index]);
      }
    } catch (error) {
      // A request refused synchronously leaves the transaction active: without the abort, the
      // ops before it would still commit.
      finished.catch(() => undefined);
      tx.abort();
      throw error;
    }
    await finished;
  }

  async readHeader(): Promise<Uint8Array | undefined> {
    const value: unknown = await idbRequest(this.db.transaction(HEADER, 'readonly').objectStore(HEADER).get(HEADER));
    return value === undefined ? undefined : asBytes(value);
  }

  async writeHeader(bytes: Uint8Array): Promise<void> {
    const tx = this.db.transaction(HEADER, 'readwrite', { durability: 'strict' });
    const finished = idbDone(tx);
    tx.objectStore(HEADER).put(bytes, HEADER);
    await finished;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
