/** The organisation's key-transparency policy file, loaded by clients at set-up: which log key and
 * origin to trust, which witnesses count, how many must vouch for a checkpoint and how recently.
 *
 * `witnesses[].name` is a human label for reports; signature lines are matched by the key name and
 * key ID inside `witnesses[].vkey` (a cosignature/v1, type 0x04, vkey). Quorum counts distinct
 * public keys, so listing one key twice, or under two names, never raises the count.
 *
 * With `quorum: 0` nothing is timestamped, so such a policy gives NO freshness guarantee: the relay
 * can keep serving an old (but correctly signed) checkpoint. Rollback below a checkpoint the client
 * already stored is still caught by the consistency check against it (verifyAppendOnly). */
import * as z from 'zod';
import { fromB64u } from '../encoding.js';
import { NoteError, SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, isValidNoteText, parseVkey } from './note.js';

const HHMM = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'expected HH:MM (24-hour clock)');

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function vkeyOfType(vkey: string, type: number): Uint8Array | string {
  try {
    const k = parseVkey(vkey);
    if (k.type !== type) return `expected a type 0x0${type} vkey, got 0x0${k.type}`;
    return k.publicKey;
  } catch (e) {
    return e instanceof NoteError ? e.message : 'malformed verifier key';
  }
}

function isKey32(k: string): boolean {
  if (!/^[A-Za-z0-9_-]{43}$/.test(k)) return false;
  try {
    return fromB64u(k).length === 32;
  } catch {
    return false;
  }
}

export const PolicySchema = z
  .strictObject({
    log: z.strictObject({
      /** The checkpoint origin line the log must use, e.g. "agora/<orgId>". */
      origin: z
        .string()
        .min(1)
        .max(1024)
        .refine((o) => !o.includes('\n') && isValidNoteText(o), 'an origin is one line of printable text'),
      /** The log's Ed25519 note key (type 0x01 vkey). */
      vkey: z.string().min(1).max(4096),
    }),
    witnesses: z
      .array(
        z.strictObject({
          name: z.string().min(1).max(200),
          /** The witness's cosignature/v1 key (type 0x04 vkey). */
          vkey: z.string().min(1).max(4096),
        }),
      )
      .max(64),
    /** The security officer's audit keys. They may read the whole log (the relay admits them with
     * a signed challenge), and secret-group member lists in the log are encrypted to `encPub`.
     * Optional so that policy files written before auditors existed still load. */
    auditors: z
      .array(
        z.strictObject({
          name: z.string().min(1).max(200),
          /** base64url Ed25519 public key (32 bytes): signs the relay's read challenge. */
          signPub: z.string().refine((k) => isKey32(k), 'expected a base64url 32-byte public key'),
          /** base64url X25519 public key (32 bytes): group member lists are encrypted to it. */
          encPub: z.string().refine((k) => isKey32(k), 'expected a base64url 32-byte public key'),
        }),
      )
      .max(64)
      .default([]),
    /** How many distinct witness keys must have cosigned, freshly. 0 disables witnessing (see above). */
    quorum: z.number().int().min(0),
    /** A cosignature older than this does not count toward the quorum. */
    maxCheckpointAgeSeconds: z.number().int().positive(),
    maxDevicesPerUser: z.number().int().positive().optional(),
    workingHours: z
      .strictObject({
        start: HHMM,
        end: HHMM,
        /** ISO weekdays: 1 = Monday … 7 = Sunday. */
        days: z.array(z.number().int().min(1).max(7)).min(1).max(7),
        timeZone: z.string().min(1).refine(isTimeZone, 'unknown IANA time zone'),
      })
      .optional(),
  })
  .superRefine((p, ctx) => {
    const log = vkeyOfType(p.log.vkey, SIG_TYPE_ED25519);
    if (typeof log === 'string') ctx.addIssue({ code: 'custom', path: ['log', 'vkey'], message: log });
    const keys = new Set<string>();
    p.witnesses.forEach((w, i) => {
      const k = vkeyOfType(w.vkey, SIG_TYPE_COSIGNATURE_V1);
      if (typeof k === 'string') ctx.addIssue({ code: 'custom', path: ['witnesses', i, 'vkey'], message: k });
      else keys.add(Array.from(k).join(','));
    });
    if (p.quorum > keys.size) {
      ctx.addIssue({ code: 'custom', path: ['quorum'], message: `quorum ${p.quorum} can never be met by ${keys.size} distinct witness key(s)` });
    }
  });

export type Policy = z.infer<typeof PolicySchema>;
