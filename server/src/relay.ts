/** A running relay: store, bootstrap, HTTP and WebSocket on one port. Used by `main.ts` and by
 * tests (port 0 picks a free loopback port). */
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';
import { statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeRelay, type RateLimitOptions } from './app.js';
import { ADMIN_INVITE_FILE, bootstrapOrganisation } from './bootstrap.js';
import type { LogFn } from './errors.js';
import { PushHub } from './hub.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import type { KtLog } from './kt/log.js';
import { attachPush } from './ws.js';
import { loadWebApp, WebAppError, type WebApp } from './web/static.js';

/** The web app's build in this checkout (server/dist/ or server/src/ → web-client/dist). */
export const DEFAULT_WEB_DIR = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'web-client', 'dist');

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
  /** Serve the web app built into this directory (DEFAULT_WEB_DIR for this checkout's) at `/`, after
   * logging its build in the key-transparency log. Default: no web app, only the API. */
  webDir?: string;
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
  /** The web app being served and the log entry of its build; undefined without `webDir` or when
   * the build could not be served (the reason went to the log function). */
  web?: { buildHash: string; dir: string; logIndex?: number };
  close(): Promise<void>;
}

export async function startRelay(opts: StartRelayOptions): Promise<RunningRelay> {
  const now = opts.now ?? Date.now;
  const print = opts.quiet ? () => undefined : (opts.print ?? ((line: string) => console.log(line)));
  const log: LogFn = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const host = opts.host ?? '127.0.0.1';
  // Invite hashes, the log's tree and its signatures are synchronous calls into the crypto provider,
  // which is there once it has been loaded.
  await loadCryptoProvider();
  const store = await openStore({ dataDir: opts.dataDir, mongoUri: opts.mongoUri });
  warnIfShared(opts.dataDir, log);
  let server: Server | undefined;
  try {
    const adminInvite = await bootstrapOrganisation(store, { dataDir: opts.dataDir, orgName: opts.orgName ?? 'Agora', now });
    const hub = new PushHub({ maxBufferedBytes: opts.maxPushBufferedBytes });
    let web: WebApp | { unavailable: string } | undefined;
    if (opts.webDir !== undefined) {
      try {
        web = await loadWebApp(opts.webDir);
      } catch (err) {
        if (!(err instanceof WebAppError)) throw err;
        log(`web app not served: ${err.message}`);
        web = { unavailable: err.message };
      }
    }
    const { app, auth, kt, limitDevice, limitAddress } = composeRelay({ store, hub, now, rateLimit: opts.rateLimit, log, web });
    // Builds the log's tree from the stored entries (and checks them) before serving anything.
    await kt.ready();
    // The build is in the log before its first file is served.
    const logged = web && !('unavailable' in web) ? await kt.logWebBuild(web.files) : undefined;
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
    if (logged && web && !('unavailable' in web)) {
      const where = logged.index === undefined ? 'to be logged in the key-transparency log after the first registration'
        : `${logged.appended ? 'logged now as' : 'logged before as'} key-transparency entry ${logged.index}`;
      print(`Web app at ${url}/ — build ${logged.buildHash}, ${where}`);
      // The first administrator can sign up in the browser straight from this line. The code stays
      // in the fragment, which browsers never send to the server.
      if (adminInvite) print(`First administrator, in the browser: ${url}/einladung#${adminInvite}`);
    }

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
    const webInfo = logged && web && !('unavailable' in web) ? { web: { buildHash: logged.buildHash, dir: web.dir, ...(logged.index === undefined ? {} : { logIndex: logged.index }) } } : {};
    return { url, port, ...(adminInvite ? { adminInvite } : {}), store, hub, kt, ...webInfo, close };
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
