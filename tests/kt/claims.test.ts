/** KeyPackage claims through a relay that lies (tests/kt/evil-relay.ts): a client adds to a secret
 * group exactly the devices it asked for. An extra device in the claim answer (the operator's own,
 * log-proven one), a device left out, a package of another device served under the requested id,
 * or a device answered twice abort the whole change with an error and an alarm; a device that has
 * no packages left is an error for an explicit add, never a silent omission. */
import { rm } from 'node:fs/promises';
import { AgoraClient, type AgoraError } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import type { ClaimKeyPackagesResponse } from '@agora/protocol';
import { nodeProfile } from '../../client-sdk/src/node/index.js';
import { runCli, startWorld, tempDir, PASSPHRASE, type World } from '../helpers.js';
import { startEvilRelay, type EvilRelay } from './evil-relay.js';

let world: World;
let admin: AgoraClient;
let proxy: EvilRelay;
const dirs: string[] = [];

interface Person { client: AgoraClient; dir: string; userId: string; deviceId: string }

async function join(name: string, via?: string): Promise<Person> {
  const dir = await tempDir('claims');
  dirs.push(dir);
  const { code } = await admin.createInvite({ name, newPerson: true });
  const client = await AgoraClient.register(nodeDeps({ profileDir: dir, passphrase: PASSPHRASE, addGraceMs: 0 }), { server: via ?? world.url, invite: code });
  return { client, dir, userId: client.me.userId, deviceId: client.me.deviceId };
}

/** One of the person's own KeyPackages as it sits on the relay: valid, signed, log-proven. */
async function packageOf(p: Person): Promise<string> {
  const state = await nodeProfile({ profileDir: p.dir, passphrase: PASSPHRASE }).load();
  return state.keyPackages.find((k) => !k.lastResort)!.publicPackage;
}

const claims = () => proxy.seen.filter((e) => e.path.startsWith('/v1/keypackages/claim'));
const commits = (groupId: string) => proxy.seen.filter((e) => e.method === 'POST' && e.path.startsWith(`/v1/groups/${groupId}/commits`));

/** Rewrites the claim answer with `edit`. */
function tamperClaim(edit: (real: ClaimKeyPackagesResponse) => ClaimKeyPackagesResponse): void {
  proxy.set((ex) => (ex.path.startsWith('/v1/keypackages/claim') && ex.status === 200 ? { body: edit(ex.body as ClaimKeyPackagesResponse) } : undefined));
}

let alice: Person;
let bob: Person;
let carol: Person;
let mallory: Person;

