/** Embedded SQLite store (better-sqlite3): the zero-set-up default for a relay on one machine.
 *
 * Durability: WAL with `synchronous=FULL` fsyncs the WAL on every commit, so a method resolves only
 * after its transaction is on disk and neither `kill -9` nor a power cut loses an acknowledged write.
 * better-sqlite3 is synchronous, so every method runs to completion before the next one starts;
 * write transactions still take the write lock up front (`BEGIN IMMEDIATE`) so that a second process
 * on the same file waits on busy_timeout instead of failing halfway with SQLITE_BUSY.
 *
 * Group commit for records: the fsync, not the SQL, is what an append costs, and it blocks the
 * event loop. `appendRecord` therefore queues its record and the queue is written as ONE
 * transaction on the next `setImmediate`, i.e. after the event loop has read every request that
 * arrived meanwhile (including those that arrived during the previous batch's fsync). Each caller's
 * promise settles only after that transaction committed, so an acknowledged record is still on
 * disk; a failed transaction rejects every caller of the batch and writes none of it. */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { nameKey, type Role } from '@agora/protocol';
import {
  KtConflict, NameTaken, StaleEpoch,
  type CommitOutcome, type DeleteDepartmentOutcome, type CosignatureRow, type DepartmentRow, type DeviceRow, type EnvelopeRow, type GenerationRow,
  type GroupDeviceRow, type GroupRow, type InviteRow, type KtAppend, type LogEntryRow, type MailboxRow, type OrgRow,
  type RegisterOutcome, type RevokeDeviceOutcome, type SetRoleOutcome, type Store, type UserRow,
} from './types.js';

export const SQLITE_FILE = 'agora.sqlite';
/** Bump together with a new entry in MIGRATIONS; an older relay refuses a newer database. */
const SCHEMA_VERSION = 5;

