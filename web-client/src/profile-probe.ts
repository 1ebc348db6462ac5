/** What this browser's profile database holds, read with the plain IndexedDB API and nothing of the
 * SDK: the first screen (invite, or the PIN form) depends only on that, so it can show while the
 * SDK's chunks (crypto, zod, the protocol code) are still on their way.
 *
 * The answer is a hint for choosing a screen, never a decision about keys: the engine still parses
 * and checks the key header with the SDK before anything is opened, and unlocking fails as before
 * if the header is not what the hint said. Layout as the SDK's IndexedDbBackend writes it: an object
 * store `header` holding the clear key header (JSON) under the key `header`. */

/** 'none': no profile on this device; 'pin': only a PIN/password opens it; 'other': anything else
 * (a device key, a damaged header, a browser that cannot tell) — the engine decides with the SDK. */
export type ProfileHint = 'none' | 'pin' | 'other';

const HEADER = 'header';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function openExisting(idb: IDBFactory, name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    // Without a version, open() creates a missing database at version 1 with no object stores,
    // which the SDK's own open (also version 1) would then never upgrade: refuse the creation.
    const req = idb.open(name);
    req.onupgradeneeded = () => req.transaction?.abort();
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB open failed'));
  });
}

function kindsOf(bytes: unknown): string[] | undefined {
  if (!(bytes instanceof Uint8Array)) return undefined;
  try {
    const json: unknown = JSON.parse(new TextDecoder().decode(bytes));
    const slots = (json as { slots?: unknown } | null)?.slots;
    if (!Array.isArray(slots)) return undefined;
    return slots.map((s) => String((s as { kind?: unknown } | null)?.kind));
  } catch {
    return undefined;
  }
}

export async function probeProfile(name: string, idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB): Promise<ProfileHint> {
  if (!idb || typeof idb.databases !== 'function') return 'other';
  try {
    if (!(await idb.databases()).some((d) => d.name === name)) return 'none';
    const db = await openExisting(idb, name);
    try {
      if (!db.objectStoreNames.contains(HEADER)) return 'other';
      const bytes: unknown = await request(db.transaction(HEADER, 'readonly').objectStore(HEADER).get(HEADER));
      if (bytes === undefined) return 'none';
      const kinds = kindsOf(bytes);
      return kinds && kinds.length > 0 && kinds.every((k) => k === 'argon2id') ? 'pin' : 'other';
    } finally {
      db.close();
    }
  } catch {
    return 'other';
  }
}
