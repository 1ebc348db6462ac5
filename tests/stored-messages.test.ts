/** AgoraClient.storedMessages: the messages a device already holds for a group, read from its own
 * state without a request (what the web app's search index fills itself from), in log order; none
 * for a group the device never read. */
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import { startWorld, PASSPHRASE, type World } from './helpers.js';

let world: World;
afterAll(async () => world?.close());

test('a device lists what it holds of each group, with no request', async () => {
  world = await startWorld();
  const admin = (await world.register(world.adminInvite, 'Vera')).client;
  const anna = await world.register((await admin.createInvite({ name: 'Anna' })).code);
  const secret = await admin.createGroup({ name: 'Haushalt', kind: 'secret' });
  await admin.addMembers(secret.id, ['Anna']);
  const news = await admin.createGroup({ name: 'Neuigkeiten', kind: 'public' });
  await admin.send(secret.id, 'Entwurf liegt im Ordner');
  await admin.send(secret.id, 'Bitte bis Freitag lesen');
  await admin.send(news.id, 'Serverwartung am Samstag');
  await anna.client.sync();

  // Anna's device opened afresh from its profile: what a reload of the app sees.
  const requests: string[] = [];
  const deps = nodeDeps({ profileDir: anna.profileDir, passphrase: PASSPHRASE });
  const reopened = await AgoraClient.open({ ...deps, fetch: (url, init) => (requests.push(url), deps.fetch(url, init)) });
  expect(reopened.messagesLoaded).toBe(true);
  const held = reopened.storedMessages(secret.id);
  expect(held.map((m) => [m.senderName, m.text])).toEqual([
    ['Vera', 'Entwurf liegt im Ordner'],
    ['Vera', 'Bitte bis Freitag lesen'],
  ]);
  expect(held[0].seq).toBeLessThan(held[1].seq);
  // A public group Anna never joined nor read: nothing held.
  expect(reopened.storedMessages(news.id)).toEqual([]);
  expect(reopened.storedMessages('g_unknown')).toEqual([]);
  expect(requests).toEqual([]);
});
