import { describe, expect, it } from '@jest/globals';
import { ChainError, activeDevices, applyUserEntry, chainDeviceSetHash, replayUser, type ChainErrorCode, type UserChain } from './chain.js';
import { decodeEntry, deviceEnrolmentMessage, deviceSetHash, entryHash, inviteKeyPair, isUserEntry, type Entry, type UserEntry } from './entries.js';
import { T0, TestLog, newDevice, signWith, type TestDevice } from './test-log.js';

/** Alice (bootstrap admin: entries 0–1, snapshot 2) and Bob, a member she invited (3–4, snapshot 5). */
function org(): { log: TestLog; alice: TestDevice; bob: TestDevice } {
  const log = new TestLog();
  const alice = log.bootstrap();
  const bob = log.invitePerson(alice, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
  return { log, alice, bob };
}

function replay(log: TestLog, userId: string, asked?: { deviceId: string; index: number }[]): Promise<UserChain> {
  return replayUser(userId, log.entriesOf(userId), log.lookup(asked));
}

/** The ChainError a promise rejects with, as { code, index }. */
async function failure(p: Promise<unknown>): Promise<{ code: ChainErrorCode; index: number | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ChainError) return { code: e.code, index: e.index, message: e.message };
    throw e;
  }
  throw new Error('expected a ChainError, the chain replayed');
}

/** Appends `entry` to the log as a misbehaving relay would (the model ignores it) and replays its person. */
async function replayWithCrafted(log: TestLog, entry: Entry): Promise<{ code: ChainErrorCode; index: number | undefined; message: string; at: number }> {
  const at = log.append(entry, { track: false });
  const userId = (entry as UserEntry).userId;
  return { ...(await failure(replay(log, userId))), at };
}

