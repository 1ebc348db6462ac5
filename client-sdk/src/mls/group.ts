/** The MLS layer of the SDK (RFC 9420 through ts-mls), sans-I/O: pure async functions over
 * serialisable state. The SDK stores the state bytes, sends what these functions return and feeds
 * back what the relay delivers.
 *
 * Conventions:
 * - One ciphersuite, MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519, with agoraCryptoProvider.
 * - MLS group id = utf8(Agora group id). Basic credential identity = utf8(`${userId}/${deviceId}`),
 *   and a leaf's signature key must be the directory's signing key for that device: the ts-mls
 *   authentication service is built from the caller's DeviceLookup, so unknown or revoked devices
 *   and key mismatches are refused wherever ts-mls validates a credential (added KeyPackages, commit
 *   paths, every leaf of the tree a Welcome carries).
 * - The MLS signing key is the device's Ed25519 signing key.
 * - Commits travel as PrivateMessages: the relay sees only the epoch, and routes by the declared
 *   added/removed lists, which every member checks against the commit itself.
 * - Welcomes carry the ratchet tree, so a joiner needs nothing else.
 * - The relay orders commits and accepts one per epoch: stage a commit, send it, and persist the
 *   staged state only once the relay accepted it. A member never processes its own commit.
 * - Content is not sent as MLS application messages; each epoch's content key is an MLS exporter
 *   output. So states keep no previous-epoch receiver data (see encodeState).
 */
