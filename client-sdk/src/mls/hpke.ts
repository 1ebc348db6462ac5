/** HPKE (RFC 9180), base mode only, for the one suite Agora's MLS ciphersuite uses:
 * DHKEM(X25519, HKDF-SHA256) 0x0020, HKDF-SHA256 0x0001, ChaCha20-Poly1305 0x0003.
 * MLS only ever does single-shot seal/open (sequence number 0) and single-shot export, so there is
 * no stateful context. Checked against RFC 9180 Appendix A.2.1 in hpke.test.ts. */
import type { Hpke, PrivateKey, PublicKey } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import type { CryptoProvider as Primitives } from '@agora/protocol/crypto/provider';

const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const AEAD_ID = 0x0003;
const N_SECRET = 32;
const N_PK = 32;
const N_K = 32;
const N_N = 12;
const N_H = 32;
const MODE_BASE = 0x00;

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const i2osp2 = (n: number): Uint8Array => Uint8Array.of(n >> 8, n & 0xff);

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const KEM_SUITE = concat(ascii('KEM'), i2osp2(KEM_ID));
const HPKE_SUITE = concat(ascii('HPKE'), i2osp2(KEM_ID), i2osp2(KDF_ID), i2osp2(AEAD_ID));
const V1 = ascii('HPKE-v1');
const EMPTY = new Uint8Array(0);

// Labels are constant: encode each once rather than per call.
const L = {
  dkpPrk: ascii('dkp_prk'),
  sk: ascii('sk'),
  eaePrk: ascii('eae_prk'),
  sharedSecret: ascii('shared_secret'),
  pskIdHash: ascii('psk_id_hash'),
  infoHash: ascii('info_hash'),
  secret: ascii('secret'),
  key: ascii('key'),
  baseNonce: ascii('base_nonce'),
  exp: ascii('exp'),
  sec: ascii('sec'),
};

/** The key objects ts-mls passes around are typed as WebCrypto CryptoKeys; ours are plain frozen
 * objects of that shape whose raw bytes live in a WeakMap, so logging a key object shows no secret. */
const RAW = new WeakMap<object, Uint8Array>();

function wrapKey<T extends PublicKey | PrivateKey>(type: T['type'], raw: Uint8Array): T {
  const key = Object.freeze({ type, algorithm: Object.freeze({ name: 'X25519' }), extractable: true, usages: Object.freeze([]) });
  RAW.set(key, raw);
  return key as unknown as T;
}

function unwrapKey(key: PublicKey | PrivateKey, type: 'public' | 'private'): Uint8Array {
  const raw = RAW.get(key);
  if (raw === undefined || key.type !== type) throw new CryptoError(`HPKE: not a ${type} key of this provider`);
  return raw;
}

export interface SenderSetup {
  enc: Uint8Array;
  sharedSecret: Uint8Array;
  key: Uint8Array;
  baseNonce: Uint8Array;
  exporterSecret: Uint8Array;
}

/** The RFC 9180 building blocks, exposed so the known-answer test can check every intermediate. */
export interface HpkeCore {
  deriveKeyPair(ikm: Uint8Array): { sk: Uint8Array; pk: Uint8Array };
  /** SetupBaseS with a given ephemeral secret (random when omitted). */
  setupSender(pkR: Uint8Array, info: Uint8Array, skE?: Uint8Array): SenderSetup;
  setupReceiver(enc: Uint8Array, skR: Uint8Array, info: Uint8Array): Omit<SenderSetup, 'enc'>;
  exportFrom(exporterSecret: Uint8Array, exporterContext: Uint8Array, length: number): Uint8Array;
}

