/** A link to one message (`/gruppen/<id>#m-<messageId>`, as Suche writes it) in Chromium: the
 * group screen draws older pages until the message is there (here the oldest of 160, beyond the
 * newest 150 drawn at first), scrolls it into view, marks it and moves the focus to it; a link to
 * a message the group does not hold says so in words. And the group's side panel counts a member
 * as soon as the members screen has added them. */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { AgoraClient } from '../../client-sdk/src/client.js';
import { axeViolations, launchBrowser, newPerson, signUpByLink, startAppWorld, unlock, watchPage, WEB_TEST_TIMEOUT } from './harness.js';

jest.setTimeout(WEB_TEST_TIMEOUT * 2);

const GROUP = 'Bauhof Rundschreiben';
const COUNT = 160;

describe('links to one message', () => {
  let world: Awaited<ReturnType<typeof startAppWorld>>;
  let admin: AgoraClient;
  let browser: Browser;
  let page: Page;
  let problems: string[];
  let groupId = '';
  const ids: string[] = [];

  beforeAll(async () => {
    world = await startAppWorld();
    ({ client: admin } = await world.register(world.adminInvite, 'Vera Verwaltung'));
    groupId = (await admin.createGroup({ name: GROUP, kind: 'public' })).id;
    browser = await launchBrowser();
    page = await (await newPerson(browser, { viewport: 'desktop' })).newPage();
    ({ problems } = watchPage(page));
  });

  afterAll(async () => {
    await browser?.close();
    await admin?.close?.();
    await world?.close();
  });

  it('draws older messages until the linked one is there, scrolls to it and gives it the focus', async () => {
    const invite = (await admin.createInvite({ name: 'Anna Schmidt' })).code;
    await signUpByLink(page, world.url, invite);
    await page.goto(`${world.url}/gruppen/${encodeURIComponent(groupId)}`);
    await unlock(page);
    await page.getByRole('button', { name: 'Gruppe beitreten' }).click();
    const log = page.getByRole('log', { name: `Nachrichten in ${GROUP}` });
    await log.getByText('Noch keine Nachrichten').waitFor({ timeout: 60_000 });
    // A public group's messages are for those in it when they are sent.
    for (let i = 0; i < COUNT; i++) {
      const text = i === 0 ? 'Die Streusalzlieferung kommt am Dienstag.' : `Rundschreiben Nummer ${i}`;
      ids.push((await admin.send(groupId, text)).id);
    }
    await log.getByText(`Rundschreiben Nummer ${COUNT - 1}`).waitFor({ timeout: 60_000 });
    // The newest 150 are drawn; the oldest is behind "older messages".
    await expect(log.getByRole('listitem').count()).resolves.toBe(150);
    const oldest = page.locator(`[id="m-${ids[0]}"]`);
    await expect(oldest.count()).resolves.toBe(0);

    // As a person gets there: Suche, the hit, its link.
    await page.getByRole('link', { name: 'Suche' }).click();
    await page.getByRole('searchbox', { name: 'Suchbegriff' }).fill('Streusalzlieferung');
    const hit = page.locator(`a[href$="#m-${encodeURIComponent(ids[0])}"]`);
    await hit.waitFor({ timeout: 30_000 });
    await hit.click();

    await oldest.waitFor();
    await expect(oldest.getAttribute('class')).resolves.toContain('msg-target');
    await page.waitForFunction((id) => document.activeElement?.id === `m-${id}`, ids[0]);
    await expect(log.getByRole('listitem').count()).resolves.toBe(COUNT);
    // In view inside the scrolled message list.
    const inView = await oldest.evaluate((el) => {
      const box = el.getBoundingClientRect();
      const list = el.closest('[role="log"]')!.getBoundingClientRect();
      return box.top >= list.top - 1 && box.bottom <= list.bottom + 1;
    });
    expect(inView).toBe(true);
    // The mark fades; the focus stays where it was put.
    await page.waitForFunction((id) => !document.getElementById(`m-${id}`)?.classList.contains('msg-target'), ids[0], { timeout: 10_000 });
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe(`m-${ids[0]}`);
    expect(await axeViolations(page)).toEqual([]);
  });

  it('says in words when the linked message is not in the group', async () => {
    // As a link followed inside the app (the router listens to popstate, as for Back).
    await page.evaluate((href) => {
      history.pushState(null, '', href);
      dispatchEvent(new PopStateEvent('popstate'));
    }, `/gruppen/${encodeURIComponent(groupId)}#m-r_gibt_es_nicht`);
    await page.getByRole('status').filter({ hasText: 'Nachricht nicht mehr vorhanden' }).waitFor({ timeout: 60_000 });
    // The conversation itself is still there.
    await page.getByRole('log', { name: `Nachrichten in ${GROUP}` }).getByText(`Rundschreiben Nummer ${COUNT - 1}`).waitFor();
  });

  it("the group's side panel counts a member added on the members screen", async () => {
    await page.getByRole('navigation', { name: 'Hauptnavigation' }).getByRole('link', { name: 'Gruppen' }).click();
    await page.getByRole('link', { name: 'Neue geheime Gruppe' }).click();
    await page.getByLabel('Name der Gruppe').fill('Winterdienst Planung');
    await page.getByRole('button', { name: 'Gruppe anlegen' }).click();
    await page.waitForURL(/\/gruppen\/[^/]+$/, { timeout: 60_000 });
    await page.getByText('1 Mitglied', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'Mitglieder', exact: true }).click();
    await page.getByRole('searchbox', { name: 'Name suchen' }).fill('Vera');
    await page.getByRole('button', { name: 'Hinzufügen: Vera Verwaltung' }).click();
    await page.getByText('Vera Verwaltung wurde hinzugefügt.').waitFor({ timeout: 60_000 });
    await page.goBack();
    await page.getByText('2 Mitglieder', { exact: true }).waitFor({ timeout: 30_000 });
    expect(problems).toEqual([]);
  });
});
