/** Micro-benchmark of Agora's MLS layer (client-sdk/src/mls) at 10, 100 and 1,000 member devices,
 * with Agora's provider (agoraCryptoProvider: libsodium, synchronous) and ts-mls's
 * defaultCryptoProvider (WebCrypto), through the same SDK functions the client calls, so the
 * numbers include decoding and encoding the stored state.
 *
 * How the group is built (realistic steady state, built cheaply):
 * 1. Device 0 (A) creates the group and adds devices 1..n-1 in one commit (as when a group is created
 *    with its members); device 1 (B) is the member whose processing is measured.
 * 2. The tree is then populated the way members' update commits populate it in a living group: one
 *    empty (update) commit from every even leaf, then one from B. Each of those commits is built by
 *    ts-mls's createCommit from the committer's state; a committer that has not committed yet needs
 *    only its leaf key, and every member of an epoch shares the rest of the state, so its state is
 *    the previous commit's resulting state with the committer's own leaf key and signing key put in.
 *    That is byte for byte the state a real member would have (checked at n ≤ 16 against a member
 *    that joins by Welcome and processes every commit). Committers go in bit-reversed leaf order, so
 *    upper tree levels fill first and building costs ~n log n HPKE operations instead of ~n².
 *    After this every parent node that has leaves under both children holds a key, so a commit path
 *    needs ~log n HPKE encryptions (the `remove-hpke-seals` rows show it) rather than ~n.
 * 3. Measured (median of several runs, each from the same starting state): A builds a commit
 *    adding one device (n → n+1), B processes it, the new device joins from the Welcome, A builds a
 *    commit removing one device (n → n-1), B processes it, A builds an update commit (with the
 *    sealed owner set) and B processes it, a member checks the membership commitment of the new
 *    epoch and its signature, and B exports the epoch's content key.
 *    Every run's result is checked (all parties derive the same content key).
 * Runs of defaultCryptoProvider are capped (one run at 1,000; the notes say how many). */
import { createCommit, defaultCryptoProvider, encodeMlsMessage, getCiphersuiteFromName, type ClientState, type CryptoProvider } from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import {
  AGORA_CIPHERSUITE,
  agoraCryptoProvider,
  groupInfo,
  makeMls,
  mlsInternals,
  type DeviceLookup,
  type MlsApi,
  type MlsIdentity,
  type StoredKeyPackage,
} from '../../client-sdk/dist/mls/group.js';
import { fromB64u, toB64u } from '@agora/protocol/encoding';
import { membershipCheckFor } from '../../client-sdk/dist/core/membership.js';
import { openOwners, sealOwners } from '../../client-sdk/dist/core/roles.js';
import { membershipMessage } from '@agora/protocol/kt/entries';
import { sign, verify } from '@agora/protocol/crypto/device-keys';

export interface Row {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

interface Built {
  /** A's state (leaf 0), B's state (leaf 1). */
  a: Uint8Array;
  b: Uint8Array;
  lookup: DeviceLookup;
  extra: { id: MlsIdentity; kp: StoredKeyPackage };
  victim: string;
  removeSeals: number;
  populated: { filled: number; total: number };
  buildMs: number;
}

const PROVIDERS: { label: string; provider: CryptoProvider }[] = [
  { label: 'agora', provider: agoraCryptoProvider },
  { label: 'default', provider: defaultCryptoProvider },
];

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`mls bench self-check failed: ${what}`);
}

function bitReverse(x: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) r |= ((x >> i) & 1) << (bits - 1 - i);
  return r;
}

/** The state a member at `leafIndex` holds in the epoch of `shared`, given its own leaf and signing keys. */
function memberState(shared: ClientState, leafIndex: number, leafKey: Uint8Array, signKey: Uint8Array): ClientState {
  return {
    ...shared,
    privatePath: { leafIndex, privateKeys: { [2 * leafIndex]: leafKey } },
    signaturePrivateKey: signKey,
    unappliedProposals: {},
    historicalReceiverData: new Map(),
    clientConfig: { ...defaultClientConfig, keyRetentionConfig: { ...defaultClientConfig.keyRetentionConfig, retainKeysForEpochs: 1 } },
  };
}

