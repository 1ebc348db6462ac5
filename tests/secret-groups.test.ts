/** Multi-client scenarios for secret groups through the SDK against a real relay and SQLite store. */
import { AgoraClient, AgoraError, RelayHttp } from '@agora/client-sdk';
import { nodeFetch, nodeProfile } from '@agora/client-sdk/node';
import { fromB64u } from '@agora/protocol';
import { openRecord } from '../client-sdk/src/crypto/records.js';
import { startWorld, PASSPHRASE, type World } from './helpers.js';
import { openSqliteStore } from '../server/src/store/sqlite.js';

let world: World;
let adminDir = '';
let admin: AgoraClient;
const people: Record<string, { client: AgoraClient; profileDir: string }> = {};

async function invite(name: string) {
  const inv = await admin.createInvite({ name });
  people[name] = await world.register(inv.code);
  return people[name].client;
}

async function texts(c: AgoraClient, group: string): Promise<string[]> {
  return (await c.read(group)).messages.map((m) => `${m.senderName}: ${m.text}`);
}

/** All content keys a device holds for a group, read from its (decrypted) profile. */
async function heldKeys(profileDir: string, groupId: string): Promise<Uint8Array[]> {
  const state = await nodeProfile({ profileDir: profileDir, passphrase: PASSPHRASE }).load();
  return Object.values(state.groups[groupId]?.epochKeys ?? {}).map(fromB64u);
}

/** The stored ciphertext and metadata of every record in a group, read straight from the relay's store. */
async function storedRecords(groupId: string) {
  const store = await openSqliteStore(world.dataDir);
  try {
    return (await store.readLog(groupId, 0, 1000)).filter((e) => e.kind === 'record');
  } finally {
    await store.close();
  }
}

async function cannotOpenAny(profileDir: string, groupId: string, entry: { payload: string; epoch: number; sender: string }, signPub: Uint8Array) {
  const keys = await heldKeys(profileDir, groupId);
  for (const key of keys) {
    await expect(openRecord({ ciphertext: entry.payload, key, groupId, epoch: entry.epoch, senderDeviceId: entry.sender, senderSignPub: signPub })).rejects.toThrow();
  }
}

beforeAll(async () => {
  world = await startWorld();
  const a = await world.register(world.adminInvite, 'Admin');
  admin = a.client;
  adminDir = a.profileDir;
  for (const n of ['Alice', 'Bob', 'Carol', 'Dave', 'Erin']) await invite(n);
});

afterAll(async () => {
  await world.close();
});

