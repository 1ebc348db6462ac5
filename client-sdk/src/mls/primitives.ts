/** The synchronous primitives behind the MLS provider, all from libsodium except the RNG.
 *
 * Measured on this 2-core machine (µs per call, libsodium-wrappers-sumo 0.8 vs @noble 2):
 *   X25519 shared secret 78 vs 754, X25519 base 34 vs 723, Ed25519 sign 36 vs 311,
 *   Ed25519 verify 89 vs 1231, ChaCha20-Poly1305 (100 B) 1.5 vs 10.6, SHA-256 (100 B) 1.3 vs 2.0,
 *   HMAC-SHA256 (100 B) 1.7 vs 5.5.
 * So libsodium wins everywhere; noble stays only for the synchronous KeyPackageRef in group.ts,
 * which must work before libsodium has loaded. Randomness comes from crypto.getRandomValues:
 * libsodium's randombytes_buf is slow here (64 µs per call). */
import type { Sodium } from '@agora/protocol/crypto/sodium';

export interface Primitives {
  sha256(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** Throws on a small-order public key (all-zero shared secret), as RFC 9180 §7.1.4 requires. */
  x25519(secret: Uint8Array, publicKey: Uint8Array): Uint8Array;
  x25519Base(secret: Uint8Array): Uint8Array;
  aeadEncrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws when the tag does not verify. */
  aeadDecrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  ed25519Sign(secret: Uint8Array, message: Uint8Array): Uint8Array;
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  randomBytes(n: number): Uint8Array;
}

const HASH_LEN = 32;
// crypto.getRandomValues refuses more than 65,536 bytes per call.
const RANDOM_CHUNK = 65_536;

export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += RANDOM_CHUNK) globalThis.crypto.getRandomValues(out.subarray(o, Math.min(n, o + RANDOM_CHUNK)));
  return out;
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// The DER prefix WebCrypto puts before a 32-byte Ed25519 seed in PKCS#8. ts-mls's default provider
// generates keys in that form, so a state created with it carries one.
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export function makePrimitives(sodium: Sodium): Primitives {
  function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    // The one-shot call insists on 32-byte keys; the streaming one takes any length (HMAC pads or
    // hashes the key itself), e.g. HKDF's empty salt.
    if (key.length === 32) return sodium.crypto_auth_hmacsha256(data, key);
    const state = sodium.crypto_auth_hmacsha256_init(key);
    sodium.crypto_auth_hmacsha256_update(state, data);
    return sodium.crypto_auth_hmacsha256_final(state);
  }

  function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LEN) throw new RangeError('HKDF-Expand: bad length');
    const out = new Uint8Array(length);
    let previous: Uint8Array = new Uint8Array(0);
    for (let i = 1, o = 0; o < length; i++, o += HASH_LEN) {
      const input = new Uint8Array(previous.length + info.length + 1);
      input.set(previous, 0);
      input.set(info, previous.length);
      input[input.length - 1] = i;
      previous = hmacSha256(prk, input);
      out.set(previous.subarray(0, Math.min(HASH_LEN, length - o)), o);
    }
    return out;
  }

  // Expanding a seed costs a scalar multiplication, as much as the signature itself, and ts-mls signs
  // several times per commit with the same array; the seed copy notices an array overwritten since.
  const expanded = new WeakMap<Uint8Array, { seed: Uint8Array; secret: Uint8Array }>();
  function expandedSecret(secret: Uint8Array): Uint8Array {
    let seed: Uint8Array;
    if (secret.length === 64) return secret;
    if (secret.length === 32) seed = secret;
    else if (secret.length === 48 && constantTimeEqual(secret.subarray(0, 16), PKCS8_ED25519_PREFIX)) seed = secret.subarray(16);
    else throw new RangeError('Ed25519: unsupported private key encoding');
    const cached = expanded.get(secret);
    if (cached && constantTimeEqual(cached.seed, seed)) return cached.secret;
    const full = sodium.crypto_sign_seed_keypair(seed).privateKey;
    expanded.set(secret, { seed: seed.slice(), secret: full });
    return full;
  }

  return {
    sha256: (data) => sodium.crypto_hash_sha256(data),
    hmacSha256,
    hkdfExtract: (salt, ikm) => hmacSha256(salt, ikm),
    hkdfExpand,
    x25519(secret, publicKey) {
      if (secret.length !== 32 || publicKey.length !== 32) throw new RangeError('X25519: keys are 32 bytes');
      try {
        return sodium.crypto_scalarmult(secret, publicKey);
      } catch {
        throw new Error('X25519: invalid public key');
      }
    },
    x25519Base(secret) {
      if (secret.length !== 32) throw new RangeError('X25519: keys are 32 bytes');
      return sodium.crypto_scalarmult_base(secret);
    },
    aeadEncrypt: (key, nonce, aad, plaintext) =>
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad.length > 0 ? aad : null, null, nonce, key),
    aeadDecrypt(key, nonce, aad, ciphertext) {
      try {
        return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, ciphertext, aad.length > 0 ? aad : null, nonce, key);
      } catch {
        throw new Error('ChaCha20-Poly1305: decryption failed');
      }
    },
    ed25519Sign: (secret, message) => sodium.crypto_sign_detached(message, expandedSecret(secret)),
    ed25519Verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false;
      try {
        return sodium.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false;
      }
    },
    ed25519PublicKey: (seed) => expandedSecret(seed).slice(32),
    randomBytes,
  };
}