describe('valid chains', () => {
  it('the bootstrap admin: created without approver, first device enrolled with the bootstrap invite', async () => {
    const { log, alice } = org();
    const asked: { deviceId: string; index: number }[] = [];
    const chain = await replay(log, 'u_alice', asked);
    expect(chain).toEqual({
      userId: 'u_alice',
      name: 'Alice',
      role: 'admin',
      roles: [{ index: 0, role: 'admin', approverDeviceId: '' }],
      roleNonces: [],
      approvedByDevice: '',
      status: 'active',
      userSeq: 2,
      head: entryHash(log.entries[1]),
      createdIndex: 0,
      lastIndex: 1,
      deactivatedIndex: null,
      devices: [
        {
          deviceId: 'd_alice1', signPub: alice.signPub, encPub: alice.encPub, via: 'bootstrap', approverDeviceId: '', approverUserId: '',
          addedIndex: 1, addedAt: T0, revokedIndex: null, approvedIndex: 1,
        },
      ],
    });
    // Nobody else's devices are consulted for a bootstrap enrolment.
    expect(asked).toEqual([]);
    expect(activeDevices(chain).map((d) => d.deviceId)).toEqual(['d_alice1']);
    expect(chainDeviceSetHash(chain)).toEqual(deviceSetHash([alice]));
  });

  it('a person invited by an active admin: the approval is checked with the admin device looked up at the entry', async () => {
    const { log, bob } = org();
    const asked: { deviceId: string; index: number }[] = [];
    const chain = await replay(log, 'u_bob', asked);
    expect(chain).toMatchObject({ userId: 'u_bob', name: 'Bob', role: 'member', status: 'active', userSeq: 2, createdIndex: 3, lastIndex: 4 });
    expect(chain.head).toEqual(entryHash(log.entries[4]));
    expect(chain.devices).toEqual([
      {
        deviceId: 'd_bob1', signPub: bob.signPub, encPub: bob.encPub, via: 'user-invite', approverDeviceId: 'd_alice1',
        approverUserId: 'u_alice', addedIndex: 4, addedAt: T0 + 60_000, revokedIndex: null, approvedIndex: 4,
      },
    ]);
    expect(asked).toEqual([{ deviceId: 'd_alice1', index: 4 }]);
  });

  it("a further device approved by the person's own active device (no lookup of other people)", async () => {
    const { log, bob } = org();
    log.linkDevice(bob, 'u_bob', 'd_bob2'); // 6, snapshot 7
    const asked: { deviceId: string; index: number }[] = [];
    const chain = await replay(log, 'u_bob', asked);
    expect(chain.devices.map((d) => [d.deviceId, d.via, d.approverDeviceId, d.approverUserId, d.addedIndex])).toEqual([
      ['d_bob1', 'user-invite', 'd_alice1', 'u_alice', 4],
      ['d_bob2', 'device-invite', 'd_bob1', 'u_bob', 6],
    ]);
    expect(asked).toEqual([{ deviceId: 'd_alice1', index: 4 }]);
    expect(chain.userSeq).toBe(3);
  });

  it("a further device approved by an administrator's device", async () => {
    const { log, alice } = org();
    log.linkDevice(alice, 'u_bob', 'd_bob2');
    const chain = await replay(log, 'u_bob');
    expect(chain.devices[1]).toMatchObject({ deviceId: 'd_bob2', via: 'device-invite', approverDeviceId: 'd_alice1', approverUserId: 'u_alice', addedIndex: 6 });
  });

  it('revocation and deactivation: revoked devices stay listed with their index; a deactivated person has no active device', async () => {
    const { log, bob } = org();
    log.linkDevice(bob, 'u_bob', 'd_bob2'); // 6
    const revoked = log.revoke('u_bob', 'd_bob1'); // 8
    let chain = await replay(log, 'u_bob');
    expect(chain.devices.map((d) => [d.deviceId, d.revokedIndex])).toEqual([['d_bob1', revoked], ['d_bob2', null]]);
    expect(activeDevices(chain).map((d) => d.deviceId)).toEqual(['d_bob2']);
    expect(chainDeviceSetHash(chain)).toEqual(deviceSetHash([log.device('d_bob2')]));

    const deactivated = log.deactivate('u_bob', 'u_alice'); // revokes d_bob2, then deactivates
    chain = await replay(log, 'u_bob');
    expect(chain).toMatchObject({ status: 'deactivated', deactivatedIndex: deactivated, lastIndex: deactivated, userSeq: 6 });
    expect(activeDevices(chain)).toEqual([]);
    expect(chainDeviceSetHash(chain)).toEqual(deviceSetHash([]));
  });

  it('replayUser takes the entries in any order and sorts them by log index', async () => {
    const { log } = org();
    const entries = log.entriesOf('u_bob').reverse();
    const chain = await replayUser('u_bob', entries, log.lookup());
    expect(chain.lastIndex).toBe(4);
  });

  it('applyUserEntry accepts any later log index, not only the next one', async () => {
    const { log } = org();
    const chain = await replay(log, 'u_bob');
    const entry = { type: 'device-revoked', time: T0, ...log.header('u_bob'), deviceId: 'd_bob1', byUserId: 'u_bob' } as const;
    const next = await applyUserEntry(chain, { index: 1000, bytes: encode(entry), entry }, log.lookup());
    expect(next.lastIndex).toBe(1000);
    // the input chain is not modified
    expect(chain.devices[0].revokedIndex).toBeNull();
    expect(next.devices[0].revokedIndex).toBe(1000);
  });
});

function encode(e: Entry): Uint8Array {
  const log = new TestLog();
  log.append(e, { track: false });
  return log.entries[0];
}

