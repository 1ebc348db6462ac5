import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, type RunningRelay } from './relay.js';
import { inviteHash } from '@agora/protocol';
import { call, deviceInvite, deviceKeys, enrol, registerBody, registration, signIn, userInvite, type TestDevice } from './testing.js';

describe('bootstrap', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agora-relay-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints and writes the admin invite on the first start only', async () => {
    const lines: string[] = [];
    const first = await startRelay({ port: 0, dataDir: dir, print: (l) => lines.push(l), orgName: 'Bau GmbH' });
    try {
      expect(first.adminInvite).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){4}$/);
      const inviteLines = lines.filter((l) => l.startsWith('Admin invite code: '));
      expect(inviteLines).toEqual([`Admin invite code: ${first.adminInvite}`]);
      expect(lines).toContain(`Agora relay listening on ${first.url}`);
      const file = join(dir, 'admin-invite.txt');
      expect(readFileSync(file, 'utf8').trim()).toBe(first.adminInvite);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const info = await call(first.url, 'GET', '/v1/info');
      expect(info.status).toBe(200);
      expect(info.body).toMatchObject({ orgName: 'Bau GmbH', version: '1' });
    } finally {
      await first.close();
    }

    lines.length = 0;
    const second = await startRelay({ port: 0, dataDir: dir, print: (l) => lines.push(l) });
    try {
      expect(second.adminInvite).toBeUndefined();
      expect(lines.some((l) => l.includes('invite'))).toBe(false);
      expect(lines).toEqual([`Agora relay listening on ${second.url}`]);
      // the code is stored only by hash
      const raw = readFileSync(join(dir, 'agora.sqlite'));
      expect(raw.includes(Buffer.from(first.adminInvite!.replace(/-/g, '')))).toBe(false);
    } finally {
      await second.close();
    }
  });
});

describe('register', () => {
  let dir: string;
  let relay: RunningRelay;
  let clock = 0;
  let admin: TestDevice;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agora-relay-'));
    relay = await startRelay({ port: 0, dataDir: dir, quiet: true, rateLimit: false, now: () => Date.now() + clock });
  });
  afterAll(async () => {
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const directorySize = async () => {
    const [users, devices] = await Promise.all([relay.store.listUsers(), relay.store.listDevices()]);
    return { users: users.length, devices: devices.length };
  };
  const hashOf = (code: string) => Buffer.from(inviteHash(code)).toString('hex');

  // The tests below run in order: the bootstrap invite is still unused in the first ones.
  it('refuses a bad proof and stores nothing', async () => {
    const keys = deviceKeys();
    const body = { ...registerBody(relay.adminInvite!, keys), encPub: deviceKeys().encPub }; // the signatures bind another encPub
    const before = await directorySize();
    const res = await call(relay.url, 'POST', '/v1/register', body);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'bad_signature', message: expect.any(String) } });
    expect(await directorySize()).toEqual(before);
    expect((await relay.store.getInvite(hashOf(relay.adminInvite!)))?.usedAt).toBeNull();
    expect(await relay.store.ktSize()).toBe(0);
  });

  it('refuses an enrolment not signed by the invite key, even with a valid device signature', async () => {
    const keys = deviceKeys();
    const good = registerBody(relay.adminInvite!, keys);
    const forged = registerBody('ABCD-EFGH-IJKL-MNOP-QRST', keys, { userId: good.userId, deviceId: good.deviceId });
    const res = await call(relay.url, 'POST', '/v1/register', { ...good, inviteSig: forged.inviteSig });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: { code: 'bad_signature', message: expect.stringContaining('invite') } });
    expect((await relay.store.getInvite(hashOf(relay.adminInvite!)))?.usedAt).toBeNull();
    expect(await relay.store.ktSize()).toBe(0);
  });

  it('enrols the first administrator with the bootstrap invite (any case, no dashes), then refuses a replay', async () => {
    const keys = deviceKeys();
    const code = relay.adminInvite!.toLowerCase().replace(/-/g, '');
    const res = await call(relay.url, 'POST', '/v1/register', registerBody(code, keys));
    expect(res.status).toBe(201);
    // the relay never saw the code: what it stored was the hash and the invite key
    expect(JSON.stringify(await relay.store.getInvite(hashOf(code)))).not.toContain(code.toUpperCase());
    expect(res.body).toMatchObject({ bootstrap: true, role: 'admin', name: 'Admin', orgName: 'Agora' });
    const device = { ...keys, deviceId: res.body.deviceId as string, userId: res.body.userId as string, name: 'Admin', role: 'admin' };
    admin = { ...device, token: await signIn(relay.url, device) };

    const replay = await call(relay.url, 'POST', '/v1/register', registerBody(relay.adminInvite!, deviceKeys()));
    expect((await call(relay.url, 'GET', `/v1/invites/${registerBody(code, keys).codeHash}`)).status).toBe(410);
    expect(replay.status).toBe(410);
    expect(replay.body).toMatchObject({ error: { code: 'invite_used' } });

    const me = await call(relay.url, 'GET', '/v1/me', undefined, { token: admin.token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ user: { id: admin.userId, role: 'admin', status: 'active' }, device: { enrolledBy: 'bootstrap' } });
  });

  it('lets the invite name a new person and answers bootstrap false', async () => {
    const code = await userInvite(relay.url, admin, 'Jonas Weber');
    const res = await call(relay.url, 'POST', '/v1/register', registerBody(code, deviceKeys(), { name: 'Someone Else' }));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ bootstrap: false, role: 'member', name: 'Jonas Weber' });
  });

  it('enrols a further device of the same person with a device invite, and only for that person', async () => {
    const code = await deviceInvite(relay.url, admin);
    const info = await call<{ kind: string; userId: string }>(relay.url, 'GET', `/v1/invites/${registerBody(code, deviceKeys()).codeHash}`);
    expect(info.body).toMatchObject({ kind: 'device', userId: admin.userId });
    const other = await call(relay.url, 'POST', '/v1/register', registerBody(code, deviceKeys()));
    expect(other.status).toBe(400);
    expect(other.body).toMatchObject({ error: { code: 'invalid_field', field: 'userId' } });
    const second = await enrol(relay.url, code);
    expect(second.userId).toBe(admin.userId);
    const dir = await call<{ devices: { id: string; enrolledBy: string }[] }>(relay.url, 'GET', '/v1/directory', undefined, { token: second.token });
    expect(dir.body.devices.find((d) => d.id === second.deviceId)?.enrolledBy).toBe('device-invite');
  });

  it('answers 404 for an unknown invite and 410 for an expired one, storing nothing', async () => {
    const before = await directorySize();
    const unknown = await call(relay.url, 'POST', '/v1/register', registerBody('AAAA-BBBB-CCCC-DDDD-EEEE', deviceKeys()));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: 'not_found' } });

    const code = await userInvite(relay.url, admin, 'Late Larissa', { ttlMs: 60_000 });
    clock += 61_000;
    try {
      const expired = await call(relay.url, 'POST', '/v1/register', await registration(relay.url, code, deviceKeys()));
      expect(expired.status).toBe(410);
      expect(expired.body).toMatchObject({ error: { code: 'invite_expired' } });
    } finally {
      clock -= 61_000;
    }
    expect(await directorySize()).toEqual(before);
    expect((await relay.store.getInvite(hashOf(code)))?.usedAt).toBeNull();
  });
});
