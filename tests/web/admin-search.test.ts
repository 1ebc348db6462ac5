/** The administrator's and the security screens in Chromium, end to end and browser only: the first
 * administrator sets Agora up from the relay's bootstrap invite, invites a colleague on screen
 * (QR code and code), the colleague signs up on a phone with that code; they share a secret group,
 * the colleague finds a message with the search, compares the safety number, and the app shows the
 * build hash the relay logged. Every screen is checked with axe-core and photographed. */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { axeViolations, launchBrowser, mainNav, newPerson, screenshot, signUpByLink, startAppWorld, watchPage, WEB_TEST_TIMEOUT } from './harness.js';

jest.setTimeout(WEB_TEST_TIMEOUT);

const GROUP = 'Haushalt 2027';
const WORD = 'Haushaltsentwurf';

describe('administration, search and security screens', () => {
  let world: Awaited<ReturnType<typeof startAppWorld>>;
  let browser: Browser;
  let vera: Page;
  let dora: Page;
  const problems: string[][] = [];
  let code = '';

  const accessible = async (page: Page, screen: string) => {
    const violations = await axeViolations(page);
    expect({ screen, violations }).toEqual({ screen, violations: [] });
  };
  const openMenuItem = async (page: Page, person: string, item: string) => {
    await page.getByRole('button', { name: `Menü von ${person}` }).click();
    await page.getByRole('link', { name: item, exact: true }).click();
  };

  beforeAll(async () => {
    world = await startAppWorld();
    browser = await launchBrowser();
    vera = await (await newPerson(browser, { viewport: 'desktop' })).newPage();
    dora = await (await newPerson(browser, { viewport: 'phone' })).newPage();
    problems.push(watchPage(vera).problems, watchPage(dora).problems);
  });

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('sets up the first administrator from the bootstrap invite', async () => {
    await signUpByLink(vera, world.url, world.adminInvite, { name: 'Vera Verwaltung' });
    await vera.getByRole('button', { name: 'Menü von Vera Verwaltung' }).click();
    await expect(vera.getByRole('link', { name: 'Verwaltung', exact: true }).isVisible()).resolves.toBe(true);
    await vera.keyboard.press('Escape');
  });

  it('creates an invite on screen with a QR code and a print view', async () => {
    await openMenuItem(vera, 'Vera Verwaltung', 'Verwaltung');
    await vera.getByRole('heading', { name: 'Verwaltung', level: 1 }).waitFor();
    await accessible(vera, 'Verwaltung');
    const invites = vera.getByRole('region', { name: 'Einladungen' });
    // The invite's name field and the leaver search have names of their own on the whole page.
    await expect(vera.getByLabel('Name der Person', { exact: true }).count()).resolves.toBe(1);
    await expect(vera.getByRole('searchbox', { name: 'Ausscheidende Person suchen' }).count()).resolves.toBe(1);
    await invites.getByRole('textbox', { name: 'Name der Person' }).fill('Dora Demir');
    await invites.getByRole('button', { name: 'Einladung erstellen' }).click();
    const qr = vera.getByRole('img', { name: 'QR-Code der Einladung für Dora Demir' });
    await qr.waitFor({ timeout: 30_000 });
    const label = await vera.getByRole('img', { name: /^Einladungscode: / }).first().getAttribute('aria-label');
    code = label!.replace(/^Einladungscode: /, '').split(' ').join('-');
    expect(code).toMatch(/^[A-Z0-9]{4}(-[A-Z0-9]{4}){4}$/);
    await accessible(vera, 'Verwaltung mit Einladung');
    await screenshot(vera, 'desktop-verwaltung');
    await vera.getByRole('link', { name: /^Druckansicht/ }).click();
    await vera.getByRole('heading', { name: 'Einladungen drucken', level: 1 }).waitFor();
    await expect(vera.locator('main').innerText()).resolves.toContain('Dora Demir');
    await accessible(vera, 'Einladungen drucken');
  });

  it('signs the colleague up on a phone with the code from the screen', async () => {
    await dora.goto(`${world.url}/einladung`);
    await dora.getByLabel('Einladungscode').fill(code);
    await dora.getByRole('button', { name: 'Weiter' }).tap();
    await dora.getByText('Sie werden als Dora Demir angemeldet.').waitFor();
    await dora.getByLabel('PIN oder Passwort', { exact: true }).fill('135790');
    await dora.getByLabel('PIN oder Passwort wiederholen').fill('135790');
    await dora.getByRole('button', { name: 'Agora einrichten' }).tap();
    await dora.waitForURL((u) => u.pathname === '/', { timeout: 60_000 });
    await mainNav(dora).waitFor();
  });

  it('finds a message of a shared secret group with the search', async () => {
    await mainNav(vera).getByRole('link', { name: 'Gruppen' }).click();
    await vera.getByRole('link', { name: 'Neue geheime Gruppe' }).click();
    await vera.getByLabel('Name der Gruppe').fill(GROUP);
    await vera.getByRole('button', { name: 'Gruppe anlegen' }).click();
    await vera.getByRole('heading', { name: GROUP, level: 1 }).waitFor({ timeout: 30_000 });
    await vera.getByRole('link', { name: 'Mitglieder', exact: true }).click();
    await vera.getByLabel('Name suchen').fill('Dora');
    await vera.getByRole('button', { name: 'Hinzufügen: Dora Demir' }).click();
    await vera.getByText('Dora Demir wurde hinzugefügt.').waitFor({ timeout: 30_000 });
    await vera.getByRole('link', { name: 'Zurück zur Gruppe' }).click();
    const composer = vera.getByLabel(`Nachricht an ${GROUP}`);
    await composer.fill(`Der ${WORD} liegt im Ordner Finanzen.`);
    await composer.press('Enter');
    await vera.getByText('gesendet', { exact: true }).waitFor({ timeout: 30_000 });

    await mainNav(dora).getByRole('link', { name: 'Start' }).tap();
    await dora.getByText(WORD, { exact: false }).first().waitFor({ timeout: 30_000 });
    await accessible(dora, 'Startseite mit Nachrichten (Telefon)');
    await screenshot(dora, 'phone-start');
    await mainNav(dora).getByRole('link', { name: 'Suche' }).tap();
    await dora.getByRole('heading', { name: 'Suche', level: 1 }).waitFor();
    await dora.getByLabel('Suchbegriff').fill(WORD.toLowerCase().slice(0, 8));
    await dora.getByText(/1 Treffer/).waitFor({ timeout: 30_000 });
    await expect(dora.locator('main').innerText()).resolves.toContain(GROUP);
    await accessible(dora, 'Suche (Telefon)');
    await screenshot(dora, 'phone-suche');
  });

  it('shows the safety number to compare, as digits and as a QR code', async () => {
    await mainNav(dora).getByRole('link', { name: 'Gruppen' }).tap();
    await dora.getByRole('link', { name: new RegExp(GROUP) }).tap();
    await dora.getByRole('link', { name: 'Mitglieder', exact: true }).tap();
    await dora.getByRole('link', { name: 'Sicherheitsnummer vergleichen: Vera Verwaltung' }).tap();
    await dora.getByRole('heading', { name: 'Sicherheitsnummer mit Vera Verwaltung', level: 1 }).waitFor();
    await dora.getByRole('img', { name: 'QR-Code der Sicherheitsnummer mit Vera Verwaltung' }).waitFor({ timeout: 30_000 });
    await accessible(dora, 'Sicherheitsnummer (Telefon)');
    await screenshot(dora, 'phone-sicherheitsnummer');
  });

  it('shows the security screen with the build hash the relay logged', async () => {
    await openMenuItem(vera, 'Vera Verwaltung', 'Sicherheit');
    await vera.getByRole('heading', { name: 'Sicherheit', level: 1 }).waitFor();
    const hash = vera.getByTestId('build-hash');
    await hash.waitFor({ timeout: 30_000 });
    await expect(hash.getAttribute('title')).resolves.toBe(world.web.buildHash);
    await vera.getByText('Keine Warnungen.', { exact: false }).waitFor();
    await accessible(vera, 'Sicherheit');
    await screenshot(vera, 'desktop-sicherheit');
  });

  it('lets an administrator create a public group, which a colleague can then join', async () => {
    await mainNav(vera).getByRole('link', { name: 'Gruppen' }).click();
    await vera.getByRole('link', { name: 'Neue geheime Gruppe' }).click();
    await vera.getByRole('heading', { name: 'Neue Gruppe', level: 1 }).waitFor();
    await vera.getByRole('radio', { name: 'Öffentliche Gruppe' }).check();
    // A public group carries no description (its name is the relay's to see anyway).
    await expect(vera.getByLabel('Beschreibung (freiwillig)').count()).resolves.toBe(0);
    await vera.getByLabel('Name der Gruppe').fill('Betriebsfest 2027');
    await accessible(vera, 'Neue Gruppe (öffentlich)');
    await vera.getByRole('button', { name: 'Gruppe anlegen' }).click();
    await vera.getByRole('heading', { name: 'Betriebsfest 2027', level: 1 }).waitFor({ timeout: 30_000 });
    await expect(vera.getByText('Öffentliche Gruppe · für alle Beschäftigten sichtbar').first().isVisible()).resolves.toBe(true);

    await mainNav(dora).getByRole('link', { name: 'Gruppen' }).click();
    await dora.getByRole('button', { name: 'Gruppe beitreten: Betriebsfest 2027' }).click({ timeout: 30_000 });
    await dora.getByRole('heading', { name: 'Betriebsfest 2027', level: 1 }).waitFor({ timeout: 30_000 });
  });

  it('changes a role in Verwaltung after a confirmation, and refuses to demote the last administrator', async () => {
    await openMenuItem(vera, 'Vera Verwaltung', 'Verwaltung');
    const roles = vera.getByRole('region', { name: 'Rollen' });
    const dorasRole = roles.getByRole('combobox', { name: 'Rolle von Dora Demir' });
    await dorasRole.waitFor({ timeout: 30_000 });
    await expect(dorasRole.inputValue()).resolves.toBe('member');
    await dorasRole.selectOption({ label: 'Ankündigungen' });
    const dialog = vera.getByRole('dialog', { name: 'Rolle von Dora Demir ändern?' });
    await dialog.waitFor();
    await expect(dialog.innerText()).resolves.toContain('„Mitglied“ zu „Ankündigungen“');
    await accessible(vera, 'Verwaltung: Rolle ändern');
    await screenshot(vera, 'desktop-verwaltung-rolle');
    await dialog.getByRole('button', { name: 'Rolle ändern' }).click();
    await roles.getByText('Dora Demir hat jetzt die Rolle „Ankündigungen“.').waitFor({ timeout: 30_000 });
    await expect(roles.getByRole('combobox', { name: 'Rolle von Dora Demir' }).inputValue()).resolves.toBe('announcer');

    await roles.getByRole('combobox', { name: 'Rolle von Vera Verwaltung' }).selectOption({ label: 'Mitglied' });
    const own = vera.getByRole('dialog', { name: 'Rolle von Vera Verwaltung ändern?' });
    await own.getByText(/letzte Administratorin oder der letzte Administrator/).waitFor();
    await expect(own.getByRole('button', { name: 'Rolle ändern' }).isDisabled()).resolves.toBe(true);
    await own.getByRole('button', { name: 'Abbrechen' }).click();
    await expect(roles.getByRole('combobox', { name: 'Rolle von Vera Verwaltung' }).inputValue()).resolves.toBe('admin');
  });

  it('raised no page error and no Content-Security-Policy refusal', () => {
    expect(problems.flat()).toEqual([]);
  });
});
