/** (d) Key transparency: proof sizes and client verification times for logs of 10⁴, 10⁵ and 10⁶
 * entries, the relay's append throughput, and the security officer's audit of 10⁵ entries.
 *
 * The logs are generated here rather than through the relay (10⁶ registrations over HTTP would take
 * hours): an organisation is simulated change by change, and every change is encoded with the SDK's
 * own `encodeEntry` exactly as the relay's KtDraft writes it — the person's chain, the SNAPSHOT
 * that ends every change with the root of the sorted snapshot tree, real Ed25519 keys and
 * signatures. The 10⁵-entry log is valid throughout (the audit replays it with zero findings, which
 * this section checks) and is then loaded into a real relay for the download, the audit and the
 * append throughput. */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadCryptoProvider, loadedCryptoProvider } from '@agora/protocol/crypto/provider';
import { fromB64u, newId, toB64u, type KtUserResponse } from '@agora/client-sdk';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import {
  MerkleLevels, PolicySchema, compareIds, cosign, cosignatureVkey, deviceEnrolmentMessage, deviceSetHash, ed25519Vkey,
  encodeEntry, encodeSnapshotLeaf, entryHash, formatCheckpoint, formatNote, idListHash, inviteApprovalMessage, leafHash,
  membershipCommitment, membershipMessage, memberSetHash, orgKeyGenerationMessage, signNote, verifyCheckpoint, verifyConsistency, verifyInclusion,
  ZERO_HASH, ZERO_SIG, type EnrolVia, type Entry, type KtRole, type Policy,
} from '@agora/protocol/kt';
import { nodeFetch } from '@agora/client-sdk/node';
import { startRelay } from '@agora/server';
import { generateDeviceKeys, sign, signPubFromSeed } from '@agora/protocol/crypto/device-keys';
import { audit } from '@agora/protocol/kt/audit';
import type { ApproverLookup } from '@agora/protocol/kt/chain';
import { verifyUserProof } from '@agora/protocol/kt/verify-user';
import { newWitnessKey, witnessStep, witnessVkey } from '@agora/protocol/kt/witness';
import { readerKtHttp } from '../../client-sdk/dist/transport/kt-http.js';
import { createInvites, pool, registerRawDevice, TempDirs, type RawDevice } from './devices.js';
import { startServer, type ServerHandle } from './server-worker.js';
import { median, num, quantile, type Section, type Table } from './report.js';

export interface KtBenchOptions {
  /** Log sizes for proofs and client verification; the largest is built with placeholder
   * signatures except for the people whose proofs are verified (see `generateLog`). */
  sizes: number[];
  /** Size of the fully valid log that is audited, downloaded and loaded into the relay; must be one of `sizes`. */
  auditSize: number;
  /** Verifications per median (proof checks run `iterations` × 5 times: they are short). */
  iterations: number;
  /** Registrations and secret-group commits sent through the relay. */
  registrations: number;
  commits: number;
  /** Secret groups the commits are spread over (one commit in flight per group). */
  commitGroups: number;
  /** Registrations in flight at once. */
  concurrency: number;
}

export const DEFAULT_KT: KtBenchOptions = {
  sizes: [10_000, 100_000, 1_000_000],
  auditSize: 100_000,
  iterations: 300,
  registrations: 300,
  commits: 400,
  commitGroups: 16,
  concurrency: 8,
};

// ---- the simulated organisation --------------------------------------------------------------

/** How the organisation changes, per person who joins: the mix of logged changes. About one new
 * person per ten log entries; the rest are second devices, lost devices, leavers (each followed by
 * an organisation-key rotation, as the relay asks for) and, most of all, secret-group commits. */
const MIX = {
  entriesPerPerson: 10,
  secondDevice: 0.6,
  revocation: 0.1,
  deactivation: 0.03,
  admins: 0.01,
  /** Share of membership changes that create a group rather than commit to one. */
  newGroup: 0.1,
  /** People per secret group: 3 + ⌊40·r²⌋ for uniform r (median ≈ 13). */
  groupMin: 3,
  groupSpread: 40,
};

/** Entries one change of each kind appends (a leaver's revocations vary; ≈ 1.6 devices). */
const PER_CHANGE = { registration: 3, secondDevice: 2, revocation: 2, deactivation: 3.6, rotation: 2, membership: 2 };
const MEMBERSHIP_PER_PERSON =
  (MIX.entriesPerPerson -
    PER_CHANGE.registration -
    MIX.secondDevice * PER_CHANGE.secondDevice -
    MIX.revocation * PER_CHANGE.revocation -
    MIX.deactivation * (PER_CHANGE.deactivation + PER_CHANGE.rotation)) /
  PER_CHANGE.membership;
const CHANGES_PER_PERSON = 1 + MIX.secondDevice + MIX.revocation + MIX.deactivation + MEMBERSHIP_PER_PERSON;
const P = {
  registration: 1 / CHANGES_PER_PERSON,
  secondDevice: MIX.secondDevice / CHANGES_PER_PERSON,
  revocation: MIX.revocation / CHANGES_PER_PERSON,
  deactivation: MIX.deactivation / CHANGES_PER_PERSON,
};

/** mulberry32: the choices (which change, who makes it) are the same every run; keys and ids are random. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface GenDevice {
  id: string;
  signPub: Uint8Array;
  encPub: Uint8Array;
  /** Ed25519 seed when the device signs for real. */
  seed: Uint8Array | null;
  owner: Person;
  active: boolean;
}

interface Person {
  id: string;
  name: string;
  role: KtRole;
  seq: number;
  head: Uint8Array;
  /** Active devices. */
  devices: GenDevice[];
  deactivated: boolean;
  /** Keys and signatures are real (always, in a valid log). */
  real: boolean;
  /** Creation order; the snapshot-tree position when ids are handed out in sorted order. */
  ordinal: number;
  /** Slot in the list of active people. */
  slot: number;
  /** Log positions of this person's entries. */
  indexes: number[];
  /** The admin device that approved the first device's invite. */
  approvedBy: GenDevice | null;
}

interface Group {
  id: string;
  epoch: number;
  /** Member devices, sorted. */
  members: string[];
  /** People the group grows to before it starts losing members. */
  target: number;
}

/** What a client would be sent about one person at a checkpoint, taken while the log was built. */
export interface Capture {
  size: number;
  root: Uint8Array;
  people: number;
  userId: string;
  entries: { index: number; bytes: Uint8Array }[];
  snapshot: { index: number; bytes: Uint8Array; leaf: Uint8Array; leafIndex: number; leafProof: Uint8Array[] };
  approver: { deviceId: string; userId: string; signPub: Uint8Array };
}

