/** GET /v1/sync: one answer with what each per-part endpoint answers, the directory and the mailbox
 * as changes after the device's cursor, and a cursor that is the device's own (a lost answer is
 * asked for again and comes back the same). */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SyncResponse } from '@agora/protocol';
import { call, deviceInvite, enrol, startTestOrg, type TestDevice, type TestOrg } from './testing.js';

let org: TestOrg;
let alice: TestDevice;

beforeAll(async () => {
  org = await startTestOrg();
  alice = await org.person('Alice');
});
afterAll(async () => {
  await org.close();
});

async function sync(who: TestDevice, query = '') {
  const res = await call(org.url, 'GET', `/v1/sync${query}`, undefined, { token: who.token });
  expect(res.status).toBe(200);
  return SyncResponse.parse(res.body);
}

describe('GET /v1/sync', () => {
  it('answers each part as its own endpoint does', async () => {
    const s = await sync(alice);
    const get = async (path: string) => (await call(org.url, 'GET', path, undefined, { token: alice.token })).body;
    const directory = (await get('/v1/directory')) as { users: unknown[]; devices: unknown[] };
    expect(s.directory).toEqual({ full: true, ...directory });
    expect(s.orgKeys).toEqual(await get('/v1/orgkeys'));
    expect({ pending: s.pending }).toEqual(await get('/v1/orgkeys/pending'));
    expect({ groups: s.groups }).toEqual(await get('/v1/groups'));
    expect(s.checkpoint).toEqual(await get('/v1/kt/checkpoint'));
    expect(s.keyPackages).toEqual(await get('/v1/keypackages/stock'));
    expect(s.mailbox).toEqual({ items: [], more: false });
    expect(s.cursor).toMatch(/^[1-9]\d*\.0$/);
  });

  it('gives only what changed after the cursor, and the same again for the same cursor', async () => {
    const first = await sync(alice);
    const idle = await sync(alice, `?cursor=${first.cursor}`);
    expect(idle.directory).toEqual({ full: false, users: [], devices: [] });
    expect(idle.cursor).toBe(first.cursor);

    const bob = await org.person('Bob');
    const changed = await sync(alice, `?cursor=${first.cursor}`);
    expect(changed.directory.full).toBe(false);
    expect(changed.directory.users.map((u) => u.id)).toEqual([bob.userId]);
    expect(changed.directory.devices.map((d) => d.id)).toEqual([bob.deviceId]);
    expect(changed.cursor).not.toBe(first.cursor);
    // The answer above was "lost": the old cursor brings the same changes again.
    const again = await sync(alice, `?cursor=${first.cursor}`);
    expect(again.directory).toEqual(changed.directory);
    expect(again.cursor).toBe(changed.cursor);
    expect((await sync(alice, `?cursor=${changed.cursor}`)).directory.users).toEqual([]);

    // a further device of Bob's, then its revocation: both reach Alice as device changes
    const second = await enrol(org.url, await deviceInvite(org.url, bob));
    const added = await sync(alice, `?cursor=${changed.cursor}`);
    expect(added.directory.devices.map((d) => [d.id, d.status])).toEqual([[second.deviceId, 'active']]);
    const revoked = await call(org.url, 'POST', `/v1/devices/${second.deviceId}/revoke`, {}, { token: org.admin.token });
    expect(revoked.status).toBe(200);
    const gone = await sync(alice, `?cursor=${added.cursor}`);
    expect(gone.directory.devices.map((d) => [d.id, d.status])).toEqual([[second.deviceId, 'revoked']]);
  });

  it('gives the whole directory for cursor 0 and for a cursor it never gave out', async () => {
    const [dir] = (await sync(alice)).cursor.split('.').map(Number);
    expect((await sync(alice, '?cursor=0.0')).directory.full).toBe(true);
    const ahead = await sync(alice, `?cursor=${dir + 1000}.0`);
    expect(ahead.directory.full).toBe(true);
    expect(ahead.directory.users.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a malformed cursor or witness selection with the field named, and a caller without a token', async () => {
    for (const q of ['?cursor=abc', '?cursor=1', '?cursor=-1.0', '?cursor=1.2.3']) {
      const res = await call<{ error: { field?: string } }>(org.url, 'GET', `/v1/sync${q}`, undefined, { token: alice.token });
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe('cursor');
    }
    const lone = await call<{ error: { field?: string } }>(org.url, 'GET', '/v1/sync?quorum=1', undefined, { token: alice.token });
    expect(lone.status).toBe(400);
    expect(lone.body.error.field).toBe('quorum');
    expect((await call(org.url, 'GET', '/v1/sync')).status).toBe(401);
  });
});
