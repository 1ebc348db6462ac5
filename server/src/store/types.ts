/** The relay's one storage interface. Implementations: SQLite (embedded default) and MongoDB.
 * Both pass the same contract suite (`contract.ts`). Every method resolves only once its write is
 * durable, so the relay acknowledges nothing it could lose. Multi-row changes are atomic: a
 * method either applies all of its writes or none. Stored values are ciphertext, public keys and
 * routing metadata; the store never sees a key that opens content. */
import type { Role } from '@agora/protocol';

export interface OrgRow { id: string; name: string; createdAt: number }
export interface UserRow {
  id: string; name: string; role: Role; status: 'active' | 'deactivated'; createdAt: number;
}
export interface DeviceRow {
  id: string; userId: string; signPub: string; encPub: string; status: 'active' | 'revoked';
  createdAt: number; enrolledBy: 'user-invite' | 'device-invite' | 'bootstrap';
}
export interface InviteRow {
  /** hex SHA-256 of the normalised code; the code itself is never stored */
  codeHash: string;
  kind: 'user' | 'device';
  /** user invites: the person to create */
  name: string | null; role: Role | null; departmentId: string | null;
  /** device invites: the person who gets a further device */
  userId: string | null;
  /** bootstrap: the organisation's first admin invite */
  bootstrap: boolean;
  createdBy: string | null; createdAt: number; expiresAt: number; usedAt: number | null;
  /** b64u Ed25519 public key derived from the code (key transparency: it signs the enrolment). */
  invitePub: string;
  /** The device whose approval created the invite; '' for the bootstrap invite. */
  approverDeviceId: string;
  /** b64u signature of that device over inviteApprovalMessage(); 64 zero bytes for bootstrap. */
  approval: string;
}
export interface DepartmentRow { id: string; name: string; publicGroupId: string; secretGroupId: string; createdAt: number }
export interface GroupRow {
  /** Public groups only: a secret group's name is encrypted to its members and never reaches the relay. */
  id: string; name: string | null; kind: 'secret' | 'public'; departmentId: string | null;
  /** secret: current epoch, null while reserved; public: null */
  epoch: number | null;
  createdBy: string | null; createdAt: number;
  /** highest seq in the group's log, 0 when empty */
  head: number;
}
export interface LogEntryRow {
  groupId: string; seq: number; kind: 'commit' | 'record'; epoch: number; sender: string; at: number;
  payload: string; added?: string[]; removed?: string[];
}
export interface MailboxRow {
  deviceId: string; seq: number; kind: 'welcome' | 'history'; groupId: string | null;
  groupSeq: number | null; epoch: number | null; from: string; at: number; payload: string;
}
export interface GroupDeviceRow { groupId: string; deviceId: string; userId: string; sinceSeq: number }
export interface EnvelopeRow { generation: number; deviceId: string; sealed: string; sealedBy: string; at: number }
export interface GenerationRow { generation: number; createdBy: string; createdAt: number }

/** Key-transparency log entries to append in the same transaction as the change they describe. */
export type SetRoleOutcome = 'changed' | 'unchanged' | 'not_active' | 'last_admin';

export interface KtAppend {
  /** The log size the entries were computed against. If the log has grown since (another relay
   * appended), the store throws KtConflict and writes nothing, so the caller recomputes them. */
  expectedSize: number;
  /** Appended at indexes expectedSize, expectedSize + 1, …; userId for user-scoped entries. */
  entries: { entry: Uint8Array; userId: string | null }[];
}

/** Thrown inside a store transaction (rolling it back) when KtAppend.expectedSize is stale. */
export class KtConflict extends Error {
  override name = 'KtConflict';
  constructor(readonly expected: number, readonly actual: number) {
    super(`key-transparency log is at ${actual}, not ${expected}`);
  }
}

/** A record for a secret group's epoch that is no longer (or not yet) the current one. */
export class StaleEpoch extends Error {
  override name = 'StaleEpoch';
  constructor(readonly epoch: number | null) {
    super(`the group is at epoch ${epoch ?? 'none'}`);
  }
}

