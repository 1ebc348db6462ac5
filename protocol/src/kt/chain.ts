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
  ZERO_HASH,
  type DeviceAddedEntry,
  type DeviceApprovedEntry,
  type EnrolVia,
  type KtRole,
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

export interface UserChain {
  userId: string;
  name: string;
  role: KtRole;
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

/** A device of another person, as the caller verified it, at log position `index`. */
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
    if (!first || chain.createdIndex !== 0 || chain.role !== 'admin' || chain.approvedByDevice !== '') {
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
      ? inviteApprovalMessage({ invitePub: entry.invitePub, kind: 'user', name: chain.name, role: chain.role })
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
