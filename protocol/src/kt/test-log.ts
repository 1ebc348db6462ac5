/** TEST ONLY (excluded from the build): builds small key-transparency logs in memory the way the
 * relay drafts them (server/src/kt/state.ts) — real Ed25519 device keys, real invite keys derived
 * from invite codes, real approvals and enrolment signatures, a SNAPSHOT after every change — and
 * answers what the relay would serve (user proofs, checkpoints, consistency proofs). It keeps its
 * own model of each person's chain instead of calling chain.ts, so the modules under test are
 * checked against an independent account of what a valid log is. Crafted (invalid) entries go in
 * through `append(entry, { track: false })`, which leaves the model as a verifier should see it. */
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';
import { platformRandom } from '../crypto/random.js';
import type { KtUserResponse } from '../api.js';
import { toB64u } from '../encoding.js';
import { generateInviteCode } from '../signing.js';
import {
  compareIds,
  decodeEntry,
  deviceApprovalMessage,
  deviceEnrolmentMessage,
  deviceSetHash,
  encodeEntry,
  encodeSnapshotLeaf,
  entryHash,
  idListHash,
  inviteApprovalMessage,
  inviteKeyPair,
  isUserEntry,
  membershipMessage,
  orgKeyGenerationMessage,
  roleChangeMessage,
  sortedIds,
  ZERO_HASH,
  ZERO_SIG,
  type DeviceAddedEntry,
  type EnrolVia,
  type Entry,
  type InviteApproval,
  type KtRole,
  type UserScoped,
} from './entries.js';
import type { ApproverLookup } from './chain.js';
import { leafHash } from './hash.js';
import { ed25519Vkey, formatCheckpoint, formatNote, signNote, type NoteSignature } from './note.js';
import { MerkleLevels } from './tree.js';

export interface TestDevice {
  userId: string;
  deviceId: string;
  /** Ed25519 seed of the device's signing key. */
  seed: Uint8Array;
  signPub: Uint8Array;
  encPub: Uint8Array;
}

/** A fresh device with real keys; `signSeed` reuses another device's signing key (key-reuse cases). */
export function newDevice(userId: string, deviceId: string, signSeed?: Uint8Array): TestDevice {
  const seed = signSeed ?? platformRandom(32);
  return { userId, deviceId, seed, signPub: crypto().ed25519PublicKey(seed), encPub: crypto().x25519Base(platformRandom(32)) };
}

export function signWith(device: Pick<TestDevice, 'seed'>, message: Uint8Array): Uint8Array {
  return crypto().ed25519Sign(device.seed, message);
}

/** Monday 2 June 2025, 08:00 UTC (10:00 in Berlin): inside any ordinary working day. */
export const T0 = Date.UTC(2025, 5, 2, 8, 0);

export const ORIGIN = 'agora/o_test';

interface PersonModel {
  userId: string;
  name: string;
  role: KtRole;
  /** The role from each log position on (creation, then every role change). */
  roles: { index: number; role: KtRole }[];
  seq: number;
  head: Uint8Array;
  /** Devices not revoked (deactivation alone keeps them, as the relay's state does). */
  devices: Map<string, TestDevice>;
  deactivatedIndex: number | null;
}

interface DeviceModel {
  device: TestDevice;
  addedIndex: number;
  revokedIndex: number | null;
}

export interface SnapshotState {
  userIds: string[];
  leaves: Uint8Array[];
}

export class TestLog {
  readonly entries: Uint8Array[] = [];
  readonly people = new Map<string, PersonModel>();
  readonly devices = new Map<string, DeviceModel>();
  /** Devices (with their seeds) that enrolment() made entries for. */
  private readonly known = new Map<string, TestDevice>();
  /** Snapshot entries appended so far, with the leaves they commit to. */
  private readonly snapshots: ({ index: number } & SnapshotState)[] = [];
  readonly logSeed = platformRandom(32);
  readonly origin = ORIGIN;
  /** The time the next entries carry; every high-level change advances it by a minute. */
  time = T0;

  get size(): number {
    return this.entries.length;
  }

  get vkey(): string {
    return ed25519Vkey(this.origin, crypto().ed25519PublicKey(this.logSeed));
  }

  device(deviceId: string): TestDevice {
    const d = this.devices.get(deviceId);
    if (!d) throw new Error(`test log: no device ${deviceId}`);
    return d.device;
  }

  /** The chain fields the next entry of `userId` must carry. */
  header(userId: string): UserScoped {
    const p = this.people.get(userId);
    return p ? { userId, userSeq: p.seq + 1, prevHash: p.head } : { userId, userSeq: 1, prevHash: ZERO_HASH };
  }

