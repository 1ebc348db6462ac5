/** The exact bytes each party signs, with a domain-separation label per purpose so a signature
 * made for one purpose can never be replayed as another. Shared by relay (verifies) and SDK (signs). */
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromB64u, utf8 } from './encoding.js';

export function registerProofMessage(input: { invite: string; signPub: string; encPub: string }): Uint8Array {
  return concatBytes(
    utf8('agora-register-v1\n'),
    sha256(utf8(normaliseInvite(input.invite))),
    fromB64u(input.signPub),
    fromB64u(input.encPub),
  );
}

export function authChallengeMessage(input: { deviceId: string; challenge: string }): Uint8Array {
  return concatBytes(utf8('agora-auth-v1\n'), utf8(input.deviceId), utf8('\n'), fromB64u(input.challenge));
}

/** Invite codes are stored by hash: a copy of the database does not hold a usable code. */
export function inviteHash(code: string): Uint8Array {
  return sha256(utf8(normaliseInvite(code)));
}

/** People read codes off paper and phones: accept any case and missing dashes. */
export function normaliseInvite(code: string): string {
  return code.trim().toUpperCase().replace(/-/g, '');
}
