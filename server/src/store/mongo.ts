/** MongoDB store for organisations that run several relays against one database.
 *
 * Every method that writes more than one document runs in a multi-document transaction
 * (`session.withTransaction`). Transactions need a replica set (or a sharded cluster): a
 * standalone `mongod` rejects them, so even a single machine must run as a one-node replica set
 * (`mongod --replSet rs0` and `rs.initiate()` once).
 *
 * Durability: writes and commits use write concern `{ w: 'majority', j: true }`, so a method
 * resolves only once a majority of the replica set has the write in its on-disk journal; a crashed
 * or failed-over primary cannot lose what the relay acknowledged. Reads use read concern
 * `majority` so a relay never serves a log entry that a failover could roll back.
 *
 * Counters (a group's head, a device's mailbox seq, key-package order) are incremented inside the
 * transaction that writes the row they number. Two relays incrementing the same counter collide on
 * that document; the loser's transaction aborts with a transient WriteConflict and `withTransaction`
 * reruns it against the new value. Entries therefore become visible in seq order, with no gaps and
 * no duplicates — a reader paging with `afterSeq` never skips an entry that commits later. */
import {
  Binary, MongoClient, MongoServerError, type AnyBulkWriteOperation, type ClientSession, type Collection, type Db,
  type Document, type Filter, type TransactionOptions, type WithId,
} from 'mongodb';
import { nameKey, type Role } from '@agora/protocol';
import {
  KtConflict, NameTaken, StaleEpoch,
  type CommitOutcome, type DeleteDepartmentOutcome, type CosignatureRow, type DepartmentRow, type DeviceRow, type EnvelopeRow, type GenerationRow,
  type GroupDeviceRow, type GroupRow, type InviteRow, type KtAppend, type LogEntryRow, type MailboxRow, type OrgRow,
  type RegisterOutcome, type RevokeDeviceOutcome, type SetRoleOutcome, type Store, type UserRow,
} from './types.js';

/** Bump together with a migration step in `migrate`; an older relay refuses a newer database. */
const SCHEMA_VERSION = 4;
const DEFAULT_DB_NAME = 'agora';

const DURABLE = { w: 'majority', journal: true } as const;
const TXN: TransactionOptions = {
  readConcern: { level: 'snapshot' },
  writeConcern: DURABLE,
  readPreference: 'primary',
};

interface MetaDoc { _id: string; value: string }
interface CounterDoc { _id: string; n: number }
interface OrgDoc extends OrgRow { _id: string }
interface DepartmentMemberDoc { departmentId: string; userId: string }
interface PublicMemberDoc { groupId: string; userId: string }
interface KeyPackageDoc { deviceId: string; seq: number; keyPackage: string }
interface LastResortDoc { deviceId: string; keyPackage: string }
interface KtEntryDoc { index: number; entry: Binary; userId: string | null }
interface EnvelopeRefusalDoc { generation: number; deviceId: string; sealedBy: string }

const ORG_ID = 'org';
const mailboxCounter = (deviceId: string) => `mailbox:${deviceId}`;
const keyPackageCounter = (deviceId: string) => `keypackages:${deviceId}`;
/** The key-transparency log's size: every append reads and increments it inside its transaction,
 * so two relays appending at once conflict on it and one of them recomputes its entries. */
const KT_COUNTER = 'kt';
/** The directory's change counter: every write to a person's or device's directory entry takes the
 * next value inside its transaction, so concurrent writers conflict on it and stamp in order. */
const DIRECTORY_COUNTER = 'directory';

/** Rows go out without Mongo's `_id` and the stored name key. */
function strip<T extends Document>(doc: WithId<T>): T {
  const { _id: _dropped, nameKey: _key, changed: _changed, ...row } = doc as WithId<T> & { nameKey?: unknown; changed?: unknown };
  return row as unknown as T;
}
/** Maps a duplicate name key to NameTaken; anything else passes through. */
function nameTaken(err: unknown, kind: NameTaken['kind'], name: string): unknown {
  if (isDuplicateKey(err) && /nameKey/.test((err as Error).message)) return new NameTaken(kind, name);
  return err;
}
const NAME_KEY_INDEX = { key: { nameKey: 1 }, unique: true, partialFilterExpression: { nameKey: { $type: 'string' } } } as const;
function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000;
}

/** The database named in the URI's path (`mongodb://h1,h2/agora?replicaSet=rs0`), if any. */
function databaseInUri(uri: string): string | undefined {
  const name = /^mongodb(?:\+srv)?:\/\/[^/]*\/([^?]+)/.exec(uri)?.[1];
  return name ? decodeURIComponent(name) : undefined;
}

/** Opens the store in `dbName`, else the database named in the URI, else `agora`. */
export async function openMongoStore(uri: string, dbName?: string): Promise<Store> {
  const client = new MongoClient(uri, {
    writeConcern: DURABLE,
    readConcern: { level: 'majority' },
    readPreference: 'primary',
  });
  await client.connect();
  try {
    const db = client.db(dbName ?? databaseInUri(uri) ?? DEFAULT_DB_NAME);
    await migrate(db);
    return new MongoStore(client, db);
  } catch (err) {
    await client.close();
    throw err;
  }
}

const COLLECTIONS = [
  'storeInfo', 'meta', 'counters', 'org', 'users', 'devices', 'invites', 'departments',
  'departmentMembers', 'groups', 'publicMembers', 'groupDevices', 'log', 'mailbox', 'keyPackages',
  'lastResortPackages', 'generations', 'envelopes', 'ktEntries', 'ktCosignatures', 'envelopeRefusals',
] as const;

