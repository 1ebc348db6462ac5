import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes } from '../encoding.js';
import { audit, type AuditReport } from './audit.js';
import { ChainError, replayUser, roleAt } from './chain.js';
import { cosign, cosignatureVkey } from './cosignature.js';
import { EntryError, ENTRY_TYPE, decodeEntry, encodeEntry, roleChangeMessage, type Entry, type RoleChangedEntry } from './entries.js';
import { PolicySchema } from './policy.js';
import { T0, TestLog, newDevice, signWith } from './test-log.js';

const pat = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const FIXTURE: RoleChangedEntry = {
  type: 'role-changed', time: 1_750_000_000_000, userId: 'u_AAAAAAAAAAAAAAAAAAAAAA', userSeq: 3, prevHash: pat(32, 0x10), role: 'admin',
  nonce: pat(16, 0x40), approverDeviceId: 'd_BBBBBBBBBBBBBBBBBBBBBB', signature: pat(64, 0x80),
};
/** The frozen encoding: a change here is a change of the log format. */
const FROZEN =
  '010a000001977420dc000018755f414141414141414141414141414141414141414141410000000000000003101112131415161718191a1b1c1d1e1f' +
  '202122232425262728292a2b2c2d2e2f02404142434445464748494a4b4c4d4e4f0018645f424242424242424242424242424242424242424242428081' +
  '82838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf';

describe('ROLE_CHANGED encoding', () => {
  it('encodes to its frozen bytes (type 10) and decodes back to the same value', () => {
    const bytes = encodeEntry(FIXTURE);
    expect(hex(bytes)).toBe(FROZEN);
    expect(bytes[1]).toBe(ENTRY_TYPE['role-changed']);
    expect(decodeEntry(bytes)).toEqual(FIXTURE);
    for (const role of ['member', 'announcer'] as const) expect(decodeEntry(encodeEntry({ ...FIXTURE, role }))).toEqual({ ...FIXTURE, role });
  });

  it('refuses every truncation, trailing bytes, an unknown role byte and values no decoder would accept', () => {
    const bytes = encodeEntry(FIXTURE);
    for (let n = 0; n < bytes.length; n++) expect(() => decodeEntry(bytes.subarray(0, n))).toThrow(EntryError);
    expect(() => decodeEntry(concatBytes(bytes, Uint8Array.of(0)))).toThrow(/trailing/);
    const roleAt = 2 + 8 + 2 + FIXTURE.userId.length + 8 + 32;
    const badRole = bytes.slice();
    badRole[roleAt] = 3;
    expect(() => decodeEntry(badRole)).toThrow(/unknown role/);
    const bad: unknown[] = [
      { ...FIXTURE, nonce: pat(15, 0) },
      { ...FIXTURE, signature: pat(63, 0) },
      { ...FIXTURE, approverDeviceId: '' },
      { ...FIXTURE, role: 'owner' },
      { ...FIXTURE, userSeq: 0 },
    ];
    for (const b of bad) expect(() => encodeEntry(b as Entry)).toThrow(EntryError);
  });

  it('the signed statement is domain-separated and covers person, role and nonce', () => {
    const m = roleChangeMessage({ userId: 'u_x', role: 'admin', nonce: pat(16, 0) });
    expect(new TextDecoder().decode(m.subarray(0, 24))).toBe('agora-kt-role-change-v1\n');
    for (const other of [
      roleChangeMessage({ userId: 'u_y', role: 'admin', nonce: pat(16, 0) }),
      roleChangeMessage({ userId: 'u_x', role: 'member', nonce: pat(16, 0) }),
      roleChangeMessage({ userId: 'u_x', role: 'admin', nonce: pat(16, 1) }),
    ]) expect(hex(other)).not.toBe(hex(m));
    expect(() => roleChangeMessage({ userId: 'u_x', role: 'admin', nonce: pat(8, 0) })).toThrow(EntryError);
  });
});

