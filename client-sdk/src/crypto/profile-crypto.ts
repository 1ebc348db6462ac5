/** Local state at rest (a device stolen while locked must stay protected by its PIN or passphrase): a key
 * derived from the passphrase with Argon2id, and XChaCha20-Poly1305 over the serialised state.
 *
 * Parameters (newKdfParams): Argon2id v1.3, 64 MiB, 5 passes. Measured on the 2-core reference
 * machine with libsodium-wrappers-sumo under Node 20: 64 MiB × 2 passes ≈ 100 ms, × 4 ≈ 200 ms,
 * × 5 ≈ 245 ms, × 6 ≈ 300 ms; 128 MiB × 2 ≈ 220 ms. Memory stays at libsodium's "interactive"
 * 64 MiB because the same WebAssembly runs in phone browsers, where allocating much more can fail
 * on cheap devices; the passes bring the time into the 0.2–0.5 s window here, which leaves a phone
 * 2–4× slower at about a second per unlock. The parameters and salt are stored with the profile, so
 * they can be raised later without breaking old profiles. A short numeric PIN cannot withstand an
 * offline guessing attack on a copied profile whatever the parameters; Argon2id only makes each
 * guess expensive. */
import * as z from 'zod';
import { concatBytes, toB64u } from '@agora/protocol/encoding';
import { platformRandom } from '@agora/protocol/crypto/random';
import { getSodium } from '@agora/protocol/crypto/sodium';
import { profileKeyWith } from './profile-kdf.js';

export const KDF_OPSLIMIT = 5;
export const KDF_MEMLIMIT = 64 * 1024 * 1024;

/** Bounds for parameters read back from a stored profile: a crafted file must not make the device
 * allocate gigabytes or spin for minutes before the decryption fails. */
export const KdfParamsSchema = z.strictObject({
  alg: z.literal('argon2id13'),
  opslimit: z.number().int().min(1).max(64),
  memlimit: z
    .number()
    .int()
    .min(8 * 1024 * 1024)
    .max(512 * 1024 * 1024),
  salt: z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be 16 bytes of base64url'),
});
export interface KdfParams {
  alg: 'argon2id13';
  opslimit: number;
  memlimit: number;
  /** base64url, 16 bytes */
  salt: string;
}

const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const PROFILE_ERROR = 'wrong passphrase or corrupted profile';

/** Thrown by decryptProfile; deliberately one message for both causes, which cannot be told apart. */
export class ProfileDecryptError extends Error {
  override readonly name = 'ProfileDecryptError';
  constructor() {
    super(PROFILE_ERROR);
  }
}

export function newKdfParams(): KdfParams {
  return { alg: 'argon2id13', opslimit: KDF_OPSLIMIT, memlimit: KDF_MEMLIMIT, salt: toB64u(platformRandom(16)) };
}

export async function deriveProfileKey(passphrase: string, params: KdfParams): Promise<Uint8Array> {
  const checked = KdfParamsSchema.safeParse(params);
  if (!checked.success) throw new RangeError('unsupported key-derivation parameters in the profile');
  return profileKeyWith(await getSodium(), passphrase, checked.data);
}

/** XChaCha20-Poly1305-IETF; output = random 24-byte nonce || ciphertext || tag. `aad` names what the
 * bytes are (e.g. "agora-profile-v1") so a ciphertext of one kind cannot be passed off as another. */
export async function encryptProfile(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  if (key.length !== 32) throw new RangeError('a profile key is 32 bytes');
  const sodium = await getSodium();
  const nonce = platformRandom(NONCE_BYTES);
  return concatBytes(nonce, sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key));
}

export async function decryptProfile(key: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  if (key.length !== 32 || ciphertext.length < NONCE_BYTES + TAG_BYTES) throw new ProfileDecryptError();
  const sodium = await getSodium();
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext.subarray(NONCE_BYTES), aad, ciphertext.subarray(0, NONCE_BYTES), key);
  } catch {
    throw new ProfileDecryptError();
  }
}
