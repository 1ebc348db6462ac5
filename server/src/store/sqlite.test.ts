import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { storeContract } from './contract.js';
import { openSqliteStore, SQLITE_FILE } from './sqlite.js';
import { openStore } from './index.js';
import type { Store } from './types.js';

const freshDir = () => mkdtemp(join(tmpdir(), 'agora-store-'));

storeContract('sqlite', async () => {
  const dir = await freshDir();
  return { store: await openSqliteStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('SQLite store on disk', () => {
  const dirs: string[] = [];
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const open = async (dir: string) => {
    const s = await openSqliteStore(dir);
    stores.push(s);
    return s;
  };

  /** Writes one of everything; `check` proves it all reads back from another connection. */
  async function writeEverything(store: Store): Promise<void> {
    await store.setMeta('token-secret', 's3cret');
    await store.bootstrapOrg({ id: 'o_1', name: 'Org', createdAt: 1 }, {
      codeHash: 'hash-boot', kind: 'user', name: null, role: null, departmentId: null, userId: null, bootstrap: true,
      createdBy: null, createdAt: 1, expiresAt: 100, usedAt: null, invitePub: 'ip', approverDeviceId: '', approval: 'ap',
    });
    const reg = await store.register({
      codeHash: 'hash-boot', now: 2, userId: 'u_a', userName: 'Ada',
      device: { id: 'd_a1', signPub: 'sp', encPub: 'ep', status: 'active', createdAt: 2 },
    });
    expect(reg.ok).toBe(true);
    await store.createGroup({
      id: 'g_s', name: 'S', kind: 'secret', departmentId: null, epoch: null, createdBy: 'u_a', createdAt: 3, head: 0,
    }, { deviceId: 'd_a1', userId: 'u_a' });
    await store.applyCommit({
      groupId: 'g_s', expectedEpoch: 0, sender: 'd_a1', at: 4, payload: 'c', added: [{ deviceId: 'd_b1', userId: 'u_b' }],
      removed: [], welcome: 'w',
    });
    await store.appendRecord({ groupId: 'g_s', epoch: 1, sender: 'd_a1', at: 5, payload: 'r' });
    await store.addKeyPackages('d_a1', ['kp1', 'kp2'], 'lr');
    await store.createGeneration({ generation: 1, createdBy: 'd_a1', createdAt: 6 }, [
      { generation: 1, deviceId: 'd_a1', sealed: 'env', sealedBy: 'd_a1', at: 6 },
    ], { expectedSize: 0, entries: [{ entry: Uint8Array.of(5, 1), userId: null }] });
    await store.putCosignature({ size: 1, vkey: 'w', name: 'w', line: 'line\n', timestamp: 7 });
  }
  async function check(store: Store): Promise<void> {
    expect(await store.getMeta('token-secret')).toBe('s3cret');
    expect(await store.getOrg()).toEqual({ id: 'o_1', name: 'Org', createdAt: 1 });
    expect((await store.getInvite('hash-boot'))?.usedAt).toBe(2);
    expect(await store.getUser('u_a')).toEqual({ id: 'u_a', name: 'Ada', role: 'admin', status: 'active', createdAt: 2 });
    expect((await store.getDevice('d_a1'))?.enrolledBy).toBe('bootstrap');
    expect(await store.getGroup('g_s')).toMatchObject({ epoch: 1, head: 2 });
    expect((await store.readLog('g_s', 0, 10)).map((e) => [e.seq, e.kind])).toEqual([[1, 'commit'], [2, 'record']]);
    expect((await store.listGroupDevices('g_s')).map((d) => [d.deviceId, d.sinceSeq])).toEqual([['d_a1', 0], ['d_b1', 1]]);
    expect((await store.readMailbox('d_b1', 0, 10)).map((m) => m.payload)).toEqual(['w']);
    expect(await store.keyPackageStock('d_a1')).toEqual({ stock: 2, hasLastResort: true });
    expect(await store.currentGeneration()).toBe(1);
    expect(await store.listEnvelopeKeys()).toEqual([{ deviceId: 'd_a1', generation: 1 }]);
    expect(await store.readKtEntries(0, 5)).toEqual([Uint8Array.of(5, 1)]);
    expect(await store.listCosignatures(1)).toEqual([{ size: 1, vkey: 'w', name: 'w', line: 'line\n', timestamp: 7 }]);
  }

  it('keeps everything across close and reopen, and numbering continues', async () => {
    const dir = await freshDir();
    dirs.push(dir);
    const first = await openSqliteStore(dir);
    await writeEverything(first);
    await first.close();
    const again = await open(dir);
    await check(again);
    expect(await again.appendRecord({ groupId: 'g_s', epoch: 1, sender: 'd_a1', at: 7, payload: 'r2' })).toBe(3);
    expect(await again.appendMailbox({
      deviceId: 'd_b1', kind: 'history', groupId: null, groupSeq: null, epoch: null, from: 'd_a1', at: 7, payload: 'h',
    })).toBe(2);
    expect(await again.ktSize()).toBe(1);
  });

  it('an acknowledged write is visible to a new connection while the writer was never closed (crash)', async () => {
    const dir = await freshDir();
    dirs.push(dir);
    const writer = await open(dir);
    await writeEverything(writer);
    // the writer is left open, its WAL never checkpointed: a fresh process must still see everything
    await check(await open(dir));
  });

  it('creates a private data directory, a WAL-mode database and a schema version', async () => {
    const parent = await freshDir();
    dirs.push(parent);
    const dir = join(parent, 'nested', 'data');
    await open(dir);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const db = new Database(join(dir, SQLITE_FILE), { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare("SELECT value FROM store_info WHERE key = 'schema_version'").pluck().get()).toBe('2');
    } finally {
      db.close();
    }
  });

  it('refuses a database written by a newer relay', async () => {
    const dir = await freshDir();
    dirs.push(dir);
    await (await openSqliteStore(dir)).close();
    const db = new Database(join(dir, SQLITE_FILE));
    db.prepare("UPDATE store_info SET value = '999' WHERE key = 'schema_version'").run();
    db.close();
    await expect(openSqliteStore(dir)).rejects.toThrow(/newer/);
  });

  it('openStore picks SQLite when no MongoDB URI is given', async () => {
    const dir = await freshDir();
    dirs.push(dir);
    const s = await openStore({ dataDir: dir });
    stores.push(s);
    expect(s.kind).toBe('sqlite');
  });
});
