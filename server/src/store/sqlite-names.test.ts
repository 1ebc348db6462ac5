/** Upgrading a SQLite database to unique names (schema version 3): keys are filled in, two equal
 * names an older relay accepted both survive without blocking anything, new clashes are refused, and
 * secret-group names leave the database. */
import { afterAll, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, SQLITE_FILE, openSqliteStore } from './sqlite.js';
import { isNameTaken } from './types.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('fills name keys, keeps old duplicates, refuses new clashes and drops secret-group names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agora-names-migration-'));
  dirs.push(dir);
  const db = new Database(join(dir, SQLITE_FILE));
  db.exec('CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
  db.exec(MIGRATIONS[0]);
  db.exec(MIGRATIONS[1]);
  db.prepare("INSERT INTO store_info (key, value) VALUES ('schema_version', '2')").run();
  const group = db.prepare('INSERT INTO chat_groups (id, name, kind, department_id, epoch, created_by, created_at) VALUES (?, ?, ?, ?, ?, NULL, ?)');
  const dept = db.prepare('INSERT INTO departments (id, name, public_group_id, secret_group_id, created_at) VALUES (?, ?, ?, ?, ?)');
  group.run('g_bau_pub', 'Bauamt', 'public', 'dep_bau', null, 1);
  group.run('g_bau_sec', 'Bauamt (secret)', 'secret', 'dep_bau', null, 1);
  dept.run('dep_bau', 'Bauamt', 'g_bau_pub', 'g_bau_sec', 1);
  group.run('g_bau2_pub', 'bauamt', 'public', 'dep_bau2', null, 2);
  group.run('g_bau2_sec', 'bauamt (secret)', 'secret', 'dep_bau2', null, 2);
  dept.run('dep_bau2', 'bauamt', 'g_bau2_pub', 'g_bau2_sec', 2);
  group.run('g_secret', 'Geheimprojekt Nordtrasse', 'secret', null, 0, 3);
  db.prepare("INSERT INTO users (id, name, role, status, created_at) VALUES ('u_a', 'Anna', 'member', 'active', 1), ('u_b', 'ANNA', 'member', 'active', 2)").run();
  db.close();

  const store = await openSqliteStore(dir);
  try {
    expect((await store.listDepartments()).map((d) => d.name)).toEqual(['Bauamt', 'bauamt']);
    expect((await store.getGroup('g_secret'))?.name).toBeNull();
    expect((await store.getGroup('g_bau_sec'))?.name).toBeNull();
    expect((await store.listUsers()).map((u) => u.name)).toEqual(['Anna', 'ANNA']);
    const clash = await store.createGroup({ id: 'g_new', name: 'BAUAMT', kind: 'public', departmentId: null, epoch: null, createdBy: null, createdAt: 5, head: 0 })
      .then(() => undefined, (e: unknown) => e);
    expect(isNameTaken(clash)).toBe(true);
    // the later duplicate blocks nothing and can be renamed away
    expect(await store.renameDepartment('dep_bau2', 'Tiefbau')).toBe(true);
    expect((await store.getGroup('g_bau2_pub'))?.name).toBe('Tiefbau');
  } finally {
    await store.close();
  }
  const raw = new Database(join(dir, SQLITE_FILE), { readonly: true });
  try {
    expect(raw.prepare("SELECT name FROM chat_groups WHERE kind = 'secret'").pluck().all()).toEqual(['', '', '']);
    expect(raw.prepare("SELECT value FROM store_info WHERE key = 'schema_version'").pluck().get()).toBe('5');
  } finally {
    raw.close();
  }
});
