/** The one crypto provider: the client's primitives come from here, over a randomness source
 * (random.ts) given to it.
 *
 * Every primitive comes from libsodium (sumo build, WebAssembly), chosen by measurement (`npm run
 * bench`, section g; docs/architecture.md "One crypto provider"): per call it was faster than @noble
 * for Ed25519 sign and verify, X25519, SHA-256/512, HMAC and the AEADs, and the web app loads it on
 * first use anyway (Argon2id exists only there). The randomness is not libsodium's: the platform's
 * getRandomValues is several times faster per call than randombytes_buf.
 *
 * libsodium is loaded lazily (about 1 MB), so the provider is had asynchronously once
 * (`loadCryptoProvider`); all its operations are synchronous from then on, which the MLS library needs
 * (its provider wraps them in already-resolved promises).
 *
 * Who gets which provider: the client machine is given its provider (MachineConfig.crypto), and with it
 * its randomness. The key-transparency formats and verifiers (kt/), shared by the relay, the clients,
 * witnesses and the audit, are synchronous pure functions that draw no randomness: they hash, sign
 * with a key they are given and verify, so any provider gives the same bytes. They take
 * `loadedCryptoProvider()`, which is there once any `loadCryptoProvider()` has resolved; every entry
 * point (the relay's start, a client's open, the officer's audit, a witness) awaits that first. */
import { platformRandom, type RandomSource } from './random.js';
import { getSodium, loadedSodium, type Sodium } from './sodium.js';

export { platformRandom, type RandomSource };

export interface CryptoProvider {
  readonly random: RandomSource;
  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** Throws on a small-order public key (all-zero shared secret), as RFC 9180 §7.1.4 requires. */
  x25519(secret: Uint8Array, publicKey: Uint8Array): Uint8Array;
  x25519Base(secret: Uint8Array): Uint8Array;
  /** ChaCha20-Poly1305 (IETF, 12-byte nonce). */
  aeadEncrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws when the tag does not verify. */
  aeadDecrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  /** Ed25519 (RFC 8032, pure, deterministic). `secret` is the 32-byte seed, its 64-byte expansion
   * (seed || public key) or the seed in WebCrypto's PKCS#8 form (ts-mls's default provider made those). */
  ed25519Sign(secret: Uint8Array, message: Uint8Array): Uint8Array;
  /** Strict verification: non-canonical encodings and small-order keys are refused. Malformed inputs
   * give `false`. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  /** The loaded library, for what this interface does not name (Argon2id, XChaCha20-Poly1305, sealed
   * boxes and secretstream); its own randombytes are never called. */
  readonly sodium: Sodium;
}

const HASH_LEN = 32;

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// The DER prefix WebCrypto puts before a 32-byte Ed25519 seed in PKCS#8. ts-mls's default provider
// generates keys in that form, so a state created with it carries one.
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/** The provider over a loaded libsodium and a randomness source. */
export function makeCryptoProvider(sodium: Sodium, random: RandomSource = platformRandom): CryptoProvider {
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

  // Expanding a seed costs a scalar multiplication, as much as the signature itself, and callers sign
  // many times with the same array (a device's records, ts-mls several times per commit); the seed
  // copy notices an array overwritten (e.g. zeroed) since.
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
    random,
    sodium,
    sha256: (data) => sodium.crypto_hash_sha256(data),
    sha512: (data) => sodium.crypto_hash_sha512(data),
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
  };
}

// One provider per randomness source, so a source's expanded-key cache is shared by its users.
const providers = new WeakMap<RandomSource, Promise<CryptoProvider>>();
let loadedPlatformProvider: CryptoProvider | undefined;
/** The one platform-randomness provider, shared by loadCryptoProvider() and loadedCryptoProvider(). */
const platformProvider = (sodium: Sodium) => (loadedPlatformProvider ??= makeCryptoProvider(sodium, platformRandom));

/** The provider with `random` as its randomness (the platform's CSPRNG by default), libsodium loaded
 * on the first call. */
export function loadCryptoProvider(random: RandomSource = platformRandom): Promise<CryptoProvider> {
  let p = providers.get(random);
  if (!p) {
    p = getSodium().then(
      (sodium) => (random === platformRandom ? platformProvider(sodium) : makeCryptoProvider(sodium, random)),
      (error: unknown) => {
        // Let a later call retry (e.g. a chunk that failed to download on a bad mobile connection).
        providers.delete(random);
        throw error;
      },
    );
    providers.set(random, p);
  }
  return p;
}

/** The platform-randomness provider, synchronously, for the pure functions that cannot await (the
 * key-transparency verifiers). Throws until some `loadCryptoProvider()` has resolved: an entry point
 * that forgot to await it fails at once and loudly, never with a wrong answer. */
export function loadedCryptoProvider(): CryptoProvider {
  const sodium = loadedSodium();
  if (!sodium) throw new Error('crypto provider not loaded yet: await loadCryptoProvider() before using the key-transparency functions');
  return platformProvider(sodium);
}
