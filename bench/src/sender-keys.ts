/** Signal's sender keys (`@signalapp/libsignal-client`, the native library Signal's apps use) on the
 * workload of our group records: the peer Agora's client crypto is compared with. In-memory stores,
 * as libsignal's own tests use; the library calls them asynchronously, as it does in an app. */
import {
  Direction,
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KEMKeyPair,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyBundle,
  PreKeyRecord,
  PreKeySignalMessage,
  PreKeyStore,
  PrivateKey,
  ProtocolAddress,
  PublicKey,
  SenderKeyDistributionMessage,
  SenderKeyRecord,
  SenderKeyStore,
  SessionRecord,
  SessionStore,
  SignalMessage,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  CiphertextMessageType,
  groupDecrypt,
  groupEncrypt,
  processPreKeyBundle,
  processSenderKeyDistributionMessage,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
  type Uuid,
} from '@signalapp/libsignal-client';
import { randomBytes, randomUUID } from 'node:crypto';
import { median } from './report.js';


const key = (a: ProtocolAddress) => `${a.name()}.${a.deviceId()}`;

class MemorySenderKeys extends SenderKeyStore {
  private readonly m = new Map<string, SenderKeyRecord>();
  async saveSenderKey(sender: ProtocolAddress, distributionId: Uuid, record: SenderKeyRecord): Promise<void> {
    this.m.set(`${key(sender)}/${distributionId}`, record);
  }
  async getSenderKey(sender: ProtocolAddress, distributionId: Uuid): Promise<SenderKeyRecord | null> {
    return this.m.get(`${key(sender)}/${distributionId}`) ?? null;
  }
}

/** Sessions are kept serialised, as an app's database keeps them, so every message pays the load. */
class MemorySessions extends SessionStore {
  private readonly m = new Map<string, Uint8Array<ArrayBuffer>>();
  async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
    this.m.set(key(name), record.serialize());
  }
  async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
    const b = this.m.get(key(name));
    return b ? SessionRecord.deserialize(b) : null;
  }
  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    return Promise.all(addresses.map(async (a) => (await this.getSession(a))!));
  }
}

class MemoryIdentity extends IdentityKeyStore {
  private readonly known = new Map<string, PublicKey>();
  constructor(private readonly pair: IdentityKeyPair, private readonly registrationId: number) {
    super();
  }
  async getIdentityKey(): Promise<PrivateKey> {
    return this.pair.privateKey;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }
  async saveIdentity(name: ProtocolAddress, k: PublicKey): Promise<IdentityChange> {
    const old = this.known.get(key(name));
    this.known.set(key(name), k);
    return old && !old.equals(k) ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
  }
  async isTrustedIdentity(name: ProtocolAddress, k: PublicKey, _direction: Direction): Promise<boolean> {
    const old = this.known.get(key(name));
    return !old || old.equals(k);
  }
  async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
    return this.known.get(key(name)) ?? null;
  }
}

class MemoryPreKeys extends PreKeyStore {
  readonly m = new Map<number, PreKeyRecord>();
  async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    this.m.set(id, record);
  }
  async getPreKey(id: number): Promise<PreKeyRecord> {
    return this.m.get(id)!;
  }
  async removePreKey(id: number): Promise<void> {
    this.m.delete(id);
  }
}

class MemorySignedPreKeys extends SignedPreKeyStore {
  readonly m = new Map<number, SignedPreKeyRecord>();
  async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    this.m.set(id, record);
  }
  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    return this.m.get(id)!;
  }
}

class MemoryKyberPreKeys extends KyberPreKeyStore {
  readonly m = new Map<number, KyberPreKeyRecord>();
  async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    this.m.set(id, record);
  }
  async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    return this.m.get(id)!;
  }
  async markKyberPreKeyUsed(): Promise<void> {
    // Last-resort semantics: the bench reuses nothing, so nothing to mark.
  }
}

