/** Names at the relay's edge: every endpoint that takes a name refuses invisible and text-direction
 * characters with a 400 naming the field; persons, departments and public groups have unique names
 * (case, normal form and spacing folded) with a 409 naming the field; departments and public groups
 * are renamed and deleted by the people allowed to; a secret group's name never reaches the relay. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Department, GroupView } from '@agora/protocol';
import {
  call, deviceKeys, enrol, inviteBody, membership, registerBody, secretGroupBody, startTestOrg, userInvite, type TestDevice,
  type TestOrg,
} from './testing.js';

/** One example of each class of character a name must not hide. */
const HIDDEN = {
  'right-to-left override U+202E': 'Ben \u202eWeber',
  'left-to-right isolate U+2066': 'Ben \u2066Weber',
  'left-to-right mark U+200E': 'Ben\u200e Weber',
  'Arabic letter mark U+061C': 'Ben \u061cWeber',
  'zero-width space U+200B': 'Ben\u200bWeber',
  'zero-width joiner U+200D': 'Ben\u200dWeber',
  'word joiner U+2060': 'Ben\u2060Weber',
  'byte-order mark U+FEFF': '\ufeffBen Weber',
  'soft hyphen U+00AD (format)': 'Ben We\u00adber',
  'Hangul filler U+3164': 'Ben \u3164Weber',
  'control U+0007': 'Ben\u0007Weber',
  'line separator U+2028': 'Ben\u2028Weber',
};

