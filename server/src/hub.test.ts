import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import type { PushMessage } from '@agora/protocol';
import { PushHub, type CorkableStream, type PushSocket } from './hub.js';

/** One turn of the event loop: the hub writes what was published in the turn before. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

class FakeSocket implements PushSocket, CorkableStream {
  readyState = 1;
  /** What reached the socket and its stream, in order. */
  readonly events: string[] = [];
  readonly sent: { data: Buffer; options: { binary: boolean; compress: boolean } }[] = [];
  failing = false;
  send(data: Buffer, options: { binary: boolean; compress: boolean }): void {
    if (this.failing) throw new Error('socket is gone');
    this.sent.push({ data, options });
    this.events.push(`send ${(JSON.parse(data.toString('utf8')) as { groupId?: string }).groupId ?? ''}`);
  }
  close(): void {
    this.readyState = 3;
  }
  bufferedAmount = 0;
  terminate(): void {
    this.readyState = 3;
  }
  cork(): void {
    this.events.push('cork');
  }
  uncork(): void {
    this.events.push('uncork');
  }
}

const entry = (groupId: string, seq: number): PushMessage => ({
  type: 'entry', groupId, entry: { seq, kind: 'record', epoch: 1, sender: 'd_x', at: 1, payload: `p${seq}` },
});

describe('PushHub', () => {
  it('writes one turn\'s messages once per socket, in order, as one shared UTF-8 buffer in text frames', async () => {
    const hub = new PushHub();
    const [a, b, c] = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    hub.add('d_a', 'u_1', a, a);
    hub.add('d_b', 'u_2', b, b);
    hub.add('d_c', 'u_2', c, c);
    hub.broadcast(entry('g_1', 1));
    hub.publish(['d_a', 'd_b', 'd_a'], entry('g_2', 1));
    hub.publishToUsers(['u_2'], entry('g_3', 1));
    expect(a.sent).toEqual([]); // nothing before the turn ends
    await turn();

    expect(a.events).toEqual(['cork', 'send g_1', 'send g_2', 'uncork']);
    expect(b.events).toEqual(['cork', 'send g_1', 'send g_2', 'send g_3', 'uncork']);
    expect(c.events).toEqual(['cork', 'send g_1', 'send g_3', 'uncork']);
    // the broadcast was encoded once: every socket got the very same bytes
    expect(b.sent[0].data).toBe(a.sent[0].data);
    expect(c.sent[0].data).toBe(a.sent[0].data);
    expect(JSON.parse(a.sent[0].data.toString('utf8'))).toEqual(entry('g_1', 1));
    for (const s of [a, b, c]) for (const m of s.sent) expect(m.options).toEqual({ binary: false, compress: false });

    hub.broadcast(entry('g_1', 2));
    await turn();
    expect(a.events.slice(4)).toEqual(['cork', 'send g_1', 'uncork']);
  });

  it('skips sockets closed before the write and keeps writing to the others when one fails', async () => {
    const hub = new PushHub();
    const [a, b, c] = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    hub.add('d_a', 'u_1', a, a);
    hub.add('d_b', 'u_2', b, b);
    hub.add('d_c', 'u_3', c);
    hub.broadcast(entry('g_1', 1));
    hub.closeDevices(['d_a'], 4001, 'revoked');
    b.failing = true;
    await turn();
    expect(a.sent).toEqual([]);
    expect(b.events).toEqual(['cork', 'uncork']);
    expect(c.events).toEqual(['send g_1']); // a socket without a stream is written uncorked
    expect(hub.connectedDevices().sort()).toEqual(['d_b', 'd_c']);
  });

  describe('over a real WebSocket', () => {
    let wss: WebSocketServer | undefined;
    afterEach(async () => {
      for (const ws of wss?.clients ?? []) ws.terminate();
      await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
      wss = undefined;
    });

    it('a corked burst arrives as separate text messages, complete and in order', async () => {
      const hub = new PushHub();
      wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
      await once(wss, 'listening');
      const added = once(wss, 'connection').then(([ws, req]) => hub.add('d_a', 'u_1', ws as WebSocket, (req as { socket: CorkableStream }).socket));
      const { port } = wss.address() as { port: number };
      const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      const received: { text: string; binary: boolean }[] = [];
      client.on('message', (data: Buffer, isBinary: boolean) => received.push({ text: data.toString('utf8'), binary: isBinary }));
      await once(client, 'open');
      await added;

      const burst = Array.from({ length: 200 }, (_, i) => entry(`g_${i % 3}`, i + 1));
      for (const m of burst) hub.broadcast(m);
      while (received.length < burst.length) await new Promise((r) => setTimeout(r, 5));
      expect(received.every((r) => !r.binary)).toBe(true);
      expect(received.map((r) => JSON.parse(r.text) as PushMessage)).toEqual(burst);
      client.close();
    });
  });
});
