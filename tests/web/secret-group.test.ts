/** The main flows of the web app in Chromium against a real relay serving the built app: people
 * sign up by invite in their own browsers (one on a desktop, one on a phone using only the
 * keyboard), create a secret group, and write to each other live; a colleague outside the group and
 * the administrator see nothing of it; a reload asks for the PIN and keeps the history; without
 * network the shell and what was received still open; bad input gets a German message. Every
 * screen is checked with axe-core, and the main ones are photographed for docs/screenshots/. */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { AgoraClient } from '@agora/client-sdk';
import {
  axeViolations, focused, launchBrowser, mainNav, newPerson, PIN, screenshot, signUpByLink, startAppWorld, tabTo, unlock, watchPage, WEB_TEST_TIMEOUT,
} from './harness.js';

jest.setTimeout(WEB_TEST_TIMEOUT);

const GROUP = 'Bauamt intern';
const FIRST = 'Die Baustelle Lindenstraße beginnt am Montag.';
const REPLY = 'Danke, ich sage dem Bauhof Bescheid.';

describe('a secret group in the browser', () => {
  let world: Awaited<ReturnType<typeof startAppWorld>>;
  let browser: Browser;
  let admin: AgoraClient;
  const invites: Record<'anna' | 'ben' | 'carla', string> = { anna: '', ben: '', carla: '' };
  let anna: { context: BrowserContext; page: Page; problems: string[] };
  let ben: { context: BrowserContext; page: Page; problems: string[] };
  let groupUrl = '';

  const accessible = async (page: Page, screen: string) => {
    const violations = await axeViolations(page);
    expect({ screen, violations }).toEqual({ screen, violations: [] });
  };

  beforeAll(async () => {
    world = await startAppWorld();
    ({ client: admin } = await world.register(world.adminInvite, 'Vera Verwaltung'));
    invites.anna = (await admin.createInvite({ name: 'Anna Schmidt' })).code;
    invites.ben = (await admin.createInvite({ name: 'Ben Weber' })).code;
    invites.carla = (await admin.createInvite({ name: 'Carla Neumann' })).code;
    browser = await launchBrowser();
    const person = async (viewport: 'phone' | 'desktop') => {
      const context = await newPerson(browser, { viewport });
      const page = await context.newPage();
      return { context, page, ...watchPage(page) };
    };
    anna = await person('desktop');
    ben = await person('phone');
  });

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('refuses a wrong invite code in German and keeps what was typed', async () => {
    const { page } = anna;
    await page.goto(`${world.url}/einladung`);
    await page.getByRole('heading', { name: 'Einladung annehmen', level: 1 }).waitFor();
    await accessible(page, 'Einladung annehmen');
    await screenshot(page, 'desktop-einladung');
    const wrong = 'ABCD-EFGH-IJKL-MNOP-QRST';
    await page.getByLabel('Einladungscode').fill(wrong);
    await page.getByRole('button', { name: 'Weiter' }).click();
    await expect(page.getByRole('alert').innerText()).resolves.toContain('Diesen Einladungscode kennt der Server nicht.');
    await expect(page.getByLabel('Einladungscode').inputValue()).resolves.toBe(wrong);
    await accessible(page, 'Einladung annehmen, falscher Code');
  });

  it('signs Anna up by invite link on a desktop', async () => {
    await signUpByLink(anna.page, world.url, invites.anna);
    await expect(anna.page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('Startseite');
    await accessible(anna.page, 'Startseite');
  });

  it('signs Ben up on a phone with the keyboard only', async () => {
    const { page } = ben;
    await page.goto(`${world.url}/einladung`);
    await page.getByRole('heading', { name: 'Einladung annehmen', level: 1 }).waitFor();
    await tabTo(page, 'Einladungscode');
    await page.keyboard.type(invites.ben);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Der Code ist gültig' }).waitFor();
    await expect(page.getByText('Sie werden als Ben Weber angemeldet.').isVisible()).resolves.toBe(true);
    await accessible(page, 'Einladung annehmen, Code gültig (Telefon)');
    await screenshot(page, 'phone-einladung');
    await tabTo(page, 'PIN oder Passwort');
    await page.keyboard.type(PIN);
    await page.keyboard.press('Tab');
    await expect(focused(page)).resolves.toBe('PIN oder Passwort wiederholen');
    await page.keyboard.type(PIN);
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === '/', { timeout: 60_000 });
    await mainNav(page).waitFor();
    await accessible(page, 'Startseite (Telefon)');
  });

  it('lets Anna create a secret group and add Ben by name', async () => {
    const { page } = anna;
    await mainNav(page).getByRole('link', { name: 'Gruppen' }).click();
    await page.getByRole('heading', { name: 'Gruppen', level: 1 }).waitFor();
    await accessible(page, 'Gruppen (leer)');
    await page.getByRole('link', { name: 'Neue geheime Gruppe' }).click();
    await page.getByRole('heading', { name: 'Neue geheime Gruppe', level: 1 }).waitFor();
    await page.getByLabel('Name der Gruppe').fill(GROUP);
    await page.getByLabel('Beschreibung (freiwillig)').fill('Absprachen der Bauaufsicht');
    await accessible(page, 'Neue geheime Gruppe');
    await screenshot(page, 'desktop-neue-gruppe');
    await page.getByRole('button', { name: 'Gruppe anlegen' }).click();
    await page.getByRole('heading', { name: GROUP, level: 1 }).waitFor({ timeout: 30_000 });
    groupUrl = page.url();
    expect(new URL(groupUrl).pathname).toMatch(/^\/gruppen\/g_/);
    await expect(page.getByText('Geheime Gruppe · Ende-zu-Ende-verschlüsselt').first().isVisible()).resolves.toBe(true);

    await page.getByRole('link', { name: 'Mitglieder', exact: true }).click();
    await page.getByRole('heading', { name: `Mitglieder von ${GROUP}`, level: 1 }).waitFor();
    await page.getByLabel('Name suchen').fill('Ben');
    await page.getByRole('button', { name: 'Hinzufügen: Ben Weber' }).click();
    await page.getByText('Ben Weber wurde hinzugefügt.').waitFor({ timeout: 30_000 });
    await accessible(page, 'Mitglieder');
    await screenshot(page, 'desktop-mitglieder');
  });

  it('delivers messages live both ways, the phone sending with the Enter key', async () => {
    await anna.page.getByRole('link', { name: 'Zurück zur Gruppe' }).click();
    const annaLog = anna.page.getByRole('log', { name: `Nachrichten in ${GROUP}` });
    await annaLog.waitFor();
    await anna.page.getByLabel(`Nachricht an ${GROUP}`).fill(FIRST);
    await anna.page.getByLabel(`Nachricht an ${GROUP}`).press('Enter');
    await annaLog.getByText(FIRST).waitFor();
    await annaLog.getByText('gesendet', { exact: true }).waitFor({ timeout: 30_000 });

    // Ben has the app open on the groups screen: the group and the message arrive without a reload.
    const { page } = ben;
    await mainNav(page).getByRole('link', { name: 'Gruppen' }).tap();
    await page.getByRole('link', { name: new RegExp(GROUP) }).waitFor({ timeout: 30_000 });
    await accessible(page, 'Gruppen (Telefon)');
    await screenshot(page, 'phone-gruppen');
    await page.getByRole('link', { name: new RegExp(GROUP) }).tap();
    const benLog = page.getByRole('log', { name: `Nachrichten in ${GROUP}` });
    await benLog.getByText(FIRST).waitFor({ timeout: 30_000 });
    // Keyboard only: Tab to the composer, type, Enter.
    await tabTo(page, `Nachricht an ${GROUP}`, 40);
    await page.keyboard.type(REPLY);
    await page.keyboard.press('Enter');
    await benLog.getByText(REPLY).waitFor();
    await annaLog.getByText(REPLY).waitFor({ timeout: 30_000 });
    await expect(annaLog.getByRole('article', { name: 'Nachricht von Ben Weber' }).innerText()).resolves.toContain(REPLY);
    await benLog.getByText('gesendet', { exact: true }).waitFor({ timeout: 30_000 });
    await accessible(page, 'Gruppe (Telefon)');
    await screenshot(page, 'phone-gruppe');
    await accessible(anna.page, 'Gruppe');
    await screenshot(anna.page, 'desktop-gruppe');
  });

  it('shows Carla, who is not in the group, and the administrator nothing of it', async () => {
    const context = await newPerson(browser, { viewport: 'desktop' });
    const page = await context.newPage();
    const { problems } = watchPage(page);
    await signUpByLink(page, world.url, invites.carla);
    await mainNav(page).getByRole('link', { name: 'Gruppen' }).click();
    await page.getByRole('heading', { name: 'Geheime Gruppen' }).waitFor();
    const body = await page.locator('body').innerText();
    for (const secret of [GROUP, FIRST, REPLY, 'Bauaufsicht']) expect(body).not.toContain(secret);
    // Not even by its address.
    await page.goto(groupUrl);
    await unlock(page);
    await page.getByRole('heading', { name: 'Gruppe nicht gefunden', level: 1 }).waitFor({ timeout: 30_000 });
    const there = await page.locator('body').innerText();
    for (const secret of [GROUP, FIRST, REPLY]) expect(there).not.toContain(secret);
    expect(problems).toEqual([]);
    await context.close();

    // The administrator, with the SDK: the group has no name for them and its messages do not open.
    const groupId = new URL(groupUrl).pathname.split('/')[2];
    await admin.sync();
    const listed = await admin.listGroups();
    expect(JSON.stringify(listed)).not.toContain(GROUP);
    await expect(admin.read(groupId)).rejects.toThrow();
  });

  it('asks for the PIN after a reload, refuses a wrong one in German, and keeps the history', async () => {
    const { page } = ben;
    await page.reload();
    await page.getByRole('heading', { name: 'Entsperren', level: 1 }).waitFor();
    await accessible(page, 'Entsperren (Telefon)');
    await screenshot(page, 'phone-entsperren');
    await unlock(page, '000000');
    await expect(page.getByRole('alert').innerText()).resolves.toContain('Die PIN oder das Passwort stimmt nicht.');
    await accessible(page, 'Entsperren, falsche PIN (Telefon)');
    await unlock(page);
    const log = page.getByRole('log', { name: `Nachrichten in ${GROUP}` });
    await log.getByText(REPLY).waitFor({ timeout: 30_000 });
    await expect(log.getByText(FIRST).isVisible()).resolves.toBe(true);
  });

  it('opens the shell and the received messages without network', async () => {
    const { page, context } = ben;
    const worker = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration();
      return { active: reg?.active?.state ?? null, installing: reg?.installing?.state ?? null, waiting: reg?.waiting?.state ?? null, controlled: navigator.serviceWorker.controller !== null };
    });
    expect(worker).toMatchObject({ active: 'activated' });
    await context.setOffline(true);
    try {
      await page.reload();
      await unlock(page);
      const log = page.getByRole('log', { name: `Nachrichten in ${GROUP}` });
      await log.getByText(REPLY).waitFor({ timeout: 30_000 });
      await expect(log.getByText(FIRST).isVisible()).resolves.toBe(true);
      await page.getByText('Keine Verbindung', { exact: false }).first().waitFor();
      // Said once, calmly (the banner), not again as an alert in the conversation.
      await expect(page.getByText('Keine Verbindung', { exact: false }).count()).resolves.toBe(1);
      await expect(page.getByRole('alert').count()).resolves.toBe(0);
      await accessible(page, 'Gruppe ohne Netz (Telefon)');
      await screenshot(page, 'phone-ohne-netz');
    } finally {
      await context.setOffline(false);
    }
  });

  it('says in German when the relay cannot be reached, and keeps the code typed', async () => {
    const context = await newPerson(browser, { viewport: 'phone' });
    const page = await context.newPage();
    await page.goto(`${world.url}/einladung`);
    await page.getByLabel('Einladungscode').fill(invites.carla);
    await context.setOffline(true);
    await page.getByRole('button', { name: 'Weiter' }).click();
    await expect(page.getByRole('alert').innerText()).resolves.toContain('Keine Verbindung zum Server.');
    await expect(page.getByLabel('Einladungscode').inputValue()).resolves.toBe(invites.carla);
    await context.close();
  });

  it('switches the language from German to English and back', async () => {
    const { page } = anna;
    await page.getByRole('button', { name: 'Menü von Anna Schmidt' }).click();
    await page.getByRole('link', { name: 'Einstellungen' }).click();
    await page.getByRole('heading', { name: 'Einstellungen', level: 1 }).waitFor();
    await accessible(page, 'Einstellungen');
    await page.getByRole('radio', { name: 'English' }).check();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('en');
    await expect(page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Groups' }).isVisible()).resolves.toBe(true);
    await accessible(page, 'Settings (English)');
    // The choice outlives a reload: the unlock screen is in English too.
    await page.reload();
    await page.getByRole('heading', { name: 'Unlock', level: 1 }).waitFor();
    await page.getByLabel('PIN or password').fill(PIN);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    await page.getByRole('radio', { name: 'Deutsch' }).check();
    await page.getByRole('heading', { name: 'Einstellungen', level: 1 }).waitFor();
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('de');
  });

  it('raised no page error and no Content-Security-Policy refusal', () => {
    expect(anna.problems).toEqual([]);
    expect(ben.problems).toEqual([]);
  });
});