export interface GeneratedLog {
  tree: MerkleLevels;
  /** Every entry and its person (null for group, org-key and snapshot entries), when kept. */
  entries: Uint8Array[];
  owners: (string | null)[];
  captures: Capture[];
  stats: {
    people: number;
    admins: number;
    devicesAdded: number;
    activeDevices: number;
    groups: number;
    deactivated: number;
    generations: number;
    byType: Record<Entry['type'], number>;
    bytes: number;
    seconds: number;
    /** Of `seconds`, inserting newcomers into the sorted snapshot tree (idOrder 'random'). */
    insertSeconds: number;
  };
}

export interface GenerateOptions {
  size: number;
  /** 'valid': every key and signature real. 'placeholder': admins and every 500th person real,
   * everyone else reuses a pool of real keys with placeholder signatures (the bytes decode; a
   * verifier of those people would refuse them), so a 10⁶-entry log builds in seconds. */
  signatures: 'valid' | 'placeholder';
  /** 'random': each person gets a random id as the SDK makes them, so a new person lands anywhere
   * in the sorted snapshot tree and shifts those after them. 'sorted': random ids handed out in
   * ascending order, so the snapshot tree only grows at its end (the same trees, built cheaply). */
  idOrder: 'random' | 'sorted';
  /** Sizes at which to capture a person's proof material (each must be reached exactly). */
  captureAt: number[];
  keepEntries: boolean;
  seed: number;
}

const T0 = Date.UTC(2025, 0, 6, 8, 0, 0);

/** The organisation's log, change by change. Every change ends with a SNAPSHOT whose root is the
 * snapshot tree over all people sorted by id, as KtDraft.seal computes it. */
