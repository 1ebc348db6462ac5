/** Every attack of the key-transparency threat model, run against a real relay behind a proxy that
 * misbehaves on command (tests/kt/evil-relay.ts). Each shows the attack detected, an alarm kept, and
 * no message encrypted to a wrong key. */
import { AgoraClient, type AgoraError } from '@agora/client-sdk';
import { nodeFetch } from '@agora/client-sdk/node';
import { fromB64u, toB64u, type DirectoryResponse, type KtUserResponse } from '@agora/protocol';
import { PolicySchema, type Policy, cosign, decodeEntry, formatSignatureLine, parseNote } from '@agora/protocol/kt';
import { readerKtHttp } from '../../client-sdk/src/transport/kt-http.js';
import { newWitnessKey, witnessStep, witnessVkey, type WitnessKey, type WitnessState } from '../../protocol/src/kt/witness.js';
import { nodeProfile } from '../../client-sdk/src/node/index.js';
import { PASSPHRASE, type Person } from '../helpers.js';
import { startEvilRelay, substituteDeviceKeys } from './evil-relay.js';
import { evilRelayWorld } from './evil-world.js';
import { ForkedLog, checkpointOf, insertCosignatures, logKeySeed, showForkedLog, signCheckpoint } from './forge.js';
import { generateDeviceKeys } from '../../protocol/src/crypto/device-keys.js';

/** Witnesses the published policy names (clients' own policies choose among them). */
const w1 = newWitnessKey('officer-laptop');
const w2 = newWitnessKey('it-archive');
/** The tests read the true log as the security officer's audit does: with an auditor key named in
 * the published policy (the log is not public). */
const env = evilRelayWorld({
  auditor: {
    signSeed: new Uint8Array(32).fill(5),
    encSecret: new Uint8Array(32).fill(6),
    witnesses: [{ name: w1.name, vkey: witnessVkey(w1) }, { name: w2.name, vkey: witnessVkey(w2) }],
    quorum: 1,
  },
});
const { join, upstream } = env;
const kt = () => env.auditorKt;

async function stateOf(p: Person) {
  return nodeProfile({ profileDir: p.dir, passphrase: PASSPHRASE }).load();
}

async function alarmKinds(c: AgoraClient): Promise<string[]> {
  return (await c.alarms()).map((a) => a.kind);
}

