/** POST /v1/admin/users/:id/role: an administrator's signed role change, logged as ROLE_CHANGED in
 * the same transaction as the stored role, which the relay's own admin checks then follow. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { decodeEntry, roleChangeMessage, type KtRole } from '@agora/protocol/kt';
import { fromB64u, toB64u } from '@agora/protocol';
import { call, inviteBody, startTestOrg, type TestDevice, type TestOrg } from './testing.js';

let org: TestOrg;
let bob: TestDevice;
let carol: TestDevice;

function change(by: TestDevice, userId: string, role: KtRole, nonce = new Uint8Array(randomBytes(16))) {
  return { role, nonce: toB64u(nonce), signature: by.sign(roleChangeMessage({ userId, role, nonce })) };
}
const post = (by: TestDevice, userId: string, body: unknown) => call(org.url, 'POST', `/v1/admin/users/${userId}/role`, body, { token: by.token });
const roleOf = async (userId: string) => ((await call<{ users: { id: string; role: string }[] }>(org.url, 'GET', '/v1/directory', undefined, { token: org.admin.token })).body.users.find((u) => u.id === userId)?.role);
async function lastEntries(n: number) {
  const cp = await call<{ checkpoint: string }>(org.url, 'GET', '/v1/kt/checkpoint', undefined, { token: org.admin.token });
  const size = Number(cp.body.checkpoint.split('\n')[1]);
  const res = await call<{ entries: { entry: string }[] }>(org.url, 'GET', `/v1/kt/entries?start=${size - n}&end=${size}`, undefined, { token: org.admin.token });
  return res.body.entries.map((e) => decodeEntry(fromB64u(e.entry)));
}
const userInviteBy = (by: TestDevice, name: string) => {
  const { body } = inviteBody(by, { kind: 'user', name });
  return call(org.url, 'POST', '/v1/invites', body, { token: by.token });
};

beforeAll(async () => {
  org = await startTestOrg();
  bob = await org.person('Bob');
  carol = await org.person('Carol');
});
afterAll(() => org.close());

describe('changing a role', () => {
  it('refuses bad input with 4xx naming the field, and writes nothing', async () => {
    const good = change(org.admin, bob.userId, 'admin');
    const cases: [unknown, number, string | undefined][] = [
      [{ ...good, role: 'owner' }, 400, 'role'],
      [{ ...good, nonce: 'short' }, 400, 'nonce'],
      [{ ...good, signature: undefined }, 400, 'signature'],
      [{ ...good, signature: toB64u(new Uint8Array(64)) }, 400, 'signature'],
      // signed for another person
      [change(org.admin, carol.userId, 'admin'), 400, 'signature'],
      // signed for another role
      [{ ...change(org.admin, bob.userId, 'announcer'), role: 'admin' }, 400, 'signature'],
      [change(org.admin, bob.userId, 'member'), 409, 'role'],
    ];
    for (const [body, status, field] of cases) {
      const res = await post(org.admin, bob.userId, body);
      expect([res.status, (res.body as { error: { field?: string } }).error.field]).toEqual([status, field]);
    }
    expect((await post(org.admin, 'u_AAAAAAAAAAAAAAAAAAAAAA', change(org.admin, 'u_AAAAAAAAAAAAAAAAAAAAAA', 'admin'))).status).toBe(404);
    expect((await post(org.admin, 'nonsense', good)).status).toBe(404);
    expect(await roleOf(bob.userId)).toBe('member');
  });

  it('only an administrator may change roles, their own included', async () => {
    const res = await post(bob, bob.userId, change(bob, bob.userId, 'admin'));
    expect(res.status).toBe(403);
    expect(await roleOf(bob.userId)).toBe('member');
  });

  it('a promotion is logged with the signature and gives the relay\'s admin rights; a demotion takes them away', async () => {
    expect((await userInviteBy(bob, 'Dave')).status).toBe(403);
    const body = change(org.admin, bob.userId, 'admin');
    const res = await post(org.admin, bob.userId, body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user: { id: bob.userId, role: 'admin' } });
    const [entry, snapshot] = await lastEntries(2);
    expect(entry).toMatchObject({ type: 'role-changed', userId: bob.userId, role: 'admin', approverDeviceId: org.admin.deviceId });
    expect(entry.type === 'role-changed' && toB64u(entry.signature)).toBe(body.signature);
    expect(snapshot.type).toBe('snapshot');
    expect((await userInviteBy(bob, 'Dave')).status).toBe(201);
    // the same signed change cannot be logged twice (nor the relay be asked to)
    expect((await post(org.admin, bob.userId, change(org.admin, bob.userId, 'member', fromB64u(body.nonce)))).status).toBe(400);

    // the new administrator demotes the first one's colleague and then the first one
    expect((await post(bob, carol.userId, change(bob, carol.userId, 'announcer'))).status).toBe(200);
    expect(await roleOf(carol.userId)).toBe('announcer');
    expect((await post(bob, bob.userId, change(bob, bob.userId, 'member'))).status).toBe(200);
    expect((await userInviteBy(bob, 'Erin')).status).toBe(403);
    expect((await post(bob, carol.userId, change(bob, carol.userId, 'member'))).status).toBe(403);
  });

  it('the last active administrator cannot be demoted, not even by themselves', async () => {
    const res = await post(org.admin, org.admin.userId, change(org.admin, org.admin.userId, 'member'));
    expect(res.status).toBe(409);
    expect((res.body as { error: { field?: string; message: string } }).error).toMatchObject({ field: 'role', message: expect.stringMatching(/last active administrator/) });
    expect(await roleOf(org.admin.userId)).toBe('admin');
  });
});
