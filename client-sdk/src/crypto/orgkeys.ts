/** Organisation-key generations for public groups, and device-to-device sealed payloads. Public
 * groups share one key per generation, rotated when someone leaves, so their content is readable by
 * every employee and no longer by leavers.
 *
 * A generation is 32 random bytes, sealed separately to every active device's X25519 key. A sealed
 * payload is an anonymous sealed box (crypto_box_seal format) around a frame that the sealing device
 * signed, so the recipient learns who sealed it and the relay can neither forge nor redirect one:
 *   box plaintext = u8 version (1) || u8 purpose || u16 len || recipient device id
 *                   || u16 len || sealer device id || Ed25519 signature (64) || payload
 *   signed bytes  = "agora-sealed-v1\n" || u16 len || purpose || u16 len || recipient device id
 *                   || recipient X25519 key (32) || u16 len || sealer device id || payload
 * Binding the recipient's id and key stops a recipient from re-sealing what it received to another
 * device as if the original sealer had meant it for that device; binding the purpose stops a history
 * bundle from being taken for an organisation key and vice versa.
 *
 * Each public group's content key is HKDF-SHA256 of the generation key with the group id as info, so
 * one sealed generation serves every public group and a group key reveals neither the generation
 * key nor another group's key. */
import { LIMITS } from '@agora/protocol/limits';
import { concatBytes, fromB64u, fromUtf8, toB64u, utf8 } from '@agora/protocol/encoding';
import { platformRandom, type RandomSource } from '@agora/protocol/crypto/random';
import { loadedCryptoProvider } from '@agora/protocol/crypto/provider';
import { FrameError, Reader, lp16, readU64, u64, u8 } from '@agora/protocol/crypto/bytes';
import { sign, verify } from '@agora/protocol/crypto/device-keys';
import { getSodium, type Sodium } from '@agora/protocol/crypto/sodium';

export type SealPurpose = 'orgkey' | 'history';
const PURPOSES: readonly SealPurpose[] = ['orgkey', 'history'];
const purposeCode = (purpose: SealPurpose): number => PURPOSES.indexOf(purpose) + 1;

const SEALED_VERSION = 1;
const SEAL_LABEL = utf8('agora-sealed-v1\n');
const SIGNATURE_BYTES = 64;
/** crypto_box_seal: ephemeral public key (32) and Poly1305 tag (16). */
const SEAL_OVERHEAD = 48;
/** Envelope.sealed holds at most 1,024 base64url characters; HistoryRequest.payload up to
 * LIMITS.mlsMessageChars. */
export const MAX_SEALED_CHARS: Readonly<Record<SealPurpose, number>> = { orgkey: 1024, history: LIMITS.mlsMessageChars };

export type SealRejection =
  | 'decrypt_failed'
  | 'malformed'
  | 'unsupported_version'
  | 'wrong_purpose'
  | 'wrong_recipient'
  | 'unknown_sealer'
  | 'bad_signature'
  | 'wrong_generation';

/** Why a sealed payload was refused; the message never holds key material or payload bytes. */
export class SealedRejected extends Error {
  override readonly name = 'SealedRejected';
  readonly reason: SealRejection;
  constructor(reason: SealRejection, detail?: string) {
    super(detail ? `sealed payload rejected: ${reason} (${detail})` : `sealed payload rejected: ${reason}`);
    this.reason = reason;
  }
}

export interface SealRecipient {
  deviceId: string;
  encPub: Uint8Array;
}
export interface Sealer {
  deviceId: string;
  signSeed: Uint8Array;
}
export interface SealSelf {
  deviceId: string;
  encPub: Uint8Array;
  encSecret: Uint8Array;
}
/** Resolves a sealing device's Ed25519 key, e.g. from the directory after its key-transparency
 * check; undefined for a device the caller does not trust. */
export type SealerLookup = (deviceId: string) => Uint8Array | undefined;

export function newOrgKey(random: RandomSource = platformRandom): Uint8Array {
  return random(32);
}

function signedBytes(purpose: SealPurpose, recipientId: string, recipientEncPub: Uint8Array, sealerId: string, payload: Uint8Array): Uint8Array {
  return concatBytes(SEAL_LABEL, lp16(utf8(purpose)), lp16(utf8(recipientId)), recipientEncPub, lp16(utf8(sealerId)), payload);
}

