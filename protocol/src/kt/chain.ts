/** Replays one person's entries in the key-transparency log and says which device keys they hold:
 * the per-user hash chain, every signature (the device's own proof of possession, the invite
 * key's, the approving device's), who may approve what, and revocations. Shared by clients (who
 * verify the people they are about to trust) and the security officer's audit (who replays
 * everyone). Pure and isomorphic; approvers from other people's chains come through a lookup the
 * caller has itself verified. */
import { verify } from '../crypto/device-keys.js';
import { bytesEqual } from '../encoding.js';
import {
  decodeEntry,
  deviceApprovalMessage,
  deviceEnrolmentMessage,
  deviceSetHash,
  entryHash,
  inviteApprovalMessage,
  isUserEntry,
  roleChangeMessage,
  ZERO_HASH,
  type DeviceAddedEntry,
  type DeviceApprovedEntry,
  type EnrolVia,
  type KtRole,
  type RoleChangedEntry,
  type UserEntry,
} from './entries.js';

export type ChainErrorCode =
  | 'malformed'
  | 'wrong_user'
  | 'bad_chain'
  | 'bad_signature'
  | 'unauthorised'
  | 'bad_sequence';

export class ChainError extends Error {
  override name = 'ChainError';
  constructor(readonly code: ChainErrorCode, message: string, readonly index?: number) {
    super(message);
  }
}

export interface ChainDevice {
  deviceId: string;
  signPub: Uint8Array;
  encPub: Uint8Array;
  via: EnrolVia;
  /** The device that approved its invite ('' for the bootstrap admin). */
  approverDeviceId: string;
  approverUserId: string;
  addedIndex: number;
  addedAt: number;
  revokedIndex: number | null;
  /** Log position from which the person's own devices vouch for this one, null while they do not:
   * its enrolment if it was the person's only active device or came through a link of one of
   * their approved devices, else the DEVICE_APPROVED entry one of those devices wrote for it. A
   * device put on the account with someone else's invite (an administrator's) stays null until
   * then, and members do not add it to the person's secret groups. */
  approvedIndex: number | null;
}

/** A person's role from log position `index` on (their creation, then each ROLE_CHANGED entry). */
export interface RoleSpan {
  index: number;
  role: KtRole;
  /** The device that approved it ('' for the role the person was created with). */
  approverDeviceId: string;
}

export interface UserChain {
  userId: string;
  name: string;
  /** The current role: the last of `roles`. */
  role: KtRole;
  /** Every role the person held, oldest first: what an approval at an earlier position is checked
   * against (an administrator demoted later still approved the invites they approved before). */
  roles: RoleSpan[];
  /** Hex of every role-change nonce in this chain, so a change signed once is applied once. */
  roleNonces: string[];
  /** The device USER_CREATED names as approving the person ('' for the bootstrap admin). */
  approvedByDevice: string;
  status: 'active' | 'deactivated';
  userSeq: number;
  /** entryHash of the latest entry: what the next entry's prevHash and a snapshot leaf must name. */
  head: Uint8Array;
  createdIndex: number;
  /** Log position of the latest entry. */
  lastIndex: number;
  deactivatedIndex: number | null;
  devices: ChainDevice[];
}

/** A device of another person, as the caller verified it, at log position `index`: `role` is the
 * role its person held at that position (roleAt), not necessarily their current one. */
export type ApproverLookup = (deviceId: string, index: number) => Promise<{ userId: string; role: KtRole; signPub: Uint8Array; active: boolean } | undefined>;

export function activeDevices(chain: UserChain): ChainDevice[] {
  return chain.status === 'active' ? chain.devices.filter((d) => d.revokedIndex === null) : [];
}

export function chainDeviceSetHash(chain: UserChain): Uint8Array {
  return deviceSetHash(chain.devices.filter((d) => d.revokedIndex === null));
}

/** Whether device `d` of this chain was active at log position `index`. */
function activeAt(d: ChainDevice, index: number): boolean {
  return d.addedIndex < index && (d.revokedIndex === null || d.revokedIndex > index);
}

