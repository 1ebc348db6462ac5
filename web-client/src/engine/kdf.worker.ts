/** Runs the passphrase's Argon2id (about a second on a phone, 64 MiB) off the page's main thread, so
 * the unlock and sign-up screens keep painting and answering while it works. It runs the SDK's own
 * derivation (profileKeyWith, which deriveProfileKey runs too), so the key is byte for byte the one
 * an in-thread derivation gives: profiles made either way open either way. The page may start it
 * early (a warm-up message: libsodium compiles its WebAssembly while the person types); one request
 * per worker, which the page ends when it has answered (the 64 MiB of WebAssembly memory go with it).
 *
 * This file carries no libsodium: the page composes the worker's script from the libsodium chunk it
 * imports itself followed by this code (kdf-source.ts), which leaves the library in a worker global.
 * The page has already checked the parameters against the profile's bounds. */
import { profileKeyWith } from '@agora/client-sdk/profile-kdf';
import type { Sodium } from '@agora/protocol/crypto/sodium';
import type { KdfRequest, KdfReply, KdfWarmUp } from './kdf.js';
import { KDF_SODIUM_GLOBAL } from './kdf-source.js';

let loading: Promise<Sodium> | undefined;

function sodium(): Promise<Sodium> {
  loading ??= (async () => {
    const given = (globalThis as Record<string, unknown>)[KDF_SODIUM_GLOBAL] as Sodium | undefined;
    if (given) {
      await given.ready;
      return given;
    }
    // The development server starts this file as it is (engine/kdf.ts): libsodium comes the usual way.
    if (import.meta.env.DEV) return (await import('@agora/protocol/crypto/sodium')).getSodium();
    throw new Error('the worker was started without libsodium');
  })();
  return loading;
}

function reply(message: KdfReply): void {
  // Transfer the key's buffer rather than copy it: no second copy stays behind in this worker.
  postMessage(message, { transfer: 'key' in message ? [message.key.buffer] : [] });
}

addEventListener('message', (event: MessageEvent<KdfRequest | KdfWarmUp>) => {
  if ('warm' in event.data) {
    // Compiled now; a failure here shows again (and is answered) at the request.
    sodium().catch(() => undefined);
    return;
  }
  const { id, passphrase, params } = event.data;
  sodium()
    .then((lib) => profileKeyWith(lib, passphrase, params))
    .then(
      (key) => reply({ id, key }),
      (error: unknown) => reply({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
    );
});