describe('chain links', () => {
  it('a wrong per-user sequence number: skipped or repeated', async () => {
    const { log } = org();
    const h = log.header('u_bob');
    const skipped = await replayWithCrafted(log, { type: 'device-revoked', time: log.time, ...h, userSeq: h.userSeq + 1, deviceId: 'd_bob1', byUserId: 'u_bob' });
    expect(skipped).toMatchObject({ code: 'bad_sequence', index: skipped.at });

    const { log: log2 } = org();
    const h2 = log2.header('u_bob');
    const repeated = await replayWithCrafted(log2, { type: 'device-revoked', time: log2.time, ...h2, userSeq: h2.userSeq - 1, deviceId: 'd_bob1', byUserId: 'u_bob' });
    expect(repeated).toMatchObject({ code: 'bad_sequence', index: repeated.at });
  });

  it('a broken prevHash: linking to an older entry, or to nothing', async () => {
    const { log } = org();
    const h = log.header('u_bob');
    const older = await replayWithCrafted(log, { type: 'device-revoked', time: log.time, ...h, prevHash: entryHash(log.entries[3]), deviceId: 'd_bob1', byUserId: 'u_bob' });
    expect(older).toMatchObject({ code: 'bad_chain', index: older.at });

    const { log: log2 } = org();
    const zero = await replayWithCrafted(log2, { type: 'user-deactivated', time: log2.time, ...log2.header('u_bob'), prevHash: new Uint8Array(32), byUserId: 'u_alice' });
    expect(zero).toMatchObject({ code: 'bad_chain', index: zero.at });
  });

  it('entries out of log order', async () => {
    const { log } = org();
    const chain = await replay(log, 'u_bob'); // lastIndex 4
    const entry = { type: 'device-revoked', time: T0, ...log.header('u_bob'), deviceId: 'd_bob1', byUserId: 'u_bob' } as const;
    const bytes = encode(entry);
    for (const index of [4, 3, 0]) {
      const f = await failure(applyUserEntry(chain, { index, bytes, entry }, log.lookup()));
      expect(f).toMatchObject({ code: 'bad_sequence', index });
      expect(f.message).toMatch(/order/);
    }
  });

  it('a person created twice', async () => {
    const { log } = org();
    const f = await replayWithCrafted(log, log.userCreated('u_bob', 'Bob', 'admin', 'd_alice1'));
    expect(f).toMatchObject({ code: 'bad_sequence', index: f.at });
    expect(f.message).toMatch(/created twice/);
  });

  it('entries of a person before their USER_CREATED', async () => {
    const { log, alice } = org();
    const f = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_dave', 'd_dave1'), via: 'user-invite', approver: alice }));
    expect(f).toMatchObject({ code: 'bad_sequence', index: f.at });
    expect(f.message).toMatch(/must create them/);
    const { log: log2 } = org();
    const revoked = await replayWithCrafted(log2, { type: 'device-revoked', time: log2.time, ...log2.header('u_dave'), deviceId: 'd_x', byUserId: 'u_alice' });
    expect(revoked).toMatchObject({ code: 'bad_sequence', index: revoked.at });
  });
});

