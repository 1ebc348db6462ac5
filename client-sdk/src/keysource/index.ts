/** Key sources: where the storage key of a profile comes from. The key is random; each source wraps
 * it into a slot of the profile's clear, versioned key header (header.ts): a passphrase through
 * Argon2id (Node and browsers) or a non-extractable WebCrypto key kept by this browser ("stay
 * signed in"). The client machine depends only on the `ProfileKeySource` interface, so a platform
 * can add another way to unlock (a platform authenticator) without touching the store.
 *
 * Isomorphic: no Node built-ins, so the browser bundle can import this folder whole. */
export {
  KEY_HEADER_FORMAT,
  KEY_HEADER_VERSION,
  MAX_KEY_SLOTS,
  KeyHeaderSchema,
  KeySlotSchema,
  encodeKeyHeader,
  parseKeyHeader,
  createKeyHeader,
  unlockKeyHeader,
  addKeySlot,
  removeKeySlots,
  type KeyHeader,
  type KeySlot,
  type KeySlotKind,
  type ProfileKeySource,
} from './header.js';
export { PassphraseKeySource, type PassphraseKeySourceOptions, type PassphraseDerive } from './passphrase.js';
/** For a platform's own `PassphraseDerive` (a Web Worker): the derivation it must reproduce. */
export { deriveProfileKey } from '../crypto/profile-crypto.js';
export { WebCryptoKeySource, DEVICE_KEY_DB, type WebCryptoKeySourceOptions } from './webcrypto.js';
