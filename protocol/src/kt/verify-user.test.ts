import { describe, expect, it } from '@jest/globals';
import type { KtUserResponse } from '../api.js';
import { fromB64u, toB64u } from '../encoding.js';
import type { UserChain } from './chain.js';
import { deviceSetHash } from './entries.js';
import { TestLog, newDevice, type TestDevice } from './test-log.js';
import { UserProofError, verifyUserProof } from './verify-user.js';

type Code = UserProofError['code'];

/** Alice (admin), Bob with two devices (the second approved by his first), Carol (member). */
function org(): { log: TestLog; alice: TestDevice; bob: TestDevice; bob2: TestDevice } {
  const log = new TestLog();
  const alice = log.bootstrap(); // 0 1 [2]
  const bob = log.invitePerson(alice, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' }); // 3 4 [5]
  const bob2 = log.linkDevice(bob, 'u_bob', 'd_bob2'); // 6 [7]
  log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1' }); // 8 9 [10]
  return { log, alice, bob, bob2 };
}

function verify(log: TestLog, userId: string, response: KtUserResponse, size = log.size): Promise<UserChain> {
  return verifyUserProof({ userId, response, checkpoint: { size, root: log.root(size) }, approver: log.lookup() });
}

async function code(p: Promise<unknown>): Promise<Code> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UserProofError) return e.code;
    throw e;
  }
  throw new Error('expected a UserProofError, the answer verified');
}

/** Flips one bit of a base64url value. */
function flip(b64u: string, at = 0): string {
  const b = fromB64u(b64u);
  b[at] ^= 1;
  return toB64u(b);
}

