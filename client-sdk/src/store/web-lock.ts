/** The profile lock for browsers: one operation at a time per profile across every tab and worker of
 * the origin, through the Web Locks API (`navigator.locks`). The browser releases a lock whose tab
 * is closed or crashes, so nothing is left locked behind, as the Node lock file's stale-pid check
 * does for processes. */
import { AgoraError } from '../core/errors.js';

/** The part of the Web Locks API used here (also what a test or another platform can provide). */
export interface LockManagerLike {
  request(name: string, options: { mode: 'exclusive' }, callback: () => Promise<void>): Promise<unknown>;
}

/** A `StoreProfile` lock named `name` (use one name per profile, e.g. `agora-profile:<db name>`). */
export function webLock(name: string, locks?: LockManagerLike): () => Promise<() => Promise<void>> {
  return () => {
    const manager = locks ?? (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    if (!manager) return Promise.reject(new AgoraError('usage', 'this browser has no Web Locks API (navigator.locks), which keeps two tabs from overwriting one profile'));
    return new Promise<() => Promise<void>>((acquired, failed) => {
      let release!: () => void;
      // The lock is held until the promise its callback returns settles: release settles it.
      const held = new Promise<void>((resolve) => (release = resolve));
      manager
        .request(name, { mode: 'exclusive' }, () => {
          acquired(async () => release());
          return held;
        })
        .catch(failed);
    });
  };
}