describe('secret groups', () => {
  let groupId: string;

  test('three people converse; everyone sees the same ordered history', async () => {
    const { alice, bob, carol } = { alice: people.Alice.client, bob: people.Bob.client, carol: people.Carol.client };
    const g = await alice.createGroup({ name: 'Bauamt intern', kind: 'secret' });
    groupId = g.id;
    await alice.addMembers('Bauamt intern', ['Bob', 'Carol']);
    await alice.send(g.id, 'Hello from Alice');
    await bob.send('Bauamt intern', 'Hello from Bob');
    await carol.send(g.id, 'Hello from Carol');
    const expected = ['Alice: Hello from Alice', 'Bob: Hello from Bob', 'Carol: Hello from Carol'];
    for (const c of [alice, bob, carol]) expect(await texts(c, g.id)).toEqual(expected);
    const members = await bob.groupMembers(g.id);
    expect(members.map((m) => m.name).sort()).toEqual(['Alice', 'Bob', 'Carol']);
  });

  test('a removed person cannot decrypt anything sent afterwards', async () => {
    const { alice, bob, carol } = { alice: people.Alice.client, bob: people.Bob.client, carol: people.Carol.client };
    // Only owners remove other people: Alice, who created the group, makes Bob one.
    await alice.addOwner(groupId, 'Bob');
    await bob.removeMembers(groupId, ['Carol']);
    await alice.send(groupId, 'Carol must not read this');
    expect((await texts(bob, groupId)).at(-1)).toBe('Alice: Carol must not read this');
    // The relay refuses her, and her client knows it was removed.
    await expect(carol.read(groupId)).rejects.toMatchObject({ code: 'not_a_member' });
    await expect(carol.send(groupId, 'still here?')).rejects.toBeInstanceOf(AgoraError);
    // Even with the ciphertext in hand (e.g. from a backup), none of her keys opens it.
    const records = await storedRecords(groupId);
    const secret = records.at(-1)!;
    const aliceDevice = (await alice.directory()).devices.find((d) => d.id === secret.sender)!;
    await cannotOpenAny(people.Carol.profileDir, groupId, secret, fromB64u(aliceDevice.signPub));
  });

  test('a newly added member cannot decrypt what was sent before they joined', async () => {
    const { alice, dave } = { alice: people.Alice.client, dave: people.Dave.client };
    await alice.send(groupId, 'before Dave joined');
    await alice.addMembers(groupId, ['Dave']);
    await alice.send(groupId, 'welcome Dave');
    const seen = await texts(dave, groupId);
    expect(seen).toEqual(['Alice: welcome Dave']);
    const all = await storedRecords(groupId);
    // Dave's first key is that of the epoch his add started (the adder's update commit follows it).
    const daveState = await nodeProfile({ profileDir: people.Dave.profileDir, passphrase: PASSPHRASE }).load();
    const joinEpoch = Math.min(...Object.keys(daveState.groups[groupId].epochKeys).map(Number));
    const before = all.filter((e) => e.epoch < joinEpoch);
    expect(before.length).toBeGreaterThan(3);
    const aliceDevice = (await alice.directory()).devices.find((d) => d.userId === (alice.me.userId))!;
    for (const entry of before) await cannotOpenAny(people.Dave.profileDir, groupId, entry, fromB64u(aliceDevice.signPub));
  });

  test('non-members (the admin included) get 403 from the relay', async () => {
    await expect(admin.read(groupId)).rejects.toMatchObject({ code: 'not_a_member' });
    await admin.sync(); // leaves a fresh token in the admin's profile
    const adminState = await nodeProfile({ profileDir: adminDir, passphrase: PASSPHRASE }).load();
    const http = new RelayHttp(world.url, nodeFetch, async () => adminState.token?.value);
    await expect(http.log(groupId, 0)).rejects.toMatchObject({ details: { status: 403 } });
    await expect(http.appendRecord(groupId, { epoch: 0, ciphertext: 'AAAA' })).rejects.toMatchObject({ details: { status: 403 } });
    const membership = { commitment: 'A'.repeat(43), sealedForAuditors: [], signature: 'A'.repeat(86) };
    await expect(http.commit(groupId, { epoch: 0, commit: 'AAAA', added: [adminState.deviceId], removed: [], welcome: 'AAAA', membership })).rejects.toMatchObject({ details: { status: 403 } });
  });

  test('two members committing at once converge', async () => {
    const { alice, bob, erin } = { alice: people.Alice.client, bob: people.Bob.client, erin: people.Erin.client };
    // Bob re-adds Carol while Alice adds Erin: one commit wins, the other catches up and retries.
    await Promise.all([alice.addMembers(groupId, ['Erin']), bob.addMembers(groupId, ['Carol'])]);
    await alice.send(groupId, 'after the race');
    for (const c of [alice, bob, people.Carol.client, people.Dave.client, erin]) {
      expect((await texts(c, groupId)).at(-1)).toBe('Alice: after the race');
    }
    const names = (await alice.groupMembers(groupId)).map((m) => m.name).sort();
    expect(names).toEqual(['Alice', 'Bob', 'Carol', 'Dave', 'Erin']);
  });

  test("a person's second device joins all their groups and gets their history", async () => {
    const bob = people.Bob.client;
    const { code } = await bob.linkDevice();
    const bob2 = (await world.register(code)).client;
    expect(bob2.me.userId).toBe(bob.me.userId);
    await bob.sync(); // Bob's first device adds the new one and hands over the history
    const history = await texts(bob2, groupId);
    expect(history).toContain('Alice: Hello from Alice');
    expect(history.at(-1)).toBe('Alice: after the race');
    await bob2.send(groupId, 'from my phone');
    expect((await texts(people.Alice.client, groupId)).at(-1)).toBe('Bob: from my phone');
  });
});
