import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createHash } from 'node:crypto';
import { toB64u } from '../encoding.js';
import { audit, type AuditReport, type AuditSince, type FindingCode } from './audit.js';
import { KtError } from './checkpoint.js';
import { cosign, cosignatureVkey } from './cosignature.js';
import { decodeEntry, deviceEnrolmentMessage, encodeEntry, idListHash, membershipCommitment, membershipMessage, type Entry } from './entries.js';
import { auditorOpener, sealForAuditors } from './auditor.js';
import { auditorPolicyEntry, newAuditorKey } from './auditor-key.js';
import { platformRandom as randomBytes } from '../crypto/random.js';
import { leafHash } from './hash.js';
import { PolicySchema, type Policy } from './policy.js';
import { T0, TestLog, newDevice, signWith, type TestDevice } from './test-log.js';
import { MerkleLevels } from './tree.js';

const NOW = T0 + 2 * 86_400_000;
const MINUTE = 60_000;
const witness = (() => {
  const seed = ed25519.utils.randomSecretKey();
  return { name: 'witness.example/officer', seed, publicKey: ed25519.getPublicKey(seed) };
})();

function policyFor(log: TestLog, overrides: Partial<Policy> = {}): Policy {
  return PolicySchema.parse({
    log: { origin: log.origin, vkey: log.vkey },
    witnesses: [{ name: 'Officer', vkey: cosignatureVkey(witness.name, witness.publicKey) }],
    quorum: 1,
    maxCheckpointAgeSeconds: 3600,
    maxDevicesPerUser: 2,
    // 08:00–18:00 in Berlin (UTC+2 in June), Monday to Friday
    workingHours: { start: '08:00', end: '18:00', days: [1, 2, 3, 4, 5], timeZone: 'Europe/Berlin' },
    ...overrides,
  });
}

/** The witnessed checkpoint of `log` at `size`. */
function checkpointOf(log: TestLog, size = log.size, seed?: Uint8Array): string {
  return log.checkpoint(size, { seed, extra: (body) => [cosign(body, witness.name, witness.seed, Math.floor(NOW / 1000))] });
}

function run(
  log: TestLog,
  opts: { size?: number; entries?: Uint8Array[]; since?: AuditSince | null; policy?: Policy; checkpoint?: string } = {},
): Promise<AuditReport> {
  const size = opts.size ?? log.size;
  return audit({
    policy: opts.policy ?? policyFor(log),
    checkpointNote: opts.checkpoint ?? checkpointOf(log, size),
    entries: opts.entries ?? log.entries.slice(0, size),
    since: opts.since,
    now: NOW,
  });
}

/** The findings as [code, index, userId] triples: what each test pins down exactly. */
function findings(r: AuditReport): [FindingCode, number | undefined, string | undefined][] {
  return r.violations.map((v) => [v.code, v.index, v.userId]);
}

const fp = (d: TestDevice) => createHash('sha256').update(d.signPub).digest('hex').slice(0, 16);

