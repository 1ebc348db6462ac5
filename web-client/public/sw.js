// Agora's service worker: keeps the app shell (every file of one build) so the app starts without
// network and a warm start needs no round trip. It never stores answers of the relay's API (/v1/):
// what the app shows offline comes from its own encrypted state in IndexedDB.
//
// Installing fetches build-manifest.json, checks that it is the build this script belongs to (its
// files other than sw.js hash to SHELL_VERSION, which the build wrote into this file), fetches every
// file and checks each against its SHA-256 in the manifest before caching it. A mismatch fails the
// installation and the previous version keeps serving.
'use strict';

const SHELL_VERSION = '__AGORA_SHELL_VERSION__';
const CACHE = `agora-shell-${SHELL_VERSION}`;
// Where the page leaves the first screen this device starts with (the cache and key), and the build's
// copies of index.html with a first screen painted in (web-client/src/first-screen.ts), written here
// by the build. Only these files are ever answered to a start; anything else in the hint gives
// index.html.
const FIRST_SCREEN = __AGORA_FIRST_SCREEN__;
const FIRST_SCREENS = new Set(FIRST_SCREEN.files);
const MANIFEST = '/build-manifest.json';
const SELF = 'sw.js';
// Kept with each cached file: a page served from the cache keeps the relay's Content-Security-Policy.
const KEPT_HEADERS = [
  'Content-Type', 'Content-Security-Policy', 'Referrer-Policy', 'X-Content-Type-Options', 'X-Frame-Options',
  'Cross-Origin-Opener-Policy', 'Cross-Origin-Resource-Policy', 'Permissions-Policy',
];

function keptHeaders(from) {
  const headers = new Headers();
  for (const name of KEPT_HEADERS) {
    const value = from.get(name);
    if (value) headers.set(name, value);
  }
  return headers;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(bytes) {
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

// Code-point order of the paths, then `<sha256>  <path>\n` per file: the canonical manifest text
// of protocol/src/kt/web-build.ts (tests/web-build.test.ts checks this file's version against it).
function comparePaths(a, b) {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length - y.length;
}

function canonicalText(files) {
  return Object.keys(files).sort(comparePaths).map((p) => `${files[p]}  ${p}\n`).join('');
}

async function install() {
  const response = await fetch(MANIFEST, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${MANIFEST}: HTTP ${response.status}`);
  const manifestBytes = await response.arrayBuffer();
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  const files = manifest.files;
  const others = Object.fromEntries(Object.entries(files).filter(([p]) => p !== SELF));
  if ((await sha256Hex(new TextEncoder().encode(canonicalText(others)))) !== SHELL_VERSION) {
    throw new Error('the served build manifest belongs to another build');
  }
  const cache = await caches.open(CACHE);
  const entries = [];
  for (const [path, expected] of Object.entries(files)) {
    const res = await fetch(`/${path}`, { cache: 'no-cache' });
    if (!res.ok) throw new Error(`/${path}: HTTP ${res.status}`);
    const body = await res.arrayBuffer();
    if ((await sha256Hex(body)) !== expected) throw new Error(`/${path} does not match the build manifest`);
    entries.push([`/${path}`, new Response(body, { headers: keptHeaders(res.headers) })]);
  }
  entries.push([MANIFEST, new Response(manifestBytes, { headers: keptHeaders(response.headers) })]);
  for (const [url, res] of entries) await cache.put(url, res);
}

self.addEventListener('install', (event) => {
  event.waitUntil(install());
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('agora-shell-') && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

// The app asks for this when the person agrees to load a waiting new version.
self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'skip-waiting') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // The API and its WebSocket are never answered from here.
  if (url.pathname === '/v1' || url.pathname.startsWith('/v1/')) return;
  // One lookup in this build's cache (two for a start) and nothing else awaited before it: this is
  // on the path of every warm start (the page and each file it loads before its first screen).
  const key = request.mode === 'navigate' ? firstScreen() : Promise.resolve(url.pathname);
  event.respondWith(key.then((path) => caches.match(path, { cacheName: CACHE })).then((hit) => hit || fetch(request)));
});

async function firstScreen() {
  try {
    const hint = await caches.match(FIRST_SCREEN.key, { cacheName: FIRST_SCREEN.cache });
    const path = hint ? await hint.text() : '';
    return FIRST_SCREENS.has(path) ? path : '/index.html';
  } catch {
    return '/index.html';
  }
}
