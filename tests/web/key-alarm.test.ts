/** A misbehaving relay substitutes a colleague's keys while a person adds them to a secret group in
 * the browser. The app is served through the misbehaving proxy too (tests/kt/evil-relay.ts), as a
 * compromised server would serve it. The app must refuse the forged key, raise the alarm in plain
 * German, show the alarm screen, and block sending until the person has dealt with it. */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { AgoraClient } from '@agora/client-sdk';
import { profileState } from '../helpers.js';
import { startEvilRelay, substituteDeviceKeys, type EvilRelay } from '../kt/evil-relay.js';
import { axeViolations, launchBrowser, newPerson, screenshot, signUpByLink, startAppWorld, watchPage, WEB_TEST_TIMEOUT } from './harness.js';

jest.setTimeout(WEB_TEST_TIMEOUT);

const GROUP = 'Personalrat';

describe('a key substitution by the relay, seen in the browser', () => {
  let world: Awaited<ReturnType<typeof startAppWorld>>;
  let proxy: EvilRelay;
  let browser: Browser;
  let admin: AgoraClient;
  let page: Page;
  let problems: string[];
  let bob: { client: AgoraClient; profileDir: string };
  let mallory: { client: AgoraClient; profileDir: string };

  beforeAll(async () => {
    world = await startAppWorld();
    proxy = await startEvilRelay(world.url);
    ({ client: admin } = await world.register(world.adminInvite, 'Vera Verwaltung'));
    const alice = (await admin.createInvite({ name: 'Alice Becker' })).code;
    bob = await world.register((await admin.createInvite({ name: 'Bob Krause' })).code);
    mallory = await world.register((await admin.createInvite({ name: 'Mallory Falk' })).code);
    browser = await launchBrowser();
    const context = await newPerson(browser, { viewport: 'desktop' });
    page = await context.newPage();
    ({ problems } = watchPage(page));
    await signUpByLink(page, proxy.url, alice);
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await world?.close();
  });

  it('refuses a forged key for a new member, raises the alarm and blocks sending', async () => {
    await page.getByRole('navigation', { name: 'Hauptnavigation' }).getByRole('link', { name: 'Gruppen' }).click();
    await page.getByRole('link', { name: 'Neue geheime Gruppe' }).click();
    await page.getByLabel('Name der Gruppe').fill(GROUP);
    await page.getByRole('button', { name: 'Gruppe anlegen' }).click();
    await page.getByRole('heading', { name: GROUP, level: 1 }).waitFor({ timeout: 30_000 });
    const groupPath = new URL(page.url()).pathname;
    await page.getByLabel(`Nachricht an ${GROUP}`).fill('Vor der Warnung');
    await page.getByLabel(`Nachricht an ${GROUP}`).press('Enter');
    await page.getByText('gesendet', { exact: true }).waitFor({ timeout: 30_000 });

    // Mallory's keys, dressed up as Bob's device, in the directory and in the KeyPackage directory.
    const bobState = await profileState(bob.profileDir);
    const mal = await profileState(mallory.profileDir);
    await substituteDeviceKeys(proxy, bobState, mal);

    await page.getByRole('link', { name: 'Mitglieder', exact: true }).click();
    await page.getByLabel('Name suchen').fill('Bob');
    await page.getByRole('button', { name: 'Hinzufügen: Bob Krause' }).click();
    // The alarm interrupts: a banner on every screen, in words.
    const banner = page.getByText('Sicherheitswarnung.', { exact: false }).first();
    await banner.waitFor({ timeout: 30_000 });
    proxy.set(undefined);
    expect(proxy.seen.filter((e) => e.method === 'POST' && e.path.includes('/commits'))).toHaveLength(0);

    // Sending is blocked, and what is typed stays.
    await page.goto(`${proxy.url}${groupPath}`);
    await page.getByLabel('PIN oder Passwort').fill('135790');
    await page.getByRole('button', { name: 'Entsperren' }).click();
    const composer = page.getByLabel(`Nachricht an ${GROUP}`);
    const recordsBefore = proxy.seen.filter((e) => e.method === 'POST' && e.path.endsWith('/records')).length;
    await composer.fill('Nach der Warnung');
    await composer.press('Enter');
    await page.getByText(/Senden ist wegen .*Sicherheitswarnung.* gesperrt\. Ihr Text bleibt erhalten\./).waitFor();
    await expect(page.getByRole('button', { name: 'Senden' }).isDisabled()).resolves.toBe(true);
    await expect(composer.inputValue()).resolves.toBe('Nach der Warnung');
    await expect(page.getByRole('log').getByText('Nach der Warnung').count()).resolves.toBe(0);
    expect(proxy.seen.filter((e) => e.method === 'POST' && e.path.endsWith('/records')).length).toBe(recordsBefore);

    // The alarm screen says what happened and what to do.
    await page.getByRole('link', { name: 'Warnung ansehen' }).first().click();
    await page.getByRole('heading', { name: 'Sicherheit', level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'Warnungen' }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).toMatch(/Melden Sie das|Vergleichen Sie die Sicherheitsnummer/);
    // The warning names the person whose keys the relay swapped.
    expect(text).toContain('Bob Krause');
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'desktop-sicherheitswarnung');
  });

  it('kept Bob out of the group', async () => {
    await bob.client.sync();
    expect(JSON.stringify(await bob.client.listGroups())).not.toContain(GROUP);
    expect(problems).toEqual([]);
  });
});