export async function generateLog(opts: GenerateOptions): Promise<GeneratedLog> {
  const start = performance.now();
  const rand = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const tree = new MerkleLevels();
  const snap = new MerkleLevels();
  let snapRoot: Uint8Array = snap.root();
  let snapDirty = false;
  const entries: Uint8Array[] = [];
  const owners: (string | null)[] = [];
  const kept = new Map<number, Uint8Array>();
  const people: Person[] = [];
  const active: Person[] = [];
  const admins: Person[] = [];
  const devices = new Map<string, GenDevice>();
  /** Active device ids, sorted: the set each org-key generation is sealed to. */
  const activeIds: string[] = [];
  const groups: Group[] = [];
  const sortedIds: string[] = [];
  const byType: Record<Entry['type'], number> = {
    'user-created': 0, 'device-added': 0, 'device-revoked': 0, 'user-deactivated': 0, 'orgkey-generation': 0, 'group-membership': 0, snapshot: 0, 'device-approved': 0, 'web-build': 0, 'role-changed': 0,
  };
  let bytesTotal = 0;
  let insertMs = 0;
  let devicesAdded = 0;
  let deactivated = 0;
  let generation = 0;
  let changes = 0;
  const captures: Capture[] = [];
  const captureAt = [...opts.captureAt].sort((a, b) => a - b);
  let lastSnapshot: Uint8Array | undefined;
  const valid = opts.signatures === 'valid';

  // Ids for 'sorted': random 16-byte ids whose first three bytes count up, written with the
  // base64url characters in code-point order so that the strings sort as they are made.
  const ORDERED = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
  const sortedId = (k: number) => {
    if (k >= 64 ** 4) throw new Error('too many people for ascending ids');
    const head = [3, 2, 1, 0].map((d) => ORDERED[Math.floor(k / 64 ** d) % 64]).join('');
    return `u_${head}${freshId('u').slice(6)}`;
  };
  // Placeholder material: a pool of real key pairs and a fixed 64-byte "signature".
  const keyPool = valid ? [] : await Promise.all(Array.from({ length: 64 }, () => generateDeviceKeys()));
  const placeholderSig = randomBytes(64);

  const time = () => T0 + changes * 47_000;
  const append = (e: Entry, who: Person | null): Uint8Array => {
    const bytes = encodeEntry(e);
    const index = tree.size;
    tree.appendEntry(bytes);
    bytesTotal += bytes.length;
    byType[e.type]++;
    if (opts.keepEntries) {
      entries.push(bytes);
      owners.push(who?.id ?? null);
    } else if (who?.real) {
      kept.set(index, bytes);
    }
    if (who) {
      who.indexes.push(index);
      who.seq++;
      who.head = entryHash(bytes);
    }
    return bytes;
  };
  const chain = (p: Person) => ({ userId: p.id, userSeq: p.seq + 1, prevHash: p.head });
  const position = (id: string): number => {
    let lo = 0;
    let hi = sortedIds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sortedIds[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const leafOf = (p: Person): Uint8Array =>
    encodeSnapshotLeaf({
      userId: p.id, userSeq: p.seq, userHeadHash: p.head,
      deviceSetHash: deviceSetHash(p.devices.map((d) => ({ deviceId: d.id, signPub: d.signPub, encPub: d.encPub }))),
    });
  const leafPosition = (p: Person) => (opts.idOrder === 'sorted' ? p.ordinal : position(p.id));
  /** Puts the person's current leaf into the snapshot tree (inserting a new person). */
  const updateLeaf = (p: Person, isNew: boolean) => {
    const h = leafHash(leafOf(p));
    snapDirty = true;
    if (!isNew) return snap.setLeaf(leafPosition(p), h);
    if (opts.idOrder === 'sorted') return snap.append(h);
    const t = performance.now();
    const at = position(p.id);
    sortedIds.splice(at, 0, p.id);
    snap.insertLeaf(at, h);
    insertMs += performance.now() - t;
  };
  const snapshot = () => {
    if (snapDirty) {
      snapRoot = snap.root().slice();
      snapDirty = false;
    }
    lastSnapshot = append({ type: 'snapshot', time: time(), userCount: people.length, snapshotRoot: snapRoot }, null);
  };
  const insertSorted = (xs: string[], id: string) => {
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    xs.splice(lo, 0, id);
  };
  const removeSorted = (xs: string[], id: string) => {
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    if (xs[lo] === id) xs.splice(lo, 1);
  };
  // The message is only built for a device that really signs (placeholder devices skip the hashing).
  const signWith = async (d: GenDevice, message: () => Uint8Array) => (d.seed ? sign(d.seed, message()) : placeholderSig);
  // newId's format from a pooled random buffer: one getRandomValues per 4,096 ids, not per id.
  let idPool: Uint8Array = new Uint8Array(0);
  let idAt = 0;
  const freshId = (prefix: 'u' | 'd' | 'g') => {
    if (idAt + 16 > idPool.length) {
      idPool = randomBytes(16 * 4096);
      idAt = 0;
    }
    idAt += 16;
    return `${prefix}_${toB64u(idPool.subarray(idAt - 16, idAt))}`;
  };
  const adminDevice = (): GenDevice => pick(pick(admins).devices);

  async function addDevice(p: Person, via: EnrolVia, approver: GenDevice | null): Promise<GenDevice> {
    const deviceId = freshId('d');
    let d: GenDevice;
    let invitePub: Uint8Array;
    let inviteSig: Uint8Array;
    let deviceSig: Uint8Array;
    let approval: Uint8Array = ZERO_SIG;
    if (p.real) {
      const keys = await generateDeviceKeys();
      const inviteSeed = randomBytes(32);
      invitePub = await signPubFromSeed(inviteSeed);
      d = { id: deviceId, signPub: keys.signPub, encPub: keys.encPub, seed: keys.signSeed, owner: p, active: true };
      const enrolment = deviceEnrolmentMessage({ userId: p.id, deviceId, signPub: d.signPub, encPub: d.encPub });
      deviceSig = await sign(keys.signSeed, enrolment);
      inviteSig = await sign(inviteSeed, enrolment);
      if (approver) {
        approval = await signWith(approver, () => via === 'user-invite'
          ? inviteApprovalMessage({ invitePub, kind: 'user', name: p.name, role: p.role })
          : inviteApprovalMessage({ invitePub, kind: 'device', userId: p.id }));
      }
    } else {
      const keys = keyPool[devicesAdded % keyPool.length];
      invitePub = keyPool[(devicesAdded + 1) % keyPool.length].signPub;
      d = { id: deviceId, signPub: keys.signPub, encPub: keys.encPub, seed: null, owner: p, active: true };
      deviceSig = inviteSig = placeholderSig;
      if (approver) approval = placeholderSig;
    }
    append({
      type: 'device-added', time: time(), ...chain(p), deviceId, signPub: d.signPub, encPub: d.encPub, via, invitePub,
      approverDeviceId: approver?.id ?? '', approval, inviteSig, deviceSig,
    }, p);
    p.devices.push(d);
    devices.set(deviceId, d);
    if (valid) insertSorted(activeIds, deviceId);
    devicesAdded++;
    return d;
  }

  async function register(): Promise<void> {
    const first = people.length === 0;
    const ordinal = people.length;
    const role: KtRole = first || rand() < MIX.admins ? 'admin' : 'member';
    const p: Person = {
      id: opts.idOrder === 'sorted' ? sortedId(ordinal) : freshId('u'),
      name: `Employee ${String(ordinal + 1).padStart(6, '0')}`,
      role, seq: 0, head: ZERO_HASH, devices: [], deactivated: false,
      real: valid || role === 'admin' || ordinal % 500 === 7,
      ordinal, slot: active.length, indexes: [], approvedBy: null,
    };
    const approver = first ? null : adminDevice();
    p.approvedBy = approver;
    append({ type: 'user-created', time: time(), ...chain(p), name: p.name, role, approvedByDevice: approver?.id ?? '' }, p);
    await addDevice(p, first ? 'bootstrap' : 'user-invite', approver);
    people.push(p);
    active.push(p);
    if (role === 'admin') admins.push(p);
    updateLeaf(p, true);
    snapshot();
  }

  async function secondDevice(): Promise<boolean> {
    for (let i = 0; i < 10; i++) {
      const p = pick(active);
      if (p.devices.length !== 1) continue;
      // approved on the person's own first device
      await addDevice(p, 'device-invite', p.devices[0]);
      updateLeaf(p, false);
      snapshot();
      return true;
    }
    return false;
  }

  const revokeDevice = (p: Person, d: GenDevice, by: Person) => {
    append({ type: 'device-revoked', time: time(), ...chain(p), deviceId: d.id, byUserId: by.id }, p);
    p.devices.splice(p.devices.indexOf(d), 1);
    d.active = false;
    if (valid) removeSorted(activeIds, d.id);
  };

  function revocation(): boolean {
    for (let i = 0; i < 10; i++) {
      const p = pick(active);
      if (p.devices.length < 2) continue;
      // the oldest device is the one lost or replaced
      revokeDevice(p, p.devices[0], p);
      updateLeaf(p, false);
      snapshot();
      return true;
    }
    return false;
  }

  function deactivation(remaining: number): boolean {
    for (let i = 0; i < 10; i++) {
      const p = pick(active);
      if (p.role === 'admin' || p.devices.length + 2 > remaining || remaining - (p.devices.length + 2) === 1) continue;
      const by = pick(admins);
      for (const d of [...p.devices]) revokeDevice(p, d, by);
      append({ type: 'user-deactivated', time: time(), ...chain(p), byUserId: by.id }, p);
      p.deactivated = true;
      const last = active.pop()!;
      if (last !== p) {
        active[p.slot] = last;
        last.slot = p.slot;
      }
      deactivated++;
      updateLeaf(p, false);
      snapshot();
      return true;
    }
    return false;
  }

  async function rotation(): Promise<void> {
    const creator = adminDevice();
    generation++;
    const setHash = valid ? idListHash(activeIds) : placeholderSig.subarray(0, 32);
    const signature = valid ? await signWith(creator, () => orgKeyGenerationMessage(generation, setHash)) : placeholderSig;
    append({ type: 'orgkey-generation', time: time(), generation, creatorDeviceId: creator.id, deviceSetHash: setHash, signature }, null);
    snapshot();
  }

  async function membership(): Promise<void> {
    const commitTo = async (g: Group, committer: GenDevice, members: string[]) => {
      const sorted = [...members].sort(compareIds);
      const signature = await signWith(committer, () => membershipMessage(g.id, g.epoch, memberSetHash(sorted)));
      append({ type: 'group-membership', time: time(), groupId: g.id, epoch: g.epoch, members: sorted, committerDeviceId: committer.id, signature }, null);
      g.members = sorted;
      snapshot();
    };
    const g = groups.length > 0 && rand() >= MIX.newGroup ? pick(groups) : undefined;
    const committers = g?.members.filter((id) => devices.get(id)!.active) ?? [];
    if (!g || committers.length === 0) {
      const creator = pick(pick(active).devices);
      const fresh: Group = { id: freshId('g'), epoch: 0, members: [], target: MIX.groupMin + Math.floor(MIX.groupSpread * rand() ** 2) };
      groups.push(fresh);
      return commitTo(fresh, creator, [creator.id]);
    }
    const committer = devices.get(pick(committers))!;
    g.epoch++;
    const isActive = (id: string) => devices.get(id)!.active;
    // a revoked or departed member's devices go first, as the members' clients remove them
    const stale = g.members.filter((id) => !isActive(id));
    if (stale.length > 0) return commitTo(g, committer, g.members.filter(isActive));
    const inGroup = new Set(g.members.map((id) => devices.get(id)!.owner));
    if (inGroup.size < g.target) {
      for (let i = 0; i < 10; i++) {
        const p = pick(active);
        if (inGroup.has(p)) continue;
        return commitTo(g, committer, [...g.members, ...p.devices.map((d) => d.id)]);
      }
    } else {
      const leaving = pick([...inGroup].filter((p) => p !== committer.owner));
      if (leaving) return commitTo(g, committer, g.members.filter((id) => devices.get(id)!.owner !== leaving));
    }
    // an update commit: new keys, same members
    return commitTo(g, committer, g.members);
  }

  function capture(): void {
    const size = tree.size;
    const candidates = people.filter((p) => p.real && !p.deactivated && p.indexes.length === 3 && p.devices.length === 2 && p.approvedBy?.seed);
    if (candidates.length === 0) throw new Error(`no person with two devices to verify at size ${size}`);
    const p = pick(candidates);
    const bytesAt = (i: number) => (opts.keepEntries ? entries[i] : kept.get(i)!);
    const leafIndex = leafPosition(p);
    const approver = p.approvedBy!;
    captures.push({
      size,
      // copies: the trees hand out views of their buffers, which later changes overwrite
      root: tree.root().slice(),
      people: people.length,
      userId: p.id,
      entries: p.indexes.map((index) => ({ index, bytes: bytesAt(index) })),
      snapshot: { index: size - 1, bytes: lastSnapshot!, leaf: leafOf(p), leafIndex, leafProof: snap.inclusionProof(leafIndex).map((h) => h.slice()) },
      approver: { deviceId: approver.id, userId: approver.owner.id, signPub: approver.signPub },
    });
  }

  let pendingRotation = false;
  let nextCapture = 0;
  while (tree.size < opts.size) {
    // every capture size is landed on exactly, so that its last entry is a snapshot
    const remaining = (nextCapture < captureAt.length ? captureAt[nextCapture] : opts.size) - tree.size;
    changes++;
    const r = rand();
    if (people.length === 0) {
      await register();
      pendingRotation = true; // the first administrator's device creates generation 1
    } else if (remaining <= 6) {
      // land exactly on the size: 2- and 3-entry changes only
      if (remaining % 2 === 1) await register();
      else await membership();
    } else if (pendingRotation) {
      await rotation();
      pendingRotation = false;
    } else if (people.length < 5 || r < P.registration) {
      await register();
    } else if (r < P.registration + P.secondDevice) {
      if (!(await secondDevice())) await membership();
    } else if (r < P.registration + P.secondDevice + P.revocation) {
      if (!revocation()) await membership();
    } else if (r < P.registration + P.secondDevice + P.revocation + P.deactivation) {
      if (deactivation(remaining)) pendingRotation = true;
      else await membership();
    } else {
      await membership();
    }
    if (nextCapture < captureAt.length && tree.size >= captureAt[nextCapture]) {
      if (tree.size !== captureAt[nextCapture]) throw new Error(`the generator passed size ${captureAt[nextCapture]}`);
      capture();
      nextCapture++;
    }
  }
  if (nextCapture < captureAt.length) throw new Error(`the log ended before size ${captureAt[nextCapture]}`);
  if (!lastSnapshot || !sameLeaf(tree, tree.size - 1, lastSnapshot)) throw new Error('the log does not end with its last snapshot');
  return {
    tree,
    entries,
    owners,
    captures,
    stats: {
      people: people.length,
      admins: admins.length,
      devicesAdded,
      activeDevices: people.reduce((n, p) => n + (p.deactivated ? 0 : p.devices.length), 0),
      groups: groups.length,
      deactivated,
      generations: generation,
      byType,
      bytes: bytesTotal,
      seconds: (performance.now() - start) / 1000,
      insertSeconds: insertMs / 1000,
    },
  };
}

type WorkerLog = { leaves: Uint8Array; captures: Capture[]; stats: GeneratedLog['stats'] };

/** Builds a log in a worker thread, on the other core, while the main thread builds another; the
 * worker hands back the leaf hashes and the main thread rebuilds the tree from them. */
async function generateInWorker(opts: GenerateOptions): Promise<WorkerLog> {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { ktGenerate: opts } });
  try {
    const [m] = (await once(worker, 'message')) as [WorkerLog | { error: string }];
    if ('error' in m) throw new Error(`log generator: ${m.error}`);
    return m;
  } finally {
    await worker.terminate();
  }
}

