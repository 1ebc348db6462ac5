/** The ClientStore contract (client-sdk/src/store/contract.ts) in Chromium over the real IndexedDB
 * backend: the cases are bundled for the page and each runs there as its own test. Under jest in
 * Node the same cases run over fake-indexeddb, which cannot show how a real browser commits,
 * orders array keys or keeps Uint8Arrays. */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CLIENT_STORE_CASES } from '../../client-sdk/src/store/contract.js';
import { bundleForBrowser, launchBrowser, ROOT, serveFiles, WEB_TEST_TIMEOUT } from './harness.js';
import type { CaseOutcome } from './idb-contract.page.js';

jest.setTimeout(WEB_TEST_TIMEOUT);

describe('ClientStore contract: IndexedDB in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let server: Awaited<ReturnType<typeof serveFiles>>;

  beforeAll(async () => {
    const script = await bundleForBrowser(path.join(ROOT, 'tests/web/idb-contract.page.ts'));
    server = await serveFiles({
      '/': { type: 'text/html; charset=utf-8', body: '<!doctype html><meta charset="utf-8"><title>store contract</title><script src="/contract.js"></script>' },
      '/contract.js': { type: 'text/javascript; charset=utf-8', body: script },
    });
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => 'agoraContract' in globalThis);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs in a real browser with the real IndexedDB, every case of the contract', async () => {
    const env = await page.evaluate(() => ({ fake: 'fakeIndexedDB' in globalThis, idb: String(indexedDB), ua: navigator.userAgent }));
    expect(env.fake).toBe(false);
    expect(env.idb).toBe('[object IDBFactory]');
    expect(env.ua).toContain('Chrome/');
    const names = await page.evaluate(() => (globalThis as unknown as { agoraContract: { names: string[] } }).agoraContract.names);
    expect(names).toEqual(CLIENT_STORE_CASES.map((c) => c.name));
  });

  for (const c of CLIENT_STORE_CASES) {
    it(c.name, async () => {
      const outcome = await page.evaluate(
        (name) => (globalThis as unknown as { agoraContract: { run(n: string): Promise<CaseOutcome> } }).agoraContract.run(name),
        c.name,
      );
      for (const line of outcome.logs) process.stdout.write(`[IndexedDB in Chromium] ${line}\n`);
      if (outcome.error) throw new Error(outcome.error);
    });
  }
});
