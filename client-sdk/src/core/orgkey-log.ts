/** What a device learns about organisation-key generations from the key-transparency log, and the
 * decisions that follow from it alone: whether a rotation is owed (a device was revoked or a person
 * deactivated after the latest generation) and whether a generation may still be written under.
 * The relay's `rotationNeeded` flag and its idea of the current generation are hints only.
 * Sans-I/O: the caller proves the entries complete (KtTrust.tail) and checks each generation's
 * creator. */
import { toB64u } from '@agora/protocol/encoding';
import { decodeEntry, type OrgKeyGenerationEntry } from '@agora/protocol/kt/entries';
import type { OrgKeyLog } from './state.js';

export function emptyOrgKeyLog(scannedTo: number): OrgKeyLog {
  return { scannedTo, lastRevocation: null, generations: {}, createdHere: {} };
}

/** Says why a generation entry is refused, or undefined to accept it. `previous` is the index of
 * the generation entry before it and `lastRevocation` the latest revocation before it (null when
 * the scan started later than that). */
export type GenerationCheck = (
  entry: OrgKeyGenerationEntry,
  index: number,
  context: { previous: number | null; lastRevocation: number | null },
) => Promise<string | undefined>;

/** Folds the proven entries `tail` (the log from `log.scannedTo` on) into the state. */
export async function foldOrgKeyLog(
  log: OrgKeyLog,
  tail: readonly { index: number; bytes: Uint8Array }[],
  check: GenerationCheck,
): Promise<{ log: OrgKeyLog; refused: { generation: number; index: number; reason: string }[] }> {
  const next: OrgKeyLog = { ...log, generations: { ...log.generations } };
  const refused: { generation: number; index: number; reason: string }[] = [];
  for (const { index, bytes } of tail) {
    if (index < next.scannedTo) continue;
    const e = decodeEntry(bytes);
    if (e.type === 'device-revoked' || e.type === 'user-deactivated') {
      next.lastRevocation = { index, time: e.time };
    } else if (e.type === 'orgkey-generation') {
      const previous = latestGeneration(next)?.index ?? null;
      const known = next.generations[String(e.generation)];
      const reason = known && known.index !== index ? 'the log holds this generation twice' : await check(e, index, { previous, lastRevocation: next.lastRevocation?.index ?? null });
      if (reason) refused.push({ generation: e.generation, index, reason });
      else next.generations[String(e.generation)] = generationInfo(e, index);
    }
    next.scannedTo = index + 1;
  }
  return { log: next, refused };
}

export function generationInfo(e: OrgKeyGenerationEntry, index: number): OrgKeyLog['generations'][string] {
  return { index, time: e.time, creatorDeviceId: e.creatorDeviceId, keyCommitment: e.keyCommitment ? toB64u(e.keyCommitment) : null };
}

/** The accepted generation entry latest in the log. */
export function latestGeneration(log: OrgKeyLog): { generation: number; index: number } | undefined {
  let best: { generation: number; index: number } | undefined;
  for (const [g, info] of Object.entries(log.generations)) {
    if (!best || info.index > best.index) best = { generation: Number(g), index: info.index };
  }
  return best;
}

/** A generation this device created that is not in the scanned log yet still settles every
 * revocation below the log size it was created at: it was sealed only to the devices the log showed
 * active then. A revocation at or after that size may have come before its entry. */
function pendingOwnSettles(log: OrgKeyLog, generation: number): boolean {
  const createdAt = log.createdHere[String(generation)];
  return createdAt !== undefined && log.generations[String(generation)] === undefined && (!log.lastRevocation || log.lastRevocation.index < createdAt);
}

/** A revocation or deactivation came after the latest generation in the scanned log, and no
 * generation this device created itself settles it. */
export function rotationOwed(log: OrgKeyLog): boolean {
  if (!log.lastRevocation) return false;
  const latest = latestGeneration(log);
  if (latest && latest.index > log.lastRevocation.index) return false;
  return !Object.keys(log.createdHere).some((g) => Number(g) > (latest?.generation ?? 0) && pendingOwnSettles(log, Number(g)));
}

/** Whether a record may be written under `generation`: its entry comes after the latest logged
 * revocation, or this device created it and it settles every revocation scanned so far. */
export function writable(log: OrgKeyLog, generation: number): boolean {
  const info = log.generations[String(generation)];
  if (!info) return pendingOwnSettles(log, generation);
  return !log.lastRevocation || info.index > log.lastRevocation.index;
}
