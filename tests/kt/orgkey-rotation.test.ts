/** Organisation-key rotation the relay cannot defeat, run through the misbehaving relay: rotation
 * follows from the key-transparency log (the relay's `rotationNeeded` flag is a hint), every key is
 * checked against the commitment its generation's log entry carries, envelopes sealed by revoked
 * devices are refused, and no device writes under a generation older than the latest logged
 * deactivation. The measure throughout: which public records a person who left can open with every
 * organisation key their device ever held. */
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import { fromB64u, toB64u, type OrgKeysResponse } from '@agora/protocol';
import { derivePublicGroupKey, newOrgKey, sealOrgKey } from '../../client-sdk/src/crypto/orgkeys.js';
import { openRecord } from '../../client-sdk/src/crypto/records.js';
import type { RelayHttp } from '../../client-sdk/src/transport/http.js';
import { openSqliteStore } from '../../server/src/store/sqlite.js';
import { profileState, rawRelayAs, startWorld, tempDir, PASSPHRASE, type World, invitePerson, registerPerson, type Person } from '../helpers.js';
import { startEvilRelay, type EvilRelay } from './evil-relay.js';

let world: World;
let proxy: EvilRelay;
let admin: Person;
let news: string;

const stateOf = profileState;
const register = (invite: string, name?: string): Promise<Person> => registerPerson(world, invite, name, { via: proxy.url });
const join = (name: string): Promise<Person> => invitePerson(world, admin.client, name, { via: proxy.url });

/** The texts of the public group's records that the leaver can open with any organisation key her
 * device ever held (read straight from the relay's database, as a relay operator would serve them). */
async function readableBy(leaver: Person): Promise<string[]> {
  const keys = Object.values((await stateOf(leaver.dir)).orgKeys).map(fromB64u);
  const devices = (await admin.client.directory()).devices;
  const store = await openSqliteStore(world.dataDir);
  try {
    const out: string[] = [];
    for (const row of await store.readLog(news, 0, 1000)) {
      if (row.kind !== 'record') continue;
      const signPub = fromB64u(devices.find((d) => d.id === row.sender)!.signPub);
      for (const key of keys) {
        const record = await openRecord({ ciphertext: row.payload, key: derivePublicGroupKey(key, news), groupId: news, epoch: row.epoch, senderDeviceId: row.sender, senderSignPub: signPub }).catch(() => undefined);
        if (record?.type === 'text') out.push(record.body.text);
      }
    }
    return out;
  } finally {
    await store.close();
  }
}

/** The relay's own API with a device's token, bypassing that device's client: an administrator's
 * device that deactivates someone and then goes away before it rotates anything. */
const rawHttp = (p: Person): Promise<RelayHttp> => rawRelayAs(world.url, p.dir);

const isOrgKeys = (path: string, method: string) => method === 'GET' && (path === '/v1/orgkeys' || path.startsWith('/v1/orgkeys?'));
const hideFlag = (ex: { path: string; method: string; body: unknown }) =>
  isOrgKeys(ex.path, ex.method) ? { body: { ...(ex.body as OrgKeysResponse), rotationNeeded: false } } : undefined;

beforeAll(async () => {
  world = await startWorld();
  proxy = await startEvilRelay(world.url);
  admin = await register(world.adminInvite, 'Admin');
  news = (await admin.client.createGroup({ name: 'Neuigkeiten', kind: 'public' })).id;
});
afterEach(() => proxy.set(undefined));
afterAll(async () => {
  await proxy.close();
  await world.close();
});

test('a relay that hides rotationNeeded does not keep a deactivated person reading: the admin rotates from the log', async () => {
  const mona = await join('Mona L');
  const ben = await join('Ben L');
  await admin.client.sync();
  await admin.client.send(news, 'vor dem Austritt');
  await mona.client.sync();
  expect(await readableBy(mona)).toContain('vor dem Austritt');

  proxy.set(hideFlag);
  await admin.client.deactivate('Mona L');
  await admin.client.send(news, 'nach Monas Austritt');
  expect(await readableBy(mona)).not.toContain('nach Monas Austritt');
  expect((await ben.client.read(news)).messages.map((m) => m.text)).toContain('nach Monas Austritt');
});