/** Applies one entry of `userId` (already decoded) to the chain so far. */
export async function applyUserEntry(
  chain: UserChain | undefined,
  input: { index: number; bytes: Uint8Array; entry: UserEntry },
  approver: ApproverLookup,
): Promise<UserChain> {
  const { index, bytes, entry } = input;
  const fail = (code: ChainErrorCode, message: string): never => {
    throw new ChainError(code, message, index);
  };
  const expectedSeq = (chain?.userSeq ?? 0) + 1;
  if (entry.userSeq !== expectedSeq) fail('bad_sequence', `entry ${entry.userSeq} of this person where ${expectedSeq} was expected`);
  if (!bytesEqual(entry.prevHash, chain?.head ?? ZERO_HASH)) fail('bad_chain', "an entry does not link to this person's previous entry");
  if (chain && index <= chain.lastIndex) fail('bad_sequence', 'entries out of log order');

  if (entry.type === 'user-created') {
    if (chain) fail('bad_sequence', 'a person created twice');
    return {
      userId: entry.userId,
      name: entry.name,
      role: entry.role,
      roles: [{ index, role: entry.role, approverDeviceId: entry.approvedByDevice }],
      roleNonces: [],
      approvedByDevice: entry.approvedByDevice,
      status: 'active',
      userSeq: entry.userSeq,
      head: entryHash(bytes),
      createdIndex: index,
      lastIndex: index,
      deactivatedIndex: null,
      devices: [],
    };
  }
  if (!chain) return fail('bad_sequence', "a person's first entry must create them");
  const next: UserChain = { ...chain, devices: chain.devices.map((d) => ({ ...d })), userSeq: entry.userSeq, head: entryHash(bytes), lastIndex: index };

  if (entry.type === 'device-added') {
    if (chain.status !== 'active') fail('unauthorised', 'a device was added to a deactivated person');
    if (chain.devices.some((d) => d.deviceId === entry.deviceId)) fail('bad_sequence', 'a device added twice');
    const approverUserId = await checkEnrolment(chain, entry, index, approver, fail);
    const sole = activeDevices(chain).length === 0;
    const linker = chain.devices.find((d) => d.deviceId === entry.approverDeviceId);
    const vouched = linker !== undefined && linker.revokedIndex === null && linker.approvedIndex !== null;
    next.devices.push({
      deviceId: entry.deviceId,
      signPub: entry.signPub,
      encPub: entry.encPub,
      via: entry.via,
      approverDeviceId: entry.approverDeviceId,
      approverUserId,
      addedIndex: index,
      addedAt: entry.time,
      revokedIndex: null,
      approvedIndex: sole || vouched ? index : null,
    });
    return next;
  }
  if (entry.type === 'device-approved') {
    if (chain.status !== 'active') fail('unauthorised', 'a device of a deactivated person was approved');
    await checkApproval(next, entry, index, fail);
    return next;
  }
  if (entry.type === 'role-changed') {
    await checkRoleChange(next, entry, index, approver, fail);
    next.role = entry.role;
    next.roles = [...chain.roles, { index, role: entry.role, approverDeviceId: entry.approverDeviceId }];
    return next;
  }
  if (entry.type === 'device-revoked') {
    const d = next.devices.find((x) => x.deviceId === entry.deviceId);
    if (!d) return fail('bad_sequence', 'an unknown device was revoked');
    if (d.revokedIndex !== null) fail('bad_sequence', 'a device revoked twice');
    d.revokedIndex = index;
    return next;
  }
  if (chain.status !== 'active') fail('bad_sequence', 'a person deactivated twice');
  next.status = 'deactivated';
  next.deactivatedIndex = index;
  return next;
}

async function checkEnrolment(
  chain: UserChain,
  entry: DeviceAddedEntry,
  index: number,
  approver: ApproverLookup,
  fail: (code: ChainErrorCode, message: string) => never,
): Promise<string> {
  const enrolment = deviceEnrolmentMessage({ userId: entry.userId, deviceId: entry.deviceId, signPub: entry.signPub, encPub: entry.encPub });
  if (!(await verify(entry.signPub, enrolment, entry.deviceSig))) fail('bad_signature', 'a device did not prove it holds its key');
  if (!(await verify(entry.invitePub, enrolment, entry.inviteSig))) fail('bad_signature', 'a device was enrolled without its invite');
  const first = chain.devices.length === 0;
  if (entry.via === 'bootstrap') {
    // Only the organisation's first person, an admin created without an approver, enrols this way.
    if (!first || chain.createdIndex !== 0 || chain.roles[0].role !== 'admin' || chain.approvedByDevice !== '') {
      fail('unauthorised', 'a bootstrap enrolment other than the first admin');
    }
    return '';
  }
  // The person's creation names the same approver as the invite their first device used.
  if (first && entry.approverDeviceId !== chain.approvedByDevice) fail('unauthorised', "a person's creation and first device name different approvers");
  if (entry.via === 'user-invite' && !first) fail('unauthorised', "a new person's invite used for a further device");
  if (entry.via === 'device-invite' && first) fail('unauthorised', "a further-device invite used for a person's first device");
  const message =
    entry.via === 'user-invite'
      ? inviteApprovalMessage({ invitePub: entry.invitePub, kind: 'user', name: chain.name, role: chain.roles[0].role })
      : inviteApprovalMessage({ invitePub: entry.invitePub, kind: 'device', userId: entry.userId });
  const own = chain.devices.find((d) => d.deviceId === entry.approverDeviceId);
  if (own) {
    if (entry.via !== 'device-invite' || !activeAt(own, index)) fail('unauthorised', 'an invite approved by a device that could not approve it');
    if (!(await verify(own.signPub, message, entry.approval))) fail('bad_signature', "an invite approval does not verify");
    return chain.userId;
  }
  const other = await approver(entry.approverDeviceId, index);
  if (!other) return fail('unauthorised', 'an invite approved by a device the log does not show');
  if (other.role !== 'admin' || !other.active) fail('unauthorised', 'an invite approved by someone who is not an active admin');
  if (!(await verify(other.signPub, message, entry.approval))) fail('bad_signature', 'an invite approval does not verify');
  return other.userId;
}

