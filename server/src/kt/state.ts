/** The relay's in-memory view of its key-transparency log, rebuilt from the stored entries at start:
 * the Merkle tree, each person's chain head and active device keys, and the snapshot tree over all
 * people. `KtState.apply` is the one place that interprets entries; `KtDraft` builds the entries of
 * a change on top of the state without touching it, so a change the store refuses leaves no trace. */
import {
  compareIds, decodeEntry, deviceSetHash, encodeEntry, encodeSnapshotLeaf, entryHash, isUserEntry, leafHash,
  ZERO_HASH, ZERO_SIG, type DeviceAddedEntry, type Entry, type GroupMembershipEntry, type KtRole, type UserEntry,
  type WebBuildFile, MerkleLevels,
} from '@agora/protocol/kt';
import { webBuildHash } from '@agora/protocol/kt/web-build';
import { bytesEqual } from '@agora/protocol';
import type { KtAppend } from '../store/types.js';

export interface DeviceKeys {
  signPub: Uint8Array;
  encPub: Uint8Array;
}

export interface UserState {
  readonly userId: string;
  seq: number;
  /** entryHash() of the user's latest entry. */
  head: Uint8Array;
  /** Active devices only. */
  devices: Map<string, DeviceKeys>;
  /** Every device id the user ever had (ids are never reused). */
  everHad: Set<string>;
  /** Devices the person's own devices vouch for (see kt/chain.ts `approved`): enrolled as their
   * only device, through one of their approved devices' links, or named by a DEVICE_APPROVED entry. */
  approved: Set<string>;
  deactivated: boolean;
  /** Hex of the nonces of the person's ROLE_CHANGED entries: verifiers refuse one used twice. */
  roleNonces: Set<string>;
  /** The user's current snapshot leaf bytes and their leafHash. */
  leaf: Uint8Array;
  leafHash: Uint8Array;
}

/** The log disagrees with itself: a stored entry the relay could not have written. */
export class KtStateError extends Error {
  override name = 'KtStateError';
}

function leafOf(u: Pick<UserState, 'userId' | 'seq' | 'head' | 'devices'>): Uint8Array {
  const devices = [...u.devices].map(([deviceId, k]) => ({ deviceId, signPub: k.signPub, encPub: k.encPub }));
  return encodeSnapshotLeaf({ userId: u.userId, userSeq: u.seq, userHeadHash: u.head, deviceSetHash: deviceSetHash(devices) });
}

/** Applies a user-scoped entry to (a copy of) the user's state; throws on a broken chain. */
function step(u: UserState | undefined, e: UserEntry, bytes: Uint8Array): UserState {
  let next: UserState;
  if (e.type === 'user-created') {
    if (u) throw new KtStateError(`user ${e.userId} created twice`);
    if (e.userSeq !== 1) throw new KtStateError('a user starts at seq 1');
    next = { userId: e.userId, seq: 0, head: ZERO_HASH, devices: new Map(), everHad: new Set(), approved: new Set(), deactivated: false, roleNonces: new Set(), leaf: ZERO_HASH, leafHash: ZERO_HASH };
  } else {
    if (!u) throw new KtStateError(`entry for unknown user ${e.userId}`);
    if (e.userSeq !== u.seq + 1 || !bytesEqual(e.prevHash, u.head)) throw new KtStateError(`broken chain for user ${e.userId}`);
    next = { ...u, devices: new Map(u.devices), everHad: new Set(u.everHad), approved: new Set(u.approved) };
  }
  switch (e.type) {
    case 'device-added':
      if (next.everHad.has(e.deviceId)) throw new KtStateError(`device ${e.deviceId} added twice`);
      if (next.devices.size === 0 || (next.devices.has(e.approverDeviceId) && next.approved.has(e.approverDeviceId))) next.approved.add(e.deviceId);
      next.devices.set(e.deviceId, { signPub: e.signPub, encPub: e.encPub });
      next.everHad.add(e.deviceId);
      break;
    case 'device-revoked':
      if (!next.devices.delete(e.deviceId)) throw new KtStateError(`device ${e.deviceId} is not active`);
      break;
    case 'user-deactivated':
      next.deactivated = true;
      break;
    case 'device-approved':
      if (!next.devices.has(e.deviceId) || next.approved.has(e.deviceId)) throw new KtStateError(`device ${e.deviceId} is not active and awaiting approval`);
      if (e.approverDeviceId === e.deviceId || !next.devices.has(e.approverDeviceId) || !next.approved.has(e.approverDeviceId)) {
        throw new KtStateError(`device ${e.approverDeviceId} cannot approve devices`);
      }
      next.approved.add(e.deviceId);
      break;
    case 'role-changed': {
      const nonce = Buffer.from(e.nonce).toString('hex');
      if (next.roleNonces.has(nonce)) throw new KtStateError(`a role change of ${e.userId} repeats a nonce`);
      next.roleNonces = new Set(next.roleNonces).add(nonce);
      break;
    }
    default:
      break;
  }
  next.seq = e.userSeq;
  next.head = entryHash(bytes);
  next.leaf = leafOf(next);
  next.leafHash = leafHash(next.leaf);
  return next;
}

