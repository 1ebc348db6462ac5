/** Upgrading a SQLite database to the directory change counter (schema version 5): people and
 * devices from before carry no stamp and reach devices through their first, whole, directory; every
 * change from then on is stamped, whichever statement makes it. */
import { afterAll, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, SQLITE_FILE, openSqliteStore } from './sqlite.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('a version 4 database gets the counter; old rows are unstamped, new changes stamped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agora-directory-migration-'));
  dirs.push(dir);
  const db = new Database(join(dir, SQLITE_FILE));
  db.exec('CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
  for (const m of MIGRATIONS.slice(0, 4)) db.exec(m);
  db.prepare("INSERT INTO store_info (key, value) VALUES ('schema_version', '4')").run();
  db.prepare("INSERT INTO users (id, name, role, status, created_at, name_key) VALUES ('u_a', 'Anna', 'member', 'active', 1, 'anna'), ('u_b', 'Ben', 'member', 'active', 2, 'ben')").run();
  db.prepare("INSERT INTO devices (id, user_id, sign_pub, enc_pub, status, created_at, enrolled_by) VALUES ('d_a1', 'u_a', 'x', 'y', 'active', 1, 'user-invite'), ('d_a2', 'u_a', 'x2', 'y2', 'active', 2, 'device-invite'), ('d_b1', 'u_b', 'z', 'w', 'active', 2, 'user-invite')").run();
  db.close();

  const store = await openSqliteStore(dir);
  try {
    const start = await store.directoryChanges(0);
    expect(start).toEqual({ seq: 0, users: [], devices: [] });
    expect((await store.listUsers()).map((u) => u.id)).toEqual(['u_a', 'u_b']);
    expect(await store.revokeDevice('d_a2')).toBe('revoked');
    const after = await store.directoryChanges(start.seq);
    expect(after.seq).toBeGreaterThan(0);
    expect(after.users).toEqual([]);
    expect(after.devices).toEqual([await store.getDevice('d_a2')]);
  } finally {
    await store.close();
  }
  const raw = new Database(join(dir, SQLITE_FILE), { readonly: true });
  try {
    expect(raw.prepare("SELECT value FROM store_info WHERE key = 'schema_version'").pluck().get()).toBe('5');
  } finally {
    raw.close();
  }
});
