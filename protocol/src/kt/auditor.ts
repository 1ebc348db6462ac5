/** The security officer's audit key and the member lists sealed to it. A secret group's membership
 * entry in the log carries only a salted commitment to its member devices; the committer also seals
 * the list and the salt to each auditor of its policy (libsodium crypto_box_seal to the auditor's
 * X25519 key), so the audit can still say who could read which group when, while every other reader
 * of the log learns only the group id, the epoch and the committer.
 *
 * The sealed box is anonymous: what makes its content trustworthy is the signed commitment next to
 * it, which the audit recomputes from the opened list and salt. */
import { bytesEqual, fromB64u, toB64u } from '../encoding.js';
import { getSodium } from '../crypto/sodium.js';
import {
  auditorKeyId, compareBytes, decodeSealedMembers, encodeSealedMembers, membershipCommitment, MAX_SEALED_AUDITORS,
  type GroupMembershipEntry, type SealedForAuditor,
} from './entries.js';
import type { Policy } from './policy.js';
import type { AuditorKey } from './auditor-key.js';

export type PolicyAuditor = Policy['auditors'][number];

/** Seals {salt, members} to each auditor of the policy, one copy per distinct key, in the order the
 * entry requires (by auditor id). */
export async function sealForAuditors(auditors: readonly PolicyAuditor[], salt: Uint8Array, members: readonly string[]): Promise<SealedForAuditor[]> {
  if (auditors.length === 0) return [];
  const sodium = await getSodium();
  const plaintext = encodeSealedMembers({ salt, members });
  const byId = new Map<string, SealedForAuditor>();
  for (const a of auditors) {
    const encPub = fromB64u(a.encPub);
    const auditor = auditorKeyId(encPub);
    const key = toB64u(auditor);
    if (!byId.has(key)) byId.set(key, { auditor, sealed: sodium.crypto_box_seal(plaintext, encPub) });
  }
  if (byId.size > MAX_SEALED_AUDITORS) throw new RangeError(`a policy may name at most ${MAX_SEALED_AUDITORS} auditor keys`);
  return [...byId.values()].sort((a, b) => compareBytes(a.auditor, b.auditor));
}

/** Why a sealed list could not be used; the audit reports it as a violation. */
export class SealedMembersError extends Error {
  override name = 'SealedMembersError';
}

export interface AuditorOpener {
  id: Uint8Array;
  open(sealed: Uint8Array): Uint8Array;
}

export async function auditorOpener(key: AuditorKey): Promise<AuditorOpener> {
  const sodium = await getSodium();
  const encSecret = fromB64u(key.encSecret);
  const encPub = sodium.crypto_scalarmult_base(encSecret);
  return { id: auditorKeyId(encPub), open: (sealed) => sodium.crypto_box_seal_open(sealed, encPub, encSecret) };
}

/** The members of a version-2 membership entry as the auditor's sealed copy gives them, after checking
 * the copy against the signed commitment. Undefined when the entry has no copy for this auditor;
 * SealedMembersError when the copy does not open or does not match the commitment. */
export function openSealedMembers(entry: GroupMembershipEntry, opener: AuditorOpener): string[] | undefined {
  const mine = entry.sealedForAuditors.find((s) => bytesEqual(s.auditor, opener.id));
  if (!mine) return undefined;
  let opened;
  try {
    opened = decodeSealedMembers(opener.open(mine.sealed));
  } catch {
    throw new SealedMembersError('the member list sealed to this auditor does not open');
  }
  if (!bytesEqual(membershipCommitment(opened.salt, opened.members), entry.commitment)) {
    throw new SealedMembersError('the member list sealed to this auditor is not the one the committer signed');
  }
  return opened.members;
}
