/** docs/sdk.md shows how a script drives the client machine with its own driver. Its example is
 * docs/examples/post-notice.ts, run here against a real relay, and the page must show that file
 * exactly, so the documentation cannot drift from code that works. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { nodeFetch } from '@agora/client-sdk/node';
import { postNotice } from '../docs/examples/post-notice.js';
import { PASSPHRASE, ROOT, startWorld, type World } from './helpers.js';

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world.close();
});

test('the example in docs/sdk.md posts a notice that the group members read', async () => {
  const admin = await world.register(world.adminInvite, 'Admin');
  const anna = await world.register((await admin.client.createInvite({ name: 'Anna' })).code);
  await admin.client.sync();
  await admin.client.createGroup({ name: 'Hausmeisterei', kind: 'secret' });
  await admin.client.addMembers('Hausmeisterei', ['Anna']);
  await anna.client.send('Hausmeisterei', 'Heizung tropft im 2. OG');

  const result = await postNotice(admin.profileDir, PASSPHRASE, 'Hausmeisterei', 'Wartung heute ab 18 Uhr', nodeFetch);
  expect(result.newMessages).toEqual(['Heizung tropft im 2. OG']);
  expect(result.seq).toBeGreaterThan(0);
  const read = await anna.client.read('Hausmeisterei');
  expect(read.messages.map((m) => `${m.senderName}: ${m.text}`)).toEqual(['Anna: Heizung tropft im 2. OG', 'Admin: Wartung heute ab 18 Uhr']);
  expect(read.warnings).toEqual([]);

  const page = await readFile(path.join(ROOT, 'docs/sdk.md'), 'utf8');
  const example = await readFile(path.join(ROOT, 'docs/examples/post-notice.ts'), 'utf8');
  expect(page).toContain('```ts\n' + example + '```');
});
