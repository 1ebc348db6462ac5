/** The user-level operations AgoraClient exposes, one generator each (see docs/sdk.md). */
import * as api from '@agora/protocol/api';
import { sameName } from '@agora/protocol/names';
import { fromB64u, newId, toB64u } from '@agora/protocol/encoding';
import { generateInviteCode, inviteHash } from '@agora/protocol/signing';
import { deviceApprovalMessage, inviteApprovalMessage, inviteKeyPair, type InviteApproval } from '@agora/protocol/kt/entries';
import { AgoraError } from '../core/errors.js';
import type { Alarm } from '../core/state.js';
import { membershipCheckFor } from '../core/membership.js';
import type { Policy } from '@agora/protocol/kt/policy';
import { sign } from '@agora/protocol/crypto/device-keys';
import { exportContentKey } from '../mls/index.js';
import { type Op, ask } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import type { GroupSummary, MessageView, SyncReport, VerifiedPerson } from './types.js';
import { approvedDevicesOf, device, fetchSync, identity, nameOf, refreshDirectory, resolveUser, resolveUsers } from './directory.js';
import { checkedMeta, fetchGroups, findGroup, groupOfMine, localGroup, named, resolveDepartment, summary } from './groups.js';
import { syncMailbox } from './mailbox.js';
import { changeSecretMembers, commitChange, founded, logEpochOf, maintainSecretGroup, mayChangeOthers, treeMembers, signMembership, updateCommit } from './membership.js';
import { syncOrgKeys } from './orgkeys.js';
import { sendMeta, syncGroupLog, view } from './records.js';
import { syncUnlocked } from './sync.js';

export async function* listGroups(mc: Machine): Op<GroupSummary[]> {
  let groups = yield* fetchGroups(mc);
  // Secret groups this device belongs to but has no name for yet (just joined): the name is
  // in their logs.
  const unnamed = groups.filter((g) => g.kind === 'secret' && g.isMember && !mc.state.groups[g.id]?.metaSeq);
  if (unnamed.length > 0) {
    yield* syncMailbox(mc);
    for (const g of unnamed) if (groupOfMine(mc, g)) yield* syncGroupLog(mc, g.id);
    groups = groups.map((g) => named(mc, g, groups));
  }
  return groups.map((g) => summary(mc, g));
}

export async function* groupMembers(mc: Machine, groupRef: string): Op<{ id: string; name: string; devices: string[]; owner: boolean }[]> {
  yield* refreshDirectory(mc);
  const g = yield* findGroup(mc, groupRef);
  const view = yield* ask(req.group(g.id));
  if (g.kind === 'secret') {
    yield* syncMailbox(mc);
    yield* syncGroupLog(mc, g.id);
  }
  // Owners as this device's own processing of the group's commits established them.
  const owners = g.kind === 'secret' ? (mc.state.groups[g.id]?.owners ?? []) : [];
  return view.members.map((u) => ({
    id: u,
    name: nameOf(mc, u),
    devices: view.kind === 'secret' ? view.memberDevices.filter((d) => device(mc, d)?.userId === u) : [],
    owner: owners.includes(u),
  }));
}