  /** Encodes and appends `entry`. With `track` (the default) a user-scoped entry advances the
   * model; without, the entry sits in the log but the model ignores it, as a verifier that
   * rejected it would. Returns its index. */
  append(entry: Entry, opts: { track?: boolean } = {}): number {
    return this.appendBytes(encodeEntry(entry), opts);
  }

  appendBytes(bytes: Uint8Array, opts: { track?: boolean } = {}): number {
    const index = this.entries.length;
    this.entries.push(bytes);
    if (opts.track === false) return index;
    let e: Entry;
    try {
      e = decodeEntry(bytes);
    } catch {
      return index;
    }
    if (!isUserEntry(e)) return index;
    let p = this.people.get(e.userId);
    if (e.type === 'user-created') {
      p = { userId: e.userId, name: e.name, role: e.role, roles: [{ index, role: e.role }], seq: 0, head: ZERO_HASH, devices: new Map(), deactivatedIndex: null };
      this.people.set(e.userId, p);
    }
    if (!p) throw new Error(`test log: entry for unknown person ${e.userId}`);
    p.seq = e.userSeq;
    p.head = entryHash(bytes);
    if (e.type === 'device-added') {
      const device = this.known.get(e.deviceId) ?? { userId: e.userId, deviceId: e.deviceId, seed: new Uint8Array(32), signPub: e.signPub, encPub: e.encPub };
      p.devices.set(e.deviceId, device);
      this.devices.set(e.deviceId, { device, addedIndex: index, revokedIndex: null });
    } else if (e.type === 'device-revoked') {
      p.devices.delete(e.deviceId);
      const d = this.devices.get(e.deviceId);
      if (d) d.revokedIndex = index;
    } else if (e.type === 'user-deactivated') {
      p.deactivatedIndex = index;
    } else if (e.type === 'role-changed') {
      p.role = e.role;
      p.roles.push({ index, role: e.role });
    }
    return index;
  }

  tick(ms = 60_000): void {
    this.time += ms;
  }

  // ---- entries of one change (not yet appended) ----

  userCreated(userId: string, name: string, role: KtRole, approvedByDevice: string): Entry {
    return { type: 'user-created', time: this.time, ...this.header(userId), name, role, approvedByDevice };
  }

  /** A valid DEVICE_ADDED for `device`: the invite key comes from a fresh invite code, the approval
   * is `approver`'s signature over the invite (for a person: the name and role the log gives
   * them), and both the invite key and the device sign the enrolment. */
  enrolment(input: { device: TestDevice; via: EnrolVia; approver?: TestDevice; approval?: (invitePub: Uint8Array) => InviteApproval }): DeviceAddedEntry {
    const { device, via } = input;
    this.known.set(device.deviceId, device);
    const invite = inviteKeyPair(generateInviteCode());
    const enrol = deviceEnrolmentMessage(device);
    let approval = ZERO_SIG;
    if (via !== 'bootstrap') {
      if (!input.approver) throw new Error('test log: an invited enrolment needs an approver');
      const person = this.people.get(device.userId);
      const what: InviteApproval =
        input.approval?.(invite.publicKey) ??
        (via === 'user-invite'
          ? { invitePub: invite.publicKey, kind: 'user', name: person?.name ?? '?', role: person?.role ?? 'member' }
          : { invitePub: invite.publicKey, kind: 'device', userId: device.userId });
      approval = signWith(input.approver, inviteApprovalMessage(what));
    }
    return {
      type: 'device-added',
      time: this.time,
      ...this.header(device.userId),
      deviceId: device.deviceId,
      signPub: device.signPub,
      encPub: device.encPub,
      via,
      invitePub: invite.publicKey,
      approverDeviceId: via === 'bootstrap' ? '' : input.approver!.deviceId,
      approval,
      inviteSig: signWith({ seed: invite.seed }, enrol),
      deviceSig: signWith(device, enrol),
    };
  }

  generationEntry(creator: TestDevice, generation: number, deviceIds: string[], signer: TestDevice = creator): Entry {
    const hash = idListHash(deviceIds);
    return {
      type: 'orgkey-generation', time: this.time, generation, creatorDeviceId: creator.deviceId, deviceSetHash: hash,
      signature: signWith(signer, orgKeyGenerationMessage(generation, hash)),
    };
  }

  membershipEntry(groupId: string, epoch: number, members: string[], committer: TestDevice, signer: TestDevice = committer): Entry {
    const sorted = sortedIds(members);
    return {
      type: 'group-membership', time: this.time, groupId, epoch, members: sorted, committerDeviceId: committer.deviceId,
      signature: signWith(signer, membershipMessage(groupId, epoch, idListHash(sorted))),
    };
  }