test('key substitution: a relay-served key that the log does not prove is never used', async () => {
  const alice = await join('Alice S');
  const bob = await join('Bob S');
  const mallory = await join('Mallory S');
  const g = await alice.client.createGroup({ name: 'subst', kind: 'secret' });
  const bobState = await stateOf(bob);
  const mal = await stateOf(mallory);
  // Mallory's key, dressed up as Bob's device, in the directory and in the KeyPackage directory.
  await substituteDeviceKeys(env.proxy, bobState, mal);
  await expect(alice.client.addMembers(g.id, ['Bob S'])).rejects.toMatchObject({ code: 'forbidden', message: /KeyPackage served for device .* is not that device's/ });
  env.proxy.set(undefined);
  expect(await alarmKinds(alice.client)).toEqual(expect.arrayContaining(['key_substitution', 'claim_mismatch']));
  // The alarm names Bob by his log id and name, so an app can point at him without parsing words.
  const substitution = (await alice.client.alarms()).find((a) => a.kind === 'key_substitution');
  expect(substitution?.subject).toEqual({ userId: bobState.userId, name: 'Bob S' });
  expect(env.proxy.seen.filter((e) => e.method === 'POST' && e.path.includes(`/groups/${g.id}/commits`))).toHaveLength(0);
  expect((await alice.client.groupMembers(g.id)).map((m) => m.name)).toEqual(['Alice S']);

  // With the true keys, Bob is added as usual.
  await alice.client.addMembers(g.id, ['Bob S']);
  await alice.client.send(g.id, 'only for Bob');
  expect((await bob.client.read(g.id)).messages.map((m) => m.text)).toEqual(['only for Bob']);
});

test("key substitution with no proof, or with another leaf's proof, fails closed", async () => {
  const carol = await join('Carol S');
  const dave = await join('Dave S');
  const erin = await join('Erin S');
  const daveId = (await stateOf(dave)).userId;
  const erinId = (await stateOf(erin)).userId;
  const g = await carol.client.createGroup({ name: 'proofs', kind: 'secret' });
  // No proof at all for Dave.
  env.proxy.set((ex) => (ex.path.startsWith(`/v1/kt/users/${daveId}`) ? { status: 404, body: { error: { code: 'not_found', message: 'no such user' } } } : undefined));
  await expect(carol.client.addMembers(g.id, ['Dave S'])).rejects.toMatchObject({ code: 'forbidden' });
  // Erin's entries and proofs served as Dave's.
  env.proxy.set(async (ex) => {
    if (!ex.path.startsWith(`/v1/kt/users/${daveId}`)) return undefined;
    return { body: await upstream<KtUserResponse>(ex.path.replace(daveId, erinId)) };
  });
  const err = (await carol.client.addMembers(g.id, ['Dave S']).catch((e: unknown) => e)) as AgoraError;
  expect(err.code).toBe('forbidden');
  expect(err.message).toMatch(/could not be verified/);
  expect(await alarmKinds(carol.client)).toContain('bad_chain');
  expect((await carol.client.groupMembers(g.id)).map((m) => m.name)).toEqual(['Carol S']);
});

test('an unauthorised device for a person: caught by their own monitoring and by the audit', async () => {
  const frank = await join('Frank S');
  const frankId = (await stateOf(frank)).userId;
  // (a) A device the relay merely lists, with no log entry: refused, and Frank is alarmed.
  const ghost = await generateDeviceKeys();
  env.proxy.set((ex) => {
    if (!ex.path.startsWith('/v1/directory')) return undefined;
    const body = structuredClone(ex.body) as DirectoryResponse;
    body.devices.push({ id: 'd_GhostGhostGhostGhostGh', userId: frankId, signPub: toB64u(ghost.signPub), encPub: toB64u(ghost.encPub), status: 'active', createdAt: Date.now() - 3_600_000, enrolledBy: 'device-invite' });
    return { body };
  });
  await frank.client.sync();
  env.proxy.set(undefined);
  expect(await alarmKinds(frank.client)).toContain('unknown_device');
  // A listed device dated in the future is not "too young for the log yet": it is an alarm at once.
  await frank.client.alarms({ clear: true });
  env.proxy.set((ex) => {
    if (!ex.path.startsWith('/v1/directory')) return undefined;
    const body = structuredClone(ex.body) as DirectoryResponse;
    body.devices.push({ id: 'd_FutureFutureFutureFutu', userId: frankId, signPub: toB64u(ghost.signPub), encPub: toB64u(ghost.encPub), status: 'active', createdAt: Date.now() + 10 * 365 * 86_400_000, enrolledBy: 'device-invite' });
    return { body };
  });
  await frank.client.sync();
  env.proxy.set(undefined);
  expect(await alarmKinds(frank.client)).toContain('unknown_device');
  // (b) An administrator (an insider) puts a device on Frank's account with their own invite.
  const { code } = await env.admin.createInvite({ name: 'Frank S' });
  await env.world.register(code);
  await frank.client.sync();
  const alarms = await frank.client.alarms();
  expect(alarms.find((a) => a.kind === 'device_added_by_admin')?.message).toMatch(/approved by Admin/);
  // The audit lists it, with who approved it.
  const { audit } = await import('../../protocol/src/kt/audit.js');
  const cp = await kt().checkpoint();
  const entries = await kt().allEntries(checkpointOf(cp.checkpoint).size);
  const policy = PolicySchema.parse({ log: { origin: (await kt().policy()).origin, vkey: (await kt().policy()).vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 3600 });
  const report = await audit({ policy, checkpointNote: cp.checkpoint, entries, now: Date.now() });
  const added = report.deviceChanges.filter((c) => c.userId === frankId && c.change === 'added');
  expect(added).toHaveLength(2);
  expect(added[1].approvedBy?.name).toBe('Admin');
});

test('rollback to a smaller log and rewritten history are refused, with evidence', async () => {
  const gina = await join('Gina S');
  const old = (await kt().checkpoint()).checkpoint;
  await join('Hugo S'); // the log grows
  await gina.client.sync();
  // Rollback: the relay shows Gina an older checkpoint.
  env.proxy.set((ex) => (ex.path.startsWith('/v1/kt/checkpoint') ? { body: { checkpoint: old, size: checkpointOf(old).size, cosigners: [] } } : undefined));
  await expect(gina.client.sync()).rejects.toMatchObject({ code: 'forbidden' });
  const rollback = (await gina.client.alarms()).find((a) => a.kind === 'rollback');
  expect(rollback?.evidence).toHaveLength(2);
  // Rewritten history: the same size, another root, signed with the log's own key.
  const seed = logKeySeed(env.world.dataDir);
  const real = await kt().checkpoint();
  const cp = checkpointOf(real.checkpoint);
  const entries = await kt().allEntries(cp.size);
  const rewritten = new ForkedLog(entries.slice(0, -1), [entries[0]]);
  const forgedNote = signCheckpoint(cp.origin, rewritten.size, rewritten.root(), seed);
  env.proxy.set(undefined);
  await gina.client.alarms({ clear: true });
  await gina.client.sync().catch(() => undefined); // honest again (its stored checkpoint is still the newest)
  env.proxy.set((ex) => (ex.path.startsWith('/v1/kt/checkpoint') ? { body: { checkpoint: forgedNote, size: rewritten.size, cosigners: [] } } : undefined));
  await expect(gina.client.sync()).rejects.toMatchObject({ code: 'forbidden' });
  const fork = (await gina.client.alarms()).find((a) => a.kind === 'fork');
  expect(fork?.evidence).toHaveLength(2);
  expect(fork?.evidence[1]).toBe(forgedNote);
});

test('a hidden revocation (stale key served) is caught by the snapshot', async () => {
  const ivan = await join('Ivan S');
  const judy = await join('Judy S');
  const ivanId = (await stateOf(ivan)).userId;
  await env.admin.deactivate('Ivan S');
  // The relay hides Ivan's revocation and deactivation: his old keys would look current.
  env.proxy.set(async (ex) => {
    if (!ex.path.startsWith(`/v1/kt/users/${ivanId}`)) return undefined;
    const body = structuredClone(ex.body) as KtUserResponse;
    body.entries = body.entries.filter((e) => {
      const t = decodeEntry(fromB64u(e.entry)).type;
      return t !== 'device-revoked' && t !== 'user-deactivated';
    });
    return { body };
  });
  await expect(judy.client.verifyUser('Ivan S')).rejects.toMatchObject({ code: 'forbidden' });
  expect((await judy.client.alarms()).some((a) => /hidden|snapshot/.test(a.message))).toBe(true);
  // ...or serves an older snapshot that still lists his keys.
  env.proxy.set(async (ex) => {
    if (!ex.path.startsWith(`/v1/kt/users/${ivanId}`)) return undefined;
    const body = structuredClone(ex.body) as KtUserResponse;
    const size = body.size;
    const older = await upstream<KtUserResponse>(`/v1/kt/users/${ivanId}?size=${size - 3}`);
    body.entries = body.entries.filter((e) => e.index < older.snapshot.index);
    body.snapshot = { ...older.snapshot, proof: (await upstream<{ proof: string[] }>(`/v1/kt/proof/inclusion?index=${older.snapshot.index}&size=${size}`)).proof };
    return { body };
  });
  await expect(judy.client.verifyUser('Ivan S')).rejects.toMatchObject({ code: 'forbidden' });
  env.proxy.set(undefined);
  const v = await judy.client.verifyUser('Ivan S');
  expect(v.status).toBe('deactivated');
  expect(v.devices.every((d) => !d.active)).toBe(true);
});

test('forged and wrong-origin checkpoints are refused; a revoked key replayed is not used', async () => {
  const kim = await join('Kim S');
  const real = checkpointOf((await kt().checkpoint()).checkpoint);
  const stranger = (await generateDeviceKeys()).signSeed;
  const forged = signCheckpoint(real.origin, real.size + 5, real.root, stranger);
  env.proxy.set((ex) => (ex.path.startsWith('/v1/kt/checkpoint') ? { body: { checkpoint: forged, size: real.size + 5, cosigners: [] } } : undefined));
  await expect(kim.client.sync()).rejects.toMatchObject({ code: 'forbidden' });
  expect((await kim.client.alarms({ clear: true })).map((a) => a.kind)).toEqual(['forged_checkpoint']);
  const wrongOrigin = signCheckpoint('agora/o_AAAAAAAAAAAAAAAAAAAAAA', real.size, real.root, logKeySeed(env.world.dataDir));
  env.proxy.set((ex) => (ex.path.startsWith('/v1/kt/checkpoint') ? { body: { checkpoint: wrongOrigin, size: real.size, cosigners: [] } } : undefined));
  await expect(kim.client.sync()).rejects.toMatchObject({ code: 'forbidden' });
  expect((await kim.client.alarms()).map((a) => a.kind)).toEqual(['forged_checkpoint']);

  // A revoked key replayed: the relay lists a deactivated person's device as active and pending.
  env.proxy.set(undefined);
  const leo = await join('Leo S');
  const leoState = await stateOf(leo);
  await env.admin.deactivate('Leo S');
  env.proxy.set((ex) => {
    if (ex.path.startsWith('/v1/directory')) {
      const body = structuredClone(ex.body) as DirectoryResponse;
      for (const u of body.users) if (u.id === leoState.userId) u.status = 'active';
      for (const d of body.devices) if (d.id === leoState.deviceId) d.status = 'active';
      return { body };
    }
    if (ex.path.startsWith('/v1/orgkeys/pending')) return { body: { pending: [{ deviceId: leoState.deviceId, missing: [1, 2] }] } };
    return undefined;
  });
  env.proxy.seen.length = 0;
  await kim.client.sync().catch(() => undefined);
  await env.admin.sync();
  expect(env.proxy.seen.filter((e) => e.path.startsWith('/v1/orgkeys/pending')).length).toBeGreaterThan(0);
  const uploads = env.proxy.seen.filter((e) => e.method === 'POST' && e.path.startsWith('/v1/orgkeys/envelopes'));
  for (const u of uploads) expect(JSON.stringify(u.request)).not.toContain(leoState.deviceId);
});

test('the log being unavailable fails closed, visibly, and nothing is sent', async () => {
  const mia = await join('Mia S');
  const g = await mia.client.createGroup({ name: 'offline-log', kind: 'secret' });
  env.proxy.set((ex) => (ex.path.startsWith('/v1/kt/') ? { status: 503, body: { error: { code: 'internal', message: 'down' } } } : undefined));
  env.proxy.seen.length = 0;
  const err = (await mia.client.send(g.id, 'should not leave').catch((e: unknown) => e)) as AgoraError;
  expect(err.message).toMatch(/key-transparency log is unavailable/);
  expect(env.proxy.seen.some((e) => e.method === 'POST' && e.path.includes('/records'))).toBe(false);
});

describe('witnesses', () => {
  const states = new Map<string, WitnessState | null>();

  async function cosignNow(key: WitnessKey): Promise<void> {
    const previous = states.get(key.name) ?? null;
    const { checkpoint } = await kt().checkpoint();
    const next = checkpointOf(checkpoint);
    const proof = previous && previous.size > 0 && next.size > previous.size ? (await kt().consistency(previous.size, next.size)).proof.map(fromB64u) : [];
    const step = witnessStep({ key, previous, logVkey: (await kt().policy()).vkey, noteText: checkpoint, consistencyProof: proof, nowMs: Date.now() });
    await readerKtHttp(env.world.url, nodeFetch, 'witness', fromB64u(key.seed)).cosign({ checkpoint, cosignature: step.cosignature, vkey: witnessVkey(key) });
    states.set(key.name, step.state);
  }

  async function policy(quorum: number, maxAge = 3600): Promise<Policy> {
    const p = await kt().policy();
    return PolicySchema.parse({
      log: { origin: p.origin, vkey: p.vkey },
      witnesses: [{ name: w1.name, vkey: witnessVkey(w1) }, { name: w2.name, vkey: witnessVkey(w2) }],
      quorum,
      maxCheckpointAgeSeconds: maxAge,
    });
  }

  test('quorum not met, and one witness counted twice, fail closed', async () => {
    await cosignNow(w1);
    const otto = (await join('Otto S', { policy: await policy(1) })).client;
    await cosignNow(w1);
    await otto.sync(); // one witness suffices under this policy
    await otto.setPolicy(await policy(2));
    await expect(otto.sync()).rejects.toBeTruthy(); // only one witness has cosigned anything
    // The relay repeats w1's line, and once more under w2's name: still one witness.
    env.proxy.set(async (ex) => {
      if (!ex.path.startsWith('/v1/kt/checkpoint')) return undefined;
      const body = await upstream<{ checkpoint: string; size: number; cosigners: string[] }>('/v1/kt/checkpoint?cosigners=1');
      const line = body.checkpoint.split('\n').find((l) => l.startsWith(`— ${w1.name} `))!;
      body.checkpoint = body.checkpoint + line + '\n' + line.replace(w1.name, w2.name) + '\n';
      return { body };
    });
    await expect(otto.sync()).rejects.toMatchObject({ code: 'forbidden' });
    env.proxy.set(undefined);
    await cosignNow(w1);
    await cosignNow(w2);
    await otto.sync(); // two distinct witnesses: accepted
  });

  test('junk cosignatures from invented witnesses change nothing: every device with a witness policy still syncs', async () => {
    const devices = [];
    for (const name of ['Vera S', 'Walt S', 'Xena S']) {
      await cosignNow(w1);
      devices.push((await join(name, { policy: await policy(1) })).client);
    }
    await cosignNow(w1);
    await join('Yann S'); // the log grows past what the witness cosigned
    const newest = checkpointOf((await kt().checkpoint()).checkpoint);
    // Invented witnesses (one under the real witness's name) cosign the newest checkpoint. The
    // relay's API turns them away: without a key in the published policy nobody signs in, and a
    // named witness posts only under its own key.
    const junk = ['officer-laptop', 'junk-1', 'junk-2'].map((n) => newWitnessKey(n));
    const body = parseNote((await kt().checkpoint()).checkpoint).text;
    const lines = junk.map((k) => formatSignatureLine(cosign(body, k.name, fromB64u(k.seed), Math.floor(Date.now() / 1000))));
    const w1Http = readerKtHttp(env.world.url, nodeFetch, 'witness', fromB64u(w1.seed));
    for (const [i, k] of junk.entries()) {
      await expect(readerKtHttp(env.world.url, nodeFetch, 'witness', fromB64u(k.seed)).cosign({ checkpoint: body, cosignature: lines[i], vkey: witnessVkey(k) }))
        .rejects.toMatchObject({ details: { status: 403 } });
      await expect(w1Http.cosign({ checkpoint: body, cosignature: lines[i], vkey: witnessVkey(k) })).rejects.toMatchObject({ details: { status: 403 } });
    }
    const anonymous = await fetch(`${env.world.url}/v1/kt/cosignatures`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ checkpoint: body, cosignature: lines[1], vkey: witnessVkey(junk[1]) }),
    });
    expect(anonymous.status).toBe(401);
    // The operator writes them into the database anyway: the count-only query now points at a
    // checkpoint no witness of the policy signed...
    insertCosignatures(env.world.dataDir, junk.map((k, i) => ({ size: newest.size, vkey: witnessVkey(k), name: k.name, line: lines[i], timestamp: Math.floor(Date.now() / 1000) })));
    expect(checkpointOf((await kt().checkpoint({ witnesses: junk.map(witnessVkey), quorum: 3 })).checkpoint).size).toBe(newest.size);
    // ...and yet every device, asking for its own witnesses by key, syncs.
    const results = await Promise.allSettled(devices.map((d) => d.sync()));
    expect(results.map((r) => r.status)).toEqual(devices.map(() => 'fulfilled'));
    for (const d of devices) expect(await alarmKinds(d)).toEqual([]);
  });

  test('a replayed old checkpoint is refused for freshness', async () => {
    let clock = Date.now();
    await cosignNow(w1);
    const paul = await join('Paul S', { policy: await policy(1, 60), now: () => clock });
    await cosignNow(w1);
    await paul.client.sync();
    clock += 3_600_000; // an hour later the relay still shows the same, long-witnessed checkpoint
    await expect(paul.client.sync()).rejects.toMatchObject({ code: 'forbidden' });
  });

  test('split view: caught by the witness and by the checkpoints members carry in their messages', async () => {
    const honest = await join('Quinn S');
    const victimProxy = await startEvilRelay(env.world.url);
    try {
      const victim = await join('Rita S', { via: victimProxy.url });
      const g = await honest.client.createGroup({ name: 'split', kind: 'secret' });
      await honest.client.addMembers(g.id, ['Rita S']);
      await victim.client.sync();
      // The relay forks the log for Rita: the real entries plus one more that nobody else sees.
      const forkNote = await showForkedLog(victimProxy, { kt: kt(), dataDir: env.world.dataDir, upstream });
      await victim.client.send(g.id, 'from the forked view');
      await join('Sam S'); // the real log grows past the fork
      await honest.client.send(g.id, 'from the real view');
      // Rita reads Quinn's message: his checkpoint cannot be reconciled with hers.
      await victim.client.read(g.id);
      expect(await alarmKinds(victim.client)).toContain('fork');
      // Quinn reads Rita's message: her checkpoint is not a prefix of the real log.
      await honest.client.read(g.id);
      const alarm = (await honest.client.alarms()).find((a) => a.kind === 'fork');
      expect(alarm?.evidence).toContain(forkNote);
      // And a witness that follows the real log refuses to cosign the fork.
      const w = newWitnessKey('split-witness');
      const first = witnessStep({ key: w, previous: null, logVkey: (await kt().policy()).vkey, noteText: (await kt().checkpoint()).checkpoint, consistencyProof: [], nowMs: Date.now() });
      expect(() => witnessStep({ key: w, previous: first.state, logVkey: first.state.logVkey, noteText: forkNote, consistencyProof: [], nowMs: Date.now() })).toThrow(/older|forked/);
    } finally {
      await victimProxy.close();
    }
  });
});