export async function* createGroup(mc: Machine, input: { name: string; kind: 'secret' | 'public'; department?: string; description?: string }): Op<GroupSummary> {
  const meta = checkedMeta(mc, input.name, input.description);
  if (input.kind === 'public' && input.description !== undefined) {
    throw new AgoraError('usage', 'description: only a secret group carries one (encrypted with its name)');
  }
  let departmentId: string | undefined;
  if (input.department) departmentId = yield* resolveDepartment(mc, input.department);
  if (input.kind === 'secret') {
    // The relay cannot keep secret-group names unique (it never sees them), so the client
    // refuses a name it can already see: groups, and departments (whose groups carry theirs).
    const clash = (yield* fetchGroups(mc)).find((x) => sameName(x.name, meta.name));
    if (clash) throw new AgoraError('conflict', `a group named "${clash.name}" exists already: choose another name`);
  }
  // A secret group's creator names it, to sign its first membership (itself, epoch 0).
  const id = input.kind === 'secret' ? newId('g', mc.random) : undefined;
  const state = id ? await (await mc.mls()).createGroup(id, identity(mc)) : undefined;
  const membership = id && state ? await signMembership(mc, id, 0, state) : undefined;
  // A secret group's name goes only into its log, encrypted (below); the relay gets none.
  const g = yield* ask(req.createGroup({ id, name: id ? undefined : meta.name, kind: input.kind, departmentId, membership }));
  const local = localGroup(mc, g);
  if (g.kind === 'secret' && state) {
    local.mls = toB64u(state);
    local.epochKeys['0'] = toB64u(await exportContentKey(state));
    local.membershipChecks.push(await membershipCheckFor(state, 0, mc.state.deviceId));
    founded(mc, local);
    yield* sendMeta(mc, g.id, meta);
    // This person's other devices join at once.
    yield* refreshDirectory(mc);
    yield* maintainSecretGroup(mc, g);
  }
  return { id: g.id, name: meta.name, kind: g.kind, departmentId: g.departmentId, isMember: true, epoch: g.epoch, members: 1 };
}

/** Renames a group. A public group: on the relay (its administrators or creator). A secret group:
 * a new meta record in its log, which members accept from its owners only. */
export async function* renameGroup(mc: Machine, groupRef: string, name: string, description?: string): Op<GroupSummary> {
  const meta = checkedMeta(mc, name, description);
  const groups = yield* fetchGroups(mc);
  const g = yield* findGroup(mc, groupRef);
  if (g.kind === 'public') {
    if (description !== undefined) throw new AgoraError('usage', 'description: only a secret group carries one (encrypted with its name)');
    const v = named(mc, yield* ask(req.renameGroup(g.id, meta.name)));
    return summary(mc, v);
  }
  if (!groupOfMine(mc, g)) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
  yield* syncGroupLog(mc, g.id);
  const local = localGroup(mc, g);
  if (local.owners.length > 0 && !local.owners.includes(mc.state.userId)) {
    throw new AgoraError('forbidden', `only an owner of "${g.name}" may rename it`);
  }
  const clash = groups.find((x) => x.id !== g.id && sameName(x.name, meta.name));
  if (clash) throw new AgoraError('conflict', `a group named "${clash.name}" exists already: choose another name`);
  // A rename without a description keeps the one the group has.
  yield* sendMeta(mc, g.id, description === undefined && local.description !== null ? { ...meta, description: local.description } : meta);
  return summary(mc, { ...g, name: meta.name });
}

/** Deletes a public group that belongs to no department (its administrators or creator). */
export async function* deleteGroup(mc: Machine, groupRef: string): Op<void> {
  const g = yield* findGroup(mc, groupRef);
  yield* ask(req.deleteGroup(g.id));
  delete mc.state.groups[g.id];
}

export async function* removeDepartmentMember(mc: Machine, deptRef: string, userRef: string): Op<void> {
  yield* refreshDirectory(mc);
  const departmentId = yield* resolveDepartment(mc, deptRef);
  yield* ask(req.removeDepartmentMember(departmentId, (yield* resolveUser(mc, userRef)).id));
}

/** Adds people to a group: a public group on the relay; a secret group by a commit adding their
 * devices the log proves and their own devices vouch for (fail closed otherwise). */
