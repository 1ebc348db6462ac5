/** Secret-group membership: commits (stage, send, merge), adds and removals, owners, update
 * commits, and the membership entries of the key-transparency log. */
import * as api from '@agora/protocol/api';
import { fromB64u, toB64u } from '@agora/protocol/encoding';
import { membershipMessage } from '@agora/protocol/kt/entries';
import { AgoraError } from '../core/errors.js';
import type { GroupLocal } from '../core/state.js';
import { encodeWelcomeInfo, sealOwners } from '../core/roles.js';
import { membershipCheckFor, membershipOf } from '../core/membership.js';
import { sealForAuditors } from '@agora/protocol/kt/auditor';
import { sign } from '@agora/protocol/crypto/device-keys';
import { exportContentKey, groupInfo } from '../mls/index.js';
import { type Op, ask, persist } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import { UPDATE_AFTER_MS, UPDATE_AFTER_RECORDS } from './types.js';
import { approvedDevicesOf, identity, mlsLookup, nameOf } from './directory.js';
import { localGroup } from './groups.js';
import { claimPackages } from './keypackages.js';
import { syncMailbox } from './mailbox.js';
import { sendMeta, syncGroupLog } from './records.js';

export function treeMembers(mc: Machine, state: string): { deviceId: string; userId: string }[] {
  return groupInfo(fromB64u(state)).members;
}

/** The relay's epoch of a group's current state (profiles from before it was kept: the MLS epoch). */
export function logEpochOf(mc: Machine, local: GroupLocal): number {
  return local.logEpoch ?? groupInfo(fromB64u(local.mls!)).epoch;
}

/** How many of this person's devices the log shows revoked: a new one calls for update commits. */
export function revokedOwnDevices(mc: Machine): number {
  return (mc.state.kt.users[mc.state.userId]?.devices ?? []).filter((d) => d.revokedIndex !== null).length;
}

/** Owners decide who else is in a group; a group whose owners this device does not know (from an
 * older release) keeps the old rule that any member may. */
export function mayChangeOthers(mc: Machine, local: GroupLocal): boolean {
  return local.owners.length === 0 || local.owners.includes(mc.state.userId);
}

/** Post-compromise security: whether this device should refresh its leaf in the group now. The
 * period is spread over its last fifth by device and group, so members that joined together do
 * not all update at the same moment. */
export function updateDue(mc: Machine, local: GroupLocal): boolean {
  if (local.pcs.at === 0) {
    // A group from before update commits: start its clock now rather than have every member of
    // every group update at once after the upgrade.
    local.pcs = { at: mc.now(), sent: 0, revokedOwn: revokedOwnDevices(mc) };
    return false;
  }
  let h = 0;
  for (const c of `${mc.state.deviceId}/${local.id}`) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const period = UPDATE_AFTER_MS * (0.8 + 0.2 * ((h % 1000) / 1000));
  return mc.now() - local.pcs.at >= period || local.pcs.sent >= UPDATE_AFTER_RECORDS || revokedOwnDevices(mc) > local.pcs.revokedOwn;
}

/** Sends an update commit (a fresh leaf and path for this device; optionally a new owner set),
 * retried over races with other commits like any change. */
export async function* updateCommit(mc: Machine, g: api.GroupView, owners?: string[]): Op<void> {
  for (let attempt = 0; attempt < 8; attempt++) {
    yield* syncGroupLog(mc, g.id);
    const local = mc.state.groups[g.id];
    if (!local?.mls || local.removed) throw new AgoraError('not_a_member', `this device is not a member of the secret group ${g.id}`);
    try {
      yield* commitChange(mc, g.id, [], [], { update: true, owners });
      return;
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'stale_epoch') continue;
      throw e;
    }
  }
  throw new AgoraError('conflict', `the group ${g.id} is changing too fast; try again`);
}

/** Keeps each secret group's devices in line with its people: adds their new devices (this
 * person's own at once; others' after a grace period), removes revoked devices and deactivated
 * people. Races with other members are settled by the relay's epoch check. */
export async function* maintainSecretGroup(mc: Machine, g: api.GroupView): Op<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const local = mc.state.groups[g.id];
    if (!local?.mls || local.removed) return;
    const members = treeMembers(mc, local.mls);
    const inTree = new Set(members.map((m) => m.deviceId));
    const people = new Set(members.map((m) => m.userId));
    yield* mc.trust.ensureUsers(people);
    // Removed only on the log's word (revoked device, deactivated person): a person the log
    // cannot verify right now is left alone rather than dropped.
    const remove = members
      .filter((m) => m.deviceId !== mc.state.deviceId)
      .filter((m) => mc.trust.device(m.deviceId)?.active === false)
      .map((m) => m.deviceId);
    const grace = mc.config.addGraceMs ?? 120_000;
    const add = [...people]
      .flatMap((u) => approvedDevicesOf(mc, u))
      .filter((d) => !inTree.has(d.id))
      .filter((d) => d.userId === mc.state.userId || mc.now() - d.createdAt > grace);
    if (remove.length === 0 && add.length === 0) return;
    try {
      // Other people's devices only from an owner: every member voids such an add by anyone else.
      yield* commitChange(mc, g.id, mayChangeOthers(mc, local) ? add : add.filter((d) => d.userId === mc.state.userId), remove);
      return;
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'stale_epoch') {
        yield* syncGroupLog(mc, g.id);
        continue;
      }
      throw e;
    }
  }
}

