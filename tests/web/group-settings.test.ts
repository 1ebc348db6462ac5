/** A group's settings and the newcomer's hint in Chromium, against a real relay. The first
 * administrator (Vera) uses the SDK in Node and stays offline unless a step says otherwise, so the
 * moment a colleague's device hands over the organisation key is the test's to choose:
 * - a newcomer's Start page says why the public groups are not readable yet, and the hint goes by
 *   itself, without a reload, once another member's device was online;
 * - the owner of a secret group renames it and gives it a description on screen; the other member's
 *   group list shows the new name live (the name travels encrypted in the group's log);
 * - a member leaves a public group (after confirming); an administrator deletes one; a member who
 *   may not manage a group is offered nothing of it.
 * Every new screen is checked with axe-core and photographed at phone and desktop size. */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { AgoraClient } from '@agora/client-sdk';
import { axeViolations, launchBrowser, mainNav, newPerson, screenshot, signUpByLink, startAppWorld, watchPage, WEB_TEST_TIMEOUT } from './harness.js';

jest.setTimeout(WEB_TEST_TIMEOUT);

const HINT = 'Sie können die öffentlichen Gruppen lesen, sobald ein Kollege online war — das geschieht automatisch.';

describe('group settings and the newcomer hint', () => {
  let world: Awaited<ReturnType<typeof startAppWorld>>;
  let browser: Browser;
  let vera: AgoraClient;
  let anna: Page;
  let ben: Page;
  let benId = '';
  const problems: string[][] = [];

  const accessible = async (page: Page, screen: string) => {
    const violations = await axeViolations(page);
    expect({ screen, violations }).toEqual({ screen, violations: [] });
  };
  const openGroup = async (page: Page, name: string) => {
    await mainNav(page).getByRole('link', { name: 'Gruppen' }).click();
    await page.getByRole('link', { name: new RegExp(name) }).click();
    await page.getByRole('heading', { name, level: 1 }).waitFor({ timeout: 30_000 });
  };
  const openSettings = async (page: Page, name: string) => {
    await openGroup(page, name);
    await page.getByRole('link', { name: 'Gruppe verwalten', exact: true }).first().click();
    await page.getByRole('heading', { name: `Gruppe verwalten: ${name}`, level: 1 }).waitFor();
  };

  beforeAll(async () => {
    world = await startAppWorld();
    vera = (await world.register(world.adminInvite, 'Vera Verwaltung')).client;
    browser = await launchBrowser();
    anna = await (await newPerson(browser, { viewport: 'desktop' })).newPage();
    ben = await (await newPerson(browser, { viewport: 'phone' })).newPage();
    problems.push(watchPage(anna).problems, watchPage(ben).problems);
  });

  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('tells a newcomer why public groups are unreadable, until a colleague was online', async () => {
    const { code } = await vera.createInvite({ name: 'Anna Amsel', role: 'admin', newPerson: true });
    await signUpByLink(anna, world.url, code);
    const hint = anna.getByText(HINT);
    await hint.waitFor();
    await accessible(anna, 'Start mit Hinweis für Neue');
    await screenshot(anna, 'desktop-start-neu');
    await mainNav(anna).getByRole('link', { name: 'Gruppen' }).click();
    await anna.getByRole('heading', { name: 'Gruppen', level: 1 }).waitFor();
    await hint.waitFor();
    // Vera's device comes online once: it hands Anna's device the organisation key, the relay
    // tells Anna's device, and the hint goes without a reload.
    await vera.sync();
    await hint.waitFor({ state: 'detached', timeout: 30_000 });
    await mainNav(anna).getByRole('link', { name: 'Start' }).click();
    await anna.getByRole('heading', { name: 'Startseite', level: 1 }).waitFor();
    await expect(anna.getByText(HINT).count()).resolves.toBe(0);
  });

  it('shows this device, as `agora whoami` does, under Einstellungen', async () => {
    await anna.getByRole('button', { name: 'Menü von Anna Amsel' }).click();
    await anna.getByRole('link', { name: 'Einstellungen', exact: true }).click();
    await anna.getByRole('heading', { name: 'Dieses Gerät' }).waitFor();
    const text = await anna.locator('main').innerText();
    expect(text).toContain('Administration');
    expect(text).toContain(world.url);
    expect(text).toMatch(/Gerätekennung\s+d_[A-Za-z0-9_-]+/);
    await anna.getByText('keiner Abteilung zugeordnet').waitFor({ timeout: 30_000 });
    await accessible(anna, 'Einstellungen');
  });

  it('renames a secret group on screen, and the other member sees the new name live', async () => {
    await vera.createDepartment('Bauhof');
    const { code } = await vera.createInvite({ name: 'Ben Berger', department: 'Bauhof', newPerson: true });
    await signUpByLink(ben, world.url, code);
    await vera.sync();
    benId = (await vera.resolveUser('Ben Berger')).id;
    await ben.getByText(HINT).waitFor({ state: 'detached', timeout: 30_000 });

    await mainNav(anna).getByRole('link', { name: 'Gruppen' }).click();
    await anna.getByRole('link', { name: 'Neue geheime Gruppe' }).click();
    await anna.getByLabel('Name der Gruppe').fill('Projekt Alt');
    await anna.getByRole('button', { name: 'Gruppe anlegen' }).click();
    await anna.getByRole('heading', { name: 'Projekt Alt', level: 1 }).waitFor({ timeout: 30_000 });
    await anna.getByRole('link', { name: 'Mitglieder', exact: true }).click();
    await anna.getByLabel('Name suchen').fill('Ben');
    await anna.getByRole('button', { name: 'Hinzufügen: Ben Berger' }).click();
    await anna.getByText('Ben Berger wurde hinzugefügt.').waitFor({ timeout: 30_000 });

    await mainNav(ben).getByRole('link', { name: 'Gruppen' }).tap();
    await ben.getByRole('link', { name: /Projekt Alt/ }).waitFor({ timeout: 30_000 });

    await openSettings(anna, 'Projekt Alt');
    await accessible(anna, 'Gruppe verwalten (Eigentümerin)');
    await anna.getByLabel('Name der Gruppe').fill('Projekt Neu');
    await anna.getByLabel('Beschreibung (freiwillig)').fill('Planung für 2027');
    await screenshot(anna, 'desktop-gruppe-einstellungen');
    await anna.getByRole('button', { name: 'Speichern' }).click();
    await anna.getByText('Gespeichert.', { exact: false }).waitFor({ timeout: 30_000 });
    await anna.getByRole('heading', { name: 'Gruppe verwalten: Projekt Neu', level: 1 }).waitFor();

    // Ben's list, open all along, follows the encrypted meta record pushed to his device.
    await ben.getByRole('link', { name: /Projekt Neu/ }).waitFor({ timeout: 30_000 });
    await expect(ben.getByRole('link', { name: /Projekt Alt/ }).count()).resolves.toBe(0);

    // Ben owns nothing: no form, and a secret group is left through an owner.
    await openSettings(ben, 'Projekt Neu');
    await ben.getByText('Nur die Eigentümer dieser Gruppe können ihren Namen und ihre Beschreibung ändern.').waitFor();
    await ben.getByText('Planung für 2027').waitFor();
    await ben.getByText('Eine geheime Gruppe können Sie nicht selbst verlassen', { exact: false }).waitFor();
    await expect(ben.getByRole('button', { name: 'Speichern' }).count()).resolves.toBe(0);
    await expect(ben.getByRole('button', { name: /löschen|verlassen/i }).count()).resolves.toBe(0);
    await accessible(ben, 'Gruppe verwalten (Mitglied, Telefon)');
  });

  it('names the department under Einstellungen', async () => {
    await ben.getByRole('button', { name: 'Menü von Ben Berger' }).tap();
    await ben.getByRole('link', { name: 'Einstellungen', exact: true }).tap();
    await ben.getByRole('heading', { name: 'Dieses Gerät' }).waitFor();
    await ben.getByText('Bauhof', { exact: true }).waitFor({ timeout: 30_000 });
    await accessible(ben, 'Einstellungen (Telefon)');
  });

  it('lets a member leave a public group after confirming', async () => {
    await vera.createGroup({ name: 'Kantine', kind: 'public' });
    await vera.addMembers('Kantine', [benId]);
    await openSettings(ben, 'Kantine');
    await ben.getByText('Nur wer diese Gruppe angelegt hat und die Verwaltung können sie umbenennen oder löschen.').waitFor();
    await expect(ben.getByRole('button', { name: 'Gruppe löschen' }).count()).resolves.toBe(0);
    await accessible(ben, 'Öffentliche Gruppe verwalten (Telefon)');
    await screenshot(ben, 'phone-gruppe-einstellungen');
    await ben.getByRole('button', { name: 'Gruppe verlassen' }).tap();
    const dialog = ben.getByRole('dialog', { name: '„Kantine“ verlassen?' });
    await dialog.waitFor();
    await accessible(ben, 'Verlassen bestätigen (Telefon)');
    await dialog.getByRole('button', { name: 'Verlassen' }).tap();
    await ben.getByText('Sie haben „Kantine“ verlassen.').waitFor({ timeout: 30_000 });
    expect((await vera.groupMembers('Kantine')).map((m) => m.id)).not.toContain(benId);
    await mainNav(ben).getByRole('link', { name: 'Gruppen' }).tap();
    await ben.getByRole('button', { name: 'Gruppe beitreten: Kantine' }).waitFor({ timeout: 30_000 });
  });

  it('lets an administrator delete a public group, and it leaves every list', async () => {
    await vera.createGroup({ name: 'Flohmarkt', kind: 'public' });
    await mainNav(ben).getByRole('link', { name: 'Gruppen' }).tap();
    await ben.getByRole('link', { name: /Flohmarkt/ }).waitFor({ timeout: 30_000 });
    await openSettings(anna, 'Flohmarkt');
    await anna.getByRole('button', { name: 'Gruppe löschen' }).click();
    const dialog = anna.getByRole('dialog', { name: '„Flohmarkt“ endgültig löschen?' });
    await dialog.waitFor();
    await accessible(anna, 'Löschen bestätigen');
    await dialog.getByRole('button', { name: 'Endgültig löschen' }).click();
    await anna.getByRole('heading', { name: 'Gruppen', level: 1 }).waitFor({ timeout: 30_000 });
    await expect(anna.getByRole('link', { name: /Flohmarkt/ }).count()).resolves.toBe(0);
    expect((await vera.listGroups()).map((g) => g.name)).not.toContain('Flohmarkt');
    // Ben's list, open all along, drops it when the relay announces the change.
    await ben.getByRole('link', { name: /Flohmarkt/ }).waitFor({ state: 'detached', timeout: 30_000 });
  });

  it('raised no page error and no Content-Security-Policy refusal', () => {
    expect(problems.flat()).toEqual([]);
  });
});