import { loadedCryptoProvider } from '@agora/protocol/crypto/provider';
// Each function from its own module rather than the package index: ts-mls declares no
// "sideEffects": false, so the index drags its default WebCrypto/@hpke provider into a browser bundle
// (with a Node `import("crypto")` fallback and optional post-quantum packages), none of which Agora
// uses (agoraCryptoProvider does all the cryptography).
import { createCommit } from 'ts-mls/createCommit.js';
import { createGroup as tsCreateGroup, decodeGroupState, encodeGroupState, joinGroupWithExtensions } from 'ts-mls/clientState.js';
import { getCiphersuiteFromName } from 'ts-mls/crypto/ciphersuite.js';
import { encodeKeyPackage, generateKeyPackageWithKey, verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { defaultKeyPackageEqualityConfig } from 'ts-mls/keyPackageEqualityConfig.js';
import { defaultKeyRetentionConfig } from 'ts-mls/keyRetentionConfig.js';
import { mlsExporter } from 'ts-mls/keySchedule.js';
import { defaultLifetimeConfig } from 'ts-mls/lifetimeConfig.js';
import { decodeMlsMessage, encodeMlsMessage } from 'ts-mls/message.js';
import { defaultPaddingConfig } from 'ts-mls/paddingConfig.js';
import { processPrivateMessage } from 'ts-mls/processMessages.js';
import { emptyPskIndex } from 'ts-mls/pskIndex.js';
import type {
  AuthenticationService, Capabilities, CiphersuiteImpl, ClientConfig, ClientState, Credential, CryptoProvider, Extension, GroupState,
  IncomingMessageCallback, KeyPackage, PrivateKeyPackage, Proposal, RatchetTree,
} from 'ts-mls';
import { encode } from 'ts-mls/codec/tlsEncoder.js';
import { CryptoVerificationError } from 'ts-mls/mlsError.js';
import { varLenDataEncoder } from 'ts-mls/codec/variableLength.js';
import { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js';
import { bytesEqual, fromB64u, fromUtf8, toB64u, utf8 } from '@agora/protocol/encoding';
import { MlsCheckError } from './check-error.js';
import { AGORA_CIPHERSUITE, agoraCryptoProvider, agoraCryptoProviderWith } from './provider.js';

export { AGORA_CIPHERSUITE, agoraCryptoProvider, agoraCryptoProviderWith };
export { MlsCheckError, type MlsCheckCode } from './check-error.js';

export interface MlsIdentity {
  userId: string;
  deviceId: string;
  /** 32-byte Ed25519 public key, as in the directory. */
  signPub: Uint8Array;
  /** 32-byte Ed25519 seed. */
  signSeed: Uint8Array;
}

/** Looks a device up in the directory; undefined = unknown/revoked. Used as the MLS authentication service. */
export type DeviceLookup = (deviceId: string) => { userId: string; signPub: Uint8Array } | undefined;

export interface StoredKeyPackage {
  /** b64u MLS KeyPackageRef (RFC 9420 §5.2) of the public package: the id a Welcome addresses it by. */
  ref: string;
  /** b64u MLSMessage holding the KeyPackage. */
  publicPackage: string;
  /** b64u of what joining needs: init and leaf HPKE private keys and the signing seed. Secret. */
  privateState: string;
}

export interface StagedCommit {
  /** b64u MLSMessage (PrivateMessage). */
  commit: string;
  /** b64u MLSMessage Welcome for all added devices, ratchet tree included. */
  welcome?: string;
  /** The state after the commit; persist it only once the relay accepted `commit`. */
  staged: Uint8Array;
  added: string[];
  removed: string[];
  /** The epoch the commit was built on. */
  epoch: number;
}

export interface ProcessedCommit {
  state: Uint8Array;
  /** The epoch the commit started. A removed device's state stays at the epoch before it. */
  epoch: number;
  /** This device was removed by the commit: it can derive no key of `epoch` or later. */
  removed: boolean;
  /** The committing device, from the authenticated commit: compare it with the log's sender. */
  committer: string;
  /** The commit's authenticated data (RFC 9420 §6.3.2), covered by the committer's signature and the
   * PrivateMessage AEAD: Agora carries the group's sealed owner set there. */
  authenticatedData: Uint8Array;
}

export interface MemberInfo {
  deviceId: string;
  userId: string;
  signPub: Uint8Array;
  leafIndex: number;
}

export interface MlsGroupInfo {
  groupId: string;
  epoch: number;
  members: MemberInfo[];
  ownDeviceId: string;
}

export const CONTENT_KEY_LABEL = 'agora content v1';
/** Exporter label of the salt a membership commitment in the key-transparency log is built with:
 * a label of its own, so the salt says nothing about the epoch's content key. */
export const MEMBERSHIP_SALT_LABEL = 'agora membership salt v1';
/** How long a KeyPackage is valid for, from its creation (an hour of clock skew allowed before). */
export const KEY_PACKAGE_LIFETIME_S = 90 * 24 * 3600;
const CLOCK_SKEW_S = 3600;
/** RFC 9420 §17.3: the last_resort KeyPackage extension. */
const LAST_RESORT_EXTENSION = 0x000a;
/** A GroupInfo extension (private-use range, RFC 9420 §17.3) in the Welcome of a commit that adds
 * devices: what the group's members know that the MLS state does not hold, for the devices joining
 * (core/roles.ts encodes it). The GroupInfo is signed by the committer and encrypted to the joiners,
 * so neither the relay nor another member can change or read it. */
const WELCOME_INFO_EXTENSION = 0xf0a1;
const STATE_VERSION = 1;
const PRIVATE_PACKAGE_VERSION = 1;

const CAPABILITIES: Capabilities = {
  versions: ['mls10'],
  ciphersuites: [AGORA_CIPHERSUITE],
  extensions: [LAST_RESORT_EXTENSION],
  proposals: [],
  credentials: ['basic'],
};

// ---------- identities ----------

function credentialFor(userId: string, deviceId: string): Credential {
  if (!userId || !deviceId || userId.includes('/') || deviceId.includes('/')) throw new RangeError('user and device ids must be non-empty and free of "/"');
  return { credentialType: 'basic', identity: utf8(`${userId}/${deviceId}`) };
}

function parseCredential(credential: Credential): { userId: string; deviceId: string } | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  let text: string;
  try {
    text = fromUtf8(credential.identity);
  } catch {
    return undefined;
  }
  const parts = text.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { userId: parts[0], deviceId: parts[1] };
}

function membersOf(tree: RatchetTree): MemberInfo[] {
  const out: MemberInfo[] = [];
  for (let i = 0; i < tree.length; i += 2) {
    const node = tree[i];
    if (node?.nodeType !== 'leaf') continue;
    const id = parseCredential(node.leaf.credential);
    if (!id) throw new MlsCheckError('invalid', 'a leaf of the tree has no Agora credential');
    out.push({ ...id, signPub: node.leaf.signaturePublicKey, leafIndex: i / 2 });
  }
  return out;
}

/** ts-mls asks the authentication service only yes/no; this one also remembers why it said no, so
 * the caller gets a precise MlsCheckError code. */
class DirectoryAuth implements AuthenticationService {
  failure: { kind: 'unknown' | 'mismatch' | 'malformed'; deviceId?: string } | undefined;
  constructor(private readonly lookup: DeviceLookup) {}

  async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    const id = parseCredential(credential);
    if (!id) {
      this.failure ??= { kind: 'malformed' };
      return false;
    }
    const entry = this.lookup(id.deviceId);
    if (!entry) {
      this.failure ??= { kind: 'unknown', deviceId: id.deviceId };
      return false;
    }
    if (entry.userId !== id.userId || !bytesEqual(entry.signPub, signaturePublicKey)) {
      this.failure ??= { kind: 'mismatch', deviceId: id.deviceId };
      return false;
    }
    return true;
  }
}

