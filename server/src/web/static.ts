/** Serves the web app (web-client/dist) on the relay's own port. At start the relay reads the whole
 * build into memory and checks every file against the build's manifest: it serves exactly the files
 * the manifest lists, with the bytes it hashed and logged (kt/log.ts logWebBuild), whatever happens on
 * disk later. No request path ever reaches the file system, so no path can escape the build.
 *
 * Every answer carries a strict Content-Security-Policy (scripts only from the relay, plus the hash of
 * the page's one inline import map and WebAssembly compilation for libsodium), and the app's routes
 * (`/gruppen/…`) answer with index.html so deep links work; `/v1/` stays the API's. */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Middleware } from 'koa';
import { parseManifest, manifestFiles, WEB_BUILD_MANIFEST, WebBuildError, type WebBuildManifest } from '@agora/protocol/kt/web-build';
import type { WebBuildFile } from '@agora/protocol/kt';
import { AppError } from '../errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
/** Worth compressing: text. Images and fonts are compressed already. */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.webmanifest', '.svg', '.txt', '.wasm']);
/** Vite names these with a content hash: a changed file is a new URL, so browsers may keep them for good. */
const HASHED_DIR = 'assets/';

interface Served {
  bytes: Buffer;
  gzip?: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

export interface WebApp {
  dir: string;
  manifest: WebBuildManifest;
  buildHash: string;
  /** The files as the log entry holds them, sorted by path. */
  files: WebBuildFile[];
  /** CSP hash sources ('sha256-…') of the inline scripts index.html has (its import map). */
  inlineScriptHashes: string[];
  served: ReadonlyMap<string, Served>;
}

export class WebAppError extends Error {
  override name = 'WebAppError';
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function inlineScripts(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    if (/\bsrc\s*=/.test(m[1])) continue;
    out.push(`'sha256-${sha256(Buffer.from(m[2], 'utf8')).toString('base64')}'`);
  }
  return out;
}

/** Reads and checks a build directory: its manifest must be valid and every file it lists must be
 * there with exactly the listed SHA-256. Throws WebAppError saying what is wrong otherwise. */
export async function loadWebApp(dir: string): Promise<WebApp> {
  let manifestText: string;
  try {
    manifestText = await fs.readFile(path.join(dir, WEB_BUILD_MANIFEST), 'utf8');
  } catch {
    throw new WebAppError(`no ${WEB_BUILD_MANIFEST} in ${dir}: build the web app with "npm run build"`);
  }
  let manifest: WebBuildManifest;
  try {
    manifest = parseManifest(manifestText);
  } catch (e) {
    if (e instanceof WebBuildError) throw new WebAppError(`${path.join(dir, WEB_BUILD_MANIFEST)}: ${e.message}`);
    throw e;
  }
  const files = manifestFiles(manifest);
  if (!files.some((f) => f.path === 'index.html')) throw new WebAppError('the build has no index.html');
  const served = new Map<string, Served>();
  const add = (p: string, bytes: Buffer, digest: Uint8Array) => {
    const ext = path.posix.extname(p).toLowerCase();
    const gzip = COMPRESSIBLE.has(ext) && bytes.length > 512 ? gzipSync(bytes, { level: 9 }) : undefined;
    served.set(p, {
      bytes,
      gzip: gzip && gzip.length < bytes.length ? gzip : undefined,
      type: TYPES[ext] ?? 'application/octet-stream',
      // weak: the gzip and the plain answer are the same file in two encodings
      etag: `W/"${Buffer.from(digest).toString('hex').slice(0, 32)}"`,
      cacheControl: p.startsWith(HASHED_DIR) ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
  };
  for (const f of files) {
    let bytes: Buffer;
    try {
      // the manifest's paths are checked (isWebPath: no '..', no absolute paths) before this join
      bytes = await fs.readFile(path.join(dir, ...f.path.split('/')));
    } catch {
      throw new WebAppError(`${f.path} is listed in ${WEB_BUILD_MANIFEST} but missing from ${dir}`);
    }
    if (!sha256(bytes).equals(f.sha256)) throw new WebAppError(`${f.path} in ${dir} does not match ${WEB_BUILD_MANIFEST}: rebuild with "npm run build"`);
    add(f.path, bytes, f.sha256);
  }
  const manifestBytes = Buffer.from(manifestText, 'utf8');
  add(WEB_BUILD_MANIFEST, manifestBytes, sha256(manifestBytes));
  const html = served.get('index.html')!.bytes.toString('utf8');
  return { dir, manifest, buildHash: manifest.buildHash, files, inlineScriptHashes: inlineScripts(html), served };
}

/** A Host header as a CSP source may name it: a host name or bracketed IPv6 address, optional port. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function contentSecurityPolicy(app: Pick<WebApp, 'inlineScriptHashes'>, host: string | undefined): string {
  // 'self' covers ws:/wss: to the same host in CSP Level 3; the explicit origins are for browsers
  // that predate it.
  const ws = host && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    // libsodium compiles its WebAssembly from bytes, which CSP allows only with 'wasm-unsafe-eval'
    `script-src 'self' 'wasm-unsafe-eval'${app.inlineScriptHashes.map((h) => ` ${h}`).join('')}`,
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `connect-src 'self'${ws}`,
    // blob: for the key-derivation worker, which the page starts from the bytes it fetched and
    // checked against the build's integrity (browsers check neither SRI nor the import map for a
    // worker's own URL). Only code already running in the page can make a blob: URL, and a worker
    // started from one runs under this same policy, so it can load nothing from elsewhere.
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "frame-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    "form-action 'self'",
  ].join('; ');
}

const API = /^\/v1(?:\/|$)/;

/** Paths the app routes itself (no file extension in the last segment) get index.html. */
function isAppRoute(p: string): boolean {
  const last = p.slice(p.lastIndexOf('/') + 1);
  return !last.includes('.');
}

/** Serves `app`, or with `unavailable` (the reason) answers the app's paths with a JSON 404 naming it. */
export function webAppMiddleware(app: WebApp | { unavailable: string }): Middleware {
  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || API.test(ctx.path)) return next();
    if ('unavailable' in app) throw new AppError('not_found', `the web app is not available on this relay: ${app.unavailable}`);
    let decoded: string;
    try {
      decoded = decodeURIComponent(ctx.path);
    } catch {
      throw new AppError('bad_request', 'malformed path');
    }
    const segments = decoded.split('/').slice(1);
    if (segments.some((s) => s === '.' || s === '..' || s.includes('\\') || s.includes('\0'))) {
      throw new AppError('not_found', 'no such file');
    }
    const rel = segments.join('/');
    const file = app.served.get(rel === '' ? 'index.html' : rel) ?? (isAppRoute(decoded) ? app.served.get('index.html') : undefined);
    if (!file) throw new AppError('not_found', 'no such file');

    ctx.set('Content-Security-Policy', contentSecurityPolicy(app, ctx.get('host') || undefined));
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    // the camera is for scanning invite and device-link QR codes
    ctx.set('Permissions-Policy', 'camera=(self), microphone=(), geolocation=(), payment=(), usb=()');
    ctx.set('Cache-Control', file.cacheControl);
    ctx.set('ETag', file.etag);
    ctx.vary('Accept-Encoding');
    ctx.type = file.type;
    if (ctx.get('if-none-match') === file.etag) {
      ctx.status = 304;
      return;
    }
    if (file.gzip && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = file.gzip;
    } else {
      ctx.body = file.bytes;
    }
  };
}

