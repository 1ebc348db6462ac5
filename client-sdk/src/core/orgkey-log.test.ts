import { describe, expect, it } from '@jest/globals';
import { encodeEntry, type Entry } from '@agora/protocol/kt/entries';
import { emptyOrgKeyLog, foldOrgKeyLog, latestGeneration, rotationOwed, writable } from './orgkey-log.js';

const pat = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const gen = (generation: number, creator = 'd_admin'): Entry => ({
  type: 'orgkey-generation', time: 1000 + generation, generation, creatorDeviceId: creator, deviceSetHash: pat(32, 1), keyCommitment: pat(32, generation), signature: pat(64, 2),
});
const revoked = (time: number): Entry => ({ type: 'device-revoked', time, userId: 'u_a', userSeq: 3, prevHash: pat(32, 3), deviceId: 'd_x', byUserId: 'u_b' });
const deactivated = (time: number): Entry => ({ type: 'user-deactivated', time, userId: 'u_a', userSeq: 4, prevHash: pat(32, 4), byUserId: 'u_b' });
const snapshot: Entry = { type: 'snapshot', time: 1, userCount: 2, snapshotRoot: pat(32, 5) };
const tail = (from: number, entries: Entry[]) => entries.map((e, i) => ({ index: from + i, bytes: encodeEntry(e) }));
const accept = async () => undefined;

describe('the organisation-key log', () => {
  it('learns generations and revocations, and owes a rotation only after a revocation newer than the latest generation', async () => {
    let { log } = await foldOrgKeyLog(emptyOrgKeyLog(10), tail(10, [gen(1), snapshot, revoked(5000), snapshot]), accept);
    expect(log.scannedTo).toBe(14);
    expect(latestGeneration(log)).toEqual({ generation: 1, index: 10 });
    expect(log.lastRevocation).toEqual({ index: 12, time: 5000 });
    expect(rotationOwed(log)).toBe(true);
    expect(writable(log, 1)).toBe(false);
    ({ log } = await foldOrgKeyLog(log, tail(14, [gen(2), snapshot]), accept));
    expect(rotationOwed(log)).toBe(false);
    expect(writable(log, 2)).toBe(true);
    expect(writable(log, 1)).toBe(false);
    ({ log } = await foldOrgKeyLog(log, tail(16, [deactivated(6000), snapshot]), accept));
    expect(rotationOwed(log)).toBe(true);
    expect(writable(log, 2)).toBe(false);
  });

  it('skips entries it has read and refuses what the check refuses (and a generation logged twice)', async () => {
    const refuseOdd = async (e: { generation: number }) => (e.generation % 2 === 1 ? 'odd' : undefined);
    const first = await foldOrgKeyLog(emptyOrgKeyLog(0), tail(0, [gen(1), gen(2), revoked(1)]), refuseOdd);
    expect(first.refused).toEqual([{ generation: 1, index: 0, reason: 'odd' }]);
    expect(Object.keys(first.log.generations)).toEqual(['2']);
    const again = await foldOrgKeyLog(first.log, tail(0, [gen(1), gen(2), revoked(1), gen(2)]), accept);
    expect(again.refused).toEqual([{ generation: 2, index: 3, reason: 'the log holds this generation twice' }]);
    expect(again.log.generations['2'].index).toBe(1);
  });

  it('tells the generation check what came before', async () => {
    const seen: unknown[] = [];
    await foldOrgKeyLog(emptyOrgKeyLog(0), tail(0, [gen(1), revoked(1), gen(2), gen(3)]), async (_e, index, ctx) => {
      seen.push({ index, ...ctx });
      return undefined;
    });
    expect(seen).toEqual([
      { index: 0, previous: null, lastRevocation: null },
      { index: 2, previous: 0, lastRevocation: 1 },
      { index: 3, previous: 2, lastRevocation: 1 },
    ]);
  });

  it('counts a generation this device created, not yet in the scanned log, only against revocations before it', async () => {
    let { log } = await foldOrgKeyLog(emptyOrgKeyLog(0), tail(0, [gen(1), revoked(1), snapshot]), accept);
    log.createdHere['2'] = 3;
    expect(rotationOwed(log)).toBe(false);
    expect(writable(log, 2)).toBe(true);
    // A revocation at or after the size it was created at may precede its entry.
    ({ log } = await foldOrgKeyLog(log, tail(3, [revoked(2), snapshot]), accept));
    expect(rotationOwed(log)).toBe(true);
    expect(writable(log, 2)).toBe(false);
  });
});
