import {
  decodeGroupState,
  decodeMlsMessage,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  nobleCryptoProvider,
  type CryptoProvider,
} from 'ts-mls';
import { getSodium } from '@agora/protocol/crypto/sodium';
import { fromB64u, newId, toB64u, utf8 } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { LIMITS } from '@agora/protocol/limits';
import {
  agoraCryptoProvider,
  groupInfo,
  keyPackageRef,
  makeMls,
  MlsCheckError,
  type DeviceLookup,
  type MlsApi,
  type MlsIdentity,
  type StoredKeyPackage,
} from './group.js';

const hex = (b: Uint8Array) => toB64u(b);

async function expectCode(p: Promise<unknown>, code: MlsCheckError['code']): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MlsCheckError);
  expect((err as MlsCheckError).code).toBe(code);
}

/** A directory of devices, as the SDK would build it from the relay's verified device list. */
class Directory {
  readonly entries = new Map<string, { userId: string; signPub: Uint8Array }>();
  readonly lookup: DeviceLookup = (deviceId) => this.entries.get(deviceId);

  async device(userId: string, opts: { register?: boolean } = {}): Promise<MlsIdentity> {
    const sodium = await getSodium();
    const signSeed = randomBytes(32);
    const signPub = sodium.crypto_sign_seed_keypair(signSeed).publicKey;
    const id = { userId, deviceId: newId('d'), signPub, signSeed };
    if (opts.register !== false) this.entries.set(id.deviceId, { userId, signPub });
    return id;
  }
}

/** One device's local view: its identity, key packages and current group state. */
interface Member {
  id: MlsIdentity;
  kps: StoredKeyPackage[];
  state?: Uint8Array;
}

function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** Every secret of an epoch's key schedule, read from a serialised state. */
function epochSecrets(state: Uint8Array): Uint8Array[] {
  const decoded = decodeGroupState(state, 1);
  if (!decoded) throw new Error('undecodable');
  return Object.values(decoded[0].keySchedule).filter((v): v is Uint8Array => v instanceof Uint8Array && v.length === 32);
}

const providers: [string, CryptoProvider][] = [
  ['agoraCryptoProvider', agoraCryptoProvider],
  ['nobleCryptoProvider', nobleCryptoProvider],
];

