/** The relay's operational hardening: private files in DATA_DIR, throttled bogus tokens, and
 * challenges that cost no disk write. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { WS_PROTOCOL, authChallengeMessage, wsTokenProtocol } from '@agora/protocol';
import { Auth } from './auth.js';
import { startRelay } from './relay.js';
import { SQLITE_FILE } from './store/sqlite.js';
import { call, enrol, startTestOrg, userInvite, type TestDevice, type TestOrg } from './testing.js';

const challengeOf = async (url: string, deviceId: string) =>
  (await call<{ challenge: string; expiresAt: number }>(url, 'POST', '/v1/auth/challenge', { deviceId })).body;

/** Every file in `dir` is mode 0600. */
function expectPrivate(dir: string): void {
  const files = readdirSync(dir);
  const modes = Object.fromEntries(files.map((f) => [f, (statSync(join(dir, f)).mode & 0o777).toString(8)]));
  expect(modes).toEqual(Object.fromEntries(files.map((f) => [f, '600'])));
}

describe('files in DATA_DIR', () => {
  it('are all 0600 in a 0755 directory, and the relay warns about the directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'agora-modes-'));
    chmodSync(dataDir, 0o755);
    // The usual umask: on its own it lets new files be read by everyone.
    const umask = process.umask(0o022);
    const logged: string[] = [];
    try {
      for (let start = 0; start < 2; start++) {
        const relay = await startRelay({ port: 0, quiet: true, rateLimit: false, dataDir, log: (l) => logged.push(l) });
        try {
          if (start === 0) {
            const admin = await enrol(relay.url, relay.adminInvite!, 'Admin');
            const anna = await enrol(relay.url, await userInvite(relay.url, admin, 'Anna'));
            expect((await call(relay.url, 'GET', '/v1/me', undefined, { token: anna.token })).status).toBe(200);
            // while it runs, with the write-ahead log and its index in place
            expect(readdirSync(dataDir)).toEqual(expect.arrayContaining([`${SQLITE_FILE}-wal`, `${SQLITE_FILE}-shm`]));
            expectPrivate(dataDir);
          }
        } finally {
          await relay.close();
        }
      }
      expect(readdirSync(dataDir)).toEqual(expect.arrayContaining([SQLITE_FILE, 'admin-invite.txt']));
      expectPrivate(dataDir);
      expect(logged.filter((l) => l.includes(`DATA_DIR ${dataDir} has mode 0755`))).toHaveLength(2);
    } finally {
      process.umask(umask);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('narrows files an older relay left readable, and stays quiet about a private directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'agora-modes-'));
    const logged: string[] = [];
    try {
      const first = await startRelay({ port: 0, quiet: true, rateLimit: false, dataDir, log: (l) => logged.push(l) });
      await first.close();
      for (const f of readdirSync(dataDir)) chmodSync(join(dataDir, f), 0o644);
      const second = await startRelay({ port: 0, quiet: true, rateLimit: false, dataDir, log: (l) => logged.push(l) });
      await second.close();
      for (const f of readdirSync(dataDir)) {
        const mode = statSync(join(dataDir, f)).mode & 0o777;
        if (f !== 'admin-invite.txt') expect([f, mode.toString(8)]).toEqual([f, '600']);
      }
      expect(logged.filter((l) => l.includes('DATA_DIR'))).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('bogus bearer tokens', () => {
  let org: TestOrg;
  let alice: TestDevice;
  beforeAll(async () => {
    // Enrolling the admin and Alice takes 6 of the address's 12 tokens.
    org = await startTestOrg({ rateLimit: { perDevicePerSecond: 200, burst: 400, perIpPerSecond: 0.1, ipBurst: 12 } });
    alice = await org.person('Alice');
  });
  afterAll(() => org.close());

  it('are rate-limited per client address, with a JSON 429, while valid tokens still work', async () => {
    const [body, mac] = alice.token.split('.');
    const forged = `${body}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`;
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 30; i++) {
      const res = await call(org.url, 'GET', '/v1/me', undefined, { token: i % 3 === 0 ? 'garbage' : forged });
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(-10)).toEqual(Array(10).fill(429));
    expect(limited?.body).toMatchObject({ error: { code: 'rate_limited' } });
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // No token at all is no way around it, nor is the WebSocket upgrade.
    expect((await call(org.url, 'GET', '/v1/me')).status).toBe(429);
    const upgrade = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${org.url.replace(/^http/, 'ws')}/v1/ws`, [WS_PROTOCOL, wsTokenProtocol(forged)]);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('upgrade accepted')));
      ws.on('error', () => undefined);
    });
    expect(upgrade).toBe(429);
    // Signed-in devices are counted per device, not per address.
    expect((await call(org.url, 'GET', '/v1/me', undefined, { token: alice.token })).status).toBe(200);
  });
});

describe('sign-in challenges', () => {
  let org: TestOrg;
  let alice: TestDevice;
  let clock = 0;
  beforeAll(async () => {
    org = await startTestOrg({ now: () => Date.now() + clock });
    alice = await org.person('Alice');
  });
  afterAll(() => org.close());

  it('cost no store write and no disk write', async () => {
    const store = org.relay.store as unknown as Record<string, unknown>;
    const calls: string[] = [];
    const wrapped: string[] = [];
    for (let proto = Object.getPrototypeOf(store) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        const fn = store[name];
        if (name === 'constructor' || typeof fn !== 'function' || wrapped.includes(name)) continue;
        wrapped.push(name);
        store[name] = (...args: unknown[]) => {
          calls.push(name);
          return (fn as (...a: unknown[]) => unknown).apply(store, args);
        };
      }
    }
    const sizes = () => readdirSync(org.dataDir).map((f) => `${f}:${statSync(join(org.dataDir, f)).size}`).sort();
    try {
      const before = sizes();
      const issued = new Set<string>();
      for (let i = 0; i < 50; i++) issued.add((await challengeOf(org.url, alice.deviceId)).challenge);
      expect(issued.size).toBe(50);
      expect(sizes()).toEqual(before);
      expect(calls.length).toBeGreaterThanOrEqual(50);
      expect(calls.filter((name) => !/^(get|list)/.test(name))).toEqual([]);
    } finally {
      for (const name of wrapped) delete store[name];
    }
  });

  it('is single-use, bound to its device and its expiry, whatever its spelling', async () => {
    const token = (deviceId: string, challenge: string, signer = alice) =>
      call(org.url, 'POST', '/v1/auth/token', {
        deviceId, challenge, signature: signer.sign(authChallengeMessage({ deviceId, challenge })),
      });
    const ch = (await challengeOf(org.url, alice.deviceId)).challenge;
    expect((await token(alice.deviceId, ch)).status).toBe(200);
    expect((await token(alice.deviceId, ch)).body).toMatchObject({ error: { code: 'challenge_invalid' } });
    // The same 32 bytes with the unused low bits of the last character set.
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = ch.slice(0, -1) + last[last.indexOf(ch.at(-1)!) | 3];
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(ch, 'base64url'));
    expect((await token(alice.deviceId, respelled)).body).toMatchObject({ error: { code: 'challenge_invalid' } });

    // issued to the admin, used by Alice with her own valid signature
    const adminCh = (await challengeOf(org.url, org.admin.deviceId)).challenge;
    expect((await token(alice.deviceId, adminCh)).body).toMatchObject({ error: { code: 'challenge_invalid' } });

    // a later expiry written into the challenge breaks its MAC
    const extended = Buffer.from((await challengeOf(org.url, alice.deviceId)).challenge, 'base64url');
    extended[0] ^= 0x01;
    expect((await token(alice.deviceId, extended.toString('base64url'))).body).toMatchObject({ error: { code: 'challenge_invalid' } });

    const old = (await challengeOf(org.url, alice.deviceId)).challenge;
    clock += 60_001;
    try {
      expect((await token(alice.deviceId, old)).body).toMatchObject({ error: { code: 'challenge_invalid' } });
    } finally {
      clock -= 60_001;
    }
  });

  it('remembers used challenges in bounded memory, forgetting them at expiry', async () => {
    let now = Date.now();
    const auth = new Auth({ store: org.relay.store, now: () => now, maxRememberedChallenges: 3 });
    const signIn = async () => {
      const { challenge } = await auth.challenge(alice.deviceId);
      const signature = alice.sign(authChallengeMessage({ deviceId: alice.deviceId, challenge }));
      return auth.token({ deviceId: alice.deviceId, challenge, signature });
    };
    for (let i = 0; i < 3; i++) await signIn();
    expect(auth.rememberedChallenges).toBe(3);
    await expect(signIn()).rejects.toMatchObject({ code: 'rate_limited' });
    now += 60_001;
    await signIn();
    expect(auth.rememberedChallenges).toBe(1);
  });
});
