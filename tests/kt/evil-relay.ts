/** A relay that misbehaves on command, for attack tests only (it lives in the test tree and never in
 * the shipped relay): a proxy in front of the real relay that passes everything through, WebSocket
 * push included, and lets a test rewrite any JSON answer. Two proxies on one real relay give two
 * clients two different views (split view). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { fromB64u, type DirectoryResponse } from '@agora/protocol';
import { createKeyPackages } from '../../client-sdk/src/mls/group.js';

export interface Exchange {
  method: string;
  /** Path with query string, e.g. `/v1/kt/users/u_x?size=9`. */
  path: string;
  status: number;
  /** The parsed JSON answer of the real relay (undefined if none). */
  body: unknown;
  /** The parsed JSON request body (undefined if none). */
  request: unknown;
}

/** Returns the answer to send instead, or undefined to pass the real one through. */
export type Tamper = (ex: Exchange) => Promise<{ status?: number; body: unknown } | undefined> | { status?: number; body: unknown } | undefined;

/** Given each push the real relay sends (parsed JSON), returns the frames to send instead, in
 * order (an empty list drops it); undefined passes it through. */
export type PushTamper = (push: unknown) => unknown[] | undefined;

export interface EvilRelay {
  url: string;
  /** Replace the current tampering rule; `undefined` makes the proxy honest. */
  set(rule: Tamper | undefined): void;
  /** Replace the rule for WebSocket pushes; `undefined` passes them through. */
  setPush(rule: PushTamper | undefined): void;
  /** Sends a frame to every connected WebSocket client as if the relay had pushed it. */
  inject(push: unknown): void;
  /** Every exchange seen, for assertions. */
  seen: Exchange[];
  close(): Promise<void>;
}