const refuseAll: AuthenticationService = { validateCredential: async () => false };

function clientConfig(authService: AuthenticationService): ClientConfig {
  return {
    // Only the current epoch is used (no MLS application messages); 1 is the smallest value ts-mls
    // handles (0 keeps everything), and encodeState drops even that.
    keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: 1 },
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService,
  };
}

function rethrow(e: unknown, auth: DirectoryAuth | undefined, what: string, added?: ReadonlySet<string>): never {
  if (e instanceof MlsCheckError) throw e;
  const f = auth?.failure;
  if (f?.kind === 'unknown') throw new MlsCheckError('unknown_device', `${what}: device ${f.deviceId} is unknown or revoked`, { cause: e });
  if (f?.kind === 'mismatch') {
    const code = f.deviceId !== undefined && added?.has(f.deviceId) ? 'bad_key_package' : 'invalid';
    throw new MlsCheckError(code, `${what}: device ${f.deviceId}'s MLS key is not its directory signing key`, { cause: e });
  }
  if (f?.kind === 'malformed') throw new MlsCheckError('invalid', `${what}: a credential is not an Agora device credential`, { cause: e });
  throw new MlsCheckError('invalid', `${what}: ${e instanceof Error ? e.message : 'failed'}`, { cause: e });
}

// ---------- serialisation ----------

/** Version byte, then ts-mls's GroupState encoding. Previous epochs' receiver data (secret tree,
 * sender-data secret, ratchet tree) is dropped: nothing here decrypts old-epoch MLS messages, and
 * keeping it would only weaken forward secrecy and, at 1,000 leaves, add a tree copy per epoch. */
function encodeState(state: GroupState): Uint8Array {
  const body = encodeGroupState({ ...state, historicalReceiverData: new Map() });
  const out = new Uint8Array(body.length + 1);
  out[0] = STATE_VERSION;
  out.set(body, 1);
  return out;
}

function decodeState(bytes: Uint8Array, authService: AuthenticationService): ClientState {
  if (bytes.length < 2 || bytes[0] !== STATE_VERSION) throw new MlsCheckError('invalid', 'not an MLS group state of a supported version');
  let decoded: ReturnType<typeof decodeGroupState>;
  try {
    decoded = decodeGroupState(bytes, 1);
  } catch (e) {
    throw new MlsCheckError('invalid', 'corrupt MLS group state', { cause: e });
  }
  if (!decoded || decoded[1] !== bytes.length - 1) throw new MlsCheckError('invalid', 'corrupt MLS group state');
  return { ...decoded[0], clientConfig: clientConfig(authService) };
}

function encodePrivatePackage(p: PrivateKeyPackage): string {
  const parts = [p.initPrivateKey, p.hpkePrivateKey, p.signaturePrivateKey];
  if (parts.some((k) => k.length !== 32)) throw new Error('unexpected private key length');
  const out = new Uint8Array(1 + 96);
  out[0] = PRIVATE_PACKAGE_VERSION;
  parts.forEach((k, i) => out.set(k, 1 + 32 * i));
  return toB64u(out);
}

