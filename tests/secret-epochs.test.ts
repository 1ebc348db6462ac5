/** Secret-group epochs, owners, recovery from invalid commits and post-compromise security, against
 * a real relay and SQLite store; the relay's misbehaviour comes from the misbehaving proxy
 * (tests/kt/evil-relay.ts) or from direct writes to its database. */
import { AgoraClient, RelayHttp } from '@agora/client-sdk';
import { nodeFetch, nodeProfile } from '@agora/client-sdk/node';
import { fromB64u, newId, type LogEntry } from '@agora/protocol';
import { openRecord, sealRecord } from '../client-sdk/src/crypto/records.js';
import { processCommit, type DeviceLookup } from '../client-sdk/src/mls/group.js';
import type { ProfileState } from '../client-sdk/src/core/state.js';
import { openSqliteStore } from '../server/src/store/sqlite.js';
import { runCli, profileState, treeUsers, PASSPHRASE, type Person } from './helpers.js';
import { castOf, evilRelayWorld } from './kt/evil-world.js';

const env = evilRelayWorld();
const people = castOf(env, ['Bob', 'Carol', 'Dave', 'Erin', 'Vic']);

const profileOf = (p: Person) => nodeProfile({ profileDir: p.dir, passphrase: PASSPHRASE });
const stateOf = (p: Person): Promise<ProfileState> => profileState(p.dir);
const treeOf = (p: Person, groupId: string): Promise<string[]> => treeUsers(p.dir, groupId);

async function texts(c: AgoraClient, group: string): Promise<string[]> {
  return (await c.read(group)).messages.map((m) => `${m.senderName}: ${m.text}`);
}

