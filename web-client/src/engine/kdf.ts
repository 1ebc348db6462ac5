/** The passphrase key derivation for the browser: the SDK's PassphraseKeySource with a derivation
 * that runs in a module Web Worker (kdf.worker.ts). Argon2id takes the CPU for a second or so on a
 * phone; on the main thread that froze the page (no spinner, no typing, no screen reader updates)
 * at every sign-up and unlock.
 *
 * The worker runs from bytes the page has checked: browsers apply neither Subresource Integrity nor
 * the import map's integrity to the script `new Worker(url)` loads, so the page fetches the files
 * itself with the integrity the build gave them (the import map, tools/integrity.ts) and starts the
 * worker from a blob: URL of exactly those bytes. Those files are the worker's code (no libsodium
 * of its own) and the libsodium chunk the page imports anyway, by the same URL, so the HTTP cache
 * or the service worker serves that 530 kB once for both (kdf-source.ts composes the two).
 *
 * If the worker cannot run at all (a browser without module workers, a file not loadable or not the
 * build's), the derivation runs in the page as before: slower to paint, never a lost unlock. */
import type { PassphraseDerive, Sdk } from './sdk.js';
import { integrityOf, nextPaint } from '../preload.js';
import WORKER_URL from './kdf.worker.ts?worker&url';
import { kdfWorkerSource, SODIUM_CHUNK_META } from './kdf-source.js';

type KdfParams = Parameters<PassphraseDerive>[1];
export interface KdfRequest {
  id: number;
  passphrase: string;
  params: KdfParams;
}
export type KdfReply = { id: number; key: Uint8Array } | { id: number; error: string };
/** Sent to a worker started ahead of time: load libsodium now, a request follows. */
export interface KdfWarmUp {
  warm: true;
}

/** The worker failed as a whole (did not load, crashed): the caller falls back to the page. */
class WorkerUnavailable extends Error {
  override readonly name = 'WorkerUnavailable';
}

let nextId = 0;

/** The blob: URL of the worker's checked script, composed once per page. */
let script: Promise<string> | undefined;

/** A file of the build as text, refused unless its bytes are the build's. */
async function checkedText(path: string): Promise<string> {
  const integrity = integrityOf(path);
  if (!integrity) throw new WorkerUnavailable(`the build names no integrity for ${path}`);
  try {
    // A response whose bytes differ from the build's rejects here, before anything runs.
    const res = await fetch(path, { integrity, credentials: 'same-origin' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.text();
  } catch (error) {
    throw new WorkerUnavailable(`${path}: ${String(error)}`);
  }
}

function workerScript(): Promise<string> {
  script ??= (async () => {
    const url = new URL(WORKER_URL, location.href);
    // The development server has no build and no import map: its worker runs as Vite serves it.
    if (import.meta.env.DEV) return url.href;
    const sodiumPath = document.querySelector<HTMLMetaElement>(`meta[name="${SODIUM_CHUNK_META}"]`)?.content;
    if (!sodiumPath) throw new WorkerUnavailable('the build names no libsodium chunk');
    const [sodium, code] = await Promise.all([checkedText(sodiumPath), checkedText(url.pathname)]);
    let source: string;
    try {
      source = kdfWorkerSource(sodium, code);
    } catch (error) {
      throw new WorkerUnavailable(String(error));
    }
    return URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  })();
  // A failed fetch (network gone mid-way) is tried again at the next derivation.
  script.catch(() => {
    script = undefined;
  });
  return script;
}

async function spawn(): Promise<Worker> {
  const url = await workerScript();
  try {
    return new Worker(url, { type: 'module', name: 'agora-kdf' });
  } catch (error) {
    throw new WorkerUnavailable(String(error));
  }
}

/** A worker started while the person types the PIN, so its script and libsodium (loading and
 * compiling the WebAssembly takes a few hundred milliseconds on a phone) are ready at the click. */
let warm: { worker: Promise<Worker>; failed: boolean } | undefined;

/** Starts the worker ahead of a derivation (the unlock or sign-up screen is on show). */
export function prepareKdf(): void {
  if (warm || typeof Worker === 'undefined') return;
  // Fetching and checking the worker's files (libsodium's 530 kB, which the page imports too) waits
  // until the form is on screen.
  const ready = { worker: nextPaint().then(spawn), failed: false };
  ready.worker.then(
    (worker) => {
      worker.addEventListener('error', () => {
        ready.failed = true;
      });
      const hello: KdfWarmUp = { warm: true };
      worker.postMessage(hello);
    },
    () => {
      // Not loadable or not the build's: the derivation will run in the page.
      ready.failed = true;
    },
  );
  warm = ready;
}

const end = (worker: Promise<Worker>) => void worker.then((w) => w.terminate(), () => undefined);

/** No derivation is coming (the profile is open): the waiting worker goes. */
export function dropKdf(): void {
  if (warm) end(warm.worker);
  warm = undefined;
}

async function deriveInWorker(passphrase: string, params: KdfParams): Promise<Uint8Array> {
  const ready = warm;
  warm = undefined;
  let worker: Worker;
  if (ready && !ready.failed) {
    worker = await ready.worker;
    // It failed while starting (its error event has gone by): a fresh one.
    if (ready.failed) {
      worker.terminate();
      worker = await spawn();
    }
  } else {
    if (ready) end(ready.worker);
    worker = await spawn();
  }
  return new Promise<Uint8Array>((resolve, reject) => {
    const id = ++nextId;
    worker.addEventListener('message', (event: MessageEvent<KdfReply>) => {
      const data = event.data;
      if (data.id !== id) return;
      worker.terminate();
      if ('key' in data && data.key instanceof Uint8Array) resolve(data.key);
      else reject(new Error('error' in data ? data.error : 'the key derivation worker gave no key'));
    });
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      worker.terminate();
      reject(new WorkerUnavailable(event.message || 'the key derivation worker did not start'));
    });
    worker.addEventListener('messageerror', () => {
      worker.terminate();
      reject(new WorkerUnavailable('the key derivation worker sent an unreadable answer'));
    });
    const request: KdfRequest = { id, passphrase, params };
    worker.postMessage(request);
  });
}

/** The derivation the app gives PassphraseKeySource: in a worker where the browser has them. */
export function offThreadDerive(sdk: Sdk): PassphraseDerive {
  return async (passphrase, params) => {
    if (typeof Worker === 'undefined') return sdk.deriveProfileKey(passphrase, params);
    try {
      return await deriveInWorker(passphrase, params);
    } catch (error) {
      if (error instanceof WorkerUnavailable) return sdk.deriveProfileKey(passphrase, params);
      throw error;
    }
  };
}

/** A passphrase key source whose Argon2id runs off the main thread. */
export function passphraseSource(sdk: Sdk, passphrase: string): InstanceType<Sdk['PassphraseKeySource']> {
  return new sdk.PassphraseKeySource(passphrase, { derive: offThreadDerive(sdk) });
}
