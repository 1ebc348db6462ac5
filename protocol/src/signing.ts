/** The exact bytes each party signs, with a domain-separation label per purpose so a signature
 * made for one purpose can never be replayed as another. Shared by relay (verifies) and SDK (signs). */
import { loadedCryptoProvider as crypto } from './crypto/provider.js';
import { concatBytes, fromB64u, utf8 } from './encoding.js';
import { platformRandom, type RandomSource } from './crypto/random.js';

export function authChallengeMessage(input: { deviceId: string; challenge: string }): Uint8Array {
  return concatBytes(utf8('agora-auth-v1\n'), utf8(input.deviceId), utf8('\n'), fromB64u(input.challenge));
}

/** What a witness or auditor signs to read the key-transparency log: its own context string, so a
 * device sign-in signature can never stand in for it, nor one role's for the other's. */
export function ktReaderChallengeMessage(input: { role: 'witness' | 'auditor'; key: string; challenge: string }): Uint8Array {
  return concatBytes(utf8(`agora-kt-reader-v1\n${input.role}\n`), fromB64u(input.key), utf8('\n'), fromB64u(input.challenge));
}

/** The bytes an invite code's hash is SHA-256 of: the normalised code. */
export function inviteHashInput(code: string): Uint8Array {
  return utf8(normaliseInvite(code));
}

/** Invite codes are stored by hash: a copy of the database does not hold a usable code. */
export function inviteHash(code: string): Uint8Array {
  return crypto().sha256(inviteHashInput(code));
}

/** People read codes off paper and phones: accept any case and missing dashes. */
export function normaliseInvite(code: string): string {
  return code.trim().toUpperCase().replace(/-/g, '');
}

/** RFC 4648 base32 upper-case: without 0, 1 and 8 there is no O/0, I/1 or B/8 to confuse, and 32
 * symbols let each random byte give 5 unbiased bits. */
const INVITE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const INVITE_CHARS = 20;

/** A one-time invite code: 20 symbols (100 bits) shown as five dash-separated groups of four, e.g.
 * `K7QM-2XHP-...`. Made by whoever issues the invite: an administrator's or the person's own device,
 * and the relay only for the organisation's first administrator. */
export function generateInviteCode(random: RandomSource = platformRandom): string {
  const bytes = random(INVITE_CHARS);
  let code = '';
  for (let i = 0; i < INVITE_CHARS; i++) {
    if (i > 0 && i % 4 === 0) code += '-';
    code += INVITE_ALPHABET[bytes[i] & 31];
  }
  return code;
}
