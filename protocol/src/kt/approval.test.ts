/** DEVICE_APPROVED: a device an administrator's invite put on somebody's account is vouched for by
 * one of that person's own approved devices; the chain replay (clients and audit) checks who may
 * approve what and the signature over the logged keys. */
import { describe, expect, it } from '@jest/globals';
import { ChainError, replayUser, type UserChain } from './chain.js';
import { decodeEntry, deviceApprovalMessage, encodeEntry, ENTRY_TYPE, isUserEntry, ZERO_HASH, type DeviceApprovedEntry } from './entries.js';
import { audit } from './audit.js';
import { PolicySchema } from './policy.js';
import { TestLog, newDevice, signWith, type TestDevice } from './test-log.js';

function org(): { log: TestLog; alice: TestDevice; bob: TestDevice } {
  const log = new TestLog();
  const alice = log.bootstrap();
  const bob = log.invitePerson(alice, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
  return { log, alice, bob };
}

/** An audit of the whole log, no witnesses. */
function runAudit(log: TestLog) {
  const policy = PolicySchema.parse({ log: { origin: log.origin, vkey: log.vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 3600 });
  return audit({ policy, checkpointNote: log.checkpoint(), entries: log.entries, now: log.time });
}

const replay = (log: TestLog, userId: string): Promise<UserChain> => replayUser(userId, log.entriesOf(userId), log.lookup());
const approvedOf = (chain: UserChain) => Object.fromEntries(chain.devices.map((d) => [d.deviceId, d.approvedIndex]));

async function chainError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ChainError) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('the chain replayed');
}

describe('DEVICE_APPROVED entries', () => {
  it('encode and decode canonically as type 8, scoped to the person', () => {
    const e: DeviceApprovedEntry = {
      type: 'device-approved', time: 5, userId: 'u_bob', userSeq: 1, prevHash: ZERO_HASH, deviceId: 'd_bob2', approverDeviceId: 'd_bob1',
      signature: new Uint8Array(64).fill(7),
    };
    const bytes = encodeEntry(e);
    expect(bytes[1]).toBe(ENTRY_TYPE['device-approved']);
    expect(ENTRY_TYPE['device-approved']).toBe(8);
    const back = decodeEntry(bytes);
    expect(back).toEqual(e);
    expect(isUserEntry(back)).toBe(true);
    expect(() => decodeEntry(new Uint8Array([...bytes, 0]))).toThrow(/trailing/);
    expect(() => encodeEntry({ ...e, approverDeviceId: '' })).toThrow(/approverDeviceId/);
  });

  it('the approval message is domain-separated and covers the device and both keys', () => {
    const d = { userId: 'u_bob', deviceId: 'd_bob2', signPub: new Uint8Array(32).fill(1), encPub: new Uint8Array(32).fill(2) };
    const m = deviceApprovalMessage(d);
    expect(new TextDecoder().decode(m.slice(0, 28))).toBe('agora-kt-device-approval-v1\n');
    for (const other of [{ ...d, deviceId: 'd_bob3' }, { ...d, userId: 'u_eve' }, { ...d, signPub: new Uint8Array(32).fill(3) }, { ...d, encPub: new Uint8Array(32).fill(3) }]) {
      expect(deviceApprovalMessage(other)).not.toEqual(m);
    }
  });

  it("a person's first device, a device linked by an approved device and a sole device are approved at enrolment; an admin's device for somebody else is not", async () => {
    const { log, alice, bob } = org();
    log.linkDevice(bob, 'u_bob', 'd_bob2'); // Bob's own link
    const adminAdded = log.linkDevice(alice, 'u_bob', 'd_bob3'); // the administrator's invite
    const chain = await replay(log, 'u_bob');
    expect(approvedOf(chain)).toEqual({ d_bob1: 4, d_bob2: 6, d_bob3: null });
    // A link issued by the unapproved device vouches for nothing.
    log.linkDevice(adminAdded, 'u_bob', 'd_bob4');
    expect(approvedOf(await replay(log, 'u_bob')).d_bob4).toBeNull();
    // Carol lost her only device: the administrator's new one is all she has, so it counts as hers.
    const carol = log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1' });
    log.revoke('u_carol', carol.deviceId);
    const idx = log.size;
    log.linkDevice(alice, 'u_carol', 'd_carol2');
    expect(approvedOf(await replay(log, 'u_carol')).d_carol2).toBe(idx);
  });

  it("one of the person's approved devices approves the administrator's device", async () => {
    const { log, alice, bob } = org();
    const third = log.linkDevice(alice, 'u_bob', 'd_bob3');
    const at = log.approveDevice(bob, third);
    expect(approvedOf(await replay(log, 'u_bob'))).toEqual({ d_bob1: 4, d_bob3: at });
  });

  it.each([
    ['by another person (the admin)', (l: TestLog, a: TestDevice, _b: TestDevice, x: TestDevice) => l.approveDevice(a, x), /unauthorised/],
    ['by the unapproved device itself', (l: TestLog, _a: TestDevice, _b: TestDevice, x: TestDevice) => l.approveDevice(x, x), /unauthorised/],
    ['with a signature of another key', (l: TestLog, a: TestDevice, b: TestDevice, x: TestDevice) => l.approveDevice(b, x, a), /bad_signature/],
    ['twice', (l: TestLog, _a: TestDevice, b: TestDevice, x: TestDevice) => { l.approveDevice(b, x); return l.approveDevice(b, x); }, /approved twice/],
    ['of a revoked device', (l: TestLog, _a: TestDevice, b: TestDevice, x: TestDevice) => { l.revoke('u_bob', x.deviceId); return l.approveDevice(b, x); }, /not active/],
  ])('an approval %s is refused by every replay', async (_what, forge, why) => {
    const { log, alice, bob } = org();
    const x = log.linkDevice(alice, 'u_bob', 'd_bob3');
    forge(log, alice, bob, x);
    expect(await chainError(replay(log, 'u_bob'))).toMatch(why);
  });

  it('an approval by a device that was itself only added by the administrator is refused', async () => {
    const { log, alice } = org();
    const x = log.linkDevice(alice, 'u_bob', 'd_bob3');
    const y = log.linkDevice(alice, 'u_bob', 'd_bob4');
    log.approveDevice(x, y);
    expect(await chainError(replay(log, 'u_bob'))).toMatch(/unauthorised/);
  });

  it('the audit verifies approvals and lists them as device changes', async () => {
    const { log, alice, bob } = org();
    const x = log.linkDevice(alice, 'u_bob', 'd_bob3');
    const at = log.approveDevice(bob, x);
    const report = await runAudit(log);
    expect(report.violations).toEqual([]);
    expect(report.deviceChanges.filter((c) => c.change === 'approved')).toEqual([
      { index: at, at: expect.any(Number), userId: 'u_bob', name: 'Bob', deviceId: 'd_bob3', change: 'approved', approvedBy: { deviceId: 'd_bob1', userId: 'u_bob', name: 'Bob' } },
    ]);
    // A forged approval (the administrator's key) is a violation.
    const forged = new TestLog();
    const a = forged.bootstrap();
    const b = forged.invitePerson(a, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
    const y = forged.linkDevice(a, 'u_bob', 'd_bob3');
    forged.approveDevice(b, y, a);
    const bad = await runAudit(forged);
    expect(bad.violations.map((v) => v.code)).toContain('invalid_chain');
  });

  it('signWith and newDevice make independent keys (sanity for the forgeries above)', () => {
    const d = newDevice('u_x', 'd_x');
    expect(signWith(d, new Uint8Array([1]))).toHaveLength(64);
  });
});
