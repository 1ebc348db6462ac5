/** The ClientStore contract (contract.ts) run under jest over every backend Node can hold: memory,
 * Node files, IndexedDB via fake-indexeddb. The same cases run in Chromium over the real IndexedDB
 * in tests/web/idb-contract.test.ts. */
import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { getSodium } from '@agora/protocol/crypto/sodium';
import { CLIENT_STORE_CASES, ContractFailure, deepEqual, indexedDbHarness, memoryHarness, runContractCase, type BackendHarness } from './contract.js';
import { encodeFrame, readJournal } from './journal.js';
import { NodeFileBackend, nodeFileIo, type FileIo } from '../node/file-client-store.js';
import { RecordTable } from './record-table.js';

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
const harnesses: [string, () => Promise<BackendHarness>][] = [
  ['memory', async () => memoryHarness()],
  ['Node files', fileHarness],
  ['IndexedDB (fake-indexeddb)', async () => indexedDbHarness({ indexedDB: new IDBFactory(), IDBKeyRange }, `agora-profile-${++idbCount}`)],
];

for (const [name, makeHarness] of harnesses) {
  describe(`ClientStore contract: ${name}`, () => {
    for (const c of CLIENT_STORE_CASES) {
      it(c.name, () => runContractCase(c, makeHarness, (line) => process.stdout.write(`[${name}] ${line}\n`)));
    }
  });
}

describe('the contract can fail', () => {
  const byName = (name: string) => CLIENT_STORE_CASES.find((c) => c.name.startsWith(name))!;

  it('compares as toEqual does: bytes by content, undefined properties as missing', () => {
    expect(deepEqual({ part: 'g', after: undefined }, { part: 'g' })).toBe(true);
    expect(deepEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(deepEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(deepEqual([1, [2, 3]], [1, [2, 4]])).toBe(false);
    expect(deepEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });

  it('rejects a backend that drops deletes', async () => {
    const lossy = async (): Promise<BackendHarness> => {
      const inner = memoryHarness();
      return {
        ...inner,
        open: async () => {
          const backend = await inner.open();
          const commit = backend.commit.bind(backend);
          backend.commit = (ops) => commit(ops.filter((op) => op.kind !== 'delete'));
          return backend;
        },
      };
    };
    await expect(runContractCase(byName('round-trips'), lossy)).rejects.toThrow(ContractFailure);
  });

  it('rejects a backend whose bytes at rest show the plaintext', async () => {
    const leaky = async (): Promise<BackendHarness> => {
      const inner = memoryHarness();
      return { ...inner, rawBytes: async () => [...(await inner.rawBytes()), new TextEncoder().encode('revenue')] };
    };
    await expect(runContractCase(byName('encrypts at rest'), leaky)).rejects.toThrow('"revenue" does not appear at rest');
  });
});