test('one key bound to two people is refused by clients and reported by the audit', async () => {
  const { registration, deviceKeys, call } = await import('../../server/src/testing.js');
  const keys = deviceKeys();
  // Two people enrol the same device keys (a shared or cloned device, or a relay that tried).
  for (const name of ['Twin One', 'Twin Two']) {
    const { code } = await env.admin.createInvite({ name, newPerson: true });
    const res = await call(env.world.url, 'POST', '/v1/register', await registration(env.world.url, code, keys));
    expect(res.status).toBe(201);
  }
  const tess = await join('Tess S');
  await tess.client.verifyUser('Twin One').catch(() => undefined);
  await expect(tess.client.verifyUser('Twin Two')).rejects.toMatchObject({ code: 'forbidden' });
  expect((await tess.client.alarms()).some((x) => /also bound to/.test(x.message))).toBe(true);
  const { audit } = await import('../../protocol/src/kt/audit.js');
  const cp = await kt().checkpoint();
  const p = await kt().policy();
  const report = await audit({
    policy: PolicySchema.parse({ log: { origin: p.origin, vkey: p.vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 3600 }),
    checkpointNote: cp.checkpoint,
    entries: await kt().allEntries(checkpointOf(cp.checkpoint).size),
    now: Date.now(),
  });
  expect(report.violations.map((v) => v.code)).toContain('key_bound_to_two_people');
});
