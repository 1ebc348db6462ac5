/** The invite screen in Chromium against a real relay serving the built app:
 * - it is usable before the SDK's chunks arrive (they are held back here; the form shows, and
 *   "Weiter" waits for them), because the first screen is chosen by a plain IndexedDB read;
 * - a second invite link opened while the screen is open (only the #code changes, the page does
 *   not load again) replaces the first code and is checked at once. */
import { describe, expect, it, jest } from '@jest/globals';
import { appSuite, holdRequests, newPerson, watchPage, WEB_TEST_TIMEOUT } from './harness.js';

jest.setTimeout(WEB_TEST_TIMEOUT);

describe('invite screen', () => {
  const suite = appSuite();

  it('is usable before the SDK has arrived, and picks up a new code from a changed #fragment', async () => {
    const { world, browser } = suite;
    const context = await newPerson(browser, { viewport: 'phone' });
    const page = await context.newPage();
    const { problems } = watchPage(page);
    const { held, release } = await holdRequests(page, /\/assets\/browser-[^/]*\.js$/);

    await page.goto(`${world.url}/einladung`);
    const field = page.getByLabel('Einladungscode');
    await field.waitFor();
    // The SDK chunk was asked for (preloaded after the first paint) and has not arrived.
    for (let i = 0; held.length === 0 && i < 100; i++) await page.waitForTimeout(100);
    expect(held.length).toBeGreaterThan(0);
    await field.fill('AAAA-BBBB-CCCC-DDDD-EEEE');
    await page.getByRole('button', { name: 'Weiter' }).click();
    release();
    await expect(page.getByRole('alert').innerText()).resolves.toContain('Diesen Einladungscode kennt der Server nicht');

    // Another link: same page, new fragment.
    await page.evaluate((code) => {
      window.location.hash = encodeURIComponent(code);
    }, world.adminInvite);
    await page.getByRole('heading', { name: 'Der Code ist gültig' }).waitFor();
    await expect(field.inputValue()).resolves.toBe(world.adminInvite);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  });
  it('corrects a remembered PIN form that no profile backs (site data partly cleared): the invite screen shows', async () => {
    const { world, browser } = suite;
    const context = await newPerson(browser, { viewport: 'phone' });
    // The hint that makes a returning device's PIN form appear in the first render, left behind
    // by a profile database that is gone.
    await context.addInitScript(() => {
      if (!sessionStorage.getItem('seeded')) {
        localStorage.setItem('agora.firstScreen', 'pin');
        sessionStorage.setItem('seeded', '1');
      }
    });
    const page = await context.newPage();
    const { problems } = watchPage(page);
    await page.goto(`${world.url}/`);
    await page.getByLabel('Einladungscode').waitFor();
    await expect(page.getByRole('button', { name: 'Entsperren' }).count()).resolves.toBe(0);
    // …and the corrected hint is what the next start shows first.
    await expect(page.evaluate(() => localStorage.getItem('agora.firstScreen'))).resolves.toBe('welcome');
    expect(problems).toEqual([]);
    await context.close();
  });
});
