/** The one-request send of a listening device against the key-transparency attacks its catch-up
 * used to stop: a log that becomes unavailable, and a relay that shows one person a forked log.
 * A listening device is current (push channel open, a checkpoint verified since it opened, within
 * the window) and sends under the keys it verified then; these tests show what that costs and
 * where it ends. Run against a real relay behind a proxy that misbehaves on command. */
import type { AgoraClient, AgoraError } from '@agora/client-sdk';
import { CURRENT_WINDOW_MS } from '../../client-sdk/src/engine/machine.js';
import type { Person } from '../helpers.js';
import { startEvilRelay, type EvilRelay } from './evil-relay.js';
import { evilRelayWorld } from './evil-world.js';
import { showForkedLog } from './forge.js';

/** The true log, read as the security officer's audit reads it (with an auditor key). */
const env = evilRelayWorld({ auditor: { signSeed: new Uint8Array(32).fill(7), encSecret: new Uint8Array(32).fill(8) } });
const { join, upstream } = env;

/** Starts `p` listening through `via` and waits until it is connected and caught up: the sync
 * before connecting and the one on connect are both done and nothing has moved for 400 ms. */
async function listening(p: Person, via: EvilRelay): Promise<{ stop: () => Promise<void> }> {
  const ctl = new AbortController();
  const before = via.seen.length;
  const running = p.client.listen({ signal: ctl.signal, onMessage: () => undefined });
  await settled(via, () => via.seen.slice(before).filter((e) => e.path.startsWith('/v1/sync')).length >= 2);
  return {
    stop: async () => {
      ctl.abort();
      await running;
    },
  };
}

async function settled(via: EvilRelay, ready: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + 20_000;
  let seen = -1;
  for (;;) {
    if (Date.now() > deadline) throw new Error('the listening device did not settle');
    if (ready() && seen === via.seen.length) return;
    seen = via.seen.length;
    await new Promise((r) => setTimeout(r, 400));
  }
}

async function alarmKinds(c: AgoraClient): Promise<string[]> {
  return (await c.alarms()).map((a) => a.kind);
}

const records = (e: { method: string; path: string }) => e.method === 'POST' && e.path.includes('/records');

test('the log becoming unavailable while listening: a send within the window goes out, one past it fails closed and nothing is sent', async () => {
  let clock = Date.now();
  const mia = await join('Mia L', { now: () => clock });
  const g = await mia.client.createGroup({ name: 'offline-log-live', kind: 'secret' });
  const live = await listening(mia, env.proxy);
  try {
    env.proxy.set((ex) => (ex.path.startsWith('/v1/kt/') ? { status: 503, body: { error: { code: 'internal', message: 'down' } } } : undefined));
    env.proxy.seen.length = 0;
    // Within the window the record is sealed under the epoch key Mia's device holds, for members
    // whose keys the log proved less than a window ago; the send trusts no key anew, so the log
    // has nothing to say about it. It is what a device that synced a moment before the log went
    // down sends too. Nothing is asked of the log.
    clock += CURRENT_WINDOW_MS - 1_000;
    await mia.client.send(g.id, 'within the window');
    expect(env.proxy.seen.filter(records)).toHaveLength(1);
    expect(env.proxy.seen.filter((e) => e.path.startsWith('/v1/kt/') || e.path.startsWith('/v1/sync'))).toEqual([]);

    // The window has passed with no checkpoint verified since (the log is down): the send catches
    // up first and fails closed, exactly as a device that does not listen.
    clock += 1_000;
    env.proxy.seen.length = 0;
    const err = (await mia.client.send(g.id, 'should not leave').catch((e: unknown) => e)) as AgoraError;
    expect(err.message).toMatch(/key-transparency log is unavailable/);
    expect(env.proxy.seen.some(records)).toBe(false);
  } finally {
    await live.stop();
  }
});

test('split view shown to a listening device: its one-request sends carry the forked checkpoint, and both sides raise the fork alarm', async () => {
  const honest = await join('Quinn L');
  const victimProxy = await startEvilRelay(env.world.url);
  try {
    const victim = await join('Rita L', { via: victimProxy.url });
    const g = await honest.client.createGroup({ name: 'split-live', kind: 'secret' });
    await honest.client.addMembers(g.id, ['Rita L']);
    await victim.client.sync();
    const live = await listening(victim, victimProxy);
    try {
      // The relay forks the log for Rita: the real entries plus one more that nobody else sees.
      const forkNote = await showForkedLog(victimProxy, { kt: env.auditorKt, dataDir: env.world.dataDir, upstream });
      // A newcomer: the relay pushes the directory change, and the listening device syncs at once,
      // verifying the checkpoint it is shown (the fork, which extends what it had seen).
      const mark = victimProxy.seen.length;
      await join('Sam L');
      await settled(victimProxy, () => victimProxy.seen.slice(mark).some((e) => e.path.startsWith('/v1/sync')));
      expect(await alarmKinds(victim.client)).not.toContain('fork');

      // Current again: the send is one request, and its record carries the forked checkpoint.
      victimProxy.seen.length = 0;
      await victim.client.send(g.id, 'from the forked view');
      expect(victimProxy.seen.map((e) => `${e.method} ${e.path.split('?')[0]}`)).toEqual([`POST /v1/groups/${g.id}/records`]);
      await honest.client.send(g.id, 'from the real view');
      // Quinn reads Rita's message: her checkpoint is not a prefix of the real log.
      await honest.client.read(g.id);
      expect((await honest.client.alarms()).find((a) => a.kind === 'fork')?.evidence).toContain(forkNote);
      // Rita's device meets Quinn's (pushed, or read now): his checkpoint cannot be reconciled with hers.
      await victim.client.read(g.id);
      expect(await alarmKinds(victim.client)).toContain('fork');
    } finally {
      await live.stop();
    }
  } finally {
    await victimProxy.close();
  }
});