/** One device with everything libsignal needs to be both sender and recipient. */
class Party {
  readonly address: ProtocolAddress;
  readonly identity: IdentityKeyPair = IdentityKeyPair.generate();
  readonly registrationId = 1 + Math.floor(Math.random() * 16000);
  readonly senderKeys = new MemorySenderKeys();
  readonly sessions = new MemorySessions();
  readonly identities: MemoryIdentity;
  readonly preKeys = new MemoryPreKeys();
  readonly signedPreKeys = new MemorySignedPreKeys();
  readonly kyberPreKeys = new MemoryKyberPreKeys();

  constructor(name: string) {
    this.address = ProtocolAddress.new(name, 1);
    this.identities = new MemoryIdentity(this.identity, this.registrationId);
  }

  /** A fresh pre-key bundle as the server would hand it out (one-time, signed and Kyber pre-key). */
  bundle(): PreKeyBundle {
    const preKey = PrivateKey.generate();
    const signed = PrivateKey.generate();
    const signedSig = this.identity.privateKey.sign(signed.getPublicKey().serialize());
    const kyber = KEMKeyPair.generate();
    const kyberSig = this.identity.privateKey.sign(kyber.getPublicKey().serialize());
    const now = Date.now();
    this.preKeys.m.set(1, PreKeyRecord.new(1, preKey.getPublicKey(), preKey));
    this.signedPreKeys.m.set(1, SignedPreKeyRecord.new(1, now, signed.getPublicKey(), signed, signedSig));
    this.kyberPreKeys.m.set(1, KyberPreKeyRecord.new(1, now, kyber, kyberSig));
    return PreKeyBundle.new(this.registrationId, 1, 1, preKey.getPublicKey(), 1, signed.getPublicKey(), signedSig, this.identity.publicKey, 1, kyber.getPublicKey(), kyberSig);
  }

  encrypt(to: Party, plaintext: Uint8Array<ArrayBuffer>) {
    return signalEncrypt(plaintext, to.address, this.address, this.sessions, this.identities);
  }

  async decrypt(from: Party, type: number, bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    if (type === CiphertextMessageType.PreKey) {
      return signalDecryptPreKey(PreKeySignalMessage.deserialize(bytes), from.address, this.address, this.sessions, this.identities, this.preKeys, this.signedPreKeys, this.kyberPreKeys);
    }
    return signalDecrypt(SignalMessage.deserialize(bytes), from.address, this.address, this.sessions, this.identities);
  }
}

/** A pairwise session a→b, confirmed by one reply, so later messages are ordinary SignalMessages. */
async function connect(a: Party, b: Party): Promise<void> {
  await processPreKeyBundle(b.bundle(), b.address, a.address, a.sessions, a.identities);
  const hello = await a.encrypt(b, new Uint8Array(new ArrayBuffer(8)));
  await b.decrypt(a, hello.type(), hello.serialize());
  const reply = await b.encrypt(a, new Uint8Array(new ArrayBuffer(8)));
  await a.decrypt(b, reply.type(), reply.serialize());
}

const bytesEq = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((v, i) => v === y[i]);

export interface SenderKeyTimings {
  plaintextBytes: number;
  ciphertextBytes: number;
  /** Microseconds per groupEncrypt and per groupDecrypt of one message. */
  encryptUs: number;
  decryptUs: number;
  /** Microseconds: one SenderKeyDistributionMessage created (once per member per re-key). */
  skdmCreateUs: number;
  skdmBytes: number;
  /** Microseconds per pairwise signalEncrypt / signalDecrypt of one SKDM, and per processing of it. */
  pairEncryptUs: number;
  pairDecryptUs: number;
  skdmProcessUs: number;
  pairCiphertextBytes: number;
  recipients: number;
  rounds: number;
}

/** Per-message sender-key cost, and the cost of the pieces of a sender-key re-key: each remaining
 * member creates a new sender key and sends its distribution message over the pairwise session
 * to every other remaining member, who decrypts and processes it. */