async function migrate(db: Db): Promise<void> {
  const info = db.collection<MetaDoc>('storeInfo');
  const stored = await info.findOne({ _id: 'schema_version' });
  const current = stored ? Number(stored.value) : 0;
  if (current > SCHEMA_VERSION) {
    throw new Error(`database schema version ${current} is newer than this relay supports (${SCHEMA_VERSION})`);
  }
  // Collections are created up front: a transaction must not be the first writer of a collection on
  // servers before 4.4, and creating them here keeps that cost out of the first request.
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  for (const name of COLLECTIONS) {
    if (existing.has(name)) continue;
    try {
      await db.createCollection(name);
    } catch (err) {
      // another relay created it in the meantime (NamespaceExists)
      if (!(err instanceof MongoServerError && err.code === 48)) throw err;
    }
  }
  // Unique indexes carry first-writer-wins and idempotence; createIndexes is a no-op when they exist.
  await db.collection('users').createIndexes([{ key: { id: 1 }, unique: true }, { key: { changed: 1 } }]);
  await db.collection('devices').createIndexes([{ key: { id: 1 }, unique: true }, { key: { userId: 1 } }, { key: { changed: 1 } }]);
  await db.collection('invites').createIndexes([{ key: { codeHash: 1 }, unique: true }]);
  await db.collection('departments').createIndexes([{ key: { id: 1 }, unique: true }]);
  await db.collection('departmentMembers').createIndexes([
    { key: { departmentId: 1, userId: 1 }, unique: true }, { key: { userId: 1 } },
  ]);
  await db.collection('groups').createIndexes([{ key: { id: 1 }, unique: true }]);
  await db.collection('publicMembers').createIndexes([
    { key: { groupId: 1, userId: 1 }, unique: true }, { key: { userId: 1 } },
  ]);
  await db.collection('groupDevices').createIndexes([
    { key: { groupId: 1, deviceId: 1 }, unique: true }, { key: { userId: 1 } },
  ]);
  await db.collection('log').createIndexes([{ key: { groupId: 1, seq: 1 }, unique: true }]);
  await db.collection('mailbox').createIndexes([{ key: { deviceId: 1, seq: 1 }, unique: true }]);
  await db.collection('keyPackages').createIndexes([{ key: { deviceId: 1, seq: 1 }, unique: true }]);
  await db.collection('lastResortPackages').createIndexes([{ key: { deviceId: 1 }, unique: true }]);
  await db.collection('generations').createIndexes([{ key: { generation: 1 }, unique: true }]);
  await db.collection('envelopes').createIndexes([
    { key: { generation: 1, deviceId: 1 }, unique: true }, { key: { deviceId: 1, generation: 1 } },
  ]);
  // 2: key transparency; invites written by version 1 lack the invite key fields.
  await db.collection('invites').updateMany(
    { invitePub: { $exists: false } }, { $set: { invitePub: '', approverDeviceId: '', approval: '' } },
  );
  await db.collection('ktEntries').createIndexes([{ key: { index: 1 }, unique: true }, { key: { userId: 1, index: 1 } }]);
  await db.collection('ktCosignatures').createIndexes([{ key: { size: 1, vkey: 1 }, unique: true }]);
  // 3: unique names by nameKey() (see the SQLite store's backfillNameKeys: a second equal name of
  // an older database gets a key made distinct by its id); secret-group names leave the relay.
  await db.collection('groups').updateMany({ kind: 'secret', name: { $type: 'string' } }, { $set: { name: null } });
  for (const name of ['users', 'departments', 'groups'] as const) {
    const coll = db.collection<{ id: string; name: string | null; nameKey?: string; kind?: string }>(name);
    const taken = new Set((await coll.find({ nameKey: { $type: 'string' } }).toArray()).map((d) => d.nameKey!));
    for (const doc of await coll.find({ nameKey: { $exists: false } }).sort({ createdAt: 1, id: 1 }).toArray()) {
      if (doc.name === null || doc.kind === 'secret') continue;
      let key = nameKey(doc.name);
      if (taken.has(key)) key = `${key}\u0000${doc.id}`;
      taken.add(key);
      await coll.updateOne({ _id: doc._id }, { $set: { nameKey: key } });
    }
    await coll.createIndexes([NAME_KEY_INDEX]);
  }
  // 4: organisation-key envelopes their recipient refused (see the SQLite store).
  await db.collection('envelopeRefusals').createIndexes([{ key: { generation: 1, deviceId: 1, sealedBy: 1 }, unique: true }]);
  if (current !== SCHEMA_VERSION) {
    await info.updateOne({ _id: 'schema_version' }, { $set: { value: String(SCHEMA_VERSION) } }, { upsert: true });
  }
}

class MongoStore implements Store {
  readonly kind = 'mongodb' as const;
  private readonly meta: Collection<MetaDoc>;
  private readonly counters: Collection<CounterDoc>;
  private readonly org: Collection<OrgDoc>;
  private readonly users: Collection<UserRow>;
  private readonly devices: Collection<DeviceRow>;
  private readonly invites: Collection<InviteRow>;
  private readonly departments: Collection<DepartmentRow>;
  private readonly departmentMembers: Collection<DepartmentMemberDoc>;
  private readonly groups: Collection<GroupRow>;
  private readonly publicMembers: Collection<PublicMemberDoc>;
  private readonly groupDevices: Collection<GroupDeviceRow>;
  private readonly log: Collection<LogEntryRow>;
  private readonly mailbox: Collection<MailboxRow>;
  private readonly keyPackages: Collection<KeyPackageDoc>;
  private readonly lastResorts: Collection<LastResortDoc>;
  private readonly generations: Collection<GenerationRow>;
  private readonly envelopes: Collection<EnvelopeRow>;
  private readonly envelopeRefusals: Collection<EnvelopeRefusalDoc>;
  private readonly ktEntries: Collection<KtEntryDoc>;
  private readonly ktCosignatures: Collection<CosignatureRow>;