/** Claims KeyPackages, stages the commit, sends it, and merges only once the relay accepted it. */
export async function* commitChange(
  mc: Machine,
  groupId: string,
  addDevices: api.Device[],
  removeDevices: string[],
  opts: { whenMissing?: 'fail' | 'later'; update?: boolean; owners?: string[] } = {},
): Op<number> {
  const local = mc.state.groups[groupId];
  if (!local?.mls) throw new AgoraError('not_a_member', 'this device is not a member of that secret group');
  const packages = addDevices.length > 0 ? (yield* claimPackages(mc, groupId, addDevices, opts.whenMissing ?? 'later')) : [];
  if (packages.length === 0 && removeDevices.length === 0 && !opts.update) return logEpochOf(mc, local);
  const epoch = logEpochOf(mc, local);
  const key = local.epochKeys[String(epoch)];
  if (!key) throw new AgoraError('no_key', 'this device lacks the current epoch key of that group');
  const owners = opts.owners ?? local.owners;
  const welcomeInfo = packages.length > 0
    ? encodeWelcomeInfo({ owners, ...(local.name ? { name: local.name } : {}), ...(local.name && local.description !== null ? { description: local.description } : {}) })
    : undefined;
  const staged = await (await mc.mls()).stageCommit(
    fromB64u(local.mls),
    { add: packages, remove: removeDevices, update: opts.update, authenticatedData: await sealOwners(owners, fromB64u(key), groupId, mc.random), welcomeInfo },
    mlsLookup(mc),
  );
  // After commits every member voided, the relay's routing and the tree can differ: devices a
  // voided add had it route to are dropped, and leaves a voided removal cut off are routed again
  // (declared as added, without a Welcome: they hold the group state). Members ignore both when
  // they compare the declared lists with the MLS change.
  const tree = new Set(groupInfo(fromB64u(local.mls)).members.map((m) => m.deviceId));
  let routed: Set<string> | undefined;
  try {
    routed = new Set((yield* ask(req.group(groupId))).memberDevices);
  } catch {
    routed = undefined;
  }
  const stale = routed ? [...routed].filter((d) => !tree.has(d) && !staged.added.includes(d)) : [];
  const cutOff = routed ? [...tree].filter((d) => !routed.has(d) && !staged.removed.includes(d)) : [];
  // Kept (and saved) until the relay answers: if the answer is lost, the commit is recognised in
  // the log later and this staged state merged then (a device cannot process its own commit).
  local.pendingCommit = { epoch, commit: staged.commit, staged: toB64u(staged.staged) };
  yield* persist();
  let res;
  try {
    res = yield* ask(req.commit(groupId, {
      epoch,
      commit: staged.commit,
      welcome: staged.welcome,
      added: [...staged.added, ...cutOff],
      removed: [...staged.removed, ...stale],
      membership: await signMembership(mc, groupId, epoch + 1, staged.staged),
    }));
  } catch (e) {
    // A 4xx is a refusal: the commit is not in the log. Otherwise nobody knows yet.
    const status = e instanceof AgoraError ? e.details.status : undefined;
    if (status !== undefined && status >= 400 && status < 500) local.pendingCommit = null;
    throw e;
  }
  local.pendingCommit = null;
  local.mls = toB64u(staged.staged);
  local.epochKeys[String(res.epoch)] = toB64u(await exportContentKey(staged.staged));
  local.membershipChecks.push(await membershipCheckFor(staged.staged, res.epoch, mc.state.deviceId));
  // Entries before this commit that are not read yet are still of the epoch it was built on.
  local.cursorEpoch ??= epoch;
  local.logEpoch = res.epoch;
  local.lastCommitSeq = res.seq;
  local.owners = [...new Set(owners)].sort();
  // Every commit refreshes the committer's own path only when it carries one (updates, removals).
  if (staged.removed.length > 0 || staged.added.length === 0) local.pcs = { ...local.pcs, at: mc.now(), sent: 0, revokedOwn: revokedOwnDevices(mc) };
  if (staged.added.length > 0 && local.metaSeq > 0) {
    // Newcomers read the log from the commit that added them on: the group's name (encrypted, in
    // a meta record) must follow it, or they would never learn what the group is called.
    try {
      yield* persist();
      yield* sendMeta(mc, groupId, local.description === null ? { name: local.name } : { name: local.name, description: local.description });
    } catch (e) {
      mc.warnings.push(`the group's name could not be sent to the people just added to group ${groupId}: ${(e as Error).message}`);
    }
  }
  if (staged.added.length > 0) {
    // An update that puts this device's path back into the tree the adds left partly blank (and
    // states the owner set for devices joining from a Welcome of an older release).
    try {
      yield* persist();
      return yield* commitChange(mc, groupId, [], [], { update: true });
    } catch (e) {
      if (!(e instanceof AgoraError && e.code === 'stale_epoch')) mc.warnings.push(`the update after adding to group ${groupId} failed: ${(e as Error).message}`);
    }
  }
  return res.epoch;
}

