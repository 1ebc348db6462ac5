/** Browser-test support: Debian's Chromium driven by playwright-core (one browser per test file, a
 * context per person), TypeScript bundled for the page with esbuild, axe-core checks and the
 * screenshots kept in docs/screenshots/. */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { afterAll, beforeAll } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page, type Route } from 'playwright-core';
import { DEFAULT_WEB_DIR } from '@agora/server';
import { ROOT, startWorld, type World } from '../helpers.js';

export { ROOT };
/** The web app's build: `npm test` and `npm run build` make it before jest runs. AGORA_WEB_DIST
 * names another build (one made with `vite build --outDir`, say, while the tree's own is rebuilt). */
export const WEB_DIST = process.env.AGORA_WEB_DIST ?? DEFAULT_WEB_DIR;
export const CHROMIUM = process.env.AGORA_CHROMIUM ?? '/usr/bin/chromium';
/** Per test: a browser test signs people up, derives keys with Argon2id and waits for pushes. */
export const WEB_TEST_TIMEOUT = 120_000;
export const SCREENSHOT_DIR = path.join(ROOT, 'docs/screenshots');

/** Flags that keep a headless Chromium quiet and deterministic in a container: no sandbox (CI runs
 * as root), no GPU, and none of the background traffic a fresh profile starts with. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--lang=de-DE'];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run does this).`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** The two screens every screenshot and layout check is made at. */
export const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
} satisfies Record<string, BrowserContextOptions>;
export type ViewportName = keyof typeof VIEWPORTS;

/** A person's own browser: separate storage (IndexedDB, service worker, cookies), German by default. */
export function newPerson(browser: Browser, opts: { viewport?: ViewportName; locale?: string } & BrowserContextOptions = {}): Promise<BrowserContext> {
  const { viewport = 'desktop', locale = 'de-DE', ...rest } = opts;
  return browser.newContext({ ...VIEWPORTS[viewport], locale, timezoneId: 'Europe/Berlin', ...rest });
}

// ---------------------------------------------------------------------------------------------
// Bundling test code for the page.

/** Resolves the workspace packages to their TypeScript sources, as jest does, so a browser bundle
 * never runs a stale build. */
const workspaceSources: Plugin = {
  name: 'workspace-sources',
  setup(b) {
    const map: [RegExp, (m: RegExpExecArray) => string][] = [
      [/^@agora\/protocol$/, () => 'protocol/src/index.ts'],
      [/^@agora\/protocol\/kt$/, () => 'protocol/src/kt/index.ts'],
      [/^@agora\/protocol\/(.+)$/, (m) => `protocol/src/${m[1]}.ts`],
      [/^@agora\/client-sdk$/, () => 'client-sdk/src/index.ts'],
      [/^@agora\/client-sdk\/browser$/, () => 'client-sdk/src/browser.ts'],
    ];
    b.onResolve({ filter: /^@agora\// }, (args) => {
      for (const [re, to] of map) {
        const m = re.exec(args.path);
        if (m) return { path: path.join(ROOT, to(m)) };
      }
      return undefined;
    });
  },
};

/** One self-contained browser script (an IIFE) from a TypeScript entry. */
export async function bundleForBrowser(entry: string): Promise<string> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [workspaceSources],
  });
  return result.outputFiles[0].text;
}

/** A loopback origin serving fixed pages: a secure context (IndexedDB, WebCrypto) that owes
 * nothing to the app's own build. */
export async function serveFiles(files: Record<string, { type: string; body: string }>): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------------------------
// Accessibility and screenshots.

const AXE_SOURCE = path.join(ROOT, 'node_modules/axe-core/axe.min.js');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/** Runs axe-core on the page as it is now (WCAG 2.x A/AA and best practices) and returns the
 * serious and critical violations, described one per line. The app's Content-Security-Policy may
 * refuse an injected script tag, so the engine is evaluated as a string through the DevTools
 * protocol, which the page's CSP does not govern. */