/** crypto_box_seal, byte for byte (crypto_box_seal_open opens it), with the ephemeral secret taken
 * from the caller's randomness source: libsodium's own randombytes made sealing ~60% slower here,
 * which counts when a generation is sealed to every device of the organisation. */
function boxSeal(sodium: Sodium, message: Uint8Array, recipientPub: Uint8Array, random: RandomSource): Uint8Array {
  const ephemeralSecret = random(32);
  try {
    const ephemeralPub = sodium.crypto_scalarmult_base(ephemeralSecret);
    const nonce = sodium.crypto_generichash(24, concatBytes(ephemeralPub, recipientPub), null);
    return concatBytes(ephemeralPub, sodium.crypto_box_easy(message, nonce, recipientPub, ephemeralSecret));
  } finally {
    ephemeralSecret.fill(0);
  }
}

/** Seals a payload to one device: a sealed box to its X25519 key of the payload signed by the sealing
 * device, with a domain label, the recipient device id and the purpose inside the signed part so it
 * cannot be redirected. */
export async function sealToDevice(input: {
  purpose: SealPurpose;
  payload: Uint8Array;
  recipient: SealRecipient;
  sealer: Sealer;
  /** Draws the ephemeral key; the platform's CSPRNG unless the caller injects its own. */
  random?: RandomSource;
}): Promise<string> {
  const { purpose, payload, recipient, sealer } = input;
  if (!PURPOSES.includes(purpose)) throw new RangeError('unknown seal purpose');
  if (recipient.encPub.length !== 32) throw new RangeError('an X25519 public key is 32 bytes');
  const signature = await sign(sealer.signSeed, signedBytes(purpose, recipient.deviceId, recipient.encPub, sealer.deviceId, payload));
  const plaintext = concatBytes(
    u8(SEALED_VERSION),
    u8(purposeCode(purpose)),
    lp16(utf8(recipient.deviceId)),
    lp16(utf8(sealer.deviceId)),
    signature,
    payload,
  );
  const maxChars = MAX_SEALED_CHARS[purpose];
  if (Math.ceil(((plaintext.length + SEAL_OVERHEAD) * 4) / 3) > maxChars) {
    throw new RangeError(`sealed ${purpose} payload would exceed ${maxChars} characters`);
  }
  const sodium = await getSodium();
  return toB64u(boxSeal(sodium, plaintext, recipient.encPub, input.random ?? platformRandom));
}

/** Opens a sealed payload addressed to this device. Throws SealedRejected for an unknown sealer, a
 * bad signature, another recipient or another purpose. */
export async function openFromDevice(input: {
  purpose: SealPurpose;
  sealed: string;
  self: SealSelf;
  sealerSignPub: SealerLookup;
}): Promise<{ payload: Uint8Array; sealedBy: string }> {
  const { purpose, self } = input;
  let box: Uint8Array;
  try {
    box = fromB64u(input.sealed);
  } catch {
    throw new SealedRejected('malformed', 'not base64url');
  }
  if (box.length < SEAL_OVERHEAD || input.sealed.length > MAX_SEALED_CHARS.history) throw new SealedRejected('malformed', 'length out of range');
  const sodium = await getSodium();
  let plaintext: Uint8Array;
  try {
    plaintext = sodium.crypto_box_seal_open(box, self.encPub, self.encSecret);
  } catch {
    throw new SealedRejected('decrypt_failed');
  }

  let sealedPurpose: SealPurpose | undefined;
  let recipientId: string;
  let sealerId: string;
  let signature: Uint8Array;
  let payload: Uint8Array;
  try {
    const reader = new Reader(plaintext);
    if (reader.u8() !== SEALED_VERSION) throw new SealedRejected('unsupported_version');
    sealedPurpose = PURPOSES[reader.u8() - 1];
    recipientId = fromUtf8(reader.lp16());
    sealerId = fromUtf8(reader.lp16());
    signature = reader.take(SIGNATURE_BYTES);
    payload = reader.rest();
  } catch (e) {
    if (e instanceof SealedRejected) throw e;
    throw new SealedRejected('malformed', e instanceof FrameError ? 'truncated' : 'undecodable');
  }
  if (sealedPurpose === undefined) throw new SealedRejected('malformed', 'unknown purpose');
  if (sealedPurpose !== purpose) throw new SealedRejected('wrong_purpose');
  if (recipientId !== self.deviceId) throw new SealedRejected('wrong_recipient');
  const sealerPub = input.sealerSignPub(sealerId);
  if (!sealerPub) throw new SealedRejected('unknown_sealer');
  if (!(await verify(sealerPub, signedBytes(purpose, recipientId, self.encPub, sealerId, payload), signature))) {
    throw new SealedRejected('bad_signature');
  }
  return { payload: payload.slice(), sealedBy: sealerId };
}

