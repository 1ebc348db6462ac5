/** A secret group's membership as the key-transparency log keeps it: a commitment to the member
 * devices under a salt only the group's members can export from the MLS epoch. This module derives
 * the commitment a device expects from its own MLS state; the committer signs it (and seals the list
 * to the auditors), every member later checks the logged one against it (KtTrust.checkMembership).
 * Sans-I/O. */
import { membershipInputs } from '../mls/index.js';
import { membershipCommitment } from '@agora/protocol/kt/entries';
import { toB64u } from '@agora/protocol/encoding';
import type { GroupLocal } from './state.js';

export type MembershipCheck = GroupLocal['membershipChecks'][number];

/** The member devices of an MLS state, the epoch's salt and the commitment over both. */
export async function membershipOf(state: Uint8Array): Promise<{ members: string[]; salt: Uint8Array; commitment: Uint8Array }> {
  const { members, salt } = await membershipInputs(state);
  return { members, salt, commitment: membershipCommitment(salt, members) };
}

/** What to look for in the log once the relay's epoch `epoch` starts with `state`. */
export async function membershipCheckFor(state: Uint8Array, epoch: number, committer: string): Promise<MembershipCheck> {
  return { epoch, committer, commitment: toB64u((await membershipOf(state)).commitment), since: null };
}
