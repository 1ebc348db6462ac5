/** Deciding whether a signed checkpoint can be trusted under the organisation's policy, and whether
 * a new checkpoint extends the one a client stored. Both fail closed with a KtError whose message is
 * meant for the user (no keys, no hashes) and whose code is meant for the program. */
import { bytesEqual, utf8 } from '../encoding.js';
import { cosignatureKeyId, verifyCosignature } from './cosignature.js';
import { EMPTY_ROOT } from './hash.js';
import { ProofError, verifyConsistency } from './merkle.js';
import { NoteError, SIG_TYPE_COSIGNATURE_V1, ed25519Verifier, parseCheckpoint, parseNote, parseVkey, type Checkpoint, type Note } from './note.js';
import type { Policy } from './policy.js';

export type KtErrorCode =
  | 'malformed'
  | 'bad_log_signature'
  | 'bad_witness_signature'
  | 'wrong_origin'
  | 'quorum_not_met'
  | 'stale'
  | 'rollback'
  | 'fork'
  | 'inconsistent';

export class KtError extends Error {
  override name = 'KtError';
  constructor(
    readonly code: KtErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A cosignature may be dated up to this far ahead of our clock (clock skew between machines). */
export const MAX_FUTURE_SKEW_MS = 60_000;

export interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  /** Policy labels of the witnesses that counted toward the quorum, one per distinct key. */
  witnesses: string[];
  note: Note;
}

/**
 * Accepts a checkpoint note only if:
 *  1. it parses as a signed note whose text is a checkpoint body;
 *  2. a signature line from the policy's log key (name and key ID) verifies, and no line from that
 *     key fails to verify;
 *  3. the origin is the policy's;
 *  4. at least `quorum` distinct witness public keys from the policy cosigned it with a timestamp T
 *     (seconds) such that now − T ≤ maxCheckpointAgeSeconds and T ≤ now + 60 s. A line that names a
 *     policy witness and fails to verify rejects the note (the relay checks cosignatures before
 *     attaching them, so such a line means the relay is misbehaving).
 * With quorum 0 there is no timestamp at all, hence no freshness check (see policy.ts).
 * `policy` must come from PolicySchema.parse (its vkeys are trusted to be well-formed here).
 */
export function verifyCheckpoint(policy: Policy, noteText: string, nowMs: number): VerifiedCheckpoint {
  let note: Note;
  let checkpoint: Checkpoint;
  try {
    note = parseNote(noteText);
  } catch (e) {
    if (e instanceof NoteError) throw new KtError('malformed', 'The key-transparency checkpoint from the server is malformed.');
    throw e;
  }

  const logKey = parseVkey(policy.log.vkey);
  const log = ed25519Verifier(logKey.name, logKey.publicKey);
  const text = utf8(note.text);
  const logLines = note.signatures.filter((s) => s.name === log.name && bytesEqual(s.keyId, log.keyId));
  if (logLines.length === 0) {
    throw new KtError('bad_log_signature', "The key-transparency checkpoint is not signed by your organisation's log key.");
  }
  for (const line of logLines) {
    if (!log.verify(text, line.signature)) {
      throw new KtError('bad_log_signature', "The key-transparency checkpoint carries a forged signature for your organisation's log key.");
    }
  }

  try {
    checkpoint = parseCheckpoint(note.text);
  } catch (e) {
    if (e instanceof NoteError) throw new KtError('malformed', 'The signed key-transparency checkpoint is not a valid checkpoint.');
    throw e;
  }
  if (checkpoint.origin !== policy.log.origin) {
    throw new KtError('wrong_origin', "The key-transparency checkpoint belongs to a different log than your organisation's.");
  }

  // One entry per distinct witness public key; the first policy label for a key is the one reported.
  const byKey = new Map<string, { label: string; names: Set<string>; publicKey: Uint8Array }>();
  for (const w of policy.witnesses) {
    const k = parseVkey(w.vkey);
    if (k.type !== SIG_TYPE_COSIGNATURE_V1) continue;
    const id = Array.from(k.publicKey).join(',');
    const entry = byKey.get(id) ?? { label: w.name, names: new Set<string>(), publicKey: k.publicKey };
    entry.names.add(k.name);
    byKey.set(id, entry);
  }

  const maxAgeMs = policy.maxCheckpointAgeSeconds * 1000;
  const fresh = new Set<string>();
  const valid = new Set<string>();
  for (const sig of note.signatures) {
    for (const [id, w] of byKey) {
      if (!w.names.has(sig.name)) continue;
      const result = verifyCosignature(note.text, sig, { name: sig.name, publicKey: w.publicKey });
      if (result === undefined) {
        // Only a line that claims to be this witness (same name and key ID) is an error; others are
        // unknown keys, which signed-note says to ignore.
        if (bytesEqual(sig.keyId, cosignatureKeyId(sig.name, w.publicKey))) {
          throw new KtError('bad_witness_signature', 'The key-transparency checkpoint carries a forged witness signature.');
        }
        continue;
      }
      valid.add(id);
      const t = result.timestamp * 1000;
      if (nowMs - t <= maxAgeMs && t <= nowMs + MAX_FUTURE_SKEW_MS) fresh.add(id);
    }
  }

  if (fresh.size < policy.quorum) {
    if (valid.size >= policy.quorum) {
      throw new KtError(
        'stale',
        'The witnesses last vouched for the key-transparency checkpoint too long ago (or at a time in the future); the server may be showing you an outdated view.',
      );
    }
    throw new KtError(
      'quorum_not_met',
      `Only ${fresh.size} of the ${policy.quorum} required independent witnesses vouched for the key-transparency checkpoint.`,
    );
  }

  const witnesses = [...byKey].filter(([id]) => fresh.has(id)).map(([, w]) => w.label);
  return { checkpoint, witnesses, note };
}

/**
 * Checks that `next` extends the stored checkpoint `prev`: a smaller size is a rollback, the same
 * size with another root is a fork, and a larger size needs a valid RFC 6962 consistency proof.
 * From an empty stored tree (size 0) anything is an extension, provided its root was the empty root.
 */
export function verifyAppendOnly(prev: { size: number; root: Uint8Array }, next: Checkpoint, proof: Uint8Array[]): void {
  if (next.size < prev.size) {
    throw new KtError('rollback', 'The server showed an older, smaller key-transparency log than the one this device already saw.');
  }
  if (next.size === prev.size) {
    if (!bytesEqual(next.root, prev.root)) {
      throw new KtError('fork', 'The server showed two different key-transparency logs of the same size: its history has been forked.');
    }
    if (proof.length > 0) throw new KtError('inconsistent', 'The server sent a consistency proof where none was needed.');
    return;
  }
  if (prev.size === 0) {
    if (!bytesEqual(prev.root, EMPTY_ROOT) || proof.length > 0) {
      throw new KtError('inconsistent', 'The key-transparency log does not extend the one this device already saw.');
    }
    return;
  }
  try {
    verifyConsistency(prev.size, next.size, prev.root, next.root, proof);
  } catch (e) {
    if (e instanceof ProofError) {
      throw new KtError('inconsistent', 'The key-transparency log does not extend the one this device already saw: its history was rewritten.');
    }
    throw e;
  }
}
