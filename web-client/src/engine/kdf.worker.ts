/** Runs the passphrase's Argon2id (about a second on a phone, 64 MiB) off the page's main thread, so
 * the unlock and sign-up screens keep painting and answering while it works. It runs the SDK's own
 * deriveProfileKey, so the key is byte for byte the one an in-thread derivation gives: profiles
 * made either way open either way. The page may start it early (a warm-up message: libsodium loads
 * while the person types); one request per worker, which the page ends when it has answered (the
 * 64 MiB of WebAssembly memory go with it). */
import { deriveProfileKey } from '@agora/client-sdk/browser';
import { getSodium } from '@agora/protocol/crypto/sodium';
import type { KdfRequest, KdfReply, KdfWarmUp } from './kdf.js';

function reply(message: KdfReply): void {
  // Transfer the key's buffer rather than copy it: no second copy stays behind in this worker.
  postMessage(message, { transfer: 'key' in message ? [message.key.buffer] : [] });
}

addEventListener('message', (event: MessageEvent<KdfRequest | KdfWarmUp>) => {
  if ('warm' in event.data) {
    // Loaded and compiled now; a failure here shows again (and is answered) at the request.
    getSodium().catch(() => undefined);
    return;
  }
  const { id, passphrase, params } = event.data;
  deriveProfileKey(passphrase, params).then(
    (key) => reply({ id, key }),
    (error: unknown) => reply({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
  );
});