export function isStaleEpoch(err: unknown): err is StaleEpoch {
  return err instanceof StaleEpoch || (err instanceof Error && err.name === 'StaleEpoch');
}

export function isKtConflict(err: unknown): err is KtConflict {
  // by name too: a store may run in another module realm (jest) than its caller
  return err instanceof KtConflict || (err instanceof Error && err.name === 'KtConflict');
}

/** Thrown by a write (which then writes nothing) whose name is taken: persons, departments and
 * public groups each have unique names, compared by nameKey() (case, normal form and spacing
 * folded). A department's public group carries the department's name, so a public group cannot be
 * named like a department. */
export class NameTaken extends Error {
  override name = 'NameTaken';
  constructor(readonly kind: 'person' | 'department' | 'group', readonly taken: string) {
    super(`a ${kind} named "${taken}" exists already`);
  }
}

export function isNameTaken(err: unknown): err is NameTaken {
  return err instanceof NameTaken || (err instanceof Error && err.name === 'NameTaken');
}

export type DeleteDepartmentOutcome = 'deleted' | 'not_found' | 'has_members';
/** 'not_active': no such device, revoked already, or its person is deactivated. */
export type RevokeDeviceOutcome = 'revoked' | 'not_active' | 'last_device';

/** A witness's cosignature of the log's checkpoint of one size. */
export interface CosignatureRow {
  size: number;
  /** The witness's verifier key: its identity (names and 4-byte key ids are not unique). */
  vkey: string;
  name: string;
  /** The note signature line, with its final newline. */
  line: string;
  /** The cosignature's own timestamp (POSIX seconds). */
  timestamp: number;
}

export type RegisterOutcome =
  | { ok: true; user: UserRow; device: DeviceRow; invite: InviteRow }
  | { ok: false; reason: 'not_found' | 'used' | 'expired' | 'user_inactive' };

export type CommitOutcome =
  | { ok: true; seq: number; epoch: number }
  | { ok: false; reason: 'stale_epoch'; epoch: number }
  | { ok: false; reason: 'not_found' | 'not_member' };

export interface Store {
  readonly kind: 'sqlite' | 'mongodb';
  close(): Promise<void>;

  /** Small named values (HMAC secret for tokens, org-key rotation flag). */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** Sets only if absent; returns the value now stored (first writer wins). */
  setMetaIfAbsent(key: string, value: string): Promise<string>;

  getOrg(): Promise<OrgRow | undefined>;
  /** Creates the organisation and its bootstrap invite together; false if an org exists already. */
  bootstrapOrg(org: OrgRow, adminInvite: InviteRow): Promise<boolean>;

  createInvite(invite: InviteRow): Promise<void>;
  getInvite(codeHash: string): Promise<InviteRow | undefined>;
  /** Atomically consumes the invite (if unused and unexpired at `now`) and creates the device and,
   * for user invites, the user and their department membership. Nothing is written on failure;
   * throws NameTaken if another person has the new person's name. */
  register(input: {
    codeHash: string; now: number; userId: string; userName: string | null; device: Omit<DeviceRow, 'userId' | 'enrolledBy'>;
    /** Appended only if the registration succeeds. */
    kt?: KtAppend;
  }): Promise<RegisterOutcome>;

