/** The first screen in the page's HTML. The build renders the screens a start can open with (the
 * invite form, the PIN form and the "starting" screen, in each language) into static copies of
 * index.html (tools/first-screens.ts), so the browser paints the form with the HTML and its style
 * sheet, before the entry script has been fetched, compiled and run: on a slow phone that script is
 * the larger part of a start from the service worker. main.tsx then replaces the static copy with
 * the live app and carries over anything already typed into it.
 *
 * Which copy a start gets is the service worker's choice (public/sw.js), from a hint the page
 * leaves in Cache Storage: the file of the screen this device will start with (screen-hint.ts) in
 * the language chosen. The hint only picks one of the build's own files, all of them checked when
 * the service worker installed them; a stale or damaged hint gives index.html, and a wrong screen is
 * corrected by the engine as before. */
import type { Lang } from './i18n/index.js';
import type { ScreenHint } from './engine/screen-hint.js';

/** What a start shows before the engine has looked at the device: a remembered form, or the
 * "starting" screen where none is remembered (a device that opens without a PIN). */
export type FirstScreen = ScreenHint | 'starting';
export const FIRST_SCREENS: readonly FirstScreen[] = ['welcome', 'pin', 'starting'];
export const FIRST_SCREEN_LANGS: readonly Lang[] = ['de', 'en'];

/** The build's file for a first screen. The German invite form is index.html itself, the page the
 * relay answers every address of the app with: what a new device, without a service worker yet,
 * gets. */
export function firstScreenFile(screen: FirstScreen, lang: Lang): string {
  return screen === 'welcome' && lang === 'de' ? 'index.html' : `first/${screen}-${lang}.html`;
}

/** Where the hint is kept: a cache of its own, which the service worker's clean-up of old builds
 * leaves alone, holding the file's path (`/first/pin-de.html`) under one key. */
export const FIRST_SCREEN_CACHE = 'agora-first-screen';
export const FIRST_SCREEN_KEY = '/first-screen';

/** User Timing marks: the hint is written (the browser tests change it only after this); the app
 * has taken over the static screen and its buttons act (main.tsx; the benchmark reads it). */
export const HINT_WRITTEN_MARK = 'agora:first-screen-hint';
export const APP_RUNNING_MARK = 'agora:app-running';

let published: string | undefined;

/** Leaves the hint for the next start; nothing when it has not changed since the last call. A page
 * without Cache Storage (not a secure context) or with storage blocked starts with index.html. */
export async function publishFirstScreen(screen: FirstScreen, lang: Lang): Promise<void> {
  const path = `/${firstScreenFile(screen, lang)}`;
  if (path === published || typeof caches === 'undefined') return;
  published = path;
  try {
    const cache = await caches.open(FIRST_SCREEN_CACHE);
    await cache.put(FIRST_SCREEN_KEY, new Response(path, { headers: { 'Content-Type': 'text/plain' } }));
    performance.mark(HINT_WRITTEN_MARK);
  } catch {
    published = undefined;
  }
}

/** The screen the page came with (tools/first-screens.ts marks it on the app's element), if any. */
export function staticScreen(root: HTMLElement): FirstScreen | undefined {
  const screen = root.dataset.firstScreen;
  return FIRST_SCREENS.find((s) => s === screen);
}

/** What a person typed into the static copy before the app ran, and where the cursor was: read
 * before the app replaces the copy, put into the app's own fields (same ids) after. */
export interface TypedBefore {
  restore(root: ParentNode): void;
}

type TextField = HTMLInputElement | HTMLTextAreaElement;
const isTextField = (el: Element | null): el is TextField =>
  (el instanceof HTMLInputElement && el.type !== 'checkbox' && el.type !== 'radio') || el instanceof HTMLTextAreaElement;

export function takeTyped(root: ParentNode): TypedBefore {
  const values = new Map<string, string>();
  for (const el of Array.from(root.querySelectorAll('input[id], textarea[id]'))) {
    if (isTextField(el) && el.value !== '') values.set(el.id, el.value);
  }
  const active = document.activeElement;
  const focused = isTextField(active) && root.contains(active) && active.id ? { id: active.id, start: active.selectionStart, end: active.selectionEnd } : undefined;
  return {
    restore(into: ParentNode) {
      for (const [id, value] of values) {
        const el = into.querySelector(`#${CSS.escape(id)}`);
        if (!isTextField(el) || el.value === value) continue;
        el.value = value;
        // The app's fields keep their text in component state, which follows input events.
        el.dispatchEvent(new Event('input', { bubbles: true }));
      }
      if (!focused) return;
      const el = into.querySelector(`#${CSS.escape(focused.id)}`);
      if (!isTextField(el)) return;
      el.focus();
      try {
        if (focused.start !== null && focused.end !== null) el.setSelectionRange(focused.start, focused.end);
      } catch {
        // Fields without a selection (number, email in some browsers).
      }
    },
  };
}
