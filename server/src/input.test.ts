import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'node:http';
import { LIMITS } from '@agora/protocol';
import { createApp } from './app.js';
import { PushHub } from './hub.js';
import type { Store } from './store/types.js';
import { call, deviceKeys, membership, registerBody, secretGroupBody, startTestOrg, type TestOrg } from './testing.js';

describe('input safety', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = await startTestOrg();
  });
  afterAll(() => org.close());

  const counts = async () => {
    const s = org.relay.store;
    const [users, devices, groups] = await Promise.all([s.listUsers(), s.listDevices(), s.listGroups()]);
    return { users: users.length, devices: devices.length, groups: groups.length };
  };

  /** Every refusal is the one JSON error shape with the code's status. */
  const expectError = (res: { status: number; body: unknown; headers: Headers }, status: number, code: string, field?: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error: { code, message: expect.any(String), ...(field ? { field } : {}) } });
  };

  it('answers malformed JSON with 400 bad_request and stores nothing', async () => {
    const before = await counts();
    for (const raw of ['{"name": "x", "kind": "public"', '', 'nul', '{"a":1}}', '\u00ff']) {
      const res = await call(org.url, 'POST', '/v1/groups', undefined, { raw, token: org.admin.token });
      expectError(res, 400, 'bad_request');
    }
    const invalidUtf8 = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    expectError(await call(org.url, 'POST', '/v1/groups', undefined, { raw: invalidUtf8, token: org.admin.token }), 400, 'bad_request');
    expect(await counts()).toEqual(before);
  });

  it('refuses a body that is not declared as JSON', async () => {
    const res = await call(org.url, 'POST', '/v1/groups', undefined, {
      raw: JSON.stringify({ name: 'x', kind: 'public' }), headers: { 'content-type': 'text/plain' }, token: org.admin.token,
    });
    expectError(res, 400, 'bad_request');
  });

  it('names the offending field for wrong types, including nested ones', async () => {
    const before = await counts();
    const keys = deviceKeys();
    const reg = await call(org.url, 'POST', '/v1/register', { ...registerBody('AAAA-BBBB-CCCC-DDDD-EEEE', keys), signPub: 42 });
    expectError(reg, 400, 'invalid_field', 'signPub');
    const kind = await call(org.url, 'POST', '/v1/groups', { name: 'x', kind: 'open' }, { token: org.admin.token });
    expectError(kind, 400, 'invalid_field', 'kind');
    const name = await call(org.url, 'POST', '/v1/groups', { name: 'bad\u0007name', kind: 'public' }, { token: org.admin.token });
    expectError(name, 400, 'invalid_field', 'name');
    const notObject = await call(org.url, 'POST', '/v1/groups', [1, 2], { token: org.admin.token });
    expectError(notObject, 400, 'invalid_field');

    const group = await call<{ id: string }>(org.url, 'POST', '/v1/groups', secretGroupBody(org.admin, 'Secret'), { token: org.admin.token });
    expect(group.status).toBe(201);
    const commit = await call(org.url, 'POST', `/v1/groups/${group.body.id}/commits`, {
      epoch: 0, commit: 'AAAA', welcome: 'BBBB', added: [org.admin.deviceId, 5], removed: [],
      membership: membership(org.admin, group.body.id, 1, [org.admin.deviceId]),
    }, { token: org.admin.token });
    expectError(commit, 400, 'invalid_field', 'added.1');
    const log = await call(org.url, 'GET', `/v1/groups/${group.body.id}/log?after=-1`, undefined, { token: org.admin.token });
    expectError(log, 400, 'invalid_field', 'after');
    expect(await counts()).toEqual({ ...before, groups: before.groups + 1 });
  });

  it('answers 413 to a body over the limit, declared or streamed, and stores nothing', async () => {
    const before = await counts();
    const big = JSON.stringify({ name: 'x', kind: 'public', pad: 'a'.repeat(LIMITS.bodyBytes) });
    const res = await call(org.url, 'POST', '/v1/groups', undefined, { raw: big, token: org.admin.token });
    expectError(res, 413, 'body_too_large');

    // Without a Content-Length the relay must stop while reading.
    const url = new URL(org.url);
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: '/v1/groups', method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${org.admin.token}` } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      const chunk = 'a'.repeat(64 * 1024);
      req.write('{"name":"x","kind":"public","pad":"');
      let sent = 0;
      const pump = () => {
        while (sent < LIMITS.bodyBytes + 128 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end('"}');
      };
      pump();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ error: { code: 'body_too_large' } });
    expect(await counts()).toEqual(before);
  });

  it('answers unknown routes and methods with a JSON 404', async () => {
    expectError(await call(org.url, 'GET', '/v1/nothing-here'), 404, 'not_found');
    expectError(await call(org.url, 'GET', '/'), 404, 'not_found');
    expectError(await call(org.url, 'DELETE', '/v1/groups', undefined, { token: org.admin.token }), 404, 'not_found');
    expectError(await call(org.url, 'GET', '/v1/groups/not-an-id', undefined, { token: org.admin.token }), 404, 'not_found');
    expectError(await call(org.url, 'GET', '/v1/groups/g_AAAAAAAAAAAAAAAAAAAAAA', undefined, { token: org.admin.token }), 404, 'not_found');
  });

  it('hides the details of unexpected failures from the client and logs them', async () => {
    const lines: string[] = [];
    const broken = new Proxy(org.relay.store, {
      get(target, prop, receiver) {
        if (prop === 'getOrg') return async () => { throw new Error('disk on fire at /secret/path'); };
        return Reflect.get(target, prop, receiver) as unknown;
      },
    }) as Store;
    const app = createApp({ store: broken, hub: new PushHub(), log: (l) => lines.push(l), rateLimit: false });
    const server = createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await call(url, 'GET', '/v1/info');
      expectError(res, 500, 'internal');
      expect(JSON.stringify(res.body)).not.toContain('fire');
      expect(lines.some((l) => l.includes('disk on fire'))).toBe(true);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
