import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LIMITS, type OrgKeysResponse, type PendingResponse } from '@agora/protocol';
import { call, deviceInvite, enrol, generationBody, opaque, secretGroupBody, startTestOrg, type TestDevice, type TestOrg } from './testing.js';

const as = (org: TestOrg, d: { token: string }) => ({
  get: <T = Record<string, unknown>>(path: string) => call<T>(org.url, 'GET', path, undefined, { token: d.token }),
  post: <T = Record<string, unknown>>(path: string, body: unknown = {}) => call<T>(org.url, 'POST', path, body, { token: d.token }),
});

describe('key packages', () => {
  let org: TestOrg;
  let alice: TestDevice;
  let bob: TestDevice;
  /** A secret group of Bob's: claims name the group they add devices to. */
  let bobsGroup: string;
  beforeAll(async () => {
    org = await startTestOrg();
    [alice, bob] = await Promise.all([org.person('Alice'), org.person('Bob')]);
    bobsGroup = (await as(org, bob).post<{ id: string }>('/v1/groups', secretGroupBody(bob, 'Bob\'s group'))).body.id;
  });
  afterAll(() => org.close());

  type Claim = { keyPackages: { deviceId: string; keyPackage: string; lastResort: boolean }[]; missing: string[] };

  it('uploads, reports stock, hands out one per device per claim and keeps the last resort', async () => {
    const packages = Array.from({ length: LIMITS.keyPackageLowWater + 1 }, (_, i) => opaque(`kp${i}`));
    const lastResort = opaque('last');
    const up = await as(org, alice).post('/v1/keypackages', { keyPackages: packages, lastResort });
    expect(up.status).toBe(200);
    expect(up.body).toEqual({ stock: packages.length, hasLastResort: true, low: false });

    const first = await as(org, bob).post<Claim>('/v1/keypackages/claim', { groupId: bobsGroup, deviceIds: [alice.deviceId, bob.deviceId] });
    expect(first.status).toBe(200);
    expect(first.body.keyPackages).toEqual([{ deviceId: alice.deviceId, keyPackage: packages[0], lastResort: false }]);
    expect(first.body.missing).toEqual([bob.deviceId]);
    const stock = await as(org, alice).get('/v1/keypackages/stock');
    expect(stock.body).toEqual({ stock: LIMITS.keyPackageLowWater, hasLastResort: true, low: false });

    const second = await as(org, bob).post<Claim>('/v1/keypackages/claim', { groupId: bobsGroup, deviceIds: [alice.deviceId] });
    expect(second.body.keyPackages[0].keyPackage).toBe(packages[1]);
    expect((await as(org, alice).get('/v1/keypackages/stock')).body).toMatchObject({ stock: LIMITS.keyPackageLowWater - 1, low: true });

    for (let i = 2; i < packages.length; i++) await as(org, bob).post('/v1/keypackages/claim', { groupId: bobsGroup, deviceIds: [alice.deviceId] });
    for (let i = 0; i < 2; i++) {
      const kept = await as(org, bob).post<Claim>('/v1/keypackages/claim', { groupId: bobsGroup, deviceIds: [alice.deviceId] });
      expect(kept.body.keyPackages).toEqual([{ deviceId: alice.deviceId, keyPackage: lastResort, lastResort: true }]);
    }
    expect((await as(org, alice).get('/v1/keypackages/stock')).body).toEqual({ stock: 0, hasLastResort: true, low: true });
  });

  it('refuses claims for unknown or revoked devices without consuming anything', async () => {
    const carol = await org.person('Carol');
    await as(org, carol).post('/v1/keypackages', { keyPackages: [opaque('c1')] });
    const gone = await org.person('Gone');
    await as(org, org.admin).post(`/v1/admin/users/${gone.userId}/deactivate`);
    const res = await as(org, bob).post('/v1/keypackages/claim', { groupId: bobsGroup, deviceIds: [carol.deviceId, gone.deviceId] });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'invalid_field', field: 'deviceIds.1' } });
    expect((await as(org, carol).get('/v1/keypackages/stock')).body).toMatchObject({ stock: 1 });
    const unknown = await as(org, bob).post('/v1/keypackages/claim', { groupId: bobsGroup, deviceIds: ['d_AAAAAAAAAAAAAAAAAAAAAA'] });
    expect(unknown.body).toMatchObject({ error: { field: 'deviceIds.0' } });
  });

  it('limits uploads to the protocol limit', async () => {
    const tooMany = Array.from({ length: LIMITS.keyPackagesPerUpload + 1 }, () => 'AAAA');
    const res = await as(org, bob).post('/v1/keypackages', { keyPackages: tooMany });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { field: 'keyPackages' } });
    expect((await as(org, bob).get('/v1/keypackages/stock')).body).toMatchObject({ stock: 0, hasLastResort: false });
  });

  it('serves a claim only to a member device of the secret group it names', async () => {
    const erin = await org.person('Erin');
    await as(org, erin).post('/v1/keypackages', { keyPackages: [opaque('e1'), opaque('e2')] });
    const mallory = await org.person('Mallory');
    // Not a member of Bob's group: 403, and nothing is handed out.
    const outsider = await as(org, mallory).post('/v1/keypackages/claim', { groupId: bobsGroup, deviceIds: [erin.deviceId] });
    expect(outsider.status).toBe(403);
    expect(outsider.body).toMatchObject({ error: { code: 'forbidden', field: 'groupId' } });
    // A public group, or no group at all, is no reason to claim.
    const pub = (await as(org, mallory).post<{ id: string }>('/v1/groups', { name: 'Mallory public', kind: 'public' })).body.id;
    expect((await as(org, mallory).post('/v1/keypackages/claim', { groupId: pub, deviceIds: [erin.deviceId] })).status).toBe(403);
    expect((await as(org, mallory).post('/v1/keypackages/claim', { groupId: 'g_AAAAAAAAAAAAAAAAAAAAAA', deviceIds: [erin.deviceId] })).status).toBe(403);
    const missing = await as(org, mallory).post('/v1/keypackages/claim', { deviceIds: [erin.deviceId] });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: { code: 'invalid_field', field: 'groupId' } });
    expect((await as(org, erin).get('/v1/keypackages/stock')).body).toMatchObject({ stock: 2 });
  });

  it('one employee claiming a colleague\'s stock in a loop is stopped before it is empty', async () => {
    const victim = await org.person('Victim');
    const stock = Array.from({ length: LIMITS.keyPackageTarget }, (_, i) => opaque(`v${i}`));
    await as(org, victim).post('/v1/keypackages', { keyPackages: stock, lastResort: opaque('v-last') });
    const thief = await org.person('Thief');
    const group = (await as(org, thief).post<{ id: string }>('/v1/groups', secretGroupBody(thief, 'Thief\'s group'))).body.id;
    const statuses: number[] = [];
    for (let i = 0; i < LIMITS.keyPackageTarget + 10; i++) {
      const res = await as(org, thief).post('/v1/keypackages/claim', { groupId: group, deviceIds: [victim.deviceId] });
      statuses.push(res.status);
      if (res.status !== 200) {
        expect(res.status).toBe(429);
        expect(res.body).toMatchObject({ error: { code: 'rate_limited', field: 'deviceIds.0' } });
      }
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMITS.claimsPerTargetPerHour);
    const left = (await as(org, victim).get('/v1/keypackages/stock')).body;
    expect(left).toEqual({ stock: LIMITS.keyPackageTarget - LIMITS.claimsPerTargetPerHour, hasLastResort: true, low: false });
    // Another colleague's claim is counted on its own.
    const colleague = await org.person('Colleague');
    const theirs = (await as(org, colleague).post<{ id: string }>('/v1/groups', secretGroupBody(colleague, 'Colleague\'s group'))).body.id;
    expect((await as(org, colleague).post('/v1/keypackages/claim', { groupId: theirs, deviceIds: [victim.deviceId] })).status).toBe(200);
  });
});

