/** A relay that misbehaves on command, for attack tests only (it lives in the test tree and never in
 * the shipped relay): a proxy in front of the real relay that passes everything through, WebSocket
 * push included, and lets a test rewrite any JSON answer. Two proxies on one real relay give two
 * clients two different views (split view). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

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

export interface EvilRelay {
  url: string;
  /** Replace the current tampering rule; `undefined` makes the proxy honest. */
  set(rule: Tamper | undefined): void;
  /** Every exchange seen, for assertions. */
  seen: Exchange[];
  close(): Promise<void>;
}

export async function startEvilRelay(upstream: string): Promise<EvilRelay> {
  let rule: Tamper | undefined;
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
        const text = await upstreamRes.text();
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
        const status = replaced ? (replaced.status ?? 200) : upstreamRes.status;
        const out = replaced ? JSON.stringify(replaced.body) : text;
        res.writeHead(status, { 'content-type': upstreamRes.headers.get('content-type') ?? 'application/json' });
        res.end(out);
      })().catch((e: unknown) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: `proxy: ${(e as Error).message}` } }));
      });
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    const up = new WebSocket(upstream.replace(/^http/, 'ws') + req.url, protocols);
    up.once('open', () => {
      wss.handleUpgrade(req, socket, head, (client) => {
        up.on('message', (data) => client.send(data.toString()));
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
    seen,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