/** Alice (bootstrap admin) and Bob (member, invited by her): entries 0–5. */
function org(): { log: TestLog; alice: TestDevice; bob: TestDevice } {
  const log = new TestLog();
  const alice = log.bootstrap(); // 0 1 [2]
  const bob = log.invitePerson(alice, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' }); // 3 4 [5]
  return { log, alice, bob };
}

/** Every kind of change, all valid, in working hours. */
function cleanLog() {
  const { log, alice, bob } = org();
  const bob2 = log.linkDevice(bob, 'u_bob', 'd_bob2'); // 6 [7]
  const carol = log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', role: 'announcer', deviceId: 'd_carol1' }); // 8 9 [10]
  const carol2 = log.linkDevice(alice, 'u_carol', 'd_carol2'); // 11 [12]
  log.generation(alice, 1); // 13 [14]
  log.membership('g_1', 0, ['d_alice1', 'd_bob1'], bob); // 15 [16]
  log.membership('g_1', 1, ['d_alice1', 'd_bob1', 'd_bob2', 'd_carol1'], alice); // 17 [18]
  log.revoke('u_bob', 'd_bob2'); // 19 [20]
  log.generation(alice, 2); // 21 [22]
  log.deactivate('u_carol', 'u_alice'); // 23 24 25 [26]
  log.membership('g_1', 2, ['d_alice1', 'd_bob1'], alice); // 27 [28]
  return { log, alice, bob, bob2, carol, carol2 };
}

describe('a clean log', () => {
  it('has no violations and reports people, device changes with approvers, group histories and generations', async () => {
    const { log, alice, bob, bob2, carol, carol2 } = cleanLog();
    expect(log.size).toBe(29);
    const r = await run(log);
    expect(r.violations).toEqual([]);
    expect(r.checkpoint).toEqual({ origin: 'agora/o_test', size: 29, root: toB64u(log.root()), witnesses: ['Officer'] });
    expect(r.since).toBeNull();
    expect(r.entries).toBe(29);
    expect(r.next).toEqual({ size: 29, root: toB64u(log.root()), at: NOW });
    expect(r.people).toEqual([
      { userId: 'u_alice', name: 'Alice', role: 'admin', status: 'active', activeDevices: 1 },
      { userId: 'u_bob', name: 'Bob', role: 'member', status: 'active', activeDevices: 1 },
      { userId: 'u_carol', name: 'Carol', role: 'announcer', status: 'deactivated', activeDevices: 0 },
    ]);
    const byAlice = { deviceId: 'd_alice1', userId: 'u_alice', name: 'Alice' };
    expect(r.deviceChanges).toEqual([
      { index: 1, at: T0, userId: 'u_alice', name: 'Alice', deviceId: 'd_alice1', change: 'added', via: 'bootstrap', approvedBy: undefined, fingerprint: fp(alice) },
      { index: 4, at: T0 + MINUTE, userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1', change: 'added', via: 'user-invite', approvedBy: byAlice, fingerprint: fp(bob) },
      {
        index: 6, at: T0 + 2 * MINUTE, userId: 'u_bob', name: 'Bob', deviceId: 'd_bob2', change: 'added', via: 'device-invite',
        approvedBy: { deviceId: 'd_bob1', userId: 'u_bob', name: 'Bob' }, fingerprint: fp(bob2),
      },
      { index: 9, at: T0 + 3 * MINUTE, userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1', change: 'added', via: 'user-invite', approvedBy: byAlice, fingerprint: fp(carol) },
      { index: 11, at: T0 + 4 * MINUTE, userId: 'u_carol', name: 'Carol', deviceId: 'd_carol2', change: 'added', via: 'device-invite', approvedBy: byAlice, fingerprint: fp(carol2) },
      { index: 19, at: T0 + 8 * MINUTE, userId: 'u_bob', name: 'Bob', deviceId: 'd_bob2', change: 'revoked' },
      { index: 23, at: T0 + 10 * MINUTE, userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1', change: 'revoked' },
      { index: 24, at: T0 + 10 * MINUTE, userId: 'u_carol', name: 'Carol', deviceId: 'd_carol2', change: 'revoked' },
    ]);
    const who = (deviceId: string, userId: string, name: string) => ({ deviceId, userId, name });
    const A = who('d_alice1', 'u_alice', 'Alice');
    const B1 = who('d_bob1', 'u_bob', 'Bob');
    expect(r.groups).toEqual([
      {
        groupId: 'g_1',
        history: [
          { index: 15, at: T0 + 6 * MINUTE, epoch: 0, committer: B1, members: [A, B1] },
          { index: 17, at: T0 + 7 * MINUTE, epoch: 1, committer: A, members: [A, B1, who('d_bob2', 'u_bob', 'Bob'), who('d_carol1', 'u_carol', 'Carol')] },
          { index: 27, at: T0 + 11 * MINUTE, epoch: 2, committer: A, members: [A, B1] },
        ],
      },
    ]);
    expect(r.generations).toEqual([
      { generation: 1, index: 13, at: T0 + 5 * MINUTE, creator: 'Alice', devices: toB64u(idListHash(['d_alice1', 'd_bob1', 'd_bob2', 'd_carol1', 'd_carol2'])) },
      { generation: 2, index: 21, at: T0 + 9 * MINUTE, creator: 'Alice', devices: toB64u(idListHash(['d_alice1', 'd_bob1', 'd_carol1', 'd_carol2'])) },
    ]);
  });

  it('notes that the first admin was enrolled with the bootstrap invite, with her key fingerprint', async () => {
    const { log, alice } = cleanLog();
    const r = await run(log);
    expect(r.notes).toEqual([`Alice was enrolled with the bootstrap invite: confirm the key fingerprint ${fp(alice)} with them in person`]);
  });

  it('refuses a checkpoint that does not verify under the policy (no report at all)', async () => {
    const { log } = cleanLog();
    const impostor = new TestLog();
    await expect(run(log, { checkpoint: checkpointOf(log, log.size, impostor.logSeed) })).rejects.toMatchObject({ code: 'bad_log_signature' });
    await expect(run(log, { checkpoint: log.checkpoint() })).rejects.toBeInstanceOf(KtError); // no witness cosignature
  });
});

describe('--since', () => {
  it('device changes only after the last audit; everything else is replayed from the start', async () => {
    const { log } = cleanLog();
    const first = await run(log, { size: 13 });
    expect(first.violations).toEqual([]);
    expect(first.next).toEqual({ size: 13, root: toB64u(log.root(13)), at: NOW });
    const r = await run(log, { since: first.next });
    expect(r.since).toEqual(first.next);
    expect(r.violations).toEqual([]);
    expect(r.deviceChanges.map((c) => [c.index, c.deviceId, c.change])).toEqual([
      [19, 'd_bob2', 'revoked'],
      [23, 'd_carol1', 'revoked'],
      [24, 'd_carol2', 'revoked'],
    ]);
    // the people, groups, generations and the bootstrap note are the whole log's
    expect(r.people.map((p) => [p.userId, p.status])).toEqual([['u_alice', 'active'], ['u_bob', 'active'], ['u_carol', 'deactivated']]);
    expect(r.groups[0].history.map((h) => h.epoch)).toEqual([0, 1, 2]);
    expect(r.generations.map((g) => g.generation)).toEqual([1, 2]);
    expect(r.notes).toHaveLength(1);
  });

  it('a change exactly at since.size is new; one just before it is not', async () => {
    const { log } = cleanLog();
    const at = (size: number) => run(log, { since: { size, root: toB64u(log.root(size)), at: NOW } });
    expect((await at(11)).deviceChanges.map((c) => c.index)).toEqual([11, 19, 23, 24]);
    expect((await at(12)).deviceChanges.map((c) => c.index)).toEqual([19, 23, 24]);
    expect((await at(19)).deviceChanges.map((c) => c.index)).toEqual([19, 23, 24]);
    expect((await at(20)).deviceChanges.map((c) => c.index)).toEqual([23, 24]);
    expect((await at(0)).deviceChanges).toHaveLength(8);
  });
});

describe('findings', () => {
  it('root_mismatch: fewer entries than the checkpoint', async () => {
    const { log } = cleanLog();
    const r = await run(log, { entries: log.entries.slice(0, 28) });
    expect(findings(r)).toEqual([['root_mismatch', undefined, undefined]]);
    expect(r.violations[0].message).toMatch(/28 entries for a checkpoint of 29/);
  });

  it('root_mismatch: the entries served are not those the checkpoint signs', async () => {
    const { log } = cleanLog();
    // the last snapshot re-dated: valid, consistent with everything, but not the signed entry
    const redated = [...log.entries.slice(0, 28), reSnapshot(log, 28, T0)];
    expect(findings(await run(log, { entries: redated }))).toEqual([['root_mismatch', undefined, undefined]]);
    // a snapshot with another root: the recomputed snapshot disagrees too
    const altered = [...log.entries.slice(0, 28), encodeEntry({ type: 'snapshot', time: T0, userCount: 3, snapshotRoot: new Uint8Array(32).fill(7) })];
    expect(findings(await run(log, { entries: altered }))).toEqual([
      ['root_mismatch', undefined, undefined],
      ['snapshot_mismatch', 28, undefined],
    ]);
  });

  it('rollback: the log is smaller than at the last audit', async () => {
    const { log } = cleanLog();
    const last = (await run(log)).next;
    const r = await run(log, { size: 20, since: last });
    expect(findings(r)).toEqual([['rollback', undefined, undefined]]);
  });

  it('history_rewritten: the first entries differ from those of the last audit', async () => {
    const { log: a } = cleanLog();
    const last = (await run(a, { size: 10 })).next;
    // The relay rewrites Bob's enrolment (entry 4) and replays the rest of its history with its log key.
    const b = new TestLog();
    for (let i = 0; i < 3; i++) b.appendBytes(a.entries[i]);
    b.time = T0 + MINUTE;
    const bob = b.invitePerson(a.device('d_alice1'), { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
    b.linkDevice(bob, 'u_bob', 'd_bob2');
    b.invitePerson(a.device('d_alice1'), { userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1' });
    const r = await run(b, { since: last, policy: policyFor(a), checkpoint: checkpointOf(b, b.size, a.logSeed) });
    expect(findings(r)).toEqual([['history_rewritten', undefined, undefined]]);
    // the same log audited against its own last audit is fine
    expect(findings(await run(a, { since: last }))).toEqual([]);
  });

  it('malformed_entry: bytes that are not an entry', async () => {
    const { log, bob } = org();
    const at = log.appendBytes(Uint8Array.of(1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff)); // 6
    log.linkDevice(bob, 'u_bob', 'd_bob2');
    const r = await run(log);
    expect(findings(r)).toEqual([['malformed_entry', at, undefined]]);
    expect(r.deviceChanges.map((c) => c.deviceId)).toEqual(['d_alice1', 'd_bob1', 'd_bob2']);
  });

  it('invalid_chain: a device whose proof of possession does not verify is reported and not counted', async () => {
    const { log, bob } = org();
    const forged = log.enrolment({ device: newDevice('u_bob', 'd_evil'), via: 'device-invite', approver: bob });
    forged.deviceSig = signWith(newDevice('u_bob', 'd_other'), deviceEnrolmentMessage(forged));
    const at = log.append(forged, { track: false }); // 6
    log.seal(); // the snapshot the honest model gives: without the device
    log.linkDevice(bob, 'u_bob', 'd_bob2'); // the chain continues from Bob's real head
    const r = await run(log);
    expect(findings(r)).toEqual([['invalid_chain', at, 'u_bob']]);
    expect(r.violations[0].message).toMatch(/^Bob: /);
    expect(r.deviceChanges.map((c) => c.deviceId)).toEqual(['d_alice1', 'd_bob1', 'd_bob2']);
    expect(r.people[1]).toMatchObject({ userId: 'u_bob', activeDevices: 2 });
  });

  it('invalid_chain: an invite approved by a member (not an admin)', async () => {
    const { log, bob } = org();
    log.append(log.userCreated('u_mallory', 'Mallory', 'member', 'd_bob1'));
    const at = log.append(log.enrolment({ device: newDevice('u_mallory', 'd_mallory1'), via: 'user-invite', approver: bob }), { track: false });
    const r = await run(log);
    expect(findings(r)).toEqual([['invalid_chain', at, 'u_mallory']]);
  });

  it("invalid_chain: an invite approved by an admin's device after its revocation, or by a deactivated admin", async () => {
    const { log, alice } = org();
    log.linkDevice(alice, 'u_alice', 'd_alice2'); // 6 [7]
    log.revoke('u_alice', 'd_alice1'); // 8 [9]
    const revoked = log.append(log.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: alice }), { track: false }); // 10
    expect(findings(await run(log))).toEqual([['invalid_chain', revoked, 'u_bob']]);

    const { log: log2, alice: alice2 } = org();
    const carol = log2.invitePerson(alice2, { userId: 'u_carol', name: 'Carol', role: 'admin', deviceId: 'd_carol1' });
    log2.deactivate('u_carol', 'u_alice', { revoke: false }); // her device is not revoked, she is deactivated
    const late = log2.append(log2.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: carol }), { track: false });
    expect(findings(await run(log2))).toEqual([
      ['invalid_chain', late, 'u_bob'],
      ['deactivated_holds_keys', undefined, 'u_carol'],
    ]);
    // her approval while she was an active admin stands
    const { log: log3, alice: alice3 } = org();
    const carol3 = log3.invitePerson(alice3, { userId: 'u_carol', name: 'Carol', role: 'admin', deviceId: 'd_carol1' });
    log3.linkDevice(carol3, 'u_bob', 'd_bob2');
    log3.deactivate('u_carol', 'u_alice');
    const r = await run(log3);
    expect(findings(r)).toEqual([]);
    expect(r.deviceChanges.find((c) => c.deviceId === 'd_bob2')?.approvedBy).toEqual({ deviceId: 'd_carol1', userId: 'u_carol', name: 'Carol' });
  });

  it("key_bound_to_two_people: Bob's signing key enrolled on Carol's account", async () => {
    const { log, alice, bob } = org();
    log.append(log.userCreated('u_carol', 'Carol', 'member', 'd_alice1'));
    const at = log.append(log.enrolment({ device: newDevice('u_carol', 'd_carol1', bob.seed), via: 'user-invite', approver: alice }));
    log.seal();
    const r = await run(log);
    expect(findings(r)).toEqual([['key_bound_to_two_people', at, 'u_carol']]);
    expect(r.violations[0].message).toBe('a key of Carol is also bound to Bob');
  });

  it('key_bound_to_two_people: one person enrolling the same key on two devices', async () => {
    const { log, bob } = org();
    log.linkDevice(bob, 'u_bob', 'd_bob2', bob.seed); // 6
    const r = await run(log);
    expect(findings(r)).toEqual([['key_bound_to_two_people', 6, 'u_bob']]);
    expect(r.violations[0].message).toBe('Bob enrolled the same key on two devices');
  });

  describe('outside_working_hours (08:00–18:00 Europe/Berlin, Monday–Friday)', () => {
    /** Adds Bob's second device at `time` (UTC ms) and returns the audit's findings. */
    async function addAt(time: number, since?: (log: TestLog) => AuditSince) {
      const { log, bob } = org();
      log.time = time;
      log.linkDevice(bob, 'u_bob', 'd_bob2'); // 6
      return findings(await run(log, { since: since?.(log), policy: policyFor(log, { maxDevicesPerUser: undefined }) }));
    }
    const monday = (h: number, m = 0) => Date.UTC(2025, 5, 2, h, m); // Berlin is UTC+2 in June

    it('a device added on a Sunday night is reported', async () => {
      expect(await addAt(Date.UTC(2025, 5, 8, 1, 0))).toEqual([['outside_working_hours', 6, 'u_bob']]);
    });

    it('a Saturday afternoon is outside the working days', async () => {
      expect(await addAt(Date.UTC(2025, 5, 7, 12, 0))).toEqual([['outside_working_hours', 6, 'u_bob']]);
    });

    it('hours are local to the policy time zone: the start is included, the end is not', async () => {
      expect(await addAt(monday(6, 0))).toEqual([]); // 08:00 in Berlin
      expect(await addAt(monday(5, 59))).toEqual([['outside_working_hours', 6, 'u_bob']]); // 07:59
      expect(await addAt(monday(15, 59))).toEqual([]); // 17:59
      expect(await addAt(monday(16, 0))).toEqual([['outside_working_hours', 6, 'u_bob']]); // 18:00
      expect(await addAt(monday(17, 30))).toEqual([['outside_working_hours', 6, 'u_bob']]); // 19:30 (17:30 in UTC would be inside)
    });

    it('is reported only for devices added since the last audit', async () => {
      const sunday = Date.UTC(2025, 5, 8, 1, 0);
      expect(await addAt(sunday, (log) => ({ size: 6, root: toB64u(log.root(6)), at: NOW }))).toEqual([['outside_working_hours', 6, 'u_bob']]);
      expect(await addAt(sunday, (log) => ({ size: 7, root: toB64u(log.root(7)), at: NOW }))).toEqual([]);
    });

    it('without working hours in the policy nothing is reported', async () => {
      const { log, bob } = org();
      log.time = Date.UTC(2025, 5, 8, 1, 0);
      log.linkDevice(bob, 'u_bob', 'd_bob2');
      expect(findings(await run(log, { policy: policyFor(log, { workingHours: undefined }) }))).toEqual([]);
    });
  });

  it('too_many_devices: more active devices than the policy allows; revoked ones do not count', async () => {
    const { log, bob } = org();
    log.linkDevice(bob, 'u_bob', 'd_bob2');
    log.linkDevice(bob, 'u_bob', 'd_bob3');
    const r = await run(log);
    expect(findings(r)).toEqual([['too_many_devices', undefined, 'u_bob']]);
    expect(r.violations[0].message).toBe('Bob has 3 devices; the policy allows 2');
    log.revoke('u_bob', 'd_bob1');
    expect(findings(await run(log))).toEqual([]);
    expect(findings(await run(log, { policy: policyFor(log, { maxDevicesPerUser: 1 }) }))).toEqual([['too_many_devices', undefined, 'u_bob']]);
  });

  it('deactivated_holds_keys: a person deactivated without revoking their devices', async () => {
    const { log } = org();
    log.deactivate('u_bob', 'u_alice', { revoke: false });
    const r = await run(log);
    expect(findings(r)).toEqual([['deactivated_holds_keys', undefined, 'u_bob']]);
    expect(r.people[1]).toMatchObject({ status: 'deactivated', activeDevices: 0 });
  });

  describe('bad_membership_signature', () => {
    /** Alice, Bob and Carol (member) with group g_1 created by Bob for himself and Alice (index 9). */
    function withGroup() {
      const { log, alice, bob } = org();
      const carol = log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1' }); // 6 7 [8]
      log.membership('g_1', 0, ['d_alice1', 'd_bob1'], bob); // 9 [10]
      return { log, alice, bob, carol };
    }

    it('the baseline group is clean', async () => {
      expect(findings(await run(withGroup().log))).toEqual([]);
    });

    it('a signature by another device than the committer', async () => {
      const { log, alice, bob } = withGroup();
      const at = log.append(log.membershipEntry('g_1', 1, ['d_alice1'], bob, alice));
      expect(findings(await run(log))).toEqual([['bad_membership_signature', at, undefined]]);
    });

    it('a committer that was not a member of the group', async () => {
      const { log, carol } = withGroup();
      const at = log.append(log.membershipEntry('g_1', 1, ['d_alice1', 'd_bob1', 'd_carol1'], carol)); // validly signed by Carol
      const r = await run(log);
      expect(findings(r)).toEqual([['bad_membership_signature', at, undefined]]);
      expect(r.violations[0].message).toMatch(/not a member/);
    });

    it('an epoch jump, and a group that first appears at a later epoch', async () => {
      const { log, alice } = withGroup();
      const jump = log.append(log.membershipEntry('g_1', 2, ['d_alice1'], alice));
      const late = log.append(log.membershipEntry('g_2', 3, ['d_alice1'], alice));
      const r = await run(log);
      expect(findings(r)).toEqual([
        ['bad_membership_signature', jump, undefined],
        ['bad_membership_signature', late, undefined],
      ]);
      expect(r.violations.map((v) => v.message)).toEqual(['group g_1 jumps from epoch 0 to 2', 'group g_2 first appears at epoch 3']);
    });

    it('member devices the log does not show are listed without an owner (not a finding by themselves)', async () => {
      const { log, bob } = withGroup();
      log.membership('g_1', 1, ['d_alice1', 'd_bob1', 'd_unknown'], bob);
      const r = await run(log);
      expect(findings(r)).toEqual([]);
      expect(r.groups[0].history[1].members).toEqual([
        { deviceId: 'd_alice1', userId: 'u_alice', name: 'Alice' },
        { deviceId: 'd_bob1', userId: 'u_bob', name: 'Bob' },
        { deviceId: 'd_unknown', userId: null, name: null },
      ]);
    });

    it('a committer device that was revoked', async () => {
      const { log, bob } = withGroup();
      log.linkDevice(bob, 'u_bob', 'd_bob2');
      log.revoke('u_bob', 'd_bob1');
      const at = log.append(log.membershipEntry('g_1', 1, ['d_alice1', 'd_bob2'], bob));
      expect(findings(await run(log))).toEqual([['bad_membership_signature', at, undefined]]);
    });
  });

  describe('bad_generation', () => {
    it('a generation made by a device that is not an admin’s', async () => {
      const { log, bob } = org();
      const at = log.generation(bob, 1);
      const r = await run(log);
      expect(findings(r)).toEqual([['bad_generation', at, undefined]]);
      expect(r.generations).toEqual([expect.objectContaining({ generation: 1, creator: 'Bob' })]);
    });

    it('a colleague may make the generation owed after a revocation, and no other', async () => {
      const { log, alice, bob } = org();
      log.generation(alice, 1);
      const bob2 = log.linkDevice(bob, 'u_bob', 'd_bob2');
      log.revoke('u_bob', bob2.deviceId);
      log.generation(bob, 2);
      const third = log.generation(bob, 3);
      expect(findings(await run(log))).toEqual([['bad_generation', third, undefined]]);
    });

    it('a signature by another device than the creator', async () => {
      const { log, alice, bob } = org();
      const at = log.append(log.generationEntry(alice, 1, ['d_alice1', 'd_bob1'], bob));
      expect(findings(await run(log))).toEqual([['bad_generation', at, undefined]]);
    });

    it('generations out of order: a gap, and a log that starts at 2', async () => {
      const { log, alice } = org();
      log.generation(alice, 1);
      const gap = log.generation(alice, 3);
      expect(findings(await run(log))).toEqual([['bad_generation', gap, undefined]]);

      const { log: log2, alice: alice2 } = org();
      const first = log2.generation(alice2, 2);
      const r = await run(log2);
      expect(findings(r)).toEqual([['bad_generation', first, undefined]]);
      expect(r.violations[0].message).toMatch(/out of order/);
    });
  });

  describe('snapshot_mismatch', () => {
    it('a snapshot that still shows a revoked device (a hidden revocation)', async () => {
      const { log, bob } = org();
      log.linkDevice(bob, 'u_bob', 'd_bob2'); // 6 [7]
      const before = log.snapshotState();
      log.append({ type: 'device-revoked', time: log.time, ...log.header('u_bob'), deviceId: 'd_bob2', byUserId: 'u_bob' }); // 8
      const stale = log.snapshot(before); // 9
      log.seal(); // 10, correct again
      expect(findings(await run(log))).toEqual([['snapshot_mismatch', stale, undefined]]);
    });

    it('a snapshot that leaves a person out, and one with a wrong count', async () => {
      const { log, alice } = org();
      log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1' }); // 6 7 [8]
      const full = log.snapshotState();
      const dropped = log.snapshot({ userIds: full.userIds.filter((id) => id !== 'u_carol'), leaves: full.leaves.slice(0, 2) }); // 9
      const rootEntry = { type: 'snapshot', time: log.time, userCount: 4, snapshotRoot: rootOfLeaves(log) } as const;
      const counted = log.append(rootEntry); // 10
      expect(findings(await run(log))).toEqual([
        ['snapshot_mismatch', dropped, undefined],
        ['snapshot_mismatch', counted, undefined],
      ]);
    });
  });

  it('several findings in one log are all reported, in log order and then per person', async () => {
    const { log, alice, bob } = org();
    log.time = Date.UTC(2025, 5, 8, 1, 0);
    log.linkDevice(bob, 'u_bob', 'd_bob2'); // 6 outside hours
    log.linkDevice(alice, 'u_bob', 'd_bob3'); // 8 outside hours
    log.generation(bob, 1); // 10 not an admin
    log.deactivate('u_bob', 'u_alice', { revoke: false }); // 12
    expect(findings(await run(log, { policy: policyFor(log, { maxDevicesPerUser: 1 }) }))).toEqual([
      ['outside_working_hours', 6, 'u_bob'],
      ['outside_working_hours', 8, 'u_bob'],
      ['bad_generation', 10, undefined],
      ['deactivated_holds_keys', undefined, 'u_bob'],
    ]);
  });
});

/** The log's snapshot entry at `index`, re-encoded with another time. */
function reSnapshot(log: TestLog, index: number, time: number): Uint8Array {
  const e = decodeEntry(log.entries[index]);
  if (e.type !== 'snapshot') throw new Error('not a snapshot');
  return encodeEntry({ ...e, time });
}

function rootOfLeaves(log: TestLog): Uint8Array {
  return MerkleLevels.fromLeafHashes(log.snapshotState().leaves.map(leafHash)).root();
}

describe('sealed member lists (version-2 membership entries)', () => {
  const officer = newAuditorKey('Officer');
  const officerPolicy = (log: TestLog) => policyFor(log, { auditors: [auditorPolicyEntry(officer)] });

  /** A version-2 entry as a client makes it: commitment under `salt`, list sealed to the policy's auditors. */
  async function sealedEntry(
    log: TestLog, groupId: string, epoch: number, members: string[], committer: TestDevice,
    opts: { signer?: TestDevice; sealMembers?: string[]; auditors?: Policy['auditors'] } = {},
  ): Promise<Entry> {
    const salt = randomBytes(32);
    const commitment = membershipCommitment(salt, members);
    const sealedForAuditors = await sealForAuditors(opts.auditors ?? officerPolicy(log).auditors, salt, opts.sealMembers ?? members);
    return {
      type: 'group-membership', time: log.time, groupId, epoch, commitment, sealedForAuditors, committerDeviceId: committer.deviceId,
      signature: signWith(opts.signer ?? committer, membershipMessage(groupId, epoch, commitment)),
    };
  }
  async function appendSealed(log: TestLog, ...args: Parameters<typeof sealedEntry> extends [TestLog, ...infer R] ? R : never): Promise<number> {
    const at = log.append(await sealedEntry(log, ...args));
    log.seal();
    return at;
  }
  const runWith = async (log: TestLog, withKey: boolean) =>
    audit({ policy: officerPolicy(log), checkpointNote: checkpointOf(log), entries: log.entries, now: NOW, auditor: withKey ? await auditorOpener(officer) : undefined });

  async function sealedLog() {
    const { log, alice, bob } = org();
    const carol = log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1' }); // 6 7 [8]
    await appendSealed(log, 'g_1', 0, ['d_bob1'], bob); // 9 [10]
    await appendSealed(log, 'g_1', 1, ['d_alice1', 'd_bob1', 'd_carol1'], bob); // 11 [12]
    await appendSealed(log, 'g_1', 2, ['d_alice1', 'd_bob1'], alice); // 13 [14]
    return { log, alice, bob, carol };
  }

  it('with the audit key: who could read the group when, as with the old clear lists', async () => {
    const { log } = await sealedLog();
    const r = await runWith(log, true);
    expect(findings(r)).toEqual([]);
    expect(r.sealed).toEqual({ groups: 0, changes: 0 });
    expect(r.groups[0].history.map((h) => [h.index, h.epoch, h.committer.name, h.members!.map((m) => m.name)])).toEqual([
      [9, 0, 'Bob', ['Bob']],
      [11, 1, 'Bob', ['Alice', 'Bob', 'Carol']],
      [13, 2, 'Alice', ['Alice', 'Bob']],
    ]);
  });

  it('without the audit key: the changes are listed as sealed and counted, still checked for signatures and order', async () => {
    const { log, alice } = await sealedLog();
    const r = await runWith(log, false);
    expect(findings(r)).toEqual([]);
    expect(r.sealed).toEqual({ groups: 1, changes: 3 });
    expect(r.groups[0].history.map((h) => [h.epoch, h.members])).toEqual([[0, null], [1, null], [2, null]]);
    const jump = await appendSealed(log, 'g_1', 4, ['d_alice1'], alice);
    expect(findings(await runWith(log, false))).toEqual([['bad_membership_signature', jump, undefined]]);
  });

  it('a list sealed to the auditor that is not the committed one (a member hidden from the audit)', async () => {
    const { log, bob } = await sealedLog();
    const at = await appendSealed(log, 'g_1', 3, ['d_alice1', 'd_bob1', 'd_carol1'], bob, { sealMembers: ['d_alice1', 'd_bob1'] });
    const r = await runWith(log, true);
    expect(findings(r)).toEqual([['bad_sealed_membership', at, undefined]]);
    expect(r.violations[0].message).toMatch(/not the one the committer signed/);
  });

  it('no copy for this auditor (stripped by the relay, or a committer without the auditor in its policy)', async () => {
    const { log, bob } = await sealedLog();
    const at = await appendSealed(log, 'g_1', 3, ['d_alice1', 'd_bob1'], bob, { auditors: [] });
    const r = await runWith(log, true);
    expect(findings(r)).toEqual([['membership_not_sealed_for_auditor', at, undefined]]);
    expect(r.sealed).toEqual({ groups: 1, changes: 1 });
  });

  it('a commitment signed by another device than the committer, and a committer outside the opened list', async () => {
    const { log, alice, bob, carol } = await sealedLog();
    const forged = await appendSealed(log, 'g_1', 3, ['d_alice1', 'd_bob1'], bob, { signer: alice });
    const outsider = await appendSealed(log, 'g_1', 4, ['d_alice1', 'd_bob1', 'd_carol1'], carol);
    const r = await runWith(log, true);
    expect(findings(r)).toEqual([
      ['bad_membership_signature', forged, undefined],
      ['bad_membership_signature', outsider, undefined],
    ]);
    expect(r.violations[1].message).toMatch(/not a member/);
  });
});

describe('sealing member lists for auditors', () => {
  it('one copy per distinct auditor key, in auditor-id order; at most 8 keys', async () => {
    const keys = Array.from({ length: 9 }, (_, i) => auditorPolicyEntry(newAuditorKey(`A${i}`)));
    const salt = randomBytes(32);
    const sealed = await sealForAuditors([keys[0], keys[1], { ...keys[0], name: 'same key, other label' }], salt, ['d_b', 'd_a']);
    expect(sealed).toHaveLength(2);
    expect(Buffer.compare(Buffer.from(sealed[0].auditor), Buffer.from(sealed[1].auditor))).toBeLessThan(0);
    await expect(sealForAuditors(keys, salt, ['d_a'])).rejects.toThrow(RangeError);
    expect(await sealForAuditors([], salt, ['d_a'])).toEqual([]);
  });
});