function decodePrivatePackage(text: string): PrivateKeyPackage {
  const b = fromB64u(text);
  if (b.length !== 97 || b[0] !== PRIVATE_PACKAGE_VERSION) throw new MlsCheckError('invalid', 'corrupt stored key package');
  return { initPrivateKey: b.slice(1, 33), hpkePrivateKey: b.slice(33, 65), signaturePrivateKey: b.slice(65, 97) };
}

function decodeMessage(text: string): ReturnType<typeof decodeMlsMessage> {
  try {
    const bytes = fromB64u(text);
    const decoded = decodeMlsMessage(bytes, 0);
    return decoded && decoded[1] === bytes.length ? decoded : undefined;
  } catch {
    return undefined;
  }
}

function decodeKeyPackageMessage(publicPackage: string): KeyPackage {
  const decoded = decodeMessage(publicPackage);
  if (!decoded || decoded[0].wireformat !== 'mls_key_package') throw new MlsCheckError('bad_key_package', 'not an MLS KeyPackage');
  return decoded[0].keyPackage;
}

const REF_LABEL = utf8('MLS 1.0 KeyPackage Reference');

function refOf(kp: KeyPackage): Uint8Array {
  // RFC 9420 §5.2: RefHash = SHA-256(opaque label<V> || opaque value<V>). Synchronous: this module
  // is loaded with the MLS layer, which loads the crypto provider first.
  const label = encode(varLenDataEncoder)(REF_LABEL);
  const value = encode(varLenDataEncoder)(encodeKeyPackage(kp));
  const input = new Uint8Array(label.length + value.length);
  input.set(label, 0);
  input.set(value, label.length);
  return loadedCryptoProvider().sha256(input);
}

/** The RFC 9420 KeyPackageRef of a public package, b64u: the id a Welcome uses for it. */
export function keyPackageRef(publicPackage: string): string {
  return toB64u(refOf(decodeKeyPackageMessage(publicPackage)));
}

/** Reads a state without any directory: for the summary and the exporter only. */
function readState(state: Uint8Array): ClientState {
  return decodeState(state, refuseAll);
}

export function groupInfo(state: Uint8Array): MlsGroupInfo {
  const s = readState(state);
  const members = membersOf(s.ratchetTree);
  const own = members.find((m) => m.leafIndex === s.privatePath.leafIndex);
  if (!own) throw new MlsCheckError('invalid', 'the state has no own leaf');
  return { groupId: fromUtf8(s.groupContext.groupId), epoch: Number(s.groupContext.epoch), members, ownDeviceId: own.deviceId };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((x, i) => x === sb[i]) && new Set(sa).size === sa.length;
}

// ---------- the provider-bound API ----------

export interface MlsApi {
  createKeyPackages(id: MlsIdentity, count: number, opts?: { lastResort?: boolean }): Promise<StoredKeyPackage[]>;
  checkKeyPackage(publicPackage: string, expectedDeviceId: string, lookup: DeviceLookup): Promise<void>;
  createGroup(groupId: string, id: MlsIdentity): Promise<Uint8Array>;
  stageCommit(
    state: Uint8Array,
    change: { add?: string[]; remove?: string[]; update?: boolean; authenticatedData?: Uint8Array; welcomeInfo?: Uint8Array },
    lookup: DeviceLookup,
  ): Promise<StagedCommit>;
  processCommit(state: Uint8Array, commit: string, declared: { added: string[]; removed: string[] }, lookup: DeviceLookup): Promise<ProcessedCommit>;
  joinFromWelcome(
    welcome: string,
    keyPackages: StoredKeyPackage[],
    lookup: DeviceLookup,
  ): Promise<{ state: Uint8Array; groupId: string; epoch: number; usedRef: string; welcomeInfo?: Uint8Array }>;
  exportContentKey(state: Uint8Array): Promise<Uint8Array>;
  membershipSalt(state: Uint8Array): Promise<Uint8Array>;
  /** The member devices and the membership salt, from one decoding of the state (which dominates
   * the cost in large groups). */
  membershipInputs(state: Uint8Array): Promise<{ members: string[]; salt: Uint8Array }>;
}

