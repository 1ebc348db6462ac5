/** The Node backend (CLI, IT scripts): a directory with
 * - `store.journal`: the append-only journal of journal.ts, one fsynced frame per transaction,
 *   replayed into memory at open; when most of it is overwritten records it is compacted: the live
 *   records are written to `store.journal.compact`, fsynced and renamed over the journal (then the
 *   directory is fsynced), so a crash leaves the old journal or the new one;
 * - `key-header`: the key source's clear header, replaced the same way;
 * - `profile.lock`: the exclusive process lock of FileBlobStore, so two agora processes never
 *   append to one journal.
 * Node built-ins are confined to this file, which the browser bundle never imports. All file
 * operations go through `FileIo` so tests can stop the backend between any two of them. */
import { promises as fs, constants } from 'node:fs';
import path from 'node:path';
import { AgoraError } from '../core/errors.js';
import { getSodium, type Sodium } from '../crypto/sodium.js';
import { FileBlobStore } from './file-blob-store.js';
import { JournalCorrupt, encodeFrame, readJournal } from '../store/journal.js';
import { RecordTable } from '../store/record-table.js';
import type { RangeEntry, RawOp, RawRange, StoreBackend } from '../store/types.js';

export interface FileIo {
  read(file: string): Promise<Uint8Array | undefined>;
  /** Appends and fsyncs. */
  append(file: string, bytes: Uint8Array): Promise<void>;
  /** Creates or replaces the file's content and fsyncs it. */
  writeSynced(file: string, bytes: Uint8Array): Promise<void>;
  truncate(file: string, length: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  syncDir(dir: string): Promise<void>;
  remove(file: string): Promise<void>;
  mkdir(dir: string): Promise<void>;
}

async function withFile(file: string, flags: number, fn: (h: fs.FileHandle) => Promise<void>): Promise<void> {
  const handle = await fs.open(file, flags, 0o600);
  try {
    await fn(handle);
  } finally {
    await handle.close();
  }
}

export const nodeFileIo: FileIo = {
  async read(file) {
    try {
      return new Uint8Array(await fs.readFile(file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
  append: (file, bytes) =>
    withFile(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, async (h) => {
      await h.writeFile(bytes);
      await h.datasync();
    }),
  writeSynced: (file, bytes) =>
    withFile(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, async (h) => {
      await h.writeFile(bytes);
      await h.sync();
    }),
  truncate: (file, length) =>
    withFile(file, constants.O_WRONLY, async (h) => {
      await h.truncate(length);
      await h.sync();
    }),
  rename: (from, to) => fs.rename(from, to),
  async syncDir(dir) {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  remove: (file) => fs.rm(file, { force: true }),
  mkdir: async (dir) => {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  },
};

export interface NodeFileStoreOptions {
  dir: string;
  io?: FileIo;
  /** Take FileBlobStore's process lock on the directory (default true). */
  lock?: boolean;
  lockWaitMs?: number;
  /** Compact once the journal holds this many bytes more than twice the live records (default
   * 1 MiB): amortised, every byte written is rewritten a bounded number of times. */
  compactSlackBytes?: number;
}

export class NodeFileBackend implements StoreBackend {
  private broken: unknown;
  private closed = false;
  private retryCompactionAt = 0;

  private constructor(
    private readonly dir: string,
    private readonly io: FileIo,
    private readonly sodium: Sodium,
    private readonly table: RecordTable,
    private journalBytes: number,
    private readonly slack: number,
    private readonly release: (() => Promise<void>) | undefined,
  ) {}

  private get journal(): string {
    return path.join(this.dir, 'store.journal');
  }

  static async open(opts: NodeFileStoreOptions): Promise<NodeFileBackend> {
    const io = opts.io ?? nodeFileIo;
    const sodium = await getSodium();
    await io.mkdir(opts.dir);
    const release = opts.lock === false ? undefined : await new FileBlobStore(opts.dir, opts.lockWaitMs).lock();
    try {
      const journal = path.join(opts.dir, 'store.journal');
      // A compaction that crashed before its rename: the journal itself is intact.
      await io.remove(`${journal}.compact`);
      await io.remove(path.join(opts.dir, 'key-header.tmp'));
      const bytes = (await io.read(journal)) ?? new Uint8Array();
      let read;
      try {
        read = readJournal(sodium, bytes);
      } catch (error) {
        if (!(error instanceof JournalCorrupt)) throw error;
        throw new AgoraError('profile_corrupt', `the local store at ${opts.dir} is damaged (${error.message})`);
      }
      // Cut a torn last frame now, so the next append does not land behind garbage.
      if (read.validLength < bytes.length) await io.truncate(journal, read.validLength);
      const table = new RecordTable();
      for (const ops of read.frames) table.apply(ops);
      return new NodeFileBackend(opts.dir, io, sodium, table, read.validLength, opts.compactSlackBytes ?? 1024 * 1024, release);
    } catch (error) {
      await release?.();
      throw error;
    }
  }

  describe(): string {
    return this.dir;
  }

  private usable(): void {
    if (this.closed) throw new Error('the local store is closed');
    // After a failed write the journal's state on disk is unknown (the frame may or may not have
    // landed); only a fresh open, which reads it back, knows.
    if (this.broken !== undefined) throw new AgoraError('profile_corrupt', `a write to the local store at ${this.dir} failed; reopen it`);
  }

  async get(store: string, tag: string, index: number): Promise<Uint8Array | undefined> {
    this.usable();
    return this.table.get(store, tag, index);
  }

  async range(store: string, tag: string, range: RawRange): Promise<RangeEntry[]> {
    this.usable();
    return this.table.range(store, tag, range);
  }

  async commit(ops: readonly RawOp[]): Promise<void> {
    this.usable();
    const frame = encodeFrame(this.sodium, ops);
    try {
      await this.io.append(this.journal, frame);
    } catch (error) {
      this.broken = error;
      throw error;
    }
    this.journalBytes += frame.length;
    this.table.apply(ops.map((op) => (op.kind === 'put' ? { ...op, value: op.value.slice() } : op)));
    if (this.journalBytes > 2 * this.table.liveBytes + this.slack && this.journalBytes >= this.retryCompactionAt) await this.compact();
  }

  /** Rewrites the live records only. Frames of at most ~4 MiB keep memory bounded while encoding. */
  private async compact(): Promise<void> {
    const frames: Uint8Array[] = [];
    let batch: RawOp[] = [];
    let batchBytes = 0;
    for (const r of this.table.records()) {
      batch.push({ kind: 'put', ...r });
      batchBytes += r.value.length;
      if (batchBytes >= 4 * 1024 * 1024) {
        frames.push(encodeFrame(this.sodium, batch));
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length) frames.push(encodeFrame(this.sodium, batch));
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let o = 0;
    for (const f of frames) {
      bytes.set(f, o);
      o += f.length;
    }
    const temp = `${this.journal}.compact`;
    try {
      await this.io.writeSynced(temp, bytes);
      await this.io.rename(temp, this.journal);
    } catch {
      // Not the commit's failure: its frame is durable in the old journal, still in place. Try
      // again after more writes rather than on every commit of a full disk.
      this.retryCompactionAt = this.journalBytes + this.slack;
      await this.io.remove(temp).catch(() => undefined);
      return;
    }
    this.journalBytes = bytes.length;
    try {
      await this.io.syncDir(this.dir);
    } catch (error) {
      // Until the rename is durable, a power cut may bring back the old journal, and frames
      // appended to the new one would be lost: stop writing.
      this.broken = error;
    }
  }

  async readHeader(): Promise<Uint8Array | undefined> {
    this.usable();
    return this.io.read(path.join(this.dir, 'key-header'));
  }

  async writeHeader(bytes: Uint8Array): Promise<void> {
    this.usable();
    const file = path.join(this.dir, 'key-header');
    try {
      await this.io.writeSynced(`${file}.tmp`, bytes);
      await this.io.rename(`${file}.tmp`, file);
      await this.io.syncDir(this.dir);
    } catch (error) {
      this.broken = error;
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.release?.();
  }
}
