/** Runs the server side of a benchmark in a worker thread, so that on a 2-core machine the server has
 * a core of its own and the load generator and receivers, which stand in for other machines, the
 * other: either the real relay (startRelay: Koa, zod, SQLite, push hub) or the plain `ws` broadcast
 * server it is measured against. Started and stopped by `startServer` below. */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { WebSocketServer, type WebSocket } from 'ws';
import { startRelay } from '@agora/server';

export type ServerKind = 'relay' | 'plain';

interface Init {
  kind: ServerKind;
  dataDir?: string;
}

type ToWorker = { type: 'elu' } | { type: 'close' };
type FromWorker =
  | { type: 'ready'; url: string; adminInvite?: string }
  | { type: 'elu'; idle: number; active: number }
  | { type: 'log'; line: string }
  | { type: 'closed' }
  | { type: 'failed'; message: string };

/** Event-loop utilisation sample; two of them give the share of time the thread was busy. */
export interface EluSample {
  idle: number;
  active: number;
}

export function eluBetween(a: EluSample, b: EluSample): number {
  const active = b.active - a.active;
  const idle = b.idle - a.idle;
  return active + idle > 0 ? active / (active + idle) : 0;
}

export interface ServerHandle {
  url: string;
  adminInvite?: string;
  /** Busy share of the server thread's event loop, sampled now. */
  elu(): Promise<EluSample>;
  /** Server-side diagnostic lines (the relay's log); never request bodies. */
  logs: string[];
  close(): Promise<void>;
}

/** The plain baseline: one path for senders, one for receivers; whatever a sender sends goes
 * unchanged to every receiver. No parsing, no storage, no authentication: the upper limit. */
async function startPlain(): Promise<{ url: string; close(): Promise<void> }> {
  const receivers = new Set<WebSocket>();
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', (ws, req) => {
    if (req.url === '/recv') {
      receivers.add(ws);
      ws.on('close', () => receivers.delete(ws));
    } else {
      ws.on('message', (data, isBinary) => {
        for (const r of receivers) r.send(data, { binary: isBinary });
      });
    }
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

async function workerMain(): Promise<void> {
  const port = parentPort!;
  const init = workerData as Init;
  const post = (m: FromWorker) => port.postMessage(m);
  let close: () => Promise<void>;
  try {
    if (init.kind === 'relay') {
      const relay = await startRelay({
        port: 0,
        host: '127.0.0.1',
        dataDir: init.dataDir!,
        quiet: true,
        rateLimit: false,
        log: (line) => post({ type: 'log', line }),
      });
      close = () => relay.close();
      post({ type: 'ready', url: relay.url, adminInvite: relay.adminInvite });
    } else {
      const plain = await startPlain();
      close = () => plain.close();
      post({ type: 'ready', url: plain.url });
    }
  } catch (e) {
    post({ type: 'failed', message: (e as Error).message });
    return;
  }
  port.on('message', (m: ToWorker) => {
    if (m.type === 'elu') {
      const u = performance.eventLoopUtilization();
      post({ type: 'elu', idle: u.idle, active: u.active });
    } else if (m.type === 'close') {
      close().then(
        () => {
          post({ type: 'closed' });
          port.close();
        },
        (e: unknown) => post({ type: 'failed', message: (e as Error).message }),
      );
    }
  });
}

export async function startServer(init: Init): Promise<ServerHandle> {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: init });
  const logs: string[] = [];
  interface Waiter {
    take(m: FromWorker): boolean;
    fail(e: Error): void;
  }
  const waiters: Waiter[] = [];
  let exited = false;
  const exit = once(worker, 'exit').then(() => {
    exited = true;
    for (const w of waiters.splice(0)) w.fail(new Error('server worker exited'));
  });
  worker.on('error', (e) => {
    for (const w of waiters.splice(0)) w.fail(e);
  });
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'log') {
      logs.push(m.line);
      return;
    }
    const i = waiters.findIndex((w) => w.take(m));
    if (i >= 0) waiters.splice(i, 1);
  });
  const next = <T extends FromWorker['type']>(type: T, timeoutMs: number): Promise<Extract<FromWorker, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`server worker: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        take(m) {
          if (m.type !== type && m.type !== 'failed') return false;
          clearTimeout(timer);
          if (m.type === 'failed') reject(new Error(`server worker failed: ${m.message}`));
          else resolve(m as Extract<FromWorker, { type: T }>);
          return true;
        },
        fail(e) {
          clearTimeout(timer);
          reject(e);
        },
      };
      waiters.push(waiter);
    });
  let ready;
  try {
    ready = await next('ready', 30_000);
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  return {
    url: ready.url,
    adminInvite: ready.adminInvite,
    logs,
    async elu() {
      const reply = next('elu', 10_000);
      worker.postMessage({ type: 'elu' } satisfies ToWorker);
      const m = await reply;
      return { idle: m.idle, active: m.active };
    },
    async close() {
      if (exited) return;
      try {
        const closed = next('closed', 15_000);
        worker.postMessage({ type: 'close' } satisfies ToWorker);
        await closed;
        // The worker ends once its event loop is empty; a handle left open is cut after a grace.
        await Promise.race([exit, new Promise((r) => setTimeout(r, 3000).unref())]);
      } finally {
        if (!exited) await worker.terminate();
      }
    },
  };
}

if (!isMainThread && (workerData as Init | undefined)?.kind) void workerMain();
