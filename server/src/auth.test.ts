import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { authChallengeMessage } from '@agora/protocol';
import { call, deviceInvite, deviceKeys, inviteBody, registerBody, signIn, startTestOrg, type TestDevice, type TestOrg } from './testing.js';

describe('challenge and token', () => {
  let org: TestOrg;
  let clock = 0;
  let alice: TestDevice;
  beforeAll(async () => {
    org = await startTestOrg({ now: () => Date.now() + clock });
    alice = await org.person('Alice');
  });
  afterAll(() => org.close());

  const challenge = async (deviceId: string) =>
    (await call<{ challenge: string; expiresAt: number }>(org.url, 'POST', '/v1/auth/challenge', { deviceId })).body;
  const token = (body: object) => call<{ token: string; expiresAt: number }>(org.url, 'POST', '/v1/auth/token', body);
  const me = (t: string) => call(org.url, 'GET', '/v1/me', undefined, { token: t });

  it('signs in with a signed challenge and reaches authenticated routes', async () => {
    const ch = await challenge(alice.deviceId);
    expect(ch.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const signature = alice.sign(authChallengeMessage({ deviceId: alice.deviceId, challenge: ch.challenge }));
    const res = await token({ deviceId: alice.deviceId, challenge: ch.challenge, signature });
    expect(res.status).toBe(200);
    expect(res.body.expiresAt).toBeGreaterThan(Date.now() + 14 * 60_000);
    const who = await me(res.body.token);
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ user: { id: alice.userId, name: 'Alice' }, device: { id: alice.deviceId } });
  });

  it('accepts a challenge once only', async () => {
    const ch = await challenge(alice.deviceId);
    const signature = alice.sign(authChallengeMessage({ deviceId: alice.deviceId, challenge: ch.challenge }));
    expect((await token({ deviceId: alice.deviceId, challenge: ch.challenge, signature })).status).toBe(200);
    const replay = await token({ deviceId: alice.deviceId, challenge: ch.challenge, signature });
    expect(replay.status).toBe(401);
    expect(replay.body).toMatchObject({ error: { code: 'challenge_invalid' } });
  });

  it('refuses an expired challenge', async () => {
    const ch = await challenge(alice.deviceId);
    const signature = alice.sign(authChallengeMessage({ deviceId: alice.deviceId, challenge: ch.challenge }));
    clock += 61_000;
    try {
      const res = await token({ deviceId: alice.deviceId, challenge: ch.challenge, signature });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: { code: 'challenge_invalid' } });
    } finally {
      clock -= 61_000;
    }
  });

  it('refuses a signature by another key, and a challenge issued to another device', async () => {
    const ch = await challenge(alice.deviceId);
    const mallory = deviceKeys();
    const forged = mallory.sign(authChallengeMessage({ deviceId: alice.deviceId, challenge: ch.challenge }));
    const res = await token({ deviceId: alice.deviceId, challenge: ch.challenge, signature: forged });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: { code: 'bad_signature' } });

    const adminCh = await challenge(org.admin.deviceId);
    const crossed = alice.sign(authChallengeMessage({ deviceId: alice.deviceId, challenge: adminCh.challenge }));
    const res2 = await token({ deviceId: alice.deviceId, challenge: adminCh.challenge, signature: crossed });
    expect(res2.status).toBe(401);
    expect(res2.body).toMatchObject({ error: { code: 'challenge_invalid' } });
  });

  it('answers 404 for a challenge to an unknown device', async () => {
    const res = await call(org.url, 'POST', '/v1/auth/challenge', { deviceId: 'd_AAAAAAAAAAAAAAAAAAAAAA' });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: 'not_found' } });
  });

  it('refuses tampered, foreign, expired and missing tokens', async () => {
    const good = alice.token;
    const [body, mac] = good.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { d: string; e: number };
    const swapped = Buffer.from(JSON.stringify({ ...claims, d: org.admin.deviceId })).toString('base64url');
    const extended = Buffer.from(JSON.stringify({ ...claims, e: claims.e + 3600_000 })).toString('base64url');
    const flipped = mac.slice(0, -2) + (mac.endsWith('AA') ? 'BB' : 'AA');
    for (const bad of [`${swapped}.${mac}`, `${extended}.${mac}`, `${body}.${flipped}`, `${body}.`, 'garbage', `${body}.${mac}.x`]) {
      const res = await me(bad);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: { code: 'unauthenticated' } });
    }
    const none = await call(org.url, 'GET', '/v1/me');
    expect(none.status).toBe(401);
    expect((await me(good)).status).toBe(200);

    clock += 16 * 60_000;
    try {
      const expired = await me(good);
      expect(expired.status).toBe(401);
      expect(expired.body).toMatchObject({ error: { code: 'unauthenticated', message: 'token expired' } });
    } finally {
      clock -= 16 * 60_000;
    }
  });

  it('shuts out a deactivated person at once: requests, challenges, tokens and further devices', async () => {
    const bob = await org.person('Bob');
    const pendingInvite = await deviceInvite(org.url, bob);
    const ch = await challenge(bob.deviceId);
    expect((await me(bob.token)).status).toBe(200);

    const off = await call<{ user: { status: string }; revokedDevices: string[] }>(
      org.url, 'POST', `/v1/admin/users/${bob.userId}/deactivate`, undefined, { token: org.admin.token },
    );
    expect(off.status).toBe(200);
    expect(off.body.user.status).toBe('deactivated');
    expect(off.body.revokedDevices).toEqual([bob.deviceId]);

    const after = await me(bob.token);
    expect(after.status).toBe(403);
    expect(after.body).toMatchObject({ error: { code: 'forbidden' } });
    expect((await call(org.url, 'POST', '/v1/auth/challenge', { deviceId: bob.deviceId })).status).toBe(403);
    const signature = bob.sign(authChallengeMessage({ deviceId: bob.deviceId, challenge: ch.challenge }));
    expect((await token({ deviceId: bob.deviceId, challenge: ch.challenge, signature })).status).toBe(403);
    await expect(signIn(org.url, bob)).rejects.toThrow(/403/);

    const before = (await org.relay.store.listDevices()).length;
    const reg = await call(org.url, 'POST', '/v1/register', registerBody(pendingInvite, deviceKeys(), { userId: bob.userId }));
    expect(reg.status).toBe(403);
    expect((await org.relay.store.listDevices()).length).toBe(before);

    // and no new device invite can be made for them
    const inv = await call(org.url, 'POST', '/v1/invites', inviteBody(org.admin, { kind: 'device', userId: bob.userId }).body, { token: org.admin.token });
    expect(inv.status).toBe(400);
    expect(inv.body).toMatchObject({ error: { code: 'invalid_field', field: 'userId' } });
  });

  it('does not let an administrator deactivate themselves', async () => {
    const res = await call(org.url, 'POST', `/v1/admin/users/${org.admin.userId}/deactivate`, {}, { token: org.admin.token });
    expect(res.status).toBe(400);
    expect((await me(org.admin.token)).status).toBe(200);
  });
});
