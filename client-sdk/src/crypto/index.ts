/** The SDK's content-crypto layer: device keys, signed-then-encrypted content records, organisation-key
 * generations and device-to-device sealed payloads, and encryption of local state at rest. Sans-I/O
 * and isomorphic (no node:* imports); libsodium (sumo build, for Argon2id) is loaded on first use.
 * Random bytes come from the caller's RandomSource (the client machine's injected one), by default
 * the platform's CSPRNG (@agora/protocol/crypto/random), never from libsodium's own. */
export { getSodium, type Sodium } from '@agora/protocol/crypto/sodium';
export { generateDeviceKeys, sign, verify, signPubFromSeed, encPubFromSecret, type DeviceKeys } from '@agora/protocol/crypto/device-keys';
export {
  RECORD_VERSION,
  MAX_TEXT_CHARS,
  RECORD_OVERHEAD,
  RecordId,
  ContentRecordSchema,
  type ContentRecord,
  type RecordRejection,
  RecordRejected,
  canonicalRecordBytes,
  recordCiphertextBytes,
  sealRecord,
  openRecord,
  checkCounter,
} from './records.js';
export {
  MAX_SEALED_CHARS,
  SealedRejected,
  newOrgKey,
  sealToDevice,
  openFromDevice,
  sealOrgKey,
  openOrgKey,
  derivePublicGroupKey,
  type SealPurpose,
  type SealRejection,
  type SealRecipient,
  type Sealer,
  type SealSelf,
  type SealerLookup,
} from './orgkeys.js';
export {
  KDF_OPSLIMIT,
  KDF_MEMLIMIT,
  KdfParamsSchema,
  ProfileDecryptError,
  newKdfParams,
  deriveProfileKey,
  encryptProfile,
  decryptProfile,
  type KdfParams,
} from './profile-crypto.js';
export { measureRecordCrypto, measureKdf, measureOrgKeySeal, type RecordCryptoTiming } from './measure.js';