export async function* addMembers(mc: Machine, groupRef: string, userRefs: string[]): Op<void> {
  yield* refreshDirectory(mc);
  const g = yield* findGroup(mc, groupRef);
  const users = yield* resolveUsers(mc, userRefs);
  for (const u of users) if (u.status !== 'active') throw new AgoraError('forbidden', `${u.name} is deactivated`);
  if (g.kind === 'public') {
    yield* ask(req.addPublicMembers(g.id, users.map((u) => u.id)));
    return;
  }
  // Fail closed: nobody is added to a secret group with keys the log does not prove.
  const unverified = yield* mc.trust.ensureUsers(users.map((u) => u.id));
  if (unverified.length > 0) {
    const names = unverified.map((id) => nameOf(mc, id)).join(', ');
    throw new AgoraError('forbidden', `not adding ${names}: their keys could not be verified in the key-transparency log${mc.trust.raised.length ? ` (${mc.trust.raised.at(-1)!.message})` : ''}`);
  }
  // Nobody is silently left out: a person none of whose devices may join is an error.
  const noDevice = users.filter((u) => approvedDevicesOf(mc, u.id).length === 0);
  if (noDevice.length > 0) {
    throw new AgoraError('forbidden', `not adding ${noDevice.map((u) => nameOf(mc, u.id)).join(', ')}: no active device of theirs is approved by their own devices`);
  }
  yield* syncOrgKeys(mc); // a colleague's duty: hand the organisation key to waiting devices
  yield* changeSecretMembers(mc, g, (members) => ({
    add: users.flatMap((u) => approvedDevicesOf(mc, u.id)).filter((d) => !members.has(d.id)),
    remove: [],
  }));
}

/** Removes people from a group: a public group on the relay; a secret group by a commit removing
 * all their devices. */
export async function* removeMembers(mc: Machine, groupRef: string, userRefs: string[]): Op<void> {
  yield* refreshDirectory(mc);
  const g = yield* findGroup(mc, groupRef);
  const users = yield* resolveUsers(mc, userRefs);
  if (g.kind === 'public') {
    yield* ask(req.removePublicMembers(g.id, users.map((u) => u.id)));
    return;
  }
  if (users.some((u) => u.id === mc.state.userId)) {
    throw new AgoraError('usage', 'you cannot remove yourself with this device; ask another member to remove you');
  }
  const ids = new Set(users.map((u) => u.id));
  yield* changeSecretMembers(mc, g, (_members, tree) => ({ add: [], remove: tree.filter((m) => ids.has(m.userId)).map((m) => m.deviceId) }));
}

/** Sends an update commit now (`agora group update`): a fresh leaf for this device, so a copy of
 * its group state taken before stops following the group. */
export async function* updateGroup(mc: Machine, groupRef: string): Op<{ epoch: number }> {
  const g = yield* findGroup(mc, groupRef);
  if (g.kind !== 'secret') throw new AgoraError('usage', `"${g.name}" is a public group: only secret groups have update commits`);
  yield* syncMailbox(mc);
  yield* updateCommit(mc, g);
  return { epoch: logEpochOf(mc, mc.state.groups[g.id]) };
}

/** Names another owner of a secret group (`agora group owner add`); only an owner may. The new
 * owner set travels in an update commit, so every member applies it at the same place in the log. */
export async function* addOwner(mc: Machine, groupRef: string, userRef: string): Op<{ owners: string[] }> {
  yield* refreshDirectory(mc);
  const g = yield* findGroup(mc, groupRef);
  if (g.kind !== 'secret') throw new AgoraError('usage', `"${g.name}" is a public group: owners exist in secret groups`);
  const [user] = yield* resolveUsers(mc, [userRef]);
  yield* syncMailbox(mc);
  for (let attempt = 0; attempt < 8; attempt++) {
    yield* syncGroupLog(mc, g.id);
    const local = mc.state.groups[g.id];
    if (!local?.mls || local.removed) throw new AgoraError('not_a_member', `this device is not a member of "${g.name}"`);
    if (!mayChangeOthers(mc, local)) throw new AgoraError('forbidden', `only an owner of "${g.name}" may name owners`);
    if (!treeMembers(mc, local.mls).some((m) => m.userId === user.id)) throw new AgoraError('usage', `${user.name} is not a member of "${g.name}": add them first`);
    const owners = [...new Set([...local.owners, mc.state.userId, user.id])].sort();
    try {
      yield* commitChange(mc, g.id, [], [], { update: true, owners });
      return { owners };
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'stale_epoch') continue;
      throw e;
    }
  }
  throw new AgoraError('conflict', `"${g.name}" is changing too fast; try again`);
}

