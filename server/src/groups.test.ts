import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GroupView, LogResponse, MailboxItem } from '@agora/protocol';
import {
  call, commitBody, deviceInvite, enrol, generationBody, inviteBody, membership, opaque, secretGroupBody, startTestOrg,
  type TestDevice, type TestOrg,
} from './testing.js';

describe('authorization and secret groups', () => {
  let org: TestOrg;
  let alice: TestDevice;
  let bob: TestDevice;
  let carol: TestDevice;
  beforeAll(async () => {
    org = await startTestOrg();
    [alice, bob, carol] = await Promise.all([org.person('Alice'), org.person('Bob'), org.person('Carol')]);
  });
  afterAll(() => org.close());

  const as = (d: { token: string }) => ({
    get: <T = Record<string, unknown>>(path: string) => call<T>(org.url, 'GET', path, undefined, { token: d.token }),
    post: <T = Record<string, unknown>>(path: string, body: unknown = {}) => call<T>(org.url, 'POST', path, body, { token: d.token }),
  });
  const secretGroup = async (owner: TestDevice, name = 'Bauleitung') => {
    const res = await as(owner).post<GroupView>('/v1/groups', secretGroupBody(owner, name));
    expect(res.status).toBe(201);
    return res.body;
  };
  const commit = async (by: TestDevice, groupId: string, body: { epoch: number; added?: string[]; removed?: string[]; welcome?: string }) =>
    as(by).post<{ seq: number; epoch: number; error?: { code: string; epoch?: number; field?: string } }>(
      `/v1/groups/${groupId}/commits`, await commitBody(org.url, by, groupId, body),
    );
  const init = (by: TestDevice, groupId: string) =>
    as(by).post<GroupView>(`/v1/groups/${groupId}/init`, { epoch: 0, membership: membership(by, groupId, 0, [by.deviceId]) });

  it('keeps administration to administrators', async () => {
    const invite = await as(alice).post('/v1/invites', inviteBody(alice, { kind: 'user', name: 'Eve' }).body);
    expect(invite.status).toBe(403);
    expect(invite.body).toMatchObject({ error: { code: 'forbidden' } });
    expect((await as(alice).post('/v1/departments', { name: 'Einkauf' })).status).toBe(403);
    expect((await as(alice).post(`/v1/admin/users/${bob.userId}/deactivate`)).status).toBe(403);
    expect((await as(alice).post('/v1/invites', inviteBody(alice, { kind: 'device', userId: bob.userId }).body)).status).toBe(403);
    expect((await as(alice).post('/v1/orgkeys/generations', generationBody(alice, 1))).status).toBe(403);
    // a person may link a further device of their own
    const own = await as(alice).post('/v1/invites', inviteBody(alice, { kind: 'device' }).body);
    expect(own.status).toBe(201);
    expect(own.body).toEqual({ kind: 'device', expiresAt: expect.any(Number) });
    expect((await org.relay.store.getUser(bob.userId))?.status).toBe('active');
  });

  it('gives a department a public and a reserved secret group; only department members create the secret one', async () => {
    const dept = await as(org.admin).post<{ id: string; publicGroupId: string; secretGroupId: string; members: string[] }>(
      '/v1/departments', { name: 'Bauleitung' },
    );
    expect(dept.status).toBe(201);
    expect(dept.body.members).toEqual([]);
    const added = await as(org.admin).post(`/v1/departments/${dept.body.id}/members`, { userId: alice.userId });
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ members: [alice.userId] });
    await as(org.admin).post(`/v1/departments/${dept.body.id}/members`, { userId: carol.userId });

    const aliceGroups = await as(alice).get<{ groups: GroupView[] }>('/v1/groups');
    const reserved = aliceGroups.body.groups.find((g) => g.id === dept.body.secretGroupId);
    // a secret group's name is its members' (encrypted in its log): the relay has none
    expect(reserved).toMatchObject({ kind: 'secret', epoch: null, isMember: false, name: null });
    const pub = aliceGroups.body.groups.find((g) => g.id === dept.body.publicGroupId);
    expect(pub).toMatchObject({ kind: 'public', isMember: true, departmentId: dept.body.id });

    const bobGroups = await as(bob).get<{ groups: GroupView[] }>('/v1/groups');
    expect(bobGroups.body.groups.some((g) => g.id === dept.body.secretGroupId)).toBe(false);
    expect(bobGroups.body.groups.some((g) => g.id === dept.body.publicGroupId)).toBe(true);
    expect((await as(bob).get(`/v1/groups/${dept.body.secretGroupId}`)).status).toBe(403);

    // the admin is not in the department: no power over its secret group
    expect((await init(org.admin, dept.body.secretGroupId)).status).toBe(403);
    const created = await init(alice, dept.body.secretGroupId);
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ epoch: 0, isMember: true, memberDevices: [alice.deviceId], readableFrom: 0 });
    const second = await init(carol, dept.body.secretGroupId);
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ error: { code: 'conflict' } });
    // carol, in the department but not a member device, sees it and cannot read it
    const seen = await as(carol).get<GroupView>(`/v1/groups/${dept.body.secretGroupId}`);
    expect(seen.body).toMatchObject({ isMember: false, members: [alice.userId] });
    expect((await as(carol).get(`/v1/groups/${dept.body.secretGroupId}/log`)).status).toBe(403);
  });

  it('lets only member devices read and write a secret group; an admin has no power there', async () => {
    const g = await secretGroup(alice);
    expect(g).toMatchObject({ epoch: 0, memberDevices: [alice.deviceId], members: [alice.userId], isMember: true });
    for (const outsider of [bob, org.admin]) {
      expect((await as(outsider).get(`/v1/groups/${g.id}`)).status).toBe(403);
      expect((await as(outsider).get(`/v1/groups/${g.id}/log`)).status).toBe(403);
      expect((await as(outsider).post(`/v1/groups/${g.id}/records`, { epoch: 0, ciphertext: opaque('r') })).status).toBe(403);
      const c = await commit(outsider, g.id, { epoch: 0, added: [outsider.deviceId], welcome: opaque('w') });
      expect(c.status).toBe(403);
      expect((await as(outsider).post(`/v1/groups/${g.id}/join`)).status).toBe(403);
    }
    expect((await as(org.admin).post(`/v1/groups/${g.id}/members`, { userIds: [org.admin.userId] })).status).toBe(400);
    const list = await as(bob).get<{ groups: GroupView[] }>('/v1/groups');
    expect(list.body.groups.some((x) => x.id === g.id)).toBe(false);
    expect(await org.relay.store.listGroupDevices(g.id)).toHaveLength(1);
  });

  it('adds a device by commit: Welcome in its mailbox, log readable from its join seq only', async () => {
    const g = await secretGroup(alice);
    const before = await as(alice).post<{ seq: number }>(`/v1/groups/${g.id}/records`, { epoch: 0, ciphertext: opaque('before') });
    expect(before.status).toBe(201);
    expect(before.body.seq).toBe(1);

    const welcome = opaque('welcome');
    const c = await commit(alice, g.id, { epoch: 0, added: [bob.deviceId], welcome });
    expect(c.status).toBe(200);
    expect(c.body).toEqual({ seq: 2, epoch: 1 });

    const box = await as(bob).get<{ items: MailboxItem[]; head: number }>('/v1/mailbox?after=0');
    const item = box.body.items.find((i) => i.groupId === g.id);
    expect(item).toMatchObject({ kind: 'welcome', groupSeq: 2, epoch: 1, from: alice.deviceId, payload: welcome });

    const after = await as(bob).post<{ seq: number }>(`/v1/groups/${g.id}/records`, { epoch: 1, ciphertext: opaque('after') });
    expect(after.body.seq).toBe(3);

    const bobLog = await as(bob).get<LogResponse>(`/v1/groups/${g.id}/log?after=0`);
    expect(bobLog.status).toBe(200);
    expect(bobLog.body.entries.map((e) => e.seq)).toEqual([2, 3]);
    expect(bobLog.body.head).toBe(3);
    expect(bobLog.body.entries[0]).toMatchObject({ kind: 'commit', epoch: 0, sender: alice.deviceId, added: [bob.deviceId], removed: [] });
    const aliceLog = await as(alice).get<LogResponse>(`/v1/groups/${g.id}/log?after=0&limit=2`);
    expect(aliceLog.body.entries.map((e) => e.seq)).toEqual([1, 2]);
    const view = await as(bob).get<GroupView>(`/v1/groups/${g.id}`);
    expect(view.body).toMatchObject({ isMember: true, readableFrom: 2, epoch: 1, members: [alice.userId, bob.userId].sort() });
    expect([...view.body.memberDevices].sort()).toEqual([alice.deviceId, bob.deviceId].sort());

    // a record only for the current epoch: an older or a later one gets 409 with the current one
    for (const epoch of [0, 2]) {
      const wrong = await as(bob).post(`/v1/groups/${g.id}/records`, { epoch, ciphertext: opaque('x') });
      expect(wrong.status).toBe(409);
      expect(wrong.body).toMatchObject({ error: { code: 'stale_epoch', epoch: 1 } });
    }
    expect((await as(bob).post(`/v1/groups/${g.id}/records`, { epoch: 1, ciphertext: opaque('x') })).status).toBe(201);
  });

  it('refuses a stale epoch with the current one, and of two racing commits accepts exactly one', async () => {
    const g = await secretGroup(alice);
    expect((await commit(alice, g.id, { epoch: 0, added: [bob.deviceId], welcome: opaque('w') })).status).toBe(200);
    const stale = await commit(alice, g.id, { epoch: 0 });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: { code: 'stale_epoch', epoch: 1 } });

    const race = await Promise.all([commit(alice, g.id, { epoch: 1 }), commit(bob, g.id, { epoch: 1 })]);
    expect(race.map((r) => r.status).sort()).toEqual([200, 409]);
    const loser = race.find((r) => r.status === 409)!;
    expect(loser.body).toMatchObject({ error: { code: 'stale_epoch', epoch: 2 } });
    expect((await org.relay.store.getGroup(g.id))?.epoch).toBe(2);
    expect((await org.relay.store.readLog(g.id, 0, 10)).filter((e) => e.kind === 'commit')).toHaveLength(2);
  });

  it('checks the declared membership changes of a commit', async () => {
    const g = await secretGroup(alice);
    const expectField = async (body: Parameters<typeof commit>[2], field: string) => {
      const res = await commit(alice, g.id, body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'invalid_field', field } });
    };
    await expectField({ epoch: 0, added: [alice.deviceId], welcome: opaque('w') }, 'added.0');
    await expectField({ epoch: 0, added: [bob.deviceId, bob.deviceId], welcome: opaque('w') }, 'added.1');
    await expectField({ epoch: 0, added: ['d_AAAAAAAAAAAAAAAAAAAAAA'], welcome: opaque('w') }, 'added.0');
    await expectField({ epoch: 0, welcome: opaque('w') }, 'welcome');
    await expectField({ epoch: 0, removed: [carol.deviceId] }, 'removed.0');
    await expectField({ epoch: 0, removed: [alice.deviceId] }, 'removed.0');
    await expectField({ epoch: 0, added: [bob.deviceId], removed: [bob.deviceId], welcome: opaque('w') }, 'removed.0');
    const gone = await org.person('Gone');
    await as(org.admin).post(`/v1/admin/users/${gone.userId}/deactivate`);
    await expectField({ epoch: 0, added: [gone.deviceId], welcome: opaque('w') }, 'added.0');
    // nothing of it was stored
    expect((await org.relay.store.getGroup(g.id))?.head).toBe(0);
    expect(await org.relay.store.listGroupDevices(g.id)).toHaveLength(1);
    // A declared device without a Welcome is routed to (members route again to a leaf a voided
    // commit cut off); it gets nothing in its mailbox.
    expect((await commit(alice, g.id, { epoch: 0, added: [bob.deviceId] })).status).toBe(200);
    expect(await org.relay.store.listGroupDevices(g.id)).toHaveLength(2);
    expect((await org.relay.store.readMailbox(bob.deviceId, 0, 100)).filter((m) => m.groupId === g.id)).toEqual([]);
  });

  it('shuts a removed device out of the log, records and commits', async () => {
    const g = await secretGroup(alice);
    await commit(alice, g.id, { epoch: 0, added: [bob.deviceId], welcome: opaque('w') });
    expect((await as(bob).get(`/v1/groups/${g.id}/log`)).status).toBe(200);
    const rm = await commit(alice, g.id, { epoch: 1, removed: [bob.deviceId] });
    expect(rm.status).toBe(200);
    expect((await as(bob).get(`/v1/groups/${g.id}/log`)).status).toBe(403);
    expect((await as(bob).post(`/v1/groups/${g.id}/records`, { epoch: 2, ciphertext: opaque('r') })).status).toBe(403);
    expect((await commit(bob, g.id, { epoch: 2 })).status).toBe(403);
    expect((await as(bob).get(`/v1/groups/${g.id}`)).status).toBe(403);
  });

  it('adds a person\'s further device only by commit; it reads from its person\'s join point', async () => {
    const g = await secretGroup(bob);
    await as(bob).post(`/v1/groups/${g.id}/records`, { epoch: 0, ciphertext: opaque('before alice') });
    expect((await commit(bob, g.id, { epoch: 0, added: [alice.deviceId], welcome: opaque('w') })).body.seq).toBe(2);
    await as(alice).post(`/v1/groups/${g.id}/records`, { epoch: 1, ciphertext: opaque('alice 1') });

    const alice2 = await enrol(org.url, await deviceInvite(org.url, alice));
    // alice's new device is not a member just because alice is
    expect((await as(alice2).get(`/v1/groups/${g.id}/log`)).status).toBe(403);
    const list = await as(alice2).get<{ groups: GroupView[] }>('/v1/groups');
    expect(list.body.groups.some((x) => x.id === g.id)).toBe(false);

    const added = await commit(alice, g.id, { epoch: 1, added: [alice2.deviceId], welcome: opaque('w') });
    expect(added.body.seq).toBe(4);
    // what alice's first device could read (from seq 2), her second may too, for her history
    // bundle to be of use; nothing from before alice joined
    const log = await as(alice2).get<LogResponse>(`/v1/groups/${g.id}/log?after=0`);
    expect(log.status).toBe(200);
    expect(log.body.entries.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect((await as(alice2).get<GroupView>(`/v1/groups/${g.id}`)).body).toMatchObject({ isMember: true, readableFrom: 2 });
    expect((await as(bob).get<GroupView>(`/v1/groups/${g.id}`)).body).toMatchObject({ readableFrom: 0 });
  });

  it('lets any active person read a public group; membership changes follow their rules', async () => {
    const gen = await as(org.admin).post('/v1/orgkeys/generations', generationBody(org.admin, 1));
    expect(gen.status).toBe(201);
    const created = await as(alice).post<GroupView>('/v1/groups', { name: 'Kantine', kind: 'public' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'public', epoch: null, members: [alice.userId], isMember: true, memberDevices: [] });
    const g = created.body;

    const rec = await as(alice).post<{ seq: number }>(`/v1/groups/${g.id}/records`, { epoch: 1, ciphertext: opaque('menu') });
    expect(rec.status).toBe(201);
    const read = await as(bob).get<LogResponse>(`/v1/groups/${g.id}/log`);
    expect(read.status).toBe(200);
    expect(read.body.entries).toHaveLength(1);
    // a person who has not joined may still write (e.g. comment)
    expect((await as(bob).post(`/v1/groups/${g.id}/records`, { epoch: 1, ciphertext: opaque('c') })).status).toBe(201);
    const badGen = await as(bob).post(`/v1/groups/${g.id}/records`, { epoch: 2, ciphertext: opaque('c') });
    expect(badGen.status).toBe(400);
    expect(badGen.body).toMatchObject({ error: { field: 'epoch' } });
    expect((await as(bob).post(`/v1/groups/${g.id}/records`, { epoch: 0, ciphertext: opaque('c') })).status).toBe(400);

    // bob is neither creator nor member nor admin
    expect((await as(bob).post(`/v1/groups/${g.id}/members`, { userIds: [carol.userId] })).status).toBe(403);
    const joined = await as(bob).post<GroupView>(`/v1/groups/${g.id}/join`);
    expect(joined.status).toBe(200);
    expect(joined.body.isMember).toBe(true);
    expect((await as(bob).post<GroupView>(`/v1/groups/${g.id}/members`, { userIds: [carol.userId] })).body.members).toContain(carol.userId);
    expect((await as(bob).post(`/v1/groups/${g.id}/members/remove`, { userIds: [carol.userId] })).status).toBe(403);
    expect((await as(carol).post<GroupView>(`/v1/groups/${g.id}/members/remove`, { userIds: [carol.userId] })).body.isMember).toBe(false);
    expect((await as(alice).post<GroupView>(`/v1/groups/${g.id}/members/remove`, { userIds: [bob.userId] })).body.members).toEqual([alice.userId]);
  });

  it('shuts a deactivated person out of public groups too', async () => {
    const dave = await org.person('Dave');
    const created = await as(alice).post<GroupView>('/v1/groups', { name: 'News', kind: 'public' });
    expect((await as(dave).get(`/v1/groups/${created.body.id}/log`)).status).toBe(200);
    await as(org.admin).post(`/v1/admin/users/${dave.userId}/deactivate`);
    const res = await as(dave).get(`/v1/groups/${created.body.id}/log`);
    expect(res.status).toBe(403);
    const add = await as(alice).post(`/v1/groups/${created.body.id}/members`, { userIds: [dave.userId] });
    expect(add.status).toBe(400);
    expect(add.body).toMatchObject({ error: { field: 'userIds.0' } });
  });
});
