/** Organisation keys that arrive by any way are checked against the key-transparency log, and a
 * refused envelope does not leave its recipient without the generation for good: the device reports
 * it, the relay drops exactly that envelope (and bars its sealer from the place), and an honest
 * colleague's device seals the generation again. The poisoner here is a colleague's real, active
 * device that seals a key of its own choosing under a real generation number. */
import { fromB64u, toB64u, utf8, type OrgKeysResponse } from '@agora/protocol';
import { newOrgKey, sealOrgKey, sealToDevice } from '../../client-sdk/src/crypto/orgkeys.js';
import type { RelayHttp } from '../../client-sdk/src/transport/http.js';
import { openSqliteStore } from '../../server/src/store/sqlite.js';
import { deviceToken, profileState, rawRelayAs, startWorld, type World, invitePerson, registerPerson, type Person } from '../helpers.js';
import { startEvilRelay, type EvilRelay } from './evil-relay.js';

let world: World;
let proxy: EvilRelay;
let admin: Person;
let news: string;

const stateOf = profileState;
const register = (invite: string, name?: string): Promise<Person> => registerPerson(world, invite, name, { via: proxy.url });
const join = (name: string): Promise<Person> => invitePerson(world, admin.client, name, { via: proxy.url });

const tokenOf = (p: Person): Promise<string> => deviceToken(world.url, p.dir);
const rawHttp = (p: Person): Promise<RelayHttp> => rawRelayAs(world.url, p.dir);

async function inStore<T>(fn: (store: Awaited<ReturnType<typeof openSqliteStore>>) => Promise<T>): Promise<T> {
  const store = await openSqliteStore(world.dataDir);
  return fn(store).finally(() => store.close());
}

const isOrgKeys = (path: string, method: string) => method === 'GET' && (path === '/v1/orgkeys' || path.startsWith('/v1/orgkeys?'));

beforeAll(async () => {
  world = await startWorld();
  proxy = await startEvilRelay(world.url);
  admin = await register(world.adminInvite, 'Admin');
  news = (await admin.client.createGroup({ name: 'Amtsblatt', kind: 'public' })).id;
  await admin.client.send(news, 'vor allen Neuen');
});
afterEach(() => proxy.set(undefined));
afterAll(async () => {
  await proxy.close();
  await world.close();
});

test('an organisation key in a history bundle that is not the logged one is refused with an alarm', async () => {
  const ben = await join('Ben R');
  await admin.client.sync();
  await ben.client.sync();
  const generation = await inStore((s) => s.currentGeneration());
  const ben1 = await stateOf(ben.dir);
  expect(ben1.orgKeys[String(generation)]).toBeDefined();

  const { code } = await ben.client.linkDevice();
  const second = await register(code);
  const ben2 = await stateOf(second.dir);
  // The relay keeps the second device's envelopes from it, so the history bundle is the only way
  // in; Ben's first device (its own seed: a bug, or a copy of the device in other hands) hands
  // over a key of its choosing for the current generation.
  proxy.set((ex) => (isOrgKeys(ex.path, ex.method) ? { body: { ...(ex.body as OrgKeysResponse), envelopes: [] } } : undefined));
  const chosen = newOrgKey();
  const bundle = {
    format: 'agora-history-v1',
    groups: {},
    orgKeys: { [String(generation)]: toB64u(chosen) },
    orgKeyIndexes: Object.fromEntries(Object.entries(ben1.kt.orgKeyLog!.generations).map(([g, info]) => [g, info.index])),
  };
  const sealed = await sealToDevice({
    purpose: 'history',
    payload: utf8(JSON.stringify(bundle)),
    recipient: { deviceId: second.deviceId, encPub: fromB64u(ben2.keys.encPub) },
    sealer: { deviceId: ben.deviceId, signSeed: fromB64u(ben1.keys.signSeed) },
  });
  await (await rawHttp(ben)).sendHistory(second.deviceId, sealed);
  await second.client.sync();

  expect((await stateOf(second.dir)).orgKeys[String(generation)]).toBeUndefined();
  const alarms = (await second.client.alarms()).filter((a) => a.kind === 'orgkey_substitution');
  expect(alarms.some((a) => a.message.includes(ben.deviceId) && /history bundle/.test(a.message) && /logged/.test(a.message))).toBe(true);
  await expect(second.client.send(news, 'mit Bens gewähltem Schlüssel')).rejects.toMatchObject({ code: 'no_key' });

  // The honest bundle of the same device, with the real key, is taken.
  proxy.set(undefined);
  const honest = await sealToDevice({
    purpose: 'history',
    payload: utf8(JSON.stringify({ ...bundle, orgKeys: ben1.orgKeys })),
    recipient: { deviceId: second.deviceId, encPub: fromB64u(ben2.keys.encPub) },
    sealer: { deviceId: ben.deviceId, signSeed: fromB64u(ben1.keys.signSeed) },
  });
  await (await rawHttp(ben)).sendHistory(second.deviceId, honest);
  proxy.set((ex) => (isOrgKeys(ex.path, ex.method) ? { body: { ...(ex.body as OrgKeysResponse), envelopes: [] } } : undefined));
  await second.client.sync();
  expect((await stateOf(second.dir)).orgKeys[String(generation)]).toBe(ben1.orgKeys[String(generation)]);
});