/** Leaves a public group (the relay lets anyone take themselves out). A secret group cannot be left
 * from the inside: a member's device cannot commit its own removal, so an owner removes them. */
export async function* leaveGroup(mc: Machine, groupRef: string): Op<void> {
  const g = yield* findGroup(mc, groupRef);
  if (g.kind === 'secret') throw new AgoraError('usage', `"${g.name}" is a secret group: ask one of its owners to remove you`);
  if (!g.isMember) throw new AgoraError('not_a_member', `you are not a member of "${g.name}"`);
  yield* ask(req.removePublicMembers(g.id, [mc.state.userId]));
}

export async function* joinGroup(mc: Machine, groupRef: string): Op<void> {
  const g = yield* findGroup(mc, groupRef);
  if (g.kind === 'secret') throw new AgoraError('forbidden', `"${g.name}" is a secret group: only its members can add you`);
  yield* ask(req.joinGroup(g.id));
  localGroup(mc, g);
}

/** A group's messages as this device holds them after catching up (a full sync of that group). */
export async function* read(mc: Machine, groupRef: string): Op<{ group: GroupSummary; messages: MessageView[]; warnings: string[] }> {
  const answer = yield* fetchSync(mc);
  const g = yield* findGroup(mc, groupRef, answer);
  if (g.kind === 'secret' && !groupOfMine(mc, g)) {
    // A Welcome may be waiting.
    yield* syncMailbox(mc, answer.mailbox);
    if (!groupOfMine(mc, g)) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
  }
  const report = yield* syncUnlocked(mc, g.id, answer);
  const local = mc.state.groups[g.id];
  const messages = (local?.messages ?? []).slice().sort((a, b) => a.seq - b.seq).map((m) => view(mc, m));
  const rejected = (local?.rejected ?? []).map((r) => `${g.name}: entry ${r.seq} from device ${r.sender} was refused: ${r.reason}`);
  return {
    group: { id: g.id, name: g.name, kind: g.kind, departmentId: g.departmentId, isMember: true, epoch: g.epoch, members: g.members.length },
    messages,
    warnings: [...report.warnings, ...rejected],
  };
}

/** The messages this device holds for a group, oldest first, from its own state: no request and no
 * catch-up (`read` does that). Empty for a group it never read. A local full-text index fills
 * itself from here without a request per group. */
export function storedMessages(mc: Machine, groupId: string): (MessageView & { seq: number })[] {
  const local = mc.state.groups[groupId];
  return (local?.messages ?? []).slice().sort((a, b) => a.seq - b.seq).map((m) => ({ ...view(mc, m), seq: m.seq }));
}

export async function* createInvite(mc: Machine, input: { name: string; department?: string; role?: api.Role; newPerson?: boolean }): Op<{ code: string; expiresAt: number; kind: 'user' | 'device'; userId?: string }> {
  yield* refreshDirectory(mc);
  const existing = input.newPerson ? [] : mc.state.directory.users.filter((u) => sameName(u.name, input.name) && u.status === 'active');
  if (existing.length === 1 && !input.department && !input.role) {
    const inv = yield* issueInvite(mc, { kind: 'device', userId: existing[0].id });
    return { ...inv, userId: existing[0].id };
  }
  const departmentId = input.department ? (yield* resolveDepartment(mc, input.department)) : undefined;
  return yield* issueInvite(mc, { kind: 'user', name: input.name, departmentId, role: input.role ?? 'member' });
}

/** Vouches for another device of this person that somebody else's invite (an administrator's)
 * put on the account, so that it joins this person's secret groups. Signed over the keys the
 * key-transparency log shows for it, never over what the relay's directory says. */
