/** The relay's key-transparency log end to end: every change produces the right entries in the
 * right order, each person's chain links up, snapshots hold the current key sets, and everything
 * the HTTP API hands out verifies with the SDK's own tlog module. The log is checked here by an
 * independent replay (below), not by the relay's own state. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compareIds, cosign, cosignatureVkey, decodeEntry, decodeSnapshotLeaf, deviceEnrolmentMessage, deviceSetHash, encodeSnapshotLeaf,
  entryHash, formatSignatureLine, idListHash, inviteApprovalMessage, invitePublicKey, isLegacyMembership, isUserEntry, leafHash,
  membershipMessage, openNote, orgKeyGenerationMessage, parseCheckpoint, parseNote, rootFromInclusionProof, rootFromLeafHashes, verifierFromVkey,
  verifyConsistency, verifyCosignature, verifyInclusion, ZERO_HASH, type DeviceAddedEntry, type Entry,
} from '@agora/protocol/kt';
import {
  fromB64u, LIMITS, toB64u, type GroupView, type KtCheckpointResponse, type KtEntriesResponse, type KtPolicyResponse,
  type KtProofResponse, type KtUserResponse, type KtUsersResponse,
} from '@agora/protocol';
import { ed25519 } from '@noble/curves/ed25519.js';
import { verifyEd25519 } from '../auth.js';
import { startRelay } from '../relay.js';
import { openSqliteStore } from '../store/sqlite.js';
import {
  call, commitBody, deviceInvite, enrol, generationBody, inviteBody, membership, opaque, publishKtPolicy, readerToken, secretGroupBody, startTestOrg,
  type TestDevice, type TestOrg,
} from '../testing.js';
import { KtLog } from './log.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface Replayed {
  users: Map<string, { seq: number; head: Uint8Array; devices: Map<string, { signPub: Uint8Array; encPub: Uint8Array }>; deactivated: boolean }>;
  snapshots: number;
}

/** An independent reading of the whole log: chains, device sets, and every snapshot recomputed. */
function replay(entries: Uint8Array[]): Replayed {
  const users: Replayed['users'] = new Map();
  let snapshots = 0;
  entries.forEach((bytes, index) => {
    const e = decodeEntry(bytes);
    if (isUserEntry(e)) {
      const u = users.get(e.userId);
      if (e.type === 'user-created') {
        expect(u).toBeUndefined();
        expect([e.userSeq, hex(e.prevHash)]).toEqual([1, hex(ZERO_HASH)]);
        users.set(e.userId, { seq: 1, head: entryHash(bytes), devices: new Map(), deactivated: false });
        return;
      }
      expect(u).toBeDefined();
      expect([e.userSeq, hex(e.prevHash)]).toEqual([u!.seq + 1, hex(u!.head)]);
      u!.seq = e.userSeq;
      u!.head = entryHash(bytes);
      if (e.type === 'device-added') u!.devices.set(e.deviceId, { signPub: e.signPub, encPub: e.encPub });
      if (e.type === 'device-revoked') expect(u!.devices.delete(e.deviceId)).toBe(true);
      if (e.type === 'user-deactivated') u!.deactivated = true;
    } else if (e.type === 'snapshot') {
      snapshots++;
      const ids = [...users.keys()].sort(compareIds);
      const leaves = ids.map((userId) => {
        const u = users.get(userId)!;
        const devices = [...u.devices].map(([deviceId, k]) => ({ deviceId, ...k }));
        return leafHash(encodeSnapshotLeaf({ userId, userSeq: u.seq, userHeadHash: u.head, deviceSetHash: deviceSetHash(devices) }));
      });
      expect(e.userCount).toBe(ids.length);
      expect(hex(e.snapshotRoot)).toBe(hex(rootFromLeafHashes(leaves)));
    } else {
      // every change ends with a snapshot, so no other entry is last
      expect(index).toBeLessThan(entries.length - 1);
    }
  });
  expect(decodeEntry(entries[entries.length - 1]).type).toBe('snapshot');
  return { users, snapshots };
}

