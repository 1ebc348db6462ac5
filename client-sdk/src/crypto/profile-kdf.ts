/** The passphrase's Argon2id over a libsodium the caller has loaded: the one computation behind
 * deriveProfileKey (profile-crypto.ts, which checks the parameters and loads libsodium first). It
 * imports nothing that runs at load, so the web app's key-derivation worker bundles it alone and is
 * handed the libsodium its page has already downloaded and checked, instead of a second copy. */
import { fromB64u, utf8 } from '@agora/protocol/encoding';
import type { Sodium } from '@agora/protocol/crypto/sodium';

/** Argon2id v1.3 parameters as stored with a profile (profile-crypto.ts bounds them). */
export interface ProfileKdfInput {
  opslimit: number;
  memlimit: number;
  /** base64url, 16 bytes */
  salt: string;
}

export function profileKeyWith(sodium: Sodium, passphrase: string, params: ProfileKdfInput): Uint8Array {
  // NFC so that the same passphrase typed on different keyboards/platforms gives the same bytes.
  const password = utf8(passphrase.normalize('NFC'));
  try {
    return sodium.crypto_pwhash(32, password, fromB64u(params.salt), params.opslimit, params.memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13);
  } finally {
    password.fill(0);
  }
}
