/** (f) The web app in Chromium (Debian's /usr/bin/chromium driven by playwright-core over the
 * DevTools protocol), served by the real relay from web-client/dist: what the first load transfers
 * and how soon the first screen can be used, under a phone-like profile (4× CPU slowdown,
 * 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip), cold and warm (from the service worker); the
 * time to decrypt and show a secret group of 1,000 messages prepared by an SDK client in Node; and
 * the tab's JavaScript heap after it. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import { DEFAULT_WEB_DIR, startRelay } from '@agora/server';
import { PASSPHRASE, TempDirs } from './devices.js';
import { median, num, type Section } from './report.js';

export interface WebAppOptions {
  /** Cold and warm first loads measured (medians reported). */
  loads: number;
  /** Messages in the group opened in the browser. */
  messages: number;
}

export const DEFAULT_WEB_APP: WebAppOptions = { loads: 5, messages: 1000 };

const CHROMIUM = process.env.AGORA_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--lang=de-DE'];
/** Lighthouse's "slow 4G" profile, the one the budgets are stated for. */
const NETWORK = { offline: false, latency: 150, downloadThroughput: (1.6e6 / 8) | 0, uploadThroughput: (750e3 / 8) | 0 };
const CPU_SLOWDOWN = 4;
const PHONE = { locale: 'de-DE', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } as const;
const PIN = '135790';
const BUDGET = { firstLoadJsGzip: 200 * 1024, coldMs: 2000, warmMs: 500 };
/** Chunks of the crypto libraries (libsodium, its KDF worker, ts-mls), by the names Vite gives them. */
const CRYPTO_CHUNK = /libsodium|sodium-|kdf\.worker|\/group-/;

const kb = (n: number) => `${num(n / 1024)} KB`;
const ms = (n: number) => `${num(n)} ms`;

interface Transfer {
  url: string;
  type: string;
  bytes: number;
  fromServiceWorker: boolean;
  /** When the last byte arrived, as wall-clock ms (Node's and the page's performance.timeOrigin
   * are both wall-clock, so this compares with the page's own times). */
  at: number;
}

/** Records every response of a page (via the DevTools protocol) with its bytes on the wire. */
async function recordTransfers(cdp: CDPSession): Promise<Transfer[]> {
  const pending = new Map<string, Omit<Transfer, 'bytes' | 'at'>>();
  const done: Transfer[] = [];
  cdp.on('Network.responseReceived', (e) => {
    pending.set(e.requestId, { url: e.response.url, type: e.type, fromServiceWorker: Boolean(e.response.fromServiceWorker) });
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = pending.get(e.requestId);
    if (r) done.push({ ...r, bytes: e.encodedDataLength, at: performance.timeOrigin + performance.now() });
  });
  await cdp.send('Network.enable');
  return done;
}

async function throttle(cdp: CDPSession, network: boolean): Promise<void> {
  if (network) await cdp.send('Network.emulateNetworkConditions', NETWORK);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_SLOWDOWN });
}

/** The first field a person can type into: the invite code on a new device, the PIN for a
 * returning person. */
type FirstScreen = 'invite' | 'unlock';
const FIELD_LABEL: Record<FirstScreen, string> = { invite: 'Einladungscode', unlock: 'PIN oder Passwort' };
const firstUsable = (page: Page, screen: FirstScreen) => page.getByLabel(FIELD_LABEL[screen], { exact: true }).waitFor({ state: 'visible', timeout: 60_000 });

/** A script for every new document of a page, run before the page's own (DevTools' "evaluate on new
 * document", which the Content-Security-Policy does not apply to): on every animation frame it
 * checks whether the field labelled `label` is visible (a box of non-zero size and not
 * `visibility: hidden`, what Playwright's "visible" means). In the first frame that has it, it
 * takes the page's clock (ms from the navigation's start) before that frame is painted, then posts
 * itself a message, which runs once the frame has been painted (or later, if a task such as the
 * app's script was queued before it), and reports both times on the console, which the DevTools
 * protocol passes on as an event. The times do not depend on when the bench gets to ask, and nothing
 * of the bench runs in the page before them: Playwright's own waiting polls from Node with a growing
 * back-off (0, 20, 50, 100, 100 ms, then every 500 ms), which added up to half a second to the warm
 * loads, and its first call into a page installs its scripts there, a few hundred ms of the
 * throttled main thread that the app's first screen then waited for. */