/** Alice (bootstrap admin), Bob (member) and Carol (member), all invited by Alice. */
function org() {
  const log = new TestLog();
  const alice = log.bootstrap();
  const bob = log.invitePerson(alice, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
  const carol = log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1' });
  return { log, alice, bob, carol };
}

const witness = (() => {
  const seed = ed25519.utils.randomSecretKey();
  return { name: 'witness.example/officer', seed, publicKey: ed25519.getPublicKey(seed) };
})();
const NOW = T0 + 86_400_000;

function runAudit(log: TestLog): Promise<AuditReport> {
  const policy = PolicySchema.parse({
    log: { origin: log.origin, vkey: log.vkey },
    witnesses: [{ name: 'Officer', vkey: cosignatureVkey(witness.name, witness.publicKey) }],
    quorum: 1,
    maxCheckpointAgeSeconds: 3600,
  });
  const checkpointNote = log.checkpoint(log.size, { extra: (body) => [cosign(body, witness.name, witness.seed, Math.floor(NOW / 1000))] });
  return audit({ policy, checkpointNote, entries: log.entries, now: NOW });
}

describe('replaying role changes', () => {
  it('an admin promotes a member, who may then approve invites; the earlier role stays on record', async () => {
    const { log, alice, bob } = org();
    const at = log.changeRole(alice, 'u_bob', 'admin');
    const dave = log.invitePerson(bob, { userId: 'u_dave', name: 'Dave', deviceId: 'd_dave1' });
    const chain = await replayUser('u_bob', log.entriesOf('u_bob'), log.lookup());
    expect(chain.role).toBe('admin');
    expect(chain.roles.map((r) => [r.index, r.role, r.approverDeviceId])).toEqual([[3, 'member', 'd_alice1'], [at, 'admin', 'd_alice1']]);
    expect(roleAt(chain.roles, at)).toBe('member');
    expect(roleAt(chain.roles, at + 1)).toBe('admin');
    await expect(replayUser('u_dave', log.entriesOf('u_dave'), log.lookup())).resolves.toMatchObject({ role: 'member' });
    expect(dave.userId).toBe('u_dave');
    const r = await runAudit(log);
    expect(r.violations).toEqual([]);
    expect(r.roleChanges).toEqual([
      { index: at, at: expect.any(Number), userId: 'u_bob', name: 'Bob', from: 'member', to: 'admin', approvedBy: { deviceId: 'd_alice1', userId: 'u_alice', name: 'Alice' } },
    ]);
    expect(r.people.find((p) => p.userId === 'u_bob')?.role).toBe('admin');
  });

  it('a demoted admin\'s earlier approvals still verify, later ones do not', async () => {
    const { log, alice, bob } = org();
    log.changeRole(alice, 'u_bob', 'admin');
    log.invitePerson(bob, { userId: 'u_dave', name: 'Dave', deviceId: 'd_dave1' });
    log.changeRole(alice, 'u_bob', 'member');
    log.invitePerson(bob, { userId: 'u_erin', name: 'Erin', deviceId: 'd_erin1' });
    await expect(replayUser('u_dave', log.entriesOf('u_dave'), log.lookup())).resolves.toBeTruthy();
    await expect(replayUser('u_erin', log.entriesOf('u_erin'), log.lookup())).rejects.toMatchObject({ code: 'unauthorised' });
    const r = await runAudit(log);
    // (the log's snapshots count Erin's refused device, so they disagree with the replay too)
    expect(r.violations.map((v) => [v.code, v.userId])).toContainEqual(['invalid_chain', 'u_erin']);
    expect(r.violations.filter((v) => v.code === 'bad_role_change')).toEqual([]);
  });

  it('an admin may demote themselves from their own device while another admin remains', async () => {
    const { log, alice, bob } = org();
    log.changeRole(alice, 'u_bob', 'admin');
    log.changeRole(alice, 'u_alice', 'announcer');
    const chain = await replayUser('u_alice', log.entriesOf('u_alice'), log.lookup());
    expect(chain.role).toBe('announcer');
    expect((await runAudit(log)).violations).toEqual([]);
    // …after which her device can no longer change anyone's role.
    log.changeRole(alice, 'u_carol', 'admin', { track: false });
    await expect(replayUser('u_carol', log.entriesOf('u_carol'), log.lookup())).rejects.toMatchObject({ code: 'unauthorised' });
    expect(bob.userId).toBe('u_bob');
  });

  it('refuses a change signed by a member\'s device, a forged signature, an unknown device and a replayed nonce', async () => {
    // each case on its own fresh log, so one refused entry does not shadow the next
    for (const [i, code] of ['unauthorised', 'unauthorised', 'bad_signature', 'unauthorised'].entries()) {
      const o = org();
      const target = i === 0 ? 'u_bob' : 'u_carol';
      if (i === 0) o.log.changeRole(o.bob, 'u_bob', 'admin', { track: false });
      if (i === 1) o.log.changeRole(o.bob, 'u_carol', 'admin', { track: false });
      if (i === 2) o.log.changeRole(o.alice, 'u_carol', 'admin', { signer: o.carol, track: false });
      if (i === 3) o.log.changeRole(newDevice('u_ghost', 'd_ghost'), 'u_carol', 'admin', { track: false });
      const err = await replayUser(target, o.log.entriesOf(target), o.log.lookup()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChainError);
      expect((err as ChainError).code).toBe(code);
      const r = await runAudit(o.log);
      expect(r.violations.map((v) => [v.code, v.userId])).toContainEqual(['bad_role_change', target]);
      expect(r.people.find((p) => p.userId === target)?.role).toBe('member');
    }
    // a signature taken from one change and put on the same person's chain again
    const o = org();
    const nonce = pat(16, 7);
    o.log.changeRole(o.alice, 'u_bob', 'admin', { nonce });
    o.log.changeRole(o.alice, 'u_bob', 'member');
    const replayed = signWith(o.alice, roleChangeMessage({ userId: 'u_bob', role: 'admin', nonce }));
    o.log.append({ type: 'role-changed', time: o.log.time, ...o.log.header('u_bob'), role: 'admin', nonce, approverDeviceId: 'd_alice1', signature: replayed }, { track: false });
    o.log.seal();
    await expect(replayUser('u_bob', o.log.entriesOf('u_bob'), o.log.lookup())).rejects.toMatchObject({ code: 'bad_sequence', message: 'a role change replayed' });
  });

  it('the audit reports a log that leaves no active administrator', async () => {
    const { log, alice } = org();
    log.changeRole(alice, 'u_alice', 'member');
    const r = await runAudit(log);
    expect(r.violations.map((v) => v.code)).toEqual(['no_admin_left']);
  });

  it('refuses a change of a deactivated person and a change to the role they have', async () => {
    const { log, alice } = org();
    log.changeRole(alice, 'u_bob', 'member', { track: false });
    await expect(replayUser('u_bob', log.entriesOf('u_bob'), log.lookup())).rejects.toMatchObject({ code: 'bad_sequence' });
    const o = org();
    o.log.deactivate('u_carol', 'u_alice');
    o.log.changeRole(o.alice, 'u_carol', 'admin', { track: false });
    await expect(replayUser('u_carol', o.log.entriesOf('u_carol'), o.log.lookup())).rejects.toMatchObject({ code: 'unauthorised' });
  });
});
