import { describe, expect, it } from '@jest/globals';
import { getSodium } from '@agora/protocol/crypto/sodium';
import { fromB64u, newId } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { membershipCommitment } from '@agora/protocol/kt/entries';
import {
  createGroup, createKeyPackages, exportContentKey, joinFromWelcome, membershipSalt, processCommit, stageCommit,
  type DeviceLookup, type MlsIdentity,
} from '../mls/group.js';
import { membershipCheckFor, membershipOf } from './membership.js';

const devices = new Map<string, { userId: string; signPub: Uint8Array }>();
const lookup: DeviceLookup = (id) => devices.get(id);

async function device(userId: string): Promise<MlsIdentity> {
  const sodium = await getSodium();
  const signSeed = randomBytes(32);
  const id = { userId, deviceId: newId('d'), signPub: sodium.crypto_sign_seed_keypair(signSeed).publicKey, signSeed };
  devices.set(id.deviceId, { userId, signPub: id.signPub });
  return id;
}

describe('membership commitments from MLS state', () => {
  it('the committer, a member processing the commit and a newcomer from its Welcome compute the same commitment', async () => {
    const [alice, bob, carol] = await Promise.all([device('u_alice'), device('u_bob'), device('u_carol')]);
    const groupId = newId('g');
    const a0 = await createGroup(groupId, alice);
    const bobKp = await createKeyPackages(bob, 1);
    const add = await stageCommit(a0, { add: [bobKp[0].publicPackage] }, lookup);
    const bob1 = (await joinFromWelcome(add.welcome!, bobKp, lookup)).state;

    const committed = await membershipOf(add.staged);
    expect(committed.members.sort()).toEqual([alice.deviceId, bob.deviceId].sort());
    expect((await membershipOf(bob1)).commitment).toEqual(committed.commitment);
    expect(committed.commitment).toEqual(membershipCommitment(committed.salt, [bob.deviceId, alice.deviceId]));

    const carolKp = await createKeyPackages(carol, 1);
    const add2 = await stageCommit(bob1, { add: [carolKp[0].publicPackage] }, lookup);
    const alice2 = (await processCommit(add.staged, add2.commit, { added: add2.added, removed: [] }, lookup)).state;
    const carol2 = (await joinFromWelcome(add2.welcome!, carolKp, lookup)).state;
    const c2 = await membershipCheckFor(add2.staged, 2, bob.deviceId);
    expect(c2).toEqual({ epoch: 2, committer: bob.deviceId, commitment: c2.commitment, since: null });
    expect((await membershipCheckFor(alice2, 2, bob.deviceId)).commitment).toBe(c2.commitment);
    expect((await membershipCheckFor(carol2, 2, bob.deviceId)).commitment).toBe(c2.commitment);
    // Another epoch of the same members (an update commit) commits under another salt.
    const update = await stageCommit(alice2, {}, lookup);
    expect(fromB64u((await membershipCheckFor(update.staged, 3, alice.deviceId)).commitment)).not.toEqual(fromB64u(c2.commitment));
  });

  it('the salt is the epoch\'s own exporter output, not the content key, and no member list alone gives the commitment', async () => {
    const alice = await device('u_alice');
    const state = await createGroup(newId('g'), alice);
    const salt = await membershipSalt(state);
    expect(salt).toHaveLength(32);
    expect(salt).not.toEqual(await exportContentKey(state));
    const { commitment } = await membershipOf(state);
    // Someone who knows (or guesses) the member list but not the epoch's secrets cannot reproduce it.
    expect(membershipCommitment(new Uint8Array(32), [alice.deviceId])).not.toEqual(commitment);
    expect(membershipCommitment(salt, [alice.deviceId])).toEqual(commitment);
  });
});
