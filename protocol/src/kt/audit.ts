/** The security officer's audit: replays the whole key-transparency log from its first entry,
 * checks it against a verified checkpoint (and the previous audit's), recomputes every snapshot and
 * reports, without any content, who holds which keys, who approved them, and who could read each
 * secret group when. Pure: the caller downloads the entries and the checkpoint.
 *
 * Secret groups' member lists are in the log only as signed commitments; with the auditor's key the
 * audit opens the copy sealed to it, checks it against the commitment and reports the members. Without
 * the key (or for an entry that has no copy for it) the change is reported as sealed. */
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';
import { verify } from '../crypto/device-keys.js';
import { bytesEqual, toB64u } from '../encoding.js';
import { verifyCheckpoint } from './checkpoint.js';
import { ChainError, applyUserEntry, chainDeviceSetHash, activeDevices, type UserChain, type ApproverLookup } from './chain.js';
import {
  compareIds,
  decodeEntry,
  encodeSnapshotLeaf,
  idListHash,
  isLegacyMembership,
  isUserEntry,
  membershipMessage,
  orgKeyGenerationMessage,
  type Entry,
} from './entries.js';
import { leafHash } from './hash.js';
import { MerkleLevels } from './tree.js';
import type { Policy } from './policy.js';
import { openSealedMembers, SealedMembersError, type AuditorOpener } from './auditor.js';
import { webBuildHash, type WebAppFindingCode } from './web-build.js';

export interface AuditSince {
  size: number;
  /** base64url root at that size */
  root: string;
  at: number;
}

export type FindingCode =
  | 'root_mismatch'
  | 'rollback'
  | 'history_rewritten'
  | 'malformed_entry'
  | 'invalid_chain'
  | 'key_bound_to_two_people'
  | 'outside_working_hours'
  | 'too_many_devices'
  | 'deactivated_holds_keys'
  | 'bad_membership_signature'
  | 'membership_not_sealed_for_auditor'
  | 'bad_sealed_membership'
  | 'bad_generation'
  | 'snapshot_mismatch'
  | 'bad_role_change'
  | 'no_admin_left'
  | WebAppFindingCode;

export interface Finding {
  code: FindingCode;
  message: string;
  index?: number;
  userId?: string;
}

export interface DeviceChange {
  index: number;
  at: number;
  userId: string;
  name: string;
  deviceId: string;
  /** 'approved': one of the person's own devices vouched for a device someone else's invite added. */
  change: 'added' | 'revoked' | 'approved';
  via?: string;
  approvedBy?: { deviceId: string; userId: string; name: string };
  /** First 16 hex characters of SHA-256 over the device's signing key: what people compare. */
  fingerprint?: string;
}

/** A person's role changed (ROLE_CHANGED): by whom, from what, to what. */
export interface RoleChange {
  index: number;
  at: number;
  userId: string;
  name: string;
  from: string;
  to: string;
  approvedBy: { deviceId: string; userId: string | null; name: string | null };
}

export interface MembershipChange {
  index: number;
  at: number;
  epoch: number;
  committer: { deviceId: string; userId: string | null; name: string | null };
  /** null: the list is sealed and this audit could not open it (no auditor key, or no copy for it). */
  members: { deviceId: string; userId: string | null; name: string | null }[] | null;
}