async function generatorWorker(opts: GenerateOptions): Promise<void> {
  try {
    await loadCryptoProvider();
    const log = await generateLog(opts);
    const leaves = new Uint8Array(log.tree.size * 32);
    for (let i = 0; i < log.tree.size; i++) leaves.set(log.tree.leaf(i), i * 32);
    const reply: WorkerLog = { leaves, captures: log.captures, stats: log.stats };
    parentPort!.postMessage(reply, [leaves.buffer]);
  } catch (e) {
    parentPort!.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

function* leafHashes(leaves: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < leaves.length; i += 32) yield leaves.subarray(i, i + 32);
}

function sameLeaf(tree: MerkleLevels, index: number, entry: Uint8Array): boolean {
  const a = tree.leaf(index);
  const b = leafHash(entry);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---- client-side measurements ------------------------------------------------------------------

/** Microseconds per call, one sample per call. */
function timeSync<T>(items: readonly T[], f: (x: T) => void): number[] {
  const out: number[] = [];
  for (const x of items) {
    const t = performance.now();
    f(x);
    out.push((performance.now() - t) * 1000);
  }
  return out;
}

async function timeAsync(n: number, f: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    out.push((performance.now() - t) * 1000);
  }
  return out;
}

interface ClientResult {
  size: number;
  people: number;
  inclusion: { hashes: number[]; us: number };
  consistency: { hashes: number[]; us: number };
  checkpoint: { noteBytes: number; witnesses: number; us: number };
  person: { hashes: number; jsonBytes: number; us: number; devices: number };
}

/** A signed checkpoint note as the relay serves it: the log's signature and two witnesses'
 * cosignatures, with the policy a client would load. */
function signedCheckpoint(size: number, root: Uint8Array, nowMs: number): { note: string; policy: Policy } {
  const origin = 'agora/o_kt-bench';
  const logSeed = randomBytes(32);
  const logPub = loadedCryptoProvider().ed25519PublicKey(logSeed);
  const body = formatCheckpoint({ origin, size, root, extensions: [] });
  const witnesses = ['witness-security-office', 'witness-it'].map((name) => ({ name, seed: randomBytes(32) }));
  const note = formatNote({
    text: body,
    signatures: [signNote(body, origin, logSeed), ...witnesses.map((w) => cosign(body, w.name, w.seed, Math.floor(nowMs / 1000) - 60))],
  });
  const policy = PolicySchema.parse({
    log: { origin, vkey: ed25519Vkey(origin, logPub) },
    witnesses: witnesses.map((w) => ({ name: w.name, vkey: cosignatureVkey(w.name, loadedCryptoProvider().ed25519PublicKey(w.seed)) })),
    quorum: 2,
    maxCheckpointAgeSeconds: 3600,
  });
  return { note, policy };
}

async function measureClient(log: GeneratedLog, c: Capture, iterations: number): Promise<ClientResult> {
  const { tree } = log;
  const n = c.size;
  const root = tree.root(n);
  if (!bytesEq(root, c.root)) throw new Error('the tree root changed under a capture');
  const rand = prng(n);
  const samples = iterations * 5;

  const incl = Array.from({ length: samples }, () => {
    const index = Math.floor(rand() * n);
    return { index, leaf: tree.leaf(index), proof: tree.inclusionProof(index, n) };
  });
  const inclUs = timeSync(incl, (x) => verifyInclusion(x.leaf, x.index, n, x.proof, root));

  const cons = Array.from({ length: samples }, () => {
    const m = 1 + Math.floor(rand() * (n - 1));
    return { m, rootM: tree.root(m), proof: tree.consistencyProof(m, n) };
  });
  const consUs = timeSync(cons, (x) => verifyConsistency(x.m, n, x.rootM, root, x.proof));

  const now = Date.now();
  const { note, policy } = signedCheckpoint(n, root, now);
  const cpUs = timeSync(Array.from({ length: iterations }), () => {
    verifyCheckpoint(policy, note, now);
  });

  // The relay's answer for one person, as JSON on the wire (GET /v1/kt/users/:id).
  const response: KtUserResponse = {
    size: n,
    entries: c.entries.map((e) => ({ index: e.index, entry: toB64u(e.bytes), proof: tree.inclusionProof(e.index, n).map(toB64u) })),
    snapshot: {
      index: c.snapshot.index,
      entry: toB64u(c.snapshot.bytes),
      proof: tree.inclusionProof(c.snapshot.index, n).map(toB64u),
      leaf: toB64u(c.snapshot.leaf),
      leafIndex: c.snapshot.leafIndex,
      leafProof: c.snapshot.leafProof.map(toB64u),
    },
  };
  // The approving administrator was verified the same way before (KtTrust caches people per checkpoint).
  const approver: ApproverLookup = async (deviceId) =>
    deviceId === c.approver.deviceId ? { userId: c.approver.userId, role: 'admin', signPub: c.approver.signPub, active: true } : undefined;
  const check = await verifyUserProof({ userId: c.userId, response, checkpoint: { size: n, root }, approver });
  const devices = check.devices.filter((d) => d.revokedIndex === null).length;
  if (devices !== 2) throw new Error(`the verified person has ${devices} active devices, not 2`);
  const personUs = await timeAsync(iterations, () => verifyUserProof({ userId: c.userId, response, checkpoint: { size: n, root }, approver }));

  const hashes = response.entries.reduce((s, e) => s + e.proof.length, 0) + response.snapshot.proof.length + response.snapshot.leafProof.length;
  return {
    size: n,
    people: c.people,
    inclusion: { hashes: incl.map((x) => x.proof.length), us: median(inclUs) },
    consistency: { hashes: cons.map((x) => x.proof.length), us: median(consUs) },
    checkpoint: { noteBytes: note.length, witnesses: 2, us: median(cpUs) },
    person: { hashes, jsonBytes: JSON.stringify(response).length, us: median(personUs), devices },
  };
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---- the relay: append throughput, download, audit ---------------------------------------------

/** Opaque MLS messages of about a real one's size: the relay stores and routes them unparsed. */
const COMMIT_BYTES = 1_200;
const WELCOME_BYTES = 1_500;

interface AppendResult {
  registrations: { count: number; seconds: number };
  commits: { count: number; seconds: number; groups: number; adds: number; removes: number };
  peopleBefore: number;
  logBefore: number;
}

/** Registrations (USER_CREATED + DEVICE_ADDED + SNAPSHOT each) and secret-group commits
 * (GROUP_MEMBERSHIP + SNAPSHOT each) through the relay at `url`, whose log already holds
 * `peopleBefore` people. */
async function appendThroughput(url: string, adminInvite: string, opts: KtBenchOptions, before: { people: number; size: number }): Promise<AppendResult> {
  // The audit before this kept the event loop busy for longer than the relay's keep-alive timeout:
  // let fetch see the idle connections the relay closed meanwhile before it reuses one.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const admin = await registerRawDevice(url, adminInvite);
  const invites = await createInvites(admin, 'KT bench', opts.registrations);
  let t = performance.now();
  const registered = await pool(invites, opts.concurrency, (code) => registerRawDevice(url, code));
  const regSeconds = (performance.now() - t) / 1000;

  // Secret groups created by the administrator's device (epoch 0: that device alone), then commits
  // on all of them at once, one in flight per group, each adding a device or (every fourth)
  // removing the earliest one added.
  const groups = await Promise.all(Array.from({ length: opts.commitGroups }, async () => {
    const id = newId('g');
    const members = [admin.deviceId];
    // a secret group's name never goes to the relay
    await admin.http.createGroup({ id, kind: 'secret', membership: await signedMembership(admin, id, 0, members) });
    return { id, epoch: 0, members };
  }));
  let adds = 0;
  let removes = 0;
  const perGroup = Math.ceil(opts.commits / opts.commitGroups);
  t = performance.now();
  let done = 0;
  await Promise.all(groups.map(async (g, gi) => {
    let next = gi;
    const added: string[] = [];
    for (let k = 0; k < perGroup && done < opts.commits; k++) {
      done++;
      const remove = k % 4 === 3 && added.length > 0;
      let addedNow: string[] = [];
      let removedNow: string[] = [];
      if (remove) removedNow = [added.shift()!];
      else {
        addedNow = [registered[next % registered.length].deviceId];
        next += opts.commitGroups;
        added.push(...addedNow);
      }
      const members = g.members.filter((d) => !removedNow.includes(d)).concat(addedNow);
      const r = await admin.http.commit(g.id, {
        epoch: g.epoch,
        commit: toB64u(randomBytes(COMMIT_BYTES)),
        ...(addedNow.length ? { welcome: toB64u(randomBytes(WELCOME_BYTES)) } : {}),
        added: addedNow,
        removed: removedNow,
        membership: await signedMembership(admin, g.id, g.epoch + 1, members),
      });
      g.epoch = r.epoch;
      g.members = members;
      if (remove) removes++;
      else adds++;
    }
  }));
  const commitSeconds = (performance.now() - t) / 1000;
  return {
    registrations: { count: registered.length, seconds: regSeconds },
    commits: { count: adds + removes, seconds: commitSeconds, groups: groups.length, adds, removes },
    peopleBefore: before.people,
    logBefore: before.size,
  };
}

/** The log carries only a commitment to the members (the bench runs no MLS, so the salt is random). */
async function signedMembership(device: RawDevice, groupId: string, epoch: number, members: string[]) {
  const commitment = membershipCommitment(randomBytes(32), [...new Set(members)]);
  return { commitment: toB64u(commitment), sealedForAuditors: [], signature: toB64u(await sign(device.signSeed, membershipMessage(groupId, epoch, commitment))) };
}

interface AuditResult {
  startSeconds: number;
  downloadSeconds: number;
  downloadBytes: number;
  auditSeconds: number;
  people: number;
  groups: number;
  violations: number;
}

/** Loads `log` into a fresh relay's store (as if the relay had written it), starts the relay in its
 * worker thread, has a witness cosign its checkpoint, downloads the log as `agora audit` does and
 * audits it. Returns the relay, still running, for the append measurement. */
async function auditThroughRelay(log: GeneratedLog, dirs: TempDirs): Promise<{ result: AuditResult; server: ServerHandle; adminInvite: string }> {
  const dataDir = await dirs.make('kt-relay');
  const boot = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true, rateLimit: false, log: () => undefined });
  const adminInvite = boot.adminInvite;
  const key = newWitnessKey('bench-witness');
  const auditorSeed = randomBytes(32);
  let policy: Policy;
  try {
    if (!adminInvite) throw new Error('the relay did not create an organisation');
    // The log is read only by devices and by the witnesses and auditors of the published policy:
    // publish one (as `agora policy publish` would) naming the bench's witness and auditor.
    const origin = `agora/${(await boot.store.getOrg())!.id}`;
    const logSeed = Buffer.from((await boot.store.getMeta('kt-log-key'))!, 'base64url');
    policy = PolicySchema.parse({
      log: { origin, vkey: ed25519Vkey(origin, loadedCryptoProvider().ed25519PublicKey(logSeed)) },
      witnesses: [{ name: 'security officer', vkey: witnessVkey(key) }],
      auditors: [{ name: 'security officer', signPub: toB64u(loadedCryptoProvider().ed25519PublicKey(auditorSeed)), encPub: toB64u(loadedCryptoProvider().x25519Base(randomBytes(32))) }],
      quorum: 1,
      maxCheckpointAgeSeconds: 3600,
    });
    await boot.store.setMeta('kt-policy', JSON.stringify(policy));
    for (let i = 0; i < log.entries.length; i += 5_000) {
      const slice = log.entries.slice(i, i + 5_000).map((entry, k) => ({ entry, userId: log.owners[i + k] }));
      await boot.store.appendKt({ expectedSize: i, entries: slice });
    }
  } finally {
    await boot.close();
  }
  let t = performance.now();
  const server = await startServer({ kind: 'relay', dataDir });
  const startSeconds = (performance.now() - t) / 1000;
  try {
    const kt = readerKtHttp(server.url, nodeFetch, 'auditor', auditorSeed);
    const witness = readerKtHttp(server.url, nodeFetch, 'witness', fromB64u(key.seed));
    const info = await kt.policy();
    const first = (await witness.checkpoint()).checkpoint;
    const step = witnessStep({ key, previous: null, logVkey: info.vkey, noteText: first, consistencyProof: [], nowMs: Date.now() });
    await witness.cosign({ checkpoint: first, cosignature: step.cosignature, vkey: witnessVkey(key) });

    // What `agora audit` does: the checkpoint, every entry page by page, then audit().
    t = performance.now();
    const { checkpoint } = await kt.witnessedCheckpoint(policy);
    const entries = await kt.allEntries(log.entries.length);
    const downloadSeconds = (performance.now() - t) / 1000;
    if (entries.length !== log.entries.length || !bytesEq(entries[entries.length - 1], log.entries[log.entries.length - 1])) {
      throw new Error('the relay served other entries than were stored');
    }
    t = performance.now();
    const report = await audit({ policy, checkpointNote: checkpoint, entries, since: null, now: Date.now() });
    const auditSeconds = (performance.now() - t) / 1000;
    if (report.violations.length > 0) {
      throw new Error(`the audit of the generated log found ${report.violations.length} violations, e.g. ${report.violations[0].code}: ${report.violations[0].message}`);
    }
    if (report.people.length !== log.stats.people || report.checkpoint.witnesses.length !== 1) throw new Error('the audit saw another log than was generated');
    return {
      server,
      adminInvite,
      result: {
        startSeconds,
        downloadSeconds,
        downloadBytes: entries.reduce((s, e) => s + e.length, 0),
        auditSeconds,
        people: report.people.length,
        groups: report.groups.length,
        violations: report.violations.length,
      },
    };
  } catch (e) {
    await server.close();
    throw e;
  }
}

