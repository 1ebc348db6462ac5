/** What the web app's "Gruppe verwalten" and the newcomer's hint rest on, through the SDK in Node:
 * `orgKeyWaiting` is true exactly until a colleague's device hands the organisation key over; a
 * member leaves a public group but not a secret one (SDK and `agora group leave`); a listening
 * device hears `onStateChanged` when another member renames their secret group or an organisation
 * key arrives, and reads the new name from its own state. */
import { runCli, startWorld, type World } from './helpers.js';

let world: World;
afterAll(async () => world?.close());

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('orgKeyWaiting, leaving groups and live renames', async () => {
  world = await startWorld();
  const admin = (await world.register(world.adminInvite, 'IT')).client;
  expect(admin.orgKeyWaiting).toBe(false);
  const aliceReg = await world.register((await admin.createInvite({ name: 'Alice' })).code);
  const alice = aliceReg.client;
  const bob = (await world.register((await admin.createInvite({ name: 'Bob' })).code)).client;
  // New devices: nobody has handed them the organisation key yet.
  expect(alice.orgKeyWaiting).toBe(true);
  expect(bob.orgKeyWaiting).toBe(true);

  // Bob's device listens, as the web app does.
  const stop = new AbortController();
  let changes = 0;
  const listening = bob.listen({ signal: stop.signal, onMessage: () => undefined, onStateChanged: () => void (changes += 1) });
  try {
    await until('the first catch-up', () => changes > 0);
    expect(bob.orgKeyWaiting).toBe(true);

    // The administrator's device comes online: it seals the key to both; Bob's hears of it.
    const before = changes;
    await admin.sync();
    // The state changes inside the catch-up and the app hears of it once the catch-up is done.
    await until('the key to arrive at Bob', () => !bob.orgKeyWaiting);
    await until('Bob\'s app to hear of it', () => changes > before);
    await alice.sync();
    expect(alice.orgKeyWaiting).toBe(false);

    // Leaving: a public group, yes; a secret group, only through an owner.
    await admin.createGroup({ name: 'Kantine', kind: 'public' });
    await alice.joinGroup('Kantine');
    await alice.leaveGroup('Kantine');
    expect((await admin.groupMembers('Kantine')).map((m) => m.name)).toEqual(['IT']);
    await expect(alice.leaveGroup('Kantine')).rejects.toMatchObject({ code: 'not_a_member' });
    const team = await alice.createGroup({ name: 'Team', kind: 'secret' });
    await alice.addMembers(team.id, ['Bob']);
    await expect(alice.leaveGroup(team.id)).rejects.toMatchObject({ code: 'usage' });
    // The same from the command line: `agora group leave`.
    await alice.joinGroup('Kantine');
    expect(await runCli(['group', 'leave', 'Kantine'], { profile: aliceReg.profileDir })).toMatchObject({ code: 0, stderr: '' });
    expect((await admin.groupMembers('Kantine')).map((m) => m.name)).toEqual(['IT']);
    const refused = await runCli(['group', 'leave', 'Team'], { profile: aliceReg.profileDir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('agora: "Team" is a secret group: ask one of its owners to remove you\n');
    await until('Bob to be in Team', async () => (await bob.listGroups()).some((g) => g.id === team.id && g.isMember));

    // The owner renames it: Bob's listening device is told, and its list has the new name.
    const renamed = changes;
    await alice.renameGroup(team.id, 'Team Nord', 'Planung');
    await until('the rename to reach Bob', () => changes > renamed);
    const seen = (await bob.listGroups()).find((g) => g.id === team.id);
    expect(seen).toMatchObject({ name: 'Team Nord', description: 'Planung' });
    // Bob is no owner: his device refuses to rename it.
    await expect(bob.renameGroup(team.id, 'Team Süd')).rejects.toMatchObject({ code: 'forbidden' });
  } finally {
    stop.abort();
    await listening;
  }

  // The group list says who created a public group (the app offers its creator rename and delete).
  const kantine = (await alice.listGroups()).find((g) => g.name === 'Kantine');
  expect(kantine?.createdBy).toBe((await admin.resolveUser('IT')).id);
}, 180_000);