export class KtState {
  readonly tree = new MerkleLevels();
  readonly users = new Map<string, UserState>();
  /** User ids in snapshot order. */
  private sorted: string[] = [];
  private snapshotTree = new MerkleLevels();
  /** The snapshot tree needs rebuilding (a user was inserted while replaying). */
  private stale = false;
  /** Indexes of SNAPSHOT entries, ascending. */
  readonly snapshots: number[] = [];
  /** Index of the latest user-scoped entry. */
  private lastUserEntry = -1;
  /** Per user, (entry index, leaf after it): the leaves of past snapshots. */
  private readonly history = new Map<string, { index: number; leaf: Uint8Array }[]>();
  /** Log index of each ORGKEY_GENERATION entry, by generation. */
  readonly generationIndex = new Map<number, number>();
  /** Index of the latest ORGKEY_GENERATION entry (-1: none yet). */
  latestGenerationIndex = -1;
  /** Index of the latest DEVICE_REVOKED or USER_DEACTIVATED entry (-1: none yet). */
  lastRevocationIndex = -1;
  /** The latest WEB_BUILD entry: the build the relay last said it serves. */
  latestWebBuild: { index: number; buildHash: string } | undefined;

  /** A device was revoked or a person deactivated after the latest generation: whoever still holds
   * the organisation key includes them, so the next generation is due. */
  get rotationDue(): boolean {
    return this.lastRevocationIndex > this.latestGenerationIndex;
  }
  /** Per secret group, epoch → index of its first membership entry: what members look up to check
   * their tree against the log. */
  private readonly memberships = new Map<string, Map<number, number>>();

  get size(): number {
    return this.tree.size;
  }

  /** Position of a user in the sorted snapshot order, or where it would be inserted. */
  position(userId: string): { at: number; found: boolean } {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = compareIds(this.sorted[mid], userId);
      if (c === 0) return { at: mid, found: true };
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return { at: lo, found: false };
  }

  sortedUsers(): readonly string[] {
    return this.sorted;
  }

  /** The current snapshot tree (rebuilt if replay left it stale). */
  currentSnapshotTree(): MerkleLevels {
    if (this.stale) {
      this.snapshotTree = MerkleLevels.fromLeafHashes(this.sorted.map((id) => this.users.get(id)!.leafHash));
      this.stale = false;
    }
    return this.snapshotTree;
  }

  /** Appends one entry. `checkSnapshot` = false skips recomputing snapshot roots while replaying a
   * long stored log (the last snapshot is checked by the caller); live appends always check. */
  apply(bytes: Uint8Array, checkSnapshot = true): Entry {
    const e = decodeEntry(bytes);
    const index = this.size;
    if (isUserEntry(e)) {
      const before = this.users.get(e.userId);
      const after = step(before, e, bytes);
      this.users.set(e.userId, after);
      let history = this.history.get(e.userId);
      if (!history) this.history.set(e.userId, (history = []));
      history.push({ index, leaf: after.leaf });
      this.lastUserEntry = index;
      if (e.type === 'device-revoked' || e.type === 'user-deactivated') this.lastRevocationIndex = index;
      const pos = this.position(e.userId);
      if (pos.found) {
        if (!this.stale) this.snapshotTree.setLeaf(pos.at, after.leafHash);
      } else {
        this.sorted.splice(pos.at, 0, e.userId);
        // a replay of many entries rebuilds the snapshot tree once, when it is needed
        if (checkSnapshot && !this.stale) this.snapshotTree.insertLeaf(pos.at, after.leafHash);
        else this.stale = true;
      }
    } else if (e.type === 'orgkey-generation') {
      this.generationIndex.set(e.generation, index);
      this.latestGenerationIndex = index;
    } else if (e.type === 'snapshot') {
      if (checkSnapshot) this.checkSnapshot(e.userCount, e.snapshotRoot);
      this.snapshots.push(index);
    } else if (e.type === 'web-build') {
      this.latestWebBuild = { index, buildHash: webBuildHash(e.files) };
    } else if (e.type === 'group-membership') {
      let epochs = this.memberships.get(e.groupId);
      if (!epochs) this.memberships.set(e.groupId, (epochs = new Map()));
      if (!epochs.has(e.epoch)) epochs.set(e.epoch, index);
    }
    this.tree.appendEntry(bytes);
    return e;
  }