  // ---- whole changes, each sealed with a SNAPSHOT like the relay's ----

  /** The organisation's first administrator, enrolled with the bootstrap invite. */
  bootstrap(userId = 'u_alice', name = 'Alice', deviceId = 'd_alice1'): TestDevice {
    const device = newDevice(userId, deviceId);
    this.append(this.userCreated(userId, name, 'admin', ''));
    this.append(this.enrolment({ device, via: 'bootstrap' }));
    this.seal();
    return device;
  }

  /** A new person invited by `approver` (an admin device), with their first device. */
  invitePerson(approver: TestDevice, person: { userId: string; name: string; role?: KtRole; deviceId: string }): TestDevice {
    const device = newDevice(person.userId, person.deviceId);
    this.append(this.userCreated(person.userId, person.name, person.role ?? 'member', approver.deviceId));
    this.append(this.enrolment({ device, via: 'user-invite', approver }));
    this.seal();
    return device;
  }

  /** A further device of `userId`, its invite approved by `approver` (their own device or an admin's). */
  linkDevice(approver: TestDevice, userId: string, deviceId: string, signSeed?: Uint8Array): TestDevice {
    const device = newDevice(userId, deviceId, signSeed);
    this.append(this.enrolment({ device, via: 'device-invite', approver }));
    this.seal();
    return device;
  }

  /** A DEVICE_APPROVED of `device` by `approver` (signed by `signer`, the approver unless a test forges). */
  approveDevice(approver: TestDevice, device: TestDevice, signer: TestDevice = approver): number {
    const message = deviceApprovalMessage({ userId: device.userId, deviceId: device.deviceId, signPub: device.signPub, encPub: device.encPub });
    const index = this.append({
      type: 'device-approved', time: this.time, ...this.header(device.userId), deviceId: device.deviceId, approverDeviceId: approver.deviceId,
      signature: signWith(signer, message),
    });
    this.seal();
    return index;
  }

  /** A ROLE_CHANGED of `userId` to `role` approved by `approver` (signed by `signer`, the approver
   * unless a test forges; `nonce` fresh unless a test replays one). */
  changeRole(approver: TestDevice, userId: string, role: KtRole, opts: { signer?: TestDevice; nonce?: Uint8Array; track?: boolean } = {}): number {
    const nonce = opts.nonce ?? platformRandom(16);
    const signature = signWith(opts.signer ?? approver, roleChangeMessage({ userId, role, nonce }));
    const index = this.append({ type: 'role-changed', time: this.time, ...this.header(userId), role, nonce, approverDeviceId: approver.deviceId, signature }, { track: opts.track });
    this.seal();
    return index;
  }

  revoke(userId: string, deviceId: string, byUserId: string = userId): number {
    const index = this.append({ type: 'device-revoked', time: this.time, ...this.header(userId), deviceId, byUserId });
    this.seal();
    return index;
  }

  /** Deactivation as the relay does it: every device revoked, then the person (unless `revoke` is false). */
  deactivate(userId: string, byUserId: string, opts: { revoke?: boolean } = {}): number {
    if (opts.revoke !== false) {
      for (const id of [...this.people.get(userId)!.devices.keys()].sort(compareIds)) {
        this.append({ type: 'device-revoked', time: this.time, ...this.header(userId), deviceId: id, byUserId });
      }
    }
    const index = this.append({ type: 'user-deactivated', time: this.time, ...this.header(userId), byUserId });
    this.seal();
    return index;
  }

  generation(creator: TestDevice, generation: number, deviceIds: string[] = this.activeDeviceIds()): number {
    const index = this.append(this.generationEntry(creator, generation, deviceIds));
    this.seal();
    return index;
  }

  membership(groupId: string, epoch: number, members: string[], committer: TestDevice): number {
    const index = this.append(this.membershipEntry(groupId, epoch, members, committer));
    this.seal();
    return index;
  }

  /** Appends the SNAPSHOT that ends a change and moves the clock on. */
  seal(): number {
    const index = this.snapshot();
    this.tick();
    return index;
  }

  activeDeviceIds(): string[] {
    const ids: string[] = [];
    for (const p of this.people.values()) if (p.deactivatedIndex === null) ids.push(...p.devices.keys());
    return ids.sort(compareIds);
  }

