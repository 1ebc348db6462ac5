/** Opening a profile's store end to end: read the clear key header from the backend, unlock it with
 * the key source (or, for a new profile, create the storage key and its header), then open the
 * encrypted store. The header is written before the store's first record, so a crash in between
 * leaves a header whose store is initialised at the next open. */
import { AgoraError } from '../core/errors.js';
import { createKeyHeader, encodeKeyHeader, parseKeyHeader, unlockKeyHeader, type KeyHeader, type ProfileKeySource } from '../keysource/header.js';
import { openClientStore } from './client-store.js';
import type { ClientStore, StorageKey, StoreBackend } from './types.js';

export interface OpenedProfileStore {
  store: ClientStore;
  header: KeyHeader;
  /** Kept by the caller only to add a slot (e.g. "stay signed in"); zero it when done. */
  key: StorageKey;
  created: boolean;
}

export async function openProfileStore(opts: { backend: StoreBackend; keySource: ProfileKeySource; create?: boolean }): Promise<OpenedProfileStore> {
  try {
    const bytes = await opts.backend.readHeader();
    if (bytes === undefined) {
      if (opts.create === false) throw new AgoraError('not_registered', `no Agora profile at ${opts.backend.describe()}`);
      const { key, header } = await createKeyHeader([opts.keySource]);
      await opts.backend.writeHeader(encodeKeyHeader(header));
      return { store: await openClientStore({ backend: opts.backend, key }), header, key, created: true };
    }
    const header = parseKeyHeader(bytes, opts.backend.describe());
    const key = await unlockKeyHeader(header, opts.keySource);
    return { store: await openClientStore({ backend: opts.backend, key }), header, key, created: false };
  } catch (error) {
    await opts.backend.close();
    throw error;
  }
}

/** Rewrites the header (a slot added or removed); the store itself is untouched. */
export async function saveKeyHeader(backend: StoreBackend, header: KeyHeader): Promise<void> {
  await backend.writeHeader(encodeKeyHeader(header));
}