  checkSnapshot(userCount: number, root: Uint8Array): void {
    if (userCount !== this.users.size || !bytesEqual(root, this.currentSnapshotTree().root())) {
      throw new KtStateError('a snapshot entry does not match the users before it');
    }
  }

  /** The latest SNAPSHOT entry below `size`. */
  snapshotBefore(size: number): number | undefined {
    let lo = 0;
    let hi = this.snapshots.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.snapshots[mid] < size) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : this.snapshots[lo - 1];
  }

  /** The sorted user ids and leaves of the snapshot at entry `index`: each user created before it,
   * with the leaf after their last entry before it. */
  leavesAt(index: number): { userIds: string[]; leaves: Uint8Array[] } {
    const userIds: string[] = [];
    const leaves: Uint8Array[] = [];
    for (const id of this.sorted) {
      const h = this.history.get(id)!;
      let lo = 0;
      let hi = h.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (h[mid].index < index) lo = mid + 1;
        else hi = mid;
      }
      if (lo === 0) continue;
      userIds.push(id);
      leaves.push(h[lo - 1].leaf);
    }
    return { userIds, leaves };
  }

  /** Index of the membership entry of a group's epoch, if the log has one. */
  membershipIndex(groupId: string, epoch: number): number | undefined {
    return this.memberships.get(groupId)?.get(epoch);
  }

  /** True if no user-scoped entry came after the snapshot at `index`: the current snapshot tree is its tree. */
  isCurrentSnapshot(index: number): boolean {
    return this.snapshots[this.snapshots.length - 1] === index && this.lastUserEntry < index;
  }
}

// ---- drafting the entries of one change ----

/** A DEVICE_ADDED entry as the relay verified it, before the log gives it its place. */
export type DeviceAddedInput = Omit<DeviceAddedEntry, 'type' | 'time' | 'userSeq' | 'prevHash'>;

/** Builds the entries of one change against a fixed state, then `seal()` adds the SNAPSHOT that
 * follows every change. Reads through `user()` see the draft's own changes. */
export class KtDraft {
  private readonly overlay = new Map<string, UserState>();
  private readonly out: { entry: Uint8Array; userId: string | null }[] = [];
  private sealed: KtAppend | undefined;

  /** The log size the entries are computed against, fixed when the draft starts: if the state
   * moves on meanwhile (another relay's entries caught up), the store refuses the batch. */
  readonly size: number;

  constructor(private readonly state: KtState, private readonly time: number) {
    this.size = state.size;
  }

  user(userId: string): Readonly<UserState> | undefined {
    return this.overlay.get(userId) ?? this.state.users.get(userId);
  }

  /** Whether the log, as this draft starts from it, shows a revocation or deactivation newer than
   * the latest organisation-key generation. */
  get rotationDue(): boolean {
    return this.state.rotationDue;
  }

  private push(e: Entry): void {
    if (this.sealed) throw new Error('the draft is sealed');
    const bytes = encodeEntry(e);
    if (isUserEntry(e)) {
      this.overlay.set(e.userId, step(this.user(e.userId), e, bytes));
      this.out.push({ entry: bytes, userId: e.userId });
    } else {
      this.out.push({ entry: bytes, userId: null });
    }
  }

  private chain(userId: string): { userId: string; userSeq: number; prevHash: Uint8Array } {
    const u = this.user(userId);
    return u ? { userId, userSeq: u.seq + 1, prevHash: u.head } : { userId, userSeq: 1, prevHash: ZERO_HASH };
  }

