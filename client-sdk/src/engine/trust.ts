/** Key transparency on the device: before it trusts a key, the client verifies the relay's signed
 * checkpoint (log signature, witness quorum, freshness), that the log only grew since the last
 * checkpoint it stored, and each person's entries, chain and latest snapshot. Crypto elsewhere in
 * the client uses only keys verified here; the relay's directory is a hint for ids and names.
 * Failures fail closed and raise alarms kept with their evidence. */
import { AgoraError } from '../core/errors.js';
import type { Alarm, KtLocal, ProfileState, VerifiedUser } from '../core/state.js';
import { fromB64u, newId, toB64u, bytesEqual } from '@agora/protocol/encoding';
import type { RandomSource } from '@agora/protocol/crypto/random';
import { KtError, verifyAppendOnly, verifyCheckpoint } from '@agora/protocol/kt/checkpoint';
import { openNote, parseCheckpoint, verifierFromVkey } from '@agora/protocol/kt/note';
import { PolicySchema, type Policy } from '@agora/protocol/kt/policy';
import { ChainError, replayUser, roleAt, type ApproverLookup } from '@agora/protocol/kt/chain';
import type { KtRole } from '@agora/protocol/kt/entries';
import type { KtUserResponse } from '@agora/protocol/api';
import { UserProofError, verifyUserProof } from '@agora/protocol/kt/verify-user';
import type { MembershipCheck } from '../core/membership.js';
import { decodeEntry, isLegacyMembership, membershipMessage } from '@agora/protocol/kt/entries';
import { verify } from '@agora/protocol/crypto/device-keys';
import { sameName } from '@agora/protocol/names';
import { leafHash } from '@agora/protocol/kt/hash';
import { ProofError, verifyInclusion } from '@agora/protocol/kt/merkle';
import { verifyTail } from '@agora/protocol/kt/range';
import { LIMITS } from '@agora/protocol/limits';
import { ask, type Op } from './op.js';
import { req, witnessSelection } from './requests.js';

export interface TrustedDevice {
  deviceId: string;
  userId: string;
  signPub: Uint8Array;
  encPub: Uint8Array;
  active: boolean;
}

export class KtTrust {
  /** Alarms raised during the current operation (the caller reports them). */
  raised: Alarm[] = [];
  private refreshed = false;
  /** When the checkpoint in use was fetched and verified. */
  private verifiedAt = -1;
  /** People verified (or found unverifiable) in this operation. */
  private outcomes = new Map<string, VerifiedUser | undefined>();
  /** The log's answers for the people being verified right now (see prefixApprover). */
  private pending = new Map<string, KtUserResponse>();
  /** Answers fetched ahead, several people per request (prefetch), at a checkpoint size; null where
   * the log does not list the person. Used instead of a request of the person's own. */
  private prefetched = new Map<string, KtUserResponse | null>();
  /** The checkpoints this object verified across operations (kept in memory only), and when the
   * last one was; `lastAt` is -1 once any check of the log failed since, so a device whose log
   * misbehaves stops sending on the view it had (see Machine.isCurrent) until one verifies again. */
  readonly verifications = { count: 0, lastAt: -1 };

  constructor(
    private readonly state: () => ProfileState,
    private readonly now: () => number,
    private readonly random: RandomSource,
  ) {}

  private get local(): KtLocal {
    return this.state().kt;
  }

  get policy(): Policy {
    return PolicySchema.parse(this.local.policy);
  }

  /** Starts a new operation: the checkpoint will be fetched and verified again. */
  begin(): void {
    this.raised = [];
    this.refreshed = false;
    this.outcomes.clear();
    this.prefetched.clear();
  }

  alarm(kind: string, message: string, evidence: string[] = [], subject?: Alarm['subject']): Alarm {
    // The same finding on every sync is one alarm, not a flood.
    const known = this.local.alarms.find((a) => a.kind === kind && a.message === message);
    const a: Alarm = known ?? { id: newId('r', this.random).slice(2, 12), at: this.now(), kind, message, evidence, ...(subject ? { subject } : {}) };
    if (!known) this.local.alarms.push(a);
    this.raised.push(a);
    return a;
  }

