/** Names people read to decide whom they add and where they write: persons, departments, groups.
 * One name must point at one thing, so names are compared by a key that folds what a reader cannot
 * tell apart (case, Unicode normal form, runs of spaces), and characters that change how a name is
 * displayed without being seen (bidi overrides, zero-width and other format characters, controls)
 * are refused outright: "Ben Weber" must not hide a right-to-left override or a zero-width joiner. */
import * as z from 'zod';
import { LIMITS } from './limits.js';

/** Letters that render as nothing in common fonts, though Unicode does not class them as format
 * characters (Hangul fillers, the Mongolian vowel separator, the braille blank). */
const INVISIBLE_LETTERS = new Set([0x115f, 0x1160, 0x3164, 0xffa0, 0x180e, 0x2800, 0x034f, 0x17b4, 0x17b5]);

/** Why a name is refused, or undefined when it is acceptable. `\p{Cf}` covers the bidi embeddings,
 * overrides and isolates (U+202A–E, U+2066–9), the marks U+200E/F and U+061C, the zero-width
 * characters U+200B–D, U+2060 and U+FEFF; `\p{Cc}` the controls; `\p{Cs}`/`\p{Co}`/`\p{Cn}` lone
 * surrogates, private-use and unassigned code points, whose rendering nobody can predict. */
export function nameProblem(name: string): string | undefined {
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    if (/\p{Cc}/u.test(ch)) return `must not contain control characters (U+${hex(cp)})`;
    if (/[\p{Cf}\p{Zl}\p{Zp}]/u.test(ch) || INVISIBLE_LETTERS.has(cp)) {
      return `must not contain invisible or text-direction characters (U+${hex(cp)})`;
    }
    if (/[\p{Cs}\p{Co}\p{Cn}]/u.test(ch)) return `must not contain unassigned, private-use or surrogate code points (U+${hex(cp)})`;
  }
  return undefined;
}

function hex(cp: number): string {
  return cp.toString(16).toUpperCase().padStart(4, '0');
}

/** The key two names are compared by: compatibility-normalised (NFKC, which includes NFC and also
 * folds full-width and other look-alike forms), every run of spaces as one plain space, trimmed,
 * and case-folded (upper then lower, so "STRASSE" and "straße" meet). */
export function nameKey(name: string): string {
  return name
    .normalize('NFKC')
    .replace(/\s+/gu, ' ')
    .trim()
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC');
}

/** True when two names would be taken for one another. */
export function sameName(a: string, b: string): boolean {
  return nameKey(a) === nameKey(b);
}

/** A name as the relay accepts it (persons, departments, groups): trimmed, 1–nameChars characters,
 * nothing invisible. Checked before trimming, because trim() silently drops U+FEFF and a name a
 * device signed with one must be refused, not changed. */
export const Name = z
  .string()
  .superRefine((value, ctx) => {
    const problem = nameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .trim()
  .min(1)
  .max(LIMITS.nameChars);
