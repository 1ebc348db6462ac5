/** Suche covers every group the person is in, not only those opened on screen, in Chromium: a
 * colleague adds the person to two secret groups while the app is closed and writes in both; after
 * unlocking, the person goes straight to Suche (never opening either group), finds a message of
 * the second group, sees that every group is searched, and the hit's link opens that group at the
 * message. After a reload it is found again, and nothing the browser stores (IndexedDB, where the
 * saved index is, and localStorage) holds the message's word in the clear. */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { AgoraClient } from '../../client-sdk/src/client.js';
import { axeViolations, launchBrowser, mainNav, newPerson, signUpByLink, startAppWorld, unlock, watchPage, WEB_TEST_TIMEOUT } from './harness.js';

jest.setTimeout(WEB_TEST_TIMEOUT * 2);

const GROUP_A = 'Bauhof Rundschreiben';
const GROUP_B = 'Haushalt 2027';
const WORD = 'Streusalzausschreibung';

describe('search across every group the person is in', () => {
  let world: Awaited<ReturnType<typeof startAppWorld>>;
  let admin: AgoraClient;
  let browser: Browser;
  let page: Page;
  let problems: string[];
  let groupB = '';
  let target = '';

  beforeAll(async () => {
    world = await startAppWorld();
    ({ client: admin } = await world.register(world.adminInvite, 'Vera Verwaltung'));
    browser = await launchBrowser();
    page = await (await newPerson(browser, { viewport: 'desktop' })).newPage();
    ({ problems } = watchPage(page));
  });

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('finds a message of a group never opened on screen and opens the group at it', async () => {
    await signUpByLink(page, world.url, (await admin.createInvite({ name: 'Anna Schmidt' })).code);
    // The app is closed while the colleague adds Anna and writes.
    await page.goto('about:blank');
    const groupA = (await admin.createGroup({ name: GROUP_A, kind: 'secret' })).id;
    groupB = (await admin.createGroup({ name: GROUP_B, kind: 'secret' })).id;
    await admin.addMembers(groupA, ['Anna Schmidt']);
    await admin.addMembers(groupB, ['Anna Schmidt']);
    for (let i = 0; i < 5; i++) await admin.send(groupA, `Rundschreiben Nummer ${i}`);
    target = (await admin.send(groupB, `Die ${WORD} endet am Freitag.`)).id;
    for (let i = 0; i < 30; i++) await admin.send(groupB, `Haushaltsposten ${i}`);

    await page.goto(`${world.url}/suche`);
    await unlock(page);
    await page.getByRole('heading', { name: 'Suche', level: 1 }).waitFor({ timeout: 60_000 });
    const progress = page.getByTestId('search-progress');
    await progress.getByText('Alle 2 Gruppen sind durchsucht.').waitFor({ timeout: 60_000 });
    await page.getByRole('searchbox', { name: 'Suchbegriff' }).fill('streusalz');
    await page.getByRole('status').getByText('1 Treffer').waitFor({ timeout: 30_000 });
    const results = page.getByRole('region', { name: new RegExp(GROUP_B) });
    await expect(results.innerText()).resolves.toContain(WORD);
    expect(await axeViolations(page)).toEqual([]);

    await results.getByRole('link').first().click();
    await page.waitForFunction(([g, m]) => location.pathname === `/gruppen/${encodeURIComponent(g)}` && location.hash === `#m-${encodeURIComponent(m)}`, [groupB, target]);
    const message = page.locator(`[id="m-${target}"]`);
    await message.waitFor({ timeout: 60_000 });
    await page.waitForFunction((id) => document.activeElement?.id === `m-${id}`, target, { timeout: 30_000 });
    await expect(message.innerText()).resolves.toContain(WORD);
  });

  it('finds it again after a reload, and the browser keeps no message word in the clear', async () => {
    // Long enough for the index's delayed save.
    await page.waitForTimeout(2_000);
    await page.goto(`${world.url}/suche?q=${encodeURIComponent('Streusalzausschreibung')}`);
    await unlock(page);
    await page.getByRole('status').getByText('1 Treffer').waitFor({ timeout: 60_000 });
    await page.getByTestId('search-progress').getByText('Alle 2 Gruppen sind durchsucht.').waitFor({ timeout: 60_000 });
    // What the browser keeps on disk holds no message text in the clear (the app's records and
    // the SDK's are encrypted); only the language choice is in localStorage.
    const clearText = await page.evaluate(async (word) => {
      const found: string[] = [];
      let scanned = 0;
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i)!;
        if (`${k}=${localStorage.getItem(k)}`.includes(word)) found.push(`localStorage ${k}`);
      }
      for (const info of await indexedDB.databases()) {
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const req = indexedDB.open(info.name!);
          req.onsuccess = () => resolve(req.result);
          req.onerror = () => reject(req.error);
        });
        for (const name of [...db.objectStoreNames]) {
          const all = await new Promise<unknown[]>((resolve, reject) => {
            const req = db.transaction(name).objectStore(name).getAll();
            req.onsuccess = () => resolve(req.result as unknown[]);
            req.onerror = () => reject(req.error);
          });
          const decoder = new TextDecoder('latin1');
          const text = (v: unknown): string => (v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? decoder.decode(v as ArrayBuffer) : typeof v === 'object' && v !== null ? Object.values(v).map(text).join(' ') : String(v));
          scanned += all.length;
          if (all.some((v) => text(v).includes(word))) found.push(`${info.name}/${name}`);
        }
        db.close();
      }
      return { found, scanned };
    }, WORD);
    // The profile's records were there to look at (the index among them), and none held the word.
    expect(clearText.scanned).toBeGreaterThan(10);
    expect(clearText.found).toEqual([]);
    await expect(mainNav(page).isVisible()).resolves.toBe(true);
    expect(problems).toEqual([]);
  });
});
