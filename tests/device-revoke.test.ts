/** Revoking one device (a lost or stolen phone) against a real relay and SQLite store, with several
 * clients: the relay refuses the device at once (token and socket), members remove it from every
 * secret group, its person's other devices refresh their keys in theirs, the organisation key
 * rotates, and a copy of the device's state taken before opens nothing written afterwards. */
import WebSocket from 'ws';
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps, nodeProfile } from '@agora/client-sdk/node';
import { decodeEntry } from '@agora/protocol/kt';
import { fromB64u, newId, WS_PROTOCOL, wsTokenProtocol, type LogEntry } from '@agora/protocol';
import { derivePublicGroupKey } from '../client-sdk/src/crypto/orgkeys.js';
import { openRecord } from '../client-sdk/src/crypto/records.js';
import { exportContentKey, groupInfo, processCommit, type DeviceLookup } from '../client-sdk/src/mls/group.js';
import type { ProfileState } from '../client-sdk/src/core/state.js';
import { openSqliteStore } from '../server/src/store/sqlite.js';
import { call } from '../server/src/testing.js';
import { runCli, startWorld, tempDir, PASSPHRASE, type World } from './helpers.js';
import { startEvilRelay } from './kt/evil-relay.js';

let world: World;
let admin: AgoraClient;
let adminDir: string;
interface Device { client: AgoraClient; dir: string; id: string }

const stateOf = (dir: string): Promise<ProfileState> => nodeProfile({ profileDir: dir, passphrase: PASSPHRASE }).load();

async function device(client: AgoraClient, dir: string): Promise<Device> {
  return { client, dir, id: client.me.deviceId };
}

/** A new person with one device. */
async function person(name: string): Promise<Device> {
  const r = await world.register((await admin.createInvite({ name, newPerson: true })).code, name);
  return device(r.client, r.profileDir);
}

/** A further device of the same person, linked from one of theirs (so approved by them). */
async function linked(from: Device): Promise<Device> {
  const r = await world.register((await from.client.linkDevice()).code);
  return device(r.client, r.profileDir);
}