const FIELD_SHOWN = 'agora-bench-field-shown';
const fieldOnScreen = (label: string) => `(() => {
  const visible = () => Array.from(document.querySelectorAll('label')).some((l) => {
    const field = l.control;
    if (l.textContent.trim() !== ${JSON.stringify(label)} || !field) return false;
    const box = field.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(field).visibility !== 'hidden';
  });
  const frame = () => {
    if (!visible()) return requestAnimationFrame(frame);
    const inFrame = performance.now();
    const painted = new MessageChannel();
    painted.port1.onmessage = () => console.debug(${JSON.stringify(FIELD_SHOWN)}, inFrame, performance.now());
    painted.port2.postMessage(0);
  };
  requestAnimationFrame(frame);
})();`;

/** The app's User Timing mark once it runs: the static first screen the HTML brought has been
 * replaced by the live one, whose buttons act (APP_RUNNING_MARK in web-client/src/first-screen.ts,
 * whose sources the bench's build does not reach). */
const APP_RUNNING = 'agora:app-running';

interface FieldShown {
  /** In the animation frame that first had the field, before it was painted. */
  inFrame: number;
  /** When the message posted in that frame ran: after its paint. */
  after: number;
}

/** The times the script above reports, or a failure after a minute. */
async function fieldShown(cdp: CDPSession): Promise<() => Promise<FieldShown>> {
  const shown = new Promise<FieldShown>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the first screen did not show its field within a minute')), 60_000);
    cdp.on('Runtime.consoleAPICalled', (e) => {
      if (e.type !== 'debug' || e.args[0]?.value !== FIELD_SHOWN) return;
      clearTimeout(timer);
      resolve({ inFrame: Number(e.args[1]?.value), after: Number(e.args[2]?.value) });
    });
  });
  await cdp.send('Runtime.enable');
  return () => shown;
}

/** The app's mark (APP_RUNNING), waited for from Node once the field is up. */
async function appRunning(page: Page): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const at = (await page.evaluate(`performance.getEntriesByName(${JSON.stringify(APP_RUNNING)})[0]?.startTime ?? null`)) as number | null;
    if (at !== null) return at;
    if (Date.now() > deadline) throw new Error('the app did not start running within a minute');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Load {
  ms: number;
  /** The app's script has run and taken over the first screen. */
  runningMs: number;
  jsBeforeRunning: number;
  cryptoBeforeRunning: number;
  jsAll: number;
  fromNetwork: number;
  files: string[];
}

interface LoadOptions {
  /** Also wait for what the app loads after its first screen and for the service worker. */
  settle?: boolean;
  screen?: FirstScreen;
  /** The page is the app, which marks when it runs (not the static page for scale). */
  app?: boolean;
}

async function measureLoad(context: BrowserContext, url: string, { settle = false, screen = 'invite', app = true }: LoadOptions = {}): Promise<Load> {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  const transfers = await recordTransfers(cdp);
  await throttle(cdp, true);
  await page.addInitScript(fieldOnScreen(FIELD_LABEL[screen]));
  const shown = await fieldShown(cdp);
  await page.goto(url, { waitUntil: 'commit' });
  // The page's own time, from the navigation's start, as the first paint below; then Playwright
  // checks that the field is the one the tests find.
  const field = await shown();
  await firstUsable(page, screen);
  const running = app ? await appRunning(page) : NaN;
  const [paint, origin] = (await page.evaluate("[performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN, performance.timeOrigin]")) as [number, number];
  // The first contentful paint is when the first frame with content was on the screen: if the field
  // was already in the frame before that paint, that is its moment. Otherwise it came in a later
  // frame, which was on the screen by the time the message posted in it ran.
  const usable = Number.isNaN(paint) ? field.after : field.inFrame <= paint ? paint : Math.max(field.after, paint);
  if (settle) {
    // Everything the app loads after the first screen (the crypto chunks), and the service worker's
    // installation, which fetches the whole shell for the next start.
    await page.evaluate('navigator.serviceWorker.ready.then(() => true)');
    await page.waitForLoadState('networkidle');
  }
  await page.close();
  const js = transfers.filter((t) => t.type === 'Script' || t.url.endsWith('.js'));
  const before = js.filter((t) => t.at <= origin + running);
  return {
    ms: usable,
    runningMs: running,
    jsBeforeRunning: before.reduce((s, t) => s + t.bytes, 0),
    cryptoBeforeRunning: before.filter((t) => CRYPTO_CHUNK.test(t.url)).reduce((s, t) => s + t.bytes, 0),
    jsAll: js.reduce((s, t) => s + t.bytes, 0),
    fromNetwork: transfers.filter((t) => !t.fromServiceWorker).reduce((s, t) => s + t.bytes, 0),
    files: before.map((t) => `${path.basename(new URL(t.url).pathname)} ${kb(t.bytes)}`),
  };
}

