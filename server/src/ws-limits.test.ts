/** A push socket that does not read: the relay must notice through its own pings, and must not
 * buffer pushes for it without limit. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { WS_PROTOCOL, wsTokenProtocol, type PushMessage } from '@agora/protocol';
import { startTestOrg, type TestDevice, type TestOrg } from './testing.js';

const PING_MS = 300;
const CAP = 256 * 1024;
const RECORD = 64 * 1024;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function connect(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, [WS_PROTOCOL, wsTokenProtocol(token)]);
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

/** Stops reading (so the relay's pings go unanswered and its pushes pile up) but keeps writing
 * pongs of its own, which RFC 6455 allows and which prove nothing about reading. */
function stopReading(ws: WebSocket): () => void {
  ws.pause();
  const timer = setInterval(() => ws.pong(Buffer.from('still here')), PING_MS / 5);
  return () => clearInterval(timer);
}

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!what() && Date.now() < deadline) await sleep(10);
  return what();
}

describe('slow push consumers', () => {
  let org: TestOrg;
  let alice: TestDevice;
  let bob: TestDevice;
  const cleanup: (() => void)[] = [];
  beforeAll(async () => {
    org = await startTestOrg({ pingIntervalMs: PING_MS, maxPushBufferedBytes: CAP });
    [alice, bob] = await Promise.all([org.person('Alice'), org.person('Bob')]);
  });
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });
  afterAll(() => org.close());

  it('are cut when they do not answer the relay\'s pings, unsolicited pongs notwithstanding', async () => {
    const quiet = await connect(org.url, alice.token);
    const reading = await connect(org.url, bob.token);
    cleanup.push(stopReading(quiet), () => quiet.terminate(), () => reading.terminate());
    expect(org.relay.hub.connectedDevices().sort()).toEqual([alice.deviceId, bob.deviceId].sort());
    // Two intervals decide; allow for a loaded machine.
    expect(await until(() => !org.relay.hub.connectedDevices().includes(alice.deviceId), 20 * PING_MS)).toBe(true);
    // A client that reads answers the pings by itself and stays.
    await sleep(4 * PING_MS);
    expect(org.relay.hub.connectedDevices()).toEqual([bob.deviceId]);
    expect(reading.readyState).toBe(WebSocket.OPEN);
  });

  it('are cut once their unsent bytes pass the cap, which bounds what the relay buffers', async () => {
    // No ping in this test's time: the cap alone must cut the socket.
    const org = await startTestOrg({ pingIntervalMs: 600_000, maxPushBufferedBytes: CAP });
    cleanup.push(() => void org.close());
    const [alice, bob] = await Promise.all([org.person('Alice'), org.person('Bob')]);
    const slow = await connect(org.url, alice.token);
    const reading = await connect(org.url, bob.token);
    cleanup.push(stopReading(slow), () => slow.terminate(), () => reading.terminate());
    let received = 0;
    reading.on('message', (data: Buffer) => (received += data.length));

    const pushes = 400; // 25 MiB to each socket, far more than the kernel's socket buffers take
    let maxBuffered = 0;
    let cutAfter: number | undefined;
    for (let i = 0; i < pushes; i++) {
      const entry: PushMessage = {
        type: 'entry', groupId: 'g_AAAAAAAAAAAAAAAAAAAAAA',
        entry: { seq: i + 1, kind: 'record', epoch: 1, sender: bob.deviceId, at: Date.now(), payload: 'x'.repeat(RECORD) },
      };
      org.relay.hub.publish([alice.deviceId, bob.deviceId], entry);
      await turn();
      await turn();
      maxBuffered = Math.max(maxBuffered, org.relay.hub.bufferedBytes());
      if (cutAfter === undefined && !org.relay.hub.connectedDevices().includes(alice.deviceId)) cutAfter = i + 1;
      // let the reading client keep up, as a real one on a fast link would
      if (i % 8 === 7) await sleep(1);
    }
    expect(cutAfter).toBeDefined();
    expect(cutAfter!).toBeLessThan(pushes);
    // At most the cap plus one turn's pushes (one record here) is ever held for a socket.
    expect(maxBuffered).toBeLessThanOrEqual(2 * (CAP + RECORD + 1024));
    expect(org.relay.hub.connectedDevices()).toEqual([bob.deviceId]);
    // The reader got every push.
    expect(await until(() => received >= pushes * RECORD, 10_000)).toBe(true);
    expect(reading.readyState).toBe(WebSocket.OPEN);
  });
});
