/** The shapes shared by the store's layers: what the client machine sees (`ClientStore`,
 * `StoreTx`) and what a storage backend implements (`StoreBackend`). A backend only ever holds
 * ciphertext under opaque keys; encryption lives once, in client-store.ts, for every backend. */

/** The namespaces of one device's state. Fixed rather than free-form so a backend can create its
 * tables up front (IndexedDB must declare object stores when the database is created) and so a
 * transaction can say which namespaces it touches. */
export const STORE_NAMES = ['identity', 'groups', 'contentKeys', 'messages', 'outbox'] as const;
export type StoreName = (typeof STORE_NAMES)[number];

/** A record's key: a partition (a group id, "device", …) and a position inside it (a log seq, an
 * epoch, an outbox number). A bare string is the partition at position 0, for single records.
 * Positions order range reads; partitions are never ordered (they are stored hashed). */
export type RecordKey = string | readonly [part: string, index: number];

export type TxMode = 'readonly' | 'readwrite';

export interface RangeQuery {
  part: string;
  /** 'oldest' = ascending positions, 'newest' = descending. Default 'oldest'. */
  order?: 'oldest' | 'newest';
  /** Exclusive lower bound on the position. */
  after?: number;
  /** Exclusive upper bound on the position. */
  before?: number;
  /** At most this many entries (default and maximum MAX_RANGE_LIMIT). */
  limit?: number;
}

export interface RangeEntry {
  index: number;
  value: Uint8Array;
}

export interface RangePage {
  entries: RangeEntry[];
  /** The query for the next page in the same order, or undefined when this page reached the end.
   * It is the cursor: keep it (it is plain data) and pass it back to `range`. */
  next: RangeQuery | undefined;
}

/** What a transaction's callback may do. Every call is limited to the stores the transaction
 * named; writes are buffered and become visible to other transactions only when the callback
 * returns, all together. */
export interface StoreTx {
  get(store: StoreName, key: RecordKey): Promise<Uint8Array | undefined>;
  put(store: StoreName, key: RecordKey, value: Uint8Array): void;
  delete(store: StoreName, key: RecordKey): void;
  range(store: StoreName, query: RangeQuery): Promise<RangePage>;
}

export interface ClientStore {
  /** Runs `fn` with exclusive access; on return its writes are committed atomically (all or none);
   * if it throws, nothing is written and the error is rethrown. Transactions run one at a time, so
   * `fn` must not await another transaction of the same store (it would wait for itself). */
  transaction<T>(stores: readonly StoreName[], mode: TxMode, fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** A consistent read-only view for the length of `fn` (no transaction commits meanwhile). */
  read<T>(stores: readonly StoreName[], fn: (tx: Pick<StoreTx, 'get' | 'range'>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  describe(): string;
}

/** A write handed to a backend: `tag` is the keyed hash of the partition, never the partition. */
export type RawOp =
  | { kind: 'put'; store: string; tag: string; index: number; value: Uint8Array }
  | { kind: 'delete'; store: string; tag: string; index: number };

export interface RawRange {
  /** Inclusive bounds on the position. */
  lo: number;
  hi: number;
  reverse: boolean;
  limit: number;
}

/** Raw ciphertext storage. `commit` must be atomic across all its ops, also across a crash: after
 * a restart either every op of a commit is there or none is. One writer at a time (the ClientStore
 * serialises transactions; backends add a cross-process lock where the platform has one). */
export interface StoreBackend {
  get(store: string, tag: string, index: number): Promise<Uint8Array | undefined>;
  range(store: string, tag: string, range: RawRange): Promise<RangeEntry[]>;
  commit(ops: readonly RawOp[]): Promise<void>;
  /** A small clear-text record read before any key exists: the key source's header. */
  readHeader(): Promise<Uint8Array | undefined>;
  writeHeader(bytes: Uint8Array): Promise<void>;
  /** For backends that keep a copy in memory (the Node journal): re-read what another process
   * committed since this one last read or wrote, and say whether anything changed. Called by a
   * profile right after it takes its cross-process lock. Backends that read through to shared
   * storage on every call (IndexedDB) leave it out. */
  refresh?(): Promise<boolean>;
  close(): Promise<void>;
  describe(): string;
}

/** 32 bytes; every value in the store is encrypted under keys derived from it. */
export type StorageKey = Uint8Array;