describe('key-transparency log on the relay', () => {
  let org: TestOrg;
  let alice: TestDevice;
  let bob: TestDevice;
  let alice2: TestDevice;
  let origin: string;
  let vkey: string;

  beforeAll(async () => {
    org = await startTestOrg();
    const policy = await call<KtPolicyResponse>(org.url, 'GET', '/v1/kt/policy');
    expect(policy.status).toBe(200);
    ({ origin, vkey } = policy.body);
  });
  afterAll(() => org.close());

  // The log is read by the organisation's devices (and named witnesses and auditors, see access.test.ts).
  const get = async <T>(path: string): Promise<T> => {
    const res = await call<T>(org.url, 'GET', path, undefined, { token: org.admin.token });
    expect(res.status).toBe(200);
    return res.body;
  };
  const size = () => org.relay.store.ktSize();
  const allEntries = async (): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    const n = await size();
    while (out.length < n) {
      const page = await get<KtEntriesResponse>(`/v1/kt/entries?start=${out.length}&end=${n}`);
      for (const e of page.entries) {
        expect(e.index).toBe(out.length);
        out.push(fromB64u(e.entry));
      }
    }
    return out;
  };
  /** The entries appended since `from`, decoded. */
  const since = async (from: number): Promise<Entry[]> => (await allEntries()).slice(from).map(decodeEntry);

  it('logs the bootstrap enrolment: the admin, the device with the invite key, and a snapshot', async () => {
    const [created, added, snap] = await since(0);
    expect(created).toMatchObject({ type: 'user-created', userId: org.admin.userId, userSeq: 1, name: 'Admin', role: 'admin', approvedByDevice: '' });
    expect(added).toMatchObject({ type: 'device-added', userId: org.admin.userId, userSeq: 2, deviceId: org.admin.deviceId, via: 'bootstrap', approverDeviceId: '' });
    const a = added as DeviceAddedEntry;
    expect(hex(a.signPub)).toBe(hex(fromB64u(org.admin.signPub)));
    expect(hex(a.invitePub)).toBe(hex(invitePublicKey(org.relay.adminInvite!)));
    expect(hex(a.approval)).toBe(hex(new Uint8Array(64)));
    const message = deviceEnrolmentMessage({ userId: a.userId, deviceId: a.deviceId, signPub: a.signPub, encPub: a.encPub });
    expect(ed25519.verify(a.inviteSig, message, a.invitePub)).toBe(true);
    expect(ed25519.verify(a.deviceSig, message, a.signPub)).toBe(true);
    expect(snap).toMatchObject({ type: 'snapshot', userCount: 1 });
    expect(await size()).toBe(3);
  });

  it('logs a new person with the admin\'s approval and their device, chained', async () => {
    const before = await size();
    alice = await org.person('Alice', { role: 'announcer' });
    const [created, added, snap] = await since(before);
    expect(await size()).toBe(before + 3);
    expect(created).toMatchObject({ type: 'user-created', userId: alice.userId, userSeq: 1, name: 'Alice', role: 'announcer', approvedByDevice: org.admin.deviceId });
    const a = added as DeviceAddedEntry;
    expect(a).toMatchObject({ type: 'device-added', userId: alice.userId, userSeq: 2, deviceId: alice.deviceId, via: 'user-invite', approverDeviceId: org.admin.deviceId });
    const approval = inviteApprovalMessage({ invitePub: a.invitePub, kind: 'user', name: 'Alice', role: 'announcer' });
    expect(verifyEd25519(org.admin.signPub, approval, toB64u(a.approval))).toBe(true);
    const message = deviceEnrolmentMessage({ userId: a.userId, deviceId: a.deviceId, signPub: a.signPub, encPub: a.encPub });
    expect(ed25519.verify(a.inviteSig, message, a.invitePub)).toBe(true);
    expect(verifyEd25519(alice.signPub, message, toB64u(a.deviceSig))).toBe(true);
    expect(snap).toMatchObject({ type: 'snapshot', userCount: 2 });
    bob = await org.person('Bob');
  });

  it('logs a further device on the person\'s own chain, approved by their device', async () => {
    const before = await size();
    alice2 = await enrol(org.url, await deviceInvite(org.url, alice));
    const [added, snap] = await since(before);
    expect(added).toMatchObject({ type: 'device-added', userId: alice.userId, userSeq: 3, deviceId: alice2.deviceId, via: 'device-invite', approverDeviceId: alice.deviceId });
    const a = added as DeviceAddedEntry;
    const approval = inviteApprovalMessage({ invitePub: a.invitePub, kind: 'device', userId: alice.userId });
    expect(verifyEd25519(alice.signPub, approval, toB64u(a.approval))).toBe(true);
    expect(snap.type).toBe('snapshot');
    const users = replay(await allEntries()).users;
    expect([...users.get(alice.userId)!.devices.keys()].sort()).toEqual([alice.deviceId, alice2.deviceId].sort());
  });

  it('logs secret-group membership at creation and at each commit as the committer signed it, without the member list', async () => {
    const before = await size();
    const createBody = secretGroupBody(alice, 'Bauleitung');
    const created = await call<GroupView>(org.url, 'POST', '/v1/groups', createBody, { token: alice.token });
    expect(created.status).toBe(201);
    const g = created.body.id;
    const addBody = await commitBody(org.url, alice, g, { epoch: 0, added: [bob.deviceId, alice2.deviceId], welcome: opaque('w') });
    // The relay files sealed copies by auditor id whatever order they came in.
    const sealed = [{ auditor: toB64u(new Uint8Array(8).fill(9)), sealed: toB64u(new Uint8Array([1, 2, 3])) }, { auditor: toB64u(new Uint8Array(8).fill(2)), sealed: toB64u(new Uint8Array([4])) }];
    addBody.membership.sealedForAuditors = sealed;
    const commit = await call(org.url, 'POST', `/v1/groups/${g}/commits`, addBody, { token: alice.token });
    expect(commit.status).toBe(200);
    const removeBody = await commitBody(org.url, bob, g, { epoch: 1, removed: [alice2.deviceId] });
    const removal = await call(org.url, 'POST', `/v1/groups/${g}/commits`, removeBody, { token: bob.token });
    expect(removal.status).toBe(200);

    const entries = await since(before);
    expect(entries.map((e) => e.type)).toEqual(['group-membership', 'snapshot', 'group-membership', 'snapshot', 'group-membership', 'snapshot']);
    const [m0, , m1, , m2] = entries;
    expect(m0).toMatchObject({ groupId: g, epoch: 0, commitment: fromB64u(createBody.membership.commitment), sealedForAuditors: [], committerDeviceId: alice.deviceId });
    expect(m1).toMatchObject({
      groupId: g, epoch: 1, commitment: fromB64u(addBody.membership.commitment), committerDeviceId: alice.deviceId,
      sealedForAuditors: [sealed[1], sealed[0]].map((x) => ({ auditor: fromB64u(x.auditor), sealed: fromB64u(x.sealed) })),
    });
    expect(m2).toMatchObject({ groupId: g, epoch: 2, commitment: fromB64u(removeBody.membership.commitment), committerDeviceId: bob.deviceId });
    for (const [m, by] of [[m0, alice], [m1, alice], [m2, bob]] as const) {
      if (m.type !== 'group-membership' || isLegacyMembership(m)) throw new Error('unreachable');
      expect(verifyEd25519(by.signPub, membershipMessage(g, m.epoch, m.commitment), toB64u(m.signature))).toBe(true);
    }
    // no content in the log (the MLS bytes are not in it), and no member device but the committer
    const raw = (await allEntries()).slice(before);
    expect(Buffer.concat(raw).includes(Buffer.from('w:'))).toBe(false);
    expect(Buffer.from(raw[2]).includes(Buffer.from(bob.deviceId))).toBe(false);
    expect(Buffer.from(raw[2]).includes(Buffer.from(alice2.deviceId))).toBe(false);
    expect(Buffer.from(raw[4]).includes(Buffer.from(alice.deviceId))).toBe(false);

    // Members look their entry up by group and epoch, proven at a size of their choosing.
    const at = await size();
    const found = await call<{ index: number; entry: string; proof: string[] }>(org.url, 'GET', `/v1/kt/groups/${g}/membership?epoch=1&size=${at}`, undefined, { token: bob.token });
    expect(found.status).toBe(200);
    expect(found.body.index).toBe(before + 2);
    expect(fromB64u(found.body.entry)).toEqual(raw[2]);
    const root = parseCheckpoint(parseNote((await org.relay.kt.checkpoint(at)).checkpoint).text).root;
    expect(hex(rootFromInclusionProof(leafHash(raw[2]), found.body.index, at, found.body.proof.map(fromB64u)))).toBe(hex(root));
    expect((await call(org.url, 'GET', `/v1/kt/groups/${g}/membership?epoch=3&size=${at}`, undefined, { token: bob.token })).status).toBe(404);
    expect((await call(org.url, 'GET', `/v1/kt/groups/${g}/membership?epoch=1&size=${before + 2}`, undefined, { token: bob.token })).status).toBe(404);
  });

  it('logs an organisation-key generation with the devices it was sealed to; records never touch the log', async () => {
    const before = await size();
    const envelopes = [{ deviceId: bob.deviceId, sealed: opaque('e') }, { deviceId: alice.deviceId, sealed: opaque('e') }];
    const gen = await call(org.url, 'POST', '/v1/orgkeys/generations', generationBody(org.admin, 1, envelopes), { token: org.admin.token });
    expect(gen.status).toBe(201);
    const [e, snap] = await since(before);
    expect(e).toMatchObject({ type: 'orgkey-generation', generation: 1, creatorDeviceId: org.admin.deviceId });
    if (e.type !== 'orgkey-generation') throw new Error('unreachable');
    expect(hex(e.deviceSetHash)).toBe(hex(idListHash([alice.deviceId, bob.deviceId])));
    expect(e.keyCommitment).toHaveLength(32);
    expect(verifyEd25519(org.admin.signPub, orgKeyGenerationMessage(1, e.deviceSetHash, e.keyCommitment), toB64u(e.signature))).toBe(true);
    expect(snap.type).toBe('snapshot');

    const pub = await call<GroupView>(org.url, 'POST', '/v1/groups', { name: 'Kantine', kind: 'public' }, { token: alice.token });
    const after = await size();
    for (let i = 0; i < 5; i++) {
      expect((await call(org.url, 'POST', `/v1/groups/${pub.body.id}/records`, { epoch: 1, ciphertext: opaque('r') }, { token: bob.token })).status).toBe(201);
    }
    expect(await size()).toBe(after);
    expect(after).toBe(before + 2);
  });

  it('logs a deactivation as one revocation per device, then the deactivation, and empties the snapshot key set', async () => {
    const dave = await org.person('Dave');
    const dave2 = await enrol(org.url, await deviceInvite(org.url, dave));
    const before = await size();
    const off = await call(org.url, 'POST', `/v1/admin/users/${dave.userId}/deactivate`, undefined, { token: org.admin.token });
    expect(off.status).toBe(200);
    const entries = await since(before);
    expect(entries.map((e) => e.type)).toEqual(['device-revoked', 'device-revoked', 'user-deactivated', 'snapshot']);
    expect(entries.slice(0, 2).map((e) => (e.type === 'device-revoked' ? e.deviceId : '')).sort()).toEqual([dave.deviceId, dave2.deviceId].sort());
    expect(entries.slice(0, 3).map((e) => (isUserEntry(e) ? [e.userId, e.userSeq] : []))).toEqual([[dave.userId, 4], [dave.userId, 5], [dave.userId, 6]]);
    expect(entries[2]).toMatchObject({ byUserId: org.admin.userId });
    const users = replay(await allEntries()).users;
    expect(users.get(dave.userId)).toMatchObject({ deactivated: true, seq: 6 });
    expect(users.get(dave.userId)!.devices.size).toBe(0);
    // deactivating again changes nothing and logs nothing
    await call(org.url, 'POST', `/v1/admin/users/${dave.userId}/deactivate`, undefined, { token: org.admin.token });
    expect(await size()).toBe(before + 4);
  });

  it('keeps every chain and every snapshot consistent, and the directory matches the latest snapshot', async () => {
    const { users, snapshots } = replay(await allEntries());
    expect(snapshots).toBeGreaterThan(8);
    const devices = await org.relay.store.listDevices();
    for (const [userId, u] of users) {
      const active = devices.filter((d) => d.userId === userId && d.status === 'active').map((d) => d.id).sort();
      expect([...u.devices.keys()].sort()).toEqual(active);
      for (const d of devices.filter((x) => active.includes(x.id))) expect(toB64u(u.devices.get(d.id)!.signPub)).toBe(d.signPub);
    }
    expect(users.size).toBe((await org.relay.store.listUsers()).length);
  });

  it('serves a checkpoint signed by the log key, with inclusion and consistency proofs that verify', async () => {
    const cp = await get<KtCheckpointResponse>('/v1/kt/checkpoint');
    const { note } = openNote(cp.checkpoint, [verifierFromVkey(vkey)]);
    const body = parseCheckpoint(note.text);
    const entries = await allEntries();
    expect(body).toMatchObject({ origin, size: entries.length, extensions: [] });
    expect(cp.size).toBe(entries.length);
    expect(origin).toBe(`agora/${(await org.relay.store.getOrg())!.id}`);
    const leaves = entries.map(leafHash);
    expect(hex(body.root)).toBe(hex(rootFromLeafHashes(leaves)));
    const n = entries.length;
    for (let i = 0; i < n; i++) {
      const { proof } = await get<KtProofResponse>(`/v1/kt/proof/inclusion?index=${i}&size=${n}`);
      verifyInclusion(leaves[i], i, n, proof.map(fromB64u), body.root);
    }
    for (const from of [1, 2, 3, 7, Math.floor(n / 2), n - 1, n]) {
      const { proof } = await get<KtProofResponse>(`/v1/kt/proof/consistency?from=${from}&to=${n}`);
      verifyConsistency(from, n, rootFromLeafHashes(leaves.slice(0, from)), body.root, proof.map(fromB64u));
    }
    // an older checkpoint is the same log at that size
    const old = await get<KtCheckpointResponse>('/v1/kt/checkpoint?size=5');
    expect(hex(parseCheckpoint(openNote(old.checkpoint, [verifierFromVkey(vkey)]).note.text).root)).toBe(hex(rootFromLeafHashes(leaves.slice(0, 5))));
    // a mutated proof fails
    const { proof } = await get<KtProofResponse>(`/v1/kt/proof/inclusion?index=3&size=${n}`);
    const bad = proof.map(fromB64u);
    bad[0] = bad[0].slice();
    bad[0][0] ^= 1;
    expect(() => verifyInclusion(leaves[3], 3, n, bad, body.root)).toThrow();
  });

  it('answers bad proof and page requests with 400 and pages entries by 1000 at most', async () => {
    const n = await size();
    for (const q of [`inclusion?index=${n}&size=${n}`, `inclusion?index=0&size=${n + 1}`, 'inclusion?index=0&size=0', `consistency?from=0&to=${n}`,
      `consistency?from=3&to=2`, `consistency?from=1&to=${n + 1}`, 'inclusion?index=-1&size=2']) {
      const res = await call(org.url, 'GET', `/v1/kt/proof/${q}`, undefined, { token: org.admin.token });
      expect(res.status).toBe(400);
    }
    expect((await call(org.url, 'GET', `/v1/kt/entries?start=${n + 1}&end=${n + 2}`, undefined, { token: org.admin.token })).status).toBe(400);
    expect((await call(org.url, 'GET', '/v1/kt/entries?start=3&end=2', undefined, { token: org.admin.token })).status).toBe(400);
    expect((await get<KtEntriesResponse>(`/v1/kt/entries?start=${n}&end=${n + 10}`)).entries).toEqual([]);
    expect((await get<KtEntriesResponse>('/v1/kt/entries?start=0&end=5000')).entries).toHaveLength(Math.min(n, 1000));
    expect((await call(org.url, 'GET', `/v1/kt/checkpoint?size=${n + 1}`, undefined, { token: org.admin.token })).status).toBe(400);
    expect((await call(org.url, 'GET', '/v1/kt/users/u_AAAAAAAAAAAAAAAAAAAAAA', undefined, { token: org.admin.token })).status).toBe(404);
    // only for signed-in devices (and named witnesses and auditors): a token that is sent must be valid
    expect((await call(org.url, 'GET', '/v1/kt/checkpoint')).status).toBe(401);
    expect((await call(org.url, 'GET', '/v1/kt/checkpoint', undefined, { token: 'not.valid' })).status).toBe(401);
    expect((await call(org.url, 'GET', '/v1/kt/checkpoint', undefined, { token: alice.token })).status).toBe(200);
  });

  it('proves a person\'s entries and their latest key set through the snapshot', async () => {
    const cp = parseCheckpoint(parseNote((await get<KtCheckpointResponse>('/v1/kt/checkpoint')).checkpoint).text);
    const view = await get<KtUserResponse>(`/v1/kt/users/${alice.userId}`);
    expect(view.size).toBe(cp.size);
    expect(view.entries.map((e) => decodeEntry(fromB64u(e.entry)).type)).toEqual(['user-created', 'device-added', 'device-added']);
    for (const e of view.entries) verifyInclusion(leafHash(fromB64u(e.entry)), e.index, cp.size, e.proof.map(fromB64u), cp.root);
    const snapEntry = decodeEntry(fromB64u(view.snapshot.entry));
    if (snapEntry.type !== 'snapshot') throw new Error('not a snapshot');
    expect(view.snapshot.index).toBe(cp.size - 1);
    verifyInclusion(leafHash(fromB64u(view.snapshot.entry)), view.snapshot.index, cp.size, view.snapshot.proof.map(fromB64u), cp.root);
    const leaf = decodeSnapshotLeaf(fromB64u(view.snapshot.leaf));
    verifyInclusion(leafHash(fromB64u(view.snapshot.leaf)), view.snapshot.leafIndex, snapEntry.userCount, view.snapshot.leafProof.map(fromB64u), snapEntry.snapshotRoot);
    const last = fromB64u(view.entries[view.entries.length - 1].entry);
    expect(leaf).toMatchObject({ userId: alice.userId, userSeq: 3 });
    expect(hex(leaf.userHeadHash)).toBe(hex(entryHash(last)));
    const keys = [alice, alice2].map((d) => ({ deviceId: d.deviceId, signPub: fromB64u(d.signPub), encPub: fromB64u(d.encPub) }));
    expect(hex(leaf.deviceSetHash)).toBe(hex(deviceSetHash(keys)));
  });

  it('answers several people at one size as it answers each alone, null for one it does not list, 400 naming the field for bad input', async () => {
    const n = await size();
    const unknown = 'u_AAAAAAAAAAAAAAAAAAAAAA';
    const res = await call(org.url, 'POST', '/v1/kt/users', { ids: [alice.userId, unknown, org.admin.userId], size: n }, { token: alice.token });
    expect(res.status).toBe(200);
    const batch = res.body as KtUsersResponse;
    expect(batch.size).toBe(n);
    expect(batch.users.map((u) => u.userId)).toEqual([alice.userId, unknown, org.admin.userId]);
    expect(batch.users[1].user).toBeNull();
    for (const i of [0, 2]) {
      const single = await get<KtUserResponse>(`/v1/kt/users/${batch.users[i].userId}?size=${n}`);
      expect({ size: n, ...batch.users[i].user }).toEqual(single);
    }
    const bad: [unknown, string][] = [
      [{ ids: [], size: n }, 'ids'],
      [{ ids: [alice.userId, alice.userId], size: n }, 'ids'],
      [{ ids: Array.from({ length: LIMITS.ktUsersPerRequest + 1 }, (_, i) => `u_${String(i).padStart(22, 'A')}`), size: n }, 'ids'],
      [{ ids: ['not-an-id'], size: n }, 'ids.0'],
      [{ ids: [alice.userId] }, 'size'],
      [{ ids: [alice.userId], size: n + 1 }, 'size'],
    ];
    for (const [body, field] of bad) {
      const r = await call(org.url, 'POST', '/v1/kt/users', body, { token: alice.token });
      expect([field, r.status]).toEqual([field, 400]);
      expect(JSON.stringify(r.body)).toContain(field);
    }
    expect((await call(org.url, 'POST', '/v1/kt/users', { ids: [alice.userId], size: n })).status).toBe(401);
  });

  it('proves an older view at an older size: the snapshot of that time', async () => {
    const entries = await allEntries();
    // the size right after alice's first device was logged: her second device is not in it
    const firstAdded = entries.findIndex((b) => {
      const e = decodeEntry(b);
      return e.type === 'device-added' && e.deviceId === alice.deviceId;
    });
    const oldSize = firstAdded + 2;
    const root = rootFromLeafHashes(entries.slice(0, oldSize).map(leafHash));
    const view = await get<KtUserResponse>(`/v1/kt/users/${alice.userId}?size=${oldSize}`);
    expect(view.entries).toHaveLength(2);
    for (const e of [...view.entries, view.snapshot]) verifyInclusion(leafHash(fromB64u(e.entry)), e.index, oldSize, e.proof.map(fromB64u), root);
    const snap = decodeEntry(fromB64u(view.snapshot.entry));
    if (snap.type !== 'snapshot') throw new Error('not a snapshot');
    verifyInclusion(leafHash(fromB64u(view.snapshot.leaf)), view.snapshot.leafIndex, snap.userCount, view.snapshot.leafProof.map(fromB64u), snap.snapshotRoot);
    const leaf = decodeSnapshotLeaf(fromB64u(view.snapshot.leaf));
    expect(leaf.userSeq).toBe(2);
    expect(hex(leaf.deviceSetHash)).toBe(hex(deviceSetHash([{ deviceId: alice.deviceId, signPub: fromB64u(alice.signPub), encPub: fromB64u(alice.encPub) }])));
  });

  it('stores a witness cosignature of its checkpoint and attaches it; refuses bad ones', async () => {
    const seed = new Uint8Array(32).fill(7);
    const witnessVkey = cosignatureVkey('witness.example/w1', ed25519.getPublicKey(seed));
    const cp = await get<KtCheckpointResponse>('/v1/kt/checkpoint');
    const body = parseNote(cp.checkpoint).text;
    const now = Math.floor(Date.now() / 1000);
    const line = formatSignatureLine(cosign(body, 'witness.example/w1', seed, now));
    // Only a witness named in the published policy posts, signed in with its own key.
    await publishKtPolicy(org.url, org.admin, { witnesses: [{ name: 'w1', vkey: witnessVkey }] });
    const token = await readerToken(org.url, 'witness', seed);
    const post = (b: { checkpoint: string; cosignature: string; vkey: string }) => call(org.url, 'POST', '/v1/kt/cosignatures', b, { token });

    // refused: signed over another checkpoint, another witness's key, a checkpoint that is not the log's
    const old = parseNote((await get<KtCheckpointResponse>('/v1/kt/checkpoint?size=4')).checkpoint).text;
    const otherBody = formatSignatureLine(cosign(old, 'witness.example/w1', seed, now));
    const otherKey = cosignatureVkey('witness.example/w1', ed25519.getPublicKey(new Uint8Array(32).fill(8)));
    const forgedRoot = body.replace(/\n[A-Za-z0-9+/=]{44}\n/, `\n${Buffer.alloc(32, 1).toString('base64')}\n`);
    for (const [b, field] of [
      [{ checkpoint: cp.checkpoint, cosignature: otherBody, vkey: witnessVkey }, 'cosignature'],
      [{ checkpoint: `${forgedRoot}\n${formatSignatureLine(cosign(forgedRoot, 'witness.example/w1', seed, now))}`, cosignature: formatSignatureLine(cosign(forgedRoot, 'witness.example/w1', seed, now)), vkey: witnessVkey }, 'checkpoint'],
      [{ checkpoint: 'not a note', cosignature: line, vkey: witnessVkey }, 'checkpoint'],
      [{ checkpoint: cp.checkpoint, cosignature: formatSignatureLine(cosign(body, 'witness.example/w1', seed, now + 3600)), vkey: witnessVkey }, 'cosignature'],
    ] as const) {
      const res = await post(b);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'invalid_field', field } });
    }
    // another witness's key, or the log's own key, is not this witness's to post under
    for (const v of [otherKey, vkey]) {
      const res = await post({ checkpoint: cp.checkpoint, cosignature: line, vkey: v });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: { code: 'forbidden', field: 'vkey' } });
    }
    expect(await org.relay.store.listCosignatures(cp.size)).toEqual([]);

    const ok = await post({ checkpoint: cp.checkpoint, cosignature: line.trimEnd(), vkey: witnessVkey });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ size: cp.size, cosigners: ['witness.example/w1'] });
    const withCosig = await get<KtCheckpointResponse>(`/v1/kt/checkpoint?size=${cp.size}`);
    expect(withCosig.cosigners).toEqual(['witness.example/w1']);
    const note = parseNote(withCosig.checkpoint);
    expect(note.text).toBe(body);
    expect(note.signatures).toHaveLength(2);
    expect(verifyCosignature(body, note.signatures[1], { name: 'witness.example/w1', publicKey: ed25519.getPublicKey(seed) })).toEqual({ timestamp: now });
    openNote(withCosig.checkpoint, [verifierFromVkey(vkey)]);

    // a newer cosignature by the same witness replaces the older one
    const newer = formatSignatureLine(cosign(body, 'witness.example/w1', seed, now + 1));
    expect((await post({ checkpoint: cp.checkpoint, cosignature: newer, vkey: witnessVkey })).status).toBe(200);
    expect((await get<KtCheckpointResponse>(`/v1/kt/checkpoint?size=${cp.size}`)).checkpoint.endsWith(newer)).toBe(true);
    expect((await org.relay.store.listCosignatures(cp.size))).toHaveLength(1);

    // once the log grows, the witnessed checkpoint is still there to be found
    await org.person('Erin');
    expect((await get<KtCheckpointResponse>('/v1/kt/checkpoint')).cosigners).toEqual([]);
    const witnessed = await get<KtCheckpointResponse>('/v1/kt/checkpoint?cosigners=1');
    expect(witnessed).toMatchObject({ size: cp.size, cosigners: ['witness.example/w1'] });
    expect((await call(org.url, 'GET', '/v1/kt/checkpoint?cosigners=2', undefined, { token: org.admin.token })).status).toBe(404);
  });

  it('refuses bad membership, generation and approval signatures with 400 and stores nothing', async () => {
    const before = await size();
    const expect400 = async (res: Promise<{ status: number; body: unknown }>, field: string) => {
      const r = await res;
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: { code: 'invalid_field', field } });
    };
    const post = (d: TestDevice, path: string, body: unknown) => call(org.url, 'POST', path, body, { token: d.token });

    // group creation signed by someone else, for another id, or naming other members
    const good = secretGroupBody(alice, 'Nope');
    await expect400(post(alice, '/v1/groups', { ...good, membership: membership(bob, good.id, 0, [alice.deviceId]) }), 'membership.signature');
    await expect400(post(alice, '/v1/groups', { ...good, membership: membership(alice, good.id, 1, [alice.deviceId]) }), 'membership.signature');
    const dup = { auditor: toB64u(new Uint8Array(8)), sealed: toB64u(new Uint8Array(1)) };
    await expect400(post(alice, '/v1/groups', { ...good, membership: { ...good.membership, sealedForAuditors: [dup, dup] } }), 'membership.sealedForAuditors');
    await expect400(post(alice, '/v1/groups', { ...good, membership: { ...good.membership, commitment: toB64u(new Uint8Array(31)) } }), 'membership.commitment');
    await expect400(post(alice, '/v1/groups', { ...good, membership: undefined }), 'membership');
    await expect400(post(alice, '/v1/groups', { ...good, id: undefined }), 'id');
    expect(await org.relay.store.getGroup(good.id)).toBeUndefined();

    // a commit whose membership is wrong or signed by another device
    const g = (await post(alice, '/v1/groups', secretGroupBody(alice, 'Real'))).body as GroupView;
    const afterCreate = await size();
    const body = await commitBody(org.url, alice, g.id, { epoch: 0, added: [bob.deviceId], welcome: opaque('w') });
    await expect400(post(alice, `/v1/groups/${g.id}/commits`, { ...body, membership: membership(bob, g.id, 1, [alice.deviceId, bob.deviceId]) }), 'membership.signature');
    await expect400(post(alice, `/v1/groups/${g.id}/commits`, { ...body, membership: membership(alice, g.id, 2, [alice.deviceId, bob.deviceId]) }), 'membership.signature');
    expect(await org.relay.store.getGroup(g.id)).toMatchObject({ epoch: 0, head: 0 });
    expect(await org.relay.store.listGroupDevices(g.id)).toHaveLength(1);
    expect((await org.relay.store.readMailbox(bob.deviceId, 0, 100)).filter((m) => m.groupId === g.id)).toHaveLength(0);

    // a reserved group initialised with a foreign signature
    const dept = (await post(org.admin, '/v1/departments', { name: 'Tiefbau' })).body as { id: string; secretGroupId: string };
    await post(org.admin, `/v1/departments/${dept.id}/members`, { userId: alice.userId });
    await expect400(post(alice, `/v1/groups/${dept.secretGroupId}/init`, { epoch: 0, membership: membership(bob, dept.secretGroupId, 0, [alice.deviceId]) }), 'membership.signature');
    expect((await org.relay.store.getGroup(dept.secretGroupId))?.epoch).toBeNull();

    // a generation whose hash or signature is wrong
    const envelopes = [{ deviceId: alice.deviceId, sealed: opaque('e') }];
    const gen = generationBody(org.admin, 2, envelopes);
    await expect400(post(org.admin, '/v1/orgkeys/generations', { ...gen, deviceSetHash: toB64u(idListHash([bob.deviceId])) }), 'deviceSetHash');
    await expect400(post(org.admin, '/v1/orgkeys/generations', { ...gen, signature: generationBody(alice, 2, envelopes).signature }), 'signature');
    await expect400(post(org.admin, '/v1/orgkeys/generations', { ...gen, signature: generationBody(org.admin, 3, envelopes).signature }), 'signature');
    await expect400(post(org.admin, '/v1/orgkeys/generations', { ...gen, keyCommitment: generationBody(org.admin, 2, envelopes).keyCommitment }), 'signature');
    expect(await org.relay.store.currentGeneration()).toBe(1);

    // an invite whose approval is not the creating device's, or approves something else
    const inv = inviteBody(org.admin, { kind: 'user', name: 'Eve', role: 'member' });
    await expect400(post(org.admin, '/v1/invites', { ...inv.body, approval: inviteBody(alice, { kind: 'user', name: 'Eve' }, inv.code).body.approval }), 'approval');
    await expect400(post(org.admin, '/v1/invites', { ...inv.body, role: 'admin' }), 'approval');
    await expect400(post(org.admin, '/v1/invites', { ...inv.body, name: 'Mallory' }), 'approval');
    expect(await org.relay.store.getInvite(Buffer.from(fromB64u(inv.body.codeHash)).toString('hex'))).toBeUndefined();

    expect(await size()).toBe(afterCreate);
    expect(afterCreate).toBe(before + 2);
  });
});

