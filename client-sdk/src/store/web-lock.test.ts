/** webLock over a LockManager with the Web Locks semantics (a lock is held until the promise its
 * callback returned settles; requests for a held name queue). Real browsers run the same code in
 * the web app's Chromium tests. */
import { describe, expect, it } from '@jest/globals';
import { webLock, type LockManagerLike } from './web-lock.js';

/** Exclusive locks by name, granted in request order, as navigator.locks does. */
function lockManager(): LockManagerLike & { held: Set<string> } {
  const tails = new Map<string, Promise<unknown>>();
  const held = new Set<string>();
  return {
    held,
    request(name, _options, callback) {
      const granted = (tails.get(name) ?? Promise.resolve()).then(async () => {
        held.add(name);
        try {
          return await callback();
        } finally {
          held.delete(name);
        }
      });
      tails.set(name, granted.catch(() => undefined));
      return granted;
    },
  };
}

describe('webLock', () => {
  it('holds the named lock until released, so a second tab waits', async () => {
    const locks = lockManager();
    const tabA = webLock('agora-profile:one', locks);
    const tabB = webLock('agora-profile:one', locks);
    const releaseA = await tabA();
    expect(locks.held.has('agora-profile:one')).toBe(true);
    let bHas = false;
    const b = tabB().then((release) => {
      bHas = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(bHas).toBe(false);
    // Another profile's lock is independent.
    const other = await webLock('agora-profile:two', locks)();
    await other();
    await releaseA();
    const releaseB = await b;
    expect(bHas).toBe(true);
    await releaseB();
    // Releasing twice is harmless.
    await releaseB();
    expect(locks.held.size).toBe(0);
  });

  it('says so where there is no Web Locks API', async () => {
    await expect(webLock('x')()).rejects.toMatchObject({ code: 'usage', message: expect.stringContaining('navigator.locks') });
  });
});