export async function* approveDevice(mc: Machine, deviceId: string): Op<{ deviceId: string }> {
  yield* refreshDirectory(mc);
  const me = mc.state.userId;
  if ((yield* mc.trust.ensureUsers([me])).length > 0) {
    throw new AgoraError('forbidden', 'your own entries in the key-transparency log could not be verified: not approving anything');
  }
  const devices = mc.state.kt.users[me].devices;
  const target = devices.find((d) => d.deviceId === deviceId);
  if (!target) throw new AgoraError('not_found', `the key-transparency log shows no device ${deviceId} of yours`);
  if (target.revokedIndex !== null) throw new AgoraError('usage', `device ${deviceId} is revoked`);
  if (target.approvedIndex != null) throw new AgoraError('conflict', `device ${deviceId} is approved already`);
  if (devices.find((d) => d.deviceId === mc.state.deviceId)?.approvedIndex == null) {
    throw new AgoraError('forbidden', 'this device was not approved by you itself: approve devices from one that was');
  }
  const message = deviceApprovalMessage({ userId: me, deviceId, signPub: fromB64u(target.signPub), encPub: fromB64u(target.encPub) });
  yield* ask(req.approveDevice(deviceId, toB64u(await sign(fromB64u(mc.state.keys.signSeed), message))));
  // This device adds it to the groups it is in at once (after verifying the grown log again);
  // other members on their next sync.
  mc.trust.begin();
  yield* syncUnlocked(mc);
  return { deviceId };
}

/** Revokes one device (a lost or stolen phone) of this person, or of anyone from an
 * administrator's device. The relay refuses the device at once; what follows comes from the
 * log's DEVICE_REVOKED entry, which this device then checks is really there: members remove the
 * device from their secret groups, this person's other devices send update commits in theirs,
 * and the organisation key rotates. A device may revoke itself (then nothing more runs here). */
export async function* revokeDevice(mc: Machine, deviceId: string): Op<{ deviceId: string; userId: string }> {
  if (!api.DeviceId.safeParse(deviceId).success) throw new AgoraError('usage', `"${deviceId}" is not a device id (d_…)`);
  const res = yield* ask(req.revokeDevice(deviceId));
  if (deviceId === mc.state.deviceId) return { deviceId, userId: res.userId };
  mc.trust.begin();
  yield* syncUnlocked(mc);
  yield* mc.trust.ensureUsers([res.userId]);
  if (mc.trust.device(deviceId)?.active !== false) {
    const a = mc.trust.alarm('revocation_missing', `the relay said device ${deviceId} is revoked, but the key-transparency log does not show it: members keep it in their groups`);
    throw new AgoraError('forbidden', a.message);
  }
  return { deviceId, userId: res.userId };
}

export async function* addDepartmentMember(mc: Machine, deptRef: string, userRef: string): Op<void> {
  yield* refreshDirectory(mc);
  const departmentId = yield* resolveDepartment(mc, deptRef);
  yield* ask(req.addDepartmentMember(departmentId, (yield* resolveUser(mc, userRef)).id));
}

export async function* directory(mc: Machine): Op<api.DirectoryResponse> {
  yield* refreshDirectory(mc);
  return mc.state.directory;
}

/** Deactivates a person: the relay revokes their devices at once; this admin device then rotates
 * the organisation key so they cannot read new public content, and removes them from the secret
 * groups it is in (other groups' members do so on their next sync). */
export async function* deactivate(mc: Machine, userRef: string): Op<{ revokedDevices: string[] }> {
  yield* refreshDirectory(mc);
  const user = yield* resolveUser(mc, userRef);
  if (user.id === mc.state.userId) throw new AgoraError('usage', 'you cannot deactivate yourself');
  const res = yield* ask(req.deactivate(user.id));
  yield* syncUnlocked(mc);
  return { revokedDevices: res.revokedDevices };
}

