/** The ClientStore contract: one suite, run over every backend (memory, Node files, IndexedDB via
 * fake-indexeddb). A harness gives the suite what an attacker or a crash would have: the raw bytes
 * at rest, a way to rewrite them, and a count of bytes written. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { AgoraError } from '../core/errors.js';
import { getSodium } from '../crypto/sodium.js';
import { concatBytes, randomBytes, utf8 } from '../protocol/encoding.js';
import { MAX_RANGE_LIMIT, openClientStore } from './client-store.js';
import { IndexedDbBackend, openIndexedDb, type IndexedDbEnv } from './indexeddb-store.js';
import { encodeFrame, readJournal } from './journal.js';
import { MemoryStorage } from './memory-store.js';
import { NodeFileBackend, nodeFileIo, type FileIo } from '../node/file-client-store.js';
import { RecordTable, type RawRecord } from './record-table.js';
import type { ClientStore, RangeQuery, StoreBackend, StoreName } from './types.js';

export interface BackendHarness {
  /** A backend over the same underlying storage each time (reopen after close). */
  open(): Promise<StoreBackend>;
  /** Every byte at rest, as one buffer per file or record (keys included). */
  rawBytes(): Promise<Uint8Array[]>;
  /** Rewrites the records at rest as someone with the disk would; the backend must be closed. */
  rewrite(fn: (records: RawRecord[]) => RawRecord[]): Promise<void>;
  bytesWritten(): number;
  cleanup(): Promise<void>;
}

const memoryHarness = async (): Promise<BackendHarness> => {
  const storage = new MemoryStorage();
  return {
    open: async () => storage.backend(),
    rawBytes: async () => [...storage.records().flatMap((r) => [utf8(`${r.store}/${r.tag}/${r.index}`), r.value]), ...(storage.header ? [storage.header] : [])],
    rewrite: async (fn) => {
      const records = fn(storage.records());
      for (const r of storage.records()) storage.table.apply([{ kind: 'delete', store: r.store, tag: r.tag, index: r.index }]);
      storage.table.apply(records.map((r) => ({ kind: 'put', ...r })));
    },
    bytesWritten: () => storage.bytesWritten,
    cleanup: async () => undefined,
  };
};

const fileHarness = async (): Promise<BackendHarness> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'agora-store-'));
  let written = 0;
  const io: FileIo = {
    ...nodeFileIo,
    append: async (file, bytes) => {
      written += bytes.length;
      await nodeFileIo.append(file, bytes);
    },
    writeSynced: async (file, bytes) => {
      written += bytes.length;
      await nodeFileIo.writeSynced(file, bytes);
    },
  };
  const journal = path.join(dir, 'store.journal');
  return {
    open: () => NodeFileBackend.open({ dir, io }),
    rawBytes: async () => {
      const files = [journal, path.join(dir, 'key-header')];
      return (await Promise.all(files.map((f) => readFile(f).catch(() => Buffer.alloc(0))))).map((b) => new Uint8Array(b));
    },
    rewrite: async (fn) => {
      const sodium = await getSodium();
      const table = new RecordTable();
      for (const ops of readJournal(sodium, new Uint8Array(await readFile(journal))).frames) table.apply(ops);
      const records = fn([...table.records()]);
      // The attacker recomputes the (unkeyed) frame checksums: they only catch torn writes.
      await writeFile(journal, encodeFrame(sodium, records.map((r) => ({ kind: 'put', ...r }))));
    },
    bytesWritten: () => written,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
};