test('envelopes sealed by a revoked device, with a key other than the logged one, or swapped are refused with an alarm', async () => {
  const lena = await join('Lena L');
  const carl = await join('Carl L');
  const ben = await join('Ben M');
  await admin.client.sync();
  const lenaState = await stateOf(lena.dir);
  const carlState = await stateOf(carl.dir);
  const benState = await stateOf(ben.dir);
  await admin.client.deactivate('Lena L');
  const store = await openSqliteStore(world.dataDir);
  const generation = await store.currentGeneration().finally(() => store.close());

  // Lena's revoked device seals a key of her choosing as the new generation for Ben; Carl (still
  // active, but no creator) seals another key than the logged one; Ben's older envelope is
  // served as the new generation.
  const lenasKey = newOrgKey();
  const fromLena = await sealOrgKey({
    generation, key: lenasKey, recipient: { deviceId: ben.deviceId, encPub: fromB64u(benState.keys.encPub) },
    sealer: { deviceId: lena.deviceId, signSeed: fromB64u(lenaState.keys.signSeed) },
  });
  const fromCarl = await sealOrgKey({
    generation, key: newOrgKey(), recipient: { deviceId: ben.deviceId, encPub: fromB64u(benState.keys.encPub) },
    sealer: { deviceId: carl.deviceId, signSeed: fromB64u(carlState.keys.signSeed) },
  });
  const forged = [
    { sealed: fromLena, sealedBy: lena.deviceId },
    { sealed: fromCarl, sealedBy: carl.deviceId },
  ];
  for (const forgery of forged) {
    proxy.set((ex) => {
      if (!isOrgKeys(ex.path, ex.method)) return undefined;
      const body = structuredClone(ex.body) as OrgKeysResponse;
      body.rotationNeeded = false;
      body.envelopes = body.envelopes.map((e) => (e.generation === generation ? { ...e, ...forgery } : e));
      return { body };
    });
    const sent = await ben.client.send(news, `mit falschem Schlüssel von ${forgery.sealedBy}`).catch((e: unknown) => e);
    expect(sent).toMatchObject({ code: 'no_key' });
    expect((await stateOf(ben.dir)).orgKeys[String(generation)]).toBeUndefined();
  }
  const swapped = (ex: { path: string; method: string; body: unknown }) => {
    if (!isOrgKeys(ex.path, ex.method)) return undefined;
    const body = structuredClone(ex.body) as OrgKeysResponse;
    const older = body.envelopes.find((e) => e.generation === generation - 1)!;
    body.envelopes = body.envelopes.map((e) => (e.generation === generation ? { ...older, generation } : e));
    return { body };
  };
  proxy.set(swapped);
  await expect(ben.client.send(news, 'mit vertauschtem Umschlag')).rejects.toMatchObject({ code: 'no_key' });
  const alarms = (await ben.client.alarms()).filter((a) => a.kind === 'orgkey_substitution');
  expect(alarms.map((a) => a.message).join('\n')).toMatch(new RegExp(`${lena.deviceId}.*revoked`));
  expect(alarms.some((a) => a.message.includes(carl.deviceId) && /logged/.test(a.message))).toBe(true);
  expect(alarms.some((a) => /wrong_generation/.test(a.message))).toBe(true);

  // Honest again: Ben opens the real key and writes under it; Lena reads nothing of it.
  proxy.set(undefined);
  await ben.client.send(news, 'mit dem echten Schlüssel');
  const leaked = await readableBy(lena);
  expect(leaked.filter((t) => t.startsWith('mit '))).toEqual([]);
  expect((await carl.client.read(news)).messages.map((m) => m.text)).toContain('mit dem echten Schlüssel');
});

