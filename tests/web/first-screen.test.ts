/** The first screen that comes with the page (web-client/src/first-screen.ts), in Chromium against a
 * real relay serving the built app:
 * - the invite form is on the screen and takes typing before the app's script has run (held back
 *   here); its button is disabled and Enter sends nothing anywhere; when the script arrives, the
 *   live form keeps what was typed and where the cursor was, and works;
 * - a returning person's start is answered by the service worker with the PIN form, in the
 *   language they chose; a damaged hint gets index.html, and the app still shows the PIN form. */
import { describe, expect, it, jest } from '@jest/globals';
import type { Page, Request } from 'playwright-core';
import { APP_RUNNING_MARK, FIRST_SCREEN_CACHE, FIRST_SCREEN_KEY, HINT_WRITTEN_MARK } from '../../web-client/src/first-screen.js';
import { appSuite, holdRequests, newPerson, signUpByLink, unlock, watchPage, WEB_TEST_TIMEOUT } from './harness.js';

jest.setTimeout(WEB_TEST_TIMEOUT);

const appRuns = (page: Page) => page.waitForFunction((mark) => performance.getEntriesByName(mark).length > 0, APP_RUNNING_MARK);
const appHasRun = (page: Page) => page.evaluate((mark) => performance.getEntriesByName(mark).length > 0, APP_RUNNING_MARK);

/** The file the page left for the service worker to answer the next start with. */
async function hintIs(page: Page, path: string): Promise<void> {
  await page.waitForFunction(
    async ([expected, key, cacheName]) => {
      const hint = await caches.match(key, { cacheName });
      return (await hint?.text()) === expected;
    },
    [path, FIRST_SCREEN_KEY, FIRST_SCREEN_CACHE],
  );
}

describe('the first screen in the page', () => {
  const suite = appSuite();

  it('takes typing before the app runs, submits nothing on Enter, and hands what was typed to the app', async () => {
    const { world, browser } = suite;
    const context = await newPerson(browser, { viewport: 'phone' });
    const page = await context.newPage();
    const { problems } = watchPage(page);
    const { held, release } = await holdRequests(page, /\/assets\/index-[^/]*\.js$/);
    const sent: Request[] = [];
    page.on('request', (r) => sent.push(r));

    // Not until "load": that waits for the script held here.
    await page.goto(`${world.url}/`, { waitUntil: 'commit' });
    const field = page.getByLabel('Einladungscode');
    await field.waitFor();
    expect(held.length).toBe(1);
    expect(await appHasRun(page)).toBe(false);
    // Its button cannot act yet, and says so.
    const next = page.getByRole('button', { name: 'Weiter' });
    await expect(next.isDisabled()).resolves.toBe(true);
    await field.click();
    await page.keyboard.type(world.adminInvite);
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Enter');
    // The static form submits nowhere: no navigation, no request with the code in it.
    await page.waitForTimeout(300);
    expect(page.url()).toBe(`${world.url}/`);
    expect(sent.filter((r) => r.url().includes(world.adminInvite.slice(0, 4)) || (r.postData() ?? '').includes(world.adminInvite.slice(0, 4)))).toEqual([]);

    release();
    await appRuns(page);
    // The live form has the code and the cursor where it was (one before the end).
    await expect(field.inputValue()).resolves.toBe(world.adminInvite);
    await expect(page.evaluate(() => [document.activeElement?.id, (document.activeElement as HTMLInputElement).selectionStart])).resolves.toEqual(['invite-code', world.adminInvite.length - 1]);
    await expect(next.isEnabled()).resolves.toBe(true);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Der Code ist gültig' }).waitFor();
    // A new device's next start is the invite form again, not the "starting" screen.
    await hintIs(page, '/index.html');
    expect(problems).toEqual([]);
    await context.close();
  });

  it("answers a returning person's start with the PIN form in their language, and a damaged hint with index.html", async () => {
    const { world, browser } = suite;
    const context = await newPerson(browser, { viewport: 'phone' });
    const page = await context.newPage();
    const { problems } = watchPage(page);
    await signUpByLink(page, world.url, world.adminInvite, { name: 'Erste Verwaltung' });
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await hintIs(page, '/first/pin-de.html');

    const start = async () => {
      const response = await page.goto(`${world.url}/`);
      expect(response?.fromServiceWorker()).toBe(true);
      return (await response?.text()) ?? '';
    };
    const german = await start();
    expect(german).toContain('<html lang="de">');
    expect(german).toContain('id="unlock-pin"');
    await page.getByLabel('PIN oder Passwort').waitFor();

    // English chosen on the PIN form: the next start paints the English one.
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'Unlock' }).waitFor();
    await hintIs(page, '/first/pin-en.html');
    const english = await start();
    expect(english).toContain('<html lang="en">');
    expect(english).toContain('PIN or password');

    // A hint that names anything but a first screen of this build is not followed. (Written once
    // this page has written its own, which would otherwise replace it.)
    await page.waitForFunction((mark) => performance.getEntriesByName(mark).length > 0, HINT_WRITTEN_MARK);
    await page.evaluate(
      async ([key, cacheName]) => {
        const cache = await caches.open(cacheName);
        await cache.put(key, new Response('/assets/../build-manifest.json'));
      },
      [FIRST_SCREEN_KEY, FIRST_SCREEN_CACHE],
    );
    const fallback = await start();
    expect(fallback).toContain('id="invite-code"');
    // The app corrects the screen from the device itself, and leaves the right hint again.
    await page.getByRole('heading', { name: 'Unlock' }).waitFor();
    await hintIs(page, '/first/pin-en.html');
    await page.getByRole('button', { name: 'Deutsch' }).click();
    await unlock(page);
    await page.getByRole('navigation', { name: 'Hauptnavigation' }).waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });
});