/** The API over a given CryptoProvider; the module's exports use agoraCryptoProvider. Another
 * provider is for tests and benchmarks (states and messages are the same bytes either way). */
export function makeMls(provider: CryptoProvider = agoraCryptoProvider): MlsApi {
  let suite: Promise<CiphersuiteImpl> | undefined;
  const cipherSuite = () => (suite ??= provider.getCiphersuiteImpl(getCiphersuiteFromName(AGORA_CIPHERSUITE)));

  async function newKeyPackage(cs: CiphersuiteImpl, id: MlsIdentity, extensions: Extension[]) {
    if (id.signSeed.length !== 32 || id.signPub.length !== 32) throw new RangeError('an Ed25519 seed and public key are 32 bytes');
    // Catches an identity whose seed and public key do not belong together before it reaches a group.
    const probe = utf8('agora mls identity check');
    if (!(await cs.signature.verify(id.signPub, probe, await cs.signature.sign(id.signSeed, probe)))) {
      throw new RangeError('signSeed does not match signPub');
    }
    const now = BigInt(Math.floor(Date.now() / 1000));
    const lifetime = { notBefore: now - BigInt(CLOCK_SKEW_S), notAfter: now + BigInt(KEY_PACKAGE_LIFETIME_S) };
    return generateKeyPackageWithKey(credentialFor(id.userId, id.deviceId), CAPABILITIES, lifetime, extensions, { signKey: id.signSeed, publicKey: id.signPub }, cs);
  }

  /** All checks a KeyPackage from the relay needs; returns the device it belongs to. stageCommit
   * skips the two signatures because ts-mls verifies them again when it builds the commit. */
  async function verifyPackage(
    kp: KeyPackage,
    expectedDeviceId: string | undefined,
    lookup: DeviceLookup,
    cs: CiphersuiteImpl,
    signatures = true,
  ): Promise<string> {
    const bad = (why: string) => new MlsCheckError('bad_key_package', `key package refused: ${why}`);
    if (kp.version !== 'mls10' || kp.cipherSuite !== AGORA_CIPHERSUITE) throw bad('wrong version or ciphersuite');
    const leaf = kp.leafNode;
    if (leaf.leafNodeSource !== 'key_package') throw bad('leaf node is not from a key package');
    const id = parseCredential(leaf.credential);
    if (!id) throw bad('not an Agora device credential');
    if (expectedDeviceId !== undefined && id.deviceId !== expectedDeviceId) throw bad(`it belongs to device ${id.deviceId}, not ${expectedDeviceId}`);
    const entry = lookup(id.deviceId);
    if (!entry) throw new MlsCheckError('unknown_device', `key package refused: device ${id.deviceId} is unknown or revoked`);
    if (entry.userId !== id.userId) throw bad('its user is not the device owner');
    if (!bytesEqual(entry.signPub, leaf.signaturePublicKey)) throw bad("its signing key is not the device's directory key");
    if (!leaf.capabilities.ciphersuites.includes(AGORA_CIPHERSUITE) || !leaf.capabilities.credentials.includes('basic')) throw bad('unsupported capabilities');
    const now = BigInt(Math.floor(Date.now() / 1000));
    if (leaf.lifetime.notBefore > now + BigInt(CLOCK_SKEW_S) || leaf.lifetime.notAfter < now) throw bad('expired or not yet valid');
    if (bytesEqual(kp.initKey, leaf.hpkePublicKey)) throw bad('init key equals leaf key');
    if (!signatures) return id.deviceId;
    if (!(await verifyLeafNodeSignatureKeyPackage(leaf, cs.signature))) throw bad('leaf node signature does not verify');
    if (!(await verifyKeyPackage(kp, cs.signature))) throw bad('signature does not verify');
    return id.deviceId;
  }

  return {
    async createKeyPackages(id, count, opts) {
      if (!Number.isInteger(count) || count < 0) throw new RangeError('count must be a non-negative integer');
      const cs = await cipherSuite();
      const extensions: Extension[] = opts?.lastResort ? [{ extensionType: LAST_RESORT_EXTENSION, extensionData: new Uint8Array(0) }] : [];
      const out: StoredKeyPackage[] = [];
      for (let i = 0; i < count; i++) {
        const { publicPackage, privatePackage } = await newKeyPackage(cs, id, extensions);
        out.push({
          ref: toB64u(refOf(publicPackage)),
          publicPackage: toB64u(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage })),
          privateState: encodePrivatePackage(privatePackage),
        });
      }
      return out;
    },

    async checkKeyPackage(publicPackage, expectedDeviceId, lookup) {
      await verifyPackage(decodeKeyPackageMessage(publicPackage), expectedDeviceId, lookup, await cipherSuite());
    },

    async createGroup(groupId, id) {
      if (!groupId) throw new RangeError('group id must not be empty');
      const cs = await cipherSuite();
      const { publicPackage, privatePackage } = await newKeyPackage(cs, id, []);
      const state = await tsCreateGroup(utf8(groupId), publicPackage, privatePackage, [], cs, clientConfig(refuseAll));
      return encodeState(state);
    },

    async stageCommit(stateBytes, change, lookup) {
      const cs = await cipherSuite();
      const auth = new DirectoryAuth(lookup);
      const state = decodeState(stateBytes, auth);
      if (state.groupActiveState.kind !== 'active') throw new MlsCheckError('invalid', 'this device is no longer an active member of the group');
      const members = membersOf(state.ratchetTree);
      const own = members.find((m) => m.leafIndex === state.privatePath.leafIndex);
      if (!own) throw new MlsCheckError('invalid', 'the state has no own leaf');
      const proposals: Proposal[] = [];
      const added: string[] = [];
      const removed: string[] = [];
      for (const pkg of change.add ?? []) {
        const kp = decodeKeyPackageMessage(pkg);
        const deviceId = await verifyPackage(kp, undefined, lookup, cs, false);
        if (members.some((m) => m.deviceId === deviceId) || added.includes(deviceId)) {
          throw new MlsCheckError('invalid', `device ${deviceId} is already a member or added twice`);
        }
        added.push(deviceId);
        proposals.push({ proposalType: 'add', add: { keyPackage: kp } });
      }
      for (const deviceId of change.remove ?? []) {
        if (deviceId === own.deviceId) throw new MlsCheckError('invalid', 'a device cannot remove itself; another member must remove it');
        const member = members.find((m) => m.deviceId === deviceId);
        if (!member) throw new MlsCheckError('invalid', `device ${deviceId} is not a member`);
        if (removed.includes(deviceId)) throw new MlsCheckError('invalid', `device ${deviceId} is removed twice`);
        removed.push(deviceId);
        proposals.push({ proposalType: 'remove', remove: { removed: member.leafIndex } });
      }
      // ts-mls puts an UpdatePath in a commit exactly when it has no proposals or removes someone
      // (RFC 9420 makes it optional for adds), and has no switch to force one.
      if (change.update && added.length > 0 && removed.length === 0) {
        throw new MlsCheckError('invalid', 'an add-only commit cannot carry an update path here: commit the adds, then an update');
      }
      const epoch = Number(state.groupContext.epoch);
      let result: Awaited<ReturnType<typeof createCommit>>;
      try {
        result = await createCommit(
          { state, cipherSuite: cs },
          {
            extraProposals: proposals, ratchetTreeExtension: true, wireAsPublicMessage: false, authenticatedData: change.authenticatedData,
            groupInfoExtensions: change.welcomeInfo ? [{ extensionType: WELCOME_INFO_EXTENSION, extensionData: change.welcomeInfo }] : [],
          },
        );
      } catch (e) {
        // The only signatures ts-mls verifies while building a commit are the added KeyPackages'.
        if (e instanceof CryptoVerificationError) throw new MlsCheckError('bad_key_package', `key package refused: ${e.message}`, { cause: e });
        rethrow(e, auth, 'commit could not be built', new Set(added));
      }
      return {
        commit: toB64u(encodeMlsMessage(result.commit)),
        welcome: result.welcome ? toB64u(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome })) : undefined,
        staged: encodeState(result.newState),
        added,
        removed,
        epoch,
      };
    },

    async processCommit(stateBytes, commit, declared, lookup) {
      const cs = await cipherSuite();
      const auth = new DirectoryAuth(lookup);
      const state = decodeState(stateBytes, auth);
      if (state.groupActiveState.kind !== 'active') throw new MlsCheckError('invalid', 'this device is no longer an active member of the group');
      const decoded = decodeMessage(commit);
      if (!decoded || decoded[0].wireformat !== 'mls_private_message') throw new MlsCheckError('invalid', 'not an MLS PrivateMessage');
      const pm = decoded[0].privateMessage;
      if (!bytesEqual(pm.groupId, state.groupContext.groupId)) throw new MlsCheckError('invalid', 'commit of another group');
      if (pm.epoch !== state.groupContext.epoch) {
        throw new MlsCheckError('wrong_epoch', `commit for epoch ${pm.epoch}, but this device is at epoch ${state.groupContext.epoch}`);
      }
      const members = membersOf(state.ratchetTree);
      const byLeaf = new Map(members.map((m) => [m.leafIndex, m]));
      const ownLeaf = state.privatePath.leafIndex;
      let verdict: MlsCheckError | undefined;
      let committer: string | undefined;
      const refuse = (e: MlsCheckError) => {
        verdict = e;
        return 'reject' as const;
      };
      const callback: IncomingMessageCallback = (incoming) => {
        if (incoming.kind !== 'commit') return refuse(new MlsCheckError('invalid', 'expected a commit, got a proposal'));
        const sender = incoming.senderLeafIndex === undefined ? undefined : byLeaf.get(incoming.senderLeafIndex);
        if (!sender) return refuse(new MlsCheckError('invalid', 'commit not sent by a member'));
        if (sender.leafIndex === ownLeaf) return refuse(new MlsCheckError('invalid', 'own commit: merge the staged state instead'));
        const added: string[] = [];
        const removed: string[] = [];
        for (const { proposal } of incoming.proposals) {
          if (proposal.proposalType === 'add') {
            const id = parseCredential(proposal.add.keyPackage.leafNode.credential);
            if (!id) return refuse(new MlsCheckError('invalid', 'added leaf has no Agora credential'));
            added.push(id.deviceId);
          } else if (proposal.proposalType === 'remove') {
            const m = byLeaf.get(proposal.remove.removed);
            if (!m) return refuse(new MlsCheckError('invalid', 'commit removes an empty leaf'));
            removed.push(m.deviceId);
          } else {
            return refuse(new MlsCheckError('invalid', `commit carries a ${String(proposal.proposalType)} proposal, which Agora never sends`));
          }
        }
        if (!sameSet(added, declared.added) || !sameSet(removed, declared.removed)) {
          return refuse(new MlsCheckError('declaration_mismatch', 'the commit adds or removes other devices than the relay declared'));
        }
        committer = sender.deviceId;
        return 'accept';
      };
      let result: Awaited<ReturnType<typeof processPrivateMessage>>;
      try {
        result = await processPrivateMessage(state, pm, emptyPskIndex, cs, callback);
      } catch (e) {
        rethrow(e, auth, 'commit refused', new Set(declared.added));
      }
      if (result.kind !== 'newState') throw new MlsCheckError('invalid', 'an application message, not a commit');
      if (result.actionTaken === 'reject' || committer === undefined) throw verdict ?? new MlsCheckError('invalid', 'commit refused');
      const removed = result.newState.groupActiveState.kind === 'removedFromGroup';
      return { state: encodeState(result.newState), epoch: Number(pm.epoch) + 1, removed, committer, authenticatedData: pm.authenticatedData };
    },

    async joinFromWelcome(welcome, keyPackages, lookup) {
      const cs = await cipherSuite();
      const decoded = decodeMessage(welcome);
      if (!decoded || decoded[0].wireformat !== 'mls_welcome') throw new MlsCheckError('invalid', 'not an MLS Welcome');
      const w = decoded[0].welcome;
      if (w.cipherSuite !== AGORA_CIPHERSUITE) throw new MlsCheckError('invalid', 'Welcome of another ciphersuite');
      let match: { stored: StoredKeyPackage; kp: KeyPackage; ref: Uint8Array } | undefined;
      for (const stored of keyPackages) {
        const kp = decodeKeyPackageMessage(stored.publicPackage);
        const ref = refOf(kp);
        if (w.secrets.some((s) => bytesEqual(s.newMember, ref))) {
          match = { stored, kp, ref };
          break;
        }
      }
      if (!match) throw new MlsCheckError('invalid', 'the Welcome is not addressed to any key package of this device');
      const auth = new DirectoryAuth(lookup);
      let state: ClientState;
      let extensions: Extension[];
      try {
        [state, extensions] = await joinGroupWithExtensions(w, match.kp, decodePrivatePackage(match.stored.privateState), emptyPskIndex, cs, undefined, undefined, clientConfig(auth));
      } catch (e) {
        rethrow(e, auth, 'Welcome refused');
      }
      const info = extensions.filter((x) => x.extensionType === WELCOME_INFO_EXTENSION);
      if (info.length > 1) throw new MlsCheckError('invalid', 'the Welcome carries two group descriptions');
      return {
        state: encodeState(state),
        groupId: fromUtf8(state.groupContext.groupId),
        epoch: Number(state.groupContext.epoch),
        usedRef: toB64u(match.ref),
        ...(info[0] ? { welcomeInfo: info[0].extensionData } : {}),
      };
    },

    async exportContentKey(stateBytes) {
      const cs = await cipherSuite();
      const state = readState(stateBytes);
      return mlsExporter(state.keySchedule.exporterSecret, CONTENT_KEY_LABEL, state.groupContext.groupId, 32, cs);
    },

    async membershipSalt(stateBytes) {
      const cs = await cipherSuite();
      const state = readState(stateBytes);
      return mlsExporter(state.keySchedule.exporterSecret, MEMBERSHIP_SALT_LABEL, state.groupContext.groupId, 32, cs);
    },

    async membershipInputs(stateBytes) {
      const cs = await cipherSuite();
      const state = readState(stateBytes);
      const salt = await mlsExporter(state.keySchedule.exporterSecret, MEMBERSHIP_SALT_LABEL, state.groupContext.groupId, 32, cs);
      return { members: membersOf(state.ratchetTree).map((m) => m.deviceId), salt };
    },
  };
}

