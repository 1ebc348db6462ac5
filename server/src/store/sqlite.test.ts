import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

  describe('group commit of records', () => {
    const record = (payload: string, groupId = 'g_p') => ({ groupId, epoch: 1, sender: 'd_a1', at: 1, payload });
    async function withGroup(dir: string): Promise<Store> {
      const store = await open(dir);
      await store.createGroup({ id: 'g_p', name: 'P', kind: 'public', departmentId: null, epoch: null, createdBy: null, createdAt: 1, head: 0 });
      return store;
    }

    it('appends made in one turn commit together, in call order, or not at all', async () => {
      const dir = await freshDir();
      dirs.push(dir);
      const store = await withGroup(dir);
      expect(await store.appendRecord(record('before'))).toBe(1);
      // Another connection makes SQLite refuse one particular record: the failure the batch must
      // not half-commit (in production: a full disk, an I/O error).
      const other = new Database(join(dir, SQLITE_FILE));
      other.exec("CREATE TRIGGER poison BEFORE INSERT ON log WHEN NEW.payload = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END");
      other.close();
      const batch = ['a', 'b', 'poison', 'c'].map((p) => store.appendRecord(record(p)));
      const settled = await Promise.allSettled(batch);
      expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      expect((await store.readLog('g_p', 0, 10)).map((e) => e.payload)).toEqual(['before']);
      expect((await store.getGroup('g_p'))?.head).toBe(1);

      // The next batch is unaffected and numbering has no gap.
      expect(await Promise.all(['a', 'b', 'c'].map((p) => store.appendRecord(record(p))))).toEqual([2, 3, 4]);
      expect((await store.readLog('g_p', 0, 10)).map((e) => e.payload)).toEqual(['before', 'a', 'b', 'c']);
    });

    it('an acknowledged batch is visible to a new connection while the writer was never closed', async () => {
      const dir = await freshDir();
      dirs.push(dir);
      const store = await withGroup(dir);
      const seqs = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendRecord(record(`m${i}`))));
      expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const reader = await open(dir);
      expect((await reader.readLog('g_p', 0, 100)).map((e) => e.payload)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    });

    it('kill -9 during a stream of concurrent appends loses no acknowledged record', async () => {
      const dir = await freshDir();
      dirs.push(dir);
      // The compiled store (npm test builds first), in a process of its own that can be killed.
      const compiled = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '../../dist/store/sqlite.js')).href;
      const script = `
        const { openSqliteStore } = await import(${JSON.stringify(compiled)});
        const store = await openSqliteStore(${JSON.stringify(dir)});
        await store.createGroup({ id: 'g_p', name: 'P', kind: 'public', departmentId: null, epoch: null, createdBy: null, createdAt: 1, head: 0 });
        for (let n = 0; ; n += 16) {
          await Promise.all(Array.from({ length: 16 }, (_, i) =>
            store.appendRecord({ groupId: 'g_p', epoch: 1, sender: 'd_a1', at: 1, payload: 'm' + (n + i) })
              .then((seq) => process.stdout.write('ack m' + (n + i) + ' ' + seq + '\\n'))));
        }`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const deadline = Date.now() + 20_000;
      while ((out.match(/\n/g) ?? []).length < 200) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`appender stopped early: ${err.slice(0, 500)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill('SIGKILL');
      await exited;
      const acked = out.split('\n').filter((l) => l.startsWith('ack ')).map((l) => l.split(' '));
      expect(acked.length).toBeGreaterThanOrEqual(200);

      const store = await open(dir);
      const log = await store.readLog('g_p', 0, 1_000_000);
      expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
      for (const [, payload, seq] of acked) expect(log[Number(seq) - 1]?.payload).toBe(payload);
    }, 30_000);

    it('close writes the records already handed over before closing the file', async () => {
      const dir = await freshDir();
      dirs.push(dir);
      const store = await openSqliteStore(dir);
      await store.createGroup({ id: 'g_p', name: 'P', kind: 'public', departmentId: null, epoch: null, createdBy: null, createdAt: 1, head: 0 });
      const pending = [store.appendRecord(record('x')), store.appendRecord(record('y'))];
      await store.close();
      expect(await Promise.all(pending)).toEqual([1, 2]);
      await expect(store.appendRecord(record('z'))).rejects.toThrow(/closed/);
      expect((await (await open(dir)).readLog('g_p', 0, 10)).map((e) => e.payload)).toEqual(['x', 'y']);
    });
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
      expect(db.prepare("SELECT value FROM store_info WHERE key = 'schema_version'").pluck().get()).toBe('5');
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