beforeAll(async () => {
  world = await startWorld();
  admin = (await world.register(world.adminInvite, 'Admin')).client;
  proxy = await startEvilRelay(world.url);
  alice = await join('Alice C', proxy.url);
  bob = await join('Bob C');
  carol = await join('Carol C');
  mallory = await join('Mallory C');
});
afterEach(() => proxy.set(undefined));
afterAll(async () => {
  await proxy.close();
  await world.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function refused(groupId: string, attempt: () => Promise<unknown>, why: RegExp): Promise<void> {
  const before = commits(groupId).length;
  const err = (await attempt().then(() => undefined, (e: unknown) => e)) as AgoraError | undefined;
  expect(err).toBeDefined();
  expect(err!.code).toBe('forbidden');
  expect(err!.message).toMatch(why);
  expect(commits(groupId)).toHaveLength(before);
  const alarms = await alice.client.alarms();
  expect(alarms.filter((a) => a.kind === 'claim_mismatch').map((a) => a.message).join('\n')).toMatch(why);
}

test("the operator's own log-proven device appended to the claim answer is not added", async () => {
  const g = await alice.client.createGroup({ name: 'extra', kind: 'secret' });
  const malloryPackage = await packageOf(mallory);
  tamperClaim((real) => ({ ...real, keyPackages: [...real.keyPackages, { deviceId: mallory.deviceId, keyPackage: malloryPackage, lastResort: false }] }));
  await refused(g.id, () => alice.client.addMembers(g.id, ['Bob C']), new RegExp(`device ${mallory.deviceId}, which was not asked for`));
  // The claim named the group, and the relay saw it.
  expect(claims().at(-1)!.request).toEqual({ groupId: g.id, deviceIds: [bob.deviceId] });
  expect((await alice.client.groupMembers(g.id)).map((m) => m.name)).toEqual(['Alice C']);
  expect((await mallory.client.sync()).newMessages).toEqual([]);
  await expect(mallory.client.read(g.id)).rejects.toMatchObject({ code: 'not_a_member' });

  // With an honest answer Bob, and only Bob, is added.
  proxy.set(undefined);
  await alice.client.addMembers(g.id, ['Bob C']);
  expect((await alice.client.groupMembers(g.id)).map((m) => m.name).sort()).toEqual(['Alice C', 'Bob C']);
});

test('a KeyPackage of another device, or of another key, served for the requested device aborts the add', async () => {
  const g = await alice.client.createGroup({ name: 'substituted', kind: 'secret' });
  const carolPackage = await packageOf(carol);
  tamperClaim((real) => ({ ...real, keyPackages: real.keyPackages.map((k) => ({ ...k, keyPackage: carolPackage })) }));
  await refused(g.id, () => alice.client.addMembers(g.id, ['Bob C']), new RegExp(`KeyPackage served for device ${bob.deviceId} is not that device's`));
  expect((await alice.client.groupMembers(g.id)).map((m) => m.name)).toEqual(['Alice C']);
});

test('a requested device left out of the answer, or answered twice, aborts the add', async () => {
  const g = await alice.client.createGroup({ name: 'left out', kind: 'secret' });
  tamperClaim(() => ({ keyPackages: [], missing: [] }));
  await refused(g.id, () => alice.client.addMembers(g.id, ['Bob C']), new RegExp(`left out device ${bob.deviceId}`));
  tamperClaim((real) => ({ ...real, keyPackages: [...real.keyPackages, ...real.keyPackages] }));
  await refused(g.id, () => alice.client.addMembers(g.id, ['Bob C']), new RegExp(`answered twice for device ${bob.deviceId}`));
  tamperClaim((real) => ({ keyPackages: real.keyPackages, missing: [bob.deviceId] }));
  await refused(g.id, () => alice.client.addMembers(g.id, ['Bob C']), new RegExp(`answered twice for device ${bob.deviceId}`));
  expect((await alice.client.groupMembers(g.id)).map((m) => m.name)).toEqual(['Alice C']);
});

test('a device with no KeyPackages left is an error for an explicit add: nobody is added', async () => {
  const g = await alice.client.createGroup({ name: 'empty stock', kind: 'secret' });
  const alarmsBefore = (await alice.client.alarms()).length;
  tamperClaim((real) => ({ keyPackages: real.keyPackages.filter((k) => k.deviceId !== carol.deviceId), missing: [carol.deviceId] }));
  const err = (await alice.client.addMembers(g.id, ['Bob C', 'Carol C']).catch((e: unknown) => e)) as AgoraError;
  expect(err.code).toBe('no_key');
  expect(err.message).toMatch(/nobody was added: Carol C .* has no KeyPackages left/);
  expect(commits(g.id)).toHaveLength(0);
  // Running out of packages is no attack: no alarm.
  expect(await alice.client.alarms()).toHaveLength(alarmsBefore);
  expect((await alice.client.groupMembers(g.id)).map((m) => m.name)).toEqual(['Alice C']);
});

test('agora group add with a substituted KeyPackage exits non-zero with one line', async () => {
  const profile = await tempDir('claims-cli');
  dirs.push(profile);
  const { code } = await admin.createInvite({ name: 'Dora C', newPerson: true });
  const reg = await runCli(['register', '--server', proxy.url, '--invite', code], { profile });
  expect(reg.code).toBe(0);
  const gid = (await runCli(['group', 'create', 'cli-claims', '--kind', 'secret'], { profile })).stdout.trim();
  expect(gid).toMatch(/^g_/);
  const carolPackage = await packageOf(carol);
  tamperClaim((real) => ({ ...real, keyPackages: real.keyPackages.map((k) => ({ ...k, keyPackage: carolPackage })) }));
  const r = await runCli(['group', 'add', gid, 'Bob C'], { profile });
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/not changing the group: the KeyPackage served for device .* is not that device's/);
  expect(commits(gid)).toHaveLength(0);
});