async function build(n: number): Promise<Built> {
  const started = performance.now();
  const mls = makeMls(agoraCryptoProvider);
  const cs = await agoraCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(AGORA_CIPHERSUITE));
  const directory = new Map<string, { userId: string; signPub: Uint8Array }>();
  const lookup: DeviceLookup = (d) => directory.get(d);

  // Devices 0..n-1 are members, device n is the one the measured add commit adds.
  const ids: MlsIdentity[] = [];
  const kps: StoredKeyPackage[] = [];
  for (let i = 0; i <= n; i++) {
    const { signKey, publicKey } = await cs.signature.keygen();
    const id = { userId: `u_bench${i}`, deviceId: `d_bench${i}`, signPub: publicKey, signSeed: signKey };
    directory.set(id.deviceId, { userId: id.userId, signPub: id.signPub });
    ids.push(id);
    if (i > 0) kps[i] = (await mls.createKeyPackages(id, 1))[0];
  }

  const created = await mls.createGroup(`g_bench${n}`, ids[0]);
  const add = await mls.stageCommit(created, { add: kps.slice(1, n).map((k) => k.publicPackage) }, lookup);
  let shared: ClientState = mlsInternals.decodeState(add.staged);
  const leafKeys = new Map<number, Uint8Array>([[0, shared.privatePath.privateKeys[0]]]);
  for (let i = 1; i < n; i++) leafKeys.set(i, mlsInternals.decodePrivatePackage(kps[i].privateState).hpkePrivateKey);

  // Self-check of the shortcut at small sizes: a real member at leaf 3 joins by Welcome, its state
  // must equal the constructed one, and it processes every populating commit below.
  const witnessLeaf = 3;
  let witness: Uint8Array | undefined;
  if (n <= 16 && n > witnessLeaf) {
    witness = (await mls.joinFromWelcome(add.welcome!, [kps[witnessLeaf]], lookup)).state;
    const constructed = memberState(shared, witnessLeaf, leafKeys.get(witnessLeaf)!, ids[witnessLeaf].signSeed);
    check(sameBytes(witness, mlsInternals.encodeState(constructed)), 'a constructed member state differs from the one joining gives');
  }

  const bits = Math.max(1, Math.ceil(Math.log2(n)));
  const committers = Array.from({ length: Math.ceil(n / 2) }, (_, k) => 2 * k).sort((x, y) => bitReverse(x, bits) - bitReverse(y, bits));
  committers.push(1);
  for (const leaf of committers) {
    const state = memberState(shared, leaf, leafKeys.get(leaf)!, ids[leaf].signSeed);
    const { newState, commit } = await createCommit({ state, cipherSuite: cs }, {});
    shared = newState;
    leafKeys.set(leaf, newState.privatePath.privateKeys[2 * leaf]);
    if (witness) {
      witness = (await mls.processCommit(witness, toB64u(encodeMlsMessage(commit)), { added: [], removed: [] }, lookup)).state;
    }
  }
  // B's state is its own: it made the last commit.
  const b = mlsInternals.encodeState(shared);
  const a = mlsInternals.encodeState(memberState(shared, 0, leafKeys.get(0)!, ids[0].signSeed));
  if (witness) check(sameBytes(await mls.exportContentKey(witness), await mls.exportContentKey(b)), 'the witness member disagrees on the content key');

  let filled = 0;
  let total = 0;
  for (let i = 1; i < shared.ratchetTree.length; i += 2) {
    if (!hasLeavesBothSides(shared, i)) continue;
    total++;
    if (shared.ratchetTree[i] !== undefined) filled++;
  }

  // How many HPKE encryptions a removal's UpdatePath carries (visible in a PublicMessage).
  const victimLeaf = n - 1;
  const removal = await createCommit(
    { state: mlsInternals.decodeState(a), cipherSuite: cs },
    { extraProposals: [{ proposalType: 'remove', remove: { removed: victimLeaf } }], wireAsPublicMessage: true },
  );
  const content = removal.commit.wireformat === 'mls_public_message' ? removal.commit.publicMessage.content : undefined;
  const path = content?.contentType === 'commit' ? content.commit.path : undefined;
  const removeSeals = path ? path.nodes.reduce((s, node) => s + node.encryptedPathSecret.length, 0) : NaN;

  return {
    a,
    b,
    lookup,
    extra: { id: ids[n], kp: kps[n] },
    victim: ids[victimLeaf].deviceId,
    removeSeals,
    populated: { filled, total },
    buildMs: performance.now() - started,
  };
}