/** Verifies a person's keys in the key-transparency log and says which devices are trusted. */
export async function* verifyUser(mc: Machine, userRef: string): Op<VerifiedPerson> {
  yield* refreshDirectory(mc);
  const user = yield* resolveUser(mc, userRef);
  const failed = yield* mc.trust.ensureUsers([user.id]);
  if (failed.length > 0) {
    const why = mc.trust.raised.at(-1)?.message ?? 'the log has no entries for this person';
    throw new AgoraError('forbidden', `${user.name}'s keys could not be verified: ${why}`);
  }
  const v = mc.state.kt.users[user.id];
  const { fingerprint } = await import('@agora/protocol/kt/audit');
  const devices = [];
  for (const d of v.devices) {
    devices.push({
      deviceId: d.deviceId,
      fingerprint: await fingerprint(fromB64u(d.signPub)),
      active: v.status === 'active' && d.revokedIndex === null,
      approvedBy: d.approverUserId ? nameOf(mc, d.approverUserId) : 'bootstrap',
      addedAt: d.addedAt,
      // Whether the person's own devices vouch for it: only then does it join their secret groups.
      vouched: d.approvedIndex != null,
    });
  }
  return { userId: user.id, name: v.name, status: v.status, devices, checkpointSize: mc.state.kt.checkpoint!.size, quorum: mc.trust.policy.quorum };
}

export async function* alarms(mc: Machine, opts: { clear?: boolean } = {}): Op<Alarm[]> {
  const list = [...mc.state.kt.alarms];
  if (opts.clear) mc.state.kt.alarms = [];
  return list;
}

/** Replaces the key-transparency policy (the security officer's file). */
export async function* setPolicy(mc: Machine, policy: Policy): Op<void> {
  mc.state.kt.policy = policy;
  mc.state.kt.policySource = 'file';
}

/** Publishes the security officer's policy file on the relay (administrators): the relay then
 * lets the witnesses and auditors it names read the log, and takes cosignatures only from its
 * witnesses. It changes no device's own policy. */
export async function* publishPolicy(mc: Machine, policy: Policy): Op<void> {
  if (mc.state.role !== 'admin') throw new AgoraError('forbidden', 'only an administrator may publish the policy');
  yield* ask(req.ktPublishPolicy(policy));
}

/** Makes an invite code on this device and registers it with the relay by hash, with the
 * invite's public key and this device's approval of what it is for. */
export async function* issueInvite(
  mc: Machine,
  invite: { kind: 'user'; name: string; departmentId?: string; role: api.Role } | { kind: 'device'; userId: string },
): Op<{ code: string; expiresAt: number; kind: 'user' | 'device' }> {
  const code = generateInviteCode(mc.random);
  const { publicKey } = inviteKeyPair(code);
  const approved: InviteApproval =
    invite.kind === 'user' ? { invitePub: publicKey, kind: 'user', name: invite.name, role: invite.role } : { invitePub: publicKey, kind: 'device', userId: invite.userId };
  const approval = toB64u(await sign(fromB64u(mc.state.keys.signSeed), inviteApprovalMessage(approved)));
  const res = yield* ask(req.createInvite({ ...invite, codeHash: toB64u(inviteHash(code)), invitePub: toB64u(publicKey), approval }));
  return { code, expiresAt: res.expiresAt, kind: res.kind };
}

export function linkDevice(mc: Machine): Op<{ code: string; expiresAt: number }> {
  return issueInvite(mc, { kind: 'device', userId: mc.state.userId });
}

export function createDepartment(_mc: Machine, name: string): Op<api.Department> {
  return ask(req.createDepartment(name));
}

export async function* departments(_mc: Machine): Op<api.Department[]> {
  return (yield* ask(req.departments())).departments;
}

export async function* renameDepartment(mc: Machine, ref: string, name: string): Op<api.Department> {
  return yield* ask(req.renameDepartment(yield* resolveDepartment(mc, ref), checkedMeta(mc, name).name));
}

export async function* deleteDepartment(mc: Machine, ref: string): Op<void> {
  yield* ask(req.deleteDepartment(yield* resolveDepartment(mc, ref)));
}

/** This person's devices as the key-transparency log shows them. */
export async function* listOwnDevices(mc: Machine): Op<VerifiedPerson['devices']> {
  return (yield* verifyUser(mc, mc.state.userId)).devices;
}

/** Catches up with everything (see sync.ts). */
export function sync(mc: Machine): Op<SyncReport> {
  return syncUnlocked(mc);
}
