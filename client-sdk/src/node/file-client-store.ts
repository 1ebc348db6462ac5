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
import { getSodium, type Sodium } from '@agora/protocol/crypto/sodium';
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
  /** Identity and size of a file (undefined: absent), to notice another process's writes. */
  stamp(file: string): Promise<string | undefined>;
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
  async stamp(file) {
    try {
      // A compaction replaces the file (new inode); an append grows it and moves its mtime.
      const st = await fs.stat(file, { bigint: true });
      return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
};

export interface NodeFileStoreOptions {
  dir: string;
  io?: FileIo;
  /** Take FileBlobStore's process lock on the directory for as long as the backend is open (default
   * true). A profile that locks per operation instead (StoreProfile) passes false and calls
   * `refresh()` after each time it takes the lock. */
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
  /** The journal file as this instance last read or wrote it (see refresh). */
  private seen: string | undefined;

  private constructor(
    private readonly dir: string,
    private readonly io: FileIo,
    private readonly sodium: Sodium,
    private table: RecordTable,
    private journalBytes: number,
    private readonly slack: number,
    private readonly release: (() => Promise<void>) | undefined,
  ) {}

  /** A backend that opens the directory on first use, so a profile object can be built before
   * anything is read (and before its lock is held). */
  static lazy(opts: NodeFileStoreOptions): StoreBackend & { refresh(): Promise<boolean> } {
    return new LazyNodeFileBackend(opts);
  }

  /** Reads the journal and replays it. A torn last frame (a writer that died mid-append) is cut off,
   * so the next append does not land behind garbage: only ever done holding the directory's lock. */
  private static async replay(io: FileIo, sodium: Sodium, dir: string): Promise<{ table: RecordTable; length: number; stamp: string | undefined }> {
    const journal = path.join(dir, 'store.journal');
    const bytes = (await io.read(journal)) ?? new Uint8Array();
    let read;
    try {
      read = readJournal(sodium, bytes);
    } catch (error) {
      if (!(error instanceof JournalCorrupt)) throw error;
      throw new AgoraError('profile_corrupt', `the local store at ${dir} is damaged (${error.message})`);
    }
    if (read.validLength < bytes.length) await io.truncate(journal, read.validLength);
    const table = new RecordTable();
    for (const ops of read.frames) table.apply(ops);
    return { table, length: read.validLength, stamp: await io.stamp(journal) };
  }

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
      const read = await NodeFileBackend.replay(io, sodium, opts.dir);
      const backend = new NodeFileBackend(opts.dir, io, sodium, read.table, read.length, opts.compactSlackBytes ?? 1024 * 1024, release);
      backend.seen = read.stamp;
      return backend;
    } catch (error) {
      await release?.();
      throw error;
    }
  }

  describe(): string {
    return this.dir;
  }

  /** Picks up what other processes committed since this one last read or wrote the journal. Only
   * meaningful holding the directory's lock (see NodeFileStoreOptions.lock). */
  async refresh(): Promise<boolean> {
    this.usable();
    const stamp = await this.io.stamp(this.journal);
    if (stamp === this.seen) return false;
    const read = await NodeFileBackend.replay(this.io, this.sodium, this.dir);
    this.table = read.table;
    this.journalBytes = read.length;
    this.seen = read.stamp;
    this.retryCompactionAt = 0;
    return true;
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
    // What is on disk now is this instance's own doing: not a change to pick up at refresh().
    this.seen = await this.io.stamp(this.journal).catch(() => undefined);
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

/** NodeFileBackend opened on first use (see NodeFileBackend.lazy). Closing it closes the opened
 * backend; a later call opens the directory again, so a profile that failed to unlock (and closed
 * its backend) can be tried again. */
class LazyNodeFileBackend implements StoreBackend {
  private opened: Promise<NodeFileBackend> | undefined;

  constructor(private readonly opts: NodeFileStoreOptions) {}

  private backend(): Promise<NodeFileBackend> {
    if (!this.opened) {
      const opening = NodeFileBackend.open(this.opts);
      this.opened = opening;
      opening.catch(() => {
        if (this.opened === opening) this.opened = undefined;
      });
    }
    return this.opened;
  }

  describe(): string {
    return this.opts.dir;
  }

  async refresh(): Promise<boolean> {
    // Opening reads the journal anyway: a fresh open is as good as a refresh.
    if (!this.opened) {
      await this.backend();
      return true;
    }
    return (await this.backend()).refresh();
  }

  async get(store: string, tag: string, index: number): Promise<Uint8Array | undefined> {
    return (await this.backend()).get(store, tag, index);
  }

  async range(store: string, tag: string, range: RawRange): Promise<RangeEntry[]> {
    return (await this.backend()).range(store, tag, range);
  }

  async commit(ops: readonly RawOp[]): Promise<void> {
    return (await this.backend()).commit(ops);
  }

  async readHeader(): Promise<Uint8Array | undefined> {
    // Before the directory is opened (and without its lock), the header file is read on its own: it
    // is only ever replaced by a rename, so it is whole; the journal is not touched.
    if (!this.opened) return (this.opts.io ?? nodeFileIo).read(path.join(this.opts.dir, 'key-header'));
    return (await this.backend()).readHeader();
  }

  async writeHeader(bytes: Uint8Array): Promise<void> {
    return (await this.backend()).writeHeader(bytes);
  }

  async close(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    if (opened) await (await opened.catch(() => undefined))?.close();
  }
}