describe('device additions', () => {
  it('the same device added twice, also after its revocation (ids are never reused)', async () => {
    const { log, bob } = org();
    const again = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_bob', 'd_bob1'), via: 'device-invite', approver: bob }));
    expect(again).toMatchObject({ code: 'bad_sequence', index: again.at });
    expect(again.message).toMatch(/added twice/);

    const { log: log2, alice } = org();
    log2.revoke('u_bob', 'd_bob1');
    const back = await replayWithCrafted(log2, log2.enrolment({ device: newDevice('u_bob', 'd_bob1'), via: 'device-invite', approver: alice }));
    expect(back).toMatchObject({ code: 'bad_sequence', index: back.at });
  });

  it('a device added after the person was deactivated', async () => {
    const { log, alice } = org();
    log.deactivate('u_bob', 'u_alice');
    const f = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_bob', 'd_bob9'), via: 'device-invite', approver: alice }));
    expect(f).toMatchObject({ code: 'unauthorised', index: f.at });
  });

  it('a bad deviceSig: altered, or made by a key the device does not hold', async () => {
    const { log, bob } = org();
    const e = log.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: bob });
    e.deviceSig[10] ^= 1;
    const f = await replayWithCrafted(log, e);
    expect(f).toMatchObject({ code: 'bad_signature', index: f.at });
    expect(f.message).toMatch(/prove it holds its key/);

    // a signature by another key than the one the entry names
    const { log: log2, bob: bob2 } = org();
    const e2 = log2.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: bob2 });
    e2.deviceSig = signWith(newDevice('u_bob', 'd_other'), deviceEnrolmentMessage(e2));
    const f2 = await replayWithCrafted(log2, e2);
    expect(f2).toMatchObject({ code: 'bad_signature', index: f2.at });
    expect(f2.message).toMatch(/prove it holds its key/);
  });

  it('a bad inviteSig: signed with the key of another invite code', async () => {
    const { log, bob } = org();
    const e = log.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: bob });
    e.inviteSig = signWith({ seed: inviteKeyPair('AAAA-BBBB-CCCC-DDDD-EEEE').seed }, deviceEnrolmentMessage(e));
    const f = await replayWithCrafted(log, e);
    expect(f).toMatchObject({ code: 'bad_signature', index: f.at });
    expect(f.message).toMatch(/without its invite/);
  });

  it("a relay that swaps in its own key: its proof of possession verifies, the invite's signature does not", async () => {
    const { log, bob } = org();
    const e = log.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: bob });
    const relay = newDevice('u_bob', 'd_bob2');
    e.signPub = relay.signPub;
    e.deviceSig = signWith(relay, deviceEnrolmentMessage(e));
    const f = await replayWithCrafted(log, e);
    expect(f).toMatchObject({ code: 'bad_signature', index: f.at });
    expect(f.message).toMatch(/without its invite/);
  });

  it("a bad approval signature: altered, for another role (privilege escalation), or for another person's device", async () => {
    const { log, alice } = org();
    const e = log.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: alice });
    e.approval[3] ^= 0x20;
    expect(await replayWithCrafted(log, e)).toMatchObject({ code: 'bad_signature', message: expect.stringMatching(/approval/) });

    // Alice approved Carol as a member; the relay's USER_CREATED says admin.
    const { log: log2, alice: alice2 } = org();
    log2.append(log2.userCreated('u_carol', 'Carol', 'admin', 'd_alice1'));
    const carol = log2.enrolment({
      device: newDevice('u_carol', 'd_carol1'), via: 'user-invite', approver: alice2,
      approval: (invitePub) => ({ invitePub, kind: 'user', name: 'Carol', role: 'member' }),
    });
    const escalated = await replayWithCrafted(log2, carol);
    expect(escalated).toMatchObject({ code: 'bad_signature', index: escalated.at });

    // Bob's device approved a device for Alice's account, not his own.
    const { log: log3, bob: bob3 } = org();
    const other = log3.enrolment({
      device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: bob3,
      approval: (invitePub) => ({ invitePub, kind: 'device', userId: 'u_alice' }),
    });
    expect(await replayWithCrafted(log3, other)).toMatchObject({ code: 'bad_signature' });
  });

  it('an approval by another person who is not an admin: a new person, or someone else’s device', async () => {
    const { log, bob } = org();
    log.append(log.userCreated('u_carol', 'Carol', 'member', 'd_bob1'));
    const carol = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_carol', 'd_carol1'), via: 'user-invite', approver: bob }));
    expect(carol).toMatchObject({ code: 'unauthorised', index: carol.at });
    expect(carol.message).toMatch(/not an active admin/);

    const { log: log2, bob: bob2 } = org();
    const f = await replayWithCrafted(log2, log2.enrolment({ device: newDevice('u_alice', 'd_alice2'), via: 'device-invite', approver: bob2 }));
    expect(f).toMatchObject({ code: 'unauthorised' });
  });

  it("an approval by the person's own revoked device", async () => {
    const { log, alice, bob } = org();
    log.linkDevice(alice, 'u_bob', 'd_bob2');
    log.revoke('u_bob', 'd_bob1');
    const f = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_bob', 'd_bob3'), via: 'device-invite', approver: bob }));
    expect(f).toMatchObject({ code: 'unauthorised', index: f.at });
    expect(f.message).toMatch(/could not approve/);
  });

  it("an approval by an admin's revoked device, a deactivated admin's device, or a device the log does not show (yet)", async () => {
    const { log, alice } = org();
    log.linkDevice(alice, 'u_alice', 'd_alice2');
    log.revoke('u_alice', 'd_alice1');
    const revoked = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: alice }));
    expect(revoked).toMatchObject({ code: 'unauthorised', index: revoked.at });
    // her device that is still active may approve
    const { log: fresh, alice: a } = org();
    const a2 = fresh.linkDevice(a, 'u_alice', 'd_alice2');
    fresh.revoke('u_alice', 'd_alice1');
    fresh.linkDevice(a2, 'u_bob', 'd_bob2');
    expect((await replay(fresh, 'u_bob')).devices[1].approverDeviceId).toBe('d_alice2');

    const { log: log2, alice: admin2 } = org();
    const carol = log2.invitePerson(admin2, { userId: 'u_carol', name: 'Carol', role: 'admin', deviceId: 'd_carol1' });
    log2.deactivate('u_carol', 'u_alice', { revoke: false });
    const deactivated = await replayWithCrafted(log2, log2.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: carol }));
    expect(deactivated).toMatchObject({ code: 'unauthorised' });

    const { log: log3 } = org();
    const ghost = newDevice('u_ghost', 'd_ghost');
    const unknown = await replayWithCrafted(log3, log3.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: ghost }));
    expect(unknown).toMatchObject({ code: 'unauthorised', index: unknown.at });
    expect(unknown.message).toMatch(/does not show/);
  });

  it('an approval by an admin device enrolled only later in the log', async () => {
    // Bob's second device names Dave's device as approver; Dave's device is enrolled after it.
    const { log, alice } = org();
    const dave = newDevice('u_dave', 'd_dave1');
    const early = log.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'device-invite', approver: dave });
    const at = log.append(early, { track: false });
    log.append(log.userCreated('u_dave', 'Dave', 'admin', 'd_alice1'));
    log.append(log.enrolment({ device: dave, via: 'user-invite', approver: alice }));
    const f = await failure(replay(log, 'u_bob'));
    expect(f).toMatchObject({ code: 'unauthorised', index: at });
  });

  it('the valid cases of the same shapes pass (guards against a rule that rejects everything)', async () => {
    const { log, alice } = org();
    const carol = log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', role: 'admin', deviceId: 'd_carol1' });
    log.linkDevice(carol, 'u_bob', 'd_bob2');
    log.linkDevice(log.device('d_bob2'), 'u_bob', 'd_bob3');
    const chain = await replay(log, 'u_bob');
    expect(chain.devices.map((d) => d.approverUserId)).toEqual(['u_alice', 'u_carol', 'u_bob']);
  });
});