const agora = makeMls(agoraCryptoProvider);

export const createKeyPackages: MlsApi['createKeyPackages'] = agora.createKeyPackages;
/** Parses a KeyPackage claimed from the relay and checks it belongs to `expectedDeviceId` with the
 * directory's signing key, valid signatures, our ciphersuite and a current lifetime. Throws MlsCheckError. */
export const checkKeyPackage: MlsApi['checkKeyPackage'] = agora.checkKeyPackage;
export const createGroup: MlsApi['createGroup'] = agora.createGroup;
/** Stage, send, merge: the caller persists `staged` only after the relay accepted `commit`. No
 * proposals (or `update` alone) gives an update commit, which refreshes the committer's path. */
export const stageCommit: MlsApi['stageCommit'] = agora.stageCommit;
/** Processes a commit read from the group log. Verifies that the membership change it makes equals
 * the relay's declared added/removed lists; throws MlsCheckError otherwise. If the local device
 * itself is removed, returns { removed: true }. */
export const processCommit: MlsApi['processCommit'] = agora.processCommit;
export const joinFromWelcome: MlsApi['joinFromWelcome'] = agora.joinFromWelcome;
/** The epoch's content key: MLS exporter (RFC 9420 §8.5), label "agora content v1", context = utf8(groupId), 32 bytes. */
export const exportContentKey: MlsApi['exportContentKey'] = agora.exportContentKey;
/** The epoch's membership salt: MLS exporter, label "agora membership salt v1", context = utf8(groupId), 32 bytes. */
export const membershipSalt: MlsApi['membershipSalt'] = agora.membershipSalt;
export const membershipInputs: MlsApi['membershipInputs'] = agora.membershipInputs;

/** Low-level access for benchmarks and tools, not for the SDK: the ts-mls state inside a state
 * (its clientConfig refuses every credential, so use it for reading or supply your own), the
 * encoding back, and a stored key package's private keys. */
export const mlsInternals = {
  decodeState: readState,
  encodeState,
  decodePrivatePackage,
};