  getUser(id: string): Promise<UserRow | undefined>;
  listUsers(): Promise<UserRow[]>;
  /** Marks the user deactivated and revokes all their devices; returns the revoked device ids.
   * With `kt`, the call fails (writing nothing) unless the user is active and the devices it revokes
   * are exactly `kt.revoking`, so the log entries always describe what happened. */
  deactivateUser(id: string, kt?: { append: KtAppend; revoking: string[] }): Promise<string[]>;
  /** Gives an active person another role, with the ROLE_CHANGED entry appended in the same
   * transaction (KtConflict if the log moved on). 'last_admin' (taking the role of administrator
   * from the only active one), 'not_active' and 'unchanged' write nothing. */
  setUserRole(id: string, role: Role, kt: KtAppend): Promise<SetRoleOutcome>;
  /** Revokes one active device of an active person, unless it is their last active device (that is
   * a deactivation): 'last_device' and 'not_active' write nothing. With `kt`, the entries are
   * appended in the same transaction (KtConflict if the log moved on). */
  revokeDevice(deviceId: string, kt?: KtAppend): Promise<RevokeDeviceOutcome>;
  getDevice(id: string): Promise<DeviceRow | undefined>;
  listDevices(filter?: { userId?: string }): Promise<DeviceRow[]>;
  /** The directory's change counter and the people and devices whose entry (for a person: name,
   * role, status or departments; for a device: keys, owner or status) changed after `after`, read
   * together. Every such write advances the counter in its own transaction. A row may show up
   * again in a later answer; one changed after `seq` may show up already. */
  directoryChanges(after: number): Promise<{ seq: number; users: UserRow[]; devices: DeviceRow[] }>;


  /** Creates the department with its public group and its reserved (epoch null) secret group.
   * Throws NameTaken if a department or public group has the name. */
  createDepartment(dept: DepartmentRow, publicGroup: GroupRow, secretGroup: GroupRow): Promise<void>;
  getDepartment(id: string): Promise<DepartmentRow | undefined>;
  listDepartments(): Promise<DepartmentRow[]>;
  /** Adds the user to the department and joins them to its public group; idempotent. */
  addDepartmentMember(departmentId: string, userId: string): Promise<void>;
  listDepartmentMembers(departmentId: string): Promise<string[]>;
  listUserDepartments(userId: string): Promise<string[]>;
  /** Takes the user out of the department (they stay in its public group, which anyone may read,
   * until they leave it); idempotent. */
  removeDepartmentMember(departmentId: string, userId: string): Promise<void>;
  /** Renames the department and its public group together; false if there is no such department.
   * Throws NameTaken if another department or public group has the name. */
  renameDepartment(id: string, name: string): Promise<boolean>;
  /** Deletes an empty department with its public group (members and log) and its reserved secret
   * group if nobody ever created it; a created secret group belongs to its members and is kept,
   * no longer tied to the department. 'has_members' (nothing written) while anyone is in it. */
  deleteDepartment(id: string): Promise<DeleteDepartmentOutcome>;

  /** Creates a group; a secret group with a creator device starts at epoch 0 with that device.
   * Throws NameTaken if a public group's name is taken. */
  createGroup(group: GroupRow, creator?: { deviceId: string; userId: string }, kt?: KtAppend): Promise<void>;
  getGroup(id: string): Promise<GroupRow | undefined>;
  listGroups(): Promise<GroupRow[]>;
  /** Renames a public group; false if there is no such public group. Throws NameTaken. */
  renameGroup(id: string, name: string): Promise<boolean>;
  /** Deletes a group that belongs to no department, with its members and log; false if none. */
  deleteGroup(id: string): Promise<boolean>;
  /** Turns a reserved secret group into epoch 0 with this device as its only member; false if
   * someone else did first. */
  initSecretGroup(groupId: string, creator: { deviceId: string; userId: string }, now: number, kt?: KtAppend): Promise<boolean>;

  /** Public-group membership (subscription); idempotent. */
  addPublicMembers(groupId: string, userIds: string[]): Promise<void>;
  removePublicMembers(groupId: string, userIds: string[]): Promise<void>;
  listPublicMembers(groupId: string): Promise<string[]>;
  /** Secret-group member devices as routed by the relay. */
  listGroupDevices(groupId: string): Promise<GroupDeviceRow[]>;
  getGroupDevice(groupId: string, deviceId: string): Promise<GroupDeviceRow | undefined>;
  /** Groups (secret and public) the user is a member of. */
  listUserGroupIds(userId: string): Promise<string[]>;