describe('enrolment kinds', () => {
  it('a bootstrap enrolment for anyone but the first person', async () => {
    const { log } = org();
    log.append(log.userCreated('u_mallory', 'Mallory', 'admin', ''));
    const f = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_mallory', 'd_mallory1'), via: 'bootstrap' }));
    expect(f).toMatchObject({ code: 'unauthorised', index: f.at });
    expect(f.message).toMatch(/bootstrap/);
  });

  it("a bootstrap enrolment for the first admin's second device", async () => {
    const { log } = org();
    const f = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_alice', 'd_alice2'), via: 'bootstrap' }));
    expect(f).toMatchObject({ code: 'unauthorised', index: f.at });
  });

  it("a new person's invite used for a second device", async () => {
    const { log, alice } = org();
    // a valid approval by an active admin for Bob as a member: only the kind is wrong
    const f = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_bob', 'd_bob2'), via: 'user-invite', approver: alice }));
    expect(f).toMatchObject({ code: 'unauthorised', index: f.at });
    expect(f.message).toMatch(/further device/);
  });

  it("a further-device invite used for a person's first device", async () => {
    const { log, alice } = org();
    log.append(log.userCreated('u_dave', 'Dave', 'member', 'd_alice1'));
    const f = await replayWithCrafted(log, log.enrolment({ device: newDevice('u_dave', 'd_dave1'), via: 'device-invite', approver: alice }));
    expect(f).toMatchObject({ code: 'unauthorised', index: f.at });
    expect(f.message).toMatch(/first device/);
  });
});

