/** A device that joins a secret group applies the owner rule from the first commit after its add:
 * the adder's Welcome tells it the owners (and the group's name) in a GroupInfo extension the adder
 * signs and MLS encrypts to the joiner. Without it, a joiner adopted the owner set of whatever commit
 * came first, so a member who is no owner and commits between an add and the adder's follow-up
 * update could fork the newcomer onto a tree of its choosing. Run with a real relay; the misbehaving
 * proxy loses the adder's answer so that no follow-up update comes. */
import { nodeProfile } from '@agora/client-sdk/node';
import type { ProfileState } from '../client-sdk/src/core/state.js';
import { profileState, treeUsers, PASSPHRASE, type Person } from './helpers.js';
import { castOf, evilRelayWorld } from './kt/evil-world.js';

const env = evilRelayWorld();
const people = castOf(env, ['Bob', 'Carol', 'Dave', 'Erin']);

const profileOf = (p: Person) => nodeProfile({ profileDir: p.dir, passphrase: PASSPHRASE });
const stateOf = (p: Person): Promise<ProfileState> => profileState(p.dir);
const treeOf = (p: Person, groupId: string): Promise<string[]> => treeUsers(p.dir, groupId);

test('a newcomer refuses a non-owner\'s commit that lands before the adder\'s follow-up, like every other member', async () => {
  const { alice, bob, carol, dave } = { alice: people.Alice.client, bob: people.Bob.client, carol: people.Carol.client, dave: people.Dave.client };
  const g = (await alice.createGroup({ name: 'Fenster', kind: 'secret' })).id;
  await alice.addMembers(g, ['Bob', 'Carol']);
  await bob.sync();
  await carol.sync();
  const ids = {
    alice: (await stateOf(people.Alice)).userId,
    dave: await stateOf(people.Dave),
    erin: (await stateOf(people.Erin)).userId,
  };

  // Alice adds Dave; her answer is lost, so her client sends neither the meta record nor the update
  // that used to tell newcomers the owners. The add itself is in the log, with its Welcome.
  env.proxy.set((ex) => {
    const added = (ex.request as { added?: string[] } | undefined)?.added ?? [];
    if (ex.method === 'POST' && ex.path === `/v1/groups/${g}/commits` && added.includes(ids.dave.deviceId)) {
      return { status: 500, body: { error: { code: 'internal', message: 'connection lost' } } };
    }
    return undefined;
  });
  await alice.addMembers(g, ['Dave']).catch(() => undefined);
  env.proxy.set(undefined);

  // Bob, no owner, runs a client that believes he is one: right after the add he brings in Erin
  // and names himself owner.
  await bob.sync();
  const profile = profileOf(people.Bob);
  const s = await profile.load();
  s.groups[g].owners = [...s.groups[g].owners, s.userId].sort();
  await profile.save(s);
  await bob.addMembers(g, ['Erin']);

  await dave.sync();
  await alice.sync();
  await carol.sync();
  const daveState = await stateOf(people.Dave);
  expect(daveState.groups[g].owners).toEqual([ids.alice]);
  expect(daveState.groups[g].name).toBe('Fenster');
  expect((await dave.alarms()).some((a) => a.kind === 'commit_refused' && /only an owner/.test(a.message))).toBe(true);
  const tree = await treeOf(people.Carol, g);
  expect(tree).toContain(ids.dave.userId);
  expect(tree).not.toContain(ids.erin);
  expect(await treeOf(people.Dave, g)).toEqual(tree);
  expect(await treeOf(people.Alice, g)).toEqual(tree);

  // Dave is on the same epoch as the others: he reads what Alice writes next, and she reads him.
  await alice.send(g, 'nach dem Fenster');
  expect((await dave.read(g)).messages.map((m) => m.text)).toContain('nach dem Fenster');
  await dave.send(g, 'Dave liest mit');
  expect((await carol.read(g)).messages.map((m) => m.text)).toContain('Dave liest mit');
});