async function withStore<T>(fn: (store: Awaited<ReturnType<typeof openSqliteStore>>) => Promise<T>): Promise<T> {
  const store = await openSqliteStore(world.dataDir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const readLog = (groupId: string, after = 0) => withStore((s) => s.readLog(groupId, after, 1000)) as Promise<LogEntry[]>;
const texts = async (c: AgoraClient, g: string) => (await c.read(g)).messages.map((m) => m.text);
const tokenOf = async (d: Device) => (await stateOf(d.dir)).token!.value;
const treeDevices = async (d: Device, g: string) => groupInfo(fromB64u((await stateOf(d.dir)).groups[g].mls!)).members.map((m) => m.deviceId).sort();

/** A thief's copy of one device's state of a secret group, reading the group's whole log (as the
 * relay's operator can) with only what the copy holds: returns the texts it opens. Commits the copy
 * already holds are skipped; later ones it follows if its keys let it. */
async function thief(stolen: ProfileState, g: string): Promise<() => Promise<string[]>> {
  const local = stolen.groups[g];
  let mls = fromB64u(local.mls!);
  const held = local.cursor;
  let cursor = 0;
  const keys = new Map<number, Uint8Array>(Object.entries(local.epochKeys).map(([e, k]) => [Number(e), fromB64u(k)]));
  const directory = await admin.directory();
  const lookup: DeviceLookup = (id) => {
    const d = directory.devices.find((x) => x.id === id);
    return d ? { userId: d.userId, signPub: fromB64u(d.signPub) } : undefined;
  };
  return async () => {
    const opened: string[] = [];
    for (const e of await readLog(g, cursor)) {
      cursor = e.seq;
      if (e.kind === 'commit') {
        if (e.seq <= held) continue;
        try {
          mls = (await processCommit(mls, e.payload, { added: e.added ?? [], removed: e.removed ?? [] }, lookup)).state;
          keys.set(e.epoch + 1, await exportContentKey(mls));
        } catch {
          // a commit the copy cannot follow
        }
        continue;
      }
      const key = keys.get(e.epoch);
      const sender = lookup(e.sender);
      if (!key || !sender) continue;
      try {
        const r = await openRecord({ ciphertext: e.payload, key, groupId: g, epoch: e.epoch, senderDeviceId: e.sender, senderSignPub: sender.signPub });
        if (r.type === 'text') opened.push(r.body.text);
      } catch {
        // not readable with the copy's keys
      }
    }
    return opened;
  };
}

/** Index of the log's DEVICE_REVOKED entry for the device, with who revoked it. */
async function revocationEntry(deviceId: string): Promise<{ index: number; byUserId: string } | undefined> {
  return withStore(async (s) => {
    const all = await s.readKtEntries(0, await s.ktSize());
    for (const [index, bytes] of all.entries()) {
      const e = decodeEntry(bytes);
      if (e.type === 'device-revoked' && e.deviceId === deviceId) return { index, byUserId: e.byUserId };
    }
    return undefined;
  });
}

beforeAll(async () => {
  world = await startWorld();
  const r = await world.register(world.adminInvite, 'Admin');
  admin = r.client;
  adminDir = r.profileDir;
}, 60_000);
afterAll(async () => world.close());

describe('a lost phone revoked from another device of its person', () => {
  test('refused at once, removed from every secret group, keys refreshed, organisation key rotated', async () => {
    const alice = await person('Alice');
    const carol = await person('Carol');
    const laptop = await person('Bob');
    const phone = await linked(laptop);
    await admin.sync(); // seals the organisation key to everyone registered so far

    const board = await admin.createGroup({ name: 'Aushang', kind: 'public' });
    await admin.send(board.id, 'vor dem Verlust');
    expect(await texts(phone.client, board.id)).toEqual(['vor dem Verlust']);

    const project = (await alice.client.createGroup({ name: 'Projekt', kind: 'secret' })).id;
    await alice.client.addMembers(project, ['Bob', 'Carol']);
    const coffee = (await carol.client.createGroup({ name: 'Kaffee', kind: 'secret' })).id;
    await carol.client.addMembers(coffee, ['Bob']);
    for (const d of [laptop, phone]) await d.client.sync();
    expect(await treeDevices(alice, project)).toEqual(expect.arrayContaining([laptop.id, phone.id]));
    expect(await treeDevices(carol, coffee)).toEqual(expect.arrayContaining([laptop.id, phone.id]));
    await alice.client.send(project, 'vorher');
    expect(await texts(phone.client, project)).toEqual(['vorher']);

    // The thief copies the phone's whole state, and the phone is online.
    const stolen = await stateOf(phone.dir);
    const follow = { project: await thief(stolen, project), coffee: await thief(stolen, coffee) };
    const phoneToken = await tokenOf(phone);
    const socket = new WebSocket(`${world.url.replace(/^http/, 'ws')}/v1/ws`, [WS_PROTOCOL, wsTokenProtocol(phoneToken)]);
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      socket.on('open', () => resolve());
      socket.on('error', reject);
    });
    const heads = { project: (await readLog(project)).at(-1)!.seq, coffee: (await readLog(coffee)).at(-1)!.seq };

    expect(await laptop.client.revokeDevice(phone.id)).toEqual({ deviceId: phone.id, userId: laptop.client.me.userId });

    // (d) The relay refuses the phone at once: its socket is closed, its token answers 403.
    expect(await closed).toBe(4403);
    const me = await call(world.url, 'GET', '/v1/me', undefined, { token: phoneToken });
    expect(me.status).toBe(403);
    expect(me.body).toMatchObject({ error: { code: 'forbidden' } });
    await expect(phone.client.sync()).rejects.toMatchObject({ code: 'forbidden' });
    expect((await revocationEntry(phone.id))?.byUserId).toBe(laptop.client.me.userId);

    // (b) The laptop refreshed its own path in each of its groups at once: it removed the phone,
    // a commit that carries a fresh path for the committer.
    for (const [g, after] of [[project, heads.project], [coffee, heads.coffee]] as const) {
      const commits = (await readLog(g, after)).filter((e) => e.kind === 'commit');
      expect(commits.map((c) => ({ sender: c.sender, removed: c.removed ?? [] }))).toEqual([{ sender: laptop.id, removed: [phone.id] }]);
      expect(await withStore(async (s) => (await s.listGroupDevices(g)).map((d) => d.deviceId))).not.toContain(phone.id);
    }
    // (a) Every member's tree follows on their next sync.
    await alice.client.sync();
    await carol.client.sync();
    expect(await treeDevices(alice, project)).not.toContain(phone.id);
    expect(await treeDevices(carol, coffee)).not.toContain(phone.id);
    expect(await treeDevices(carol, coffee)).toContain(laptop.id);

    await alice.client.send(project, 'nachher');
    await carol.client.send(coffee, 'auch nachher');
    expect(await texts(laptop.client, project)).toEqual(['vorher', 'nachher']);
    expect(await texts(laptop.client, coffee)).toEqual(['auch nachher']);
    // The copy taken before the revocation opens what was there, and nothing after.
    expect(await follow.project()).toEqual(['vorher']);
    expect(await follow.coffee()).toEqual([]);

    // (c) The administrator's device rotates the organisation key from the log's entry, and the
    // phone's keys do not open what is posted afterwards.
    await admin.sync();
    await admin.send(board.id, 'nach dem Verlust');
    const stolenGenerations = Object.keys(stolen.orgKeys);
    expect(stolenGenerations).toEqual(['1']);
    await withStore(async (s) => {
      expect(await s.currentGeneration()).toBe(2);
      expect((await s.listEnvelopes(phone.id)).map((e) => e.generation)).toEqual([1]);
      const last = (await s.readLog(board.id, 0, 100)).at(-1)!;
      expect(last.epoch).toBe(2);
      const adminKey = fromB64u((await admin.directory()).devices.find((d) => d.id === admin.me.deviceId)!.signPub);
      for (const g of stolenGenerations) {
        await expect(
          openRecord({ ciphertext: last.payload, key: derivePublicGroupKey(fromB64u(stolen.orgKeys[g]), board.id), groupId: board.id, epoch: last.epoch, senderDeviceId: admin.me.deviceId, senderSignPub: adminKey }),
        ).rejects.toThrow();
      }
    });
    for (const d of [laptop, alice, carol]) expect((await texts(d.client, board.id)).at(-1)).toBe('nach dem Verlust');
  });
});

