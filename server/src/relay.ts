/** A running relay: store, bootstrap, HTTP and WebSocket on one port. Used by `main.ts` and by
 * tests (port 0 picks a free loopback port). */
import { statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { composeRelay, type RateLimitOptions } from './app.js';
import { ADMIN_INVITE_FILE, bootstrapOrganisation } from './bootstrap.js';
import type { LogFn } from './errors.js';
import { PushHub } from './hub.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import type { KtLog } from './kt/log.js';
import { attachPush } from './ws.js';

export interface StartRelayOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  dataDir: string;
  /** Use MongoDB instead of the embedded SQLite database in dataDir. */
  mongoUri?: string;
  /** Print nothing on stdout (the admin invite is still written to dataDir). */
  quiet?: boolean;
  rateLimit?: RateLimitOptions | false;
  /** Name of the organisation created on first start. Default "Agora". */
  orgName?: string;
  /** Injectable clock (tests of expiry). */
  now?: () => number;
  /** Where stdout lines go; default console.log. */
  print?: (line: string) => void;
  /** Server-side diagnostics; default stderr. */
  log?: LogFn;
  /** WebSocket keepalive interval; default 30 s. */
  pingIntervalMs?: number;
  /** Unsent bytes a WebSocket may hold before the relay cuts it; default 2 MiB (hub.ts). */
  maxPushBufferedBytes?: number;
}

export interface RunningRelay {
  url: string;
  port: number;
  /** Set only on the start that created the organisation. */
  adminInvite?: string;
  store: Store;
  hub: PushHub;
  /** The key-transparency log service. */
  kt: KtLog;
  close(): Promise<void>;
}

export async function startRelay(opts: StartRelayOptions): Promise<RunningRelay> {
  const now = opts.now ?? Date.now;
  const print = opts.quiet ? () => undefined : (opts.print ?? ((line: string) => console.log(line)));
  const log: LogFn = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const host = opts.host ?? '127.0.0.1';
  const store = await openStore({ dataDir: opts.dataDir, mongoUri: opts.mongoUri });
  warnIfShared(opts.dataDir, log);
  let server: Server | undefined;
  try {
    const adminInvite = await bootstrapOrganisation(store, { dataDir: opts.dataDir, orgName: opts.orgName ?? 'Agora', now });
    const hub = new PushHub({ maxBufferedBytes: opts.maxPushBufferedBytes });
    const { app, auth, kt, limitDevice, limitAddress } = composeRelay({ store, hub, now, rateLimit: opts.rateLimit, log });
    // Builds the log's tree from the stored entries (and checks them) before serving anything.
    await kt.ready();
    // The token secret is made now, not by whichever unauthenticated request comes first.
    await auth.ready();
    const srv = createServer(app.callback());
    server = srv;
    const push = attachPush(srv, { auth, hub, log, limitDevice, limitAddress, pingIntervalMs: opts.pingIntervalMs });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(opts.port ?? 8080, host, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    const port = (srv.address() as AddressInfo).port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    // The invite comes first: whoever waits for the listening line has it by then.
    if (adminInvite) {
      print(`Admin invite code: ${adminInvite}`);
      print(`Use it once, within 7 days, to enrol the first administrator (also saved in ${join(opts.dataDir, ADMIN_INVITE_FILE)}).`);
    }
    print(`Agora relay listening on ${url}`);

    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => srv.close(() => resolve()));
        srv.closeIdleConnections();
        await push.close();
        // Requests in flight get a moment to finish; then connections are cut.
        const grace = setTimeout(() => srv.closeAllConnections(), 2000);
        await stopped;
        clearTimeout(grace);
        await store.close();
      })();
      return closing;
    };
    return { url, port, ...(adminInvite ? { adminInvite } : {}), store, hub, kt, close };
  } catch (err) {
    server?.close();
    await store.close();
    throw err;
  }
}

/** The store creates its files 0600 whatever the directory allows (store/sqlite.ts), but a directory
 * that others may list or write lets them see file names and sizes, or plant files before the relay
 * creates its own: worth a line at every start. */
function warnIfShared(dataDir: string, log: LogFn): void {
  let mode: number;
  try {
    mode = statSync(dataDir).mode & 0o777;
  } catch {
    return; // with MongoDB the directory appears only when the bootstrap invite is written
  }
  if ((mode & 0o077) !== 0) {
    log(`warning: DATA_DIR ${dataDir} has mode ${mode.toString(8).padStart(4, '0')}: other local users can reach it; run "chmod 700 ${dataDir}"`);
  }
}
