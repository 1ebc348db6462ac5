/** Owners of a secret group: the people who may add and remove other people. The relay cannot read
 * commits, so this is enforced by every member's client while it processes each commit, and a
 * commit that breaks the rule is voided by all of them alike (see ingest).
 *
 * Every commit carries the owner set that holds after it in its MLS authenticated data, sealed
 * under the content key of the epoch the commit is built on, so the relay (which sees the
 * PrivateMessage's authenticated data in the clear) does not learn who the owners are, while the
 * committer's MLS signature and the PrivateMessage AEAD bind the set to the commit. Members check
 * the set against the one they hold. A device that joins learns the set (and the group's name) from
 * the Welcome: the adder puts them in a GroupInfo extension that it signs and MLS encrypts to the
 * joiners (encodeWelcomeInfo), so the joiner applies the owner rule from the very first commit
 * after its add, exactly as every other member does. Only a Welcome without it (from a release
 * before it) leaves the joiner adopting the set from the first commit it processes.
 *
 * Sealed set: u8 version (1) || nonce (24) || XChaCha20-Poly1305(JSON array of sorted user ids,
 * aad = "agora-owners-v1\n" || groupId). */
import * as z from 'zod';
import { UserId } from '@agora/protocol/api';
import { Name } from '@agora/protocol/names';
import { MAX_DESCRIPTION_CHARS } from '../crypto/records.js';
import { concatBytes, fromUtf8, utf8 } from '@agora/protocol/encoding';
import { platformRandom, type RandomSource } from '@agora/protocol/crypto/random';
import { getSodium } from '@agora/protocol/crypto/sodium';

const VERSION = 1;
const NONCE_BYTES = 24;
const LABEL = utf8('agora-owners-v1\n');
/** More owners than this is not a list of owners; it also bounds what a commit makes members parse. */
const MAX_OWNERS = 1_000;

const OwnerList = z.array(UserId).max(MAX_OWNERS);

export async function sealOwners(owners: readonly string[], key: Uint8Array, groupId: string, random: RandomSource = platformRandom): Promise<Uint8Array> {
  const sodium = await getSodium();
  const nonce = random(NONCE_BYTES);
  const body = utf8(JSON.stringify([...new Set(owners)].sort()));
  const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(body, concatBytes(LABEL, utf8(groupId)), null, nonce, key);
  return concatBytes(Uint8Array.of(VERSION), nonce, sealed);
}

/** The owner set a commit carries; null when it carries none; throws when it carries a set that
 * does not open or parse (a commit a member refuses). */
export async function openOwners(data: Uint8Array, key: Uint8Array, groupId: string): Promise<string[] | null> {
  if (data.length === 0) return null;
  if (data[0] !== VERSION || data.length < 1 + NONCE_BYTES + 16) throw new Error('owner set of an unknown format');
  const sodium = await getSodium();
  let body: Uint8Array;
  try {
    body = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, data.subarray(1 + NONCE_BYTES), concatBytes(LABEL, utf8(groupId)), data.subarray(1, 1 + NONCE_BYTES), key);
  } catch {
    throw new Error('owner set does not open under the epoch key');
  }
  const parsed = OwnerList.safeParse(JSON.parse(fromUtf8(body)));
  if (!parsed.success) throw new Error('owner set is malformed');
  const sorted = [...new Set(parsed.data)].sort();
  if (sorted.length !== parsed.data.length || sorted.some((u, i) => u !== parsed.data[i])) throw new Error('owner set is not sorted and distinct');
  return sorted;
}

export interface CommitFacts {
  /** Owners before the commit; empty = not known to this device (a group from an older release). */
  owners: readonly string[];
  committerUser: string;
  added: readonly { deviceId: string; userId: string }[];
  /** Devices the commit removes from the MLS tree. */
  removed: readonly string[];
  /** The key-transparency log proves the device revoked or its person deactivated. */
  revoked(deviceId: string): boolean;
  /** The owner set the commit states (null: none). */
  stated: readonly string[] | null;
  /** The people with a leaf after the commit. */
  peopleAfter: ReadonlySet<string>;
}

/** Whether a commit keeps to the owner rule, and the owner set after it:
 * - an owner may add and remove anyone and name further owners (among the people in the group);
 * - any member may send a pure update, add its own person's devices, and remove devices the log
 *   proves revoked or deactivated, and must restate the owner set unchanged;
 * - owners who are no longer in the group drop out of the set.
 * An empty set of owners is not enforced (groups from before owners existed): such a group adopts
 * the first owner set a commit states. */
export function ownerVerdict(f: CommitFacts): { ok: true; owners: string[] } | { ok: false; reason: string } {
  const remaining = (set: readonly string[]) => [...new Set(set)].filter((u) => f.peopleAfter.has(u)).sort();
  if (f.owners.length === 0) return { ok: true, owners: remaining(f.stated ?? []) };
  if (f.stated === null) return { ok: false, reason: 'the commit states no owner set' };
  const before = remaining(f.owners);
  const stated = remaining(f.stated);
  if (f.stated.some((u) => !f.peopleAfter.has(u))) return { ok: false, reason: 'the commit names an owner who is not in the group' };
  if (f.owners.includes(f.committerUser)) {
    if (before.some((u) => !stated.includes(u))) return { ok: false, reason: 'an owner was dropped from the owner set' };
    return { ok: true, owners: stated };
  }
  if (stated.length !== before.length || stated.some((u, i) => u !== before[i])) {
    return { ok: false, reason: 'only an owner may name owners' };
  }
  if (f.added.some((a) => a.userId !== f.committerUser)) return { ok: false, reason: 'only an owner may add other people' };
  if (f.removed.some((d) => !f.revoked(d))) return { ok: false, reason: 'only an owner may remove a device the log does not show revoked' };
  return { ok: true, owners: stated };
}

const WELCOME_INFO_VERSION = 1;
const WelcomeInfo = z.strictObject({
  v: z.literal(WELCOME_INFO_VERSION),
  owners: OwnerList,
  name: Name.optional(),
  description: z.string().max(MAX_DESCRIPTION_CHARS).optional(),
});
export interface JoinInfo { owners: string[]; name?: string; description?: string }

/** What the adder tells the devices it adds, in its Welcome: the owner set that holds after the
 * commit and the group's current name. JSON; the Welcome's GroupInfo signature and encryption
 * protect it. */
export function encodeWelcomeInfo(info: JoinInfo): Uint8Array {
  const body: z.infer<typeof WelcomeInfo> = { v: WELCOME_INFO_VERSION, owners: [...new Set(info.owners)].sort() };
  if (info.name) body.name = info.name;
  if (info.description !== undefined) body.description = info.description;
  return utf8(JSON.stringify(body));
}

/** Reads a Welcome's group description. Owners are kept only if they are people with a leaf in the
 * joined tree (`people`), as every member's owner rule drops owners who left; throws on a malformed
 * description (the joiner then refuses the Welcome rather than guess the owners). */
export function decodeWelcomeInfo(data: Uint8Array, people: ReadonlySet<string>): JoinInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8(data));
  } catch {
    throw new Error('the group description in the Welcome is not JSON');
  }
  const info = WelcomeInfo.safeParse(parsed);
  if (!info.success) throw new Error('the group description in the Welcome is malformed');
  const owners = [...new Set(info.data.owners)].filter((u) => people.has(u)).sort();
  return { owners, ...(info.data.name === undefined ? {} : { name: info.data.name }), ...(info.data.description === undefined ? {} : { description: info.data.description }) };
}
