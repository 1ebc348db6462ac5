/** The relay's storage: one `Store` interface (types.ts) with an embedded SQLite implementation,
 * the zero-set-up default, and a MongoDB one for organisations that run several relays. Both pass
 * the same contract suite (contract.ts). */
import type { Store } from './types.js';
import { openSqliteStore } from './sqlite.js';

export type * from './types.js';
export { openSqliteStore } from './sqlite.js';

/** Opens MongoDB when `mongoUri` is set, else SQLite in `dataDir`. */
export async function openStore(opts: { dataDir: string; mongoUri?: string }): Promise<Store> {
  if (!opts.mongoUri) return openSqliteStore(opts.dataDir);
  // loaded on demand so a SQLite relay never pays for the MongoDB driver
  const { openMongoStore } = await import('./mongo.js');
  return openMongoStore(opts.mongoUri);
}
