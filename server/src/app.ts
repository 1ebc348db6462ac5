/** The relay as a Koa application. `createApp` composes middleware and routes and does not
 * listen: the same app runs under `startRelay`, in tests and behind any HTTP server. */
import Koa from 'koa';
import { Router } from '@koa/router';
import { Auth, bearerToken } from './auth.js';
import { AppError, errorMiddleware, type LogFn } from './errors.js';
import type { PushHub } from './hub.js';
import { RateLimiter } from './ratelimit.js';
import { accountRoutes } from './routes/account.js';
import { adminRoutes } from './routes/admin.js';
import type { Ctx, Handler, KtCaller, RouteDeps, RouteKit } from './routes/context.js';
import { deviceRoutes } from './routes/devices.js';
import { revokeRoutes } from './routes/revoke.js';
import { groupRoutes } from './routes/groups.js';
import { ktRoutes } from './routes/kt.js';
import { KtLog } from './kt/log.js';
import { KtAccess, type KtReader } from './kt/access.js';
import { orgKeyRoutes } from './routes/orgkeys.js';
import { syncRoutes } from './routes/sync.js';
import type { Store } from './store/types.js';
import { webAppMiddleware, type WebApp } from './web/static.js';

export interface RateLimitOptions {
  /** Per signed-in device, on every authenticated request and WebSocket upgrade. */
  perDevicePerSecond: number;
  burst: number;
  /** Per client address, on the unauthenticated writes (register, challenge, token). */
  perIpPerSecond?: number;
  ipBurst?: number;
}

export const DEFAULT_RATE_LIMIT: Required<RateLimitOptions> = {
  perDevicePerSecond: 200,
  burst: 400,
  perIpPerSecond: 20,
  ipBurst: 40,
};

export interface AppDeps {
  store: Store;
  hub: PushHub;
  now?: () => number;
  /** `false` turns rate limiting off (benchmarks). */
  rateLimit?: RateLimitOptions | false;
  /** Server-side diagnostics; never receives request bodies. Defaults to stderr. */
  log?: LogFn;
  /** The key-transparency log over `store`; made here when not given. */
  kt?: KtLog;
  /** The web app served at `/` (web/static.ts), or why it is not; without it, only the API answers. */
  web?: WebApp | { unavailable: string };
}

export interface RelayParts {
  app: Koa;
  auth: Auth;
  kt: KtLog;
  /** Throws rate_limited when the device is over its budget; shared with the WebSocket upgrade. */
  limitDevice(deviceId: string): void;
  /** The same for a client address (unauthenticated work and failed sign-ins). */
  limitAddress(address: string): void;
}

const stderrLog: LogFn = (line) => process.stderr.write(`${line}\n`);

function limiter(config: { perSecond: number; burst: number } | undefined): ((key: string) => void) {
  if (!config) return () => undefined;
  const buckets = new RateLimiter(config);
  return (key) => {
    const taken = buckets.take(key);
    if (!taken.ok) {
      throw new AppError('rate_limited', 'too many requests, slow down', {
        headers: { 'Retry-After': String(taken.retryAfterSeconds) },
      });
    }
  };
}

/** The app plus the pieces the WebSocket endpoint shares with it. */
export function composeRelay(deps: AppDeps): RelayParts {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? stderrLog;
  const auth = new Auth({ store: deps.store, now });
  const limits = deps.rateLimit === false ? undefined : { ...DEFAULT_RATE_LIMIT, ...deps.rateLimit };
  const limitDevice = limiter(limits && { perSecond: limits.perDevicePerSecond, burst: limits.burst });
  const limitIp = limiter(limits && { perSecond: limits.perIpPerSecond, burst: limits.ipBurst });
  /** A missing or made-up token costs its sender's address budget, so a flood of bogus tokens is
   * throttled like any unauthenticated traffic; valid tokens are counted per device instead. */
  const tokenDevice = async (ctx: Ctx, token: string | undefined): Promise<string> => {
    try {
      if (!token) throw new AppError('unauthenticated', 'sign in first (Authorization: Bearer <token>)');
      return await auth.tokenDevice(token);
    } catch (err) {
      limitIp(ctx.ip);
      throw err;
    }
  };

  const kt = deps.kt ?? new KtLog({ store: deps.store, now });
  const ktAccess = new KtAccess({ store: deps.store, now });
  const routeDeps: RouteDeps = { store: deps.store, hub: deps.hub, auth, now, log, kt, ktAccess };
  const router = new Router();
  const kit: RouteKit = {
    router,
    deps: routeDeps,
    authed: (handler) => async (ctx: Ctx) => {
      const deviceId = await tokenDevice(ctx, bearerToken(ctx.get('authorization') || undefined));
      limitDevice(deviceId);
      await handler(ctx, await auth.principal(deviceId));
    },
    open: (handler): Handler => async (ctx: Ctx) => {
      limitIp(ctx.ip);
      await handler(ctx);
    },
    ktRead: (allowed, handler): Handler => async (ctx: Ctx) => {
      const token = bearerToken(ctx.get('authorization') || undefined);
      let who: KtCaller;
      if (token && KtAccess.isReaderToken(token)) {
        let reader: KtReader;
        try {
          reader = await ktAccess.reader(token);
        } catch (err) {
          limitIp(ctx.ip);
          throw err;
        }
        // a witness or auditor is counted per key, like a device
        limitDevice(`kt-${reader.role}:${reader.key}`);
        if (!allowed.includes(reader.role)) {
          throw new AppError('forbidden', `a ${reader.role} key may not read this part of the key-transparency log`);
        }
        who = { kind: reader.role, reader };
      } else {
        const deviceId = await tokenDevice(ctx, token);
        limitDevice(deviceId);
        who = { kind: 'device', principal: await auth.principal(deviceId) };
      }
      await handler(ctx, who);
    },
    later: (ctx, work) => {
      let ran = false;
      const run = () => {
        if (ran) return;
        ran = true;
        Promise.resolve()
          .then(work)
          .catch((err: unknown) => log(`push after ${ctx.method} ${ctx.path} failed: ${err instanceof Error ? err.message : String(err)}`));
      };
      ctx.res.once('finish', run);
      ctx.res.once('close', run);
    },
  };
  accountRoutes(kit);
  adminRoutes(kit);
  groupRoutes(kit);
  deviceRoutes(kit);
  revokeRoutes(kit);
  orgKeyRoutes(kit);
  ktRoutes(kit);
  syncRoutes(kit);

  const app = new Koa();
  app.on('error', (err: unknown) => log(`http error: ${err instanceof Error ? err.message : String(err)}`));
  app.use(errorMiddleware(log));
  app.use(async (ctx, next) => {
    // Answers are per-person and often ciphertext: nothing for caches or content sniffing.
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    await next();
  });
  if (deps.web) app.use(webAppMiddleware(deps.web));
  app.use(router.routes());
  return { app, auth, kt, limitDevice, limitAddress: limitIp };
}

export function createApp(deps: AppDeps): Koa {
  return composeRelay(deps).app;
}
