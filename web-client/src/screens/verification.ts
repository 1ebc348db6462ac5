/** Whether this person compared keys with a colleague in person. The key-transparency log proves
 * which keys the relay committed to for each person; comparing the safety number in person proves
 * that those are the keys the colleague's own devices hold. A mark remembers the colleague's active
 * device keys (fingerprints) at the moment of comparing, so a later change of those keys (a new
 * phone, or a substituted key) shows as "changed" until they compare again. */
import type { Engine } from '../engine/engine.js';
import type { AgoraClient } from '../engine/sdk.js';
import { readValue, writeValue } from './values.js';

export type Verification = 'checking' | 'verified' | 'unchecked' | 'changed' | 'failed';

export type VerifiedUser = Awaited<ReturnType<AgoraClient['verifyUser']>>;

interface Mark {
  keys: string[];
  at: number;
}

const KEY = 'verified-marks';

function activeKeys(v: VerifiedUser): string[] {
  return v.devices.filter((d) => d.active).map((d) => d.fingerprint).sort();
}

async function marks(engine: Engine): Promise<Record<string, Mark>> {
  const raw = await readValue(engine, KEY);
  if (!raw) return {};
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v !== 'object' || v === null) return {};
    const out: Record<string, Mark> = {};
    for (const [userId, m] of Object.entries(v as Record<string, unknown>)) {
      const { keys, at } = (m ?? {}) as { keys?: unknown; at?: unknown };
      if (Array.isArray(keys) && keys.every((k) => typeof k === 'string') && typeof at === 'number') out[userId] = { keys: keys as string[], at };
    }
    return out;
  } catch {
    return {};
  }
}

export async function loadMarks(engine: Engine): Promise<Record<string, Mark>> {
  return marks(engine);
}

export function verificationOf(mark: Mark | undefined, v: VerifiedUser): Verification {
  if (!mark) return 'unchecked';
  const now = activeKeys(v);
  return now.length === mark.keys.length && now.every((k, i) => k === mark.keys[i]) ? 'verified' : 'changed';
}

/** Marks `v` as compared in person with its current keys, or (keys: false) takes the mark back. */
export async function setMark(engine: Engine, v: VerifiedUser, verified: boolean): Promise<void> {
  const all = await marks(engine);
  if (verified) all[v.userId] = { keys: activeKeys(v), at: Date.now() };
  else delete all[v.userId];
  await writeValue(engine, KEY, JSON.stringify(all));
}
