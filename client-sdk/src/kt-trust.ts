/** Key transparency on the device: before it trusts a key, the client verifies the relay's signed
 * checkpoint (log signature, witness quorum, freshness), that the log only grew since the last
 * checkpoint it stored, and each person's entries, chain and latest snapshot. Crypto elsewhere in
 * the client uses only keys verified here; the relay's directory is a hint for ids and names.
 * Failures fail closed and raise alarms kept with their evidence. */
import { AgoraError } from './core/errors.js';
import type { Alarm, KtLocal, ProfileState, VerifiedUser } from './core/state.js';
import { fromB64u, newId, toB64u, bytesEqual } from './protocol/encoding.js';
import { KtError, verifyAppendOnly, verifyCheckpoint } from './kt/checkpoint.js';
import { openNote, parseCheckpoint, verifierFromVkey } from './kt/note.js';
import { PolicySchema, type Policy } from './kt/policy.js';
import type { ApproverLookup } from './kt/chain.js';
import { UserProofError, verifyUserProof } from './kt/verify-user.js';
import type { KtHttp } from './transport/kt-http.js';

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
  private verifying = new Map<string, Promise<VerifiedUser | undefined>>();

  constructor(
    private readonly state: () => ProfileState,
    private readonly kt: KtHttp,
    private readonly now: () => number,
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
    this.verifying.clear();
  }

  alarm(kind: string, message: string, evidence: string[] = []): Alarm {
    // The same finding on every sync is one alarm, not a flood.
    const known = this.local.alarms.find((a) => a.kind === kind && a.message === message);
    const a: Alarm = known ?? { id: newId('r').slice(2, 12), at: this.now(), kind, message, evidence };
    if (!known) this.local.alarms.push(a);
    this.raised.push(a);
    return a;
  }

  private fail(kind: string, message: string, evidence: string[] = []): never {
    this.alarm(kind, message, evidence);
    throw new AgoraError('forbidden', `key transparency: ${message}`);
  }

  /** Fetches and verifies the relay's checkpoint and that the log only grew since the stored one. */
  async refresh(): Promise<void> {
    if (this.refreshed) return;
    const policy = this.policy;
    let note: string;
    try {
      note = (await this.kt.checkpoint(policy.quorum > 0 ? policy.quorum : undefined)).checkpoint;
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
        if (next.size > prev.size && prev.size > 0) proof = (await this.kt.consistency(prev.size, next.size)).proof.map(fromB64u);
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
  async ensureUsers(userIds: Iterable<string>): Promise<string[]> {
    await this.refresh();
    const failed: string[] = [];
    for (const id of new Set(userIds)) {
      const v = await this.verifyUser(id);
      if (v) this.compareWithDirectory(id, v);
      else failed.push(id);
    }
    return failed;
  }

  private verifyUser(userId: string): Promise<VerifiedUser | undefined> {
    const cached = this.local.users[userId];
    if (cached && cached.size === this.checkpoint.size) return Promise.resolve(cached);
    let p = this.verifying.get(userId);
    if (!p) {
      p = this.doVerifyUser(userId);
      this.verifying.set(userId, p);
    }
    return p;
  }

  private async doVerifyUser(userId: string): Promise<VerifiedUser | undefined> {
    const cp = this.checkpoint;
    let response;
    try {
      response = await this.kt.user(userId, cp.size);
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'not_found') return undefined;
      throw new AgoraError('network', `the key-transparency log did not answer for a person (${(e as Error).message})`);
    }
    const approver: ApproverLookup = async (deviceId, index) => {
      const ownerId = this.state().directory.devices.find((d) => d.id === deviceId)?.userId;
      if (!ownerId || ownerId === userId) return undefined;
      const owner = await this.verifyUser(ownerId);
      const d = owner?.devices.find((x) => x.deviceId === deviceId);
      if (!owner || !d) return undefined;
      return { userId: ownerId, role: owner.role, signPub: fromB64u(d.signPub), active: d.addedIndex < index && (d.revokedIndex === null || d.revokedIndex > index) };
    };
    let chain;
    try {
      chain = await verifyUserProof({ userId, response, checkpoint: cp, approver });
    } catch (e) {
      if (!(e instanceof UserProofError)) throw e;
      const name = this.state().directory.users.find((u) => u.id === userId)?.name ?? userId;
      this.alarm(e.code === 'chain' ? 'bad_chain' : 'key_substitution', `${name}: ${e.message}`, [this.local.checkpoint!.note]);
      delete this.local.users[userId];
      return undefined;
    }
    const verified: VerifiedUser = {
      size: cp.size,
      name: chain.name,
      role: chain.role,
      status: chain.status,
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
      })),
    };
    // One key bound to two people: neither binding can be trusted.
    for (const [otherId, other] of Object.entries(this.local.users)) {
      if (otherId === userId) continue;
      const clash = verified.devices.find((d) => other.devices.some((o) => o.signPub === d.signPub || o.encPub === d.encPub));
      if (clash) {
        this.alarm('key_substitution', `a key of ${verified.name} (device ${clash.deviceId}) is also bound to ${other.name}: neither is trusted`);
        delete this.local.users[otherId];
        return undefined;
      }
    }
    this.local.users[userId] = verified;
    return verified;
  }

  /** The relay's directory must show exactly the keys the log shows. */
  private compareWithDirectory(userId: string, v: VerifiedUser): void {
    const s = this.state();
    // A device enrolled after the checkpoint we verified (witnesses lag behind the log) is simply
    // not trusted yet; one the log still lacks after that window is an alarm.
    const window = Math.max(60, this.policy.quorum > 0 ? this.policy.maxCheckpointAgeSeconds : 0) * 1000;
    for (const d of s.directory.devices.filter((x) => x.userId === userId)) {
      const logged = v.devices.find((x) => x.deviceId === d.id);
      if (!logged && this.now() - d.createdAt < window) continue;
      if (!logged) {
        const mine = userId === s.userId;
        this.alarm(mine ? 'unknown_device' : 'key_substitution', mine
          ? `the relay lists a device of yours (${d.id}) that the key-transparency log does not show; it is not trusted`
          : `the relay lists a device of ${v.name} (${d.id}) that the key-transparency log does not show; it is not trusted`);
      } else if (logged.signPub !== d.signPub || logged.encPub !== d.encPub) {
        this.alarm('key_substitution', `the relay served other keys for a device of ${v.name} (${d.id}) than the key-transparency log: it may be trying to read messages; those keys are not used`);
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

  /** Verified active devices of a person (empty if the person is not verified or deactivated). */
  activeDevicesOf(userId: string): TrustedDevice[] {
    const u = this.local.users[userId];
    if (!u || u.status !== 'active' || (this.local.checkpoint && u.size !== this.local.checkpoint.size)) return [];
    return u.devices.filter((d) => d.revokedIndex === null).map((d) => ({ deviceId: d.deviceId, userId, signPub: fromB64u(d.signPub), encPub: fromB64u(d.encPub), active: true }));
  }

  /** Verifies the owners of these devices (directory hint) and returns those now trusted. */
  async ensureDevices(deviceIds: Iterable<string>): Promise<void> {
    const dir = this.state().directory.devices;
    const owners = new Set<string>();
    for (const id of deviceIds) {
      const owner = dir.find((d) => d.id === id)?.userId;
      if (owner) owners.add(owner);
    }
    await this.ensureUsers(owners);
  }

  /** Monitoring: every device on this person's account must be one their own devices approved or
   * knew when this device enrolled; anything else is reported. */
  async monitorSelf(): Promise<void> {
    const s = this.state();
    const before = this.raised.length;
    const failed = await this.ensureUsers([s.userId]);
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
      this.alarm(
        'device_added_by_admin',
        `a new device (${d.deviceId}) was added to your account on ${new Date(d.addedAt).toISOString()} with an invite approved by ${approver}, not by one of your devices. If it is not yours, tell your security officer.`,
      );
    }
    this.local.knownOwnDevices = [...known];
  }

  /** Compares a checkpoint another member saw (carried inside their signed record) with ours. */
  async compareGossip(note: string, from: string): Promise<void> {
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
      proof = (await this.kt.consistency(small.size, big.size)).proof.map(fromB64u);
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

}
