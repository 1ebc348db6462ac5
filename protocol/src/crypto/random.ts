/** The one randomness source: every random byte the code uses comes from a `RandomSource`, which is
 * `platformRandom` (the platform's CSPRNG) unless one was injected. The client machine takes one, so
 * that a test can drive it with a seeded source and get byte-identical requests. This is the only
 * file that calls the CSPRNG (eslint.config.js enforces it). Kept apart from provider.ts, and free
 * of imports, so byte helpers and the key-transparency verifiers can use it without pulling in the
 * crypto library. */

/** `n` random bytes, fresh on every call. */
export type RandomSource = (n: number) => Uint8Array;

// crypto.getRandomValues refuses more than 65,536 bytes per call.
const RANDOM_CHUNK = 65_536;

/** The platform's CSPRNG (WebCrypto's getRandomValues, in browsers and Node alike). It is several
 * times faster per call than libsodium's randombytes_buf (`npm run bench`, section g). */
export const platformRandom: RandomSource = (n) => {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += RANDOM_CHUNK) globalThis.crypto.getRandomValues(out.subarray(o, Math.min(n, o + RANDOM_CHUNK)));
  return out;
};
