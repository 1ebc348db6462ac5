/** The key header: the one clear record of a profile, read before anything can be decrypted. It
 * holds one or more slots, each the random storage key wrapped by one key source (a passphrase, a
 * non-extractable browser key), as LUKS does: a second way to unlock is a new slot, a new
 * passphrase rewraps one slot, and neither re-encrypts the store.
 *
 * The format is its own, versioned and validated here; it imports nothing from the wire protocol
 * or the client state, so neither can change it by accident (a snapshot test freezes it). */
import * as z from 'zod';
import { AgoraError } from '../core/errors.js';
import { KdfParamsSchema } from '../crypto/profile-crypto.js';
import { fromUtf8, utf8 } from '@agora/protocol/encoding';
import { platformRandom } from '@agora/protocol/crypto/random';
import type { StorageKey } from '../store/types.js';

export const KEY_HEADER_FORMAT = 'agora-key-header';
export const KEY_HEADER_VERSION = 1;
/** Enough for a passphrase, a device key per browser profile and a spare; bounds the work a crafted
 * header can cause (each Argon2id slot costs a derivation). */
export const MAX_KEY_SLOTS = 8;
/** A header is a few hundred bytes; this refuses a huge one before JSON.parse. */
const MAX_HEADER_BYTES = 16 * 1024;

const B64u = (bytes: number) =>
  z
    .string()
    .length(Math.ceil((bytes * 4) / 3))
    .regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');

/** nonce (24) || XChaCha20-Poly1305 of the 32-byte storage key || tag (16) */
const SodiumWrapped = B64u(24 + 32 + 16);

export const Argon2idSlotSchema = z.strictObject({
  kind: z.literal('argon2id'),
  kdf: KdfParamsSchema,
  wrapped: SodiumWrapped,
});

export const WebCryptoSlotSchema = z.strictObject({
  kind: z.literal('webcrypto-aes-gcm'),
  /** Names the non-extractable CryptoKey in this browser's IndexedDB. */
  keyId: B64u(16),
  iv: B64u(12),
  /** AES-GCM of the 32-byte storage key with its 16-byte tag. */
  wrapped: B64u(32 + 16),
});

export const KeySlotSchema = z.discriminatedUnion('kind', [Argon2idSlotSchema, WebCryptoSlotSchema]);
export type KeySlot = z.infer<typeof KeySlotSchema>;
export type KeySlotKind = KeySlot['kind'];

export const KeyHeaderSchema = z.strictObject({
  format: z.literal(KEY_HEADER_FORMAT),
  v: z.literal(KEY_HEADER_VERSION),
  slots: z.array(KeySlotSchema).min(1).max(MAX_KEY_SLOTS),
});
export type KeyHeader = z.infer<typeof KeyHeaderSchema>;

/** Associated data of a wrapped storage key: a slot of one kind cannot be passed off as another. */
export function slotAad(kind: KeySlotKind): Uint8Array {
  return utf8(`${KEY_HEADER_FORMAT}-v${KEY_HEADER_VERSION}:${kind}`);
}

export interface ProfileKeySource {
  readonly kind: KeySlotKind;
  /** Wraps the storage key into a new slot of this source. */
  enroll(storageKey: StorageKey): Promise<KeySlot>;
  /** Unwraps a slot of this source's kind. Throws AgoraError `wrong_passphrase` when this source
   * cannot open it (wrong passphrase, the device key is gone), `profile_corrupt` when the slot
   * itself is unusable. */
  unlock(slot: KeySlot): Promise<StorageKey>;
}

export function encodeKeyHeader(header: KeyHeader): Uint8Array {
  // Parse first: the bytes written are exactly what a later parse accepts (key order included).
  return utf8(JSON.stringify(KeyHeaderSchema.parse(header)));
}

export function parseKeyHeader(bytes: Uint8Array, where: string): KeyHeader {
  let json: unknown;
  try {
    if (bytes.length > MAX_HEADER_BYTES) throw new Error('too large');
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new AgoraError('profile_corrupt', `the key header at ${where} is not readable`);
  }
  const parsed = KeyHeaderSchema.safeParse(json);
  if (!parsed.success) {
    const v = (json as { v?: unknown } | null)?.v;
    if (typeof v === 'number' && v > KEY_HEADER_VERSION) throw new AgoraError('profile_corrupt', `the key header at ${where} is version ${v}, newer than this release reads (${KEY_HEADER_VERSION})`);
    throw new AgoraError('profile_corrupt', `the key header at ${where} is invalid (${parsed.error.issues[0]?.path.join('.') || 'format'})`);
  }
  return parsed.data;
}

/** A new profile: a random storage key, wrapped by each source given (at least one). */
export async function createKeyHeader(sources: readonly ProfileKeySource[]): Promise<{ key: StorageKey; header: KeyHeader }> {
  if (sources.length < 1 || sources.length > MAX_KEY_SLOTS) throw new RangeError(`a key header has 1 to ${MAX_KEY_SLOTS} slots`);
  const key = platformRandom(32);
  const slots: KeySlot[] = [];
  for (const source of sources) slots.push(await source.enroll(key));
  return { key, header: { format: KEY_HEADER_FORMAT, v: KEY_HEADER_VERSION, slots } };
}

/** Tries the source on each of its slots. The last failure is rethrown, so a wrong passphrase is
 * reported as such, not as "no slot". */
export async function unlockKeyHeader(header: KeyHeader, source: ProfileKeySource): Promise<StorageKey> {
  const mine = header.slots.filter((s) => s.kind === source.kind);
  if (mine.length === 0) throw new AgoraError('wrong_passphrase', `this profile cannot be unlocked with a ${source.kind} key on this device`);
  let failure: unknown;
  for (const slot of mine) {
    try {
      return await source.unlock(slot);
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

/** Adds a way to unlock (e.g. "stay signed in on this device" after a passphrase unlock). */
export async function addKeySlot(header: KeyHeader, key: StorageKey, source: ProfileKeySource): Promise<KeyHeader> {
  if (header.slots.length >= MAX_KEY_SLOTS) throw new RangeError(`a key header has at most ${MAX_KEY_SLOTS} slots`);
  return { ...header, slots: [...header.slots, await source.enroll(key)] };
}

/** Drops slots (e.g. signing out of this device drops its device-key slot); the last slot stays,
 * or the profile could never be opened again. */
export function removeKeySlots(header: KeyHeader, drop: (slot: KeySlot) => boolean): KeyHeader {
  const slots = header.slots.filter((s) => !drop(s));
  if (slots.length === 0) throw new RangeError('removing these slots would leave no way to unlock the profile');
  return { ...header, slots };
}