describe('organisation keys', () => {
  let org: TestOrg;
  let alice: TestDevice;
  beforeAll(async () => {
    org = await startTestOrg();
    alice = await org.person('Alice');
  });
  afterAll(() => org.close());

  const pending = async () => (await as(org, alice).get<PendingResponse>('/v1/orgkeys/pending')).body.pending;
  const orgKeys = async (d: TestDevice) => (await as(org, d).get<OrgKeysResponse>('/v1/orgkeys')).body;

  it('starts at generation 0 with everyone pending nothing', async () => {
    expect(await orgKeys(alice)).toEqual({ current: 0, rotationNeeded: false, envelopes: [], generations: [] });
    expect(await pending()).toEqual([]);
  });

  it('lets only an administrator create generations, strictly one after the other', async () => {
    expect((await as(org, alice).post('/v1/orgkeys/generations', generationBody(alice, 1))).status).toBe(403);
    const skip = await as(org, org.admin).post('/v1/orgkeys/generations', generationBody(org.admin, 2));
    expect(skip.status).toBe(409);
    expect(skip.body).toMatchObject({ error: { code: 'conflict' } });

    const sealed = opaque('sealed-admin-g1');
    const g1 = await as(org, org.admin).post('/v1/orgkeys/generations', generationBody(org.admin, 1, [{ deviceId: org.admin.deviceId, sealed }]));
    expect(g1.status).toBe(201);
    expect(g1.body).toEqual({ generation: 1 });
    expect((await as(org, org.admin).post('/v1/orgkeys/generations', generationBody(org.admin, 1))).status).toBe(409);
    expect((await as(org, org.admin).post('/v1/orgkeys/generations', generationBody(org.admin, 3))).status).toBe(409);

    const mine = await orgKeys(org.admin);
    expect(mine.current).toBe(1);
    expect(mine.envelopes).toEqual([
      { generation: 1, deviceId: org.admin.deviceId, sealed, sealedBy: org.admin.deviceId, at: expect.any(Number) },
    ]);
    expect(await orgKeys(alice)).toMatchObject({ current: 1, envelopes: [] });
  });

  it('lists devices missing a generation until an envelope for them arrives, new devices included', async () => {
    expect(await pending()).toEqual([{ deviceId: alice.deviceId, missing: [1] }]);
    const alice2 = await enrol(org.url, await deviceInvite(org.url, alice));
    expect(await pending()).toEqual(
      expect.arrayContaining([{ deviceId: alice.deviceId, missing: [1] }, { deviceId: alice2.deviceId, missing: [1] }]),
    );
    expect(await pending()).toHaveLength(2);

    // any colleague's device may seal the generation for a pending device
    const up = await as(org, alice2).post('/v1/orgkeys/envelopes', {
      envelopes: [{ generation: 1, deviceId: alice.deviceId, sealed: opaque('for-alice') }],
    });
    expect(up.status).toBe(200);
    expect(await pending()).toEqual([{ deviceId: alice2.deviceId, missing: [1] }]);
    expect((await orgKeys(alice)).envelopes).toEqual([expect.objectContaining({ generation: 1, sealedBy: alice2.deviceId })]);

    // idempotent: the first envelope for a (generation, device) stays
    await as(org, org.admin).post('/v1/orgkeys/envelopes', {
      envelopes: [{ generation: 1, deviceId: alice.deviceId, sealed: opaque('again') }],
    });
    expect((await orgKeys(alice)).envelopes).toHaveLength(1);
    expect((await orgKeys(alice)).envelopes[0].sealedBy).toBe(alice2.deviceId);

    await as(org, alice).post('/v1/orgkeys/envelopes', { envelopes: [{ generation: 1, deviceId: alice2.deviceId, sealed: opaque('a2') }] });
    expect(await pending()).toEqual([]);
  });

  it('refuses envelopes for generations that do not exist yet', async () => {
    const future = await as(org, alice).post('/v1/orgkeys/envelopes', {
      envelopes: [{ generation: 2, deviceId: alice.deviceId, sealed: opaque('x') }],
    });
    expect(future.status).toBe(400);
    expect(future.body).toMatchObject({ error: { code: 'invalid_field', field: 'envelopes.0.generation' } });
  });

  it('flags a rotation after a deactivation and clears it with the next generation', async () => {
    const leaver = await org.person('Leaver');
    await as(org, org.admin).post(`/v1/admin/users/${leaver.userId}/deactivate`);
    expect((await orgKeys(alice)).rotationNeeded).toBe(true);
    // the leaver is not pending and cannot be sealed to
    expect((await pending()).some((p) => p.deviceId === leaver.deviceId)).toBe(false);
    const toLeaver = await as(org, alice).post('/v1/orgkeys/envelopes', {
      envelopes: [{ generation: 1, deviceId: leaver.deviceId, sealed: opaque('x') }],
    });
    expect(toLeaver.status).toBe(400);
    expect(toLeaver.body).toMatchObject({ error: { field: 'envelopes.0.deviceId' } });
    const g2ToLeaver = await as(org, org.admin).post('/v1/orgkeys/generations', generationBody(org.admin, 2, [{ deviceId: leaver.deviceId, sealed: opaque('x') }]));
    expect(g2ToLeaver.status).toBe(400);
    expect(g2ToLeaver.body).toMatchObject({ error: { field: 'envelopes.0.deviceId' } });
    expect((await orgKeys(alice)).current).toBe(1);

    // The log shows a deactivation newer than the latest generation: any active employee's device
    // may rotate now (no administrator has to be online), and the first generation wins.
    const g2 = await as(org, alice).post('/v1/orgkeys/generations', generationBody(alice, 2, [{ deviceId: org.admin.deviceId, sealed: opaque('alice-g2') }]));
    expect(g2.status).toBe(201);
    expect((await as(org, org.admin).post('/v1/orgkeys/generations', generationBody(org.admin, 2))).status).toBe(409);
    expect(await orgKeys(alice)).toMatchObject({ current: 2, rotationNeeded: false, generations: [1, 2].map((generation) => ({ generation, index: expect.any(Number) })) });
    // Settled: another rotation is for administrators only again.
    expect((await as(org, alice).post('/v1/orgkeys/generations', generationBody(alice, 3))).status).toBe(403);
    expect((await as(org, org.admin).post('/v1/orgkeys/generations', generationBody(org.admin, 3))).status).toBe(201);
    // partial generations: everyone else is pending them
    expect((await pending()).find((p) => p.deviceId === alice.deviceId)).toEqual({ deviceId: alice.deviceId, missing: [2, 3] });
  });
});