describe('names', () => {
  let org: TestOrg;
  let alice: TestDevice;
  beforeAll(async () => {
    org = await startTestOrg();
    alice = await org.person('Alice Adler');
  });
  afterAll(() => org.close());

  const as = (d: { token: string }) => ({
    get: <T = Record<string, unknown>>(path: string) => call<T>(org.url, 'GET', path, undefined, { token: d.token }),
    post: <T = Record<string, unknown>>(path: string, body: unknown = {}) => call<T>(org.url, 'POST', path, body, { token: d.token }),
  });
  const refused = (res: { status: number; body: unknown }, status: number, code: string, field: string) => {
    expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { error: { code, field } } });
  };

  describe.each(Object.entries(HIDDEN))('%s is refused', (_what, name) => {
    it('in an invite, a registration, a department, a public group and a rename', async () => {
      refused(await as(org.admin).post('/v1/invites', inviteBody(org.admin, { kind: 'user', name }).body), 400, 'invalid_field', 'name');
      refused(await call(org.url, 'POST', '/v1/register', registerBody('x'.repeat(20), deviceKeys(), { name })), 400, 'invalid_field', 'name');
      refused(await as(org.admin).post('/v1/departments', { name }), 400, 'invalid_field', 'name');
      refused(await as(alice).post('/v1/groups', { name, kind: 'public' }), 400, 'invalid_field', 'name');
      const g = await as(alice).post<GroupView>('/v1/groups', { name: `ok ${_what}`, kind: 'public' });
      expect(g.status).toBe(201);
      refused(await as(alice).post(`/v1/groups/${g.body.id}/rename`, { name }), 400, 'invalid_field', 'name');
      const groups = (await as(alice).get<{ groups: GroupView[] }>('/v1/groups')).body.groups;
      expect(groups.some((x) => x.name === name)).toBe(false);
    });
  });

  it('person names are unique: an invite for a taken name is refused, and of two racing invites one registers', async () => {
    refused(await as(org.admin).post('/v1/invites', inviteBody(org.admin, { kind: 'user', name: 'ALICE  adler' }).body), 409, 'conflict', 'name');
    // Both invites go out before anyone registers: the store's unique key decides.
    const first = await userInvite(org.url, org.admin, 'Eva Klein');
    const second = await userInvite(org.url, org.admin, 'eva klein');
    await enrol(org.url, first);
    await expect(enrol(org.url, second)).rejects.toThrow(/409.*"field":"name"/);
    const users = (await as(org.admin).get<{ users: { name: string }[] }>('/v1/directory')).body.users;
    expect(users.filter((u) => u.name.toLowerCase() === 'eva klein')).toHaveLength(1);
  });

  it('department names are unique, and a public group cannot be named like a department', async () => {
    const bau = await as(org.admin).post<Department>('/v1/departments', { name: 'Bauamt' });
    expect(bau.status).toBe(201);
    refused(await as(org.admin).post('/v1/departments', { name: 'bauamt' }), 409, 'conflict', 'name');
    refused(await as(org.admin).post('/v1/departments', { name: ' BAUAMT ' }), 409, 'conflict', 'name');
    refused(await as(alice).post('/v1/groups', { name: 'Bauamt', kind: 'public' }), 409, 'conflict', 'name');
    // composed and decomposed spellings are one name
    expect((await as(alice).post('/v1/groups', { name: 'Café', kind: 'public' })).status).toBe(201);
    refused(await as(alice).post('/v1/groups', { name: 'Cafe\u0301', kind: 'public' }), 409, 'conflict', 'name');
    // a department cannot take a public group's name either (its own public group would carry it)
    refused(await as(org.admin).post('/v1/departments', { name: 'CAFÉ' }), 409, 'conflict', 'name');
    expect((await as(org.admin).get<{ departments: Department[] }>('/v1/departments')).body.departments.filter((d) => d.name.toLowerCase() === 'bauamt')).toHaveLength(1);
  });

  it('concurrent department creations of one name: exactly one succeeds', async () => {
    const results = await Promise.all(['Kasse', 'kasse', 'KASSE', 'Kasse'].map((name) => as(org.admin).post('/v1/departments', { name })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
  });

  it('a secret group is created without a name, and the relay refuses one', async () => {
    const body = secretGroupBody(alice, 'unused');
    refused(await as(alice).post('/v1/groups', { ...body, name: 'Geheimprojekt' }), 400, 'invalid_field', 'name');
    const g = await as(alice).post<GroupView>('/v1/groups', body);
    expect(g.status).toBe(201);
    expect(g.body.name).toBeNull();
    refused(await as(alice).post('/v1/groups', { kind: 'public' }), 400, 'invalid_field', 'name');
    const rename = await as(alice).post(`/v1/groups/${g.body.id}/rename`, { name: 'Geheim' });
    expect(rename.status).toBe(400);
  });

  it('departments: administrators rename (with the public group) and delete empty ones', async () => {
    const bob = await org.person('Bob Bauer');
    const d = (await as(org.admin).post<Department>('/v1/departments', { name: 'Tiefbau' })).body;
    expect((await as(bob).post(`/v1/departments/${d.id}/rename`, { name: 'Hochbau' })).status).toBe(403);
    const renamed = await as(org.admin).post<Department>(`/v1/departments/${d.id}/rename`, { name: 'Straßenbau' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe('Straßenbau');
    const pub = await as(org.admin).get<GroupView>(`/v1/groups/${d.publicGroupId}`);
    expect(pub.body.name).toBe('Straßenbau');
    refused(await as(org.admin).post(`/v1/departments/${d.id}/rename`, { name: 'bauamt' }), 409, 'conflict', 'name');
    // its public group follows the department
    expect((await as(org.admin).post(`/v1/groups/${d.publicGroupId}/rename`, { name: 'Other' })).status).toBe(400);
    expect((await as(org.admin).post(`/v1/groups/${d.publicGroupId}/delete`)).status).toBe(400);

    await as(org.admin).post(`/v1/departments/${d.id}/members`, { userId: bob.userId });
    expect((await as(bob).post(`/v1/departments/${d.id}/delete`)).status).toBe(403);
    const busy = await as(org.admin).post(`/v1/departments/${d.id}/delete`);
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ error: { code: 'conflict' } });
    // a department member created its secret group: that stays theirs
    const init = await as(bob).post<GroupView>(`/v1/groups/${d.secretGroupId}/init`, {
      epoch: 0, membership: membership(bob, d.secretGroupId, 0, [bob.deviceId]),
    });
    expect(init.status).toBe(200);
    expect((await as(org.admin).post(`/v1/departments/${d.id}/members/remove`, { userId: bob.userId })).status).toBe(200);
    expect((await as(org.admin).post(`/v1/departments/${d.id}/delete`)).status).toBe(200);
    expect((await as(org.admin).get(`/v1/groups/${d.publicGroupId}`)).status).toBe(404);
    const kept = await as(bob).get<GroupView>(`/v1/groups/${d.secretGroupId}`);
    expect(kept.body).toMatchObject({ kind: 'secret', departmentId: null, isMember: true });
    expect((await as(org.admin).get<{ departments: Department[] }>('/v1/departments')).body.departments.some((x) => x.id === d.id)).toBe(false);
    expect((await as(org.admin).post(`/v1/departments/${d.id}/delete`)).status).toBe(404);
    // the name is free again
    expect((await as(org.admin).post('/v1/departments', { name: 'straßenbau' })).status).toBe(201);
  });

  it('public groups: their creator or an administrator renames and deletes them', async () => {
    const carol = await org.person('Carol Christ');
    const g = (await as(alice).post<GroupView>('/v1/groups', { name: 'Laufgruppe', kind: 'public' })).body;
    await as(alice).post(`/v1/groups/${g.id}/members`, { userIds: [carol.userId] });
    expect((await as(carol).post(`/v1/groups/${g.id}/rename`, { name: 'Mine' })).status).toBe(403);
    expect((await as(carol).post(`/v1/groups/${g.id}/delete`)).status).toBe(403);
    const renamed = await as(alice).post<GroupView>(`/v1/groups/${g.id}/rename`, { name: 'Lauftreff' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe('Lauftreff');
    refused(await as(alice).post(`/v1/groups/${g.id}/rename`, { name: 'café' }), 409, 'conflict', 'name');
    expect((await as(org.admin).post<GroupView>(`/v1/groups/${g.id}/rename`, { name: 'Lauftreff am Mittwoch' })).status).toBe(200);
    expect((await as(org.admin).post(`/v1/groups/${g.id}/delete`)).status).toBe(200);
    expect((await as(alice).get(`/v1/groups/${g.id}`)).status).toBe(404);
    expect((await as(alice).get<{ groups: GroupView[] }>('/v1/groups')).body.groups.some((x) => x.id === g.id)).toBe(false);
  });
});