let idbCount = 0;
const indexedDbHarness = async (): Promise<BackendHarness> => {
  const env: IndexedDbEnv = { indexedDB: new IDBFactory(), IDBKeyRange };
  const name = `agora-profile-${++idbCount}`;
  let written = 0;
  const withDb = async <T>(fn: (db: IDBDatabase) => Promise<T>): Promise<T> => {
    const db = await openIndexedDb(env, name);
    try {
      return await fn(db);
    } finally {
      db.close();
    }
  };
  const all = (db: IDBDatabase, store: string) =>
    new Promise<{ key: IDBValidKey; value: Uint8Array }[]>((resolve, reject) => {
      const out: { key: IDBValidKey; value: Uint8Array }[] = [];
      const req = db.transaction(store, 'readonly').objectStore(store).openCursor();
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        if (!req.result) return resolve(out);
        out.push({ key: req.result.primaryKey, value: req.result.value as Uint8Array });
        req.result.continue();
      };
    });
  return {
    open: async () => {
      const backend = await IndexedDbBackend.open({ name, env });
      const commit = backend.commit.bind(backend);
      backend.commit = async (ops) => {
        for (const op of ops) if (op.kind === 'put') written += op.value.length;
        await commit(ops);
      };
      return backend;
    },
    rawBytes: () =>
      withDb(async (db) => {
        const rows = [...(await all(db, 'records')), ...(await all(db, 'header'))];
        return rows.flatMap((r) => [utf8(JSON.stringify(r.key)), r.value]);
      }),
    rewrite: (fn) =>
      withDb(async (db) => {
        const rows = await all(db, 'records');
        const records = fn(rows.map(({ key, value }) => {
          const [store, tag, index] = key as [string, string, number];
          return { store, tag, index, value };
        }));
        const tx = db.transaction('records', 'readwrite');
        const store = tx.objectStore('records');
        store.clear();
        for (const r of records) store.put(r.value, [r.store, r.tag, r.index]);
        await new Promise((resolve, reject) => {
          tx.oncomplete = resolve;
          tx.onerror = () => reject(tx.error);
        });
      }),
    bytesWritten: () => written,
    cleanup: async () => undefined,
  };
};

const te = (s: string) => utf8(s);
const td = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const ALL: StoreName[] = ['identity', 'groups', 'contentKeys', 'messages', 'outbox'];

function includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.length).includes(Buffer.from(needle));
}