export async function measureSenderKeys(opts: { messages: number; plaintextBytes: number; recipients: number; rounds: number }): Promise<SenderKeyTimings> {
  const alice = new Party(randomUUID());
  const bob = new Party(randomUUID());
  const distributionId = randomUUID();

  // Per-message cost: Alice's sender key, distributed to Bob.
  const skdm = await SenderKeyDistributionMessage.create(alice.address, distributionId, alice.senderKeys);
  await processSenderKeyDistributionMessage(alice.address, SenderKeyDistributionMessage.deserialize(skdm.serialize()), bob.senderKeys);
  const plaintexts = Array.from({ length: opts.messages }, () => new Uint8Array(randomBytes(opts.plaintextBytes)) as Uint8Array<ArrayBuffer>);
  for (let i = 0; i < Math.min(50, opts.messages); i++) {
    const c = await groupEncrypt(alice.address, distributionId, alice.senderKeys, plaintexts[i]);
    await groupDecrypt(alice.address, bob.senderKeys, c.serialize());
  }
  const ciphertexts: Uint8Array<ArrayBuffer>[] = new Array(opts.messages);
  let t = performance.now();
  for (let i = 0; i < opts.messages; i++) ciphertexts[i] = (await groupEncrypt(alice.address, distributionId, alice.senderKeys, plaintexts[i])).serialize();
  const encryptUs = ((performance.now() - t) * 1000) / opts.messages;
  t = performance.now();
  for (let i = 0; i < opts.messages; i++) {
    const p = await groupDecrypt(alice.address, bob.senderKeys, ciphertexts[i]);
    if (i === 0 && !bytesEq(p, plaintexts[0])) throw new Error('sender keys: decryption gave other bytes');
  }
  const decryptUs = ((performance.now() - t) * 1000) / opts.messages;

  // Re-key pieces: Alice with established sessions to `recipients` members.
  const members = Array.from({ length: opts.recipients }, () => new Party(randomUUID()));
  for (const m of members) await connect(alice, m);
  const create: number[] = [];
  const enc: number[] = [];
  const dec: number[] = [];
  const proc: number[] = [];
  let skdmBytes = 0;
  let pairBytes = 0;
  for (let round = 0; round <= opts.rounds; round++) {
    // A new distribution id stands for the new sender key after a removal.
    const newId = randomUUID();
    let t0 = performance.now();
    const fresh = await SenderKeyDistributionMessage.create(alice.address, newId, alice.senderKeys);
    const bytes = fresh.serialize();
    const created = performance.now() - t0;
    skdmBytes = bytes.length;
    const sealed = [];
    t0 = performance.now();
    for (const m of members) sealed.push(await alice.encrypt(m, bytes));
    const encrypted = performance.now() - t0;
    pairBytes = sealed[0].serialize().length;
    let decrypted = 0;
    let processed = 0;
    for (const [i, m] of members.entries()) {
      let t1 = performance.now();
      const opened = await m.decrypt(alice, sealed[i].type(), sealed[i].serialize());
      decrypted += performance.now() - t1;
      t1 = performance.now();
      await processSenderKeyDistributionMessage(alice.address, SenderKeyDistributionMessage.deserialize(opened), m.senderKeys);
      processed += performance.now() - t1;
    }
    // The new key works for every member (checked in every round, outside the timings).
    const probe = await groupEncrypt(alice.address, newId, alice.senderKeys, plaintexts[0]);
    for (const m of members) {
      if (!bytesEq(await groupDecrypt(alice.address, m.senderKeys, probe.serialize()), plaintexts[0])) throw new Error('sender keys: re-keyed member cannot read');
    }
    if (round === 0) continue; // warm-up round
    create.push(created * 1000);
    enc.push((encrypted * 1000) / members.length);
    dec.push((decrypted * 1000) / members.length);
    proc.push((processed * 1000) / members.length);
  }
  return {
    plaintextBytes: opts.plaintextBytes,
    ciphertextBytes: ciphertexts[0].length,
    encryptUs,
    decryptUs,
    skdmCreateUs: median(create),
    skdmBytes,
    pairEncryptUs: median(enc),
    pairDecryptUs: median(dec),
    skdmProcessUs: median(proc),
    pairCiphertextBytes: pairBytes,
    recipients: opts.recipients,
    rounds: opts.rounds,
  };
}
