/** A device's KeyPackage stock refills itself before it runs out: once claims take it below the
 * low-water mark, the relay pushes `keypackages-low` and the device tops up (a listening device at
 * once, any device at its next sync), back to the target, never waiting for zero. */
import type { AgoraClient } from '@agora/client-sdk';
import { LIMITS } from '@agora/protocol';
import type { RelayHttp } from '../client-sdk/src/transport/http.js';
import { invitePerson, rawRelayAs, startWorld, type Person, type World } from './helpers.js';

let world: World;
let admin: AgoraClient;

const register = (name: string): Promise<Person> => invitePerson(world, admin, name);

const rawAs = (p: Person): Promise<RelayHttp> => rawRelayAs(world.url, p.dir);

beforeAll(async () => {
  world = await startWorld();
  admin = (await world.register(world.adminInvite, 'Admin')).client;
});
afterAll(async () => {
  await world.close();
});

test('claims down to the low-water mark are refilled by the next sync, and by a push to a listening device', async () => {
  const bob = await register('Bob K');
  const asBob = await rawAs(bob);
  expect(await asBob.keyPackageStock()).toEqual({ stock: LIMITS.keyPackageTarget, hasLastResort: true, low: false });
  // Colleagues add Bob's device to their groups (each within its per-target claim limit).
  const claimers: { http: RelayHttp; groupId: string; left: number }[] = [];
  const needed = 2 * (LIMITS.keyPackageTarget - LIMITS.keyPackageLowWater + 1);
  for (let i = 0; i * LIMITS.claimsPerTargetPerHour < needed; i++) {
    const name = `Colleague ${i + 1}`;
    const p = await register(name);
    const g = await p.client.createGroup({ name: `${name}s Gruppe`, kind: 'secret' });
    claimers.push({ http: await rawAs(p), groupId: g.id, left: LIMITS.claimsPerTargetPerHour });
  }
  const claimOne = async () => {
    const c = claimers.find((x) => x.left > 0)!;
    c.left--;
    const res = await c.http.claimKeyPackages(c.groupId, [bob.client.me.deviceId]);
    expect(res.keyPackages.map((k) => k.lastResort)).toEqual([false]);
  };
  for (let i = 0; i < LIMITS.keyPackageTarget - LIMITS.keyPackageLowWater; i++) await claimOne();
  // At the mark itself nothing is due yet; a sync leaves the stock alone.
  expect(await asBob.keyPackageStock()).toEqual({ stock: LIMITS.keyPackageLowWater, hasLastResort: true, low: false });
  await bob.client.sync();
  expect((await asBob.keyPackageStock()).stock).toBe(LIMITS.keyPackageLowWater);
  // One more claim takes it below: the next sync refills it to the target.
  await claimOne();
  expect(await asBob.keyPackageStock()).toMatchObject({ stock: LIMITS.keyPackageLowWater - 1, low: true });
  await bob.client.sync();
  expect(await asBob.keyPackageStock()).toEqual({ stock: LIMITS.keyPackageTarget, hasLastResort: true, low: false });

  // A listening device refills on the relay's push, without anybody asking it to sync.
  for (let i = 0; i < LIMITS.keyPackageTarget - LIMITS.keyPackageLowWater; i++) await claimOne();
  expect((await asBob.keyPackageStock()).stock).toBe(LIMITS.keyPackageLowWater);
  const ctl = new AbortController();
  const listening = bob.client.listen({ signal: ctl.signal, onMessage: () => undefined });
  try {
    await new Promise((r) => setTimeout(r, 1000)); // connected and caught up
    await claimOne();
    const deadline = Date.now() + 20_000;
    let stock = (await asBob.keyPackageStock()).stock;
    while (stock < LIMITS.keyPackageTarget && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      stock = (await asBob.keyPackageStock()).stock;
    }
    expect(stock).toBe(LIMITS.keyPackageTarget);
  } finally {
    ctl.abort();
    await listening;
  }
});
