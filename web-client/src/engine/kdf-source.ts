/** How the key-derivation worker gets libsodium without a second copy of it: its script is composed
 * in the page from two files the page has fetched and checked against the build's integrity — the
 * very libsodium chunk the page itself imports (one download, one cache entry), then a line that
 * hands that chunk's default export to the worker's code, then the worker's own code (kdf.worker.ts,
 * built without libsodium). It runs as one module worker from a blob: URL, so nothing it runs is
 * fetched unchecked and the Content-Security-Policy's scripts stay 'self' (worker-src allows the
 * blob:). The build (tools/integrity.ts) composes it once too, so a libsodium chunk of another shape
 * fails the build rather than every worker. No imports: the build tools load this file as well. */

/** The worker-global name under which the composed script leaves libsodium for the worker's code. */
export const KDF_SODIUM_GLOBAL = '__agoraKdfSodium';

/** The page's `<meta>` naming the libsodium chunk (written by the build, read by engine/kdf.ts). */
export const SODIUM_CHUNK_META = 'agora-sodium';

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The local name the chunk exports as its default, from the `export{…}` it ends with. */
function defaultExportName(sodiumChunk: string): string {
  const tail = /\bexport\s*\{([^{}]*)\}\s*;?\s*$/.exec(sodiumChunk);
  for (const item of tail?.[1].split(',') ?? []) {
    const [local, exported] = item.trim().split(/\s+as\s+/);
    if (exported === 'default' && local !== undefined && IDENTIFIER.test(local)) return local;
  }
  throw new Error('the libsodium chunk does not end by exporting its default');
}

/** The worker's module: `sodiumChunk` unchanged, the hand-over, then `workerCode` (a classic,
 * self-contained bundle, which is also valid as the rest of a module). */
export function kdfWorkerSource(sodiumChunk: string, workerCode: string): string {
  const local = defaultExportName(sodiumChunk);
  return `${sodiumChunk}\n;globalThis[${JSON.stringify(KDF_SODIUM_GLOBAL)}]=${local};\n${workerCode}`;
}
