/** The passphrase key derivation for the browser: the SDK's PassphraseKeySource with a derivation
 * that runs in a module Web Worker (kdf.worker.ts). Argon2id takes the CPU for a second or so on a
 * phone; on the main thread that froze the page (no spinner, no typing, no screen reader updates)
 * at every sign-up and unlock.
 *
 * If the worker cannot run at all (a browser without module workers, its script not loadable),
 * the derivation runs in the page as before: slower to paint, never a lost unlock. */
import type { PassphraseDerive, Sdk } from './sdk.js';

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

function spawn(): Worker {
  return new Worker(new URL('./kdf.worker.ts', import.meta.url), { type: 'module', name: 'agora-kdf' });
}

/** A worker started while the person types the PIN, so its script and libsodium (loading and
 * compiling the WebAssembly takes a few hundred milliseconds on a phone) are ready at the click. */
let warm: { worker: Worker; failed: boolean } | undefined;

/** Starts the worker ahead of a derivation (the unlock or sign-up screen is on show). */
export function prepareKdf(): void {
  if (warm || typeof Worker === 'undefined') return;
  try {
    const ready = { worker: spawn(), failed: false };
    ready.worker.addEventListener('error', () => {
      ready.failed = true;
    });
    const hello: KdfWarmUp = { warm: true };
    ready.worker.postMessage(hello);
    warm = ready;
  } catch {
    // No module workers here: the derivation will run in the page.
  }
}

/** No derivation is coming (the profile is open): the waiting worker goes. */
export function dropKdf(): void {
  warm?.worker.terminate();
  warm = undefined;
}

function deriveInWorker(passphrase: string, params: KdfParams): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    let worker: Worker;
    const ready = warm;
    warm = undefined;
    if (ready?.failed) ready.worker.terminate();
    try {
      worker = ready && !ready.failed ? ready.worker : spawn();
    } catch (error) {
      reject(new WorkerUnavailable(String(error)));
      return;
    }
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