test('an envelope poisoned by a colleague is refused, reported, sealed again by an honest colleague, and the newcomer reads', async () => {
  const carl = await join('Carl R');
  await carl.client.sync();
  const nora = await join('Nora R');
  const generation = await inStore((s) => s.currentGeneration());
  const noraState = await stateOf(nora.dir);
  const carlState = await stateOf(carl.dir);

  // Carl's device is first to "hand over" the current generation to Nora's: with a key of its own.
  const poison = () => sealOrgKey({
    generation, key: newOrgKey(), recipient: { deviceId: nora.deviceId, encPub: fromB64u(noraState.keys.encPub) },
    sealer: { deviceId: carl.deviceId, signSeed: fromB64u(carlState.keys.signSeed) },
  });
  const carlHttp = await rawHttp(carl);
  await carlHttp.uploadEnvelopes([{ generation, deviceId: nora.deviceId, sealed: await poison() }]);
  expect((await inStore((s) => s.listEnvelopes(nora.deviceId))).map((e) => e.sealedBy)).toEqual([carl.deviceId]);

  await nora.client.sync();
  expect((await stateOf(nora.dir)).orgKeys[String(generation)]).toBeUndefined();
  const alarms = (await nora.client.alarms()).filter((a) => a.kind === 'orgkey_substitution');
  expect(alarms.some((a) => a.message.includes(carl.deviceId) && /logged/.test(a.message))).toBe(true);
  expect(proxy.seen.some((ex) => ex.method === 'POST' && ex.path === '/v1/orgkeys/refused' && (ex.body as { dropped?: boolean })?.dropped === true)).toBe(true);
  // The relay dropped it: Nora's device is pending again; Carl's device cannot fill the place again.
  expect(await inStore((s) => s.listEnvelopes(nora.deviceId))).toEqual([]);
  expect((await carlHttp.pending()).pending.find((p) => p.deviceId === nora.deviceId)?.missing).toContain(generation);
  await carlHttp.uploadEnvelopes([{ generation, deviceId: nora.deviceId, sealed: await poison() }]);
  expect(await inStore((s) => s.listEnvelopes(nora.deviceId))).toEqual([]);

  // An honest colleague's device seals it on its next sync; Nora then reads the public group.
  await admin.client.sync();
  expect((await inStore((s) => s.listEnvelopes(nora.deviceId))).map((e) => e.sealedBy)).toContain(admin.deviceId);
  const read = await nora.client.read(news);
  expect(read.messages.map((m) => m.text)).toContain('vor allen Neuen');
  await nora.client.send(news, 'Nora mit dem echten Schlüssel');
  expect((await carl.client.read(news)).messages.map((m) => m.text)).toContain('Nora mit dem echten Schlüssel');
});

test('a report drops only the reporting device\'s own envelope, exactly as served; bad reports get 400 naming the field', async () => {
  const dana = await join('Dana R');
  const emil = await join('Emil R');
  await admin.client.sync();
  const generation = await inStore((s) => s.currentGeneration());
  const [danaEnv] = (await inStore((s) => s.listEnvelopes(dana.deviceId))).filter((e) => e.generation === generation);
  expect(danaEnv).toBeDefined();

  // Emil's device reports Dana's envelope: only its own place counts, so nothing is dropped.
  const emilHttp = await rawHttp(emil);
  expect(await emilHttp.refuseEnvelope({ generation, sealedBy: danaEnv.sealedBy, sealed: danaEnv.sealed })).toEqual({ dropped: false });
  // Dana's device reports another text than the stored one (what a swapping relay served): nothing.
  const danaHttp = await rawHttp(dana);
  expect(await danaHttp.refuseEnvelope({ generation, sealedBy: danaEnv.sealedBy, sealed: toB64u(new Uint8Array(80)) })).toEqual({ dropped: false });
  expect(await inStore((s) => s.listEnvelopes(dana.deviceId))).toContainEqual(danaEnv);

  const token = await tokenOf(dana);
  for (const [bad, field] of [
    [{ generation: 0, sealedBy: danaEnv.sealedBy, sealed: danaEnv.sealed }, 'generation'],
    [{ generation, sealedBy: 'nobody', sealed: danaEnv.sealed }, 'sealedBy'],
    [{ generation, sealedBy: danaEnv.sealedBy, sealed: 'x'.repeat(1025) }, 'sealed'],
  ] as const) {
    const res = await fetch(`${world.url}/v1/orgkeys/refused`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(bad),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain(field);
  }
  const anonymous = await fetch(`${world.url}/v1/orgkeys/refused`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(anonymous.status).toBe(401);
  expect(await inStore((s) => s.listEnvelopes(dana.deviceId))).toContainEqual(danaEnv);
});
