/** Crash safety of the Node file backend: the process is "killed" between any two file operations
 * (and in the middle of a write, leaving a prefix of the bytes), then the store is reopened with
 * the real file system. Every transaction must be there wholly or not at all. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { utf8 } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { openClientStore } from '../store/client-store.js';
import { NodeFileBackend, nodeFileIo, type FileIo } from './file-client-store.js';
import type { ClientStore } from '../store/types.js';

class Crash extends Error {}

/** A FileIo that dies at the `nth` call (0-based) of `method`: it first writes `torn(length)` bytes
 * of what it was given (a write cut short), then throws, and every later call throws too. */
function crashingIo(plan: { method: keyof FileIo; nth: number; torn?: (length: number) => number }): FileIo & { crashed(): boolean } {
  let dead = false;
  const counts = new Map<string, number>();
  const io = {} as FileIo & { crashed(): boolean };
  for (const method of Object.keys(nodeFileIo) as (keyof FileIo)[]) {
    (io as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      if (dead) throw new Crash('the process is gone');
      const n = counts.get(method) ?? 0;
      counts.set(method, n + 1);
      if (method === plan.method && n === plan.nth) {
        dead = true;
        if (plan.torn && (method === 'append' || method === 'writeSynced')) {
          const [file, bytes] = args as [string, Uint8Array];
          await nodeFileIo[method](file, bytes.subarray(0, plan.torn(bytes.length)));
        }
        throw new Crash(`crashed in ${method}`);
      }
      return (nodeFileIo[method] as (...a: unknown[]) => Promise<unknown>)(...args);
    };
  }
  io.crashed = () => dead;
  return io;
}

const te = (s: string) => utf8(s);
const td = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

let dir: string;
let opened: ClientStore[] = [];
const key = randomBytes(32);
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'agora-crash-'));
});
afterEach(async () => {
  for (const s of opened) await s.close().catch(() => undefined);
  opened = [];
  await rm(dir, { recursive: true, force: true });
});

async function open(io: FileIo = nodeFileIo, compactSlackBytes?: number): Promise<ClientStore> {
  const store = await openClientStore({ backend: await NodeFileBackend.open({ dir, io, compactSlackBytes }), key });
  opened.push(store);
  return store;
}

async function readAll(store: ClientStore): Promise<Record<string, string | undefined>> {
  return store.read(['groups', 'messages'], async (tx) => ({
    state: td(await tx.get('groups', 'g_1')),
    m1: td(await tx.get('messages', ['g_1', 1])),
    m2: td(await tx.get('messages', ['g_1', 2])),
  }));
}

const committed = { state: 'state after 1', m1: 'one', m2: undefined };
const both = { state: 'state after 2', m1: 'one', m2: 'two' };

describe('Node file store: a crash in the middle of a commit', () => {
  // The store is reopened before the crash, so its first append is the transaction that crashes
  // (a message and the group state: two keys, one frame).
  const cases: [string, (n: number) => number, typeof committed | typeof both][] = [
    ['before any byte is written', () => 0, committed],
    ['after 1 byte', () => 1, committed],
    ['inside the frame header', () => 6, committed],
    ['half-way through the frame', (n) => n >> 1, committed],
    ['one byte short of the checksum end', (n) => n - 1, committed],
    ['after the whole frame, before the commit returned', (n) => n, both],
  ];
  it.each(cases)('%s: the transaction is there wholly or not at all', async (_label, torn, expected) => {
    const first = await open();
    await first.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
      tx.put('messages', ['g_1', 1], te('one'));
      tx.put('groups', 'g_1', te('state after 1'));
    });
    await first.close();

    const io = crashingIo({ method: 'append', nth: 0, torn });
    const crashing = await open(io);
    await expect(
      crashing.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('messages', ['g_1', 2], te('two'));
        tx.put('groups', 'g_1', te('state after 2'));
      }),
    ).rejects.toBeInstanceOf(Crash);
    expect(io.crashed()).toBe(true);
    // The instance does not guess what reached the disk.
    await expect(readAll(crashing)).rejects.toMatchObject({ code: 'profile_corrupt' });
    await crashing.close();

    const after = await open();
    expect(await readAll(after)).toEqual(expected);
    // A torn tail is cut off at open, so later commits are not appended behind garbage.
    await after.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', ['g_1', 3], te('three')));
    await after.close();
    const again = await open();
    expect(await readAll(again)).toEqual(expected);
    expect(td(await again.read(['messages'], (tx) => tx.get('messages', ['g_1', 3])))).toBe('three');
  });
});

