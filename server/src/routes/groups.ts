/** Groups and their ordered logs. For secret groups the relay is the MLS delivery service: it
 * orders commits, accepts one only for the current epoch, routes Welcomes and lets only member
 * devices read, but it never decides membership itself; only a member's commit changes it. */
import { compareBytes, membershipMessage, type GroupMembershipEntry } from '@agora/protocol/kt';
import {
  CommitRequest, CreateGroupRequest, GroupId, InitSecretGroupRequest, LogQuery, PublicMembersRequest, RecordRequest,
  LIMITS, RenameRequest, bytesEqual, fromB64u, newId, type GroupView, type LogEntry, type MembershipProof, type PushMessage,
} from '@agora/protocol';
import { verifyEd25519, type Principal } from '../auth.js';
import { AppError } from '../errors.js';
import { isStaleEpoch, type GroupDeviceRow, type GroupRow, type Store } from '../store/types.js';
import { groupBase, logEntryView } from '../views.js';
import { body, idParam, noBody, query, reply, type Ctx, type RouteKit } from './context.js';
import { withUniqueName } from './names.js';

const SECRET_MEMBERSHIP = 'secret-group membership changes only through a member\'s MLS commit';

/** Checks that the changing device signed the membership commitment for this group and epoch and
 * returns the log entry's fields. The relay cannot open the commitment (its salt comes from the new
 * MLS epoch): every member checks it against its own tree, and the audit against the sealed list. */
function checkMembership(groupId: string, epoch: number, proof: MembershipProof, who: Principal): Omit<GroupMembershipEntry, 'type' | 'time'> {
  const commitment = fromB64u(proof.commitment);
  if (!verifyEd25519(who.device.signPub, membershipMessage(groupId, epoch, commitment), proof.signature)) {
    throw new AppError('invalid_field', 'membership.signature: does not verify with this device\'s key', { field: 'membership.signature' });
  }
  // The log wants one copy per auditor, in id order; the order carries no meaning, so sort here.
  const sealed = proof.sealedForAuditors.map((s) => ({ auditor: fromB64u(s.auditor), sealed: fromB64u(s.sealed) }));
  sealed.sort((a, b) => compareBytes(a.auditor, b.auditor));
  for (let i = 1; i < sealed.length; i++) {
    if (bytesEqual(sealed[i].auditor, sealed[i - 1].auditor)) {
      throw new AppError('invalid_field', 'membership.sealedForAuditors: an auditor is listed twice', { field: 'membership.sealedForAuditors' });
    }
  }
  // Every reader of the log must be able to take the entry: its base64url form stays within the
  // size the log's readers accept per entry.
  const bytes = 256 + groupId.length + sealed.reduce((n, x) => n + 12 + x.sealed.length, 0);
  if (Math.ceil((bytes * 4) / 3) > LIMITS.mlsMessageChars) {
    throw new AppError('invalid_field', 'membership.sealedForAuditors: too large for the log', { field: 'membership.sealedForAuditors' });
  }
  return {
    groupId, epoch, commitment, committerDeviceId: who.device.id, signature: fromB64u(proof.signature),
    sealedForAuditors: sealed,
  };
}

/** A group as `who` sees it: members, member devices, and where its device may start reading. */
async function groupViewFor(store: Store, group: GroupRow, who: Principal): Promise<GroupView> {
  if (group.kind === 'secret') {
    const devices = await store.listGroupDevices(group.id);
    const isMember = devices.some((d) => d.deviceId === who.device.id);
    const ownSince = devices.filter((d) => d.userId === who.user.id).map((d) => d.sinceSeq);
    return {
      ...groupBase(group),
      members: [...new Set(devices.map((d) => d.userId))].sort(),
      memberDevices: devices.map((d) => d.deviceId),
      isMember,
      readableFrom: isMember ? Math.min(...ownSince) : 0,
    };
  }
  const members = await store.listPublicMembers(group.id);
  return { ...groupBase(group), members, memberDevices: [], isMember: members.includes(who.user.id), readableFrom: 0 };
}

/** Every group `who` may see: all public groups, the secret groups its device is a member of, and
 * its departments' secret groups. */
