/** The ClientStore contract as plain data: named cases, each run over a backend harness, with its own
 * small assertion helper, so the same cases run under jest in Node (contract.test.ts: memory, Node
 * files, fake-indexeddb) and inside a real browser over the real IndexedDB
 * (tests/web/idb-contract.test.ts bundles this file for Chromium). A harness gives the cases what
 * an attacker or a crash would have: the raw bytes at rest, a way to rewrite them, and a count of
 * bytes written. Nothing here may import a test framework or a Node built-in. */
import { AgoraError } from '../core/errors.js';
import { concatBytes, utf8 } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { MAX_RANGE_LIMIT, openClientStore } from './client-store.js';
import { IndexedDbBackend, openIndexedDb, type IndexedDbEnv } from './indexeddb-store.js';
import { MemoryStorage } from './memory-store.js';
import type { RawRecord } from './record-table.js';
import type { ClientStore, RangeQuery, StoreBackend, StoreName, StoreTx } from './types.js';

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

/** What a case works with: a fresh harness with a store already open on it. */
export interface ContractContext {
  readonly harness: BackendHarness;
  readonly key: Uint8Array;
  /** The store opened last (by the runner, `open` or `reopen`), or undefined after `closeStore`. */
  readonly store: ClientStore | undefined;
  open(key?: Uint8Array): Promise<ClientStore>;
  reopen(): Promise<ClientStore>;
  closeStore(): Promise<void>;
  /** A measurement worth printing (the runner decides where it goes). */
  log(line: string): void;
}

export interface ContractCase {
  name: string;
  run(t: ContractContext): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Assertions: enough for these cases, with messages that show both sides.

export class ContractFailure extends Error {
  override name = 'ContractFailure';
}

function show(value: unknown): string {
  if (value instanceof Uint8Array) {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(value.subarray(0, 64));
    return `Uint8Array(${value.length}) "${text}${value.length > 64 ? '…' : ''}"`;
  }
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? `Uint8Array(${v.length})` : v));
  } catch {
    return String(value);
  }
}

/** Structural equality as jest's toEqual has it: bytes by content, arrays by element, objects by
 * their defined properties (a property set to undefined equals a missing one). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    return a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!(Array.isArray(a) && Array.isArray(b)) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const defined = (o: object) => Object.entries(o).filter(([, v]) => v !== undefined);
  const ea = defined(a);
  const eb = new Map(defined(b));
  return ea.length === eb.size && ea.every(([k, v]) => eb.has(k) && deepEqual(v, eb.get(k)));
}

function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new ContractFailure(message());
}

export function equal(actual: unknown, expected: unknown, what: string): void {
  check(deepEqual(actual, expected), () => `${what}: expected ${show(expected)}, got ${show(actual)}`);
}

export function ok(condition: boolean, what: string): asserts condition {
  check(condition, () => what);
}

/** How an expected error is recognised; every given field must hold. */
export interface ErrorMatch {
  /** The very object thrown. */
  is?: unknown;
  instanceOf?: abstract new (...args: never[]) => unknown;
  messageIncludes?: string;
  code?: string;
}

function matchError(error: unknown, match: ErrorMatch, what: string): void {
  if ('is' in match) check(error === match.is, () => `${what}: expected ${show(match.is)} to be thrown, got ${show(error)}`);
  if (match.instanceOf) check(error instanceof match.instanceOf, () => `${what}: expected a ${match.instanceOf!.name}, got ${show(error)}`);
  const message = error instanceof Error ? error.message : String(error);
  if (match.messageIncludes !== undefined) {
    check(message.includes(match.messageIncludes), () => `${what}: expected an error saying "${match.messageIncludes}", got ${show(error)}`);
  }
  if (match.code !== undefined) {
    const code = (error as { code?: unknown } | null)?.code;
    check(code === match.code, () => `${what}: expected error code ${match.code}, got ${show(code)} (${show(error)})`);
  }
}

export async function rejects(promise: Promise<unknown>, match: ErrorMatch, what: string): Promise<void> {
  let settled: { value: unknown } | undefined;
  try {
    settled = { value: await promise };
  } catch (error) {
    matchError(error, match, what);
  }
  if (settled) throw new ContractFailure(`${what}: expected a rejection, it resolved with ${show(settled.value)}`);
}

export function throws(fn: () => unknown, match: ErrorMatch, what: string): void {
  let returned: { value: unknown } | undefined;
  try {
    returned = { value: fn() };
  } catch (error) {
    matchError(error, match, what);
  }
  if (returned) throw new ContractFailure(`${what}: expected a throw, it returned ${show(returned.value)}`);
}

function includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Harnesses that run anywhere (the Node file harness lives with the Node test).

export function memoryHarness(): BackendHarness {
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
}

/** The IndexedDB backend over `env` (a browser's own, or fake-indexeddb), one database per harness,
 * deleted again at cleanup. */
export function indexedDbHarness(env: IndexedDbEnv, name: string): BackendHarness {
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
        const records = fn(
          rows.map(({ key, value }) => {
            const [store, tag, index] = key as [string, string, number];
            return { store, tag, index, value };
          }),
        );
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
    cleanup: () =>
      new Promise<void>((resolve, reject) => {
        const req = env.indexedDB.deleteDatabase(name);
        req.onsuccess = () => resolve();
        req.onerror = () => reject(req.error);
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// The runner and the cases.

/** Runs one case on a fresh harness with a store open, and closes and cleans up whatever happens. */
export async function runContractCase(c: ContractCase, makeHarness: () => Promise<BackendHarness>, log: (line: string) => void = () => undefined): Promise<void> {
  const harness = await makeHarness();
  const key = randomBytes(32);
  let store: ClientStore | undefined;
  const t: ContractContext = {
    harness,
    key,
    get store() {
      return store;
    },
    open: async (k = key) => (store = await openClientStore({ backend: await harness.open(), key: k })),
    reopen: async () => {
      await store?.close();
      return t.open();
    },
    closeStore: async () => {
      await store?.close();
      store = undefined;
    },
    log,
  };
  try {
    await t.open();
    await c.run(t);
  } finally {
    await store?.close();
    await harness.cleanup();
  }
}

const te = (s: string) => utf8(s);
const td = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const ALL: StoreName[] = ['identity', 'groups', 'contentKeys', 'messages', 'outbox'];
const opened = (t: ContractContext): ClientStore => {
  ok(t.store !== undefined, 'a store is open');
  return t.store;
};

export const CLIENT_STORE_CASES: readonly ContractCase[] = [
  {
    name: 'round-trips values by partition and position, overwrites and deletes',
    async run(t) {
      const s = opened(t);
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
        equal(td(await tx.get('identity', 'device')), 'device keys', 'identity/device');
        equal(td(await tx.get('groups', 'g_1')), 'group one v2', 'groups/g_1 overwritten');
        // A bare string is position 0 of that partition.
        equal(td(await tx.get('groups', ['g_1', 0])), 'group one v2', 'groups/[g_1, 0]');
        equal(td(await tx.get('contentKeys', ['g_1', 3])), 'epoch 3 key', 'contentKeys/[g_1, 3]');
        equal(await tx.get('contentKeys', ['g_1', 4]), undefined, 'contentKeys/[g_1, 4] never written');
        equal(await tx.get('messages', ['g_1', 7]), undefined, 'messages/[g_1, 7] deleted');
        equal(await tx.get('outbox', ['', 1]), new Uint8Array(), 'an empty value');
      });
    },
  },
  {
    name: 'keeps the data across close and reopen',
    async run(t) {
      const s = opened(t);
      const blob = concatBytes(randomBytes(60_000), randomBytes(60_000));
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', blob);
        for (let seq = 1; seq <= 20; seq++) tx.put('messages', ['g_1', seq], te(`m${seq}`));
      });
      const again = await t.reopen();
      await again.read(['groups', 'messages'], async (tx) => {
        equal(await tx.get('groups', 'g_1'), blob, 'the 120 KB value after reopen');
        const page = await tx.range('messages', { part: 'g_1', order: 'newest', limit: 3 });
        equal(page.entries.map((e) => td(e.value)), ['m20', 'm19', 'm18'], 'the newest three after reopen');
      });
    },
  },
  {
    name: 'commits a transaction all or nothing: a throwing callback writes nothing',
    async run(t) {
      const s = opened(t);
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', te('state at seq 1'));
        tx.put('messages', ['g_1', 1], te('first'));
      });
      const failure = new Error('processing failed half-way');
      await rejects(
        s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
          tx.put('groups', 'g_1', te('state at seq 2'));
          tx.put('messages', ['g_1', 2], te('second'));
          tx.delete('messages', ['g_1', 1]);
          // The callback sees its own writes before it fails.
          equal(td(await tx.get('groups', 'g_1')), 'state at seq 2', 'own write visible inside the transaction');
          equal(await tx.get('messages', ['g_1', 1]), undefined, 'own delete visible inside the transaction');
          throw failure;
        }),
        { is: failure },
        'the callback’s error is rethrown',
      );
      const again = await t.reopen();
      await again.read(['groups', 'messages'], async (tx) => {
        equal(td(await tx.get('groups', 'g_1')), 'state at seq 1', 'groups/g_1 unchanged');
        equal(td(await tx.get('messages', ['g_1', 1])), 'first', 'the deleted message is still there');
        equal(await tx.get('messages', ['g_1', 2]), undefined, 'the new message was not written');
      });
    },
  },
  {
    name: 'serialises concurrent transactions, so no update is lost',
    async run(t) {
      const s = opened(t);
      const bump = () =>
        s.transaction(['identity'], 'readwrite', async (tx) => {
          const n = Number(td(await tx.get('identity', 'counter')) ?? '0');
          await new Promise((r) => setTimeout(r, 1));
          tx.put('identity', 'counter', te(String(n + 1)));
        });
      await Promise.all(Array.from({ length: 10 }, bump));
      equal(td(await s.read(['identity'], (tx) => tx.get('identity', 'counter'))), '10', 'the counter after 10 concurrent increments');
    },
  },
  {
    name: 'reads ranges oldest-first and newest-first with limits, bounds and cursors',
    async run(t) {
      const s = opened(t);
      const seqs = Array.from({ length: 57 }, (_, i) => i * 3 + 1); // 1, 4, …, 169: gaps as in a shared log
      const shuffled = [...seqs].sort(() => Math.random() - 0.5);
      await s.transaction(['messages'], 'readwrite', async (tx) => {
        for (const seq of shuffled) tx.put('messages', ['g_1', seq], te(`m${seq}`));
        tx.put('messages', ['g_10', 2], te('other group'));
      });
      await s.read(['messages'], async (tx) => {
        const first = await tx.range('messages', { part: 'g_1', limit: 5 });
        equal(first.entries.map((e) => e.index), [1, 4, 7, 10, 13], 'first five positions');
        equal(first.entries.map((e) => td(e.value)), ['m1', 'm4', 'm7', 'm10', 'm13'], 'first five values');
        const last = await tx.range('messages', { part: 'g_1', order: 'newest', limit: 4 });
        equal(last.entries.map((e) => e.index), [169, 166, 163, 160], 'newest four');
        const bounded = await tx.range('messages', { part: 'g_1', after: 10, before: 22 });
        equal(bounded.entries.map((e) => e.index), [13, 16, 19], 'between 10 and 22');
        equal(bounded.next, undefined, 'no next page after a complete bounded read');
        const boundedDown = await tx.range('messages', { part: 'g_1', order: 'newest', after: 10, before: 22, limit: 2 });
        equal(boundedDown.entries.map((e) => e.index), [19, 16], 'between 10 and 22, newest two');
        equal(boundedDown.next, { part: 'g_1', order: 'newest', after: 10, before: 16, limit: 2 }, 'the cursor of a bounded newest-first page');
        equal((await tx.range('messages', { part: 'g_1', after: 169 })).entries, [], 'after the last position');
        equal((await tx.range('messages', { part: 'g_none' })).entries, [], 'an unknown partition');
        // 'g_1' and 'g_10' are separate partitions, not prefixes of each other.
        equal((await tx.range('messages', { part: 'g_10' })).entries.map((e) => e.index), [2], 'g_10 apart from g_1');

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
          equal(seen, order === 'oldest' ? seqs : [...seqs].reverse(), `every position paging ${order}-first`);
          equal(pages, 6, `pages of 10 over 57 entries, ${order}-first`);
        }
      });
    },
  },
  {
    name: 'merges a transaction’s own writes into its range reads',
    async run(t) {
      const s = opened(t);
      await s.transaction(['messages'], 'readwrite', async (tx) => {
        for (let seq = 1; seq <= 30; seq++) tx.put('messages', ['g_1', seq], te(`m${seq}`));
      });
      await s.transaction(['messages'], 'readwrite', async (tx) => {
        for (const seq of [2, 3, 4, 5, 6]) tx.delete('messages', ['g_1', seq]);
        tx.put('messages', ['g_1', 1], te('m1 edited'));
        tx.put('messages', ['g_1', 100], te('m100'));
        const head = await tx.range('messages', { part: 'g_1', limit: 4 });
        equal(
          head.entries.map((e) => [e.index, td(e.value)]),
          [
            [1, 'm1 edited'],
            [7, 'm7'],
            [8, 'm8'],
            [9, 'm9'],
          ],
          'the head with pending edits and deletes',
        );
        equal(head.next, { part: 'g_1', limit: 4, after: 9 }, 'the cursor after the head');
        const tail = await tx.range('messages', { part: 'g_1', order: 'newest', limit: 2 });
        equal(tail.entries.map((e) => e.index), [100, 30], 'the tail with a pending insert');
        const everything = await tx.range('messages', { part: 'g_1' });
        equal(everything.entries.length, 26, 'entries after 5 deletes and 1 insert');
        equal(everything.next, undefined, 'no next page for the whole partition');
      });
    },
  },
  {
    name: 'keeps stores and partitions apart, and holds a transaction to the stores it named',
    async run(t) {
      const s = opened(t);
      await s.transaction(['groups', 'contentKeys'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', te('a group'));
        tx.put('contentKeys', 'g_1', te('a key'));
        tx.put('groups', 'g_2', te('another group'));
      });
      await s.read(['groups', 'contentKeys', 'messages'], async (tx) => {
        equal(td(await tx.get('groups', 'g_1')), 'a group', 'groups/g_1');
        equal(td(await tx.get('contentKeys', 'g_1')), 'a key', 'contentKeys/g_1');
        equal(td(await tx.get('groups', 'g_2')), 'another group', 'groups/g_2');
        equal(await tx.get('messages', 'g_1'), undefined, 'messages/g_1 is another store');
      });
      await rejects(s.transaction(['groups'], 'readwrite', async (tx) => tx.get('identity', 'device')), { messageIncludes: 'not part of this transaction' }, 'reading a store not named');
      await rejects(s.transaction(['groups'], 'readonly', async (tx) => tx.put('groups', 'g_1', te('x'))), { messageIncludes: 'readonly' }, 'writing in a readonly transaction');
      let kept: StoreTx | undefined;
      await s.transaction(['groups'], 'readwrite', async (tx) => {
        kept = tx;
      });
      throws(() => kept!.put('groups', 'g_1', te('late')), { messageIncludes: 'finished' }, 'writing after the transaction ended');
      await rejects(s.transaction(['nope' as StoreName], 'readonly', async () => 1), { messageIncludes: 'unknown store' }, 'an unknown store');
    },
  },
  {
    name: 'validates keys and range queries',
    async run(t) {
      const s = opened(t);
      await rejects(s.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', ['g_1', -1], te('x'))), { instanceOf: RangeError }, 'a negative position');
      await rejects(s.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', ['g_1', 1.5], te('x'))), { instanceOf: RangeError }, 'a fractional position');
      await rejects(s.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', 'g'.repeat(257), te('x'))), { instanceOf: RangeError }, 'a partition of 257 characters');
      await rejects(s.read(['messages'], (tx) => tx.range('messages', { part: 'g_1', limit: 0 })), { instanceOf: RangeError }, 'a limit of 0');
      await rejects(s.read(['messages'], (tx) => tx.range('messages', { part: 'g_1', limit: MAX_RANGE_LIMIT + 1 })), { instanceOf: RangeError }, 'a limit above the maximum');
    },
  },
  {
    name: 'encrypts at rest: neither values nor partition names appear in the stored bytes',
    async run(t) {
      const s = opened(t);
      const secret = 'Quarterly figures: revenue 4.2M, do not forward';
      const group = 'g_ConstructionOfficeSecretGroup';
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', group, te(`{"name":"${group}"}`));
        tx.put('messages', [group, 1], te(secret));
      });
      await t.closeStore();
      const raw = await t.harness.rawBytes();
      ok(raw.length > 0, 'the harness sees bytes at rest');
      const all = concatBytes(...raw);
      // The scan itself must be able to fail: the probe finds what is there.
      ok(includes(all, te('messages')), 'the scan finds the clear store name');
      for (const needle of [secret, 'revenue', group, 'ConstructionOffice']) ok(!includes(all, te(needle)), `"${needle}" does not appear at rest`);
      ok(!includes(all, t.key), 'the storage key does not appear at rest');
    },
  },
  {
    name: 'refuses a wrong storage key with a clear error',
    async run(t) {
      const s = opened(t);
      await s.transaction(['identity'], 'readwrite', async (tx) => tx.put('identity', 'device', te('keys')));
      await t.closeStore();
      const error = await openClientStore({ backend: await t.harness.open(), key: randomBytes(32) }).catch((e: unknown) => e);
      ok(error instanceof AgoraError, `a wrong key gives an AgoraError, got ${show(error)}`);
      matchError(error, { code: 'wrong_passphrase', messageIncludes: 'storage key does not open' }, 'a wrong key');
      const again = await t.open();
      equal(td(await again.read(['identity'], (tx) => tx.get('identity', 'device'))), 'keys', 'the right key still opens it');
    },
  },
  {
    name: 'names a store written by a newer format instead of blaming the key',
    async run(t) {
      const s = opened(t);
      await s.transaction(['identity'], 'readwrite', async (tx) => tx.put('identity', 'device', te('keys')));
      await t.closeStore();
      await t.harness.rewrite((records) => records.map((r) => (r.store === '_meta' && r.index === 1 ? { ...r, value: te('2') } : r)));
      await rejects(openClientStore({ backend: await t.harness.open(), key: t.key }), { code: 'profile_corrupt', messageIncludes: 'has format 2' }, 'a store of format 2');
    },
  },
  {
    name: 'refuses a tampered value, and a value moved to another key',
    async run(t) {
      const s = opened(t);
      await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', te('state v2'));
        tx.put('groups', 'g_2', te('another'));
        tx.put('messages', ['g_1', 1], te('one'));
        tx.put('messages', ['g_1', 2], te('two'));
      });
      await t.closeStore();
      await t.harness.rewrite((records) =>
        records.map((r) => {
          if (r.store !== 'messages' || r.index !== 2) return r;
          const value = r.value.slice();
          value[value.length - 20] ^= 1;
          return { ...r, value };
        }),
      );
      const s2 = await t.open();
      equal(td(await s2.read(['messages'], (tx) => tx.get('messages', ['g_1', 1]))), 'one', 'an untouched record still opens');
      await rejects(s2.read(['messages'], (tx) => tx.get('messages', ['g_1', 2])), { code: 'profile_corrupt' }, 'reading the flipped record');
      await rejects(s2.read(['messages'], (tx) => tx.range('messages', { part: 'g_1' })), { code: 'profile_corrupt' }, 'a range over the flipped record');
      await t.closeStore();
      // Swap the two group states' ciphertexts: each is authentic, but not for the key it now has.
      await t.harness.rewrite((records) => {
        const groups = records.filter((r) => r.store === 'groups');
        equal(groups.length, 2, 'group records at rest');
        return records.map((r) => (r === groups[0] ? { ...r, value: groups[1].value } : r === groups[1] ? { ...r, value: groups[0].value } : r));
      });
      const s3 = await t.open();
      await rejects(s3.read(['groups'], (tx) => tx.get('groups', 'g_1')), { code: 'profile_corrupt' }, 'g_1 holding g_2’s state');
      await rejects(s3.read(['groups'], (tx) => tx.get('groups', 'g_2')), { code: 'profile_corrupt' }, 'g_2 holding g_1’s state');
    },
  },
  {
    name: 'writes only what a save changed: bytes per message save do not grow with 10,000 messages of history',
    async run(t) {
      const s = opened(t);
      const groupState = randomBytes(1000);
      const perSave: number[] = [];
      let seq = 0;
      const save = async () => {
        const before = t.harness.bytesWritten();
        seq++;
        await s.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
          tx.put('messages', ['g_1', seq], randomBytes(200));
          tx.put('groups', 'g_1', groupState);
        });
        return t.harness.bytesWritten() - before;
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
      equal(seq, 10_000, 'messages written');
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
      const early = median(perSave.slice(100));
      const typicalLate = median(late);
      const amortisedLate = late.reduce((a, b) => a + b, 0) / late.length;
      // A whole-history rewrite would be ~2.5 MB per save here.
      ok(early < 2_000, `a save at 100 messages writes under 2,000 bytes (wrote ${early})`);
      ok(Math.abs(typicalLate - early) <= early * 0.05, `a save at 10,000 messages writes as much as at 100 (${typicalLate} vs ${early})`);
      // Occasional compaction (file journal) is allowed, amortised to a constant factor.
      ok(amortisedLate <= 4 * early, `amortised bytes per save stay within 4× (${Math.round(amortisedLate)} vs ${early})`);
      t.log(`bytes written per message save: at 100 messages ${early}, at 10,000 messages ${typicalLate} (amortised ${Math.round(amortisedLate)})`);
      const again = await t.reopen();
      const newest = await again.read(['messages'], (tx) => tx.range('messages', { part: 'g_1', order: 'newest', limit: 1 }));
      equal(newest.entries[0]?.index, 10_000, 'the newest position after reopen');
    },
  },
];