/** MIGRATIONS[i] brings the schema from version i to i + 1. Exported for migration tests, which
 * build a database of an older version. */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  -- the CHECK keeps the organisation a singleton, so bootstrapOrg cannot create a second one
  CREATE TABLE org (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL
  );
  CREATE TABLE users (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE devices (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), sign_pub TEXT NOT NULL, enc_pub TEXT NOT NULL,
    status TEXT NOT NULL, created_at INTEGER NOT NULL, enrolled_by TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX devices_by_user ON devices(user_id);
  CREATE TABLE invites (
    code_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT, role TEXT, department_id TEXT, user_id TEXT,
    bootstrap INTEGER NOT NULL, created_by TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    used_at INTEGER
  ) WITHOUT ROWID;
  -- unused since sign-in challenges became stateless (auth.ts); kept so version 1 stays version 1
  CREATE TABLE challenges (
    device_id TEXT NOT NULL, challenge TEXT NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, challenge)
  ) WITHOUT ROWID;
  CREATE TABLE chat_groups (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, department_id TEXT, epoch INTEGER,
    created_by TEXT, created_at INTEGER NOT NULL, head INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE TABLE departments (
    id TEXT PRIMARY KEY, name TEXT NOT NULL,
    public_group_id TEXT NOT NULL REFERENCES chat_groups(id),
    secret_group_id TEXT NOT NULL REFERENCES chat_groups(id),
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE department_members (
    department_id TEXT NOT NULL REFERENCES departments(id), user_id TEXT NOT NULL,
    PRIMARY KEY (department_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX department_members_by_user ON department_members(user_id);
  CREATE TABLE public_members (
    group_id TEXT NOT NULL REFERENCES chat_groups(id), user_id TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX public_members_by_user ON public_members(user_id);
  CREATE TABLE group_devices (
    group_id TEXT NOT NULL REFERENCES chat_groups(id), device_id TEXT NOT NULL, user_id TEXT NOT NULL,
    since_seq INTEGER NOT NULL,
    PRIMARY KEY (group_id, device_id)
  ) WITHOUT ROWID;
  CREATE INDEX group_devices_by_user ON group_devices(user_id);
  CREATE TABLE log (
    group_id TEXT NOT NULL REFERENCES chat_groups(id), seq INTEGER NOT NULL, kind TEXT NOT NULL,
    epoch INTEGER NOT NULL, sender TEXT NOT NULL, at INTEGER NOT NULL, payload TEXT NOT NULL,
    added TEXT, removed TEXT,
    PRIMARY KEY (group_id, seq)
  ) WITHOUT ROWID;
  CREATE TABLE mailbox_heads (device_id TEXT PRIMARY KEY, head INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE mailbox (
    device_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, group_id TEXT, group_seq INTEGER,
    epoch INTEGER, sender TEXT NOT NULL, at INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
  ) WITHOUT ROWID;
  -- the rowid gives the FIFO order of claims
  CREATE TABLE key_packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, key_package TEXT NOT NULL
  );
  CREATE INDEX key_packages_by_device ON key_packages(device_id, id);
  CREATE TABLE last_resort_packages (device_id TEXT PRIMARY KEY, key_package TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE generations (
    generation INTEGER PRIMARY KEY, created_by TEXT NOT NULL, created_at INTEGER NOT NULL
  );
  CREATE TABLE envelopes (
    generation INTEGER NOT NULL REFERENCES generations(generation), device_id TEXT NOT NULL,
    sealed TEXT NOT NULL, sealed_by TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (generation, device_id)
  ) WITHOUT ROWID;
  CREATE INDEX envelopes_by_device ON envelopes(device_id, generation);
  `,
  // 2: key transparency. Entries are numbered from 0 without gaps (the Merkle tree's leaf order).
  `
  ALTER TABLE invites ADD COLUMN invite_pub TEXT NOT NULL DEFAULT '';
  ALTER TABLE invites ADD COLUMN approver_device_id TEXT NOT NULL DEFAULT '';
  ALTER TABLE invites ADD COLUMN approval TEXT NOT NULL DEFAULT '';
  CREATE TABLE kt_entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, user_id TEXT);
  CREATE INDEX kt_entries_by_user ON kt_entries(user_id, idx);
  CREATE TABLE kt_cosignatures (
    size INTEGER NOT NULL, vkey TEXT NOT NULL, name TEXT NOT NULL, line TEXT NOT NULL, timestamp INTEGER NOT NULL,
    PRIMARY KEY (size, vkey)
  ) WITHOUT ROWID;
  `,
  // 3: unique names. The keys are nameKey() (Unicode folding SQL cannot do), filled in and indexed
  // by backfillNameKeys. Secret-group names leave the relay: they are encrypted to the members.
  `
  ALTER TABLE users ADD COLUMN name_key TEXT;
  ALTER TABLE departments ADD COLUMN name_key TEXT;
  ALTER TABLE chat_groups ADD COLUMN name_key TEXT;
  UPDATE chat_groups SET name = '' WHERE kind = 'secret';
  `,
  // 4: organisation-key envelopes their recipient refused; a sealer named here may not fill that
  // (generation, device) place again.
  `
  CREATE TABLE envelope_refusals (
    generation INTEGER NOT NULL, device_id TEXT NOT NULL, sealed_by TEXT NOT NULL,
    PRIMARY KEY (generation, device_id, sealed_by)
  ) WITHOUT ROWID;
  `,
  // 5: a change counter for the directory, so a device's sync gets only the people and devices
  // that changed since its cursor. Triggers stamp every write, whichever statement makes it; rows
  // from before carry 0 and reach a device through its first (full) directory.
  `
  CREATE TABLE directory_changes (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), seq INTEGER NOT NULL);
  INSERT INTO directory_changes (singleton, seq) VALUES (1, 0);
  ALTER TABLE users ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE devices ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX users_by_changed ON users(changed);
  CREATE INDEX devices_by_changed ON devices(changed);
  CREATE TRIGGER users_inserted AFTER INSERT ON users BEGIN
    UPDATE directory_changes SET seq = seq + 1;
    UPDATE users SET changed = (SELECT seq FROM directory_changes) WHERE id = NEW.id;
  END;
  CREATE TRIGGER users_updated AFTER UPDATE OF name, role, status ON users BEGIN
    UPDATE directory_changes SET seq = seq + 1;
    UPDATE users SET changed = (SELECT seq FROM directory_changes) WHERE id = NEW.id;
  END;
  CREATE TRIGGER devices_inserted AFTER INSERT ON devices BEGIN
    UPDATE directory_changes SET seq = seq + 1;
    UPDATE devices SET changed = (SELECT seq FROM directory_changes) WHERE id = NEW.id;
  END;
  CREATE TRIGGER devices_updated AFTER UPDATE OF user_id, sign_pub, enc_pub, status, enrolled_by ON devices BEGIN
    UPDATE directory_changes SET seq = seq + 1;
    UPDATE devices SET changed = (SELECT seq FROM directory_changes) WHERE id = NEW.id;
  END;
  -- a person's departments are part of their directory entry
  CREATE TRIGGER department_joined AFTER INSERT ON department_members BEGIN
    UPDATE directory_changes SET seq = seq + 1;
    UPDATE users SET changed = (SELECT seq FROM directory_changes) WHERE id = NEW.user_id;
  END;
  CREATE TRIGGER department_left AFTER DELETE ON department_members BEGIN
    UPDATE directory_changes SET seq = seq + 1;
    UPDATE users SET changed = (SELECT seq FROM directory_changes) WHERE id = OLD.user_id;
  END;
  `,
];

/** Fills name keys of rows from before version 3 and creates the unique indexes that make two
 * persons, departments or public groups of one name impossible, whatever races. A database that
 * already holds two equal names keeps both rows: the later one's key is made distinct by its id,
 * so it blocks nothing and an administrator can rename it. */
function backfillNameKeys(db: Database.Database): void {
  for (const table of ['users', 'departments', 'chat_groups']) {
    const secretFilter = table === 'chat_groups' ? " AND kind = 'public'" : '';
    const rows = db
      .prepare<[], { id: string; name: string }>(`SELECT id, name FROM ${table} WHERE name_key IS NULL${secretFilter} ORDER BY created_at, id`)
      .all();
    const taken = new Set(db.prepare<[], string>(`SELECT name_key FROM ${table} WHERE name_key IS NOT NULL`).pluck().all());
    const set = db.prepare<[string, string]>(`UPDATE ${table} SET name_key = ? WHERE id = ?`);
    for (const row of rows) {
      let key = nameKey(row.name);
      if (taken.has(key)) key = `${key}\u0000${row.id}`;
      taken.add(key);
      set.run(key, row.id);
    }
    db.exec(`CREATE UNIQUE INDEX IF NOT EXISTS ${table}_by_name_key ON ${table}(name_key) WHERE name_key IS NOT NULL`);
  }
}

/** Maps a unique-index violation on a name key to NameTaken; anything else passes through. */
function nameTaken(err: unknown, kind: NameTaken['kind'], name: string): unknown {
  const e = err as { code?: string; message?: string };
  if (e?.code === 'SQLITE_CONSTRAINT_UNIQUE' && /\.name_key\b/.test(e.message ?? '')) return new NameTaken(kind, name);
  return err;
}

// Column lists that alias the snake_case columns to the row types' field names.
const USER_COLS = 'id, name, role, status, created_at AS createdAt';
const DEVICE_COLS =
  'id, user_id AS userId, sign_pub AS signPub, enc_pub AS encPub, status, created_at AS createdAt, enrolled_by AS enrolledBy';
const INVITE_COLS =
  'code_hash AS codeHash, kind, name, role, department_id AS departmentId, user_id AS userId, bootstrap, ' +
  'created_by AS createdBy, created_at AS createdAt, expires_at AS expiresAt, used_at AS usedAt, ' +
  'invite_pub AS invitePub, approver_device_id AS approverDeviceId, approval';
const DEPT_COLS = 'id, name, public_group_id AS publicGroupId, secret_group_id AS secretGroupId, created_at AS createdAt';
// A secret group has no name on the relay (the column holds '' for schema reasons).
const GROUP_COLS =
  "id, CASE WHEN kind = 'secret' THEN NULL ELSE name END AS name, kind, department_id AS departmentId, epoch, " +
  'created_by AS createdBy, created_at AS createdAt, head';
const GROUP_DEVICE_COLS = 'group_id AS groupId, device_id AS deviceId, user_id AS userId, since_seq AS sinceSeq';
const LOG_COLS = 'group_id AS groupId, seq, kind, epoch, sender, at, payload, added, removed';
const MAILBOX_COLS =
  'device_id AS deviceId, seq, kind, group_id AS groupId, group_seq AS groupSeq, epoch, sender AS "from", at, payload';
const ENVELOPE_COLS = 'generation, device_id AS deviceId, sealed, sealed_by AS sealedBy, at';

type InviteDbRow = Omit<InviteRow, 'bootstrap'> & { bootstrap: number };
type LogDbRow = Omit<LogEntryRow, 'added' | 'removed'> & { added: string | null; removed: string | null };

const inviteFromDb = (r: InviteDbRow): InviteRow => ({ ...r, bootstrap: r.bootstrap === 1 });
const inviteToDb = (i: InviteRow): InviteDbRow => ({
  codeHash: i.codeHash, kind: i.kind, name: i.name, role: i.role, departmentId: i.departmentId, userId: i.userId,
  bootstrap: i.bootstrap ? 1 : 0, createdBy: i.createdBy, createdAt: i.createdAt, expiresAt: i.expiresAt,
  usedAt: i.usedAt, invitePub: i.invitePub, approverDeviceId: i.approverDeviceId, approval: i.approval,
});
const blob = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const logFromDb = (r: LogDbRow): LogEntryRow => {
  const { added, removed, ...rest } = r;
  const row: LogEntryRow = { ...rest };
  if (added !== null) row.added = JSON.parse(added) as string[];
  if (removed !== null) row.removed = JSON.parse(removed) as string[];
  return row;
};

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
  const readVersion = db.prepare<[], { value: string }>("SELECT value FROM store_info WHERE key = 'schema_version'");
  const setVersion = db.prepare<[string]>(
    "INSERT INTO store_info (key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
  );
  db.transaction(() => {
    const current = Number(readVersion.get()?.value ?? '0');
    if (current > SCHEMA_VERSION) {
      throw new Error(`database schema version ${current} is newer than this relay supports (${SCHEMA_VERSION})`);
    }
    for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    if (current < 3) backfillNameKeys(db);
    if (current !== SCHEMA_VERSION) setVersion.run(String(SCHEMA_VERSION));
  }).immediate();
}

/** The database holds the token secret and the log's signing key: whoever reads it can mint
 * tokens. SQLite creates a file with mode 0644 minus the umask, and gives its -wal, -shm and
 * -journal files the mode of the database file. So the database file is created here, 0600, before
 * SQLite opens it, and files left by an older relay are narrowed to 0600 as well. */
function privateFiles(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export async function openSqliteStore(dataDir: string): Promise<Store> {
  // 0700: the database holds routing metadata and public keys other local users have no business reading
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, SQLITE_FILE);
  privateFiles(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return new SqliteStore(db);
  } catch (err) {
    db.close();
    throw err;
  }
}

function prepareAll(db: Database.Database) {
  return {
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare<[string, string]>(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ),
    insertMetaIfAbsent: db.prepare<[string, string]>('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),

    getOrg: db.prepare<[], OrgRow>('SELECT id, name, created_at AS createdAt FROM org WHERE singleton = 1'),
    insertOrg: db.prepare<[OrgRow]>(
      'INSERT OR IGNORE INTO org (singleton, id, name, created_at) VALUES (1, @id, @name, @createdAt)',
    ),

    insertInvite: db.prepare<[InviteDbRow]>(
      'INSERT INTO invites (code_hash, kind, name, role, department_id, user_id, bootstrap, created_by, created_at, ' +
        'expires_at, used_at, invite_pub, approver_device_id, approval) VALUES (@codeHash, @kind, @name, @role, ' +
        '@departmentId, @userId, @bootstrap, @createdBy, @createdAt, @expiresAt, @usedAt, @invitePub, ' +
        '@approverDeviceId, @approval)',
    ),
    getInvite: db.prepare<[string], InviteDbRow>(`SELECT ${INVITE_COLS} FROM invites WHERE code_hash = ?`),
    useInvite: db.prepare<[number, string]>('UPDATE invites SET used_at = ? WHERE code_hash = ? AND used_at IS NULL'),

    insertUser: db.prepare<[UserRow & { nameKey: string }]>(
      'INSERT INTO users (id, name, role, status, created_at, name_key) VALUES (@id, @name, @role, @status, @createdAt, @nameKey)',
    ),
    getUser: db.prepare<[string], UserRow>(`SELECT ${USER_COLS} FROM users WHERE id = ?`),
    listUsers: db.prepare<[], UserRow>(`SELECT ${USER_COLS} FROM users ORDER BY created_at, id`),
    directorySeq: db.prepare<[], number>('SELECT seq FROM directory_changes WHERE singleton = 1').pluck(),
    usersChangedAfter: db.prepare<[number], UserRow>(`SELECT ${USER_COLS} FROM users WHERE changed > ? ORDER BY created_at, id`),
    devicesChangedAfter: db.prepare<[number], DeviceRow>(`SELECT ${DEVICE_COLS} FROM devices WHERE changed > ? ORDER BY created_at, id`),
    deactivateUser: db.prepare<[string]>("UPDATE users SET status = 'deactivated' WHERE id = ?"),
    revokeUserDevices: db.prepare<[string], { id: string }>(
      "UPDATE devices SET status = 'revoked' WHERE user_id = ? AND status = 'active' RETURNING id",
    ),
    revokeDevice: db.prepare<[string]>("UPDATE devices SET status = 'revoked' WHERE id = ? AND status = 'active'"),
    setUserRole: db.prepare<[string, string]>('UPDATE users SET role = ? WHERE id = ?'),
    countActiveAdmins: db.prepare<[], number>("SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active'").pluck(),
    countActiveDevices: db
      .prepare<[string], number>("SELECT COUNT(*) FROM devices WHERE user_id = ? AND status = 'active'")
      .pluck(),

    insertDevice: db.prepare<[DeviceRow]>(
      'INSERT INTO devices (id, user_id, sign_pub, enc_pub, status, created_at, enrolled_by) ' +
        'VALUES (@id, @userId, @signPub, @encPub, @status, @createdAt, @enrolledBy)',
    ),
    getDevice: db.prepare<[string], DeviceRow>(`SELECT ${DEVICE_COLS} FROM devices WHERE id = ?`),
    listDevices: db.prepare<[], DeviceRow>(`SELECT ${DEVICE_COLS} FROM devices ORDER BY created_at, id`),
    listUserDevices: db.prepare<[string], DeviceRow>(
      `SELECT ${DEVICE_COLS} FROM devices WHERE user_id = ? ORDER BY created_at, id`,
    ),

    insertDepartment: db.prepare<[DepartmentRow & { nameKey: string }]>(
      'INSERT INTO departments (id, name, public_group_id, secret_group_id, created_at, name_key) ' +
        'VALUES (@id, @name, @publicGroupId, @secretGroupId, @createdAt, @nameKey)',
    ),
    departmentByNameKey: db.prepare<[string], { id: string }>('SELECT id FROM departments WHERE name_key = ?'),
    renameDepartment: db.prepare<[string, string, string]>('UPDATE departments SET name = ?, name_key = ? WHERE id = ?'),
    deleteDepartmentMembers: db.prepare<[string]>('DELETE FROM department_members WHERE department_id = ?'),
    deleteDepartmentMember: db.prepare<[string, string]>('DELETE FROM department_members WHERE department_id = ? AND user_id = ?'),
    deleteDepartment: db.prepare<[string]>('DELETE FROM departments WHERE id = ?'),
    detachGroup: db.prepare<[string]>('UPDATE chat_groups SET department_id = NULL WHERE id = ?'),
    getDepartment: db.prepare<[string], DepartmentRow>(`SELECT ${DEPT_COLS} FROM departments WHERE id = ?`),
    listDepartments: db.prepare<[], DepartmentRow>(`SELECT ${DEPT_COLS} FROM departments ORDER BY created_at, id`),
    insertDepartmentMember: db.prepare<[string, string]>(
      'INSERT OR IGNORE INTO department_members (department_id, user_id) VALUES (?, ?)',
    ),
    listDepartmentMembers: db
      .prepare<[string], string>('SELECT user_id FROM department_members WHERE department_id = ? ORDER BY user_id')
      .pluck(),
    listUserDepartments: db
      .prepare<[string], string>('SELECT department_id FROM department_members WHERE user_id = ? ORDER BY department_id')
      .pluck(),

    insertGroup: db.prepare<[Omit<GroupRow, 'name'> & { name: string; nameKey: string | null }]>(
      'INSERT INTO chat_groups (id, name, kind, department_id, epoch, created_by, created_at, head, name_key) ' +
        'VALUES (@id, @name, @kind, @departmentId, @epoch, @createdBy, @createdAt, 0, @nameKey)',
    ),
    renameGroup: db.prepare<[string, string, string]>(
      "UPDATE chat_groups SET name = ?, name_key = ? WHERE id = ? AND kind = 'public'",
    ),
    deleteGroupLog: db.prepare<[string]>('DELETE FROM log WHERE group_id = ?'),
    deleteGroupPublicMembers: db.prepare<[string]>('DELETE FROM public_members WHERE group_id = ?'),
    deleteGroupDevices: db.prepare<[string]>('DELETE FROM group_devices WHERE group_id = ?'),
    deleteGroup: db.prepare<[string]>('DELETE FROM chat_groups WHERE id = ?'),
    getGroup: db.prepare<[string], GroupRow>(`SELECT ${GROUP_COLS} FROM chat_groups WHERE id = ?`),
    listGroups: db.prepare<[], GroupRow>(`SELECT ${GROUP_COLS} FROM chat_groups ORDER BY created_at, id`),
    initSecretGroup: db.prepare<[string], { head: number }>(
      "UPDATE chat_groups SET epoch = 0 WHERE id = ? AND kind = 'secret' AND epoch IS NULL RETURNING head",
    ),
    bumpHead: db.prepare<[string], { head: number }>('UPDATE chat_groups SET head = head + 1 WHERE id = ? RETURNING head'),
    bumpEpochAndHead: db.prepare<[string, number], { head: number; epoch: number }>(
      'UPDATE chat_groups SET head = head + 1, epoch = epoch + 1 WHERE id = ? AND epoch = ? RETURNING head, epoch',
    ),

    insertPublicMember: db.prepare<[string, string]>(
      'INSERT OR IGNORE INTO public_members (group_id, user_id) VALUES (?, ?)',
    ),
    deletePublicMember: db.prepare<[string, string]>('DELETE FROM public_members WHERE group_id = ? AND user_id = ?'),
    listPublicMembers: db
      .prepare<[string], string>('SELECT user_id FROM public_members WHERE group_id = ? ORDER BY user_id')
      .pluck(),
    upsertGroupDevice: db.prepare<[GroupDeviceRow]>(
      'INSERT INTO group_devices (group_id, device_id, user_id, since_seq) VALUES (@groupId, @deviceId, @userId, @sinceSeq) ' +
        'ON CONFLICT(group_id, device_id) DO UPDATE SET user_id = excluded.user_id, since_seq = excluded.since_seq',
    ),
    deleteGroupDevice: db.prepare<[string, string]>('DELETE FROM group_devices WHERE group_id = ? AND device_id = ?'),
    listGroupDevices: db.prepare<[string], GroupDeviceRow>(
      `SELECT ${GROUP_DEVICE_COLS} FROM group_devices WHERE group_id = ? ORDER BY device_id`,
    ),
    getGroupDevice: db.prepare<[string, string], GroupDeviceRow>(
      `SELECT ${GROUP_DEVICE_COLS} FROM group_devices WHERE group_id = ? AND device_id = ?`,
    ),
    listUserGroupIds: db
      .prepare<[string, string], string>(
        'SELECT group_id FROM public_members WHERE user_id = ? UNION ' +
          'SELECT group_id FROM group_devices WHERE user_id = ? ORDER BY 1',
      )
      .pluck(),

    insertLog: db.prepare<[LogDbRow]>(
      'INSERT INTO log (group_id, seq, kind, epoch, sender, at, payload, added, removed) ' +
        'VALUES (@groupId, @seq, @kind, @epoch, @sender, @at, @payload, @added, @removed)',
    ),
    readLog: db.prepare<[string, number, number], LogDbRow>(
      `SELECT ${LOG_COLS} FROM log WHERE group_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    ),

    ktSize: db.prepare<[], number>('SELECT coalesce(max(idx) + 1, 0) FROM kt_entries').pluck(),
    insertKt: db.prepare<[number, Buffer, string | null]>('INSERT INTO kt_entries (idx, entry, user_id) VALUES (?, ?, ?)'),
    readKt: db.prepare<[number, number], Buffer>('SELECT entry FROM kt_entries WHERE idx >= ? AND idx < ? ORDER BY idx').pluck(),
    getKt: db.prepare<[number], Buffer>('SELECT entry FROM kt_entries WHERE idx = ?').pluck(),
    ktUserIndexes: db.prepare<[string], number>('SELECT idx FROM kt_entries WHERE user_id = ? ORDER BY idx').pluck(),
    putCosignature: db.prepare<[CosignatureRow]>(
      'INSERT INTO kt_cosignatures (size, vkey, name, line, timestamp) VALUES (@size, @vkey, @name, @line, @timestamp) ' +
        'ON CONFLICT(size, vkey) DO UPDATE SET name = excluded.name, line = excluded.line, timestamp = excluded.timestamp ' +
        'WHERE excluded.timestamp > kt_cosignatures.timestamp',
    ),
    latestCosignedSize: db
      .prepare<[number], number>('SELECT size FROM kt_cosignatures GROUP BY size HAVING count(*) >= ? ORDER BY size DESC LIMIT 1')
      .pluck(),
    latestCosignedSizeBy: db
      .prepare<[string, number], number>(
        'SELECT size FROM kt_cosignatures WHERE vkey IN (SELECT value FROM json_each(?)) ' +
          'GROUP BY size HAVING count(*) >= ? ORDER BY size DESC LIMIT 1',
      )
      .pluck(),
    listCosignatures: db.prepare<[number], CosignatureRow>(
      'SELECT size, vkey, name, line, timestamp FROM kt_cosignatures WHERE size = ? ORDER BY vkey',
    ),

    bumpMailboxHead: db.prepare<[string], { head: number }>(
      'INSERT INTO mailbox_heads (device_id, head) VALUES (?, 1) ' +
        'ON CONFLICT(device_id) DO UPDATE SET head = head + 1 RETURNING head',
    ),
    insertMailbox: db.prepare<[MailboxRow]>(
      'INSERT INTO mailbox (device_id, seq, kind, group_id, group_seq, epoch, sender, at, payload) ' +
        'VALUES (@deviceId, @seq, @kind, @groupId, @groupSeq, @epoch, @from, @at, @payload)',
    ),
    readMailbox: db.prepare<[string, number, number], MailboxRow>(
      `SELECT ${MAILBOX_COLS} FROM mailbox WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    ),

    insertKeyPackage: db.prepare<[string, string]>('INSERT INTO key_packages (device_id, key_package) VALUES (?, ?)'),
    setLastResort: db.prepare<[string, string]>(
      'INSERT INTO last_resort_packages (device_id, key_package) VALUES (?, ?) ' +
        'ON CONFLICT(device_id) DO UPDATE SET key_package = excluded.key_package',
    ),
    claimKeyPackage: db.prepare<[string], { keyPackage: string }>(
      'DELETE FROM key_packages WHERE id = (SELECT id FROM key_packages WHERE device_id = ? ORDER BY id LIMIT 1) ' +
        'RETURNING key_package AS keyPackage',
    ),
    getLastResort: db
      .prepare<[string], string>('SELECT key_package FROM last_resort_packages WHERE device_id = ?')
      .pluck(),
    countKeyPackages: db.prepare<[string], number>('SELECT count(*) FROM key_packages WHERE device_id = ?').pluck(),

    currentGeneration: db.prepare<[], number>('SELECT coalesce(max(generation), 0) FROM generations').pluck(),
    insertGeneration: db.prepare<[GenerationRow]>(
      'INSERT INTO generations (generation, created_by, created_at) VALUES (@generation, @createdBy, @createdAt)',
    ),
    listGenerations: db.prepare<[], GenerationRow>(
      'SELECT generation, created_by AS createdBy, created_at AS createdAt FROM generations ORDER BY generation',
    ),
    insertEnvelopeIfAbsent: db.prepare<[EnvelopeRow]>(
      'INSERT OR IGNORE INTO envelopes (generation, device_id, sealed, sealed_by, at) ' +
        'VALUES (@generation, @deviceId, @sealed, @sealedBy, @at)',
    ),
    insertEnvelopeUnlessRefused: db.prepare<[EnvelopeRow]>(
      'INSERT OR IGNORE INTO envelopes (generation, device_id, sealed, sealed_by, at) ' +
        'SELECT @generation, @deviceId, @sealed, @sealedBy, @at WHERE NOT EXISTS (' +
        'SELECT 1 FROM envelope_refusals WHERE generation = @generation AND device_id = @deviceId AND sealed_by = @sealedBy)',
    ),
    dropEnvelope: db.prepare<[{ generation: number; deviceId: string; sealedBy: string; sealed: string }]>(
      'DELETE FROM envelopes WHERE generation = @generation AND device_id = @deviceId AND sealed_by = @sealedBy AND sealed = @sealed',
    ),
    insertRefusal: db.prepare<[{ generation: number; deviceId: string; sealedBy: string }]>(
      'INSERT OR IGNORE INTO envelope_refusals (generation, device_id, sealed_by) VALUES (@generation, @deviceId, @sealedBy)',
    ),
    listEnvelopes: db.prepare<[string], EnvelopeRow>(
      `SELECT ${ENVELOPE_COLS} FROM envelopes WHERE device_id = ? ORDER BY generation`,
    ),
    listEnvelopeKeys: db.prepare<[], { deviceId: string; generation: number }>(
      'SELECT device_id AS deviceId, generation FROM envelopes ORDER BY device_id, generation',
    ),
  };
}

type RecordInput = Parameters<Store['appendRecord']>[0];

interface QueuedRecord {
  input: RecordInput;
  resolve(seq: number): void;
  reject(err: unknown): void;
}

class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly s: ReturnType<typeof prepareAll>;
  /** Records waiting for the next group commit, in arrival order. */
  private queued: QueuedRecord[] = [];
  private flushTimer: NodeJS.Immediate | undefined;

  constructor(private readonly db: Database.Database) {
    this.s = prepareAll(db);
  }

  /** Runs `fn` as one IMMEDIATE transaction: all of its writes or none. */
  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  async close(): Promise<void> {
    // Records already handed to appendRecord are written (or refused) before the file closes.
    this.flushRecords();
    if (this.db.open) this.db.close();
  }

  /** Inside a transaction: appends the entries, or throws KtConflict (rolling everything back) if
   * the log is no longer at the size they were computed for. */
  private appendKtIn(kt: KtAppend | undefined): void {
    if (!kt) return;
    const size = this.s.ktSize.get() ?? 0;
    if (size !== kt.expectedSize) throw new KtConflict(kt.expectedSize, size);
    kt.entries.forEach((e, i) => this.s.insertKt.run(size + i, blob(e.entry), e.userId));
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.s.getMeta.get(key)?.value;
  }
  async setMeta(key: string, value: string): Promise<void> {
    this.s.setMeta.run(key, value);
  }
  async setMetaIfAbsent(key: string, value: string): Promise<string> {
    return this.tx(() => {
      this.s.insertMetaIfAbsent.run(key, value);
      return this.s.getMeta.get(key)!.value;
    });
  }

  async getOrg(): Promise<OrgRow | undefined> {
    return this.s.getOrg.get();
  }
  async bootstrapOrg(org: OrgRow, adminInvite: InviteRow): Promise<boolean> {
    return this.tx(() => {
      if (this.s.insertOrg.run(org).changes === 0) return false;
      this.s.insertInvite.run(inviteToDb(adminInvite));
      return true;
    });
  }

  async createInvite(invite: InviteRow): Promise<void> {
    this.s.insertInvite.run(inviteToDb(invite));
  }
  async getInvite(codeHash: string): Promise<InviteRow | undefined> {
    const r = this.s.getInvite.get(codeHash);
    return r && inviteFromDb(r);
  }

  async register(input: Parameters<Store['register']>[0]): Promise<RegisterOutcome> {
    return this.tx((): RegisterOutcome => {
      const r = this.s.getInvite.get(input.codeHash);
      if (!r) return { ok: false, reason: 'not_found' };
      const invite = inviteFromDb(r);
      if (invite.usedAt !== null) return { ok: false, reason: 'used' };
      if (invite.expiresAt <= input.now) return { ok: false, reason: 'expired' };

      let user: UserRow;
      let enrolledBy: DeviceRow['enrolledBy'];
      if (invite.kind === 'device') {
        const existing = invite.userId === null ? undefined : this.s.getUser.get(invite.userId);
        if (!existing) return { ok: false, reason: 'not_found' };
        if (existing.status !== 'active') return { ok: false, reason: 'user_inactive' };
        user = existing;
        enrolledBy = 'device-invite';
      } else {
        const name = input.userName ?? invite.name;
        if (name === null) throw new Error('register: a new user needs a name');
        user = {
          id: input.userId, name, role: invite.bootstrap ? 'admin' : (invite.role ?? 'member'), status: 'active',
          createdAt: input.now,
        };
        enrolledBy = invite.bootstrap ? 'bootstrap' : 'user-invite';
        try {
          this.s.insertUser.run({ ...user, nameKey: nameKey(name) });
        } catch (err) {
          throw nameTaken(err, 'person', name);
        }
        if (invite.departmentId !== null) this.joinDepartment(invite.departmentId, user.id);
      }
      const device: DeviceRow = { ...input.device, userId: user.id, enrolledBy };
      this.s.insertDevice.run(device);
      this.s.useInvite.run(input.now, invite.codeHash);
      this.appendKtIn(input.kt);
      return { ok: true, user, device: { ...device }, invite: { ...invite, usedAt: input.now } };
    });
  }

  async getUser(id: string): Promise<UserRow | undefined> {
    return this.s.getUser.get(id);
  }
  async listUsers(): Promise<UserRow[]> {
    return this.s.listUsers.all();
  }
  async deactivateUser(id: string, kt?: { append: KtAppend; revoking: string[] }): Promise<string[]> {
    return this.tx(() => {
      if (kt) {
        const size = this.s.ktSize.get() ?? 0;
        if (size !== kt.append.expectedSize) throw new KtConflict(kt.append.expectedSize, size);
        if (this.s.getUser.get(id)?.status !== 'active') throw new Error('deactivateUser: log entries for a person who is not active');
      }
      this.s.deactivateUser.run(id);
      const revoked = this.s.revokeUserDevices.all(id).map((r) => r.id).sort();
      if (kt) {
        if (revoked.join('\n') !== [...kt.revoking].sort().join('\n')) {
          throw new Error('deactivateUser: the devices revoked are not the ones the log entries name');
        }
        this.appendKtIn(kt.append);
      }
      return revoked;
    });
  }
  async setUserRole(id: string, role: Role, kt: KtAppend): Promise<SetRoleOutcome> {
    return this.tx(() => {
      const size = this.s.ktSize.get() ?? 0;
      if (size !== kt.expectedSize) throw new KtConflict(kt.expectedSize, size);
      const user = this.s.getUser.get(id);
      if (!user || user.status !== 'active') return 'not_active';
      if (user.role === role) return 'unchanged';
      if (user.role === 'admin' && this.s.countActiveAdmins.get()! <= 1) return 'last_admin';
      this.s.setUserRole.run(role, id);
      this.appendKtIn(kt);
      return 'changed';
    });
  }
  async revokeDevice(deviceId: string, kt?: KtAppend): Promise<RevokeDeviceOutcome> {
    return this.tx(() => {
      if (kt) {
        const size = this.s.ktSize.get() ?? 0;
        if (size !== kt.expectedSize) throw new KtConflict(kt.expectedSize, size);
      }
      const device = this.s.getDevice.get(deviceId);
      if (!device || device.status !== 'active' || this.s.getUser.get(device.userId)?.status !== 'active') return 'not_active';
      if (this.s.countActiveDevices.get(device.userId)! <= 1) return 'last_device';
      this.s.revokeDevice.run(deviceId);
      if (kt) this.appendKtIn(kt);
      return 'revoked';
    });
  }
  async getDevice(id: string): Promise<DeviceRow | undefined> {
    return this.s.getDevice.get(id);
  }
  async listDevices(filter?: { userId?: string }): Promise<DeviceRow[]> {
    return filter?.userId !== undefined ? this.s.listUserDevices.all(filter.userId) : this.s.listDevices.all();
  }
  async directoryChanges(after: number): Promise<{ seq: number; users: UserRow[]; devices: DeviceRow[] }> {
    return this.db.transaction(() => ({
      seq: this.s.directorySeq.get() ?? 0,
      users: this.s.usersChangedAfter.all(after),
      devices: this.s.devicesChangedAfter.all(after),
    }))();
  }

  async createDepartment(dept: DepartmentRow, publicGroup: GroupRow, secretGroup: GroupRow): Promise<void> {
    this.tx(() => {
      // Named as the department's clash (its public group, inserted first, shares the name).
      if (this.s.departmentByNameKey.get(nameKey(dept.name))) throw new NameTaken('department', dept.name);
      this.insertGroupRow(publicGroup);
      this.insertGroupRow(secretGroup);
      try {
        this.s.insertDepartment.run({ ...dept, nameKey: nameKey(dept.name) });
      } catch (err) {
        throw nameTaken(err, 'department', dept.name);
      }
    });
  }
  private insertGroupRow(group: GroupRow): void {
    const name = group.kind === 'public' ? (group.name ?? '') : '';
    try {
      this.s.insertGroup.run({ ...group, name, nameKey: group.kind === 'public' ? nameKey(name) : null });
    } catch (err) {
      throw nameTaken(err, 'group', name);
    }
  }
  async removeDepartmentMember(departmentId: string, userId: string): Promise<void> {
    this.s.deleteDepartmentMember.run(departmentId, userId);
  }
  async renameDepartment(id: string, name: string): Promise<boolean> {
    return this.tx(() => {
      const dept = this.s.getDepartment.get(id);
      if (!dept) return false;
      try {
        this.s.renameDepartment.run(name, nameKey(name), id);
      } catch (err) {
        throw nameTaken(err, 'department', name);
      }
      try {
        this.s.renameGroup.run(name, nameKey(name), dept.publicGroupId);
      } catch (err) {
        throw nameTaken(err, 'group', name);
      }
      return true;
    });
  }
  async deleteDepartment(id: string): Promise<DeleteDepartmentOutcome> {
    return this.tx((): DeleteDepartmentOutcome => {
      const dept = this.s.getDepartment.get(id);
      if (!dept) return 'not_found';
      if (this.s.listDepartmentMembers.all(id).length > 0) return 'has_members';
      this.s.deleteDepartmentMembers.run(id);
      this.s.deleteDepartment.run(id);
      this.dropGroup(dept.publicGroupId);
      const secret = this.s.getGroup.get(dept.secretGroupId);
      if (secret && secret.epoch === null) this.dropGroup(secret.id);
      else if (secret) this.s.detachGroup.run(secret.id);
      return 'deleted';
    });
  }
  private dropGroup(id: string): void {
    this.s.deleteGroupLog.run(id);
    this.s.deleteGroupPublicMembers.run(id);
    this.s.deleteGroupDevices.run(id);
    this.s.deleteGroup.run(id);
  }
  async getDepartment(id: string): Promise<DepartmentRow | undefined> {
    return this.s.getDepartment.get(id);
  }
  async listDepartments(): Promise<DepartmentRow[]> {
    return this.s.listDepartments.all();
  }
  private joinDepartment(departmentId: string, userId: string): void {
    const dept = this.s.getDepartment.get(departmentId);
    if (!dept) throw new Error('unknown department');
    this.s.insertDepartmentMember.run(departmentId, userId);
    this.s.insertPublicMember.run(dept.publicGroupId, userId);
  }
  async addDepartmentMember(departmentId: string, userId: string): Promise<void> {
    this.tx(() => this.joinDepartment(departmentId, userId));
  }
  async listDepartmentMembers(departmentId: string): Promise<string[]> {
    return this.s.listDepartmentMembers.all(departmentId);
  }
  async listUserDepartments(userId: string): Promise<string[]> {
    return this.s.listUserDepartments.all(userId);
  }

  async createGroup(group: GroupRow, creator?: { deviceId: string; userId: string }, kt?: KtAppend): Promise<void> {
    this.tx(() => {
      const withCreator = group.kind === 'secret' && creator !== undefined;
      const epoch = group.kind === 'public' ? null : withCreator ? 0 : group.epoch;
      this.insertGroupRow({ ...group, epoch, head: 0 });
      if (withCreator) this.s.upsertGroupDevice.run({ groupId: group.id, ...creator, sinceSeq: 0 });
      this.appendKtIn(kt);
    });
  }
  async getGroup(id: string): Promise<GroupRow | undefined> {
    return this.s.getGroup.get(id);
  }
  async listGroups(): Promise<GroupRow[]> {
    return this.s.listGroups.all();
  }
  async renameGroup(id: string, name: string): Promise<boolean> {
    return this.tx(() => {
      try {
        return this.s.renameGroup.run(name, nameKey(name), id).changes === 1;
      } catch (err) {
        throw nameTaken(err, 'group', name);
      }
    });
  }
  async deleteGroup(id: string): Promise<boolean> {
    return this.tx(() => {
      const group = this.s.getGroup.get(id);
      if (!group || group.departmentId !== null) return false;
      this.dropGroup(id);
      return true;
    });
  }
  async initSecretGroup(groupId: string, creator: { deviceId: string; userId: string }, _now: number, kt?: KtAppend): Promise<boolean> {
    return this.tx(() => {
      const r = this.s.initSecretGroup.get(groupId);
      if (!r) return false;
      this.s.upsertGroupDevice.run({ groupId, ...creator, sinceSeq: r.head });
      this.appendKtIn(kt);
      return true;
    });
  }

  private requireGroup(groupId: string): GroupRow {
    const g = this.s.getGroup.get(groupId);
    if (!g) throw new Error('unknown group');
    return g;
  }
  async addPublicMembers(groupId: string, userIds: string[]): Promise<void> {
    this.tx(() => {
      this.requireGroup(groupId);
      for (const u of userIds) this.s.insertPublicMember.run(groupId, u);
    });
  }
  async removePublicMembers(groupId: string, userIds: string[]): Promise<void> {
    this.tx(() => {
      for (const u of userIds) this.s.deletePublicMember.run(groupId, u);
    });
  }
  async listPublicMembers(groupId: string): Promise<string[]> {
    return this.s.listPublicMembers.all(groupId);
  }
  async listGroupDevices(groupId: string): Promise<GroupDeviceRow[]> {
    return this.s.listGroupDevices.all(groupId);
  }
  async getGroupDevice(groupId: string, deviceId: string): Promise<GroupDeviceRow | undefined> {
    return this.s.getGroupDevice.get(groupId, deviceId);
  }
  async listUserGroupIds(userId: string): Promise<string[]> {
    return this.s.listUserGroupIds.all(userId, userId);
  }

  async applyCommit(input: Parameters<Store['applyCommit']>[0]): Promise<CommitOutcome> {
    return this.tx((): CommitOutcome => {
      const g = this.s.getGroup.get(input.groupId);
      if (!g || g.kind !== 'secret' || g.epoch === null) return { ok: false, reason: 'not_found' };
      if (!this.s.getGroupDevice.get(input.groupId, input.sender)) return { ok: false, reason: 'not_member' };
      const bumped = this.s.bumpEpochAndHead.get(input.groupId, input.expectedEpoch);
      if (!bumped) return { ok: false, reason: 'stale_epoch', epoch: g.epoch };
      const { head: seq, epoch } = bumped;
      this.s.insertLog.run({
        groupId: input.groupId, seq, kind: 'commit', epoch: input.expectedEpoch, sender: input.sender, at: input.at,
        payload: input.payload,
        added: JSON.stringify(input.added.map((a) => a.deviceId)), removed: JSON.stringify(input.removed),
      });
      // removals first, so a device removed and re-added by the same commit ends up a member
      for (const d of input.removed) this.s.deleteGroupDevice.run(input.groupId, d);
      for (const a of input.added) {
        this.s.upsertGroupDevice.run({ groupId: input.groupId, deviceId: a.deviceId, userId: a.userId, sinceSeq: seq });
      }
      if (input.welcome !== null) {
        for (const a of input.added) {
          this.putMailbox({
            deviceId: a.deviceId, kind: 'welcome', groupId: input.groupId, groupSeq: seq, epoch, from: input.sender,
            at: input.at, payload: input.welcome,
          });
        }
      }
      this.appendKtIn(input.kt);
      return { ok: true, seq, epoch };
    });
  }
  appendRecord(input: RecordInput): Promise<number> {
    if (!this.db.open) return Promise.reject(new Error('store is closed'));
    return new Promise<number>((resolve, reject) => {
      this.queued.push({ input, resolve, reject });
      this.flushTimer ??= setImmediate(() => this.flushRecords());
    });
  }

  /** Writes every queued record in one IMMEDIATE transaction, in arrival order, so seqs stay
   * gapless and ordered per group. A record for an unknown group is refused on its own (nothing of
   * it was written); any other error rolls the whole batch back and refuses all of it. */
  private flushRecords(): void {
    if (this.flushTimer !== undefined) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    let outcomes: (number | Error)[];
    try {
      outcomes = this.tx(() =>
        batch.map(({ input: { expectEpoch, ...input } }): number | Error => {
          if (expectEpoch !== undefined) {
            const epoch = this.s.getGroup.get(input.groupId)?.epoch ?? null;
            if (epoch !== expectEpoch) return new StaleEpoch(epoch);
          }
          const bumped = this.s.bumpHead.get(input.groupId);
          if (!bumped) return new Error('unknown group');
          this.s.insertLog.run({ ...input, seq: bumped.head, kind: 'record', added: null, removed: null });
          return bumped.head;
        }),
      );
    } catch (err) {
      for (const q of batch) q.reject(err);
      return;
    }
    batch.forEach((q, i) => {
      const out = outcomes[i];
      if (typeof out === 'number') q.resolve(out);
      else q.reject(out);
    });
  }
  async readLog(groupId: string, afterSeq: number, limit: number): Promise<LogEntryRow[]> {
    // SQLite reads a negative LIMIT as "no limit"
    if (limit <= 0) return [];
    return this.s.readLog.all(groupId, afterSeq, limit).map(logFromDb);
  }

  private putMailbox(item: Omit<MailboxRow, 'seq'>): number {
    const { head: seq } = this.s.bumpMailboxHead.get(item.deviceId)!;
    this.s.insertMailbox.run({ ...item, seq });
    return seq;
  }
  async appendMailbox(item: Omit<MailboxRow, 'seq'>): Promise<number> {
    return this.tx(() => this.putMailbox(item));
  }
  async readMailbox(deviceId: string, afterSeq: number, limit: number): Promise<MailboxRow[]> {
    if (limit <= 0) return [];
    return this.s.readMailbox.all(deviceId, afterSeq, limit);
  }

  async addKeyPackages(deviceId: string, packages: string[], lastResort: string | null): Promise<void> {
    this.tx(() => {
      for (const p of packages) this.s.insertKeyPackage.run(deviceId, p);
      if (lastResort !== null) this.s.setLastResort.run(deviceId, lastResort);
    });
  }
  async claimKeyPackage(deviceId: string): Promise<{ keyPackage: string; lastResort: boolean } | undefined> {
    return this.tx(() => {
      const claimed = this.s.claimKeyPackage.get(deviceId);
      if (claimed) return { keyPackage: claimed.keyPackage, lastResort: false };
      const kept = this.s.getLastResort.get(deviceId);
      return kept === undefined ? undefined : { keyPackage: kept, lastResort: true };
    });
  }
  async keyPackageStock(deviceId: string): Promise<{ stock: number; hasLastResort: boolean }> {
    return {
      stock: this.s.countKeyPackages.get(deviceId) ?? 0,
      hasLastResort: this.s.getLastResort.get(deviceId) !== undefined,
    };
  }

  async createGeneration(gen: GenerationRow, envelopes: EnvelopeRow[], kt?: KtAppend): Promise<boolean> {
    if (envelopes.some((e) => e.generation !== gen.generation)) {
      throw new Error('createGeneration: every envelope must belong to the new generation');
    }
    return this.tx(() => {
      if (gen.generation !== (this.s.currentGeneration.get() ?? 0) + 1) return false;
      this.s.insertGeneration.run(gen);
      for (const e of envelopes) this.s.insertEnvelopeIfAbsent.run(e);
      this.appendKtIn(kt);
      return true;
    });
  }
  async currentGeneration(): Promise<number> {
    return this.s.currentGeneration.get() ?? 0;
  }
  async listGenerations(): Promise<GenerationRow[]> {
    return this.s.listGenerations.all();
  }
  async putEnvelopes(envelopes: EnvelopeRow[]): Promise<void> {
    this.tx(() => {
      for (const e of envelopes) this.s.insertEnvelopeUnlessRefused.run(e);
    });
  }
  async refuseEnvelope(refusal: { generation: number; deviceId: string; sealedBy: string; sealed: string }): Promise<boolean> {
    const { generation, deviceId, sealedBy, sealed } = refusal;
    return this.tx(() => {
      if (this.s.dropEnvelope.run({ generation, deviceId, sealedBy, sealed }).changes === 0) return false;
      this.s.insertRefusal.run({ generation, deviceId, sealedBy });
      return true;
    });
  }
  async listEnvelopes(deviceId: string): Promise<EnvelopeRow[]> {
    return this.s.listEnvelopes.all(deviceId);
  }
  async listEnvelopeKeys(): Promise<{ deviceId: string; generation: number }[]> {
    return this.s.listEnvelopeKeys.all();
  }

  async ktSize(): Promise<number> {
    return this.s.ktSize.get() ?? 0;
  }
  async appendKt(append: KtAppend): Promise<void> {
    this.tx(() => this.appendKtIn(append));
  }
  async readKtEntries(start: number, end: number): Promise<Uint8Array[]> {
    if (end <= start) return [];
    return this.s.readKt.all(start, end).map((b) => new Uint8Array(b));
  }
  async getKtEntries(indexes: number[]): Promise<Uint8Array[]> {
    return indexes.map((i) => {
      const b = this.s.getKt.get(i);
      if (b === undefined) throw new Error(`no key-transparency entry ${i}`);
      return new Uint8Array(b);
    });
  }
  async listKtUserIndexes(userId: string): Promise<number[]> {
    return this.s.ktUserIndexes.all(userId);
  }
  async putCosignature(row: CosignatureRow): Promise<void> {
    this.s.putCosignature.run(row);
  }
  async listCosignatures(size: number): Promise<CosignatureRow[]> {
    return this.s.listCosignatures.all(size);
  }
  async latestCosignedSize(minWitnesses: number, vkeys?: string[]): Promise<number | undefined> {
    if (vkeys) return this.s.latestCosignedSizeBy.get(JSON.stringify([...new Set(vkeys)]), Math.max(1, minWitnesses));
    return this.s.latestCosignedSize.get(Math.max(1, minWitnesses));
  }
}
