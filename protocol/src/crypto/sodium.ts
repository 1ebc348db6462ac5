/** Lazy libsodium: the sumo build (Argon2id lives only there) is about 1 MB of WebAssembly/asm.js,
 * so it is imported on first use rather than at module load; the web app keeps it out of its first
 * bundle and pays for it only when crypto is needed. */
export type Sodium = (typeof import('libsodium-wrappers-sumo'))['default'];

let loaded: Sodium | undefined;
let loading: Promise<Sodium> | undefined;

/** The library if a getSodium() call has completed, for code that must stay synchronous. */
export function loadedSodium(): Sodium | undefined {
  return loaded;
}

export function getSodium(): Promise<Sodium> {
  if (loaded) return Promise.resolve(loaded);
  loading ??= import('libsodium-wrappers-sumo').then(
    async (mod) => {
      await mod.ready;
      // The ESM build only fills in the crypto functions on its default export.
      loaded = mod.default;
      return loaded;
    },
    (error: unknown) => {
      // Let a later call retry (e.g. a chunk that failed to download on a bad mobile connection).
      loading = undefined;
      throw error;
    },
  );
  return loading;
}
