/** A backend in memory, for tests and for a session that must leave nothing behind. `MemoryStorage`
 * is the "disk": it outlives the backends opened on it, so closing and reopening behaves as with
 * files or IndexedDB. */
import { RecordTable, type RawRecord } from './record-table.js';
import type { RangeEntry, RawOp, RawRange, StoreBackend } from './types.js';

export class MemoryStorage {
  readonly table = new RecordTable();
  header: Uint8Array | undefined;
  /** Bytes of values handed to commits: what a save costs this backend. */
  bytesWritten = 0;

  backend(): StoreBackend {
    return new MemoryBackend(this);
  }

  /** Every raw record, as an attacker reading the storage would see it. */
  records(): RawRecord[] {
    return [...this.table.records()];
  }
}

class MemoryBackend implements StoreBackend {
  private closed = false;

  constructor(private readonly storage: MemoryStorage) {}

  private live(): MemoryStorage {
    if (this.closed) throw new Error('the memory store is closed');
    return this.storage;
  }

  describe(): string {
    return 'memory';
  }

  async get(store: string, tag: string, index: number): Promise<Uint8Array | undefined> {
    return this.live().table.get(store, tag, index)?.slice();
  }

  async range(store: string, tag: string, range: RawRange): Promise<RangeEntry[]> {
    return this.live()
      .table.range(store, tag, range)
      .map((e) => ({ index: e.index, value: e.value.slice() }));
  }

  async commit(ops: readonly RawOp[]): Promise<void> {
    const storage = this.live();
    // Copies, so a caller reusing its buffers cannot change what was committed.
    const copied = ops.map((op) => (op.kind === 'put' ? { ...op, value: op.value.slice() } : op));
    storage.table.apply(copied);
    for (const op of copied) if (op.kind === 'put') storage.bytesWritten += op.value.length;
  }

  async readHeader(): Promise<Uint8Array | undefined> {
    return this.live().header?.slice();
  }

  async writeHeader(bytes: Uint8Array): Promise<void> {
    this.live().header = bytes.slice();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