  /** Appends the commit if `expectedEpoch` is the group's current epoch and the sender is a member
   * device: bumps the epoch, adds/removes member devices (each added device with its user id and
   * `sinceSeq` = the commit's seq), and puts one Welcome item into each added device's mailbox.
   * All or nothing. */
  applyCommit(input: {
    groupId: string; expectedEpoch: number; sender: string; at: number; payload: string;
    added: { deviceId: string; userId: string }[]; removed: string[]; welcome: string | null;
    /** Appended only if the commit is accepted. */
    kt?: KtAppend;
  }): Promise<CommitOutcome>;
  /** Appends a content record; returns its seq. With `expectEpoch`, throws StaleEpoch (writing nothing) unless the group is at that epoch when
   * the record is written, so no commit can slip in between the relay's check and the write. */
  appendRecord(input: { groupId: string; epoch: number; sender: string; at: number; payload: string; expectEpoch?: number }): Promise<number>;
  readLog(groupId: string, afterSeq: number, limit: number): Promise<LogEntryRow[]>;

  appendMailbox(item: Omit<MailboxRow, 'seq'>): Promise<number>;
  readMailbox(deviceId: string, afterSeq: number, limit: number): Promise<MailboxRow[]>;

  addKeyPackages(deviceId: string, packages: string[], lastResort: string | null): Promise<void>;
  /** Atomically removes and returns one package of the device, or returns its last-resort package
   * (kept) when none is left; undefined when it has neither. */
  claimKeyPackage(deviceId: string): Promise<{ keyPackage: string; lastResort: boolean } | undefined>;
  keyPackageStock(deviceId: string): Promise<{ stock: number; hasLastResort: boolean }>;

  /** Creates generation `g` with its envelopes if `g` is exactly current + 1; false otherwise. */
  createGeneration(gen: GenerationRow, envelopes: EnvelopeRow[], kt?: KtAppend): Promise<boolean>;
  currentGeneration(): Promise<number>;
  listGenerations(): Promise<GenerationRow[]>;
  /** Stores envelopes; an envelope for a (generation, device) that exists already is left as is, and
   * so is one from a sealer that device refused for that generation (refuseEnvelope). */
  putEnvelopes(envelopes: EnvelopeRow[]): Promise<void>;
  /** The recipient device refused its envelope for `generation`: drops it if it is still exactly the
   * one reported (same sealer, same sealed text), so the device is pending again and a colleague's
   * device seals the generation anew, and remembers the refusal so the same sealer cannot fill the
   * place again. True if an envelope was dropped. */
  refuseEnvelope(refusal: { generation: number; deviceId: string; sealedBy: string; sealed: string }): Promise<boolean>;
  listEnvelopes(deviceId: string): Promise<EnvelopeRow[]>;
  /** Every (device, generation) pair that has an envelope — the relay derives the pending queue. */
  listEnvelopeKeys(): Promise<{ deviceId: string; generation: number }[]>;

  /** Key-transparency log: the number of entries (= the next index). */
  ktSize(): Promise<number>;
  /** Appends entries on their own (tests, benchmarks); the relay appends with the change they describe. */
  appendKt(append: KtAppend): Promise<void>;
  /** Entries at indexes start ≤ i < end, in order (fewer if the log is shorter). */
  readKtEntries(start: number, end: number): Promise<Uint8Array[]>;
  /** The entries at the given indexes, in the order asked; throws if one does not exist. */
  getKtEntries(indexes: number[]): Promise<Uint8Array[]>;
  /** Indexes of the user's entries, ascending. */
  listKtUserIndexes(userId: string): Promise<number[]>;
  /** Keeps one cosignature per (size, witness key): a newer timestamp replaces an older one. */
  putCosignature(row: CosignatureRow): Promise<void>;
  /** Cosignatures of checkpoints of exactly this size, ordered by witness key. */
  listCosignatures(size: number): Promise<CosignatureRow[]>;
  /** The largest checkpoint size with at least `minWitnesses` cosignatures, if any; with `vkeys`,
   * counting only cosignatures by those witness keys. */
  latestCosignedSize(minWitnesses: number, vkeys?: string[]): Promise<number | undefined>;
}