/** A parent node a commit path can populate: both of its subtrees hold at least one leaf. */
function hasLeavesBothSides(state: ClientState, parent: number): boolean {
  let level = 0;
  while (((parent >> level) & 1) === 1) level++;
  const half = 1 << (level - 1);
  const anyLeaf = (from: number, to: number) => {
    for (let i = from; i <= to && i < state.ratchetTree.length; i += 2) if (state.ratchetTree[i] !== undefined) return true;
    return false;
  };
  return anyLeaf(parent - 2 * half + 1, parent - 1) && anyLeaf(parent + 1, parent + 2 * half - 1);
}

async function timed<T>(runs: number, warmup: number, f: () => Promise<T>): Promise<{ ms: number; last: T }> {
  let last: T | undefined;
  for (let i = 0; i < warmup; i++) last = await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    last = await f();
    times.push(performance.now() - t);
  }
  return { ms: median(times), last: last as T };
}

function runsFor(label: string, n: number): { runs: number; warmup: number } {
  if (label === 'agora') return n <= 10 ? { runs: 20, warmup: 2 } : n <= 100 ? { runs: 10, warmup: 1 } : { runs: 5, warmup: 1 };
  return n <= 10 ? { runs: 5, warmup: 1 } : n <= 100 ? { runs: 3, warmup: 1 } : { runs: 1, warmup: 0 };
}

async function measure(n: number, g: Built, label: string, mls: MlsApi): Promise<Row[]> {
  const { runs, warmup } = runsFor(label, n);
  const note = runs === 1 ? '1 run, no warm-up' : `median of ${runs} runs`;
  const rows: Row[] = [];
  const row = (op: string, ms: number) => rows.push({ name: `mls/${op}/n${n}/${label}`, value: Number(ms.toFixed(3)), unit: 'ms', note });
  const extraId = g.extra.id.deviceId;

  const addCreate = await timed(runs, warmup, () => mls.stageCommit(g.a, { add: [g.extra.kp.publicPackage] }, g.lookup));
  row('add-create', addCreate.ms);
  const add = addCreate.last;
  const addProcess = await timed(runs, warmup, () => mls.processCommit(g.b, add.commit, { added: [extraId], removed: [] }, g.lookup));
  row('add-process', addProcess.ms);
  const join = await timed(runs, warmup, () => mls.joinFromWelcome(add.welcome!, [g.extra.kp], g.lookup));
  row('join-welcome', join.ms);
  const addKey = await mls.exportContentKey(add.staged);
  check(sameBytes(addKey, await mls.exportContentKey(addProcess.last.state)), `n=${n} ${label}: add commit, member key differs`);
  check(sameBytes(addKey, await mls.exportContentKey(join.last.state)), `n=${n} ${label}: joiner key differs`);
  check(groupInfo(join.last.state).members.length === n + 1, `n=${n} ${label}: joiner sees the wrong group size`);

  const removeCreate = await timed(runs, warmup, () => mls.stageCommit(g.a, { remove: [g.victim] }, g.lookup));
  row('remove-create', removeCreate.ms);
  const remove = removeCreate.last;
  const removeProcess = await timed(runs, warmup, () => mls.processCommit(g.b, remove.commit, { added: [], removed: [g.victim] }, g.lookup));
  row('remove-process', removeProcess.ms);
  check(sameBytes(await mls.exportContentKey(remove.staged), await mls.exportContentKey(removeProcess.last.state)), `n=${n} ${label}: remove, keys differ`);

  // Post-compromise security: A refreshes its leaf (an update commit carrying the sealed owner set,
  // as every Agora commit does) and B processes it and opens the owner set.
  const groupId = groupInfo(g.a).groupId;
  const epochKey = await mls.exportContentKey(g.a);
  const owners = ['u_AAAAAAAAAAAAAAAAAAAAAA', 'u_BBBBBBBBBBBBBBBBBBBBBB'];
  const updateCreate = await timed(runs, warmup, async () =>
    mls.stageCommit(g.a, { update: true, authenticatedData: await sealOwners(owners, epochKey, groupId) }, g.lookup),
  );
  row('update-create', updateCreate.ms);
  const update = updateCreate.last;
  const updateProcess = await timed(runs, warmup, async () => {
    const r = await mls.processCommit(g.b, update.commit, { added: [], removed: [] }, g.lookup);
    await openOwners(r.authenticatedData, epochKey, groupId);
    return r;
  });
  row('update-process', updateProcess.ms);
  check(sameBytes(await mls.exportContentKey(update.staged), await mls.exportContentKey(updateProcess.last.state)), `n=${n} ${label}: update, keys differ`);
  check((await openOwners(updateProcess.last.authenticatedData, epochKey, groupId))?.join() === owners.join(), `n=${n} ${label}: owner set lost`);

  if (label === 'agora') {
    // What every member does per commit to hold the log's membership entry against its own tree:
    // the commitment from the new state (member list, exporter salt, SHA-256) and the committer's
    // Ed25519 signature over it. The inclusion proof of the entry is the key-transparency section's.
    const committer = g.extra.id;
    const expected = await membershipCheckFor(update.staged, 1, committer.deviceId);
    const signature = await sign(committer.signSeed, membershipMessage(groupId, 1, fromB64u(expected.commitment)));
    const membership = await timed(runs * 2, warmup, async () => {
      const c = await membershipCheckFor(updateProcess.last.state, 1, committer.deviceId);
      return verify(committer.signPub, membershipMessage(groupId, 1, fromB64u(c.commitment)), signature);
    });
    check(membership.last, `n=${n}: the membership signature does not verify`);
    rows.push({ name: `mls/membership-check/n${n}/agora`, value: Number(membership.ms.toFixed(3)), unit: 'ms', note: `median of ${runs * 2} runs; member list from the tree, exporter salt, SHA-256 commitment, one Ed25519 verification` });
  }

  const exp = await timed(runs * 4, warmup, () => mls.exportContentKey(g.b));
  rows.push({ name: `mls/export-content-key/n${n}/${label}`, value: Number(exp.ms.toFixed(3)), unit: 'ms', note: `median of ${runs * 4} runs; includes decoding the state` });

  if (label === 'agora') {
    rows.push(
      { name: `mls/update-commit-size/n${n}`, value: update.commit.length, unit: 'b64u chars', note: 'path of ~log2 n HPKE encryptions and the sealed owner set' },
      { name: `mls/remove-fanout/n${n}`, value: n - 1, unit: 'messages', note: `one ${remove.commit.length}-char commit, the same bytes to the n-2 remaining members and the removed device` },
      { name: `mls/remove-commit-size/n${n}`, value: remove.commit.length, unit: 'b64u chars' },
      { name: `mls/welcome-size/n${n}`, value: add.welcome!.length, unit: 'b64u chars', note: 'adding one device; carries the ratchet tree' },
      { name: `mls/state-size/n${n}`, value: g.b.length, unit: 'bytes', note: 'one member’s stored group state' },
    );
  }
  return rows;
}