describe('revocations and deactivations', () => {
  it('revoking a device the person never had', async () => {
    const { log } = org();
    const f = await replayWithCrafted(log, { type: 'device-revoked', time: log.time, ...log.header('u_bob'), deviceId: 'd_alice1', byUserId: 'u_alice' });
    expect(f).toMatchObject({ code: 'bad_sequence', index: f.at });
    expect(f.message).toMatch(/unknown device/);
  });

  it('revoking a device twice', async () => {
    const { log } = org();
    log.revoke('u_bob', 'd_bob1');
    const f = await replayWithCrafted(log, { type: 'device-revoked', time: log.time, ...log.header('u_bob'), deviceId: 'd_bob1', byUserId: 'u_bob' });
    expect(f).toMatchObject({ code: 'bad_sequence', index: f.at });
    expect(f.message).toMatch(/revoked twice/);
  });

  it('deactivating a person twice', async () => {
    const { log } = org();
    log.deactivate('u_bob', 'u_alice');
    const f = await replayWithCrafted(log, { type: 'user-deactivated', time: log.time, ...log.header('u_bob'), byUserId: 'u_alice' });
    expect(f).toMatchObject({ code: 'bad_sequence', index: f.at });
    expect(f.message).toMatch(/deactivated twice/);
  });

  it('a revocation after deactivation is still recorded (the relay revokes before it deactivates, but a late revocation is not an error)', async () => {
    const { log } = org();
    log.deactivate('u_bob', 'u_alice', { revoke: false });
    log.revoke('u_bob', 'd_bob1', 'u_alice');
    const chain = await replay(log, 'u_bob');
    expect(chain.status).toBe('deactivated');
    expect(chain.devices[0].revokedIndex).not.toBeNull();
  });
});

describe('replayUser input checks', () => {
  it("wrong_user: another person's entry or a non-person entry among the entries", async () => {
    const { log } = org();
    const alice = log.entriesOf('u_alice');
    const bob = log.entriesOf('u_bob');
    expect(await failure(replayUser('u_alice', [...alice, bob[0]], log.lookup()))).toMatchObject({ code: 'wrong_user', index: 3 });
    const snapshot = { index: 2, bytes: log.entries[2] };
    expect(isUserEntry(decodeEntry(snapshot.bytes))).toBe(false);
    expect(await failure(replayUser('u_alice', [...alice, snapshot], log.lookup()))).toMatchObject({ code: 'wrong_user', index: 2 });
  });

  it('malformed: bytes that do not decode, and no entries at all', async () => {
    const { log } = org();
    const alice = log.entriesOf('u_alice');
    const cut = { index: 1, bytes: alice[1].bytes.subarray(0, alice[1].bytes.length - 1) };
    expect(await failure(replayUser('u_alice', [alice[0], cut], log.lookup()))).toMatchObject({ code: 'malformed', index: 1 });
    const extra = { index: 1, bytes: Uint8Array.of(...alice[1].bytes, 0) };
    expect(await failure(replayUser('u_alice', [alice[0], extra], log.lookup()))).toMatchObject({ code: 'malformed', index: 1 });
    expect(await failure(replayUser('u_alice', [], log.lookup()))).toMatchObject({ code: 'malformed', index: undefined });
  });
});