  userCreated(input: { userId: string; name: string; role: KtRole; approvedByDevice: string }): void {
    this.push({ type: 'user-created', time: this.time, ...this.chain(input.userId), name: input.name, role: input.role, approvedByDevice: input.approvedByDevice });
  }

  deviceAdded(input: DeviceAddedInput): void {
    const bootstrap = input.via === 'bootstrap';
    this.push({
      type: 'device-added', time: this.time, ...this.chain(input.userId), deviceId: input.deviceId, signPub: input.signPub,
      encPub: input.encPub, via: input.via, invitePub: input.invitePub, approverDeviceId: bootstrap ? '' : input.approverDeviceId,
      approval: bootstrap ? ZERO_SIG : input.approval, inviteSig: input.inviteSig, deviceSig: input.deviceSig,
    });
  }

  /** The relay checked the approver's signature over deviceApprovalMessage(). */
  deviceApproved(userId: string, deviceId: string, approverDeviceId: string, signature: Uint8Array): void {
    this.push({ type: 'device-approved', time: this.time, ...this.chain(userId), deviceId, approverDeviceId, signature });
  }

  /** The relay checked the approving administrator's signature over roleChangeMessage(). */
  roleChanged(userId: string, input: { role: KtRole; nonce: Uint8Array; approverDeviceId: string; signature: Uint8Array }): void {
    this.push({ type: 'role-changed', time: this.time, ...this.chain(userId), ...input });
  }

  deviceRevoked(userId: string, deviceId: string, byUserId: string): void {
    this.push({ type: 'device-revoked', time: this.time, ...this.chain(userId), deviceId, byUserId });
  }

  userDeactivated(userId: string, byUserId: string): void {
    this.push({ type: 'user-deactivated', time: this.time, ...this.chain(userId), byUserId });
  }

  orgKeyGeneration(input: { generation: number; creatorDeviceId: string; deviceSetHash: Uint8Array; keyCommitment: Uint8Array; signature: Uint8Array }): void {
    this.push({ type: 'orgkey-generation', time: this.time, ...input });
  }

  /** The relay logs what the committer signed; it cannot open the commitment or the sealed lists. */
  groupMembership(input: Omit<GroupMembershipEntry, 'type' | 'time'>): void {
    this.push({ type: 'group-membership', time: this.time, ...input });
  }

  /** The relay starts serving this build of the web app (files sorted by path). */
  webBuild(files: WebBuildFile[]): void {
    this.push({ type: 'web-build', time: this.time, files });
  }

  /** The latest web build logged, as this draft starts from it. */
  get latestWebBuild(): { index: number; buildHash: string } | undefined {
    return this.state.latestWebBuild;
  }

  /** Adds the SNAPSHOT of the key state after the change and returns the batch for the store. */
  seal(): KtAppend {
    if (this.sealed) return this.sealed;
    if (this.out.length === 0) throw new Error('a change without log entries');
    const created = [...this.overlay.keys()].filter((id) => !this.state.users.has(id)).sort(compareIds);
    let root: Uint8Array;
    if (created.length > 0) {
      // new people shift everyone after them: change a copy of the snapshot tree
      const tree = this.state.currentSnapshotTree().clone();
      created.forEach((id, i) => tree.insertLeaf(this.state.position(id).at + i, this.user(id)!.leafHash));
      for (const [id, u] of this.overlay) {
        if (created.includes(id)) continue;
        const before = created.filter((c) => compareIds(c, id) < 0).length;
        tree.setLeaf(this.state.position(id).at + before, u.leafHash);
      }
      root = tree.root();
    } else {
      const changes = new Map<number, Uint8Array>();
      for (const [id, u] of this.overlay) changes.set(this.state.position(id).at, u.leafHash);
      root = this.state.currentSnapshotTree().rootWith(changes);
    }
    this.out.push({
      entry: encodeEntry({ type: 'snapshot', time: this.time, userCount: this.state.users.size + created.length, snapshotRoot: root }),
      userId: null,
    });
    this.sealed = { expectedSize: this.size, entries: this.out };
    return this.sealed;
  }

  /** The sealed batch, if `seal()` ran. */
  get batch(): KtAppend | undefined {
    return this.sealed;
  }
}