export async function runMlsBench(opts: { sizes: number[] }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of opts.sizes) {
    if (!Number.isInteger(n) || n < 3) throw new RangeError('group sizes must be integers ≥ 3');
    const g = await build(n);
    rows.push(
      { name: `mls/build/n${n}`, value: Number((g.buildMs / 1000).toFixed(2)), unit: 's', note: `one add commit, then ${Math.ceil(n / 2) + 1} update commits to populate the tree (not a product operation)` },
      { name: `mls/populated-parents/n${n}`, value: g.populated.filled, unit: 'nodes', note: `of ${g.populated.total} parent nodes with leaves on both sides` },
      { name: `mls/remove-hpke-seals/n${n}`, value: g.removeSeals, unit: 'HPKE encryptions', note: 'in the UpdatePath of one removal (~log2 n when the tree is populated)' },
    );
    const byProvider = new Map<string, Row[]>();
    for (const { label, provider } of PROVIDERS) byProvider.set(label, await measure(n, g, label, makeMls(provider)));
    // Say how much faster Agora's provider is, next to each of its rows.
    const fast = byProvider.get('agora')!;
    const slow = new Map(byProvider.get('default')!.map((r) => [r.name.replace('/default', ''), r.value]));
    for (const r of fast) {
      const other = slow.get(r.name.replace('/agora', ''));
      if (r.unit === 'ms' && other !== undefined) r.note = `${r.note}; ${(other / r.value).toFixed(1)}× faster than defaultCryptoProvider`;
    }
    for (const list of byProvider.values()) rows.push(...list);
  }
  return rows;
}