// ---- the section ---------------------------------------------------------------------------------

const sizeLabel = (n: number) => {
  const e = Math.round(Math.log10(n));
  return 10 ** e === n && e < 10 ? `10${'⁰¹²³⁴⁵⁶⁷⁸⁹'[e]}` : n.toLocaleString('en-US');
};
const us = (x: number) => `${num(x)} µs`;
const ms = (x: number) => `${num(x / 1000)} ms`;
const kb = (bytes: number) => `${num(bytes / 1024)} KiB`;
const range = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[0] === s[s.length - 1] ? `${s[0]}` : `${quantile(s, 0.5)} (${s[0]}–${s[s.length - 1]})`;
};

export async function ktSection(opts: KtBenchOptions = DEFAULT_KT): Promise<Section> {
  const dirs = new TempDirs();
  const largest = Math.max(...opts.sizes);
  const smaller = opts.sizes.filter((s) => s <= opts.auditSize);
  if (!opts.sizes.includes(opts.auditSize)) throw new Error('auditSize must be one of sizes');

  // 1. The logs: one fully valid log of auditSize entries (its prefixes give the smaller sizes),
  //    and, if larger sizes are asked for, one with placeholder signatures.
  const bigJob = largest > opts.auditSize
    ? generateInWorker({ size: largest, signatures: 'placeholder', idOrder: 'sorted', captureAt: opts.sizes.filter((s) => s > opts.auditSize), keepEntries: false, seed: 2 })
    : undefined;
  bigJob?.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
  const valid = await generateLog({ size: opts.auditSize, signatures: 'valid', idOrder: 'random', captureAt: smaller, keepEntries: true, seed: 1 });
  const bigOut = await bigJob;
  // The largest tree rebuilt from its leaf hashes alone (the Merkle part of a relay's start).
  const t = performance.now();
  const rebuilt = MerkleLevels.fromLeafHashes(leafHashes(bigOut?.leaves ?? leavesOf(valid.tree)));
  const rebuildSeconds = (performance.now() - t) / 1000;
  if (!bytesEq(rebuilt.root(), bigOut ? bigOut.captures[bigOut.captures.length - 1].root : valid.tree.root())) {
    throw new Error('the rebuilt tree has another root');
  }
  const big: GeneratedLog | undefined = bigOut && { tree: rebuilt, entries: [], owners: [], captures: bigOut.captures, stats: bigOut.stats };

  const client: ClientResult[] = [];
  for (const c of valid.captures) client.push(await measureClient(valid, c, opts.iterations));
  for (const c of big?.captures ?? []) client.push(await measureClient(big!, c, opts.iterations));

  // 2 and 3. The valid log in a real relay: its start, the download and the audit, then appends.
  let auditResult: AuditResult;
  let append: AppendResult;
  let appendNew: AppendResult;
  try {
    const { result, server, adminInvite } = await auditThroughRelay(valid, dirs);
    try {
      auditResult = result;
      append = await appendThroughput(server.url, adminInvite, opts, { people: valid.stats.people, size: opts.auditSize });
    } finally {
      await server.close();
    }
    // The same appends in a new organisation, for comparison: the relay's cost per newcomer grows
    // with the number of people in the snapshot tree.
    const fresh = await startServer({ kind: 'relay', dataDir: await dirs.make('kt-relay-new') });
    try {
      appendNew = await appendThroughput(fresh.url, fresh.adminInvite!, opts, { people: 0, size: 0 });
    } finally {
      await fresh.close();
    }
  } finally {
    await dirs.cleanup();
  }

  const a = valid.stats;
  const cols = client.map((r) => sizeLabel(r.size));
  const row = (label: string, f: (r: ClientResult) => string) => [label, ...client.map(f)];
  const per = (count: number, seconds: number) => num(count / seconds);
  const logs = [{ name: `${sizeLabel(opts.auditSize)}, valid`, log: valid }, ...(big ? [{ name: `${sizeLabel(largest)}, placeholder signatures`, log: big }] : [])];

  const tables: Table[] = [
    {
      caption: 'Proof sizes (hashes are 32 bytes; on the wire they are base64url in JSON, 4/3 of that)',
      headers: ['log size', ...cols],
      rows: [
        row('people in the log (snapshot tree leaves)', (r) => r.people.toLocaleString('en-US')),
        row('inclusion proof, hashes: median (min–max)', (r) => range(r.inclusion.hashes)),
        row('inclusion proof, bytes (median)', (r) => `${quantile([...r.inclusion.hashes].sort((x, y) => x - y), 0.5) * 32} B`),
        row('consistency proof from a random earlier size, hashes', (r) => range(r.consistency.hashes)),
        row('consistency proof, bytes (median)', (r) => `${quantile([...r.consistency.hashes].sort((x, y) => x - y), 0.5) * 32} B`),
        row('one person with 2 devices: hashes in the answer', (r) => String(r.person.hashes)),
        row('… the whole answer as JSON (3 entries, snapshot, proofs)', (r) => kb(r.person.jsonBytes)),
        row('signed checkpoint note with 2 cosignatures', (r) => `${r.checkpoint.noteBytes} B`),
      ],
    },
    {
      caption: `Client verification time, median of ${opts.iterations * 5} (proofs) or ${opts.iterations} (checkpoint, person) runs on one core`,
      headers: ['log size', ...cols],
      rows: [
        row('verifyInclusion (one entry)', (r) => us(r.inclusion.us)),
        row('verifyConsistency (old checkpoint → new)', (r) => us(r.consistency.us)),
        row('verifyCheckpoint (log signature + 2 witness cosignatures, quorum 2)', (r) => ms(r.checkpoint.us)),
        row('verifyUserProof (person with 2 devices: 4 inclusion proofs, snapshot leaf proof, chain replay, 6 signatures)', (r) => ms(r.person.us)),
        row('**a client trusting one new person: checkpoint + consistency + person (sum of the above)**', (r) => ms(r.checkpoint.us + r.consistency.us + r.person.us)),
      ],
    },
    {
      caption: 'Relay append throughput (relay in its own worker thread, SQLite on disk, rate limit off)',
      headers: ['organisation', 'logged change', 'changes', 'wall time', 'changes/s', 'entries/s'],
      rows: [
        ...[
          { org: `${append.peopleBefore.toLocaleString('en-US')} people, ${append.logBefore.toLocaleString('en-US')} entries`, r: append },
          { org: 'new (1 → ' + (appendNew.registrations.count + 1) + ' people)', r: appendNew },
        ].flatMap(({ org, r }) => [
          [org, `registration (USER_CREATED + DEVICE_ADDED + SNAPSHOT), ${opts.concurrency} in flight`, String(r.registrations.count), `${num(r.registrations.seconds)} s`,
            per(r.registrations.count, r.registrations.seconds), per(3 * r.registrations.count, r.registrations.seconds)],
          [org, `secret-group commit (GROUP_MEMBERSHIP + SNAPSHOT), ${r.commits.groups} groups in parallel`, String(r.commits.count), `${num(r.commits.seconds)} s`,
            per(r.commits.count, r.commits.seconds), per(2 * r.commits.count, r.commits.seconds)],
        ]),
      ],
    },
    {
      caption: `The security officer's audit of ${opts.auditSize.toLocaleString('en-US')} entries`,
      headers: ['step', 'time', 'entries/s'],
      rows: [
        [`relay start with ${opts.auditSize.toLocaleString('en-US')} entries stored (rebuilds its tree and key state)`, `${num(auditResult.startSeconds)} s`, per(opts.auditSize, auditResult.startSeconds)],
        [`download: checkpoint + ${Math.ceil(opts.auditSize / 1000)} pages of GET /v1/kt/entries (${num(auditResult.downloadBytes / 2 ** 20)} MiB of entries)`, `${num(auditResult.downloadSeconds)} s`, per(opts.auditSize, auditResult.downloadSeconds)],
        ['**audit(): replay every chain, verify every signature, recompute every snapshot**', `${num(auditResult.auditSeconds)} s`, per(opts.auditSize, auditResult.auditSeconds)],
      ],
    },
    {
      caption: 'The generated logs (setup, not measured above; the two are built at the same time, one per core)',
      headers: ['log', 'people', 'devices added', 'secret groups', 'membership entries', 'snapshots', 'MiB', 'built in', 'of which snapshot-tree insertions'],
      rows: logs.map(({ name, log }) => [
        name, log.stats.people.toLocaleString('en-US'), log.stats.devicesAdded.toLocaleString('en-US'), log.stats.groups.toLocaleString('en-US'),
        log.stats.byType['group-membership'].toLocaleString('en-US'), log.stats.byType.snapshot.toLocaleString('en-US'),
        num(log.stats.bytes / 2 ** 20), `${num(log.stats.seconds)} s`, log === valid ? `${num(log.stats.insertSeconds)} s` : '— (appended)',
      ]),
    },
  ];

  const last = client[client.length - 1];
  return {
    title: '(d) Key transparency: proofs, client verification, relay appends and the audit',
    findings: [
      `At ${sizeLabel(last.size)} entries (${last.people.toLocaleString('en-US')} people) an inclusion proof is ${quantile([...last.inclusion.hashes].sort((x, y) => x - y), 0.5)} hashes and verifies in ${us(last.inclusion.us)}; everything a client checks before trusting one new person with 2 devices — the signed checkpoint with 2 witness cosignatures, consistency with its previous checkpoint and the person's entries, snapshot leaf and signatures (${kb(last.person.jsonBytes)} of JSON) — takes ${ms(last.checkpoint.us + last.consistency.us + last.person.us)} of CPU.`,
      `With ${append.peopleBefore.toLocaleString('en-US')} people and ${append.logBefore.toLocaleString('en-US')} entries already in its log, the relay appended ${per(append.registrations.count, append.registrations.seconds)} registrations/s and ${per(append.commits.count, append.commits.seconds)} secret-group commits/s (${per(3 * append.registrations.count, append.registrations.seconds)} and ${per(2 * append.commits.count, append.commits.seconds)} log entries/s); in a new organisation ${per(appendNew.registrations.count, appendNew.registrations.seconds)} and ${per(appendNew.commits.count, appendNew.commits.seconds)}/s. A registration cost ≈ ${num(1000 / (append.registrations.count / append.registrations.seconds) - 1000 / (appendNew.registrations.count / appendNew.registrations.seconds))} ms more with ${append.peopleBefore.toLocaleString('en-US')} people than in the new organisation: the relay writes one change at a time, and a newcomer's snapshot leaf is inserted at its place in id order, which re-hashes every snapshot-tree node to its right — about as many nodes as people, twice (drafting the change on a copy of the tree, then applying it), so this grows in proportion to the number of people. Commits do not add people and stay fast.`,
      `Auditing ${opts.auditSize.toLocaleString('en-US')} entries (${a.people.toLocaleString('en-US')} people, ${a.devicesAdded.toLocaleString('en-US')} devices, ${auditResult.groups.toLocaleString('en-US')} secret groups) took ${num(auditResult.auditSeconds)} s after a ${num(auditResult.downloadSeconds)} s download from the relay; the audit found no violation, as it must on this log. Inserting the same people in the same order into the sorted snapshot tree took the log generator ${num(a.insertSeconds)} s, work the audit repeats: that part grows with the square of the number of people (about half the tree is re-hashed per newcomer), so a log of 10⁶ entries and 10⁵ people would spend about 100 times as long on it.`,
    ],
    how: [
      `**The logs.** Generated change by change for a simulated organisation, each entry encoded by the SDK's \`encodeEntry\` as the relay's \`KtDraft\` writes it: per-person sequence numbers and hash chains, and a SNAPSHOT ending every change whose root is the RFC 6962 tree over every person's leaf sorted by id (maintained with \`MerkleLevels\`, a new person inserted at their place). Per person who joins there are on average ${MIX.entriesPerPerson} entries: the registration (USER_CREATED + DEVICE_ADDED approved by an administrator's device + SNAPSHOT), a second device for ${MIX.secondDevice * 100}% (approved on their first device), a lost device revoked for ${MIX.revocation * 100}%, leaving for ${MIX.deactivation * 100}% (every device revoked, USER_DEACTIVATED, then an organisation-key generation signed by an administrator's device over the hash of the remaining devices), and ≈ ${num(MEMBERSHIP_PER_PERSON)} secret-group commits (GROUP_MEMBERSHIP signed by a member device over the member list; ${MIX.newGroup * 100}% create a group, the others add a person's devices until the group reaches its size of ${MIX.groupMin} + ⌊${MIX.groupSpread}·r²⌋ people, remove someone, or drop devices revoked since). ${(MIX.admins * 100).toFixed(0)}% of people are administrators. The choices come from a seeded generator, so every run builds the same organisation with fresh keys.`,
      `The ${sizeLabel(opts.auditSize)}-entry log is valid throughout: every device has its own libsodium Ed25519 key pair and invite key, and every enrolment, approval, membership and generation signature is real; people get random ids in \`newId\`'s format, as the SDK gives them. Its prefixes at ${smaller.map((s) => s.toLocaleString('en-US')).join(' and ')} entries are the smaller logs (a prefix ends with a snapshot, as every checkpoint does). ${big ? `The ${sizeLabel(largest)}-entry log is built the same way with two shortcuts that change none of the measured quantities: random ids are handed out in ascending order, so a new person is appended to the snapshot tree instead of inserted (the same trees, without rebuilding up to ${sizeLabel(largest / 10)} nodes per person), and only administrators and every 500th person get their own keys and real signatures; everyone else reuses a pool of 64 real key pairs with one placeholder signature (the entries decode; a verifier of those people would refuse them). The person whose proof is verified is always one with real signatures. ` : ''}Building the ${sizeLabel(largest)}-entry tree from its leaf hashes alone with \`MerkleLevels\` took ${num(rebuildSeconds)} s.`,
      `**Proofs and client verification.** At each size the tree gives ${(opts.iterations * 5).toLocaleString('en-US')} inclusion proofs for random entries and as many consistency proofs from a random earlier size to the current one, each verified once with the SDK's \`verifyInclusion\` / \`verifyConsistency\` (timed one call at a time; medians). \`verifyCheckpoint\` checks a C2SP signed note with the log's Ed25519 signature and two tlog-cosignature/v1 witness lines against a policy with quorum 2 (parsing, 3 Ed25519 verifications, freshness). \`verifyUserProof\` gets what \`GET /v1/kt/users/:id\` returns for a person with 2 devices — their 3 entries and the last snapshot with inclusion proofs at the checkpoint, and their snapshot leaf with its proof in a snapshot tree of every person in the log — and decodes it, checks the 4 inclusion proofs (3 entries and the snapshot) and the leaf proof, replays the chain (2 × device, invite and approval signatures, libsodium) and compares the leaf; the administrator who approved the first device counts as already verified, as KtTrust caches people per checkpoint. The client's network round trips are not included.`,
      `**The relay.** The valid ${sizeLabel(opts.auditSize)}-entry log is written into a new relay's SQLite store (as the relay would have written it; the organisation's other tables stay small) and the relay is started in its worker thread (\`startRelay\`, rate limit off), which rebuilds its tree and key state from the stored entries. A witness (\`witnessStep\`) cosigns the checkpoint through \`POST /v1/kt/cosignatures\`. The audit then runs as \`agora audit\` does: the cosigned checkpoint, all entries in pages of 1,000 through \`KtHttp.allEntries\`, then \`audit()\` with a quorum-1 policy; it must report no violation and every person. On the same relay (so with ${append.peopleBefore.toLocaleString('en-US')} people in the snapshot tree) the bootstrap administrator registers, issues ${opts.registrations} invites (not timed), and ${opts.registrations} people register over \`POST /v1/register\` with real keys and both enrolment signatures, ${opts.concurrency} at a time (timed). The administrator then creates ${opts.commitGroups} secret groups and sends ${opts.commits} commits over \`POST /v1/groups/:id/commits\`, one in flight per group (timed), each adding one of the new devices (with a Welcome) or, every fourth, removing one, with the member list signed by its device; the MLS commit (${COMMIT_BYTES.toLocaleString('en-US')} B) and Welcome (${WELCOME_BYTES.toLocaleString('en-US')} B) are random bytes, which the relay stores and routes without parsing. Each change is one transaction that writes the change and its log entries. The same registrations and commits then go to a second, new relay whose organisation starts with only its administrator.`,
    ],
    tables,
  };
}

function leavesOf(tree: MerkleLevels): Uint8Array {
  const out = new Uint8Array(tree.size * 32);
  for (let i = 0; i < tree.size; i++) out.set(tree.leaf(i), i * 32);
  return out;
}

if (!isMainThread && (workerData as { ktGenerate?: GenerateOptions } | undefined)?.ktGenerate) {
  void generatorWorker((workerData as { ktGenerate: GenerateOptions }).ktGenerate);
}
