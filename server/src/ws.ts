/** WebSocket push endpoint. `ws` runs in noServer mode so the token is checked on the raw upgrade
 * request, before a socket exists: an unauthenticated client never gets a WebSocket. Browsers
 * cannot set headers on an upgrade, so the token travels as a subprotocol.
 *
 * Liveness: every interval the relay pings each socket with a fresh random payload, and a socket
 * that has not answered the previous ping with that very payload is cut. A pong only counts when it
 * echoes the outstanding ping, so a client that never reads cannot stay connected by sending
 * pongs of its own (RFC 6455 allows unsolicited pongs; they prove only that the client writes).
 * Backlog: the hub cuts a socket whose unsent bytes pass its cap (see hub.ts). */
import { timingSafeEqual } from 'node:crypto';
import { platformRandom } from '@agora/protocol/crypto/random';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_PROTOCOL } from '@agora/protocol';
import type { Auth } from './auth.js';
import { AppError, type LogFn } from './errors.js';
import type { PushHub } from './hub.js';

const TOKEN_PREFIX = 'agora.token.';
export const WS_PATH = '/v1/ws';
export const DEFAULT_PING_INTERVAL_MS = 30_000;
const PING_PAYLOAD_BYTES = 16;

export interface PushEndpoint {
  close(): Promise<void>;
}

export function attachPush(
  server: Server,
  opts: {
    auth: Auth;
    hub: PushHub;
    log: LogFn;
    /** Called with the authenticated device; throws AppError('rate_limited') to refuse. */
    limitDevice?: (deviceId: string) => void;
    /** Called with the client address when the token does not verify; throws to refuse. */
    limitAddress?: (address: string) => void;
    /** Default DEFAULT_PING_INTERVAL_MS. A dead or non-reading socket is cut within two intervals. */
    pingIntervalMs?: number;
  },
): PushEndpoint {
  const { auth, hub, log } = opts;
  const wss = new WebSocketServer({
    noServer: true,
    // Clients only listen; a small cap keeps a misbehaving one from making the relay buffer much.
    maxPayload: 4096,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  });
  /** The payload of each socket's unanswered ping; absent once answered. */
  const awaiting = new WeakMap<WebSocket, Buffer>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    handleUpgrade(req, socket, head).catch((err: unknown) => {
      log(`websocket upgrade failed: ${err instanceof Error ? err.message : String(err)}`);
      refuse(socket, new AppError('internal', 'internal error'));
    });
  };
  server.on('upgrade', onUpgrade);

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== WS_PATH) return refuse(socket, new AppError('not_found', 'no such route'));
    const protocols = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    if (!protocols.includes(WS_PROTOCOL)) return refuse(socket, new AppError('bad_request', `subprotocol ${WS_PROTOCOL} required`));
    const tokenProtocol = protocols.find((p) => p.startsWith(TOKEN_PREFIX));
    if (!tokenProtocol) return refuse(socket, new AppError('unauthenticated', 'token subprotocol required'));
    let principal;
    try {
      let deviceId: string;
      try {
        deviceId = await auth.tokenDevice(tokenProtocol.slice(TOKEN_PREFIX.length));
      } catch (err) {
        // Made-up tokens cost the sender's address budget, as on the HTTP routes.
        opts.limitAddress?.(req.socket.remoteAddress ?? '');
        throw err;
      }
      opts.limitDevice?.(deviceId);
      principal = await auth.principal(deviceId);
    } catch (err) {
      if (err instanceof AppError) return refuse(socket, err);
      throw err;
    }
    if (socket.destroyed) return;
    const { device, user } = principal;
    wss.handleUpgrade(req, socket, head, (ws) => {
      // ws writes its frames to this same stream; the hub corks it to send a turn's pushes at once.
      hub.add(device.id, user.id, ws, socket);
      ws.on('pong', (data: Buffer) => {
        const expected = awaiting.get(ws);
        if (expected && data.length === expected.length && timingSafeEqual(data, expected)) awaiting.delete(ws);
      });
      ws.on('close', () => hub.remove(device.id, ws));
      ws.on('error', () => ws.terminate());
      // Clients have nothing to say on this channel; anything they send is ignored.
      ws.on('message', () => undefined);
    });
  }

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (awaiting.has(ws) || hub.dropIfBacklogged(ws)) {
        ws.terminate();
        continue;
      }
      const payload = Buffer.from(platformRandom(PING_PAYLOAD_BYTES));
      awaiting.set(ws, payload);
      ws.ping(payload);
    }
  }, opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
  pinger.unref();

  return {
    async close() {
      clearInterval(pinger);
      server.off('upgrade', onUpgrade);
      const open = [...wss.clients];
      await Promise.all(
        open.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === ws.CLOSED) return resolve();
              const timer = setTimeout(() => {
                ws.terminate();
                resolve();
              }, 1000);
              ws.once('close', () => {
                clearTimeout(timer);
                resolve();
              });
              ws.close(1001, 'relay shutting down');
            }),
        ),
      );
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Answers the upgrade request with a plain HTTP error in the relay's JSON error shape. */
function refuse(socket: Duplex, error: AppError): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(error.toBody());
  const headers = [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(error.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