export function clientStoreContract(name: string, makeHarness: () => Promise<BackendHarness>): void {
  describe(`ClientStore contract: ${name}`, () => {
    let harness: BackendHarness;
    let store: ClientStore | undefined;
    const key = randomBytes(32);
    const open = async (k: Uint8Array = key) => (store = await openClientStore({ backend: await harness.open(), key: k }));
    const reopen = async () => {
      await store?.close();
      return open();
    };
    afterEach(async () => {
      await store?.close();
      store = undefined;
      await harness?.cleanup();
    });
    const setup = async () => {
      harness = await makeHarness();
      return open();
    };

    it('round-trips values by partition and position, overwrites and deletes', async () => {
      const s = await setup();
      await s.transaction(ALL, 'readwrite', async (tx) => {
        tx.put('identity', 'device', te('device keys'));
        tx.put('groups', 'g_1', te('group one v1'));
        tx.put('contentKeys', ['g_1', 3], te('epoch 3 key'));
        tx.put('messages', ['g_1', 7], te('hello'));
        tx.put('outbox', ['', 1], new Uint8Array());
      });
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', te('group one v2'));
        tx.delete('messages', ['g_1', 7]);
      });
      await s.read(ALL, async (tx) => {
        expect(td(await tx.get('identity', 'device'))).toBe('device keys');
        expect(td(await tx.get('groups', 'g_1'))).toBe('group one v2');
        // A bare string is position 0 of that partition.
        expect(td(await tx.get('groups', ['g_1', 0]))).toBe('group one v2');
        expect(td(await tx.get('contentKeys', ['g_1', 3]))).toBe('epoch 3 key');
        expect(await tx.get('contentKeys', ['g_1', 4])).toBeUndefined();
        expect(await tx.get('messages', ['g_1', 7])).toBeUndefined();
        expect(await tx.get('outbox', ['', 1])).toEqual(new Uint8Array());
      });
    });

    it('keeps the data across close and reopen', async () => {
      const s = await setup();
      const blob = concatBytes(randomBytes(60_000), randomBytes(60_000));
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', blob);
        for (let seq = 1; seq <= 20; seq++) tx.put('messages', ['g_1', seq], te(`m${seq}`));
      });
      const again = await reopen();
      await again.read(['groups', 'messages'], async (tx) => {
        expect(await tx.get('groups', 'g_1')).toEqual(blob);
        const page = await tx.range('messages', { part: 'g_1', order: 'newest', limit: 3 });
        expect(page.entries.map((e) => td(e.value))).toEqual(['m20', 'm19', 'm18']);
      });
    });

    it('commits a transaction all or nothing: a throwing callback writes nothing', async () => {
      const s = await setup();
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', te('state at seq 1'));
        tx.put('messages', ['g_1', 1], te('first'));
      });
      const failure = new Error('processing failed half-way');
      await expect(
        s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
          tx.put('groups', 'g_1', te('state at seq 2'));
          tx.put('messages', ['g_1', 2], te('second'));
          tx.delete('messages', ['g_1', 1]);
          // The callback sees its own writes before it fails.
          expect(td(await tx.get('groups', 'g_1'))).toBe('state at seq 2');
          expect(await tx.get('messages', ['g_1', 1])).toBeUndefined();
          throw failure;
        }),
      ).rejects.toBe(failure);
      const again = await reopen();
      await again.read(['groups', 'messages'], async (tx) => {
        expect(td(await tx.get('groups', 'g_1'))).toBe('state at seq 1');
        expect(td(await tx.get('messages', ['g_1', 1]))).toBe('first');
        expect(await tx.get('messages', ['g_1', 2])).toBeUndefined();
      });
    });

    it('serialises concurrent transactions, so no update is lost', async () => {
      const s = await setup();
      const bump = () =>
        s.transaction(['identity'], 'readwrite', async (tx) => {
          const n = Number(td(await tx.get('identity', 'counter')) ?? '0');
          await new Promise((r) => setTimeout(r, 1));
          tx.put('identity', 'counter', te(String(n + 1)));
        });
      await Promise.all(Array.from({ length: 10 }, bump));
      expect(td(await s.read(['identity'], (tx) => tx.get('identity', 'counter')))).toBe('10');
    });

    it('reads ranges oldest-first and newest-first with limits, bounds and cursors', async () => {
      const s = await setup();
      const seqs = Array.from({ length: 57 }, (_, i) => i * 3 + 1); // 1, 4, …, 169: gaps as in a shared log
      const shuffled = [...seqs].sort(() => Math.random() - 0.5);
      await s.transaction(['messages'], 'readwrite', async (tx) => {
        for (const seq of shuffled) tx.put('messages', ['g_1', seq], te(`m${seq}`));
        tx.put('messages', ['g_10', 2], te('other group'));
      });
      await s.read(['messages'], async (tx) => {
        const first = await tx.range('messages', { part: 'g_1', limit: 5 });
        expect(first.entries.map((e) => e.index)).toEqual([1, 4, 7, 10, 13]);
        expect(first.entries.map((e) => td(e.value))).toEqual(['m1', 'm4', 'm7', 'm10', 'm13']);
        const last = await tx.range('messages', { part: 'g_1', order: 'newest', limit: 4 });
        expect(last.entries.map((e) => e.index)).toEqual([169, 166, 163, 160]);
        const bounded = await tx.range('messages', { part: 'g_1', after: 10, before: 22 });
        expect(bounded.entries.map((e) => e.index)).toEqual([13, 16, 19]);
        expect(bounded.next).toBeUndefined();
        const boundedDown = await tx.range('messages', { part: 'g_1', order: 'newest', after: 10, before: 22, limit: 2 });
        expect(boundedDown.entries.map((e) => e.index)).toEqual([19, 16]);
        expect(boundedDown.next).toEqual({ part: 'g_1', order: 'newest', after: 10, before: 16, limit: 2 });
        expect((await tx.range('messages', { part: 'g_1', after: 169 })).entries).toEqual([]);
        expect((await tx.range('messages', { part: 'g_none' })).entries).toEqual([]);
        // 'g_1' and 'g_10' are separate partitions, not prefixes of each other.
        expect((await tx.range('messages', { part: 'g_10' })).entries.map((e) => e.index)).toEqual([2]);

        for (const order of ['oldest', 'newest'] as const) {
          const seen: number[] = [];
          let query: RangeQuery | undefined = { part: 'g_1', order, limit: 10 };
          let pages = 0;
          while (query) {
            const page = await tx.range('messages', query);
            seen.push(...page.entries.map((e) => e.index));
            query = page.next;
            pages++;
          }
          expect(seen).toEqual(order === 'oldest' ? seqs : [...seqs].reverse());
          expect(pages).toBe(6);
        }
      });
    });

    it('merges a transaction’s own writes into its range reads', async () => {
      const s = await setup();
      await s.transaction(['messages'], 'readwrite', async (tx) => {
        for (let seq = 1; seq <= 30; seq++) tx.put('messages', ['g_1', seq], te(`m${seq}`));
      });
      await s.transaction(['messages'], 'readwrite', async (tx) => {
        for (const seq of [2, 3, 4, 5, 6]) tx.delete('messages', ['g_1', seq]);
        tx.put('messages', ['g_1', 1], te('m1 edited'));
        tx.put('messages', ['g_1', 100], te('m100'));
        const head = await tx.range('messages', { part: 'g_1', limit: 4 });
        expect(head.entries.map((e) => [e.index, td(e.value)])).toEqual([
          [1, 'm1 edited'],
          [7, 'm7'],
          [8, 'm8'],
          [9, 'm9'],
        ]);
        expect(head.next).toEqual({ part: 'g_1', limit: 4, after: 9 });
        const tail = await tx.range('messages', { part: 'g_1', order: 'newest', limit: 2 });
        expect(tail.entries.map((e) => e.index)).toEqual([100, 30]);
        const everything = await tx.range('messages', { part: 'g_1' });
        expect(everything.entries.length).toBe(26);
        expect(everything.next).toBeUndefined();
      });
    });

    it('keeps stores and partitions apart, and holds a transaction to the stores it named', async () => {
      const s = await setup();
      await s.transaction(['groups', 'contentKeys'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', te('a group'));
        tx.put('contentKeys', 'g_1', te('a key'));
        tx.put('groups', 'g_2', te('another group'));
      });
      await s.read(['groups', 'contentKeys', 'messages'], async (tx) => {
        expect(td(await tx.get('groups', 'g_1'))).toBe('a group');
        expect(td(await tx.get('contentKeys', 'g_1'))).toBe('a key');
        expect(td(await tx.get('groups', 'g_2'))).toBe('another group');
        expect(await tx.get('messages', 'g_1')).toBeUndefined();
      });
      await expect(s.transaction(['groups'], 'readwrite', async (tx) => tx.get('identity', 'device'))).rejects.toThrow('not part of this transaction');
      await expect(s.transaction(['groups'], 'readonly', async (tx) => tx.put('groups', 'g_1', te('x')))).rejects.toThrow('readonly');
      let kept: Parameters<Parameters<ClientStore['transaction']>[2]>[0] | undefined;
      await s.transaction(['groups'], 'readwrite', async (tx) => {
        kept = tx;
      });
      expect(() => kept!.put('groups', 'g_1', te('late'))).toThrow('finished');
      await expect(s.transaction(['nope' as StoreName], 'readonly', async () => 1)).rejects.toThrow('unknown store');
    });

    it('validates keys and range queries', async () => {
      const s = await setup();
      await expect(s.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', ['g_1', -1], te('x')))).rejects.toThrow(RangeError);
      await expect(s.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', ['g_1', 1.5], te('x')))).rejects.toThrow(RangeError);
      await expect(s.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', 'g'.repeat(257), te('x')))).rejects.toThrow(RangeError);
      await expect(s.read(['messages'], (tx) => tx.range('messages', { part: 'g_1', limit: 0 }))).rejects.toThrow(RangeError);
      await expect(s.read(['messages'], (tx) => tx.range('messages', { part: 'g_1', limit: MAX_RANGE_LIMIT + 1 }))).rejects.toThrow(RangeError);
    });

    it('encrypts at rest: neither values nor partition names appear in the stored bytes', async () => {
      const s = await setup();
      const secret = 'Quarterly figures: revenue 4.2M, do not forward';
      const group = 'g_ConstructionOfficeSecretGroup';
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', group, te(`{"name":"${group}"}`));
        tx.put('messages', [group, 1], te(secret));
      });
      await store!.close();
      store = undefined;
      const raw = await harness.rawBytes();
      expect(raw.length).toBeGreaterThan(0);
      const all = concatBytes(...raw);
      // The scan itself must be able to fail: the probe finds what is there.
      expect(includes(all, te('messages'))).toBe(true);
      for (const needle of [secret, 'revenue', group, 'ConstructionOffice']) expect(includes(all, te(needle))).toBe(false);
      expect(includes(all, key)).toBe(false);
    });

    it('refuses a wrong storage key with a clear error', async () => {
      const s = await setup();
      await s.transaction(['identity'], 'readwrite', async (tx) => tx.put('identity', 'device', te('keys')));
      await store!.close();
      store = undefined;
      const error = await openClientStore({ backend: await harness.open(), key: randomBytes(32) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AgoraError);
      expect(error).toMatchObject({ code: 'wrong_passphrase', message: expect.stringContaining('storage key does not open') });
      await open();
      expect(td(await store!.read(['identity'], (tx) => tx.get('identity', 'device')))).toBe('keys');
    });

    it('names a store written by a newer format instead of blaming the key', async () => {
      const s = await setup();
      await s.transaction(['identity'], 'readwrite', async (tx) => tx.put('identity', 'device', te('keys')));
      await store!.close();
      store = undefined;
      await harness.rewrite((records) => records.map((r) => (r.store === '_meta' && r.index === 1 ? { ...r, value: te('2') } : r)));
      await expect(openClientStore({ backend: await harness.open(), key })).rejects.toMatchObject({ code: 'profile_corrupt', message: expect.stringContaining('has format 2') });
    });

    it('refuses a tampered value, and a value moved to another key', async () => {
      const s = await setup();
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', te('state v2'));
        tx.put('groups', 'g_2', te('another'));
        tx.put('messages', ['g_1', 1], te('one'));
        tx.put('messages', ['g_1', 2], te('two'));
      });
      await store!.close();
      store = undefined;
      await harness.rewrite((records) =>
        records.map((r) => {
          if (r.store !== 'messages' || r.index !== 2) return r;
          const value = r.value.slice();
          value[value.length - 20] ^= 1;
          return { ...r, value };
        }),
      );
      const s2 = await open();
      expect(td(await s2.read(['messages'], (tx) => tx.get('messages', ['g_1', 1])))).toBe('one');
      await expect(s2.read(['messages'], (tx) => tx.get('messages', ['g_1', 2]))).rejects.toMatchObject({ code: 'profile_corrupt' });
      await expect(s2.read(['messages'], (tx) => tx.range('messages', { part: 'g_1' }))).rejects.toMatchObject({ code: 'profile_corrupt' });
      await store!.close();
      store = undefined;
      // Swap the two group states' ciphertexts: each is authentic, but not for the key it now has.
      await harness.rewrite((records) => {
        const groups = records.filter((r) => r.store === 'groups');
        expect(groups.length).toBe(2);
        return records.map((r) => (r === groups[0] ? { ...r, value: groups[1].value } : r === groups[1] ? { ...r, value: groups[0].value } : r));
      });
      const s3 = await open();
      await expect(s3.read(['groups'], (tx) => tx.get('groups', 'g_1'))).rejects.toMatchObject({ code: 'profile_corrupt' });
      await expect(s3.read(['groups'], (tx) => tx.get('groups', 'g_2'))).rejects.toMatchObject({ code: 'profile_corrupt' });
    });

    it('writes only what a save changed: bytes per message save do not grow with 10,000 messages of history', async () => {
      const s = await setup();
      const groupState = randomBytes(1000);
      const perSave: number[] = [];
      let seq = 0;
      const save = async () => {
        const before = harness.bytesWritten();
        seq++;
        await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
          tx.put('messages', ['g_1', seq], randomBytes(200));
          tx.put('groups', 'g_1', groupState);
        });
        return harness.bytesWritten() - before;
      };
      for (let i = 0; i < 200; i++) perSave.push(await save());
      // Fill the history quickly (100 messages per transaction); the saves measured are single.
      while (seq < 9_000) {
        await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
          for (let i = 0; i < 100; i++) tx.put('messages', ['g_1', ++seq], randomBytes(200));
          tx.put('groups', 'g_1', groupState);
        });
      }
      const late: number[] = [];
      for (let i = 0; i < 1_000; i++) late.push(await save());
      expect(seq).toBe(10_000);
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
      const early = median(perSave.slice(100));
      const typicalLate = median(late);
      const amortisedLate = late.reduce((a, b) => a + b, 0) / late.length;
      // A whole-history rewrite would be ~2.5 MB per save here.
      expect(early).toBeLessThan(2_000);
      expect(Math.abs(typicalLate - early)).toBeLessThanOrEqual(early * 0.05);
      // Occasional compaction (file journal) is allowed, amortised to a constant factor.
      expect(amortisedLate).toBeLessThanOrEqual(4 * early);
      process.stdout.write(`[${name}] bytes written per message save: at 100 messages ${early}, at 10,000 messages ${typicalLate} (amortised ${Math.round(amortisedLate)})\n`);
      const again = await reopen();
      const newest = await again.read(['messages'], (tx) => tx.range('messages', { part: 'g_1', order: 'newest', limit: 1 }));
      expect(newest.entries[0].index).toBe(10_000);
    });
  });
}

clientStoreContract('memory', memoryHarness);
clientStoreContract('Node files', fileHarness);
clientStoreContract('IndexedDB (fake-indexeddb)', indexedDbHarness);
