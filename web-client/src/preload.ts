/** Starts fetching the SDK's chunks and the unlocked app's shell once the first screen has
 * painted, all at once: the build lists them in `<meta name="agora-preload">` (tools/integrity.ts)
 * and the import map holds their integrity, which each link carries too, so a preloaded chunk is
 * checked like one loaded by import(). Forms that need the SDK await it only when they are
 * submitted. */
const PRELOAD_META = 'agora-preload';

/** Resolves once what is on the page now has been painted (two animation frames); at once where
 * there are no frames (tests in Node). */
export function nextPaint(): Promise<void> {
  if (typeof requestAnimationFrame !== 'function') return Promise.resolve();
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
}

/** Runs `task` once the page has nothing else to do (within a few seconds at the latest). */
export function whenIdle(task: () => void): void {
  if (typeof requestIdleCallback === 'function') requestIdleCallback(() => task(), { timeout: 3_000 });
  else setTimeout(task, 500);
}

function integrityMap(): Record<string, string> {
  const map = document.querySelector('script[type="importmap"]')?.textContent;
  if (!map) return {};
  try {
    const parsed = JSON.parse(map) as { integrity?: Record<string, string> };
    return parsed.integrity ?? {};
  } catch {
    return {};
  }
}

/** The build's integrity (`sha384-…`) for one of its scripts, by path (`/assets/…`), from the
 * import map: for the scripts the page fetches itself rather than by import(). */
export function integrityOf(path: string): string | undefined {
  return integrityMap()[path];
}

export function preloadSdk(): void {
  const list = document.querySelector<HTMLMetaElement>(`meta[name="${PRELOAD_META}"]`)?.content.trim();
  if (!list) return;
  const integrity = integrityMap();
  const hrefs = list.split(/\s+/);
  // One link per task: adding a modulepreload link starts its fetch and costs the main thread
  // 10–40 ms on a slow phone, and all of them at once, right after the first screen appeared, made
  // one long task that a first tap or keystroke on that screen had to wait for.
  const next = () => {
    const href = hrefs.shift();
    if (href === undefined) return;
    // Without its integrity a chunk is left to import(), which the import map then checks.
    const hash = integrity[href];
    if (hash && !document.querySelector(`link[rel="modulepreload"][href="${href}"]`)) {
      const link = document.createElement('link');
      link.rel = 'modulepreload';
      link.crossOrigin = '';
      link.integrity = hash;
      link.href = href;
      document.head.append(link);
    }
    setTimeout(next, 0);
  };
  next();
}