/** The member devices of `state` (a secret group's MLS state from the relay's epoch `epoch` on) for
 * the key-transparency log: committed under the epoch's salt and signed, and sealed to the
 * auditors of the policy. The log shows the list to nobody else. */
export async function signMembership(mc: Machine, groupId: string, epoch: number, state: Uint8Array): Promise<api.MembershipProof> {
  const { members, salt, commitment } = await membershipOf(state);
  const sealed = await sealForAuditors(mc.trust.policy.auditors, salt, members);
  return {
    commitment: toB64u(commitment),
    sealedForAuditors: sealed.map((s) => ({ auditor: toB64u(s.auditor), sealed: toB64u(s.sealed) })),
    signature: toB64u(await sign(fromB64u(mc.state.keys.signSeed), membershipMessage(groupId, epoch, commitment))),
  };
}

/** Matches the log's membership entries against the MLS trees this device saw (own commits and
 * others'); a difference or a missing entry is an alarm (KtTrust.checkMembership). */
export async function* checkMemberships(mc: Machine): Op<void> {
  for (const g of Object.values(mc.state.groups)) {
    if (g.kind !== 'secret' || g.membershipChecks.length === 0) continue;
    const left: GroupLocal['membershipChecks'] = [];
    for (const c of g.membershipChecks) {
      if ((yield* mc.trust.checkMembership(g.id, g.name || g.id, c)) === 'pending') left.push(c);
    }
    g.membershipChecks = left;
  }
}

export async function* initReservedGroup(mc: Machine, g: api.GroupView): Op<void> {
  // The MLS group exists before the relay hears of it: the logged commitment is over its salt.
  const state = await (await mc.mls()).createGroup(g.id, identity(mc));
  try {
    yield* ask(req.initSecretGroup(g.id, await signMembership(mc, g.id, 0, state)));
  } catch (e) {
    if (e instanceof AgoraError && (e.code === 'conflict' || e.code === 'forbidden')) return;
    throw e;
  }
  const local = localGroup(mc, g);
  local.mls = toB64u(state);
  local.epochKeys['0'] = toB64u(await exportContentKey(state));
  local.membershipChecks.push(await membershipCheckFor(state, 0, mc.state.deviceId));
  founded(mc, local);
}

/** A secret group this device just created: its person is the first owner. */
export function founded(mc: Machine, local: GroupLocal): void {
  local.logEpoch = 0;
  local.cursorEpoch = 0;
  local.lastCommitSeq = 0;
  local.owners = [mc.state.userId];
  local.pcs = { at: mc.now(), sent: 0, revokedOwn: revokedOwnDevices(mc) };
}

/** Adds or removes devices of a secret group as `plan` says from its current tree, caught up first
 * and planned again after a commit of another member wins the race. */
export async function* changeSecretMembers(
  mc: Machine,
  g: api.GroupView,
  plan: (members: Set<string>, tree: { deviceId: string; userId: string }[]) => { add: api.Device[]; remove: string[] },
): Op<void> {
  for (let attempt = 0; attempt < 8; attempt++) {
    yield* syncMailbox(mc);
    yield* syncGroupLog(mc, g.id);
    const local = mc.state.groups[g.id];
    if (!local?.mls || local.removed) throw new AgoraError('not_a_member', `this device is not a member of "${g.name}"`);
    const tree = treeMembers(mc, local.mls);
    const { add, remove } = plan(new Set(tree.map((m) => m.deviceId)), tree);
    if (add.length === 0 && remove.length === 0) return;
    // Every member's client voids a commit against the owner rule; refusing here says why.
    const others = add.some((d) => d.userId !== mc.state.userId) || remove.some((d) => tree.find((m) => m.deviceId === d)?.userId !== mc.state.userId);
    if (others && !mayChangeOthers(mc, local)) {
      throw new AgoraError('forbidden', `only the owners of "${g.name}" may add or remove other people (owners: ${local.owners.map((u) => nameOf(mc, u)).join(', ')})`);
    }
    try {
      // Asked for by the person at the keyboard: a device that cannot be added is an error.
      yield* commitChange(mc, g.id, add, remove, { whenMissing: 'fail' });
      return;
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'stale_epoch') continue;
      throw e;
    }
  }
  throw new AgoraError('conflict', `"${g.name}" is changing too fast; try again`);
}