describe('Node file store: compaction', () => {
  let written = 0;
  async function churn(store: ClientStore, rounds: number): Promise<void> {
    for (let r = 0; r < rounds; r++) {
      const i = ++written;
      await store.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
        tx.put('groups', 'g_1', randomBytes(1000));
        tx.put('messages', ['g_1', 1000 + i], te(`m${i}`));
      });
    }
  }

  it('keeps the journal within twice the live records plus the slack, and loses nothing', async () => {
    const slack = 20_000;
    written = 0;
    let bytesOut = 0;
    let compactions = 0;
    const counting: FileIo = {
      ...nodeFileIo,
      append: async (file, bytes) => {
        bytesOut += bytes.length;
        await nodeFileIo.append(file, bytes);
      },
      writeSynced: async (file, bytes) => {
        bytesOut += bytes.length;
        compactions++;
        await nodeFileIo.writeSynced(file, bytes);
      },
    };
    const store = await open(counting, slack);
    await store.transaction(['groups', 'messages'], 'readwrite', async (tx) => {
      tx.put('messages', ['g_1', 1], te('one'));
      tx.put('messages', ['g_1', 2], te('two'));
    });
    let largest = 0;
    for (let round = 0; round < 10; round++) {
      await churn(store, 30);
      largest = Math.max(largest, (await stat(path.join(dir, 'store.journal'))).size);
    }
    // Live: one ~1 KB group state and ~300 small messages; without compaction the journal would
    // hold all 300 overwritten states (~330 KB).
    expect(largest).toBeLessThan(2 * 1100 + 2 * 300 * 120 + slack + 2_000);
    // Rewriting the live records now and then costs a bounded multiple of the frames themselves
    // (each save appends ~1.2 KB).
    expect(compactions).toBeGreaterThan(3);
    expect(bytesOut / 300).toBeLessThan(3 * 1_300);
    process.stdout.write(`[Node files] churn: ${compactions} compactions, ${Math.round(bytesOut / 300)} bytes written per save amortised, largest journal ${largest} bytes\n`);
    await store.close();
    const again = await open();
    const messages = await again.read(['messages'], (tx) => tx.range('messages', { part: 'g_1' }));
    expect(messages.entries.length).toBe(302);
    expect(td(messages.entries[301].value)).toBe('m300');
  });

  const steps: [string, Parameters<typeof crashingIo>[0], boolean][] = [
    ['while writing the compacted copy', { method: 'writeSynced', nth: 0, torn: (n) => n >> 1 }, false],
    ['after writing the copy, before the rename', { method: 'rename', nth: 0 }, false],
    ['after the rename, before the directory is synced', { method: 'syncDir', nth: 0 }, true],
  ];
  it.each(steps)('a crash %s loses no committed transaction', async (_label, plan, renamed) => {
    const io = crashingIo(plan);
    const store = await open(io, 5_000);
    await store.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', ['g_1', 1], te('one')));
    // Commits until compaction starts and the crash happens; each commit itself is durable.
    let i = 0;
    while (!io.crashed() && i < 100) {
      i++;
      await store
        .transaction(['groups', 'messages'], 'readwrite', async (tx) => {
          tx.put('groups', 'g_1', te(`state ${i}`.padEnd(1000, '.')));
          tx.put('messages', ['g_1', 1000 + i], te(`m${i}`));
        })
        .catch((e: unknown) => {
          if (!(e instanceof Crash)) throw e;
        });
    }
    expect(io.crashed()).toBe(true);
    const last = i;
    await store.close();
    const files = await readdir(dir);
    // The crash really fell between the steps named: the copy is left behind unless renamed.
    expect(files.includes('store.journal.compact')).toBe(!renamed);
    const after = await open();
    expect((await readdir(dir)).includes('store.journal.compact')).toBe(false);
    const { state, count } = await after.read(['groups', 'messages'], async (tx) => ({
      state: td(await tx.get('groups', 'g_1')),
      count: (await tx.range('messages', { part: 'g_1' })).entries.length,
    }));
    // The crash came after the last commit's frame was durable.
    expect(state).toBe(`state ${last}`.padEnd(1000, '.'));
    expect(count).toBe(last + 1);
  });
});

describe('Node file store: damage, header and lock', () => {
  it('reports damage before the last frame instead of silently dropping later transactions', async () => {
    const store = await open();
    for (let i = 1; i <= 3; i++) await store.transaction(['messages'], 'readwrite', async (tx) => tx.put('messages', ['g_1', i], te(`m${i}`)));
    await store.close();
    const journal = path.join(dir, 'store.journal');
    const bytes = await readFile(journal);
    bytes[20] ^= 0xff;
    await writeFile(journal, bytes);
    await expect(NodeFileBackend.open({ dir })).rejects.toMatchObject({ code: 'profile_corrupt', message: expect.stringContaining('damaged') });
  });

  it('replaces the key header atomically: a crash before the rename keeps the old one', async () => {
    const backend = await NodeFileBackend.open({ dir });
    await backend.writeHeader(te('header A'));
    await backend.close();
    const io = crashingIo({ method: 'rename', nth: 0 });
    const crashing = await NodeFileBackend.open({ dir, io });
    await expect(crashing.writeHeader(te('header B'))).rejects.toBeInstanceOf(Crash);
    await crashing.close();
    expect((await readdir(dir)).includes('key-header.tmp')).toBe(true);
    const after = await NodeFileBackend.open({ dir });
    expect(td(await after.readHeader())).toBe('header A');
    expect((await readdir(dir)).includes('key-header.tmp')).toBe(false);
    await after.close();
  });

  it('lets one process at a time open the directory', async () => {
    const first = await NodeFileBackend.open({ dir });
    await expect(NodeFileBackend.open({ dir, lockWaitMs: 100 })).rejects.toMatchObject({ code: 'profile_locked' });
    await first.close();
    const second = await NodeFileBackend.open({ dir, lockWaitMs: 100 });
    await second.close();
  });
});