/** A DEVICE_APPROVED entry: an active, approved device of the same person vouches, with its
 * signature over the logged keys, for another active device not yet approved. Marks it approved. */
async function checkApproval(next: UserChain, entry: DeviceApprovedEntry, index: number, fail: (code: ChainErrorCode, message: string) => never): Promise<void> {
  const d = next.devices.find((x) => x.deviceId === entry.deviceId);
  if (!d || d.revokedIndex !== null) return fail('bad_sequence', 'an approval of a device that is not active');
  if (d.approvedIndex !== null) fail('bad_sequence', 'a device approved twice');
  const by = next.devices.find((x) => x.deviceId === entry.approverDeviceId);
  if (!by || by === d || by.revokedIndex !== null || by.approvedIndex === null) {
    fail('unauthorised', "a device approved by one that is not the person's own approved, active device");
  }
  const message = deviceApprovalMessage({ userId: next.userId, deviceId: d.deviceId, signPub: d.signPub, encPub: d.encPub });
  if (!(await verify(by!.signPub, message, entry.signature))) fail('bad_signature', 'a device approval does not verify');
  d.approvedIndex = index;
}

/** The role a person held at log position `index` (the span that began before it). */
export function roleAt(roles: readonly { index: number; role: KtRole }[], index: number): KtRole | undefined {
  let role: KtRole | undefined;
  for (const r of roles) if (r.index < index) role = r.role;
  return role;
}

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** A ROLE_CHANGED entry: signed, over this person, role and a nonce not used in their chain before,
 * by a device that was active at this position and whose person was an administrator then (the
 * person's own device when an administrator changes their own role). A person who is deactivated
 * keeps the role they left with. */
async function checkRoleChange(
  next: UserChain,
  entry: RoleChangedEntry,
  index: number,
  approver: ApproverLookup,
  fail: (code: ChainErrorCode, message: string) => never,
): Promise<void> {
  if (next.status !== 'active') fail('unauthorised', 'the role of a deactivated person was changed');
  if (entry.role === next.role) fail('bad_sequence', 'a role change to the role the person has');
  const nonce = hexOf(entry.nonce);
  if (next.roleNonces.includes(nonce)) fail('bad_sequence', 'a role change replayed');
  const message = roleChangeMessage({ userId: next.userId, role: entry.role, nonce: entry.nonce });
  const own = next.devices.find((d) => d.deviceId === entry.approverDeviceId);
  let signPub: Uint8Array;
  if (own) {
    if (!activeAt(own, index) || roleAt(next.roles, index) !== 'admin') fail('unauthorised', 'a role change approved by someone who is not an active admin');
    signPub = own.signPub;
  } else {
    const other = await approver(entry.approverDeviceId, index);
    if (!other) return fail('unauthorised', 'a role change approved by a device the log does not show');
    if (other.role !== 'admin' || !other.active) fail('unauthorised', 'a role change approved by someone who is not an active admin');
    signPub = other.signPub;
  }
  if (!(await verify(signPub, message, entry.signature))) fail('bad_signature', 'a role change signature does not verify');
  next.roleNonces = [...next.roleNonces, nonce];
}

/** Replays a person's whole chain from their entries (in log order). */
export async function replayUser(userId: string, entries: { index: number; bytes: Uint8Array }[], approver: ApproverLookup): Promise<UserChain> {
  let chain: UserChain | undefined;
  for (const e of [...entries].sort((a, b) => a.index - b.index)) {
    let entry;
    try {
      entry = decodeEntry(e.bytes);
    } catch {
      throw new ChainError('malformed', 'an entry of the log cannot be read', e.index);
    }
    if (!isUserEntry(entry) || entry.userId !== userId) throw new ChainError('wrong_user', 'the log served an entry of someone else', e.index);
    chain = await applyUserEntry(chain, { index: e.index, bytes: e.bytes, entry }, approver);
  }
  if (!chain) throw new ChainError('malformed', 'the log has no entries for this person');
  return chain;
}
