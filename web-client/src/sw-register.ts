/** Registers the service worker (public/sw.js), which keeps the app shell for offline starts. A new
 * build installs in the background; `onUpdateReady` then gets a function that switches to it and
 * reloads, for the app to offer when it suits the person (nothing typed is lost by waiting). */

export interface ServiceWorkerOptions {
  /** Called once a new version is installed and waiting while this one runs. */
  onUpdateReady?: (apply: () => void) => void;
}

/** Resolves to the registration, or undefined where there is no service worker (unsupported browser,
 * the development server, a page not served over HTTPS or from localhost). Never throws: the app works
 * without it, only not offline. */
export async function registerServiceWorker(opts: ServiceWorkerOptions = {}): Promise<ServiceWorkerRegistration | undefined> {
  if (import.meta.env.DEV || !('serviceWorker' in navigator)) return undefined;
  let registration: ServiceWorkerRegistration;
  try {
    // updateViaCache 'none': the browser always asks the relay whether sw.js changed
    registration = await navigator.serviceWorker.register('/sw.js', { scope: '/', updateViaCache: 'none' });
  } catch {
    return undefined;
  }
  const offer = (worker: ServiceWorker | null) => {
    if (!worker || !navigator.serviceWorker.controller || !opts.onUpdateReady) return;
    opts.onUpdateReady(() => {
      navigator.serviceWorker.addEventListener('controllerchange', () => window.location.reload(), { once: true });
      worker.postMessage({ type: 'skip-waiting' });
    });
  };
  if (registration.waiting) offer(registration.waiting);
  registration.addEventListener('updatefound', () => {
    const installing = registration.installing;
    installing?.addEventListener('statechange', () => {
      if (installing.state === 'installed') offer(installing);
    });
  });
  return registration;
}
