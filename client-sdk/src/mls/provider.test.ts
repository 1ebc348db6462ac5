import { getCiphersuiteFromName, nobleCryptoProvider, type CiphersuiteImpl } from 'ts-mls';
import { getSodium } from '@agora/protocol/crypto/sodium';
import { newId, utf8 } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { makeMls, type DeviceLookup, type MlsApi, type MlsIdentity, type StoredKeyPackage } from './group.js';
import { AGORA_CIPHERSUITE, agoraCryptoProvider } from './provider.js';

const suite = getCiphersuiteFromName(AGORA_CIPHERSUITE);
let ours: CiphersuiteImpl;
let noble: CiphersuiteImpl;

beforeAll(async () => {
  ours = await agoraCryptoProvider.getCiphersuiteImpl(suite);
  noble = await nobleCryptoProvider.getCiphersuiteImpl(suite);
});

describe('agoraCryptoProvider primitives agree with nobleCryptoProvider', () => {
  it('refuses other ciphersuites with a clear error', async () => {
    await expect(agoraCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'))).rejects.toThrow(
      /implements only MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519/,
    );
  });

  it('hash, MAC and KDF give the same bytes', async () => {
    for (const len of [0, 1, 31, 32, 33, 64, 65, 200]) {
      const data = randomBytes(len);
      const k = randomBytes(len);
      expect(await ours.hash.digest(data)).toEqual(await noble.hash.digest(data));
      expect(await ours.hash.mac(k, data)).toEqual(await noble.hash.mac(k, data));
      expect(await ours.hash.verifyMac(k, await noble.hash.mac(k, data), data)).toBe(true);
      // @hpke/core's HKDF takes only empty or hash-sized salts (all MLS uses).
      const salt = len === 0 || len === 32 ? k : randomBytes(32);
      expect(await ours.kdf.extract(salt, data)).toEqual(await noble.kdf.extract(salt, data));
    }
    const prk = randomBytes(32);
    for (const len of [1, 12, 32, 33, 64, 100]) {
      expect(await ours.kdf.expand(prk, utf8('info'), len)).toEqual(await noble.kdf.expand(prk, utf8('info'), len));
    }
    expect(await ours.hash.verifyMac(prk, randomBytes(32), utf8('x'))).toBe(false);
  });

  it('signatures verify across providers, and tampering is caught', async () => {
    const a = await ours.signature.keygen();
    const b = await noble.signature.keygen();
    const msg = utf8('MLS 1.0 FramedContentTBS');
    const sigA = await ours.signature.sign(a.signKey, msg);
    const sigB = await noble.signature.sign(b.signKey, msg);
    expect(await noble.signature.verify(a.publicKey, msg, sigA)).toBe(true);
    expect(await ours.signature.verify(b.publicKey, msg, sigB)).toBe(true);
    expect(sigA).toEqual(await noble.signature.sign(a.signKey, msg));
    sigA[0] ^= 1;
    expect(await ours.signature.verify(a.publicKey, msg, sigA)).toBe(false);
    expect(await ours.signature.verify(a.publicKey, msg, sigA.subarray(1))).toBe(false);
  });

  it('HPKE and AEAD interoperate', async () => {
    const kp = await noble.hpke.generateKeyPair();
    const pub = await ours.hpke.importPublicKey(await noble.hpke.exportPublicKey(kp.publicKey));
    const info = utf8('MLS 1.0 UpdatePathNode');
    const { ct, enc } = await ours.hpke.seal(pub, utf8('path secret'), info);
    expect(await noble.hpke.open(kp.privateKey, enc, ct, info)).toEqual(utf8('path secret'));

    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes(20);
    const sealed = await ours.hpke.encryptAead(key, nonce, aad, utf8('sender data'));
    expect(await noble.hpke.decryptAead(key, nonce, aad, sealed)).toEqual(utf8('sender data'));
    expect(await ours.hpke.decryptAead(key, nonce, undefined, await noble.hpke.encryptAead(key, nonce, undefined, utf8('x')))).toEqual(utf8('x'));
    sealed[0] ^= 1;
    await expect(ours.hpke.decryptAead(key, nonce, aad, sealed)).rejects.toThrow();
  });
});

describe('groups are shared between clients on different providers', () => {
  const directory = new Map<string, { userId: string; signPub: Uint8Array }>();
  const lookup: DeviceLookup = (d) => directory.get(d);
  const fast = makeMls(agoraCryptoProvider);
  const slow = makeMls(nobleCryptoProvider);

  interface Client {
    mls: MlsApi;
    id: MlsIdentity;
    kps: StoredKeyPackage[];
    state?: Uint8Array;
  }
  async function client(mls: MlsApi, userId: string): Promise<Client> {
    const sodium = await getSodium();
    const signSeed = randomBytes(32);
    const signPub = sodium.crypto_sign_seed_keypair(signSeed).publicKey;
    const id = { userId, deviceId: newId('d'), signPub, signSeed };
    directory.set(id.deviceId, { userId, signPub });
    return { mls, id, kps: await mls.createKeyPackages(id, 1) };
  }

  it.each([
    ['ours creates, noble joins', true],
    ['noble creates, ours joins', false],
  ])('%s; commits from both sides are processed by both', async (_name, oursFirst) => {
    const creator = await client(oursFirst ? fast : slow, 'u_a');
    const joiner = await client(oursFirst ? slow : fast, 'u_b');
    const third = await client(oursFirst ? fast : slow, 'u_c');
    const groupId = newId('g');

    creator.state = await creator.mls.createGroup(groupId, creator.id);
    const add = await creator.mls.stageCommit(creator.state, { add: [joiner.kps[0].publicPackage] }, lookup);
    creator.state = add.staged;
    joiner.state = (await joiner.mls.joinFromWelcome(add.welcome!, joiner.kps, lookup)).state;
    expect(await joiner.mls.exportContentKey(joiner.state)).toEqual(await creator.mls.exportContentKey(creator.state));

    // The joiner (other provider) adds a third device; the creator processes it.
    const add2 = await joiner.mls.stageCommit(joiner.state, { add: [third.kps[0].publicPackage] }, lookup);
    joiner.state = add2.staged;
    creator.state = (await creator.mls.processCommit(creator.state, add2.commit, add2, lookup)).state;
    third.state = (await third.mls.joinFromWelcome(add2.welcome!, third.kps, lookup)).state;

    // The creator removes the joiner (a path encrypted by one provider, decrypted by the other).
    const remove = await creator.mls.stageCommit(creator.state, { remove: [joiner.id.deviceId] }, lookup);
    creator.state = remove.staged;
    third.state = (await third.mls.processCommit(third.state, remove.commit, remove, lookup)).state;
    expect((await joiner.mls.processCommit(joiner.state, remove.commit, remove, lookup)).removed).toBe(true);

    const k = await creator.mls.exportContentKey(creator.state);
    expect(await third.mls.exportContentKey(third.state)).toEqual(k);
    // A state written by one provider is read by the other.
    expect(await (third.mls === fast ? slow : fast).exportContentKey(third.state)).toEqual(k);
  });
});