describe('verifyUserProof', () => {
  it("accepts an honest answer and returns the person's replayed chain", async () => {
    const { log, bob, bob2 } = org();
    const response = log.userResponse('u_bob');
    expect(response.entries.map((e) => e.index)).toEqual([3, 4, 6]);
    expect(response.snapshot).toMatchObject({ index: 10, leafIndex: 1 });
    const chain = await verify(log, 'u_bob', response);
    expect(chain).toMatchObject({ userId: 'u_bob', name: 'Bob', userSeq: 3, lastIndex: 6 });
    expect(chain.devices.map((d) => d.deviceId)).toEqual(['d_bob1', 'd_bob2']);
    expect(deviceSetHash(chain.devices)).toEqual(deviceSetHash([bob, bob2]));
  });

  it('accepts an honest answer at an older checkpoint (the snapshot then in force is its last leaf)', async () => {
    const { log } = org();
    const chain = await verify(log, 'u_bob', log.userResponse('u_bob', 6), 6);
    expect(chain.devices.map((d) => d.deviceId)).toEqual(['d_bob1']);
  });

  describe('bad_proof', () => {
    it('a tampered inclusion proof of an entry, of the snapshot, or of the leaf in the snapshot', async () => {
      const { log } = org();
      const r1 = log.userResponse('u_bob');
      r1.entries[1].proof[0] = flip(r1.entries[1].proof[0]);
      expect(await code(verify(log, 'u_bob', r1))).toBe('bad_proof');

      const r2 = log.userResponse('u_bob');
      r2.entries[2].proof.pop();
      expect(await code(verify(log, 'u_bob', r2))).toBe('bad_proof');

      const r3 = log.userResponse('u_bob');
      r3.snapshot.proof[1] = flip(r3.snapshot.proof[1], 31);
      expect(await code(verify(log, 'u_bob', r3))).toBe('bad_proof');

      const r4 = log.userResponse('u_bob');
      r4.snapshot.leafProof[0] = flip(r4.snapshot.leafProof[0]);
      expect(await code(verify(log, 'u_bob', r4))).toBe('bad_proof');

      // an entry claimed at another position than the one it was proven for
      const r5 = log.userResponse('u_bob');
      r5.entries[2].index = 5;
      expect(await code(verify(log, 'u_bob', r5))).toBe('bad_proof');
    });

    it('tampered entry bytes (with the honest proof), and a leaf or snapshot entry that is not what was proven', async () => {
      const { log } = org();
      const r1 = log.userResponse('u_bob');
      // one character of USER_CREATED's approver id changed: still decodes, no longer in the tree
      r1.entries[0].entry = flip(r1.entries[0].entry, fromB64u(r1.entries[0].entry).length - 3);
      expect(await code(verify(log, 'u_bob', r1))).toBe('bad_proof');

      const r2 = log.userResponse('u_bob');
      r2.snapshot.leaf = flip(r2.snapshot.leaf, 40);
      expect(await code(verify(log, 'u_bob', r2))).toBe('bad_proof');

      const r3 = log.userResponse('u_bob');
      r3.snapshot.entry = flip(r3.snapshot.entry, 12);
      expect(await code(verify(log, 'u_bob', r3))).toBe('bad_proof');
    });

    it('an answer for another size than the verified checkpoint', async () => {
      const { log } = org();
      // honest at size 8, checked against the checkpoint of size 11
      expect(await code(verify(log, 'u_bob', log.userResponse('u_bob', 8), log.size))).toBe('bad_proof');
      // the same, relabelled with the checkpoint's size: the proofs are for a smaller tree
      const relabelled = { ...log.userResponse('u_bob', 8), size: log.size };
      expect(await code(verify(log, 'u_bob', relabelled))).toBe('bad_proof');
      // an honest answer for this checkpoint that names another size
      expect(await code(verify(log, 'u_bob', { ...log.userResponse('u_bob'), size: log.size + 1 }))).toBe('bad_proof');
    });
  });

  describe('stale_snapshot', () => {
    it('an older snapshot, correctly proven in the current tree, hides a later revocation', async () => {
      const { log } = org();
      const old = log.userResponse('u_bob'); // snapshot 10 still lists d_bob2
      log.revoke('u_bob', 'd_bob2'); // 11 [12]
      const current = log.userResponse('u_bob');
      const tree = log.tree();
      const stale: KtUserResponse = {
        ...current,
        entries: old.entries.map((e) => ({ ...e, proof: tree.inclusionProof(e.index, log.size).map(toB64u) })),
        snapshot: { ...old.snapshot, proof: tree.inclusionProof(old.snapshot.index, log.size).map(toB64u) },
      };
      expect(await code(verify(log, 'u_bob', stale))).toBe('stale_snapshot');
      // the honest answer shows the revocation
      const chain = await verify(log, 'u_bob', current);
      expect(chain.devices.map((d) => [d.deviceId, d.revokedIndex])).toEqual([['d_bob1', null], ['d_bob2', 11]]);
    });

    it("the log's last entry is not a snapshot", async () => {
      const { log, bob } = org();
      const at = log.append(log.membershipEntry('g_1', 0, ['d_alice1', 'd_bob1'], bob)); // no snapshot after it
      expect(at).toBe(log.size - 1);
      const r = log.userResponse('u_bob');
      const tree = log.tree();
      r.snapshot = { ...r.snapshot, index: at, entry: toB64u(log.entries[at]), proof: tree.inclusionProof(at, log.size).map(toB64u) };
      expect(await code(verify(log, 'u_bob', r))).toBe('stale_snapshot');
    });
  });

  describe('snapshot_mismatch', () => {
    it('a hidden revocation: the revocation entry left out of the answer', async () => {
      const { log } = org();
      const revokedAt = log.revoke('u_bob', 'd_bob2');
      const r = log.userResponse('u_bob');
      r.entries = r.entries.filter((e) => e.index !== revokedAt);
      expect(r.entries).toHaveLength(3);
      expect(await code(verify(log, 'u_bob', r))).toBe('snapshot_mismatch');
    });

    it("an added device left out of the answer", async () => {
      const { log } = org();
      const r = log.userResponse('u_bob');
      r.entries = r.entries.filter((e) => e.index !== 6);
      expect(await code(verify(log, 'u_bob', r))).toBe('snapshot_mismatch');
    });

    it("another person's leaf, correctly proven in the snapshot", async () => {
      const { log } = org();
      const r = log.userResponse('u_bob');
      const alice = log.userResponse('u_alice');
      r.snapshot = { ...r.snapshot, leaf: alice.snapshot.leaf, leafIndex: alice.snapshot.leafIndex, leafProof: alice.snapshot.leafProof };
      expect(await code(verify(log, 'u_bob', r))).toBe('snapshot_mismatch');
    });
  });

  describe('chain', () => {
    it('a device the relay added to the log (and to its snapshot) without a valid approval', async () => {
      const { log } = org();
      const relayDevice = newDevice('u_bob', 'd_evil');
      // The relay invents an approver device; everything else, including the snapshot, is consistent.
      log.append(log.enrolment({ device: relayDevice, via: 'device-invite', approver: newDevice('u_ghost', 'd_ghost') }));
      log.seal();
      const r = log.userResponse('u_bob');
      expect(r.entries.map((e) => e.index)).toEqual([3, 4, 6, 11]);
      expect(await code(verify(log, 'u_bob', r))).toBe('chain');
    });

    it("another person's entry served among this person's, and an answer with no entries", async () => {
      const { log } = org();
      const r = log.userResponse('u_bob');
      const carol = log.userResponse('u_carol');
      r.entries = [...r.entries, carol.entries[0]];
      expect(await code(verify(log, 'u_bob', r))).toBe('chain');

      const none = { ...log.userResponse('u_bob'), entries: [] };
      expect(await code(verify(log, 'u_bob', none))).toBe('chain');
    });
  });
});