  private fail(kind: string, message: string, evidence: string[] = []): never {
    this.verifications.lastAt = -1;
    this.alarm(kind, message, evidence);
    throw new AgoraError('forbidden', `key transparency: ${message}`);
  }

  /** Fetches and verifies the relay's checkpoint and that the log only grew since the stored one.
   * `fetched`: a checkpoint the relay gave already, asked for by the same witness selection (a
   * sync answer); it is verified exactly as one fetched here. */
  async *refresh(fetched?: string): Op<void> {
    if (this.refreshed) return;
    const policy = this.policy;
    let note: string;
    try {
      // By the policy's own witness keys: cosignatures by anyone else cannot move the answer.
      note = fetched ?? (yield* ask(req.ktCheckpoint(witnessSelection(policy)))).checkpoint;
    } catch (e) {
      throw new AgoraError('network', `the key-transparency log is unavailable, so no key can be verified and nothing is encrypted (${(e as Error).message})`);
    }
    let verified;
    try {
      verified = verifyCheckpoint(policy, note, this.now());
    } catch (e) {
      if (!(e instanceof KtError)) throw e;
      const kind = e.code === 'bad_log_signature' || e.code === 'wrong_origin' || e.code === 'bad_witness_signature' ? 'forged_checkpoint' : 'unverifiable';
      return this.fail(kind, e.message, [note]);
    }
    const next = verified.checkpoint;
    const prev = this.local.checkpoint;
    if (prev) {
      let proof: Uint8Array[] = [];
      try {
        if (next.size > prev.size && prev.size > 0) proof = (yield* ask(req.ktConsistency(prev.size, next.size))).proof.map(fromB64u);
      } catch (e) {
        throw new AgoraError('network', `the key-transparency log did not prove it only grew (${(e as Error).message})`);
      }
      try {
        verifyAppendOnly({ size: prev.size, root: fromB64u(prev.root) }, next, proof);
      } catch (e) {
        if (!(e instanceof KtError)) throw e;
        const kind = e.code === 'rollback' ? 'rollback' : 'fork';
        return this.fail(kind, e.message, [prev.note, note]);
      }
    }
    if (!prev || next.size !== prev.size) {
      this.local.checkpoint = { note, size: next.size, root: toB64u(next.root) };
    }
    this.refreshed = true;
    this.verifiedAt = this.now();
    this.verifications.count += 1;
    this.verifications.lastAt = this.verifiedAt;
  }

  get checkpointNote(): string | undefined {
    return this.local.checkpoint?.note;
  }

  private get checkpoint(): { size: number; root: Uint8Array } {
    const c = this.local.checkpoint;
    if (!c) throw new AgoraError('forbidden', 'key transparency: no verified checkpoint yet');
    return { size: c.size, root: fromB64u(c.root) };
  }

  /** Verifies these people at the current checkpoint (cached per checkpoint size). Returns the ids
   * that could not be verified; alarms are raised for those that failed a check (as opposed to
   * being unknown to the log). */
  async *ensureUsers(userIds: Iterable<string>): Op<string[]> {
    yield* this.refresh();
    const ids = [...new Set(userIds)];
    yield* this.prefetch(ids.filter((id) => this.known(id) === 'missing'));
    const failed: string[] = [];
    for (const id of ids) {
      const v = yield* this.verifyUser(id);
      if (v) this.compareWithDirectory(id, v);
      else failed.push(id);
    }
    return failed;
  }

  /** A person as verified at the current checkpoint already: in the profile's cache, or tried in
   * this operation (undefined when that failed); `missing` when neither. */
  private known(userId: string): VerifiedUser | undefined | 'missing' {
    const cached = this.local.users[userId];
    // A profile written before device approvals lacks `approvedIndex`: verify such a person again.
    // One written before role changes lacks `roles`: verify that person again too.
    if (cached && cached.size === this.checkpoint.size && cached.roles !== undefined && cached.devices.every((d) => d.approvedIndex !== undefined)) return cached;
    return this.outcomes.has(userId) ? this.outcomes.get(userId) : 'missing';
  }

