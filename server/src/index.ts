/** The Agora relay: a thin Koa server that stores ciphertext, orders group logs, routes MLS
 * Welcomes and organisation-key envelopes, and pushes notifications over WebSocket.
 * `startRelay` runs one; `createApp` gives the Koa app without listening; `openStore` opens the
 * storage (SQLite by default, MongoDB with a URI). */
export { DEFAULT_WEB_DIR, startRelay, type RunningRelay, type StartRelayOptions } from './relay.js';
export { loadWebApp, contentSecurityPolicy, type WebApp } from './web/static.js';
export { createApp, composeRelay, DEFAULT_RATE_LIMIT, type AppDeps, type RateLimitOptions, type RelayParts } from './app.js';
export { openStore, openSqliteStore } from './store/index.js';
export type { Store } from './store/types.js';
export { PushHub } from './hub.js';
export { AppError } from './errors.js';
