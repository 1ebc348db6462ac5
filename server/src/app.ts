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
import type { Ctx, Handler, RouteDeps, RouteKit } from './routes/context.js';
import { deviceRoutes } from './routes/devices.js';
import { groupRoutes } from './routes/groups.js';
import { ktRoutes } from './routes/kt.js';
import { KtLog } from './kt/log.js';
import { orgKeyRoutes } from './routes/orgkeys.js';
import type { Store } from './store/types.js';

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
}

export interface RelayParts {
  app: Koa;
  auth: Auth;
  kt: KtLog;
  /** Throws rate_limited when the device is over its budget; shared with the WebSocket upgrade. */
  limitDevice(deviceId: string): void;
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

  const kt = deps.kt ?? new KtLog({ store: deps.store, now });
  const routeDeps: RouteDeps = { store: deps.store, hub: deps.hub, auth, now, log, kt };
  const router = new Router();
  const kit: RouteKit = {
    router,
    deps: routeDeps,
    authed: (handler) => async (ctx: Ctx) => {
      const token = bearerToken(ctx.get('authorization') || undefined);
      if (!token) throw new AppError('unauthenticated', 'sign in first (Authorization: Bearer <token>)');
      const deviceId = await auth.tokenDevice(token);
      limitDevice(deviceId);
      await handler(ctx, await auth.principal(deviceId));
    },
    open: (handler): Handler => async (ctx: Ctx) => {
      limitIp(ctx.ip);
      await handler(ctx);
    },
    publicRead: (handler): Handler => async (ctx: Ctx) => {
      // Signed-in devices are counted per device (an office behind one address has many); anyone
      // else (witnesses, auditors) per address.
      const token = bearerToken(ctx.get('authorization') || undefined);
      if (token) {
        const deviceId = await auth.tokenDevice(token);
        limitDevice(deviceId);
        await auth.principal(deviceId);
      } else {
        limitIp(ctx.ip);
      }
      await handler(ctx);
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
  orgKeyRoutes(kit);
  ktRoutes(kit);

  const app = new Koa();
  app.on('error', (err: unknown) => log(`http error: ${err instanceof Error ? err.message : String(err)}`));
  app.use(errorMiddleware(log));
  app.use(async (ctx, next) => {
    // Answers are per-person and often ciphertext: nothing for caches or content sniffing.
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    await next();
  });
  app.use(router.routes());
  return { app, auth, kt, limitDevice };
}

export function createApp(deps: AppDeps): Koa {
  return composeRelay(deps).app;
}