  private async *verifyUser(userId: string): Op<VerifiedUser | undefined> {
    const known = this.known(userId);
    if (known !== 'missing') return known;
    // Marked first: a chain of approvals that leads back here finds no approver rather than looping.
    this.outcomes.set(userId, undefined);
    const v = yield* this.doVerifyUser(userId);
    this.outcomes.set(userId, v);
    return v;
  }

  /** Fetches the log's answers for these people in as few requests as the batch limit allows (an
   * administration list of all staff: a few requests, not one per person). The relay's answers are
   * no more trusted than one by one: each is verified against the checkpoint like a single answer,
   * and a person it leaves out is asked for alone. */
  private async *prefetch(userIds: string[]): Op<void> {
    if (userIds.length < 2) return;
    const size = this.checkpoint.size;
    for (let i = 0; i < userIds.length; i += LIMITS.ktUsersPerRequest) {
      const asked = userIds.slice(i, i + LIMITS.ktUsersPerRequest);
      let answer;
      try {
        answer = yield* ask(req.ktUsers(asked, size));
      } catch (e) {
        throw new AgoraError('network', `the key-transparency log did not answer for ${asked.length} people (${(e as Error).message})`);
      }
      if (answer.size !== size) continue;
      for (const u of answer.users) {
        if (asked.includes(u.userId) && !this.prefetched.has(u.userId)) this.prefetched.set(u.userId, u.user && { size, ...u.user });
      }
    }
  }

