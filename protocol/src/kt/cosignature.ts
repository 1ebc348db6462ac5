/** C2SP tlog-cosignature, Ed25519 flavour (signature type 0x04, "cosignature/v1"). A witness signs
 *   "cosignature/v1\ntime <T>\n" ‖ checkpoint body
 * and the note signature bytes after the key ID are u64be(T) ‖ Ed25519 signature (72 bytes).
 * The signed message does not name the witness, so a cosignature line can be copied under any other
 * name: whoever counts witnesses must count public keys, never names (see verifyCheckpoint). */
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';
import { bytesEqual, concatBytes, utf8 } from '../encoding.js';
import {
  NoteError,
  SIG_TYPE_COSIGNATURE_V1,
  ed25519VerifyStrict,
  formatVkey,
  isValidKeyName,
  keyIdFor,
  parseCheckpoint,
  type NoteSignature,
} from './note.js';

const COSIGNATURE_LENGTH = 8 + 64;

export function cosignatureKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return keyIdFor(name, SIG_TYPE_COSIGNATURE_V1, publicKey);
}

export function cosignatureVkey(name: string, publicKey: Uint8Array): string {
  return formatVkey(name, SIG_TYPE_COSIGNATURE_V1, publicKey);
}

function checkTimestamp(timestamp: number): void {
  // The spec allows up to 2^63 − 1; a JS number is exact only up to 2^53 − 1, far beyond any real clock.
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new NoteError('cosignature timestamp out of range');
}

/** The exact bytes a cosigner signs. `checkpointBody` must be a well-formed checkpoint body. */
export function cosignatureMessage(checkpointBody: string, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  parseCheckpoint(checkpointBody);
  return utf8(`cosignature/v1\ntime ${timestamp}\n${checkpointBody}`);
}

function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(n / 0x1_0000_0000));
  view.setUint32(4, n >>> 0);
  return out;
}

/** Cosigns a checkpoint body at `timestamp` (POSIX seconds) with an Ed25519 seed. */
export function cosign(checkpointBody: string, name: string, seed: Uint8Array, timestamp: number): NoteSignature {
  if (!isValidKeyName(name)) throw new NoteError('invalid key name');
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new NoteError('an Ed25519 seed is 32 bytes');
  const message = cosignatureMessage(checkpointBody, timestamp);
  const publicKey = crypto().ed25519PublicKey(seed);
  return {
    name,
    keyId: cosignatureKeyId(name, publicKey),
    signature: concatBytes(u64be(timestamp), crypto().ed25519Sign(seed, message)),
  };
}

/** The timestamp a cosignature claims, WITHOUT verifying it; undefined if the bytes are not a
 * cosignature/v1 signature or the time is beyond 2^53 − 1. */
export function cosignatureTimestamp(sig: NoteSignature): number | undefined {
  if (sig.signature.length !== COSIGNATURE_LENGTH) return undefined;
  const view = new DataView(sig.signature.buffer, sig.signature.byteOffset, 8);
  const t = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
  return Number.isSafeInteger(t) ? t : undefined;
}

/** Checks one signature line against one witness: name and key ID must match, the line must be a
 * 72-byte cosignature/v1 and the Ed25519 signature must verify over the body at its timestamp.
 * Returns the timestamp, or undefined for any mismatch (freshness is the caller's policy). */
export function verifyCosignature(
  checkpointBody: string,
  sig: NoteSignature,
  witness: { name: string; publicKey: Uint8Array },
): { timestamp: number } | undefined {
  if (sig.name !== witness.name || witness.publicKey.length !== 32) return undefined;
  if (!bytesEqual(sig.keyId, cosignatureKeyId(witness.name, witness.publicKey))) return undefined;
  const timestamp = cosignatureTimestamp(sig);
  if (timestamp === undefined) return undefined;
  let message: Uint8Array;
  try {
    message = cosignatureMessage(checkpointBody, timestamp);
  } catch {
    return undefined;
  }
  return ed25519VerifyStrict(witness.publicKey, message, sig.signature.subarray(8)) ? { timestamp } : undefined;
}
