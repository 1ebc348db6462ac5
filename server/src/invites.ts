/** Invite codes: what an administrator reads out or prints for a new colleague. */
import { randomBytes } from 'node:crypto';

/** RFC 4648 base32 upper-case: without 0, 1 and 8 there is no O/0, I/1 or B/8 to confuse, and 32
 * symbols let each random byte give 5 unbiased bits. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const CODE_CHARS = 20;

/** 20 symbols (100 bits) shown as five dash-separated groups of four, e.g. `K7QM-2XHP-...`. */
export function generateInviteCode(): string {
  const bytes = randomBytes(CODE_CHARS);
  let code = '';
  for (let i = 0; i < CODE_CHARS; i++) {
    if (i > 0 && i % 4 === 0) code += '-';
    code += ALPHABET[bytes[i] & 31];
  }
  return code;
}