  constructor(private readonly client: MongoClient, db: Db) {
    this.meta = db.collection('meta');
    this.counters = db.collection('counters');
    this.org = db.collection('org');
    this.users = db.collection('users');
    this.devices = db.collection('devices');
    this.invites = db.collection('invites');
    this.departments = db.collection('departments');
    this.departmentMembers = db.collection('departmentMembers');
    this.groups = db.collection('groups');
    this.publicMembers = db.collection('publicMembers');
    this.groupDevices = db.collection('groupDevices');
    this.log = db.collection('log');
    this.mailbox = db.collection('mailbox');
    this.keyPackages = db.collection('keyPackages');
    this.lastResorts = db.collection('lastResortPackages');
    this.generations = db.collection('generations');
    this.envelopes = db.collection('envelopes');
    this.envelopeRefusals = db.collection('envelopeRefusals');
    this.ktEntries = db.collection('ktEntries');
    this.ktCosignatures = db.collection('ktCosignatures');
  }

  /** Stamps these people's and devices' directory entries as changed (see Store.directoryChanges). */
  private async directoryChangedIn(session: ClientSession, changed: { users?: string[]; devices?: string[] }): Promise<void> {
    const counter = await this.counters.findOneAndUpdate(
      { _id: DIRECTORY_COUNTER }, { $inc: { n: 1 } }, { upsert: true, returnDocument: 'after', session },
    );
    const seq = counter?.n ?? 1;
    if (changed.users?.length) await this.users.updateMany({ id: { $in: changed.users } }, { $set: { changed: seq } }, { session });
    if (changed.devices?.length) await this.devices.updateMany({ id: { $in: changed.devices } }, { $set: { changed: seq } }, { session });
  }

  private async ktSizeIn(session?: ClientSession): Promise<number> {
    return (await this.counters.findOne({ _id: KT_COUNTER }, { session }))?.n ?? 0;
  }
  /** Inside a transaction: appends the entries, or throws KtConflict (aborting the transaction) if
   * the log is no longer at the size they were computed for. */
  private async appendKtIn(kt: KtAppend | undefined, session: ClientSession): Promise<void> {
    if (!kt) return;
    const size = await this.ktSizeIn(session);
    if (size !== kt.expectedSize) throw new KtConflict(kt.expectedSize, size);
    if (kt.entries.length === 0) return;
    await this.counters.updateOne({ _id: KT_COUNTER }, { $inc: { n: kt.entries.length } }, { upsert: true, session });
    await this.ktEntries.insertMany(
      kt.entries.map((e, i) => ({ index: size + i, entry: new Binary(e.entry), userId: e.userId })), { session },
    );
  }

