/** An independent witness (meant for the security officer's own machine): it remembers the last
 * checkpoint it cosigned and cosigns a new one only if the log's signature verifies and a
 * consistency proof shows the new log extends the old one. A relay that forks its log, rolls it
 * back or rewrites history cannot get this witness's cosignature for it — and clients whose policy
 * requires this witness then refuse the forged view. Sans-I/O: the CLI fetches and posts. */
import * as z from 'zod';
import { fromB64u, toB64u } from '../encoding.js';
import { platformRandom } from '../crypto/random.js';
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';
import { KtError, verifyAppendOnly } from './checkpoint.js';
import { cosign, cosignatureVkey } from './cosignature.js';
import { formatSignatureLine, openNote, parseCheckpoint, verifierFromVkey, isValidKeyName } from './note.js';

export const WitnessKeySchema = z.object({ format: z.literal('agora-witness-key-v1'), name: z.string(), seed: z.string() });
export type WitnessKey = z.infer<typeof WitnessKeySchema>;

export const WitnessStateSchema = z.object({
  origin: z.string(),
  logVkey: z.string(),
  size: z.number().int().min(0),
  root: z.string(),
  note: z.string(),
});
export type WitnessState = z.infer<typeof WitnessStateSchema>;

export function newWitnessKey(name: string): WitnessKey {
  if (!isValidKeyName(name)) throw new KtError('malformed', 'a witness name must be a non-empty key name without spaces or "+"');
  return { format: 'agora-witness-key-v1', name, seed: toB64u(platformRandom(32)) };
}

/** What goes into the organisation's policy file for this witness. */
export function witnessVkey(key: WitnessKey): string {
  return cosignatureVkey(key.name, crypto().ed25519PublicKey(fromB64u(key.seed)));
}

export interface WitnessStep {
  state: WitnessState;
  /** The C2SP tlog-cosignature line for the checkpoint. */
  cosignature: string;
}

/** Checks `noteText` (the relay's current checkpoint) against what this witness saw before and
 * cosigns it. `previous` is null on first contact, when `logVkey` pins the log key (from the
 * policy file, or trust on first use). Throws KtError on a forged note, wrong origin, rollback,
 * fork or inconsistent history — the evidence is the two notes. */
export function witnessStep(input: {
  key: WitnessKey;
  previous: WitnessState | null;
  logVkey: string;
  noteText: string;
  consistencyProof: Uint8Array[];
  nowMs: number;
}): WitnessStep {
  const logVkey = input.previous?.logVkey ?? input.logVkey;
  let opened;
  try {
    opened = openNote(input.noteText, [verifierFromVkey(logVkey)]);
  } catch {
    throw new KtError('bad_log_signature', "The checkpoint is not signed by the log's key.");
  }
  if (opened.verified.length === 0) throw new KtError('bad_log_signature', "The checkpoint is not signed by the log's key.");
  const checkpoint = parseCheckpoint(opened.note.text);
  if (input.previous && checkpoint.origin !== input.previous.origin) throw new KtError('wrong_origin', 'The checkpoint is for another log.');
  if (input.previous) verifyAppendOnly({ size: input.previous.size, root: fromB64u(input.previous.root) }, checkpoint, input.consistencyProof);
  const sig = cosign(opened.note.text, input.key.name, fromB64u(input.key.seed), Math.floor(input.nowMs / 1000));
  return {
    state: { origin: checkpoint.origin, logVkey, size: checkpoint.size, root: toB64u(checkpoint.root), note: input.noteText },
    cosignature: formatSignatureLine(sig),
  };
}
