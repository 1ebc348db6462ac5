import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { WS_PROTOCOL, wsTokenProtocol, type GroupView, type PushMessage } from '@agora/protocol';
import { call, commitBody, generationBody, opaque, secretGroupBody, signIn, startTestOrg, type TestDevice, type TestOrg } from './testing.js';

interface Listener {
  ws: WebSocket;
  /** The next push, or a rejection after `ms`. */
  next(ms?: number): Promise<PushMessage>;
  closed: Promise<{ code: number }>;
}

function wsUrl(url: string): string {
  return `${url.replace(/^http/, 'ws')}/v1/ws`;
}

function listen(url: string, token: string): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(url), [WS_PROTOCOL, wsTokenProtocol(token)]);
    const queue: PushMessage[] = [];
    const waiting: ((m: PushMessage) => void)[] = [];
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as PushMessage;
      const w = waiting.shift();
      if (w) w(message);
      else queue.push(message);
    });
    const closed = new Promise<{ code: number }>((r) => ws.on('close', (code) => r({ code })));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('open', () => {
      expect(ws.protocol).toBe(WS_PROTOCOL);
      resolve({
        ws,
        closed,
        next: (ms = 2000) => {
          const queued = queue.shift();
          if (queued) return Promise.resolve(queued);
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error('no push arrived')), ms);
            waiting.push((m) => {
              clearTimeout(timer);
              res(m);
            });
          });
        },
      });
    });
  });
}

/** The HTTP status with which an upgrade is refused. */
function refusal(url: string, protocols: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(url), protocols);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => reject(new Error('upgrade accepted')));
    ws.on('error', () => undefined);
  });
}

describe('websocket push', () => {
  let org: TestOrg;
  let alice: TestDevice;
  let bob: TestDevice;
  let carol: TestDevice;
  const open: WebSocket[] = [];
  beforeAll(async () => {
    org = await startTestOrg();
    [alice, bob, carol] = await Promise.all([org.person('Alice'), org.person('Bob'), org.person('Carol')]);
    await call(org.url, 'POST', '/v1/orgkeys/generations', generationBody(org.admin, 1), { token: org.admin.token });
  });
  afterEach(() => {
    for (const ws of open.splice(0)) ws.terminate();
  });
  afterAll(() => org.close());

  const connect = async (d: TestDevice) => {
    const l = await listen(org.url, d.token);
    open.push(l.ws);
    return l;
  };
  const post = <T = Record<string, unknown>>(d: TestDevice, path: string, body: unknown = {}) =>
    call<T>(org.url, 'POST', path, body, { token: d.token });

  it('refuses an upgrade without a valid token before any socket exists', async () => {
    const bad = await refusal(org.url, [WS_PROTOCOL, wsTokenProtocol('not.valid')]);
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body)).toMatchObject({ error: { code: 'unauthenticated' } });
    expect((await refusal(org.url, [WS_PROTOCOL])).status).toBe(401);
    expect((await refusal(org.url, ['something-else', wsTokenProtocol(alice.token)])).status).toBe(400);
    expect(org.relay.hub.connectedDevices()).toEqual([]);
  });

  it('pushes an appended record to connected member devices and not to others', async () => {
    const g = (await post<GroupView>(alice, '/v1/groups', secretGroupBody(alice, 'Team'))).body;
    const [la, lb, lc] = await Promise.all([connect(alice), connect(bob), connect(carol)]);

    const welcome = opaque('welcome');
    const c = await post<{ seq: number }>(alice, `/v1/groups/${g.id}/commits`, await commitBody(org.url, alice, g.id, {
      epoch: 0, commit: opaque('commit'), welcome, added: [bob.deviceId], removed: [],
    }));
    expect(c.status).toBe(200);
    // the added device hears of the commit and of its Welcome
    const bobGot = [await lb.next(), await lb.next()];
    expect(bobGot).toEqual(
      expect.arrayContaining([
        { type: 'mailbox' },
        { type: 'entry', groupId: g.id, entry: expect.objectContaining({ seq: c.body.seq, kind: 'commit', added: [bob.deviceId] }) },
      ]),
    );
    expect(await la.next()).toMatchObject({ type: 'entry', groupId: g.id, entry: { seq: c.body.seq } });

    const ciphertext = opaque('hello');
    const rec = await post<{ seq: number }>(alice, `/v1/groups/${g.id}/records`, { epoch: 1, ciphertext });
    expect(rec.status).toBe(201);
    const pushed = await lb.next();
    expect(pushed).toEqual({
      type: 'entry', groupId: g.id,
      entry: { seq: rec.body.seq, kind: 'record', epoch: 1, sender: alice.deviceId, at: expect.any(Number), payload: ciphertext },
    });
    expect(await la.next()).toMatchObject({ type: 'entry', entry: { seq: rec.body.seq } });

    // carol is no member: the first thing she hears is the public post that follows, not the secret record
    const pub = (await post<GroupView>(bob, '/v1/groups', { name: 'Kantine', kind: 'public' })).body;
    expect(await lc.next()).toEqual({ type: 'groups' });
    const pubRec = await post<{ seq: number }>(bob, `/v1/groups/${pub.id}/records`, { epoch: 1, ciphertext: opaque('menu') });
    expect(await lc.next()).toMatchObject({ type: 'entry', groupId: pub.id, entry: { seq: pubRec.body.seq } });
  });

  it('tells a removed device of its removal, then stops pushing to it', async () => {
    const g = (await post<GroupView>(alice, '/v1/groups', secretGroupBody(alice, 'Short'))).body;
    await post(alice, `/v1/groups/${g.id}/commits`, await commitBody(org.url, alice, g.id, { epoch: 0, welcome: opaque('w'), added: [bob.deviceId] }));
    const lb = await connect(bob);
    const rm = await post<{ seq: number }>(alice, `/v1/groups/${g.id}/commits`, await commitBody(org.url, alice, g.id, { epoch: 1, removed: [bob.deviceId] }));
    expect(await lb.next()).toMatchObject({ type: 'entry', groupId: g.id, entry: { seq: rm.body.seq, removed: [bob.deviceId] } });
    await post(alice, `/v1/groups/${g.id}/records`, { epoch: 2, ciphertext: opaque('after') });
    const pub = (await post<GroupView>(alice, '/v1/groups', { name: 'After', kind: 'public' })).body;
    expect(await lb.next()).toEqual({ type: 'groups' });
    expect(pub.id).toBeDefined();
  });

  it('pushes history bundles and low key-package stock to the one device concerned', async () => {
    const { deviceInvite, enrol, secretGroupBody } = await import('./testing.js');
    const alice2 = await enrol(org.url, await deviceInvite(org.url, alice));
    const l2 = await connect(alice2);
    const h = await post(alice, '/v1/history', { deviceId: alice2.deviceId, payload: opaque('history') });
    expect(h.status).toBe(201);
    expect(await l2.next()).toEqual({ type: 'mailbox' });
    const box = await call<{ items: { kind: string; groupId: null; from: string }[] }>(org.url, 'GET', '/v1/mailbox', undefined, { token: alice2.token });
    expect(box.body.items).toEqual([expect.objectContaining({ kind: 'history', groupId: null, from: alice.deviceId })]);
    // history goes only to one's own devices
    expect((await post(bob, '/v1/history', { deviceId: alice2.deviceId, payload: opaque('x') })).status).toBe(400);

    await post(alice2, '/v1/keypackages', { keyPackages: [opaque('k1'), opaque('k2')] });
    const bobsGroup = (await post<{ id: string }>(bob, '/v1/groups', secretGroupBody(bob, 'for the claim'))).body.id;
    await post(bob, '/v1/keypackages/claim', { groupId: bobsGroup, deviceIds: [alice2.deviceId] });
    expect(await l2.next()).toEqual({ type: 'keypackages-low', stock: 1 });
  });

  it('closes the sockets of a deactivated person at once', async () => {
    const dave = await org.person('Dave');
    const ld = await connect(dave);
    const la = await connect(alice);
    await post(org.admin, `/v1/admin/users/${dave.userId}/deactivate`);
    expect((await ld.closed).code).toBe(4403);
    const seen = [await la.next(), await la.next()];
    expect(seen).toEqual(expect.arrayContaining([{ type: 'directory' }, { type: 'orgkeys' }]));
    await expect(listen(org.url, dave.token)).rejects.toThrow(/403/);
  });
});