describe.each(providers)('MLS groups with %s', (_name, provider) => {
  const mls: MlsApi = makeMls(provider);
  const dir = new Directory();
  const groupId = newId('g');
  let alice: Member;
  let bob1: Member;
  let bob2: Member;
  let carol: Member;

  const member = async (userId: string): Promise<Member> => {
    const id = await dir.device(userId);
    return { id, kps: await mls.createKeyPackages(id, 2) };
  };
  const key = (m: Member) => mls.exportContentKey(m.state!);
  const apply = async (m: Member, staged: { commit: string; added: string[]; removed: string[] }) => {
    const r = await mls.processCommit(m.state!, staged.commit, { added: staged.added, removed: staged.removed }, dir.lookup);
    m.state = r.state;
    return r;
  };

  beforeAll(async () => {
    alice = await member('u_alice');
    bob1 = await member('u_bob');
    bob2 = await member('u_bob');
    carol = await member('u_carol');
  });

  it('a group of 3 people (4 devices) agrees on the content key of every epoch', async () => {
    alice.state = await mls.createGroup(groupId, alice.id);
    expect(groupInfo(alice.state)).toMatchObject({ groupId, epoch: 0, ownDeviceId: alice.id.deviceId });
    const key0 = await key(alice);

    const add = await mls.stageCommit(
      alice.state,
      { add: [bob1.kps[0].publicPackage, bob2.kps[1].publicPackage, carol.kps[0].publicPackage] },
      dir.lookup,
    );
    expect(add.epoch).toBe(0);
    expect(add.added.sort()).toEqual([bob1.id.deviceId, bob2.id.deviceId, carol.id.deviceId].sort());
    expect(add.removed).toEqual([]);
    expect(add.welcome).toBeDefined();
    alice.state = add.staged;

    for (const m of [bob1, bob2, carol]) {
      const joined = await mls.joinFromWelcome(add.welcome!, m.kps, dir.lookup);
      expect(joined).toMatchObject({ groupId, epoch: 1 });
      expect(joined.usedRef).toBe(m === bob2 ? m.kps[1].ref : m.kps[0].ref);
      m.state = joined.state;
    }
    const key1 = await key(alice);
    expect(key1).not.toEqual(key0);
    for (const m of [bob1, bob2, carol]) expect(await key(m)).toEqual(key1);

    const info = groupInfo(carol.state!);
    expect(info.ownDeviceId).toBe(carol.id.deviceId);
    expect(info.members.map((m) => m.deviceId).sort()).toEqual([alice, bob1, bob2, carol].map((m) => m.id.deviceId).sort());
    expect(info.members.find((m) => m.deviceId === bob2.id.deviceId)).toMatchObject({ userId: 'u_bob', signPub: bob2.id.signPub });

    // An update commit (no proposals) moves everyone to a fresh epoch.
    const update = await mls.stageCommit(bob1.state!, {}, dir.lookup);
    expect(update.welcome).toBeUndefined();
    bob1.state = update.staged;
    for (const m of [alice, bob2, carol]) expect((await apply(m, update)).committer).toBe(bob1.id.deviceId);
    const key2 = await key(alice);
    expect(key2).not.toEqual(key1);
    for (const m of [bob1, bob2, carol]) expect(await key(m)).toEqual(key2);
    expect(groupInfo(alice.state!).epoch).toBe(2);
  });

  it('a removed device learns it was removed and cannot follow the group any further', async () => {
    const before = carol.state!;
    const remove = await mls.stageCommit(alice.state!, { remove: [carol.id.deviceId] }, dir.lookup);
    expect(remove.removed).toEqual([carol.id.deviceId]);
    alice.state = remove.staged;
    for (const m of [bob1, bob2]) expect((await apply(m, remove)).removed).toBe(false);
    const result = await apply(carol, remove);
    expect(result).toMatchObject({ removed: true, epoch: 3 });

    const key3 = await key(alice);
    expect(await key(bob1)).toEqual(key3);
    expect(await key(bob2)).toEqual(key3);
    expect(await key(carol)).not.toEqual(key3);
    expect(groupInfo(alice.state!).members.map((m) => m.deviceId)).not.toContain(carol.id.deviceId);

    const next = await mls.stageCommit(bob2.state!, {}, dir.lookup);
    await expectCode(mls.processCommit(carol.state!, next.commit, { added: [], removed: [] }, dir.lookup), 'invalid');
    // Even the state from before it processed its removal is an epoch behind.
    await expectCode(mls.processCommit(before, next.commit, { added: [], removed: [] }, dir.lookup), 'wrong_epoch');
    bob2.state = next.staged;
    for (const m of [alice, bob1]) await apply(m, next);
    expect(await key(alice)).toEqual(await key(bob2));
  });

  it("a new member gets the join epoch's key, and its state holds no secret of an earlier epoch", async () => {
    const earlier: Uint8Array[] = [alice.state!, bob1.state!];
    const dave = await member('u_dave');
    const add = await mls.stageCommit(bob1.state!, { add: [dave.kps[0].publicPackage] }, dir.lookup);
    bob1.state = add.staged;
    for (const m of [alice, bob2]) await apply(m, add);
    dave.state = (await mls.joinFromWelcome(add.welcome!, dave.kps, dir.lookup)).state;
    const joinKey = await key(dave);
    expect(await key(alice)).toEqual(joinKey);
    for (const old of earlier) {
      expect(await mls.exportContentKey(old)).not.toEqual(joinKey);
      for (const secret of epochSecrets(old)) {
        expect(containsBytes(dave.state, secret)).toBe(false);
        // Forward secrecy for members too: the merged state keeps nothing of the epoch before.
        expect(containsBytes(bob1.state, secret)).toBe(false);
      }
    }
  });

  it('checks key packages against the directory', async () => {
    const good = bob1.kps[1].publicPackage;
    await expect(mls.checkKeyPackage(good, bob1.id.deviceId, dir.lookup)).resolves.toBeUndefined();
    // Another device's package offered for this one.
    await expectCode(mls.checkKeyPackage(good, bob2.id.deviceId, dir.lookup), 'bad_key_package');
    // Unknown (or revoked) device.
    await expectCode(mls.checkKeyPackage(good, bob1.id.deviceId, () => undefined), 'unknown_device');

    // Signed with a key that is not the directory's key for that device.
    const impostor = await dir.device('u_mallory', { register: false });
    const victim = await dir.device('u_victim');
    const forged = await mls.createKeyPackages({ ...impostor, userId: victim.userId, deviceId: victim.deviceId }, 1);
    await expectCode(mls.checkKeyPackage(forged[0].publicPackage, victim.deviceId, dir.lookup), 'bad_key_package');
    await expectCode(mls.stageCommit(alice.state!, { add: [forged[0].publicPackage] }, dir.lookup), 'bad_key_package');

    // A flipped bit in the signature, and in the signed content.
    const bytes = fromB64u(good);
    const sigFlip = bytes.slice();
    sigFlip[sigFlip.length - 1] ^= 1;
    await expectCode(mls.checkKeyPackage(toB64u(sigFlip), bob1.id.deviceId, dir.lookup), 'bad_key_package');
    const decoded = decodeMlsMessage(bytes, 0)!;
    if (decoded[0].wireformat !== 'mls_key_package') throw new Error('not a key package');
    const kp = decoded[0].keyPackage;
    const initFlip = { ...kp, initKey: kp.initKey.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    const tampered = toB64u(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: initFlip }));
    await expectCode(mls.checkKeyPackage(tampered, bob1.id.deviceId, dir.lookup), 'bad_key_package');
    await expectCode(mls.checkKeyPackage('not-a-package', bob1.id.deviceId, dir.lookup), 'bad_key_package');
    // stageCommit leaves the signatures to ts-mls, and still reports a tampered package as such.
    const gina = await member('u_gina');
    const ginaBytes = fromB64u(gina.kps[0].publicPackage);
    ginaBytes[ginaBytes.length - 1] ^= 1;
    await expectCode(mls.stageCommit(alice.state!, { add: [toB64u(ginaBytes)] }, dir.lookup), 'bad_key_package');

    // Another ciphersuite, and an expired lifetime (both properly signed by the device's key).
    const other = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'), nobleCryptoProvider);
    const agoraCs = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519'), provider);
    const credential = { credentialType: 'basic' as const, identity: utf8(`${bob1.id.userId}/${bob1.id.deviceId}`) };
    const caps = kp.leafNode.capabilities;
    const keyPair = { signKey: bob1.id.signSeed, publicKey: bob1.id.signPub };
    const aes = await generateKeyPackageWithKey(credential, caps, { notBefore: 0n, notAfter: 2n ** 62n }, [], keyPair, other);
    const aesPkg = toB64u(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: aes.publicPackage }));
    await expectCode(mls.checkKeyPackage(aesPkg, bob1.id.deviceId, dir.lookup), 'bad_key_package');
    const old = await generateKeyPackageWithKey(credential, caps, { notBefore: 0n, notAfter: 1000n }, [], keyPair, agoraCs);
    const oldPkg = toB64u(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: old.publicPackage }));
    await expectCode(mls.checkKeyPackage(oldPkg, bob1.id.deviceId, dir.lookup), 'bad_key_package');
  });

  it('keyPackageRef is the RFC 9420 KeyPackageRef the Welcome uses', async () => {
    const [last] = await mls.createKeyPackages(bob2.id, 1, { lastResort: true });
    expect(last.publicPackage.length).toBeLessThanOrEqual(LIMITS.keyPackageChars);
    expect(keyPackageRef(last.publicPackage)).toBe(last.ref);
    const decoded = decodeMlsMessage(fromB64u(last.publicPackage), 0)!;
    if (decoded[0].wireformat !== 'mls_key_package') throw new Error('not a key package');
    expect(decoded[0].keyPackage.extensions.map((e) => e.extensionType)).toEqual([10]);
    const { makeKeyPackageRef } = await import('ts-mls/keyPackage.js');
    const cs = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519'), provider);
    expect(hex(await makeKeyPackageRef(decoded[0].keyPackage, cs.hash))).toBe(last.ref);
  });

  it('refuses a commit whose membership change is not what the relay declared', async () => {
    const erin = await member('u_erin');
    const add = await mls.stageCommit(alice.state!, { add: [erin.kps[0].publicPackage] }, dir.lookup);
    const s = bob1.state!;
    await expectCode(mls.processCommit(s, add.commit, { added: [], removed: [] }, dir.lookup), 'declaration_mismatch');
    await expectCode(mls.processCommit(s, add.commit, { added: [erin.id.deviceId], removed: [bob2.id.deviceId] }, dir.lookup), 'declaration_mismatch');
    await expectCode(mls.processCommit(s, add.commit, { added: [erin.id.deviceId, erin.id.deviceId], removed: [] }, dir.lookup), 'declaration_mismatch');
    await expectCode(mls.processCommit(s, add.commit, { added: [bob2.id.deviceId], removed: [] }, dir.lookup), 'declaration_mismatch');
    const ok = await mls.processCommit(s, add.commit, { added: [erin.id.deviceId], removed: [] }, dir.lookup);
    expect(ok.epoch).toBe(groupInfo(s).epoch + 1);
    // Once the directory no longer knows the added device, the same commit is refused.
    const revoked: DeviceLookup = (d) => (d === erin.id.deviceId ? undefined : dir.lookup(d));
    await expectCode(mls.processCommit(s, add.commit, { added: [erin.id.deviceId], removed: [] }, revoked), 'unknown_device');
    // A commit cannot be applied by its own author: it merges its staged state instead.
    await expectCode(mls.processCommit(alice.state!, add.commit, { added: [erin.id.deviceId], removed: [] }, dir.lookup), 'invalid');
  });

  it('of two commits staged on the same epoch only the first counts; the other re-stages and succeeds', async () => {
    const frank = await member('u_frank');
    const epoch = groupInfo(alice.state!).epoch;
    const fromAlice = await mls.stageCommit(alice.state!, { remove: [bob2.id.deviceId] }, dir.lookup);
    const fromBob = await mls.stageCommit(bob1.state!, { add: [frank.kps[0].publicPackage] }, dir.lookup);
    expect(fromAlice.epoch).toBe(epoch);
    expect(fromBob.epoch).toBe(epoch);

    // The relay accepts Alice's (first) commit; Bob's is refused as stale, so he drops his staged state.
    alice.state = fromAlice.staged;
    await apply(bob1, fromAlice);
    expect((await apply(bob2, fromAlice)).removed).toBe(true);
    await expectCode(mls.processCommit(alice.state, fromBob.commit, { added: fromBob.added, removed: [] }, dir.lookup), 'wrong_epoch');

    const retry = await mls.stageCommit(bob1.state!, { add: [frank.kps[0].publicPackage] }, dir.lookup);
    expect(retry.epoch).toBe(epoch + 1);
    bob1.state = retry.staged;
    await apply(alice, retry);
    frank.state = (await mls.joinFromWelcome(retry.welcome!, frank.kps, dir.lookup)).state;
    const k = await key(alice);
    expect(await key(bob1)).toEqual(k);
    expect(await key(frank)).toEqual(k);
  });

  it('refuses removing oneself and members that are not there', async () => {
    await expectCode(mls.stageCommit(alice.state!, { remove: [alice.id.deviceId] }, dir.lookup), 'invalid');
    await expectCode(mls.stageCommit(alice.state!, { remove: [newId('d')] }, dir.lookup), 'invalid');
    await expectCode(mls.stageCommit(alice.state!, { add: [bob1.kps[1].publicPackage] }, dir.lookup), 'invalid');
  });

  it('state bytes round-trip exactly, private keys and secret tree included', async () => {
    const state = alice.state!;
    expect(state[0]).toBe(1);
    const decoded = decodeGroupState(state, 1)!;
    expect(decoded[1]).toBe(state.length - 1);
    const g = decoded[0];
    expect(Object.keys(g.privatePath.privateKeys).length).toBeGreaterThan(1);
    expect(g.signaturePrivateKey).toEqual(alice.id.signSeed);
    expect(g.historicalReceiverData.size).toBe(0);
    expect(encodeGroupState(g)).toEqual(state.subarray(1));
    // A corrupted state is refused rather than half-read.
    await expectCode(mls.exportContentKey(state.subarray(0, state.length - 5)), 'invalid');
    await expectCode(mls.exportContentKey(Uint8Array.of(9, ...state.subarray(1))), 'invalid');
  });
});
