/** Client storage as a provider: `ClientStore`, a keyed, transactional store of one device's state
 * (identity and keys, group states, content keys, messages by group in log order, outbox), with
 * every value encrypted at rest under a storage key and partition names hashed. The encryption and
 * the transaction logic live once (client-store.ts); backends only keep ciphertext: in memory
 * (tests), IndexedDB (browsers), an append-only journal in files (Node).
 *
 * This entry is isomorphic and is what the browser bundle imports. The Node file backend is NOT
 * exported here, because it needs node:fs: Node code uses '../node/file-client-store.js' directly,
 * so no bundler ever sees a Node built-in through this folder. */
export * from './types.js';
export { openClientStore, STORE_FORMAT_VERSION, MAX_PART_CHARS, MAX_VALUE_BYTES, MAX_RANGE_LIMIT } from './client-store.js';
export { MemoryStorage } from './memory-store.js';
export { IndexedDbBackend, browserIndexedDbEnv, type IndexedDbEnv } from './indexeddb-store.js';
export { openProfileStore, saveKeyHeader, type OpenedProfileStore } from './open.js';