function checkGeneration(generation: number): void {
  if (!Number.isSafeInteger(generation) || generation < 1) throw new RangeError('a generation is a positive integer');
}

/** Seals organisation-key generation `generation` to one device; the generation number is inside the
 * signed payload, so the relay cannot file generation 3 under generation 4. */
export async function sealOrgKey(input: { generation: number; key: Uint8Array; recipient: SealRecipient; sealer: Sealer; random?: RandomSource }): Promise<string> {
  checkGeneration(input.generation);
  if (input.key.length !== 32) throw new RangeError('an organisation key is 32 bytes');
  return sealToDevice({
    purpose: 'orgkey',
    payload: concatBytes(u64(input.generation), input.key),
    recipient: input.recipient,
    sealer: input.sealer,
    random: input.random,
  });
}

export async function openOrgKey(input: {
  sealed: string;
  expectedGeneration: number;
  self: SealSelf;
  sealerSignPub: SealerLookup;
}): Promise<{ generation: number; key: Uint8Array; sealedBy: string }> {
  checkGeneration(input.expectedGeneration);
  const { payload, sealedBy } = await openFromDevice({ purpose: 'orgkey', sealed: input.sealed, self: input.self, sealerSignPub: input.sealerSignPub });
  if (payload.length !== 8 + 32) throw new SealedRejected('malformed', 'organisation key payload length');
  let generation: number;
  try {
    generation = readU64(new Reader(payload));
  } catch {
    throw new SealedRejected('malformed', 'generation');
  }
  if (generation !== input.expectedGeneration) throw new SealedRejected('wrong_generation');
  return { generation, key: payload.slice(8), sealedBy };
}

const COMMITMENT_LABEL = utf8('agora-orgkey-commitment-v1\n');

/** The commitment a generation's log entry carries: SHA-256("agora-orgkey-commitment-v1\n" ‖
 * lp16(organisation id) ‖ u64 generation ‖ key). A recipient that opens an envelope accepts the key
 * only if it hashes to the logged value, so neither the relay nor any sealing device (a revoked one
 * included) can hand out a key other than the one the generation's creator logged. The key is 32
 * uniformly random bytes, so publishing its hash reveals nothing usable about it; the label keeps
 * the hash apart from every other use of SHA-256 over the same bytes. */
export function orgKeyCommitment(orgId: string, generation: number, key: Uint8Array): Uint8Array {
  checkGeneration(generation);
  if (key.length !== 32) throw new RangeError('an organisation key is 32 bytes');
  return loadedCryptoProvider().sha256(concatBytes(COMMITMENT_LABEL, lp16(utf8(orgId)), u64(generation), key));
}

const PUBLIC_GROUP_SALT = utf8('agora public group v1');

/** Each public group's content key: HKDF-SHA256(ikm = generation key, salt = "agora public group v1",
 * info = group id), 32 bytes. Synchronous, as its callers are: the provider is loaded before any
 * public-group key exists on this device. */
export function derivePublicGroupKey(generationKey: Uint8Array, groupId: string): Uint8Array {
  if (generationKey.length !== 32) throw new RangeError('an organisation key is 32 bytes');
  if (groupId.length === 0) throw new RangeError('a group id is required');
  const crypto = loadedCryptoProvider();
  return crypto.hkdfExpand(crypto.hkdfExtract(PUBLIC_GROUP_SALT, generationKey), utf8(groupId), 32);
}

