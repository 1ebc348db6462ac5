/** What a phone downloads at its first sign-up, in Chromium against a real relay serving the built
 * app: libsodium (about 190 kB compressed) crosses the network once, although both the page and the
 * key-derivation worker run it. The worker's own file is a few kilobytes; its script is composed in
 * the page from that file and the page's libsodium chunk (web-client/src/engine/kdf-source.ts).
 * Every response is counted, the page's and the service worker's (whose installation fetches the
 * whole build), by its bytes on the wire. Prints the numbers for docs/web-app.md. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { launchBrowser, newPerson, signUpByLink, startAppWorld, WEB_DIST, WEB_TEST_TIMEOUT, watchPage } from './harness.js';

interface Transfer {
  path: string;
  status: number;
  /** Bytes of the body as sent (compressed), 0 when it came from a cache. */
  bytes: number;
  fromServiceWorker: boolean;
  byServiceWorker: boolean;
}

describe('libsodium is downloaded once', () => {
  let world: Awaited<ReturnType<typeof startAppWorld>>;
  let browser: Browser;
  let admin: Awaited<ReturnType<typeof world.register>>['client'];
  let numbers: Record<string, unknown> = {};

  beforeAll(async () => {
    world = await startAppWorld();
    ({ client: admin } = await world.register(world.adminInvite, 'Vera Verwaltung'));
    browser = await launchBrowser();
  });

  afterAll(async () => {
    if (Object.keys(numbers).length > 0) console.log(`first sign-up transfers (Chromium):\n${JSON.stringify(numbers, null, 1)}`);
    await browser?.close();
    await admin?.close?.();
    await world?.close();
  });

  it('a first sign-up fetches the libsodium chunk once, and the worker runs it from checked bytes', async () => {
    const { code } = await admin.createInvite({ name: 'Paula Pohl' });
    const manifest = JSON.parse(await readFile(path.join(WEB_DIST, 'build-manifest.json'), 'utf8')) as { files: Record<string, string> };
    const sodiumPath = Object.keys(manifest.files).find((f) => /^assets\/libsodium-wrappers-[\w-]+\.js$/.test(f))!;
    const workerPath = Object.keys(manifest.files).find((f) => /^assets\/kdf\.worker-[\w-]+\.js$/.test(f))!;
    expect(sodiumPath).toBeDefined();
    expect(workerPath).toBeDefined();

    const context = await newPerson(browser, { viewport: 'phone' });
    const transfers: Transfer[] = [];
    const pending: Promise<void>[] = [];
    // Context-wide, so that the service worker's fetches count too.
    context.on('requestfinished', (request) => {
      pending.push(
        (async () => {
          const response = await request.response();
          if (!response) return;
          const sizes = await request.sizes();
          transfers.push({
            path: new URL(request.url()).pathname.slice(1),
            status: response.status(),
            bytes: sizes.responseBodySize,
            fromServiceWorker: response.fromServiceWorker(),
            byServiceWorker: request.serviceWorker() !== null,
          });
        })(),
      );
    });
    const page = await context.newPage();
    // Slow mobile data (the bench's profile), so that the page's import() of libsodium and the
    // worker's fetch of it are in flight together, as on a phone.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 150, downloadThroughput: (1.6e6 / 8) | 0, uploadThroughput: (750e3 / 8) | 0 });
    const { problems } = watchPage(page);
    const workers: string[] = [];
    page.on('worker', (w) => workers.push(w.url()));
    const t0 = performance.now();
    await signUpByLink(page, world.url, code);
    const signUpMs = Math.round(performance.now() - t0);
    // The service worker's installation (the whole build, for the next start) belongs to this visit.
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await page.waitForLoadState('networkidle');
    await Promise.all(pending);
    await context.close();

    // The derivation ran in a worker started from a blob: URL of the app's origin.
    expect(workers.length).toBe(1);
    expect(workers[0]!.startsWith(`blob:${world.url}/`)).toBe(true);
    expect(problems).toEqual([]);

    const network = transfers.filter((t) => !t.fromServiceWorker && t.bytes > 0);
    const js = network.filter((t) => t.path.endsWith('.js'));
    const sum = (ts: Transfer[]) => ts.reduce((s, t) => s + t.bytes, 0);
    const sodium = network.filter((t) => t.path === sodiumPath);
    numbers = {
      signUpMs,
      jsBytesFromNetwork: sum(js),
      jsBytesByPage: sum(js.filter((t) => !t.byServiceWorker)),
      jsBytesByServiceWorker: sum(js.filter((t) => t.byServiceWorker)),
      sodiumDownloads: sodium.map((t) => `${t.bytes} bytes, ${t.byServiceWorker ? 'service worker' : 'page'}, HTTP ${t.status}`),
      workerFile: network.filter((t) => t.path === workerPath).map((t) => `${t.bytes} bytes, ${t.byServiceWorker ? 'service worker' : 'page'}`),
      largestScripts: [...js].sort((a, b) => b.bytes - a.bytes).slice(0, 6).map((t) => `${t.path} ${t.bytes}${t.byServiceWorker ? ' (service worker)' : ''}`),
    };
    expect(sodium.length).toBe(1);
    // The worker's own file carries no libsodium.
    for (const t of network.filter((t) => t.path === workerPath)) expect(t.bytes).toBeLessThan(10_000);
  }, WEB_TEST_TIMEOUT * 2);

  it("the worker's libsodium is checked too: other bytes on its fetch, and no worker starts; the page derives", async () => {
    const { code } = await admin.createInvite({ name: 'Rita Roth' });
    const context = await newPerson(browser, { viewport: 'desktop' });
    let tampered = 0;
    // Only the page's own fetch() of the chunk (the worker's copy) gets other bytes; its import()
    // of the same URL gets the build's, so the app itself works.
    await context.route('**/assets/libsodium-wrappers-*.js', async (route) => {
      const res = await route.fetch();
      if (route.request().resourceType() !== 'fetch') return route.fulfill({ response: res });
      tampered++;
      return route.fulfill({ response: res, body: `fetch('/tampered-sodium-ran');\n${await res.text()}` });
    });
    let ran = 0;
    await context.route('**/tampered-sodium-ran', (route) => {
      ran++;
      return route.fulfill({ status: 204 });
    });
    const page = await context.newPage();
    const { problems } = watchPage(page);
    const workers: string[] = [];
    page.on('worker', (w) => workers.push(w.url()));
    await signUpByLink(page, world.url, code);
    await context.close();
    expect(tampered).toBeGreaterThan(0);
    expect(ran).toBe(0);
    expect(workers).toEqual([]);
    expect(problems).toEqual([]);
  }, WEB_TEST_TIMEOUT * 2);
});