export async function axeViolations(page: Page): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  const source = await readFile(AXE_SOURCE, 'utf8');
  const loaded = await page.evaluate(`(() => { if (!window.axe) { ${source}\n } return typeof window.axe; })()`);
  if (loaded !== 'object') throw new Error(`axe-core did not load in the page (${String(loaded)})`);
  const violations = (await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] }, resultTypes: ['violations'] }).then((r) => r.violations)`)) as AxeViolation[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
}

/** Saves a screenshot under docs/screenshots/ with a stable name (`phone-gruppen.png`). */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  // Caret and animations frozen, so an unchanged screen gives an unchanged file.
  await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  return file;
}

// ---------------------------------------------------------------------------------------------
// The app on a real relay.

/** Fails with what to do when the app has not been built: the browser tests test the build the
 * relay serves, never a development server. */
export function requireBuiltApp(dir = WEB_DIST): void {
  if (!existsSync(path.join(dir, 'build-manifest.json')) || !existsSync(path.join(dir, 'index.html'))) {
    throw new Error(`The web app is not built (no ${path.relative(ROOT, dir)}/build-manifest.json). Run "npm run build" first; "npm test" does it before jest.`);
  }
}

/** A real relay on a loopback port serving the built app at / (with its CSP, its build logged in
 * the key-transparency log), and tests/helpers.ts's World for people made with the SDK in Node. */
export async function startAppWorld(opts: { addGraceMs?: number } = {}): Promise<World & { web: NonNullable<World['web']> }> {
  requireBuiltApp();
  const world = await startWorld({ ...opts, webDir: WEB_DIST });
  const { web } = world;
  if (!web) {
    await world.close();
    throw new Error(`The relay did not serve the web app in ${WEB_DIST} (its log says why); rebuild it with "npm run build".`);
  }
  return { ...world, web };
}

/** For a test file: the app's relay and a Chromium, started before its tests and closed after
 * them (read the fields inside the tests). */
export function appSuite(): { world: World & { web: NonNullable<World['web']> }; browser: Browser } {
  const suite = {} as ReturnType<typeof appSuite>;
  beforeAll(async () => {
    suite.world = await startAppWorld();
    suite.browser = await launchBrowser();
  });
  afterAll(async () => {
    await suite.browser?.close();
    await suite.world?.close();
  });
  return suite;
}

/** Holds back the page's requests for URLs matching `url` (as a slow network would) until
 * `release()`; `held` lists those asked for so far. */
export async function holdRequests(page: Page, url: RegExp): Promise<{ held: Route[]; release(): void }> {
  const held: Route[] = [];
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route(url, async (route) => {
    held.push(route);
    await released;
    await route.continue();
  });
  return { held, release: () => release() };
}

// ---------------------------------------------------------------------------------------------
// A person using the app. Controls are found by role and German accessible name, as a screen
// reader user would find them.

export const PIN = '135790';

/** Page errors, and console messages a test must not see (CSP refusals, uncaught errors), kept per
 * page for an assertion at the end. */
export function watchPage(page: Page): { problems: string[] } {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { problems };
}

/** Main navigation (bottom tab bar on phones, sidebar on desktops). */
export function mainNav(page: Page) {
  return page.getByRole('navigation', { name: 'Hauptnavigation' });
}

/** Opens an invite link and sets up Agora with a PIN, by pointer. Returns when the start screen is there. */
export async function signUpByLink(page: Page, baseUrl: string, code: string, opts: { name?: string; pin?: string } = {}): Promise<void> {
  const pin = opts.pin ?? PIN;
  // A link is opened as a new load: from the invite screen itself, a changed fragment alone would
  // not load the page again.
  await page.goto('about:blank');
  await page.goto(`${baseUrl}/einladung#${encodeURIComponent(code)}`);
  await page.getByRole('heading', { name: 'Der Code ist gültig' }).waitFor();
  if (opts.name !== undefined) await page.getByLabel('Ihr Name').fill(opts.name);
  await page.getByLabel('PIN oder Passwort', { exact: true }).fill(pin);
  await page.getByLabel('PIN oder Passwort wiederholen').fill(pin);
  await page.getByRole('button', { name: 'Agora einrichten' }).click();
  await page.waitForURL((u) => u.pathname === '/', { timeout: 60_000 });
  await mainNav(page).waitFor();
}

/** Enters the PIN on the unlock screen. */
export async function unlock(page: Page, pin = PIN): Promise<void> {
  await page.getByRole('heading', { name: 'Entsperren' }).waitFor();
  await page.getByLabel('PIN oder Passwort').fill(pin);
  await page.getByRole('button', { name: 'Entsperren' }).click();
}

/** The accessible name (label) or text of the focused element, for keyboard-only steps. */
export function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return '';
    const id = el.getAttribute('id');
    const label = (id && document.querySelector(`label[for="${CSS.escape(id)}"]`)?.textContent) || el.getAttribute('aria-label') || el.textContent || '';
    return label.trim();
  });
}

/** Presses Tab until the element with this label or text has the focus (at most `max` times);
 * proves the control can be reached without a pointer. */
export async function tabTo(page: Page, name: string, max = 25): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    const now = await focused(page);
    if (now === name) return;
    seen.push(now);
    await page.keyboard.press('Tab');
  }
  throw new Error(`"${name}" never took the focus by Tab; the focus went through: ${seen.map((s) => JSON.stringify(s)).join(' → ')}`);
}