export async function startEvilRelay(upstream: string): Promise<EvilRelay> {
  let rule: Tamper | undefined;
  let pushRule: PushTamper | undefined;
  const seen: Exchange[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const raw = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
        const upstreamRes = await fetch(upstream + req.url, { method: req.method, headers, body: raw.length > 0 ? raw : undefined });
        // Bytes, not text: the web app's files (icons, hashed by its service worker) pass unchanged.
        const bytes = Buffer.from(await upstreamRes.arrayBuffer());
        const text = bytes.toString('utf8');
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        let request: unknown;
        try {
          request = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
        } catch {
          request = undefined;
        }
        const ex: Exchange = { method: req.method ?? 'GET', path: req.url ?? '/', status: upstreamRes.status, body, request };
        seen.push(ex);
        const replaced = rule ? await rule(ex) : undefined;
        if (!replaced && ex.method === 'GET' && ex.path.startsWith('/v1/sync') && ex.status === 200) {
          const parts = await splitSync(ex, headers);
          if (parts) {
            res.writeHead(parts.status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(parts.body));
            return;
          }
        }
        const status = replaced ? (replaced.status ?? 200) : upstreamRes.status;
        if (replaced) {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(replaced.body));
          return;
        }
        // An answer passed through keeps the relay's headers (the app's Content-Security-Policy,
        // caching), less those of the compressed transfer that fetch already undid.
        const passed: Record<string, string> = {};
        upstreamRes.headers.forEach((value, name) => {
          if (!['content-encoding', 'content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(name)) passed[name] = value;
        });
        res.writeHead(status, { 'content-type': 'application/json', ...passed });
        res.end(bytes);
      })().catch((e: unknown) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: `proxy: ${(e as Error).message}` } }));
      });
    });
  });
  /** A sync answer carries what several endpoints answer: each part goes through the rule as an
   * exchange of its own endpoint (and is recorded as one), so a rule written for /v1/directory or
   * /v1/kt/checkpoint lies the same way in a sync. A rule that rewrites the directory gets the whole
   * directory and the device gets its version as a whole directory. An error for the checkpoint
   * leaves it out (the device then asks /v1/kt/checkpoint); an error for another part is the
   * sync's answer. Undefined: nothing was rewritten. */
  async function splitSync(ex: Exchange, headers: Record<string, string>): Promise<{ status: number; body: unknown } | undefined> {
    if (!rule) return undefined;
    const sync = structuredClone(ex.body) as Record<string, unknown> & {
      cursor: string; directory: { full: boolean; users: unknown[]; devices: unknown[] }; pending: unknown;
      mailbox: { items: { seq: number }[]; more: boolean }; groups: unknown; checkpoint: unknown;
    };
    const query = new URL(ex.path, 'http://x').searchParams;
    const [, mailboxAfter] = (query.get('cursor') ?? '0.0').split('.');
    const witnesses = query.getAll('witness').map((w) => `&witness=${encodeURIComponent(w)}`).join('');
    const checkpointQuery = query.has('quorum') ? `?quorum=${query.get('quorum')}${witnesses}` : '';
    const get = async (path: string): Promise<unknown> => (await fetch(upstream + path, { headers })).json();
    let changed = false;
    const part = async (path: string, body: unknown): Promise<{ status: number; body: unknown } | 'unchanged'> => {
      const virtual: Exchange = { method: 'GET', path, status: 200, body, request: undefined };
      seen.push(virtual);
      const r = await rule!(virtual);
      if (!r) return 'unchanged';
      changed = true;
      return { status: r.status ?? 200, body: r.body };
    };
    const fullDirectory = await get('/v1/directory');
    const directory = await part('/v1/directory', fullDirectory);
    const plain: [string, string, (b: unknown) => unknown, (b: unknown) => unknown][] = [
      ['orgKeys', '/v1/orgkeys', (b) => b, (b) => b],
      ['pending', '/v1/orgkeys/pending', (b) => ({ pending: b }), (b) => (b as { pending: unknown }).pending],
      ['groups', '/v1/groups', (b) => ({ groups: b }), (b) => (b as { groups: unknown }).groups],
      ['keyPackages', '/v1/keypackages/stock', (b) => b, (b) => b],
      ['mailbox', `/v1/mailbox?after=${mailboxAfter}`, (b) => ({ items: (b as typeof sync.mailbox).items, head: 0 }),
        (b) => ({ items: (b as typeof sync.mailbox).items, more: sync.mailbox.more })],
    ];
    if (directory !== 'unchanged') {
      if (directory.status >= 400) return directory;
      sync.directory = { full: true, ...(directory.body as { users: unknown[]; devices: unknown[] }) };
    }
    for (const [key, path, wrap, unwrap] of plain) {
      const r = await part(path, wrap(sync[key]));
      if (r === 'unchanged') continue;
      if (r.status >= 400) return r;
      sync[key] = unwrap(r.body);
    }
    if (sync.checkpoint !== null) {
      const r = await part(`/v1/kt/checkpoint${checkpointQuery}`, sync.checkpoint);
      if (r !== 'unchanged') sync.checkpoint = r.status >= 400 ? null : r.body;
    }
    return changed ? { status: 200, body: sync } : undefined;
  }

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    const up = new WebSocket(upstream.replace(/^http/, 'ws') + req.url, protocols);
    up.once('open', () => {
      wss.handleUpgrade(req, socket, head, (client) => {
        up.on('message', (data) => {
          const text = data.toString();
          let frames: unknown[] | undefined;
          try {
            frames = pushRule?.(JSON.parse(text));
          } catch {
            frames = undefined;
          }
          if (frames === undefined) client.send(text);
          else for (const f of frames) client.send(JSON.stringify(f));
        });
        client.on('message', (data) => up.send(data.toString()));
        up.on('close', () => client.close());
        client.on('close', () => up.close());
      });
    });
    up.once('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    set(r) {
      rule = r;
    },
    setPush(r) {
      pushRule = r;
    },
    inject(push) {
      for (const c of wss.clients) c.send(JSON.stringify(push));
    },
    seen,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The key-substitution attack: from now on the relay serves `attacker`'s keys as `victim`'s device,
 * both in the directory and as the KeyPackage a claim returns. Clients must notice that the log
 * proves other keys for that device and refuse. */
export async function substituteDeviceKeys(
  proxy: EvilRelay,
  victim: { userId: string; deviceId: string },
  attacker: { keys: { signPub: string; signSeed: string; encPub: string } },
): Promise<void> {
  const forged = await createKeyPackages({ userId: victim.userId, deviceId: victim.deviceId, signPub: fromB64u(attacker.keys.signPub), signSeed: fromB64u(attacker.keys.signSeed) }, 1);
  proxy.set((ex) => {
    if (ex.path.startsWith('/v1/directory')) {
      const body = structuredClone(ex.body) as DirectoryResponse;
      for (const d of body.devices) if (d.id === victim.deviceId) Object.assign(d, { signPub: attacker.keys.signPub, encPub: attacker.keys.encPub });
      return { body };
    }
    if (ex.path.startsWith('/v1/keypackages/claim')) {
      return { body: { keyPackages: [{ deviceId: victim.deviceId, keyPackage: forged[0].publicPackage, lastResort: false }], missing: [] } };
    }
    return undefined;
  });
}
