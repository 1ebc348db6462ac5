/** The SDK's small `tlog` module: RFC 6962 / C2SP merkle-tree proofs, C2SP signed notes and
 * checkpoints, tlog-cosignature/v1 witness cosignatures, and the policy checks a client runs before
 * it trusts a checkpoint. Isomorphic and synchronous: the hashes and signatures come from the loaded
 * crypto provider (loadedCryptoProvider), so a caller awaits loadCryptoProvider() once before. */
export { leafHash, nodeHash, EMPTY_ROOT } from './hash.js';
export {
  ProofError,
  rootFromLeafHashes,
  rootFromInclusionProof,
  verifyInclusion,
  verifyConsistency,
  inclusionProof,
  consistencyProof,
} from './merkle.js';
export { encodeBase64, decodeBase64 } from './base64.js';
export {
  NoteError,
  SIG_TYPE_ED25519,
  SIG_TYPE_COSIGNATURE_V1,
  MAX_NOTE_SIGNATURES,
  isValidKeyName,
  isValidNoteText,
  keyIdFor,
  ed25519KeyId,
  formatVkey,
  ed25519Vkey,
  parseVkey,
  ed25519Skey,
  parseSkey,
  ed25519VerifyStrict,
  ed25519Verifier,
  verifierFromVkey,
  signNote,
  parseNote,
  formatNote,
  formatSignatureLine,
  openNote,
  parseCheckpoint,
  formatCheckpoint,
  type Note,
  type NoteSignature,
  type Verifier,
  type Checkpoint,
} from './note.js';
export {
  cosignatureKeyId,
  cosignatureVkey,
  cosignatureMessage,
  cosign,
  cosignatureTimestamp,
  verifyCosignature,
} from './cosignature.js';
export { PolicySchema, type Policy } from './policy.js';
export { AuditorKeySchema, auditorPolicyEntry, newAuditorKey, type AuditorKey } from './auditor-key.js';
export {
  KtError,
  MAX_FUTURE_SKEW_MS,
  verifyCheckpoint,
  verifyAppendOnly,
  type KtErrorCode,
  type VerifiedCheckpoint,
} from './checkpoint.js';
export * from './entries.js';
export { MerkleLevels } from './tree.js';