export function makeHpkeCore(p: Primitives): HpkeCore {
  const labeledExtract = (suite: Uint8Array, salt: Uint8Array, label: Uint8Array, ikm: Uint8Array) =>
    p.hkdfExtract(salt, concat(V1, suite, label, ikm));
  const labeledExpand = (suite: Uint8Array, prk: Uint8Array, label: Uint8Array, info: Uint8Array, length: number) =>
    p.hkdfExpand(prk, concat(i2osp2(length), V1, suite, label, info), length);

  const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, L.pskIdHash, EMPTY);

  function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
    const eaePrk = labeledExtract(KEM_SUITE, EMPTY, L.eaePrk, dh);
    return labeledExpand(KEM_SUITE, eaePrk, L.sharedSecret, kemContext, N_SECRET);
  }

  function keySchedule(sharedSecret: Uint8Array, info: Uint8Array) {
    const infoHash = labeledExtract(HPKE_SUITE, EMPTY, L.infoHash, info);
    const context = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
    const secret = labeledExtract(HPKE_SUITE, sharedSecret, L.secret, EMPTY);
    return {
      sharedSecret,
      key: labeledExpand(HPKE_SUITE, secret, L.key, context, N_K),
      baseNonce: labeledExpand(HPKE_SUITE, secret, L.baseNonce, context, N_N),
      exporterSecret: labeledExpand(HPKE_SUITE, secret, L.exp, context, N_H),
    };
  }

  return {
    deriveKeyPair(ikm) {
      const dkpPrk = labeledExtract(KEM_SUITE, EMPTY, L.dkpPrk, ikm);
      const sk = labeledExpand(KEM_SUITE, dkpPrk, L.sk, EMPTY, N_SECRET);
      return { sk, pk: p.x25519Base(sk) };
    },
    setupSender(pkR, info, skE = p.random(N_SECRET)) {
      if (pkR.length !== N_PK) throw new CryptoError('HPKE: bad public key length');
      const enc = p.x25519Base(skE);
      const dh = p.x25519(skE, pkR);
      return { enc, ...keySchedule(extractAndExpand(dh, concat(enc, pkR)), info) };
    },
    setupReceiver(enc, skR, info) {
      if (enc.length !== N_PK) throw new CryptoError('HPKE: bad encapsulation length');
      const dh = p.x25519(skR, enc);
      return keySchedule(extractAndExpand(dh, concat(enc, p.x25519Base(skR))), info);
    },
    exportFrom: (exporterSecret, exporterContext, length) => labeledExpand(HPKE_SUITE, exporterSecret, L.sec, exporterContext, length),
  };
}

/** The ts-mls Hpke interface over the core above. Every method is synchronous work returned as an
 * already-resolved promise. */
export function makeHpke(p: Primitives): Hpke {
  const core = makeHpkeCore(p);

  function receiver(privateKey: PrivateKey, enc: Uint8Array, info: Uint8Array) {
    try {
      return core.setupReceiver(enc, unwrapKey(privateKey, 'private'), info);
    } catch (e) {
      throw e instanceof CryptoError ? e : new CryptoError('HPKE: decapsulation failed');
    }
  }

  function importKey<T extends PublicKey | PrivateKey>(type: T['type'], k: Uint8Array): T {
    if (k.length !== 32) throw new CryptoError(`HPKE: an X25519 ${type} key is 32 bytes`);
    return wrapKey<T>(type, k.slice());
  }

  return {
    async seal(publicKey, plaintext, info, aad) {
      const s = core.setupSender(unwrapKey(publicKey, 'public'), info);
      return { ct: p.aeadEncrypt(s.key, s.baseNonce, aad ?? EMPTY, plaintext), enc: s.enc };
    },
    async open(privateKey, kemOutput, ciphertext, info, aad) {
      const r = receiver(privateKey, kemOutput, info);
      try {
        return p.aeadDecrypt(r.key, r.baseNonce, aad ?? EMPTY, ciphertext);
      } catch {
        throw new CryptoError('HPKE: open failed');
      }
    },
    async exportSecret(publicKey, exporterContext, length, info) {
      const s = core.setupSender(unwrapKey(publicKey, 'public'), info);
      return { enc: s.enc, secret: core.exportFrom(s.exporterSecret, exporterContext, length) };
    },
    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      const r = receiver(privateKey, kemOutput, info);
      return core.exportFrom(r.exporterSecret, exporterContext, length);
    },
    async importPrivateKey(k) {
      return importKey<PrivateKey>('private', k);
    },
    async importPublicKey(k) {
      return importKey<PublicKey>('public', k);
    },
    // Copies out: ts-mls zeroes secrets it has finished with, which must not reach our key objects.
    async exportPublicKey(k) {
      return unwrapKey(k, 'public').slice();
    },
    async exportPrivateKey(k) {
      return unwrapKey(k, 'private').slice();
    },
    async encryptAead(key, nonce, aad, plaintext) {
      return p.aeadEncrypt(key, nonce, aad ?? EMPTY, plaintext);
    },
    async decryptAead(key, nonce, aad, ciphertext) {
      try {
        return p.aeadDecrypt(key, nonce, aad ?? EMPTY, ciphertext);
      } catch {
        throw new CryptoError('AEAD: decryption failed');
      }
    },
    async deriveKeyPair(ikm) {
      const { sk, pk } = core.deriveKeyPair(ikm);
      return { privateKey: wrapKey<PrivateKey>('private', sk), publicKey: wrapKey<PublicKey>('public', pk) };
    },
    async generateKeyPair() {
      const sk = p.random(N_SECRET);
      return { privateKey: wrapKey<PrivateKey>('private', sk), publicKey: wrapKey<PublicKey>('public', p.x25519Base(sk)) };
    },
    keyLength: N_K,
    nonceLength: N_N,
  };
}