  /** An ApproverLookup answered from the model (what a verifier that replayed the other people
   * would know): the device's person, role and key, and whether device and person were active at
   * `index`. Every question is recorded in `asked`. */
  lookup(asked: { deviceId: string; index: number }[] = []): ApproverLookup {
    return async (deviceId, index) => {
      asked.push({ deviceId, index });
      const d = this.devices.get(deviceId);
      if (!d || d.addedIndex >= index) return undefined;
      const p = this.people.get(d.device.userId)!;
      const active = (d.revokedIndex === null || d.revokedIndex > index) && (p.deactivatedIndex === null || p.deactivatedIndex > index);
      // The role the person held at `index`, as a verifier replaying their chain to there sees it.
      const role = p.roles.filter((r) => r.index < index).at(-1)?.role ?? p.role;
      return { userId: p.userId, role, signPub: d.device.signPub, active };
    };
  }

  // ---- snapshots ----

  /** The snapshot leaves of the current model: every person sorted by id, with their chain head
   * and the device set hash of their devices that were not revoked. */
  snapshotState(): SnapshotState {
    const userIds = [...this.people.keys()].sort(compareIds);
    const leaves = userIds.map((id) => {
      const p = this.people.get(id)!;
      const devices = [...p.devices.values()].map((d) => ({ deviceId: d.deviceId, signPub: d.signPub, encPub: d.encPub }));
      return encodeSnapshotLeaf({ userId: id, userSeq: p.seq, userHeadHash: p.head, deviceSetHash: deviceSetHash(devices) });
    });
    return { userIds, leaves };
  }

  /** Appends a SNAPSHOT of `state` (the current one by default; an older one for a stale snapshot). */
  snapshot(state: SnapshotState = this.snapshotState()): number {
    const root = MerkleLevels.fromLeafHashes(state.leaves.map(leafHash)).root();
    const index = this.append({ type: 'snapshot', time: this.time, userCount: state.userIds.length, snapshotRoot: root });
    this.snapshots.push({ index, ...state });
    return index;
  }

  // ---- what the relay serves ----

  tree(size = this.size): MerkleLevels {
    return MerkleLevels.fromLeafHashes(this.entries.slice(0, size).map(leafHash));
  }

  root(size = this.size): Uint8Array {
    return this.tree(size).root();
  }

  consistency(from: number, to = this.size): Uint8Array[] {
    return this.tree(to).consistencyProof(from, to);
  }

  /** Every entry of `userId` below `size`, by index, as the log holds them. */
  entriesOf(userId: string, size = this.size): { index: number; bytes: Uint8Array }[] {
    const out: { index: number; bytes: Uint8Array }[] = [];
    for (let index = 0; index < size; index++) {
      let e: Entry;
      try {
        e = decodeEntry(this.entries[index]);
      } catch {
        continue;
      }
      if (isUserEntry(e) && e.userId === userId) out.push({ index, bytes: this.entries[index] });
    }
    return out;
  }

  /** GET /v1/kt/users/:id?size= as an honest relay answers it. */
  userResponse(userId: string, size = this.size): KtUserResponse {
    const tree = this.tree(size);
    const snap = this.snapshots.filter((s) => s.index < size).at(-1);
    if (!snap) throw new Error('test log: no snapshot below that size');
    const leafIndex = snap.userIds.indexOf(userId);
    if (leafIndex < 0) throw new Error(`test log: ${userId} is not in the snapshot`);
    const snapTree = MerkleLevels.fromLeafHashes(snap.leaves.map(leafHash));
    return {
      size,
      entries: this.entriesOf(userId, size).map(({ index, bytes }) => ({ index, entry: toB64u(bytes), proof: tree.inclusionProof(index, size).map(toB64u) })),
      snapshot: {
        index: snap.index,
        entry: toB64u(this.entries[snap.index]),
        proof: tree.inclusionProof(snap.index, size).map(toB64u),
        leaf: toB64u(snap.leaves[leafIndex]),
        leafIndex,
        leafProof: snapTree.inclusionProof(leafIndex).map(toB64u),
      },
    };
  }

  checkpointBody(size = this.size, origin = this.origin): string {
    return formatCheckpoint({ origin, size, root: this.root(size), extensions: [] });
  }

  /** The checkpoint note for `size`, signed with the log key (or `seed`), plus `extra` lines. */
  checkpoint(size = this.size, opts: { seed?: Uint8Array; origin?: string; extra?: (body: string) => NoteSignature[] } = {}): string {
    const body = this.checkpointBody(size, opts.origin);
    const sigs = [signNote(body, this.origin, opts.seed ?? this.logSeed), ...(opts.extra?.(body) ?? [])];
    return formatNote({ text: body, signatures: sigs });
  }
}