describe('a device revoked by an administrator', () => {
  test('members remove it on their next sync; its person\'s other device sends an update commit at once', async () => {
    const alice = await person('Alma');
    const dana = await person('Dana');
    const tablet = await linked(dana);
    const council = (await alice.client.createGroup({ name: 'Rat', kind: 'secret' })).id;
    await alice.client.addMembers(council, ['Dana']);
    for (const d of [dana, tablet]) await d.client.sync();
    await alice.client.send(council, 'vorher');
    expect(await texts(tablet.client, council)).toEqual(['vorher']);
    const stolen = await stateOf(tablet.dir);
    const follow = await thief(stolen, council);
    // A copy of Dana's other device's state too: its refreshed leaf must leave that copy behind.
    const danaCopy = await thief(await stateOf(dana.dir), council);
    const head = (await readLog(council)).at(-1)!.seq;

    await admin.revokeDevice(tablet.id);
    expect((await revocationEntry(tablet.id))?.byUserId).toBe(admin.me.userId);
    // (a) A member who syncs first removes the tablet.
    await alice.client.sync();
    let commits = (await readLog(council, head)).filter((e) => e.kind === 'commit');
    expect(commits.map((c) => ({ sender: c.sender, removed: c.removed ?? [] }))).toEqual([{ sender: alice.id, removed: [tablet.id] }]);
    await alice.client.send(council, 'zwischen');
    // (b) Dana's remaining device finds nothing left to remove and updates its own leaf at once.
    await dana.client.sync();
    commits = (await readLog(council, head)).filter((e) => e.kind === 'commit');
    expect(commits).toHaveLength(2);
    expect(commits[1]).toMatchObject({ sender: dana.id });
    expect([...(commits[1].added ?? []), ...(commits[1].removed ?? [])]).toEqual([]);
    // Once: the next sync owes nothing.
    await dana.client.sync();
    expect((await readLog(council, head)).filter((e) => e.kind === 'commit')).toHaveLength(2);

    await alice.client.send(council, 'nach dem Update');
    expect(await texts(dana.client, council)).toEqual(['vorher', 'zwischen', 'nach dem Update']);
    expect(await follow()).toEqual(['vorher']);
    // A copy of Dana's remaining device followed Alma's removal (its leaf was unchanged then) and
    // read on, until that device's own update.
    expect(await danaCopy()).toEqual(['vorher', 'zwischen']);
  });
});