  private async *doVerifyUser(userId: string): Op<VerifiedUser | undefined> {
    const cp = this.checkpoint;
    const ahead = this.prefetched.get(userId);
    this.prefetched.delete(userId);
    if (ahead === null) return undefined;
    let response;
    try {
      response = ahead?.size === cp.size ? ahead : yield* ask(req.ktUser(userId, cp.size));
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'not_found') return undefined;
      throw new AgoraError('network', `the key-transparency log did not answer for a person (${(e as Error).message})`);
    }
    this.pending.set(userId, response);
    try {
      return yield* this.replayVerified(userId, response, cp);
    } finally {
      this.pending.delete(userId);
    }
  }

  private async *replayVerified(userId: string, response: KtUserResponse, cp: { size: number; root: Uint8Array }): Op<VerifiedUser | undefined> {
    // The people whose devices approved this person's are verified first (each at most once): the
    // chain is then checked against them with no request in between.
    for (;;) {
      const missing = new Set<string>();
      const approver: ApproverLookup = async (deviceId, index) => {
        const ownerId = this.state().directory.devices.find((d) => d.id === deviceId)?.userId;
        if (!ownerId) return undefined;
        // Someone whose own verification is under way (role changes can make two administrators
        // vouch for each other): their entries before `index` are replayed on their own, which
        // ends because every step looks further back in the log.
        if (this.pending.has(ownerId)) return this.prefixApprover(ownerId, deviceId, index, cp, approver);
        if (ownerId === userId) return undefined;
        const owner = this.known(ownerId);
        if (owner === 'missing') {
          missing.add(ownerId);
          return undefined;
        }
        const d = owner?.devices.find((x) => x.deviceId === deviceId);
        if (!owner || !d) return undefined;
        const role = roleAt(owner.roles ?? [], index) ?? owner.role;
        return { userId: ownerId, role, signPub: fromB64u(d.signPub), active: d.addedIndex < index && (d.revokedIndex === null || d.revokedIndex > index) };
      };
      let outcome: { chain: Awaited<ReturnType<typeof verifyUserProof>> } | { error: unknown };
      try {
        outcome = { chain: await verifyUserProof({ userId, response, checkpoint: cp, approver }) };
      } catch (error) {
        outcome = { error };
      }
      if (missing.size > 0) {
        for (const ownerId of missing) yield* this.verifyUser(ownerId);
        continue;
      }
      if ('chain' in outcome) return this.keepVerified(userId, cp.size, outcome.chain);
      const e = outcome.error;
      if (!(e instanceof UserProofError)) throw e;
      const name = this.state().directory.users.find((u) => u.id === userId)?.name ?? userId;
      this.alarm(e.code === 'chain' ? 'bad_chain' : 'key_substitution', `${name}: ${e.message}`, [this.local.checkpoint!.note], { userId, name });
      delete this.local.users[userId];
      return undefined;
    }
  }

  /** A device of a person whose verification is under way, as their own entries before `index`
   * (each proven included in the checkpoint) show it at `index`; undefined when they do not. */
  private async prefixApprover(ownerId: string, deviceId: string, index: number, cp: { size: number; root: Uint8Array }, approver: ApproverLookup): ReturnType<ApproverLookup> {
    const response = this.pending.get(ownerId)!;
    try {
      const entries = response.entries.filter((e) => e.index < index).map((e) => {
        const bytes = fromB64u(e.entry);
        verifyInclusion(leafHash(bytes), e.index, cp.size, e.proof.map(fromB64u), cp.root);
        return { index: e.index, bytes };
      });
      if (entries.length === 0) return undefined;
      const chain = await replayUser(ownerId, entries, approver);
      const d = chain.devices.find((x) => x.deviceId === deviceId);
      if (!d) return undefined;
      return { userId: ownerId, role: chain.role, signPub: d.signPub, active: d.addedIndex < index && (d.revokedIndex === null || d.revokedIndex > index) };
    } catch (e) {
      if (e instanceof ProofError || e instanceof ChainError) return undefined;
      throw e;
    }
  }

  /** The role a verified person held at log position `index` (their current one if this device
   * verified them before role changes were logged); undefined if not verified. */
  roleAt(userId: string, index: number): KtRole | undefined {
    const v = this.local.users[userId];
    if (!v) return undefined;
    return roleAt(v.roles ?? [], index) ?? v.role;
  }

  /** Keeps a person's verified chain at checkpoint size `size`, unless a key of theirs is bound to
   * someone else too. */
  private keepVerified(userId: string, size: number, chain: Awaited<ReturnType<typeof verifyUserProof>>): VerifiedUser | undefined {
    const verified: VerifiedUser = {
      size,
      name: chain.name,
      role: chain.role,
      roles: chain.roles.map((r) => ({ index: r.index, role: r.role })),
      status: chain.status,
      deactivatedIndex: chain.deactivatedIndex,
      devices: chain.devices.map((d) => ({
        deviceId: d.deviceId,
        signPub: toB64u(d.signPub),
        encPub: toB64u(d.encPub),
        via: d.via,
        approverDeviceId: d.approverDeviceId,
        approverUserId: d.approverUserId,
        addedIndex: d.addedIndex,
        addedAt: d.addedAt,
        revokedIndex: d.revokedIndex,
        approvedIndex: d.approvedIndex,
      })),
    };
    // One key bound to two people: neither binding can be trusted.
    for (const [otherId, other] of Object.entries(this.local.users)) {
      if (otherId === userId) continue;
      const clash = verified.devices.find((d) => other.devices.some((o) => o.signPub === d.signPub || o.encPub === d.encPub));
      if (clash) {
        this.alarm('key_substitution', `a key of ${verified.name} (device ${clash.deviceId}) is also bound to ${other.name}: neither is trusted`, [], { userId, name: verified.name });
        delete this.local.users[otherId];
        return undefined;
      }
    }
    this.local.users[userId] = verified;
    // This device's own role is what the log says, not what it was when the device enrolled.
    if (userId === this.state().userId) this.state().role = verified.role;
    return verified;
  }

  /** The relay's word on a person's role against the log's. Every decision goes by the log's role;
   * a difference is first a role change the verified checkpoint does not hold yet (the same grace as
   * a young device, counted from when this device first saw the relay's claim), and an alarm if it
   * lasts past that: the relay (or its database) then calls someone what the log does not. */
  private compareRole(userId: string, relayRole: KtRole, v: VerifiedUser, window: number, now: number): void {
    const claims = this.local.unloggedSince;
    const claim = `role:${userId}:${relayRole}`;
    for (const k of Object.keys(claims)) if (k.startsWith(`role:${userId}:`) && k !== claim) delete claims[k];
    if (relayRole === v.role) {
      delete claims[claim];
      return;
    }
    const firstSeen = (claims[claim] ??= now);
    if (now - firstSeen < window) return;
    this.alarm('role_mismatch', `the relay says ${v.name} is ${relayRole}, but the key-transparency log says ${v.role}: the log's role is used`, [], { userId, name: v.name });
  }

  /** The relay's directory must show exactly the keys, the name and the role the log shows. */
  private compareWithDirectory(userId: string, v: VerifiedUser): void {
    const s = this.state();
    const listed = s.directory.users.find((u) => u.id === userId);
    if (listed && !sameName(listed.name, v.name)) {
      // Names decide whom people add: the log's name is used, the relay's is evidence.
      this.alarm('name_mismatch', `the relay calls ${userId} "${listed.name}", but the key-transparency log names this person "${v.name}": the log's name is used`, [], { userId, name: v.name });
    }
    // A device enrolled after the checkpoint we verified (witnesses lag behind the log) is simply
    // not trusted yet; one the log still lacks after that window is an alarm.
    // The device's age is the relay's word, so it is counted from the earlier of its stated
    // creation and the first time this device saw it listed: a relay that dates a device in the
    // future, or keeps re-dating it, gains nothing.
    const window = Math.max(60, this.policy.quorum > 0 ? this.policy.maxCheckpointAgeSeconds : 0) * 1000;
    const now = this.now();
    if (listed) this.compareRole(userId, listed.role, v, window, now);
    for (const d of s.directory.devices.filter((x) => x.userId === userId)) {
      const logged = v.devices.find((x) => x.deviceId === d.id);
      if (logged) delete this.local.unloggedSince[d.id];
      else {
        const firstSeen = (this.local.unloggedSince[d.id] ??= now);
        if (d.createdAt <= now && now - Math.min(d.createdAt, firstSeen) < window) continue;
      }
      if (!logged) {
        const mine = userId === s.userId;
        this.alarm(mine ? 'unknown_device' : 'key_substitution', mine
          ? `the relay lists a device of yours (${d.id}) that the key-transparency log does not show; it is not trusted`
          : `the relay lists a device of ${v.name} (${d.id}) that the key-transparency log does not show; it is not trusted`, [], { userId, name: v.name });
      } else if (logged.signPub !== d.signPub || logged.encPub !== d.encPub) {
        this.alarm('key_substitution', `the relay served other keys for a device of ${v.name} (${d.id}) than the key-transparency log: it may be trying to read messages; those keys are not used`, [], { userId, name: v.name });
      }
    }
  }

  /** A verified device (any status) of a verified person, from the cache of this checkpoint. */
  device(deviceId: string): TrustedDevice | undefined {
    for (const [userId, u] of Object.entries(this.local.users)) {
      if (this.local.checkpoint && u.size !== this.local.checkpoint.size) continue;
      const d = u.devices.find((x) => x.deviceId === deviceId);
      if (d) {
        return { deviceId, userId, signPub: fromB64u(d.signPub), encPub: fromB64u(d.encPub), active: u.status === 'active' && d.revokedIndex === null };
      }
    }
    return undefined;
  }

  /** Whether a verified device was active at log position `index`: added before it, neither it
   * revoked nor its person deactivated before it. undefined if the device is not verified. */
  deviceActiveAt(deviceId: string, index: number): boolean | undefined {
    const owner = this.device(deviceId)?.userId;
    const u = owner === undefined ? undefined : this.local.users[owner];
    const d = u?.devices.find((x) => x.deviceId === deviceId);
    if (!u || !d) return undefined;
    // A deactivation verified by an older release has no position: treat it as long past.
    const deactivatedAt = u.status === 'deactivated' ? (u.deactivatedIndex ?? -1) : null;
    return d.addedIndex < index && (d.revokedIndex === null || d.revokedIndex > index) && (deactivatedAt === null || deactivatedAt > index);
  }

  /** Where a verified device stopped being active (its revocation or its person's deactivation,
   * whichever came first); null while it is active, undefined if it is not verified. */
  inactiveSince(deviceId: string): number | null | undefined {
    const owner = this.device(deviceId)?.userId;
    const u = owner === undefined ? undefined : this.local.users[owner];
    const d = u?.devices.find((x) => x.deviceId === deviceId);
    if (!u || !d) return undefined;
    const ends = [d.revokedIndex, u.status === 'deactivated' ? (u.deactivatedIndex ?? -1) : null].filter((x): x is number => x !== null);
    return ends.length === 0 ? null : Math.min(...ends);
  }

  /** Every entry of the log from `start` up to the verified checkpoint, proven to be exactly the
   * log's entries there (none left out, none added): how a device learns revocations and
   * organisation-key generations without taking the relay's word for which ones exist. */
  async *tail(start: number): Op<{ index: number; bytes: Uint8Array }[]> {
    yield* this.refresh();
    const cp = this.checkpoint;
    if (start >= cp.size) return [];
    const out: { index: number; bytes: Uint8Array }[] = [];
    let proof: Uint8Array[];
    try {
      while (start + out.length < cp.size) {
        const page = yield* ask(req.ktEntries(start + out.length, cp.size));
        if (page.entries.length === 0) break;
        for (const e of page.entries) {
          if (e.index !== start + out.length) throw new Error('the log served entries out of order');
          out.push({ index: e.index, bytes: fromB64u(e.entry) });
        }
      }
      proof = (yield* ask(req.ktInclusion(start, cp.size))).proof.map(fromB64u);
    } catch (e) {
      throw new AgoraError('network', `the key-transparency log did not serve its latest entries (${(e as Error).message})`);
    }
    try {
      verifyTail(start, out.map((e) => leafHash(e.bytes)), cp.size, proof, cp.root);
    } catch (e) {
      if (!(e instanceof ProofError)) throw e;
      return this.fail('hidden_entries', `the relay served other key-transparency entries than its log holds from position ${start} on: entries may be hidden`, [this.local.checkpoint!.note]);
    }
    return out;
  }

  /** One entry, proven to be in the log at `index` under the verified checkpoint. */
  async *provenEntry(index: number): Op<Uint8Array> {
    yield* this.refresh();
    const cp = this.checkpoint;
    if (index >= cp.size) throw new AgoraError('forbidden', 'key transparency: that entry is not in the verified log yet');
    let bytes: Uint8Array | undefined;
    let proof: Uint8Array[];
    try {
      const served = (yield* ask(req.ktEntries(index, index + 1))).entries.find((e) => e.index === index);
      bytes = served ? fromB64u(served.entry) : undefined;
      proof = (yield* ask(req.ktInclusion(index, cp.size))).proof.map(fromB64u);
    } catch (e) {
      throw new AgoraError('network', `the key-transparency log did not serve entry ${index} (${(e as Error).message})`);
    }
    if (!bytes) throw new AgoraError('network', `the key-transparency log did not serve entry ${index}`);
    try {
      verifyInclusion(leafHash(bytes), index, cp.size, proof, cp.root);
    } catch (e) {
      if (!(e instanceof ProofError)) throw e;
      return this.fail('hidden_entries', `the relay served a key-transparency entry ${index} that its log does not hold`, [this.local.checkpoint!.note]);
    }
    return bytes;
  }

  /** Verified active devices of a person (empty if the person is not verified or deactivated). */
  activeDevicesOf(userId: string): TrustedDevice[] {
    const u = this.local.users[userId];
    if (!u || u.status !== 'active' || (this.local.checkpoint && u.size !== this.local.checkpoint.size)) return [];
    return u.devices.filter((d) => d.revokedIndex === null).map((d) => ({ deviceId: d.deviceId, userId, signPub: fromB64u(d.signPub), encPub: fromB64u(d.encPub), active: true }));
  }

  /** The active devices of a person that their own devices vouch for (kt/chain.ts `approvedIndex`):
   * the only ones anybody adds to that person's secret groups. A device an administrator's invite
   * put on the account waits for the person's approval (unless it was their only device). */
  approvedDevicesOf(userId: string): TrustedDevice[] {
    const approved = new Set(this.local.users[userId]?.devices.filter((d) => d.approvedIndex != null).map((d) => d.deviceId));
    return this.activeDevicesOf(userId).filter((d) => approved.has(d.deviceId));
  }

  /** Verifies the owners of these devices (directory hint) and returns those now trusted. */
  async *ensureDevices(deviceIds: Iterable<string>): Op<void> {
    const dir = this.state().directory.devices;
    const owners = new Set<string>();
    for (const id of deviceIds) {
      const owner = dir.find((d) => d.id === id)?.userId;
      if (owner) owners.add(owner);
    }
    yield* this.ensureUsers(owners);
  }

  /** Monitoring: every device on this person's account must be one their own devices approved or
   * knew when this device enrolled; anything else is reported. */
  async *monitorSelf(): Op<void> {
    const s = this.state();
    const before = this.raised.length;
    const failed = yield* this.ensureUsers([s.userId]);
    if (failed.length > 0) {
      // Not in the witnessed log yet (a device just enrolled, witnesses not run since): nothing
      // to monitor. A check that failed has raised its alarm: fail closed.
      if (this.raised.length === before) return;
      this.fail('unverifiable', 'your own entries in the key-transparency log do not verify');
    }
    const me = this.local.users[s.userId];
    const known = new Set(this.local.knownOwnDevices);
    for (const d of me.devices) {
      if (known.has(d.deviceId)) continue;
      known.add(d.deviceId);
      if (d.approverUserId === s.userId) continue; // approved by one of this person's devices
      const approver = this.local.users[d.approverUserId]?.name ?? s.directory.users.find((u) => u.id === d.approverUserId)?.name ?? d.approverUserId;
      // Unapproved, it joins none of this person's secret groups; one of their devices can vouch for it.
      const approve = d.approvedIndex == null && d.revokedIndex === null
        ? ` It is not added to your secret groups until you approve it: if it is yours, run "agora device approve ${d.deviceId}" on one of your devices.`
        : '';
      this.alarm(
        'device_added_by_admin',
        `a new device (${d.deviceId}) was added to your account on ${new Date(d.addedAt).toISOString()} with an invite approved by ${approver}, not by one of your devices.${approve} If it is not yours, tell your security officer.`,
      );
    }
    this.local.knownOwnDevices = [...known];
  }

  /** Compares a checkpoint another member saw (carried inside their signed record) with ours. */
  async *compareGossip(note: string, from: string): Op<void> {
    const policy = this.policy;
    let theirs;
    try {
      const opened = openNote(note, [verifierFromVkey(policy.log.vkey)]);
      if (opened.verified.length === 0) throw new Error('unsigned');
      theirs = parseCheckpoint(opened.note.text);
    } catch {
      this.alarm('bad_gossip', `a message from ${from} carried a key-transparency checkpoint not signed by the log`, [note]);
      return;
    }
    const ours = this.local.checkpoint;
    if (!ours || theirs.origin !== parseCheckpoint(openNote(ours.note, [verifierFromVkey(policy.log.vkey)]).note.text).origin) return;
    if (theirs.size === ours.size) {
      if (!bytesEqual(theirs.root, fromB64u(ours.root))) this.alarm('fork', `${from} and this device were shown two different key-transparency logs of the same size: the relay is showing people different keys`, [ours.note, note]);
      return;
    }
    const [small, big] = theirs.size < ours.size ? [theirs, parseCheckpoint(openNote(ours.note, [verifierFromVkey(policy.log.vkey)]).note.text)] : [parseCheckpoint(openNote(ours.note, [verifierFromVkey(policy.log.vkey)]).note.text), theirs];
    if (small.size === 0) return;
    let proof: Uint8Array[];
    try {
      proof = (yield* ask(req.ktConsistency(small.size, big.size))).proof.map(fromB64u);
    } catch (e) {
      const status = e instanceof AgoraError ? e.details.status : undefined;
      if (status === undefined || status >= 500) {
        this.alarm('unverifiable', `could not compare ${from}'s view of the key-transparency log with this device's (the relay did not answer)`, [ours.note, note]);
        return;
      }
      // The relay refuses to prove that two checkpoints it signed are consistent: equivocation.
      this.alarm('fork', `${from} saw a key-transparency log the relay cannot reconcile with this device's: the relay is showing people different keys`, [ours.note, note]);
      return;
    }
    try {
      verifyAppendOnly({ size: small.size, root: small.root }, big, proof);
    } catch (e) {
      if (!(e instanceof KtError)) throw e;
      this.alarm('fork', `${from} saw a key-transparency log that is not consistent with this device's: the relay is showing people different keys`, [ours.note, note]);
    }
  }

  /** Checks a secret group's membership entry in the log against the commitment this device computed
   * from its own MLS tree and the epoch's salt, and the committer's signature against the log-proven
   * key. The relay appends a commit and its entry together, so an entry the verified log still lacks
   * once a checkpoint fetched after the commit is in hand (and, with witnesses, their lag is over) is
   * an alarm too. Returns 'pending' only while the log may legitimately lag. */
  async *checkMembership(groupId: string, groupName: string, check: MembershipCheck): Op<'done' | 'pending'> {
    yield* this.refresh();
    const cp = this.checkpoint;
    const where = `${groupName} (epoch ${check.epoch})`;
    const evidence = [this.local.checkpoint!.note];
    let served: { index: number; entry: string; proof: string[] } | undefined;
    try {
      if (cp.size > 0) served = yield* ask(req.ktMembership(groupId, check.epoch, cp.size));
    } catch (e) {
      if (!(e instanceof AgoraError && e.code === 'not_found')) {
        throw new AgoraError('network', `the key-transparency log did not answer for the membership of ${where} (${(e as Error).message})`);
      }
    }
    if (!served) {
      const lag = this.policy.quorum > 0 ? this.policy.maxCheckpointAgeSeconds * 1000 : 0;
      if (check.since === null || this.verifiedAt <= check.since || this.now() - check.since < lag) {
        check.since ??= this.now();
        return 'pending';
      }
      this.alarm('membership_mismatch', `the key-transparency log has no membership entry for ${where}: the relay keeps who can read this group out of the log`, evidence);
      return 'done';
    }
    let entry;
    try {
      const bytes = fromB64u(served.entry);
      verifyInclusion(leafHash(bytes), served.index, cp.size, served.proof.map(fromB64u), cp.root);
      entry = decodeEntry(bytes);
    } catch {
      this.alarm('membership_mismatch', `the relay served a membership entry for ${where} that its key-transparency log does not prove`, evidence);
      return 'done';
    }
    if (entry.type !== 'group-membership' || entry.groupId !== groupId || entry.epoch !== check.epoch) {
      this.alarm('membership_mismatch', `the relay served another entry than the membership of ${where}`, evidence);
      return 'done';
    }
    if (isLegacyMembership(entry) || !bytesEqual(entry.commitment, fromB64u(check.commitment)) || entry.committerDeviceId !== check.committer) {
      this.alarm(
        'membership_mismatch',
        `the key-transparency log shows another membership for ${where} than this device's group state: someone may read the group without being shown, or the log hides who can`,
        evidence,
      );
      return 'done';
    }
    yield* this.ensureDevices([entry.committerDeviceId]);
    const committer = this.device(entry.committerDeviceId);
    if (!committer || !(await verify(committer.signPub, membershipMessage(groupId, entry.epoch, entry.commitment), entry.signature))) {
      this.alarm('membership_mismatch', `the membership entry for ${where} in the key-transparency log is not signed by its committer's logged key`, evidence);
    }
    return 'done';
  }
}
