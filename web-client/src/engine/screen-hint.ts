/** The first screen a returning device showed last time (the PIN form, or the invite form), kept in
 * localStorage because that is the one store a page can read synchronously: the first render shows
 * that form at once, without waiting for IndexedDB and the tab lock (together the larger part of a
 * warm start). It is a hint for choosing a screen and nothing more: it holds no key and no name,
 * and the engine still probes the profile database, takes the tab lock and checks the key header
 * with the SDK before anything is opened, correcting the screen if the hint was stale (site data
 * partly cleared, another tab holding the profile). */
export type ScreenHint = 'welcome' | 'pin';

const KEY = 'agora.firstScreen';

export function rememberedScreen(): ScreenHint | undefined {
  try {
    const v = globalThis.localStorage?.getItem(KEY);
    return v === 'welcome' || v === 'pin' ? v : undefined;
  } catch {
    // Storage blocked by the browser's settings: no hint, the probe decides.
    return undefined;
  }
}

const listeners = new Set<() => void>();

/** `undefined` forgets the hint: the next start waits for the probe (e.g. a device that opens
 * without a PIN shows no form at all). */
export function rememberScreen(hint: ScreenHint | undefined): void {
  try {
    if (hint) globalThis.localStorage?.setItem(KEY, hint);
    else globalThis.localStorage?.removeItem(KEY);
  } catch {
    // as above
  }
  for (const l of listeners) l();
}

/** Calls `listener` after every rememberScreen(); returns the function that stops it. */
export function onScreenRemembered(listener: () => void): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}