/** For scale: the same service worker answers the start with a page that has only the invite
 * field (its label and input, no style sheet, no script), in a profile of its own. What Chromium
 * needs here to open a tab and paint any page from the service worker under the same profile. */
const FIELD_ONLY = '<!doctype html><html lang="de"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Agora</title></head><body><label for="code">Einladungscode</label><input id="code"></body></html>';

/** A profile whose service worker answers every start with FIELD_ONLY. */
async function fieldOnlyProfile(browser: Browser, url: string): Promise<BrowserContext> {
  const context = await browser.newContext(PHONE);
  await measureLoad(context, `${url}/`, { settle: true });
  const page = await context.newPage();
  await page.goto(`${url}/`);
  await page.evaluate(`(async () => {
    const name = (await caches.keys()).find((k) => k.startsWith('agora-shell-'));
    const cache = await caches.open(name);
    const page = await cache.match('/index.html');
    await cache.put('/index.html', new Response(${JSON.stringify(FIELD_ONLY)}, { headers: page.headers }));
  })()`);
  await page.close();
  return context;
}

async function signUp(page: Page, url: string, code: string): Promise<void> {
  await page.goto(`${url}/einladung#${code}`);
  await page.getByRole('heading', { name: 'Der Code ist gültig' }).waitFor({ timeout: 60_000 });
  await page.getByLabel('PIN oder Passwort', { exact: true }).fill(PIN);
  await page.getByLabel('PIN oder Passwort wiederholen').fill(PIN);
  await page.getByRole('button', { name: 'Agora einrichten' }).click();
  await page.getByRole('navigation', { name: 'Hauptnavigation' }).waitFor({ timeout: 120_000 });
}

interface OpenGroup {
  /** Unlock pressed → the newest message shown. */
  ms: number;
  heapUsed: number;
  heapAfterGc: number;
}

/** Opens the group by its address in a new tab, unlocks with the PIN under the CPU slowdown and
 * waits for the newest message; then reads the tab's heap. */
async function openGroup(context: BrowserContext, url: string, newest: string): Promise<OpenGroup> {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await page.goto(url);
  await page.getByLabel('PIN oder Passwort').fill(PIN);
  await throttle(cdp, false);
  const t0 = performance.now();
  await page.getByRole('button', { name: 'Entsperren' }).click();
  await page.getByRole('log').getByText(newest, { exact: true }).waitFor({ timeout: 300_000 });
  const elapsed = performance.now() - t0;
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  const used = (await cdp.send('Runtime.getHeapUsage')).usedSize;
  await cdp.send('HeapProfiler.collectGarbage');
  const afterGc = (await cdp.send('Runtime.getHeapUsage')).usedSize;
  await page.close();
  return { ms: elapsed, heapUsed: used, heapAfterGc: afterGc };
}

