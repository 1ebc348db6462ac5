/** A fast ts-mls CryptoProvider for Agora's one ciphersuite, over the one crypto provider
 * (@agora/protocol/crypto/provider).
 *
 * ts-mls's default provider goes through WebCrypto, whose every call is an asynchronous round trip
 * (57 µs per SHA-256 digest, 214 µs per HKDF-Expand measured here), and MLS does thousands of
 * small operations per commit at 1,000 leaves. This one does all work synchronously (libsodium)
 * and only wraps results in already-resolved promises. Every random byte ts-mls draws (path and
 * epoch secrets, HPKE ephemeral keys, reuse guards, signature keys) comes from the provider's
 * randomness source, so a client machine's injected source reaches MLS too. Isomorphic: no node:*
 * imports; libsodium is loaded lazily on the first getCiphersuiteImpl. */
import type { Ciphersuite, CiphersuiteImpl, CryptoProvider as MlsCryptoProvider, Hash, Kdf, Signature } from 'ts-mls';
import { bytesEqual } from '@agora/protocol/encoding';
import { loadCryptoProvider, platformRandom, type CryptoProvider, type RandomSource } from '@agora/protocol/crypto/provider';
import { makeHpke } from './hpke.js';

export const AGORA_CIPHERSUITE = 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519' as const;

function makeImpl(p: CryptoProvider): CiphersuiteImpl {
  const hash: Hash = {
    async digest(data) {
      return p.sha256(data);
    },
    async mac(key, data) {
      return p.hmacSha256(key, data);
    },
    async verifyMac(key, mac, data) {
      return bytesEqual(mac, p.hmacSha256(key, data));
    },
  };
  const kdf: Kdf = {
    async extract(salt, ikm) {
      return p.hkdfExtract(salt, ikm);
    },
    async expand(prk, info, len) {
      return p.hkdfExpand(prk, info, len);
    },
    size: 32,
  };
  const signature: Signature = {
    async sign(signKey, message) {
      return p.ed25519Sign(signKey, message);
    },
    async verify(publicKey, message, sig) {
      return p.ed25519Verify(publicKey, message, sig);
    },
    async keygen() {
      const signKey = p.random(32);
      return { signKey, publicKey: p.ed25519PublicKey(signKey) };
    },
  };
  return { hash, kdf, signature, hpke: makeHpke(p), rng: { randomBytes: p.random }, name: AGORA_CIPHERSUITE };
}

/** The ts-mls provider over a given crypto provider (a client machine's, MachineConfig.crypto), or over
 * the one loaded with randomness `source` (the platform's CSPRNG by default). */
export function agoraCryptoProviderWith(source: RandomSource | CryptoProvider = platformRandom): MlsCryptoProvider {
  let impl: Promise<CiphersuiteImpl> | undefined;
  return {
    getCiphersuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
      if (cs.name !== AGORA_CIPHERSUITE) {
        return Promise.reject(new Error(`agoraCryptoProvider implements only ${AGORA_CIPHERSUITE}, not ${cs.name}`));
      }
      impl ??= (typeof source === 'function' ? loadCryptoProvider(source) : Promise.resolve(source)).then(makeImpl, (error: unknown) => {
        impl = undefined;
        throw error;
      });
      return impl;
    },
  };
}

export const agoraCryptoProvider: MlsCryptoProvider = agoraCryptoProviderWith(platformRandom);
