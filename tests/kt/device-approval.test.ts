/** A device an administrator's invite puts on somebody's account does not join that person's secret
 * groups until one of the person's own devices approves it (a DEVICE_APPROVED entry in the
 * key-transparency log); members' clients, the person's own included, hold it back until then. */
import type { AgoraClient, AgoraError } from '@agora/client-sdk';
import { decodeEntry, deviceApprovalMessage } from '@agora/protocol/kt';
import { fromB64u, toB64u } from '@agora/protocol';
import type { RelayHttp } from '../../client-sdk/src/transport/http.js';
import { KtHttp } from '../../client-sdk/src/transport/kt-http.js';
import { nodeProfile } from '../../client-sdk/src/node/index.js';
import { sign } from '../../protocol/src/crypto/device-keys.js';
import { groupInfo } from '../../client-sdk/src/mls/group.js';
import { rawRelayAs, registerPerson, startWorld, PASSPHRASE, type Person, type World } from '../helpers.js';

let world: World;
let admin: AgoraClient;

const register = (invite: string): Promise<Person> => registerPerson(world, invite);

const keysOf = async (p: Person) => (await nodeProfile({ profileDir: p.dir, passphrase: PASSPHRASE }).load()).keys;

const rawAs = (p: Person): Promise<RelayHttp> => rawRelayAs(world.url, p.dir);

/** `by`'s signature approving `device`, over the keys the log shows for it. */
async function approval(by: Person, device: Person): Promise<string> {
  const keys = await keysOf(device);
  const message = deviceApprovalMessage({ userId: device.client.me.userId, deviceId: device.client.me.deviceId, signPub: fromB64u(keys.signPub), encPub: fromB64u(keys.encPub) });
  return toB64u(await sign(fromB64u((await keysOf(by)).signSeed), message));
}

/** The leaves of the group's MLS tree as `p`'s device holds it: who can read from now on. */
async function memberDevices(p: Person, groupId: string): Promise<string[]> {
  const state = await nodeProfile({ profileDir: p.dir, passphrase: PASSPHRASE }).load();
  return groupInfo(fromB64u(state.groups[groupId].mls!)).members.map((m) => m.deviceId).sort();
}

beforeAll(async () => {
  world = await startWorld();
  admin = (await world.register(world.adminInvite, 'Admin')).client;
});
afterAll(async () => {
  await world.close();
});

test("an administrator's device for Anna joins her secret groups only after Anna approves it", async () => {
  const anna = await register((await admin.createInvite({ name: 'Anna A', newPerson: true })).code);
  const ben = await register((await admin.createInvite({ name: 'Ben A', newPerson: true })).code);
  const bens = await ben.client.createGroup({ name: 'Bens Gruppe', kind: 'secret' });
  await ben.client.addMembers(bens.id, ['Anna A']);
  const annas = await anna.client.createGroup({ name: 'Annas Gruppe', kind: 'secret' });
  await anna.client.addMembers(annas.id, ['Ben A']);

  // The administrator invites a further device for Anna.
  const invite = await admin.createInvite({ name: 'Anna A' });
  expect(invite.kind).toBe('device');
  const intruder = await register(invite.code);
  expect(intruder.client.me.userId).toBe(anna.client.me.userId);
  const intruderId = intruder.client.me.deviceId;

  // Neither Ben's client nor Anna's own adds it; an explicit add of Anna leaves it out too.
  await ben.client.sync();
  await anna.client.sync();
  await ben.client.addMembers(bens.id, ['Anna A']);
  expect(await memberDevices(ben, bens.id)).not.toContain(intruderId);
  expect(await memberDevices(anna, annas.id)).not.toContain(intruderId);
  await intruder.client.sync();
  await expect(intruder.client.read(bens.id)).rejects.toMatchObject({ code: 'not_a_member' });
  // Anna is told, and told how to approve it.
  const alarm = (await anna.client.alarms()).find((a) => a.kind === 'device_added_by_admin' && a.message.includes(intruderId));
  expect(alarm?.message).toContain(`agora device approve ${intruderId}`);

  // The relay refuses approvals that are not Anna's own approved device's, over the logged keys.
  const asIntruder = await rawAs(intruder);
  const self = (await asIntruder.approveDevice(intruderId, await approval(intruder, intruder)).catch((e: unknown) => e)) as AgoraError;
  expect(self.details.status).toBe(400);
  const asBen = await rawAs(ben);
  const foreign = (await asBen.approveDevice(intruderId, await approval(ben, intruder)).catch((e: unknown) => e)) as AgoraError;
  expect(foreign.details.status).toBe(400);
  const asAnna = await rawAs(anna);
  const forged = (await asAnna.approveDevice(intruderId, await approval(ben, intruder)).catch((e: unknown) => e)) as AgoraError;
  expect(forged.details.status).toBe(401);
  expect(await memberDevices(ben, bens.id)).not.toContain(intruderId);

  // Anna's first device approves it: logged as a DEVICE_APPROVED entry (type 8) of Anna's chain.
  await asAnna.approveDevice(intruderId, await approval(anna, intruder));
  const kt = new KtHttp(asAnna, true);
  const { size } = await kt.checkpoint();
  const annaEntries = (await kt.user(anna.client.me.userId, size)).entries.map((e) => decodeEntry(fromB64u(e.entry)));
  expect(annaEntries.at(-1)).toMatchObject({ type: 'device-approved', userId: anna.client.me.userId, deviceId: intruderId, approverDeviceId: anna.client.me.deviceId });

  // Ben's client, owner of his group, now adds it at its next sync; Anna's adds it to hers.
  await ben.client.sync();
  expect(await memberDevices(ben, bens.id)).toContain(intruderId);
  await anna.client.sync();
  expect(await memberDevices(anna, annas.id)).toContain(intruderId);
  await ben.client.send(bens.id, 'für Annas neues Gerät');
  expect((await intruder.client.read(bens.id)).messages.map((m) => m.text)).toContain('für Annas neues Gerät');
});

test('agora device approve: the SDK approves from the person\'s own device and adds the device to their groups', async () => {
  const cem = await register((await admin.createInvite({ name: 'Cem A', newPerson: true })).code);
  const g = await cem.client.createGroup({ name: 'Cems Gruppe', kind: 'secret' });
  const second = await register((await admin.createInvite({ name: 'Cem A' })).code);
  const secondId = second.client.me.deviceId;
  await cem.client.sync();
  expect(await memberDevices(cem, g.id)).toEqual([cem.client.me.deviceId]);
  // The unapproved device cannot vouch for anything, itself included.
  await expect(second.client.approveDevice(cem.client.me.deviceId)).rejects.toMatchObject({ code: 'conflict' });
  await expect(second.client.approveDevice(secondId)).rejects.toMatchObject({ code: 'forbidden' });
  await cem.client.approveDevice(secondId);
  expect(await memberDevices(cem, g.id)).toEqual([cem.client.me.deviceId, secondId].sort());
  await expect(cem.client.approveDevice(secondId)).rejects.toMatchObject({ code: 'conflict' });
});