export async function webAppSection(opts: WebAppOptions = DEFAULT_WEB_APP): Promise<Section> {
  if (!existsSync(path.join(DEFAULT_WEB_DIR, 'build-manifest.json'))) {
    throw new Error(`The web app is not built (${DEFAULT_WEB_DIR}): run "npm run build" before the bench.`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium).`);
  const dirs = new TempDirs();
  const relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir: await dirs.make('web-relay'), quiet: true, rateLimit: false, webDir: DEFAULT_WEB_DIR });
  let browser: Browser | undefined;
  try {
    if (!relay.web) throw new Error('the relay did not serve the web app (see its log)');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const version = browser.version();

    // A returning person (signed up in the browser, the service worker installed) and a profile for
    // the field-only page, set up first: each round below then takes one load of every kind, so
    // that all of them meet the same state of this shared machine.
    const admin = await AgoraClient.register(nodeDeps({ profileDir: await dirs.make('web-admin'), passphrase: PASSPHRASE, addGraceMs: 0 }), {
      server: relay.url,
      invite: relay.adminInvite!,
      name: 'Bench Verwaltung',
    });
    const { code } = await admin.createInvite({ name: 'Bench Leserin' });
    const context = await browser.newContext(PHONE);
    const signUpPage = await context.newPage();
    await signUp(signUpPage, relay.url, code);
    await signUpPage.evaluate('navigator.serviceWorker.ready.then(() => true)');
    await signUpPage.close();
    const fieldOnlyContext = await fieldOnlyProfile(browser, relay.url);

    // First loads: a fresh profile each time (cold), then the same profile again (warm); the PIN
    // form of the returning person; the field-only page.
    const cold: Load[] = [];
    const warm: Load[] = [];
    const unlockLoads: Load[] = [];
    const fieldOnly: Load[] = [];
    for (let i = 0; i < opts.loads; i++) {
      const fresh = await browser.newContext(PHONE);
      cold.push(await measureLoad(fresh, `${relay.url}/`, { settle: true }));
      warm.push(await measureLoad(fresh, `${relay.url}/`));
      await fresh.close();
      unlockLoads.push(await measureLoad(context, `${relay.url}/`, { screen: 'unlock' }));
      fieldOnly.push(await measureLoad(fieldOnlyContext, `${relay.url}/`, { app: false }));
    }
    await fieldOnlyContext.close();

    const group = await admin.createGroup({ name: 'Tausend Nachrichten', kind: 'secret' });
    await admin.addMembers(group.id, ['Bench Leserin']);
    const prepStart = performance.now();
    const text = (n: number) => `Nachricht ${n}: Die Baustelle in der Lindenstraße ist bis Freitag gesperrt, Umleitung über den Marktplatz.`;
    for (let n = 1; n <= opts.messages; n++) await admin.send(group.id, text(n));
    const prepMs = performance.now() - prepStart;
    const groupUrl = `${relay.url}/gruppen/${group.id}`;
    const first = await openGroup(context, groupUrl, text(opts.messages));
    const again = await openGroup(context, groupUrl, text(opts.messages));
    await context.close();

    const med = (xs: Load[], f: (l: Load) => number) => median(xs.map(f));
    const coldMs = med(cold, (l) => l.ms);
    const warmMs = med(warm, (l) => l.ms);
    const unlockMs = med(unlockLoads, (l) => l.ms);
    const fieldOnlyMs = med(fieldOnly, (l) => l.ms);
    const jsBefore = med(cold, (l) => l.jsBeforeRunning);
    const cryptoBefore = med(cold, (l) => l.cryptoBeforeRunning);
    const within = (ok: boolean) => (ok ? 'within' : 'OVER');
    const each = (xs: Load[], f: (l: Load) => number) => xs.map((l) => num(f(l))).join(', ');
    // Per round: a load and the field-only load taken right after it.
    const ratios = (xs: Load[]) => xs.map((l, i) => l.ms / fieldOnly[i].ms);
    const ratio = (xs: Load[]) => median(ratios(xs));
    const eachRatio = (xs: Load[]) => ratios(xs).map((r) => `${num(r)}×`).join(', ');
    return {
      title: '(f) The web app in Chromium',
      how: [
        `${version} (Debian's package, headless) driven by playwright-core over the DevTools protocol, loading the built app (web-client/dist, build ${relay.web.buildHash.slice(0, 12)}…) from the real relay on a loopback port, which serves it compressed (gzip) as in production. Phone profile for the first loads: a 390×844 touch screen, \`Emulation.setCPUThrottlingRate\` ${CPU_SLOWDOWN}× and \`Network.emulateNetworkConditions\` at 1.6 Mbit/s down, 750 kbit/s up, 150 ms latency.`,
        `"First usable screen" is the moment the invite screen's code field is on the screen, which is what a new device shows first (for a returning person: the unlock screen's PIN field, in the browser profile of the person who signed up below). The HTML brings that form with it, painted at build time (web-client/src/first-screen.ts); it takes typing at once, and the app carries what was typed over when it takes the form over, which is the next row ("the app runs": its User Timing mark, from then on its buttons act). Both are the page's own clock from the navigation's start. A script the DevTools protocol runs in each new document before the page's own checks on every animation frame whether the field is visible; if it was in the frame that became the first contentful paint, that paint is the moment, otherwise the time once its later frame has been painted. It reports the time on the console, so nothing else of the bench runs in the page until then (Playwright's waiting for the same field, which follows as a check, polls with a back-off of up to 500 ms, and its scripts take a few hundred ms of the throttled main thread when first installed in a page). Cold: a fresh browser profile (no cache, no service worker). Warm: the same profile a second time, after the service worker installed the shell, so the app's files come from it and not from the network. For scale, the same service worker answers a start in a profile of its own with a page that has only the invite field's label and input: what Chromium needs here to open a tab and paint anything from the service worker under this profile; the ratios divide each load by the field-only load of the same round. JavaScript bytes are the DevTools protocol's \`encodedDataLength\` (compressed bytes on the wire, headers included) of the scripts whose last byte arrived before the app ran; "of it crypto" counts the libsodium, key-derivation worker and MLS chunks among them. ${opts.loads} rounds, each a cold and a warm load in a fresh profile, a PIN-form load and a field-only load; medians.`,
        `Decrypt and render: an SDK client in Node (the first administrator) invites a person who signs up in the browser; it then creates a secret group, adds that person and sends ${opts.messages.toLocaleString('en-US')} messages of about 110 characters (${num(prepMs / 1000)} s in Node). The browser (the same phone profile) then opens the group's address in a new tab, the PIN is typed, and the clock runs from pressing "Entsperren" until the newest message is on screen, under the ${CPU_SLOWDOWN}× CPU slowdown without network throttling: it includes the PIN's key derivation, the sync that fetches the messages, their MLS decryption, storing them encrypted in IndexedDB and drawing the newest 150 (older ones as the person scrolls up, at most 450 at a time). Then again in another new tab, when everything comes from the device's encrypted store. The heap is \`Runtime.getHeapUsage\` of the tab right after, and again after \`HeapProfiler.collectGarbage\`.`,
      ],
      tables: [
        {
          caption: 'First load on the phone profile',
          headers: ['measure', 'value', 'budget', '', 'each load'],
          rows: [
            ['JS transferred before the app runs (gzip)', kb(jsBefore), kb(BUDGET.firstLoadJsGzip), within(jsBefore - cryptoBefore <= BUDGET.firstLoadJsGzip), ''],
            ['  of it crypto chunks', kb(cryptoBefore), '', '', ''],
            ['JS transferred until the page is idle (the crypto loads on first use)', kb(med(cold, (l) => l.jsAll)), '', '', ''],
            ['first usable screen, cold (the invite form painted with the page)', ms(coldMs), ms(BUDGET.coldMs), within(coldMs <= BUDGET.coldMs), each(cold, (l) => l.ms)],
            ['  the app runs (its buttons act), cold', ms(med(cold, (l) => l.runningMs)), '', '', each(cold, (l) => l.runningMs)],
            ['first usable screen, warm (service worker)', ms(warmMs), ms(BUDGET.warmMs), within(warmMs <= BUDGET.warmMs), each(warm, (l) => l.ms)],
            ['  the app runs, warm', ms(med(warm, (l) => l.runningMs)), '', '', each(warm, (l) => l.runningMs)],
            ['first usable screen of a returning person (the PIN form), warm', ms(unlockMs), ms(BUDGET.warmMs), within(unlockMs <= BUDGET.warmMs), each(unlockLoads, (l) => l.ms)],
            ['  the app runs (PIN form), warm', ms(med(unlockLoads, (l) => l.runningMs)), '', '', each(unlockLoads, (l) => l.runningMs)],
            ['for scale: a page with only the invite field, no style, no script, warm from the same service worker', ms(fieldOnlyMs), '', '', each(fieldOnly, (l) => l.ms)],
            ['  the invite form warm ÷ that page (median of the rounds)', `${num(ratio(warm))}×`, '', '', eachRatio(warm)],
            ['  the PIN form warm ÷ that page (median of the rounds)', `${num(ratio(unlockLoads))}×`, '', '', eachRatio(unlockLoads)],
            ['bytes from the network on the warm load', kb(med(warm, (l) => l.fromNetwork)), '', '', ''],
          ],
        },
        {
          caption: `A secret group of ${opts.messages.toLocaleString('en-US')} messages (${CPU_SLOWDOWN}× CPU slowdown)`,
          headers: ['measure', 'first open', 'reopen'],
          rows: [
            ['unlock → newest message shown', ms(first.ms), ms(again.ms)],
            ['JS heap of the tab', kb(first.heapUsed), kb(again.heapUsed)],
            ['JS heap after garbage collection', kb(first.heapAfterGc), kb(again.heapAfterGc)],
          ],
        },
        {
          caption: 'Scripts before the app runs (one cold load)',
          headers: ['file and bytes on the wire'],
          rows: cold[0].files.map((f) => [f]),
        },
      ],
    };
  } finally {
    await browser?.close();
    await relay.close();
    await dirs.cleanup();
  }
}