test('no device writes under a generation older than the latest logged deactivation, whatever the relay does', async () => {
  const otto = await join('Otto L');
  const ben = await join('Ben N');
  const carla = await join('Carla N');
  await admin.client.sync();
  await otto.client.sync();
  const store0 = await openSqliteStore(world.dataDir);
  const before = await store0.currentGeneration().finally(() => store0.close());

  // The administrator's device deactivates Otto and goes away before it rotates anything.
  await (await rawHttp(admin)).deactivate(otto.userId);

  // A colleague about to post rotates first, although the relay hides the flag.
  proxy.set(hideFlag);
  await ben.client.send(news, 'Ben nach Ottos Austritt');
  const store1 = await openSqliteStore(world.dataDir);
  const rotated = await store1.currentGeneration().finally(() => store1.close());
  expect(rotated).toBe(before + 1);

  // The relay serves Carla the old generation as current and hides the new one's envelope: she
  // does not fall back to the old key; she refuses to write.
  proxy.set((ex) => {
    if (!isOrgKeys(ex.path, ex.method)) return undefined;
    const body = structuredClone(ex.body) as OrgKeysResponse;
    body.current = before;
    body.rotationNeeded = false;
    body.envelopes = body.envelopes.filter((e) => e.generation <= before);
    body.generations = body.generations.filter((g) => g.generation <= before);
    return { body };
  });
  await expect(carla.client.send(news, 'Carla mit altem Schlüssel')).rejects.toMatchObject({ code: 'no_key' });
  proxy.set(undefined);
  await carla.client.send(news, 'Carla nach Ottos Austritt');

  const leaked = await readableBy(otto);
  expect(leaked).not.toContain('Ben nach Ottos Austritt');
  expect(leaked).not.toContain('Carla mit altem Schlüssel');
  expect(leaked).not.toContain('Carla nach Ottos Austritt');
  expect((await admin.client.read(news)).messages.map((m) => m.text)).toEqual(expect.arrayContaining(['Ben nach Ottos Austritt', 'Carla nach Ottos Austritt']));
});

test('a colleague who is not an administrator may create a generation only while a revocation is pending', async () => {
  const dora = await join('Dora L');
  await admin.client.sync();
  const http = await rawHttp(dora);
  const store = await openSqliteStore(world.dataDir);
  const current = await store.currentGeneration().finally(() => store.close());
  const zero = toB64u(new Uint8Array(32));
  const attempt = http.createGeneration({ generation: current + 1, envelopes: [], deviceSetHash: zero, keyCommitment: zero, signature: toB64u(new Uint8Array(64)) });
  await expect(attempt).rejects.toMatchObject({ code: 'forbidden' });
});

test('without an administrator\'s device, a colleague\'s device rotates on its own once the grace period is over', async () => {
  const paul = await join('Paul L');
  const waits = await join('Wanda N');
  const dir = await tempDir('orgkey-rotation');
  const invite = (await admin.client.createInvite({ name: 'Eva N', newPerson: true })).code;
  const eva = await AgoraClient.register({ ...nodeDeps({ profileDir: dir, passphrase: PASSPHRASE, addGraceMs: 0 }), rotationGraceMs: 0 }, { server: proxy.url, invite });
  await admin.client.sync();
  const generation = async () => {
    const store = await openSqliteStore(world.dataDir);
    return store.currentGeneration().finally(() => store.close());
  };
  const before = await generation();
  await (await rawHttp(admin)).deactivate(paul.userId);
  proxy.set(hideFlag);
  await waits.client.sync(); // within the (default) grace period: an administrator's device may still come
  expect(await generation()).toBe(before);
  await eva.sync();
  expect(await generation()).toBe(before + 1);
  expect((await waits.client.sync()).warnings.filter((w) => /organisation key/.test(w))).toEqual([]);
  await waits.client.send(news, 'Wanda nach Pauls Austritt');
  expect(await readableBy(paul)).not.toContain('Wanda nach Pauls Austritt');
});

test('a newcomer keeps the keys a colleague handed over before that colleague left', async () => {
  const xaver = await join('Xaver L');
  await admin.client.sync();
  await admin.client.send(news, 'vor Noras Eintritt');
  const nora = await join('Nora N');
  await xaver.client.sync(); // Xaver's device hands every generation to Nora's device
  const store = await openSqliteStore(world.dataDir);
  const handed = await store.listEnvelopes(nora.deviceId).finally(() => store.close());
  expect(handed.length).toBeGreaterThan(0);
  expect(handed.every((e) => e.sealedBy === xaver.deviceId)).toBe(true);
  await admin.client.deactivate('Xaver L');
  const read = await nora.client.read(news);
  expect(read.messages.map((m) => m.text)).toContain('vor Noras Eintritt');
  expect((await nora.client.alarms()).filter((a) => a.kind === 'orgkey_substitution')).toEqual([]);
});