async function withStore<T>(fn: (store: Awaited<ReturnType<typeof openSqliteStore>>) => Promise<T>): Promise<T> {
  const store = await openSqliteStore(env.world.dataDir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function relayEpoch(groupId: string): Promise<number> {
  return withStore(async (s) => (await s.getGroup(groupId))!.epoch!);
}

/** A record sealed by `p`'s device under the content key it holds for relay epoch `epoch`. */
async function craftRecord(p: Person, groupId: string, epoch: number, text: string, key?: Uint8Array): Promise<{ sender: string; payload: string }> {
  const s = await stateOf(p);
  const payload = await sealRecord({
    record: {
      v: 1, id: newId('r'), groupId, epoch, senderUserId: s.userId, senderDeviceId: s.deviceId,
      // far beyond anything sent: a gap, never a replay
      counter: 10_000 + Math.floor(Math.random() * 10_000), sentAt: Date.now(), type: 'text', body: { text },
    },
    key: key ?? fromB64u(s.groups[groupId].epochKeys[String(epoch)]),
    signSeed: fromB64u(s.keys.signSeed),
  });
  return { sender: s.deviceId, payload };
}

/** The relay operator appends a record to a group's log behind the relay's back. */
async function inject(groupId: string, rec: { sender: string; payload: string }, epoch: number): Promise<void> {
  await withStore((s) => s.appendRecord({ groupId, epoch, sender: rec.sender, at: Date.now(), payload: rec.payload }));
}

describe('records carry the epoch in force', () => {
  let g: string;

  test('the relay refuses a record of another epoch with 409 and the current epoch', async () => {
    const { alice, bob } = { alice: people.Alice.client, bob: people.Bob.client };
    g = (await alice.createGroup({ name: 'Epochs', kind: 'secret' })).id;
    await alice.addMembers(g, ['Bob', 'Carol']);
    await bob.sync();
    const current = await relayEpoch(g);
    expect(current).toBeGreaterThan(0);
    const token = (await stateOf(people.Bob)).token!.value;
    const http = new RelayHttp(env.world.url, nodeFetch, async () => token);
    // The relay judges the declared epoch only (it cannot open the ciphertext).
    const stale = await craftRecord(people.Bob, g, current, 'old');
    await expect(http.appendRecord(g, { epoch: current - 1, ciphertext: stale.payload })).rejects.toMatchObject({
      code: 'stale_epoch',
      details: { status: 409, epoch: current },
    });
    await expect(http.appendRecord(g, { epoch: current + 1, ciphertext: stale.payload })).rejects.toMatchObject({ details: { status: 409, epoch: current } });
  });

  test('a commit landing between catch-up and send: the sender re-seals and retries, unnoticed', async () => {
    const { alice, bob } = { alice: people.Alice.client, bob: people.Bob.client };
    await alice.sync();
    const before = await relayEpoch(g);
    let armed = true;
    env.proxy.set(async (ex) => {
      // Alice's catch-up (the sync answer: she is up to date, so it shows the group's head unmoved
      // and she reads no log) is answered only after Bob committed.
      if (armed && ex.method === 'GET' && ex.path.startsWith('/v1/sync')) {
        armed = false;
        await bob.updateGroup(g);
      }
      return undefined;
    });
    const start = env.proxy.seen.length;
    await alice.send(g, 'sent across a commit');
    const posts = env.proxy.seen.slice(start).filter((ex) => ex.method === 'POST' && ex.path === `/v1/groups/${g}/records`);
    expect(posts.map((p) => p.status)).toEqual([409, 201]);
    // The refusal brought the commit she lacked: she applied it without reading the log.
    expect(env.proxy.seen.slice(start).filter((ex) => ex.path.startsWith(`/v1/groups/${g}/log`))).toEqual([]);
    expect(await relayEpoch(g)).toBe(before + 1);
    const read = await bob.read(g);
    expect(read.messages.map((m) => m.text)).toContain('sent across a commit');
    expect(read.warnings.filter((w) => w.includes('sent across'))).toEqual([]);
  });

  test('readers refuse a record held back past a removal, and a removed member\'s record injected after it', async () => {
    const { alice, bob } = { alice: people.Alice.client, bob: people.Bob.client };
    await people.Carol.client.sync();
    const e0 = await relayEpoch(g);
    // Sealed before the removal, by Alice and by Carol (who both hold epoch e0's key).
    const heldBack = await craftRecord(people.Alice, g, e0, 'held back by the relay');
    const carolOld = await craftRecord(people.Carol, g, e0, 'Carol, old epoch');
    await alice.removeMembers(g, ['Carol']);
    await bob.sync();
    const e1 = await relayEpoch(g);
    expect(e1).toBeGreaterThan(e0);
    // Carol with the new epoch's key (leaked to her) is still not a member of that epoch.
    const leaked = fromB64u((await stateOf(people.Bob)).groups[g].epochKeys[String(e1)]);
    const carolNew = await craftRecord(people.Carol, g, e1, 'Carol, new epoch', leaked);
    await inject(g, heldBack, e0);
    await inject(g, carolOld, e0);
    await inject(g, carolNew, e1);
    await alice.send(g, 'after the injections');
    for (const reader of [alice, bob]) {
      const read = await reader.read(g);
      const shown = read.messages.map((m) => m.text);
      expect(shown).toContain('after the injections');
      expect(shown).not.toContain('held back by the relay');
      expect(shown).not.toContain('Carol, old epoch');
      expect(shown).not.toContain('Carol, new epoch');
      expect(read.warnings.filter((w) => w.includes(`sealed for epoch ${e0}, but epoch ${e1} was in force`))).toHaveLength(2);
      expect(read.warnings.filter((w) => w.includes('was not a member of the group in epoch'))).toHaveLength(1);
    }
  });
});

describe('owners and recovery from invalid commits', () => {
  let g: string;

  test('the creator is the owner; a non-owner cannot add others, and a forced add is voided by every member', async () => {
    const { alice, bob, carol } = { alice: people.Alice.client, bob: people.Bob.client, carol: people.Carol.client };
    g = (await alice.createGroup({ name: 'Owners', kind: 'secret' })).id;
    await alice.addMembers(g, ['Bob', 'Carol']);
    const members = await bob.groupMembers(g);
    expect(members.filter((m) => m.owner).map((m) => m.name)).toEqual(['Alice']);
    await expect(bob.addMembers(g, ['Erin'])).rejects.toMatchObject({ code: 'forbidden' });
    await expect(bob.addOwner(g, 'Bob')).rejects.toMatchObject({ code: 'forbidden' });

    // A modified client: Bob's profile believes he is an owner; his client adds Erin anyway.
    const profile = profileOf(people.Bob);
    const s = await profile.load();
    s.groups[g].owners = [...s.groups[g].owners, s.userId].sort();
    await profile.save(s);
    await bob.addMembers(g, ['Erin']);

    for (const [name, c] of [['Alice', alice], ['Carol', carol]] as const) {
      const report = await c.sync();
      expect(report.warnings.some((w) => w.startsWith('ALARM:') && w.includes('refused and voided') && w.includes('only an owner'))).toBe(true);
      expect((await c.alarms()).some((a) => a.kind === 'commit_refused')).toBe(true);
      expect(await treeOf(people[name], g)).not.toContain((await stateOf(people.Erin)).userId);
    }
    // Erin's client joined from the Welcome of a voided commit: what it writes is refused.
    await people.Erin.client.sync();
    await people.Erin.client.send(g, 'Erin inside?');
    const read = await carol.read(g);
    expect(read.messages.map((m) => m.text)).not.toContain('Erin inside?');
    expect(read.warnings.some((w) => w.includes('was not a member of the group'))).toBe(true);
  });

  test('after the voided commit the group goes on: messages flow, an owner adds and removes', async () => {
    const { alice, carol, dave } = { alice: people.Alice.client, carol: people.Carol.client, dave: people.Dave.client };
    await alice.send(g, 'still talking');
    expect(await texts(carol, g)).toContain('Alice: still talking');
    await alice.addMembers(g, ['Dave']);
    await alice.removeMembers(g, ['Bob']);
    await dave.send(g, 'Dave is in');
    expect(await texts(carol, g)).toContain('Dave: Dave is in');
    const aliceState = await stateOf(people.Alice);
    const ids = { bob: (await stateOf(people.Bob)).userId, dave: (await stateOf(people.Dave)).userId, erin: (await stateOf(people.Erin)).userId };
    const tree = await treeOf(people.Carol, g);
    expect(tree).toContain(ids.dave);
    expect(tree).not.toContain(ids.bob);
    expect(await treeOf(people.Alice, g)).toEqual(tree);
    // The relay no longer routes to Erin's device either: Alice's commit dropped it.
    const routed = await withStore(async (st) => (await st.listGroupDevices(g)).map((d) => d.userId));
    expect(routed).not.toContain(ids.erin);
    expect(aliceState.groups[g].owners).toEqual([aliceState.userId]);
  });

  test('an owner names another owner, who may then add people', async () => {
    const { alice, carol } = { alice: people.Alice.client, carol: people.Carol.client };
    await alice.addOwner(g, 'Carol');
    await carol.sync();
    const owners = (await carol.groupMembers(g)).filter((m) => m.owner).map((m) => m.name).sort();
    expect(owners).toEqual(['Alice', 'Carol']);
    await carol.addMembers(g, ['Erin']);
    const report = await alice.sync();
    expect(report.warnings.filter((w) => w.includes('voided'))).toEqual([]);
    expect(await treeOf(people.Alice, g)).toContain((await stateOf(people.Erin)).userId);
  });

  test('a garbage commit accepted by the relay is voided by everyone without freezing the group', async () => {
    const { alice, carol, dave } = { alice: people.Alice.client, carol: people.Carol.client, dave: people.Dave.client };
    const epoch = await relayEpoch(g);
    const daveDevice = (await stateOf(people.Dave)).deviceId;
    const outcome = await withStore((s) =>
      s.applyCommit({ groupId: g, expectedEpoch: epoch, sender: daveDevice, at: Date.now(), payload: 'AAAAAAAA', added: [], removed: [], welcome: null }),
    );
    expect(outcome.ok).toBe(true);
    for (const c of [alice, carol, dave]) {
      const report = await c.sync();
      expect(report.warnings.some((w) => w.includes('refused and voided'))).toBe(true);
    }
    await carol.send(g, 'after the garbage');
    expect(await texts(dave, g)).toContain('Carol: after the garbage');
    await alice.removeMembers(g, ['Dave']);
    await alice.addMembers(g, ['Bob']);
    await people.Bob.client.send(g, 'Bob is back');
    expect(await texts(carol, g)).toContain('Bob: Bob is back');
  });

  test('a voided removal cuts a member off at the relay only until the next valid commit', async () => {
    const { alice, bob, carol } = { alice: people.Alice.client, bob: people.Bob.client, carol: people.Carol.client };
    // Bob's modified client removes Carol; every other member voids it, but the relay stopped routing to her.
    const profile = profileOf(people.Bob);
    const s = await profile.load();
    s.groups[g].owners = [...s.groups[g].owners, s.userId].sort();
    await profile.save(s);
    await bob.removeMembers(g, ['Carol']);
    const carolDevice = (await stateOf(people.Carol)).deviceId;
    const routed = () => withStore(async (st) => (await st.listGroupDevices(g)).map((d) => d.deviceId));
    expect(await routed()).not.toContain(carolDevice);
    expect((await alice.sync()).warnings.some((w) => w.includes('refused and voided'))).toBe(true);
    expect(await treeOf(people.Alice, g)).toContain((await stateOf(people.Carol)).userId);
    // Alice's next commit (here an update) routes to Carol again; Carol follows on.
    await alice.updateGroup(g);
    expect(await routed()).toContain(carolDevice);
    await alice.send(g, 'Carol, you are still in');
    const read = await carol.read(g);
    expect(read.messages.map((m) => m.text)).toContain('Carol, you are still in');
    await carol.send(g, 'thanks');
    expect(await texts(alice, g)).toContain('Carol: thanks');
  });
});

describe('post-compromise security', () => {
  test("a stolen copy of a device's group state decrypts until that device's next update commit", async () => {
    const { alice, bob, carol } = { alice: people.Alice.client, bob: people.Bob.client, carol: people.Carol.client };
    const g = (await alice.createGroup({ name: 'PCS', kind: 'secret' })).id;
    await alice.addMembers(g, ['Bob', 'Carol']);
    await bob.sync();
    // The thief copies Bob's group state once (and, as the relay's operator, reads every log entry).
    const stolen = (await stateOf(people.Bob)).groups[g];
    let mls = fromB64u(stolen.mls!);
    let epoch = stolen.logEpoch!;
    let cursor = stolen.cursor;
    const keys = new Map<number, Uint8Array>([[epoch, fromB64u(stolen.epochKeys[String(epoch)])]]);
    const directory = await alice.directory();
    const lookup: DeviceLookup = (id) => {
      const d = directory.devices.find((x) => x.id === id);
      return d ? { userId: d.userId, signPub: fromB64u(d.signPub) } : undefined;
    };
    const { exportContentKey } = await import('../client-sdk/src/mls/group.js');
    /** Follows the log with the stolen state; returns the texts it could open. */
    const follow = async (): Promise<string[]> => {
      const entries = (await withStore((s) => s.readLog(g, cursor, 1000))) as LogEntry[];
      const opened: string[] = [];
      for (const e of entries) {
        cursor = e.seq;
        if (e.kind === 'commit') {
          try {
            const r = await processCommit(mls, e.payload, { added: e.added ?? [], removed: e.removed ?? [] }, lookup);
            mls = r.state;
            epoch = e.epoch + 1;
            keys.set(epoch, await exportContentKey(mls));
          } catch {
            // the thief cannot follow this commit
          }
          continue;
        }
        const key = keys.get(e.epoch);
        if (!key) continue;
        const sender = lookup(e.sender)!;
        try {
          const r = await openRecord({ ciphertext: e.payload, key, groupId: g, epoch: e.epoch, senderDeviceId: e.sender, senderSignPub: sender.signPub });
          if (r.type === 'text') opened.push(r.body.text);
        } catch {
          // not readable with the thief's keys
        }
      }
      return opened;
    };
    await carol.updateGroup(g); // someone else's commit: the stolen state follows it
    await alice.send(g, 'before Bob updates');
    expect(await follow()).toContain('before Bob updates');
    // The victim's own update: its path secrets are encrypted only to the other members' subtrees.
    await bob.updateGroup(g);
    await alice.send(g, 'after Bob updated');
    await carol.updateGroup(g);
    await alice.send(g, 'two epochs later');
    const after = await follow();
    expect(after).not.toContain('after Bob updated');
    expect(after).not.toContain('two epochs later');
    expect(await texts(bob, g)).toEqual(expect.arrayContaining(['Alice: after Bob updated', 'Alice: two epochs later']));
  });

  test('every member device updates after 7 days and after 1,000 records sent', async () => {
    const { alice } = { alice: people.Alice.client };
    const vic = people.Vic.client;
    const g = (await alice.createGroup({ name: 'Cadence', kind: 'secret' })).id;
    await alice.addMembers(g, ['Vic']);
    await vic.sync();
    const vicDevice = (await stateOf(people.Vic)).deviceId;
    const commitsBy = async (device: string) => withStore(async (s) => (await s.readLog(g, 0, 1000)).filter((e) => e.kind === 'commit' && e.sender === device).length);
    await vic.sync();
    expect(await commitsBy(vicDevice)).toBe(0);
    // By time: the last update (here the join) was 8 days ago.
    const profile = profileOf(people.Vic);
    const eightDaysAgo = await profile.load();
    eightDaysAgo.groups[g].pcs.at = Date.now() - 8 * 24 * 3600 * 1000;
    await profile.save(eightDaysAgo);
    await vic.sync();
    expect(await commitsBy(vicDevice)).toBe(1);
    await vic.sync();
    expect(await commitsBy(vicDevice)).toBe(1);
    // By volume: once 1,000 records went out since the last update, the next one is preceded by one.
    const s = await profile.load();
    s.groups[g].pcs.sent = 999;
    await profile.save(s);
    await vic.send(g, 'record 999');
    expect(await commitsBy(vicDevice)).toBe(1);
    await vic.send(g, 'record 1000');
    expect(await commitsBy(vicDevice)).toBe(2);
    expect(await texts(alice, g)).toEqual(['Vic: record 999', 'Vic: record 1000']);
  });
});

describe('CLI', () => {
  test('group owner add, group members marks owners, group update sends an update commit', async () => {
    const g = (await people.Alice.client.createGroup({ name: 'CLI owners', kind: 'secret' })).id;
    await people.Alice.client.addMembers(g, ['Dave', 'Erin']);
    await people.Dave.client.sync();
    const denied = await runCli(['group', 'owner', 'add', g, 'Erin'], { profile: people.Dave.dir });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr.trim().split('\n')).toHaveLength(1);
    expect(denied.stderr).toMatch(/only an owner/);
    // Alice's profile talks to the proxy; the CLI reaches the same relay through it.
    const named = await runCli(['group', 'owner', 'add', g, 'Dave'], { profile: people.Alice.dir });
    expect(named.code).toBe(0);
    const listed = await runCli(['group', 'members', g], { profile: people.Dave.dir });
    expect(listed.code).toBe(0);
    const owners = listed.stdout.split('\n').filter((l) => l.endsWith('\towner')).map((l) => l.split('\t')[1]).sort();
    expect(owners).toEqual(['Alice', 'Dave']);
    const before = await relayEpoch(g);
    const updated = await runCli(['group', 'update', g], { profile: people.Erin.dir });
    expect(updated.code).toBe(0);
    expect(await relayEpoch(g)).toBe(before + 1);
    expect(updated.stdout.trim()).toBe(`epoch ${before + 1}`);
  });
});