export async function visibleGroups(store: Store, who: Principal): Promise<GroupView[]> {
  const [groups, mine, departments] = await Promise.all([
    store.listGroups(),
    store.listUserGroupIds(who.user.id),
    store.listUserDepartments(who.user.id),
  ]);
  const myGroups = new Set(mine);
  const myDepartments = new Set(departments);
  const visible: GroupView[] = [];
  for (const group of groups) {
    if (group.kind === 'secret') {
      const inDepartment = group.departmentId !== null && myDepartments.has(group.departmentId);
      // listUserGroupIds holds the secret groups where any of the person's devices is a member;
      // the view then tells whether this device is one of them.
      if (!inDepartment && !myGroups.has(group.id)) continue;
      const v = await groupViewFor(store, group, who);
      if (!inDepartment && !v.isMember) continue;
      visible.push(v);
    } else {
      visible.push(await groupViewFor(store, group, who));
    }
  }
  return visible;
}

export function groupRoutes({ router, deps, authed, later }: RouteKit): void {
  const { store, hub, now, kt } = deps;

  async function loadGroup(ctx: Ctx): Promise<GroupRow> {
    const id = idParam(ctx, 'id', GroupId, 'group');
    const group = await store.getGroup(id);
    if (!group) throw new AppError('not_found', 'no such group');
    return group;
  }

  const view = (group: GroupRow, who: Principal): Promise<GroupView> => groupViewFor(store, group, who);

  /** A secret group is visible to its member devices and, for a department's group, to the
   * department's people (so they can see it exists and ask to be added). */
  async function secretVisible(group: GroupRow, who: Principal): Promise<GroupDeviceRow | 'department' | undefined> {
    const member = await store.getGroupDevice(group.id, who.device.id);
    if (member) return member;
    if (group.departmentId !== null && (await store.listUserDepartments(who.user.id)).includes(group.departmentId)) {
      return 'department';
    }
    return undefined;
  }

  async function requireMemberDevice(group: GroupRow, who: Principal, action: string): Promise<GroupDeviceRow> {
    const member = await store.getGroupDevice(group.id, who.device.id);
    if (!member) throw new AppError('forbidden', `only the group's member devices may ${action}`);
    return member;
  }

  /** Where a member device may start reading: the earliest join point of its person's member
   * devices. A person's further device receives the group's past keys from their other device
   * (history); it may read what that device could read, and nothing from before the person
   * joined. */
  async function personJoinSeq(group: GroupRow, who: Principal, member: GroupDeviceRow): Promise<number> {
    let since = member.sinceSeq;
    for (const device of await store.listDevices({ userId: who.user.id })) {
      if (device.id === who.device.id) continue;
      const other = await store.getGroupDevice(group.id, device.id);
      if (other && other.sinceSeq < since) since = other.sinceSeq;
    }
    return since;
  }

  async function departmentMembers(departmentId: string | null): Promise<string[]> {
    return departmentId === null ? [] : store.listDepartmentMembers(departmentId);
  }

  router.post(
    '/v1/groups',
    authed(async (ctx, who) => {
      const req = await body(ctx, CreateGroupRequest);
      if (req.departmentId !== undefined) {
        if (!(await store.getDepartment(req.departmentId))) {
          throw new AppError('invalid_field', 'departmentId: no such department', { field: 'departmentId' });
        }
        if (who.user.role !== 'admin' && !(await store.listUserDepartments(who.user.id)).includes(req.departmentId)) {
          throw new AppError('forbidden', 'only an administrator or a member of the department may do this');
        }
      }
      // A secret group's name is encrypted to its members (a 'meta' record in its log): the relay
      // must never be handed one, so it refuses rather than drops it.
      if (req.kind === 'secret' && req.name !== undefined) {
        throw new AppError('invalid_field', 'name: a secret group\'s name is encrypted to its members; send none', { field: 'name' });
      }
      if (req.kind === 'public' && req.name === undefined) {
        throw new AppError('invalid_field', 'name: required for a public group', { field: 'name' });
      }
      const group: GroupRow = {
        id: req.id ?? newId('g'), name: req.kind === 'public' ? req.name! : null, kind: req.kind, departmentId: req.departmentId ?? null,
        epoch: req.kind === 'secret' ? 0 : null, createdBy: who.user.id, createdAt: now(), head: 0,
      };
      if (req.id !== undefined && (await store.getGroup(req.id))) throw new AppError('conflict', 'id: a group with this id exists');
      if (group.kind === 'secret') {
        // The creator signs the group's first membership, so the id is the creator's to choose.
        if (req.id === undefined) throw new AppError('invalid_field', 'id: a secret group\'s creator chooses its id', { field: 'id' });
        if (!req.membership) throw new AppError('invalid_field', 'membership: required for a secret group', { field: 'membership' });
        const membership = checkMembership(group.id, 0, req.membership, who);
        await kt.write(async (draft) => {
          draft.groupMembership(membership);
          await store.createGroup(group, { deviceId: who.device.id, userId: who.user.id }, draft.seal());
        }, () => true);
      } else {
        await withUniqueName('name', () => store.createGroup(group));
        await store.addPublicMembers(group.id, [who.user.id]);
      }
      reply(ctx, 201, await view(group, who));
      later(ctx, async () => {
        if (group.kind === 'public') hub.broadcast({ type: 'groups' });
        else hub.publishToUsers([who.user.id, ...(await departmentMembers(group.departmentId))], { type: 'groups' });
      });
    }),
  );

  router.get(
    '/v1/groups',
    authed(async (ctx, who) => {
      reply(ctx, 200, { groups: await visibleGroups(store, who) });
    }),
  );

  router.get(
    '/v1/groups/:id',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      if (group.kind === 'secret' && !(await secretVisible(group, who))) {
        throw new AppError('forbidden', 'this secret group is visible to its member devices only');
      }
      reply(ctx, 200, await view(group, who));
    }),
  );

  /** Public groups outside departments: renamed and deleted by an administrator or their creator.
   * A department's public group follows its department. A secret group's name is its owners' to
   * change in its own log; the relay only routes. */
  function requirePublicGroupManager(group: GroupRow, who: Principal, action: string): void {
    if (group.kind === 'secret') {
      throw new AppError('bad_request', `a secret group's name lives encrypted in its log: its owners ${action} it there`);
    }
    if (group.departmentId !== null) {
      throw new AppError('bad_request', `this is a department's group: ${action} the department instead`);
    }
    if (who.user.role !== 'admin' && group.createdBy !== who.user.id) {
      throw new AppError('forbidden', `only an administrator or the group's creator may ${action} it`);
    }
  }

  router.post(
    '/v1/groups/:id/rename',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      const req = await body(ctx, RenameRequest);
      requirePublicGroupManager(group, who, 'rename');
      if (!(await withUniqueName('name', () => store.renameGroup(group.id, req.name)))) {
        throw new AppError('not_found', 'no such group');
      }
      reply(ctx, 200, await view((await store.getGroup(group.id)) ?? group, who));
      later(ctx, () => hub.broadcast({ type: 'groups' }));
    }),
  );

  router.post(
    '/v1/groups/:id/delete',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      await noBody(ctx);
      requirePublicGroupManager(group, who, 'delete');
      if (!(await store.deleteGroup(group.id))) throw new AppError('not_found', 'no such group');
      reply(ctx, 200, { deleted: true });
      later(ctx, () => hub.broadcast({ type: 'groups' }));
    }),
  );

  router.post(
    '/v1/groups/:id/join',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      await noBody(ctx);
      if (group.kind === 'secret') throw new AppError('forbidden', `a secret group cannot be joined: ${SECRET_MEMBERSHIP}`);
      await store.addPublicMembers(group.id, [who.user.id]);
      reply(ctx, 200, await view(group, who));
      later(ctx, () => hub.publishToUsers([who.user.id], { type: 'groups' }));
    }),
  );

  router.post(
    '/v1/groups/:id/members',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      const req = await body(ctx, PublicMembersRequest);
      if (group.kind === 'secret') throw new AppError('bad_request', SECRET_MEMBERSHIP);
      if (who.user.role !== 'admin' && group.createdBy !== who.user.id) {
        if (!(await store.listPublicMembers(group.id)).includes(who.user.id)) {
          throw new AppError('forbidden', 'only an administrator, the group\'s creator or a member may add people');
        }
      }
      for (const [i, userId] of req.userIds.entries()) {
        const user = await store.getUser(userId);
        const field = `userIds.${i}`;
        if (!user) throw new AppError('invalid_field', `${field}: no such user`, { field });
        if (user.status !== 'active') throw new AppError('invalid_field', `${field}: this person is deactivated`, { field });
      }
      await store.addPublicMembers(group.id, req.userIds);
      reply(ctx, 200, await view(group, who));
      later(ctx, () => hub.publishToUsers(req.userIds, { type: 'groups' }));
    }),
  );

  router.post(
    '/v1/groups/:id/members/remove',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      const req = await body(ctx, PublicMembersRequest);
      if (group.kind === 'secret') throw new AppError('bad_request', SECRET_MEMBERSHIP);
      const onlySelf = req.userIds.every((u) => u === who.user.id);
      if (who.user.role !== 'admin' && group.createdBy !== who.user.id && !onlySelf) {
        throw new AppError('forbidden', 'only an administrator or the group\'s creator may remove others');
      }
      await store.removePublicMembers(group.id, req.userIds);
      reply(ctx, 200, await view(group, who));
      later(ctx, () => hub.publishToUsers(req.userIds, { type: 'groups' }));
    }),
  );

  router.post(
    '/v1/groups/:id/init',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      const req = await body(ctx, InitSecretGroupRequest);
      if (group.kind !== 'secret' || group.departmentId === null) {
        throw new AppError('bad_request', 'only a department\'s reserved secret group is initialised');
      }
      const dept = await store.getDepartment(group.departmentId);
      if (!dept || dept.secretGroupId !== group.id) {
        throw new AppError('bad_request', 'only a department\'s reserved secret group is initialised');
      }
      const members = await store.listDepartmentMembers(dept.id);
      if (!members.includes(who.user.id)) {
        throw new AppError('forbidden', 'only a member of the department may create its secret group');
      }
      if (group.epoch !== null) throw new AppError('conflict', 'this secret group has been created already');
      const signed = checkMembership(group.id, 0, req.membership, who);
      const created = await kt.write(async (draft) => {
        draft.groupMembership(signed);
        return store.initSecretGroup(group.id, { deviceId: who.device.id, userId: who.user.id }, now(), draft.seal());
      }, (ok) => ok);
      if (!created) throw new AppError('conflict', 'this secret group has been created already');
      const row = (await store.getGroup(group.id)) ?? group;
      reply(ctx, 200, await view(row, who));
      later(ctx, () => hub.publishToUsers(members, { type: 'groups' }));
    }),
  );

  router.post(
    '/v1/groups/:id/commits',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      const req = await body(ctx, CommitRequest);
      if (group.kind !== 'secret') throw new AppError('bad_request', 'commits apply to secret groups only');
      await requireMemberDevice(group, who, 'commit');
      const memberDevices = (await store.listGroupDevices(group.id)).map((d) => d.deviceId);
      const members = new Set(memberDevices);

      const added: { deviceId: string; userId: string }[] = [];
      const addedSet = new Set<string>();
      for (const [i, deviceId] of req.added.entries()) {
        const field = `added.${i}`;
        const bad = (why: string) => new AppError('invalid_field', `${field}: ${why}`, { field });
        if (addedSet.has(deviceId)) throw bad('device listed twice');
        if (members.has(deviceId)) throw bad('device is a member already');
        const device = await store.getDevice(deviceId);
        if (!device) throw bad('no such device');
        if (device.status !== 'active') throw bad('device is revoked');
        const user = await store.getUser(device.userId);
        if (!user || user.status !== 'active') throw bad('the device\'s owner is deactivated');
        addedSet.add(deviceId);
        added.push({ deviceId, userId: device.userId });
      }
      const removedSet = new Set<string>();
      for (const [i, deviceId] of req.removed.entries()) {
        const field = `removed.${i}`;
        const bad = (why: string) => new AppError('invalid_field', `${field}: ${why}`, { field });
        if (removedSet.has(deviceId)) throw bad('device listed twice');
        if (!members.has(deviceId)) throw bad('device is not a member');
        if (addedSet.has(deviceId)) throw bad('device is both added and removed');
        // RFC 9420 §12.4: a committer cannot remove itself; it asks another member to.
        if (deviceId === who.device.id) throw bad('a commit cannot remove its own sender');
        removedSet.add(deviceId);
      }
      // A commit may declare devices without a Welcome: members route again to leaves that a commit
      // they all voided had cut off (they hold the group state already). Members check every
      // declared device against their tree, so nobody gets in this way.
      if (added.length === 0 && req.welcome !== undefined) {
        throw new AppError('invalid_field', 'welcome: only a commit that adds devices carries one', { field: 'welcome' });
      }

      // The log records, committed and signed by the committer, who can read from the new epoch
      // on; the members compare it with the MLS tree the commit gives them.
      const stale = (epoch: number) => new AppError('stale_epoch', `the group is at epoch ${epoch}`, { epoch });
      if (group.epoch !== null && group.epoch !== req.epoch) throw stale(group.epoch);
      let signed: ReturnType<typeof checkMembership>;
      try {
        signed = checkMembership(group.id, req.epoch + 1, req.membership, who);
      } catch (err) {
        // the member list read above may already be a newer epoch's: that is a stale commit
        const fresh = await store.getGroup(group.id);
        if (fresh?.epoch != null && fresh.epoch !== req.epoch) throw stale(fresh.epoch);
        throw err;
      }
      const outcome = await kt.write(async (draft) => {
        draft.groupMembership(signed);
        return store.applyCommit({
          groupId: group.id, expectedEpoch: req.epoch, sender: who.device.id, at: now(), payload: req.commit,
          added, removed: req.removed, welcome: req.welcome ?? null, kt: draft.seal(),
        });
      }, (o) => o.ok);
      if (!outcome.ok) {
        if (outcome.reason === 'stale_epoch') {
          throw new AppError('stale_epoch', `the group is at epoch ${outcome.epoch}`, { epoch: outcome.epoch });
        }
        if (outcome.reason === 'not_member') throw new AppError('forbidden', 'only the group\'s member devices may commit');
        throw new AppError('not_found', 'no such group');
      }
      reply(ctx, 200, { seq: outcome.seq, epoch: outcome.epoch });

      later(ctx, async () => {
        const [row] = await store.readLog(group.id, outcome.seq - 1, 1);
        if (row && row.seq === outcome.seq) {
          // Removed devices included: the commit is how they learn they are out.
          hub.publish([...memberDevices, ...addedSet], { type: 'entry', groupId: group.id, entry: logEntryView(row) });
        }
        hub.publish(addedSet, { type: 'mailbox' });
      });
    }),
  );

  router.post(
    '/v1/groups/:id/records',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      const req = await body(ctx, RecordRequest);
      let member: GroupDeviceRow | undefined;
      /** The refusal of a record sealed under an old epoch, with what its sender has not read yet
       * (when it said where it stands): one page of the log from there, as GET .../log gives it. */
      const stale = async (epoch: number | undefined): Promise<AppError> => {
        const entries = req.after === undefined || !member ? undefined
          : (await store.readLog(group.id, Math.max(req.after, (await personJoinSeq(group, who, member)) - 1), LIMITS.logPageSize)).map(logEntryView);
        return new AppError('stale_epoch', `the group is at epoch ${epoch ?? 'none'}`, { epoch, entries });
      };
      if (group.kind === 'secret') {
        member = await requireMemberDevice(group, who, 'write');
        if (group.epoch === null) throw new AppError('invalid_field', 'epoch: the group has no epoch yet', { field: 'epoch' });
        // Only the current epoch: a record sealed before a commit (that may have removed someone)
        // must not land after it. The sender catches up, seals again and retries; readers refuse
        // such a record too, since the relay's word is not what keeps it out.
        if (req.epoch !== group.epoch) throw await stale(group.epoch);
      } else {
        const generation = await store.currentGeneration();
        if (req.epoch < 1 || req.epoch > generation) {
          throw new AppError('invalid_field', `epoch: must be an organisation-key generation from 1 to ${generation}`, {
            field: 'epoch',
          });
        }
      }
      const at = now();
      let seq: number;
      try {
        seq = await store.appendRecord({
          groupId: group.id, epoch: req.epoch, sender: who.device.id, at, payload: req.ciphertext,
          expectEpoch: group.kind === 'secret' ? req.epoch : undefined,
        });
      } catch (err) {
        // A commit landed between the check above and the write.
        if (isStaleEpoch(err)) throw await stale(err.epoch ?? undefined);
        throw err;
      }
      reply(ctx, 201, { seq });

      const entry: LogEntry = { seq, kind: 'record', epoch: req.epoch, sender: who.device.id, at, payload: req.ciphertext };
      const message: PushMessage = { type: 'entry', groupId: group.id, entry };
      later(ctx, async () => {
        if (group.kind === 'public') hub.broadcast(message);
        else hub.publish((await store.listGroupDevices(group.id)).map((d) => d.deviceId), message);
      });
    }),
  );

  router.get(
    '/v1/groups/:id/log',
    authed(async (ctx, who) => {
      const group = await loadGroup(ctx);
      const q = query(ctx, LogQuery);
      let after = q.after;
      if (group.kind === 'secret') {
        const member = await requireMemberDevice(group, who, 'read this log');
        // A person added at commit seq S reads from S on, never what came before they joined.
        after = Math.max(after, (await personJoinSeq(group, who, member)) - 1);
      }
      const rows = await store.readLog(group.id, after, q.limit);
      const last = rows.length > 0 ? rows[rows.length - 1].seq : 0;
      reply(ctx, 200, { entries: rows.map(logEntryView), head: Math.max(group.head, last) });
    }),
  );
}