export interface AuditReport {
  checkpoint: { origin: string; size: number; root: string; witnesses: string[] };
  since: AuditSince | null;
  entries: number;
  people: { userId: string; name: string; role: string; status: string; activeDevices: number }[];
  deviceChanges: DeviceChange[];
  /** Every role change since the last audit (`since`), oldest first. */
  roleChanges: RoleChange[];
  groups: { groupId: string; history: MembershipChange[] }[];
  /** How many groups and membership changes kept their member list sealed from this audit. */
  sealed: { groups: number; changes: number };
  generations: { generation: number; index: number; at: number; creator: string; devices: string }[];
  /** Every build of the web app the relay logged that it started serving, oldest first. */
  webBuilds: { index: number; at: number; buildHash: string; files: number }[];
  violations: Finding[];
  notes: string[];
  /** What to keep for the next audit (`--since`). */
  next: AuditSince;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export async function fingerprint(signPub: Uint8Array): Promise<string> {
  return hex(crypto().sha256(signPub)).slice(0, 16);
}

/** Minutes since midnight and ISO weekday (1 = Monday) of `ms` in `timeZone`. */
function localTime(ms: number, timeZone: string): { minutes: number; day: number } {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', weekday: 'short', hourCycle: 'h23' }).formatToParts(new Date(ms));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  return { minutes: Number(get('hour')) * 60 + Number(get('minute')), day: days.indexOf(get('weekday')) + 1 };
}

function withinWorkingHours(ms: number, wh: NonNullable<Policy['workingHours']>): boolean {
  const { minutes, day } = localTime(ms, wh.timeZone);
  const [sh, sm] = wh.start.split(':').map(Number);
  const [eh, em] = wh.end.split(':').map(Number);
  return wh.days.includes(day) && minutes >= sh * 60 + sm && minutes < eh * 60 + em;
}

export async function audit(input: {
  policy: Policy;
  checkpointNote: string;
  entries: Uint8Array[];
  since?: AuditSince | null;
  now: number;
  /** The auditor's key (auditorOpener()), to open the sealed member lists. */
  auditor?: AuditorOpener;
}): Promise<AuditReport> {
  const { policy, entries } = input;
  const verified = verifyCheckpoint(policy, input.checkpointNote, input.now);
  const cp = verified.checkpoint;
  const violations: Finding[] = [];
  const notes: string[] = [];
  if (entries.length !== cp.size) {
    violations.push({ code: 'root_mismatch', message: `the log served ${entries.length} entries for a checkpoint of ${cp.size}` });
  }
  const tree = MerkleLevels.fromLeafHashes(entries.map(leafHash));
  if (entries.length === cp.size && !bytesEqual(tree.root(), cp.root)) {
    violations.push({ code: 'root_mismatch', message: 'the entries served do not hash to the signed checkpoint: the log was altered' });
  }
  const since = input.since ?? null;
  if (since) {
    if (since.size > entries.length) {
      violations.push({ code: 'rollback', message: `the log is smaller (${entries.length}) than at the last audit (${since.size})` });
    } else if (toB64u(tree.root(since.size)) !== since.root) {
      violations.push({ code: 'history_rewritten', message: 'the first entries of the log differ from those of the last audit: history was rewritten' });
    }
  }

  const users = new Map<string, UserChain>();
  const deviceOwner = new Map<string, string>();
  const keyOwner = new Map<string, string>();
  const deviceChanges: DeviceChange[] = [];
  const roleChanges: RoleChange[] = [];
  const groups = new Map<string, MembershipChange[]>();
  const generations: AuditReport['generations'] = [];
  const webBuilds: AuditReport['webBuilds'] = [];
  const sorted: string[] = [];
  const snapshotTree = new MerkleLevels();
  const leafOf = (u: UserChain) => leafHash(encodeSnapshotLeaf({ userId: u.userId, userSeq: u.userSeq, userHeadHash: u.head, deviceSetHash: chainDeviceSetHash(u) }));

  const approver: ApproverLookup = async (deviceId, index) => {
    const owner = deviceOwner.get(deviceId);
    const chain = owner ? users.get(owner) : undefined;
    const d = chain?.devices.find((x) => x.deviceId === deviceId);
    if (!chain || !d) return undefined;
    const active = chain.status === 'active' && d.addedIndex < index && (d.revokedIndex === null || d.revokedIndex > index);
    return { userId: chain.userId, role: chain.role, signPub: d.signPub, active };
  };
  const who = (deviceId: string) => {
    const userId = deviceOwner.get(deviceId) ?? null;
    return { deviceId, userId, name: userId ? users.get(userId)?.name ?? null : null };
  };
  const activeDevice = (deviceId: string, index: number) => {
    const owner = deviceOwner.get(deviceId);
    const chain = owner ? users.get(owner) : undefined;
    const d = chain?.devices.find((x) => x.deviceId === deviceId);
    return chain && d && chain.status === 'active' && d.addedIndex < index && (d.revokedIndex === null || d.revokedIndex > index) ? { chain, d } : undefined;
  };
  const sinceSize = since?.size ?? 0;
  const sealedGroups = new Set<string>();
  let sealedChanges = 0;
  /** The latest revocation or deactivation so far: a generation after it may come from any active
   * employee's device, not only an administrator's (see createOrgGeneration in the client). */
  let lastRevocation = -1;

  for (let index = 0; index < entries.length; index++) {
    const bytes = entries[index];
    let entry: Entry;
    try {
      entry = decodeEntry(bytes);
    } catch {
      violations.push({ code: 'malformed_entry', message: 'an entry cannot be read', index });
      continue;
    }
    if (isUserEntry(entry)) {
      if (entry.type === 'device-revoked' || entry.type === 'user-deactivated') lastRevocation = index;
      const before = users.get(entry.userId);
      let after: UserChain;
      try {
        after = await applyUserEntry(before, { index, bytes, entry }, approver);
      } catch (e) {
        if (!(e instanceof ChainError)) throw e;
        if (entry.type === 'role-changed') {
          violations.push({ code: 'bad_role_change', message: `${before?.name ?? entry.userId} was made ${entry.role} without a valid administrator's approval: ${e.message}`, index, userId: entry.userId });
          continue;
        }
        violations.push({ code: 'invalid_chain', message: `${before?.name ?? entry.userId}: ${e.message}`, index, userId: entry.userId });
        continue;
      }
      users.set(entry.userId, after);
      if (!before) {
        // The newcomer's leaf goes in where their id sorts (as the relay's KtState does): rebuilding
        // the tree from every person's leaf at each newcomer made the audit of 10⁵ entries take minutes.
        let at = 0;
        let hi = sorted.length;
        while (at < hi) {
          const mid = (at + hi) >> 1;
          if (compareIds(sorted[mid], entry.userId) < 0) at = mid + 1;
          else hi = mid;
        }
        sorted.splice(at, 0, entry.userId);
        snapshotTree.insertLeaf(at, leafOf(after));
      } else {
        snapshotTree.setLeaf(sorted.indexOf(entry.userId), leafOf(after));
      }
      if (entry.type === 'device-added') {
        deviceOwner.set(entry.deviceId, entry.userId);
        for (const key of [entry.signPub, entry.encPub]) {
          const owner = keyOwner.get(hex(key));
          if (owner && owner !== entry.userId) {
            violations.push({ code: 'key_bound_to_two_people', message: `a key of ${after.name} is also bound to ${users.get(owner)?.name ?? owner}`, index, userId: entry.userId });
          } else if (owner) {
            violations.push({ code: 'key_bound_to_two_people', message: `${after.name} enrolled the same key on two devices`, index, userId: entry.userId });
          }
          keyOwner.set(hex(key), entry.userId);
        }
        const dev = after.devices.find((d) => d.deviceId === entry.deviceId)!;
        if (entry.via === 'bootstrap') notes.push(`${after.name} was enrolled with the bootstrap invite: confirm the key fingerprint ${await fingerprint(entry.signPub)} with them in person`);
        if (index >= sinceSize && policy.workingHours && !withinWorkingHours(entry.time, policy.workingHours)) {
          violations.push({ code: 'outside_working_hours', message: `a device of ${after.name} was added outside working hours (${new Date(entry.time).toISOString()})`, index, userId: entry.userId });
        }
        if (index >= sinceSize) {
          const approvedBy = dev.approverDeviceId ? { deviceId: dev.approverDeviceId, userId: dev.approverUserId, name: users.get(dev.approverUserId)?.name ?? dev.approverUserId } : undefined;
          deviceChanges.push({ index, at: entry.time, userId: entry.userId, name: after.name, deviceId: entry.deviceId, change: 'added', via: entry.via, approvedBy, fingerprint: await fingerprint(entry.signPub) });
        }
      } else if (entry.type === 'role-changed') {
        if (index >= sinceSize) roleChanges.push({ index, at: entry.time, userId: entry.userId, name: after.name, from: before!.role, to: entry.role, approvedBy: who(entry.approverDeviceId) });
        // The relay refuses to demote the last administrator; a log that shows it anyway leaves the
        // organisation with nobody who can invite, and the officer should know.
        if (![...users.values()].some((u) => u.status === 'active' && u.role === 'admin')) {
          violations.push({ code: 'no_admin_left', message: `after ${after.name} became ${entry.role} no active administrator is left`, index, userId: entry.userId });
        }
      } else if (entry.type === 'device-revoked' && index >= sinceSize) {
        deviceChanges.push({ index, at: entry.time, userId: entry.userId, name: after.name, deviceId: entry.deviceId, change: 'revoked' });
      } else if (entry.type === 'device-approved' && index >= sinceSize) {
        const approvedBy = { deviceId: entry.approverDeviceId, userId: entry.userId, name: after.name };
        deviceChanges.push({ index, at: entry.time, userId: entry.userId, name: after.name, deviceId: entry.deviceId, change: 'approved', approvedBy });
      }
      continue;
    }
    if (entry.type === 'group-membership') {
      const committer = activeDevice(entry.committerDeviceId, index);
      const digest = isLegacyMembership(entry) ? idListHash(entry.members) : entry.commitment;
      const ok = committer && (await verify(committer.d.signPub, membershipMessage(entry.groupId, entry.epoch, digest), entry.signature));
      let members: string[] | null = null;
      if (isLegacyMembership(entry)) {
        members = entry.members;
      } else if (input.auditor) {
        try {
          members = openSealedMembers(entry, input.auditor) ?? null;
          if (!members) violations.push({ code: 'membership_not_sealed_for_auditor', message: `a membership change of group ${entry.groupId} (epoch ${entry.epoch}) has no member list sealed to this auditor`, index });
        } catch (e) {
          if (!(e instanceof SealedMembersError)) throw e;
          violations.push({ code: 'bad_sealed_membership', message: `group ${entry.groupId} (epoch ${entry.epoch}): ${e.message}`, index });
        }
      }
      if (!members) {
        sealedGroups.add(entry.groupId);
        sealedChanges++;
      }
      if (!ok) violations.push({ code: 'bad_membership_signature', message: `a membership change of group ${entry.groupId} (epoch ${entry.epoch}) is not signed by an active member device`, index });
      const history = groups.get(entry.groupId) ?? [];
      const last = history.at(-1);
      if (last && entry.epoch !== last.epoch + 1) violations.push({ code: 'bad_membership_signature', message: `group ${entry.groupId} jumps from epoch ${last.epoch} to ${entry.epoch}`, index });
      if (!last && entry.epoch !== 0) violations.push({ code: 'bad_membership_signature', message: `group ${entry.groupId} first appears at epoch ${entry.epoch}`, index });
      if (last?.members && !last.members.some((m) => m.deviceId === entry.committerDeviceId)) {
        violations.push({ code: 'bad_membership_signature', message: `group ${entry.groupId} was changed by a device that was not a member`, index });
      }
      history.push({ index, at: entry.time, epoch: entry.epoch, committer: who(entry.committerDeviceId), members: members?.map(who) ?? null });
      groups.set(entry.groupId, history);
      continue;
    }
    if (entry.type === 'orgkey-generation') {
      const creator = activeDevice(entry.creatorDeviceId, index);
      const owed = lastRevocation > (generations.at(-1)?.index ?? -1);
      const ok = creator && (creator.chain.role === 'admin' || owed) && (await verify(creator.d.signPub, orgKeyGenerationMessage(entry.generation, entry.deviceSetHash, entry.keyCommitment), entry.signature));
      if (!ok) violations.push({ code: 'bad_generation', message: `organisation-key generation ${entry.generation} was not made by an active admin device, nor by an active employee's device after a revocation`, index });
      if (entry.generation !== generations.length + 1) violations.push({ code: 'bad_generation', message: `organisation-key generation ${entry.generation} out of order`, index });
      generations.push({ generation: entry.generation, index, at: entry.time, creator: who(entry.creatorDeviceId).name ?? entry.creatorDeviceId, devices: toB64u(entry.deviceSetHash) });
      continue;
    }
    if (entry.type === 'web-build') {
      webBuilds.push({ index, at: entry.time, buildHash: webBuildHash(entry.files), files: entry.files.length });
      continue;
    }
    // A snapshot: the tree kept up to date from the chains replayed so far must give its root.
    if (entry.userCount !== sorted.length || !bytesEqual(entry.snapshotRoot, snapshotTree.root())) {
      violations.push({ code: 'snapshot_mismatch', message: 'a snapshot does not match the key sets before it: the relay could prove stale keys current', index });
    }
  }

  for (const u of users.values()) {
    const active = activeDevices(u).length;
    const left = u.devices.filter((d) => d.revokedIndex === null).length;
    if (u.status === 'deactivated' && left > 0) {
      violations.push({ code: 'deactivated_holds_keys', message: `${u.name} is deactivated but ${left} device key(s) were never revoked`, userId: u.userId });
    }
    if (policy.maxDevicesPerUser !== undefined && active > policy.maxDevicesPerUser) {
      violations.push({ code: 'too_many_devices', message: `${u.name} has ${active} devices; the policy allows ${policy.maxDevicesPerUser}`, userId: u.userId });
    }
  }

  return {
    checkpoint: { origin: cp.origin, size: cp.size, root: toB64u(cp.root), witnesses: verified.witnesses },
    since,
    entries: entries.length,
    people: [...users.values()].map((u) => ({ userId: u.userId, name: u.name, role: u.role, status: u.status, activeDevices: activeDevices(u).length })),
    deviceChanges,
    roleChanges,
    groups: [...groups.entries()].map(([groupId, history]) => ({ groupId, history })),
    sealed: { groups: sealedGroups.size, changes: sealedChanges },
    generations,
    webBuilds,
    violations,
    notes,
    next: { size: cp.size, root: toB64u(cp.root), at: input.now },
  };
}