describe('rate limits', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = await startTestOrg({ rateLimit: { perDevicePerSecond: 0.5, burst: 4, perIpPerSecond: 0.5, ipBurst: 8 } });
  });
  afterAll(() => org.close());

  it('answers 429 with Retry-After once a device spends its burst', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 6; i++) {
      const res = await call(org.url, 'GET', '/v1/me', undefined, { token: org.admin.token });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        expect(res.body).toMatchObject({ error: { code: 'rate_limited' } });
      }
    }
    // enrolment and sign-in are limited per address, so the device's own budget is untouched
    expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(statuses.slice(4)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('limits unauthenticated sign-in attempts per address', async () => {
    // enrolment used 4 of the 8 (invite lookup, register, challenge, token)
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await call(org.url, 'POST', '/v1/auth/challenge', { deviceId: org.admin.deviceId })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    await expect(signIn(org.url, org.admin)).rejects.toThrow(/429/);
  });
});

describe('keepalive', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = await startTestOrg({ pingIntervalMs: 150 });
  });
  afterAll(() => org.close());

  it('keeps answering sockets and drops one that stops answering pings', async () => {
    const silent = new WebSocket(wsUrl(org.url), [WS_PROTOCOL, wsTokenProtocol(org.admin.token)], { autoPong: false });
    const opened = new Promise<void>((resolve, reject) => {
      silent.on('open', () => resolve());
      silent.on('error', reject);
    });
    const closed = new Promise<number>((resolve) => silent.on('close', (code) => resolve(code)));
    const alive = await listen(org.url, org.admin.token);
    try {
      await opened;
      // terminated without a close frame: 1006 on the client side
      expect(await closed).toBe(1006);
      await new Promise((r) => setTimeout(r, 320));
      expect(alive.ws.readyState).toBe(WebSocket.OPEN);
      expect(org.relay.hub.connectedDevices()).toEqual([org.admin.deviceId]);
    } finally {
      silent.terminate();
      alive.ws.terminate();
    }
  });
});