  /** Runs `fn` as one transaction. The driver reruns `fn` on transient errors (write conflicts),
   * so `fn` must do nothing but database work through `session` and must let errors propagate. */
  private tx<T>(fn: (session: ClientSession) => Promise<T>): Promise<T> {
    return this.client.withSession((session) => session.withTransaction(() => fn(session), TXN));
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.meta.findOne({ _id: key }))?.value;
  }
  async setMeta(key: string, value: string): Promise<void> {
    await this.meta.updateOne({ _id: key }, { $set: { value } }, { upsert: true });
  }
  async setMetaIfAbsent(key: string, value: string): Promise<string> {
    // a single-document upsert is atomic; the server retries the losing upsert of a race as an update
    const doc = await this.meta.findOneAndUpdate(
      { _id: key }, { $setOnInsert: { value } }, { upsert: true, returnDocument: 'after' },
    );
    if (!doc) throw new Error('setMetaIfAbsent: upsert returned no document');
    return doc.value;
  }

  async getOrg(): Promise<OrgRow | undefined> {
    const doc = await this.org.findOne({ _id: ORG_ID });
    return doc ? { id: doc.id, name: doc.name, createdAt: doc.createdAt } : undefined;
  }
  async bootstrapOrg(org: OrgRow, adminInvite: InviteRow): Promise<boolean> {
    try {
      return await this.tx(async (session) => {
        if (await this.org.findOne({ _id: ORG_ID }, { session })) return false;
        await this.org.insertOne({ _id: ORG_ID, id: org.id, name: org.name, createdAt: org.createdAt }, { session });
        await this.invites.insertOne({ ...adminInvite }, { session });
        return true;
      });
    } catch (err) {
      // a concurrent bootstrap committed the singleton first
      if (isDuplicateKey(err) && (await this.org.findOne({ _id: ORG_ID }))) return false;
      throw err;
    }
  }

  async createInvite(invite: InviteRow): Promise<void> {
    // copies, because insertOne adds `_id` to the object it is given
    await this.invites.insertOne({ ...invite });
  }
  async getInvite(codeHash: string): Promise<InviteRow | undefined> {
    const doc = await this.invites.findOne({ codeHash });
    return doc ? strip(doc) : undefined;
  }

  async register(input: Parameters<Store['register']>[0]): Promise<RegisterOutcome> {
    return this.tx(async (session): Promise<RegisterOutcome> => {
      const doc = await this.invites.findOne({ codeHash: input.codeHash }, { session });
      if (!doc) return { ok: false, reason: 'not_found' };
      const invite = strip(doc);
      if (invite.usedAt !== null) return { ok: false, reason: 'used' };
      if (invite.expiresAt <= input.now) return { ok: false, reason: 'expired' };

      let existing: UserRow | undefined;
      if (invite.kind === 'device') {
        const u = invite.userId === null ? null : await this.users.findOne({ id: invite.userId }, { session });
        if (!u) return { ok: false, reason: 'not_found' };
        existing = strip(u);
        if (existing.status !== 'active') return { ok: false, reason: 'user_inactive' };
        await this.lockUser(existing.id, session);
      }
      const name = input.userName ?? invite.name;
      if (!existing && name === null) throw new Error('register: a new user needs a name');

      // Consume the invite before anything else is written, so a failed claim leaves nothing behind.
      const used = await this.invites.updateOne(
        { codeHash: invite.codeHash, usedAt: null }, { $set: { usedAt: input.now } }, { session },
      );
      if (used.modifiedCount !== 1) return { ok: false, reason: 'used' };

      let user: UserRow;
      let enrolledBy: DeviceRow['enrolledBy'];
      if (existing) {
        user = existing;
        enrolledBy = 'device-invite';
      } else {
        user = {
          id: input.userId, name: name!, role: invite.bootstrap ? 'admin' : (invite.role ?? 'member'),
          status: 'active', createdAt: input.now,
        };
        enrolledBy = invite.bootstrap ? 'bootstrap' : 'user-invite';
        try {
          await this.users.insertOne({ ...user, nameKey: nameKey(user.name) } as UserRow, { session });
        } catch (err) {
          throw nameTaken(err, 'person', user.name);
        }
        if (invite.departmentId !== null) await this.joinDepartment(invite.departmentId, user.id, session);
      }
      const device: DeviceRow = { ...input.device, userId: user.id, enrolledBy };
      await this.devices.insertOne({ ...device }, { session });
      await this.directoryChangedIn(session, { users: [user.id], devices: [device.id] });
      await this.appendKtIn(input.kt, session);
      return { ok: true, user, device, invite: { ...invite, usedAt: input.now } };
    });
  }

  async getUser(id: string): Promise<UserRow | undefined> {
    const doc = await this.users.findOne({ id });
    return doc ? strip(doc) : undefined;
  }
  async listUsers(): Promise<UserRow[]> {
    return (await this.users.find().sort({ createdAt: 1, id: 1 }).toArray()).map(strip);
  }
  async deactivateUser(id: string, kt?: { append: KtAppend; revoking: string[] }): Promise<string[]> {
    return this.tx(async (session) => {
      if (kt) {
        const size = await this.ktSizeIn(session);
        if (size !== kt.append.expectedSize) throw new KtConflict(kt.append.expectedSize, size);
      }
      const user = await this.users.findOne({ id }, { session });
      if (!user) return [];
      if (kt && user.status !== 'active') throw new Error('deactivateUser: log entries for a person who is not active');
      await this.lockUser(id, session);
      await this.users.updateOne({ id }, { $set: { status: 'deactivated' } }, { session });
      const active = await this.devices.find({ userId: id, status: 'active' }, { session }).toArray();
      const ids = active.map((d) => d.id).sort();
      if (ids.length > 0) {
        await this.devices.updateMany({ id: { $in: ids } }, { $set: { status: 'revoked' } }, { session });
      }
      await this.directoryChangedIn(session, { users: [id], devices: ids });
      if (kt) {
        if (ids.join('\n') !== [...kt.revoking].sort().join('\n')) {
          throw new Error('deactivateUser: the devices revoked are not the ones the log entries name');
        }
        await this.appendKtIn(kt.append, session);
      }
      return ids;
    });
  }
  async setUserRole(id: string, role: Role, kt: KtAppend): Promise<SetRoleOutcome> {
    return this.tx(async (session) => {
      const size = await this.ktSizeIn(session);
      if (size !== kt.expectedSize) throw new KtConflict(kt.expectedSize, size);
      const user = await this.users.findOne({ id }, { session });
      if (!user || user.status !== 'active') return 'not_active';
      if (user.role === role) return 'unchanged';
      // Two administrators demoting each other at once both advance the log's counter: one of the
      // transactions conflicts and reruns, and that one sees the other's change.
      if (user.role === 'admin' && (await this.users.countDocuments({ role: 'admin', status: 'active' }, { session })) <= 1) return 'last_admin';
      await this.lockUser(id, session);
      await this.users.updateOne({ id }, { $set: { role } }, { session });
      await this.directoryChangedIn(session, { users: [id] });
      await this.appendKtIn(kt, session);
      return 'changed';
    });
  }
  async revokeDevice(deviceId: string, kt?: KtAppend): Promise<RevokeDeviceOutcome> {
    return this.tx(async (session) => {
      if (kt) {
        const size = await this.ktSizeIn(session);
        if (size !== kt.expectedSize) throw new KtConflict(kt.expectedSize, size);
      }
      const device = await this.devices.findOne({ id: deviceId }, { session });
      if (!device || device.status !== 'active') return 'not_active';
      // Two revocations of a person's last two devices each see another one active: the lock
      // makes one of them conflict and rerun, and that one finds the last device.
      await this.lockUser(device.userId, session);
      if ((await this.users.findOne({ id: device.userId }, { session }))?.status !== 'active') return 'not_active';
      if ((await this.devices.countDocuments({ userId: device.userId, status: 'active' }, { session })) <= 1) return 'last_device';
      await this.devices.updateOne({ id: deviceId }, { $set: { status: 'revoked' } }, { session });
      await this.directoryChangedIn(session, { devices: [deviceId] });
      if (kt) await this.appendKtIn(kt, session);
      return 'revoked';
    });
  }
  async getDevice(id: string): Promise<DeviceRow | undefined> {
    const doc = await this.devices.findOne({ id });
    return doc ? strip(doc) : undefined;
  }
  async listDevices(filter?: { userId?: string }): Promise<DeviceRow[]> {
    const query = filter?.userId !== undefined ? { userId: filter.userId } : {};
    return (await this.devices.find(query).sort({ createdAt: 1, id: 1 }).toArray()).map(strip);
  }

  async directoryChanges(after: number): Promise<{ seq: number; users: UserRow[]; devices: DeviceRow[] }> {
    // The counter first: a row stamped after it was read is only sent once more, never missed.
    const seq = (await this.counters.findOne({ _id: DIRECTORY_COUNTER }))?.n ?? 0;
    const [users, devices] = await Promise.all([
      this.users.find({ changed: { $gt: after } } as Filter<UserRow>).sort({ createdAt: 1, id: 1 }).toArray(),
      this.devices.find({ changed: { $gt: after } } as Filter<DeviceRow>).sort({ createdAt: 1, id: 1 }).toArray(),
    ]);
    return { seq, users: users.map(strip), devices: devices.map(strip) };
  }

  async createDepartment(dept: DepartmentRow, publicGroup: GroupRow, secretGroup: GroupRow): Promise<void> {
    await this.tx(async (session) => {
      // Named as the department's clash (its public group, inserted first, shares the name).
      if (await this.departments.findOne({ nameKey: nameKey(dept.name) } as Partial<DepartmentRow>, { session })) {
        throw new NameTaken('department', dept.name);
      }
      await this.insertGroupDoc({ ...publicGroup, head: 0 }, session);
      await this.insertGroupDoc({ ...secretGroup, head: 0 }, session);
      try {
        await this.departments.insertOne({ ...dept, nameKey: nameKey(dept.name) } as DepartmentRow, { session });
      } catch (err) {
        throw nameTaken(err, 'department', dept.name);
      }
    });
  }
  private async insertGroupDoc(group: GroupRow, session: ClientSession): Promise<void> {
    const name = group.kind === 'public' ? (group.name ?? '') : null;
    const doc = name === null ? { ...group, name } : { ...group, name, nameKey: nameKey(name) };
    try {
      await this.groups.insertOne(doc as GroupRow, { session });
    } catch (err) {
      throw nameTaken(err, 'group', name ?? '');
    }
  }
  async removeDepartmentMember(departmentId: string, userId: string): Promise<void> {
    await this.tx(async (session) => {
      const gone = await this.departmentMembers.deleteOne({ departmentId, userId }, { session });
      if (gone.deletedCount > 0) await this.directoryChangedIn(session, { users: [userId] });
    });
  }
  async renameDepartment(id: string, name: string): Promise<boolean> {
    return this.tx(async (session) => {
      const dept = await this.departments.findOne({ id }, { session });
      if (!dept) return false;
      const key = nameKey(name);
      try {
        await this.departments.updateOne({ id }, { $set: { name, nameKey: key } }, { session });
      } catch (err) {
        throw nameTaken(err, 'department', name);
      }
      try {
        await this.groups.updateOne({ id: dept.publicGroupId, kind: 'public' }, { $set: { name, nameKey: key } }, { session });
      } catch (err) {
        throw nameTaken(err, 'group', name);
      }
      return true;
    });
  }
  async deleteDepartment(id: string): Promise<DeleteDepartmentOutcome> {
    return this.tx(async (session): Promise<DeleteDepartmentOutcome> => {
      const dept = await this.departments.findOne({ id }, { session });
      if (!dept) return 'not_found';
      if (await this.departmentMembers.findOne({ departmentId: id }, { session })) return 'has_members';
      await this.departments.deleteOne({ id }, { session });
      await this.dropGroup(dept.publicGroupId, session);
      const secret = await this.groups.findOne({ id: dept.secretGroupId }, { session });
      if (secret && secret.epoch === null) await this.dropGroup(secret.id, session);
      else if (secret) await this.groups.updateOne({ id: secret.id }, { $set: { departmentId: null } }, { session });
      return 'deleted';
    });
  }
  private async dropGroup(id: string, session: ClientSession): Promise<void> {
    await this.log.deleteMany({ groupId: id }, { session });
    await this.publicMembers.deleteMany({ groupId: id }, { session });
    await this.groupDevices.deleteMany({ groupId: id }, { session });
    await this.groups.deleteOne({ id }, { session });
  }
  async renameGroup(id: string, name: string): Promise<boolean> {
    try {
      const r = await this.groups.updateOne({ id, kind: 'public' }, { $set: { name, nameKey: nameKey(name) } });
      return r.matchedCount === 1;
    } catch (err) {
      throw nameTaken(err, 'group', name);
    }
  }
  async deleteGroup(id: string): Promise<boolean> {
    return this.tx(async (session) => {
      const group = await this.groups.findOne({ id }, { session });
      if (!group || group.departmentId !== null) return false;
      await this.dropGroup(id, session);
      return true;
    });
  }
  async getDepartment(id: string): Promise<DepartmentRow | undefined> {
    const doc = await this.departments.findOne({ id });
    return doc ? strip(doc) : undefined;
  }
  async listDepartments(): Promise<DepartmentRow[]> {
    return (await this.departments.find().sort({ createdAt: 1, id: 1 }).toArray()).map(strip);
  }
  private async joinDepartment(departmentId: string, userId: string, session: ClientSession): Promise<void> {
    const dept = await this.departments.findOne({ id: departmentId }, { session });
    if (!dept) throw new Error('unknown department');
    const joined = await this.departmentMembers.updateOne(
      { departmentId, userId }, { $setOnInsert: { departmentId, userId } }, { upsert: true, session },
    );
    if (joined.upsertedCount > 0) await this.directoryChangedIn(session, { users: [userId] });
    await this.publicMembers.updateOne(
      { groupId: dept.publicGroupId, userId }, { $setOnInsert: { groupId: dept.publicGroupId, userId } },
      { upsert: true, session },
    );
  }
  async addDepartmentMember(departmentId: string, userId: string): Promise<void> {
    await this.tx((session) => this.joinDepartment(departmentId, userId, session));
  }
  async listDepartmentMembers(departmentId: string): Promise<string[]> {
    const docs = await this.departmentMembers.find({ departmentId }).sort({ userId: 1 }).toArray();
    return docs.map((d) => d.userId);
  }
  async listUserDepartments(userId: string): Promise<string[]> {
    const docs = await this.departmentMembers.find({ userId }).sort({ departmentId: 1 }).toArray();
    return docs.map((d) => d.departmentId);
  }

  async createGroup(group: GroupRow, creator?: { deviceId: string; userId: string }, kt?: KtAppend): Promise<void> {
    await this.tx(async (session) => {
      const withCreator = group.kind === 'secret' && creator !== undefined;
      const epoch = group.kind === 'public' ? null : withCreator ? 0 : group.epoch;
      await this.insertGroupDoc({ ...group, epoch, head: 0 }, session);
      if (creator && withCreator) {
        await this.groupDevices.insertOne(
          { groupId: group.id, deviceId: creator.deviceId, userId: creator.userId, sinceSeq: 0 }, { session },
        );
      }
      await this.appendKtIn(kt, session);
    });
  }
  async getGroup(id: string): Promise<GroupRow | undefined> {
    const doc = await this.groups.findOne({ id });
    return doc ? strip(doc) : undefined;
  }
  async listGroups(): Promise<GroupRow[]> {
    return (await this.groups.find().sort({ createdAt: 1, id: 1 }).toArray()).map(strip);
  }
  async initSecretGroup(groupId: string, creator: { deviceId: string; userId: string }, _now: number, kt?: KtAppend): Promise<boolean> {
    return this.tx(async (session) => {
      const g = await this.groups.findOneAndUpdate(
        { id: groupId, kind: 'secret', epoch: null }, { $set: { epoch: 0 } }, { session, returnDocument: 'after' },
      );
      if (!g) return false;
      await this.putGroupDevice({ groupId, ...creator, sinceSeq: g.head }, session);
      await this.appendKtIn(kt, session);
      return true;
    });
  }

  private async putGroupDevice(row: GroupDeviceRow, session: ClientSession): Promise<void> {
    await this.groupDevices.updateOne(
      { groupId: row.groupId, deviceId: row.deviceId },
      { $set: { userId: row.userId, sinceSeq: row.sinceSeq } },
      { upsert: true, session },
    );
  }
  async addPublicMembers(groupId: string, userIds: string[]): Promise<void> {
    await this.tx(async (session) => {
      if (!(await this.groups.findOne({ id: groupId }, { session }))) throw new Error('unknown group');
      const ops: AnyBulkWriteOperation<PublicMemberDoc>[] = userIds.map((userId) => ({
        updateOne: { filter: { groupId, userId }, update: { $setOnInsert: { groupId, userId } }, upsert: true },
      }));
      if (ops.length > 0) await this.publicMembers.bulkWrite(ops, { session });
    });
  }
  async removePublicMembers(groupId: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    await this.tx(async (session) => {
      await this.publicMembers.deleteMany({ groupId, userId: { $in: userIds } }, { session });
    });
  }
  async listPublicMembers(groupId: string): Promise<string[]> {
    const docs = await this.publicMembers.find({ groupId }).sort({ userId: 1 }).toArray();
    return docs.map((d) => d.userId);
  }
  async listGroupDevices(groupId: string): Promise<GroupDeviceRow[]> {
    return (await this.groupDevices.find({ groupId }).sort({ deviceId: 1 }).toArray()).map(strip);
  }
  async getGroupDevice(groupId: string, deviceId: string): Promise<GroupDeviceRow | undefined> {
    const doc = await this.groupDevices.findOne({ groupId, deviceId });
    return doc ? strip(doc) : undefined;
  }
  async listUserGroupIds(userId: string): Promise<string[]> {
    const pub = await this.publicMembers.find({ userId }).toArray();
    const sec = await this.groupDevices.find({ userId }).toArray();
    const ids = new Set([...pub.map((d) => d.groupId), ...sec.map((d) => d.groupId)]);
    return [...ids].sort();
  }

  async applyCommit(input: Parameters<Store['applyCommit']>[0]): Promise<CommitOutcome> {
    return this.tx(async (session): Promise<CommitOutcome> => {
      const g = await this.groups.findOne({ id: input.groupId }, { session });
      if (!g || g.kind !== 'secret' || g.epoch === null) return { ok: false, reason: 'not_found' };
      const member = await this.groupDevices.findOne({ groupId: input.groupId, deviceId: input.sender }, { session });
      if (!member) return { ok: false, reason: 'not_member' };
      // The epoch condition and the increments are one document update: of two commits built on the
      // same epoch, the second conflicts, is rerun, and then finds the epoch moved on.
      const bumped = await this.groups.findOneAndUpdate(
        { id: input.groupId, epoch: input.expectedEpoch },
        { $inc: { head: 1, epoch: 1 } },
        { session, returnDocument: 'after' },
      );
      if (!bumped) return { ok: false, reason: 'stale_epoch', epoch: g.epoch };
      const seq = bumped.head;
      const epoch = input.expectedEpoch + 1;
      await this.log.insertOne({
        groupId: input.groupId, seq, kind: 'commit', epoch: input.expectedEpoch, sender: input.sender, at: input.at,
        payload: input.payload, added: input.added.map((a) => a.deviceId), removed: [...input.removed],
      }, { session });
      // removals first, so a device removed and re-added by the same commit ends up a member
      if (input.removed.length > 0) {
        await this.groupDevices.deleteMany({ groupId: input.groupId, deviceId: { $in: input.removed } }, { session });
      }
      for (const a of input.added) {
        await this.putGroupDevice({ groupId: input.groupId, deviceId: a.deviceId, userId: a.userId, sinceSeq: seq }, session);
      }
      if (input.welcome !== null) {
        for (const a of input.added) {
          await this.putMailbox({
            deviceId: a.deviceId, kind: 'welcome', groupId: input.groupId, groupSeq: seq, epoch, from: input.sender,
            at: input.at, payload: input.welcome,
          }, session);
        }
      }
      await this.appendKtIn(input.kt, session);
      return { ok: true, seq, epoch };
    });
  }
  async appendRecord(input: { groupId: string; epoch: number; sender: string; at: number; payload: string; expectEpoch?: number }): Promise<number> {
    return this.tx(async (session) => {
      const filter = input.expectEpoch === undefined ? { id: input.groupId } : { id: input.groupId, epoch: input.expectEpoch };
      const g = await this.groups.findOneAndUpdate(filter, { $inc: { head: 1 } }, { session, returnDocument: 'after' });
      if (!g) {
        const row = input.expectEpoch === undefined ? null : await this.groups.findOne({ id: input.groupId }, { session });
        if (row) throw new StaleEpoch(row.epoch);
        throw new Error('unknown group');
      }
      await this.log.insertOne({
        groupId: input.groupId, seq: g.head, kind: 'record', epoch: input.epoch, sender: input.sender, at: input.at,
        payload: input.payload,
      }, { session });
      return g.head;
    });
  }
  async readLog(groupId: string, afterSeq: number, limit: number): Promise<LogEntryRow[]> {
    // Mongo reads limit(0) as "no limit"
    if (limit <= 0) return [];
    const docs = await this.log.find({ groupId, seq: { $gt: afterSeq } }).sort({ seq: 1 }).limit(limit).toArray();
    return docs.map(strip);
  }

  private async nextCounter(id: string, by: number, session: ClientSession): Promise<number> {
    const doc = await this.counters.findOneAndUpdate(
      { _id: id }, { $inc: { n: by } }, { upsert: true, returnDocument: 'after', session },
    );
    if (!doc) throw new Error('counter upsert returned no document');
    return doc.n;
  }
  /** Snapshot isolation lets a device-invite registration (which only reads the user) and a
   * deactivation (which only reads the devices) commit side by side, leaving an active device of a
   * deactivated person. Both write this per-user document first, so one of them conflicts and reruns. */
  private async lockUser(userId: string, session: ClientSession): Promise<void> {
    await this.nextCounter(`userlock:${userId}`, 1, session);
  }
  private async putMailbox(item: Omit<MailboxRow, 'seq'>, session: ClientSession): Promise<number> {
    const seq = await this.nextCounter(mailboxCounter(item.deviceId), 1, session);
    await this.mailbox.insertOne({ ...item, seq }, { session });
    return seq;
  }
  async appendMailbox(item: Omit<MailboxRow, 'seq'>): Promise<number> {
    return this.tx((session) => this.putMailbox(item, session));
  }
  async readMailbox(deviceId: string, afterSeq: number, limit: number): Promise<MailboxRow[]> {
    if (limit <= 0) return [];
    const docs = await this.mailbox.find({ deviceId, seq: { $gt: afterSeq } }).sort({ seq: 1 }).limit(limit).toArray();
    return docs.map(strip);
  }

  async addKeyPackages(deviceId: string, packages: string[], lastResort: string | null): Promise<void> {
    if (packages.length === 0 && lastResort === null) return;
    await this.tx(async (session) => {
      if (packages.length > 0) {
        // a counter rather than ObjectIds: claims must follow upload order across relays
        const last = await this.nextCounter(keyPackageCounter(deviceId), packages.length, session);
        const first = last - packages.length + 1;
        await this.keyPackages.insertMany(
          packages.map((keyPackage, i) => ({ deviceId, seq: first + i, keyPackage })), { session },
        );
      }
      if (lastResort !== null) {
        await this.lastResorts.updateOne({ deviceId }, { $set: { keyPackage: lastResort } }, { upsert: true, session });
      }
    });
  }
  async claimKeyPackage(deviceId: string): Promise<{ keyPackage: string; lastResort: boolean } | undefined> {
    // findOneAndDelete is atomic on its own: two concurrent claims never receive the same package,
    // and the last-resort read that follows changes nothing.
    const claimed = await this.keyPackages.findOneAndDelete({ deviceId }, { sort: { seq: 1 } });
    if (claimed) return { keyPackage: claimed.keyPackage, lastResort: false };
    const kept = await this.lastResorts.findOne({ deviceId });
    return kept ? { keyPackage: kept.keyPackage, lastResort: true } : undefined;
  }
  async keyPackageStock(deviceId: string): Promise<{ stock: number; hasLastResort: boolean }> {
    const stock = await this.keyPackages.countDocuments({ deviceId });
    const hasLastResort = (await this.lastResorts.findOne({ deviceId })) !== null;
    return { stock, hasLastResort };
  }

  private async maxGeneration(session?: ClientSession): Promise<number> {
    const [top] = await this.generations.find({}, { session }).sort({ generation: -1 }).limit(1).toArray();
    return top?.generation ?? 0;
  }
  private envelopeUpserts(envelopes: EnvelopeRow[]): AnyBulkWriteOperation<EnvelopeRow>[] {
    return envelopes.map((e) => ({
      updateOne: {
        filter: { generation: e.generation, deviceId: e.deviceId },
        update: { $setOnInsert: { generation: e.generation, deviceId: e.deviceId, sealed: e.sealed, sealedBy: e.sealedBy, at: e.at } },
        upsert: true,
      },
    }));
  }
  async createGeneration(gen: GenerationRow, envelopes: EnvelopeRow[], kt?: KtAppend): Promise<boolean> {
    if (envelopes.some((e) => e.generation !== gen.generation)) {
      throw new Error('createGeneration: every envelope must belong to the new generation');
    }
    try {
      return await this.tx(async (session) => {
        if (gen.generation !== (await this.maxGeneration(session)) + 1) return false;
        await this.generations.insertOne({ ...gen }, { session });
        if (envelopes.length > 0) await this.envelopes.bulkWrite(this.envelopeUpserts(envelopes), { session });
        await this.appendKtIn(kt, session);
        return true;
      });
    } catch (err) {
      // a concurrent creator committed the same generation first
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }
  async currentGeneration(): Promise<number> {
    return this.maxGeneration();
  }
  async listGenerations(): Promise<GenerationRow[]> {
    return (await this.generations.find().sort({ generation: 1 }).toArray()).map(strip);
  }
  async putEnvelopes(envelopes: EnvelopeRow[]): Promise<void> {
    if (envelopes.length === 0) return;
    const gens = [...new Set(envelopes.map((e) => e.generation))];
    await this.tx(async (session) => {
      // mirrors the SQLite foreign key: an envelope for a generation nobody created is a bug upstream
      if ((await this.generations.countDocuments({ generation: { $in: gens } }, { session })) !== gens.length) {
        throw new Error('unknown generation');
      }
      const refused = await this.envelopeRefusals
        .find({ $or: envelopes.map((e) => ({ generation: e.generation, deviceId: e.deviceId, sealedBy: e.sealedBy })) }, { session })
        .toArray();
      const barred = new Set(refused.map((r) => `${r.generation}:${r.deviceId}:${r.sealedBy}`));
      const admitted = envelopes.filter((e) => !barred.has(`${e.generation}:${e.deviceId}:${e.sealedBy}`));
      if (admitted.length > 0) await this.envelopes.bulkWrite(this.envelopeUpserts(admitted), { session });
    });
  }
  async refuseEnvelope(refusal: { generation: number; deviceId: string; sealedBy: string; sealed: string }): Promise<boolean> {
    const { generation, deviceId, sealedBy, sealed } = refusal;
    return this.tx(async (session) => {
      const { deletedCount } = await this.envelopes.deleteOne({ generation, deviceId, sealedBy, sealed }, { session });
      if (deletedCount === 0) return false;
      await this.envelopeRefusals.updateOne(
        { generation, deviceId, sealedBy },
        { $setOnInsert: { generation, deviceId, sealedBy } },
        { upsert: true, session },
      );
      return true;
    });
  }
  async listEnvelopes(deviceId: string): Promise<EnvelopeRow[]> {
    return (await this.envelopes.find({ deviceId }).sort({ generation: 1 }).toArray()).map(strip);
  }
  async listEnvelopeKeys(): Promise<{ deviceId: string; generation: number }[]> {
    const docs = await this.envelopes
      .find({}, { projection: { _id: 0, deviceId: 1, generation: 1 } })
      .sort({ deviceId: 1, generation: 1 })
      .toArray();
    return docs.map((d) => ({ deviceId: d.deviceId, generation: d.generation }));
  }

  async ktSize(): Promise<number> {
    return this.ktSizeIn();
  }
  async appendKt(append: KtAppend): Promise<void> {
    await this.tx((session) => this.appendKtIn(append, session));
  }
  async readKtEntries(start: number, end: number): Promise<Uint8Array[]> {
    if (end <= start) return [];
    const docs = await this.ktEntries.find({ index: { $gte: start, $lt: end } }).sort({ index: 1 }).toArray();
    return docs.map((d) => Uint8Array.from(d.entry.value()));
  }
  async getKtEntries(indexes: number[]): Promise<Uint8Array[]> {
    if (indexes.length === 0) return [];
    const docs = await this.ktEntries.find({ index: { $in: indexes } }).toArray();
    const byIndex = new Map(docs.map((d) => [d.index, d.entry]));
    return indexes.map((i) => {
      const entry = byIndex.get(i);
      if (!entry) throw new Error(`no key-transparency entry ${i}`);
      return Uint8Array.from(entry.value());
    });
  }
  async listKtUserIndexes(userId: string): Promise<number[]> {
    const docs = await this.ktEntries.find({ userId }, { projection: { _id: 0, index: 1 } }).sort({ index: 1 }).toArray();
    return docs.map((d) => d.index);
  }
  async putCosignature(row: CosignatureRow): Promise<void> {
    // an upsert only when the stored one is older; a duplicate key means a newer (or equal) one exists
    try {
      await this.ktCosignatures.updateOne(
        { size: row.size, vkey: row.vkey, timestamp: { $lt: row.timestamp } },
        { $set: { name: row.name, line: row.line, timestamp: row.timestamp } },
        { upsert: true },
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }
  async listCosignatures(size: number): Promise<CosignatureRow[]> {
    return (await this.ktCosignatures.find({ size }).sort({ vkey: 1 }).toArray()).map(strip);
  }
  async latestCosignedSize(minWitnesses: number, vkeys?: string[]): Promise<number | undefined> {
    const [top] = await this.ktCosignatures.aggregate<{ _id: number }>([
      ...(vkeys ? [{ $match: { vkey: { $in: [...new Set(vkeys)] } } }] : []),
      { $group: { _id: '$size', n: { $sum: 1 } } },
      { $match: { n: { $gte: Math.max(1, minWitnesses) } } },
      { $sort: { _id: -1 } },
      { $limit: 1 },
    ]).toArray();
    return top?._id;
  }
}