describe('POST /v1/devices/:id/revoke', () => {
  test('who may revoke what: JSON errors, no last device, a device may revoke itself', async () => {
    const erin = await person('Erin');
    const erin2 = await linked(erin);
    const frank = await person('Frank');
    const frank2 = await linked(frank);
    const revoke = async (id: string, token?: string, raw?: string) =>
      call(world.url, 'POST', `/v1/devices/${id}/revoke`, raw === undefined ? {} : undefined, { token, ...(raw === undefined ? {} : { raw, headers: { 'content-type': 'application/json' } }) });
    const erinToken = await tokenOf(erin);

    expect(await revoke(erin2.id)).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated' } } });
    // A colleague may not revoke someone else's device, nor learn whether it exists.
    expect(await revoke(frank2.id, await tokenOf(erin))).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(await revoke(newId('d'), erinToken)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(await revoke('not-an-id', erinToken)).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await revoke(erin2.id, erinToken, '{oops')).status).toBe(400);
    expect((await withStore((s) => s.getDevice(erin2.id)))?.status).toBe('active');

    expect(await revoke(erin2.id, erinToken)).toMatchObject({ status: 200, body: { deviceId: erin2.id, revoked: true } });
    expect(await revoke(erin2.id, erinToken)).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    // The last active device is the person: that is a deactivation, for an administrator.
    const last = await revoke(erin.id, erinToken);
    expect(last).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    expect((last.body as { error: { message: string } }).error.message).toMatch(/last active device/);
    await admin.sync();
    const adminToken = (await stateOf(adminDir)).token!.value;
    expect(await revoke(erin.id, adminToken)).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    // A device an administrator's invite put on Erin's account, which she never approved, may not
    // throw out hers; and her last approved device stays while it is the only one that can approve.
    const r = await world.register((await admin.createInvite({ name: 'Erin' })).code);
    const unapproved = await device(r.client, r.profileDir);
    expect(await revoke(erin.id, await tokenOf(unapproved))).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    const lastApproved = await revoke(erin.id, adminToken);
    expect(lastApproved).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    expect((lastApproved.body as { error: { message: string } }).error.message).toMatch(/last approved device/);
    expect(await revoke(unapproved.id, erinToken)).toMatchObject({ status: 200 });

    // Giving up one's own key is allowed (a phone being handed back); the rest is as for any revocation.
    expect(await frank2.client.revokeDevice(frank2.id)).toEqual({ deviceId: frank2.id, userId: frank.client.me.userId });
    expect((await call(world.url, 'GET', '/v1/me', undefined, { token: await tokenOf(frank2) })).status).toBe(403);
    await frank.client.sync();
    expect((await frank.client.listOwnDevices()).map((d) => [d.deviceId, d.active])).toEqual([[frank.id, true], [frank2.id, false]]);
  });

  test('CLI: device list shows the log\'s view, device revoke fails in one line', async () => {
    const gina = await person('Gina');
    const gina2 = await linked(gina);
    const listed = await runCli(['device', 'list'], { profile: gina.dir });
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${gina.id} \\(this device\\)\\tkey \\S+\\tadded \\S+\\tapproved\\tactive$`));
    expect(lines[1]).toMatch(new RegExp(`^${gina2.id}\\tkey .*\\tapproved\\tactive$`));

    const ok = await runCli(['device', 'revoke', gina2.id], { profile: gina.dir });
    expect({ code: ok.code, out: ok.stdout.trim() }).toEqual({ code: 0, out: `revoked ${gina2.id}` });
    expect((await runCli(['device', 'list'], { profile: gina.dir })).stdout).toMatch(new RegExp(`${gina2.id}\\t.*\\trevoked`));
    const refused = await runCli(['device', 'revoke', gina.id], { profile: gina.dir });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/last active device/);
  });
});

describe('a relay that only says it revoked', () => {
  test('the revoking device checks the log: no entry, an alarm and an error, never a silent success', async () => {
    const proxy = await startEvilRelay(world.url);
    try {
      const ida = await person('Ida');
      // A device an administrator's invite put on Ida's account, talking through the misbehaving relay.
      const dir = await tempDir('revoke-proxy');
      const other = await AgoraClient.register(nodeDeps({ profileDir: dir, passphrase: PASSPHRASE, addGraceMs: 0 }), {
        server: proxy.url,
        invite: (await admin.createInvite({ name: 'Ida' })).code,
      });
      // The real relay refuses (the device is not one Ida approved); the proxy answers as if the
      // phone were revoked, so the thief's device would stay in every group.
      proxy.set((ex) =>
        ex.method === 'POST' && ex.path === `/v1/devices/${ida.id}/revoke`
          ? { status: 200, body: { deviceId: ida.id, userId: ida.client.me.userId, revoked: true } }
          : undefined,
      );
      await expect(other.revokeDevice(ida.id)).rejects.toMatchObject({ code: 'forbidden' });
      expect((await other.alarms()).map((a) => a.kind)).toContain('revocation_missing');
      expect((await withStore((s) => s.getDevice(ida.id)))?.status).toBe('active');
    } finally {
      await proxy.close();
    }
  });
});