describe('key-transparency log across restarts and relays', () => {
  it('rebuilds the same tree after a restart and keeps appending', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'agora-kt-'));
    try {
      let relay = await startRelay({ port: 0, quiet: true, rateLimit: false, dataDir });
      const admin = await enrol(relay.url, relay.adminInvite!, 'Admin');
      await enrol(relay.url, await deviceInvite(relay.url, admin));
      const before = (await call<KtCheckpointResponse>(relay.url, 'GET', '/v1/kt/checkpoint', undefined, { token: admin.token })).body;
      await relay.close();

      relay = await startRelay({ port: 0, quiet: true, rateLimit: false, dataDir });
      try {
        const after = (await call<KtCheckpointResponse>(relay.url, 'GET', '/v1/kt/checkpoint', undefined, { token: admin.token })).body;
        // deterministic signatures: the very same note
        expect(after).toEqual(before);
        const token = (await import('../testing.js')).signIn(relay.url, admin);
        const dev = { ...admin, token: await token };
        await enrol(relay.url, await deviceInvite(relay.url, dev));
        const grown = (await call<KtCheckpointResponse>(relay.url, 'GET', '/v1/kt/checkpoint', undefined, { token: admin.token })).body;
        expect(grown.size).toBe(before.size + 2);
        const { proof } = (await call<KtProofResponse>(relay.url, 'GET', `/v1/kt/proof/consistency?from=${before.size}&to=${grown.size}`, undefined, { token: admin.token })).body;
        const root = (c: KtCheckpointResponse) => parseCheckpoint(parseNote(c.checkpoint).text).root;
        verifyConsistency(before.size, grown.size, root(before), root(grown), proof.map(fromB64u));
      } finally {
        await relay.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('two relays on one store: a batch drafted against a stale size is redrafted, chains stay intact', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'agora-kt-'));
    const store = await openSqliteStore(dataDir);
    try {
      await store.bootstrapOrg({ id: 'o_AAAAAAAAAAAAAAAAAAAAAA', name: 'Org', createdAt: 1 }, {
        codeHash: 'h', kind: 'user', name: null, role: 'admin', departmentId: null, userId: null, bootstrap: true, createdBy: null,
        createdAt: 1, expiresAt: 2, usedAt: null, invitePub: '', approverDeviceId: '', approval: '',
      });
      const a = new KtLog({ store, now: () => 1000 });
      const b = new KtLog({ store, now: () => 2000 });
      const person = (userId: string) => ({ userId, name: userId, role: 'member' as const, approvedByDevice: 'd_x' });
      await a.write(async (d) => {
        d.userCreated(person('u_1'));
        await store.appendKt(d.seal());
      }, () => true);
      let attempts = 0;
      await a.write(async (d) => {
        attempts++;
        d.userCreated(person('u_2'));
        // meanwhile, another relay appends for another person
        if (attempts === 1) {
          await b.write(async (d2) => {
            d2.userCreated(person('u_3'));
            await store.appendKt(d2.seal());
          }, () => true);
        }
        await store.appendKt(d.seal());
      }, () => true);
      expect(attempts).toBe(2);
      const entries = await store.readKtEntries(0, 100);
      expect(entries.map((e) => decodeEntry(e).type)).toEqual(['user-created', 'snapshot', 'user-created', 'snapshot', 'user-created', 'snapshot']);
      expect(replay(entries).users.size).toBe(3);
      const fresh = new KtLog({ store, now: () => 3000 });
      const [ca, cb, cf] = await Promise.all([a.checkpoint(), b.checkpoint(), fresh.checkpoint()]);
      expect(ca.checkpoint).toBe(cf.checkpoint);
      expect(cb.checkpoint).toBe(cf.checkpoint);
      expect(cf.size).toBe(6);
    } finally {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
