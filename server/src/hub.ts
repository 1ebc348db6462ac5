/** In-process push: which WebSocket belongs to which device. Messages are serialised once and
 * written to every open socket of the addressed devices; a push is a hint to fetch, never the only
 * copy, so a device that misses one catches up from the log or mailbox.
 *
 * Writes are gathered per socket and go out once per event-loop turn (`setImmediate`), each
 * socket's messages under one cork: the relay group-commits the records that arrived together, so
 * their pushes leave together, one system call per socket instead of one per message. Every
 * message is still its own WebSocket frame, in the order it was published. */
import type { PushMessage } from '@agora/protocol';

/** The part of a `ws` socket the hub uses, so the hub can be exercised without a network. */
export interface PushSocket {
  readonly readyState: number;
  /** Bytes accepted by `send` but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  send(data: Buffer, options: { binary: boolean; compress: boolean }): void;
  close(code?: number, reason?: string): void;
  /** Drops the connection at once, without a closing handshake. */
  terminate(): void;
}

/** Default cap on a socket's unsent bytes. Past it the reader is too slow (or not reading at all)
 * and the socket is dropped: a push is only a hint, the device catches up from the log when it
 * reconnects, and the relay's memory stays bounded by sockets × this cap. One push carries at most
 * one record (256 KiB) as JSON, so a reader that keeps up never comes near it. */
export const DEFAULT_MAX_BUFFERED_BYTES = 2 * 1024 * 1024;

export interface PushHubOptions {
  /** See DEFAULT_MAX_BUFFERED_BYTES. */
  maxBufferedBytes?: number;
}

/** The byte stream under a push socket (the upgraded TCP socket): corked while one turn's pushes
 * are written to it, so they leave in a single write. */
export interface CorkableStream {
  cork(): void;
  uncork(): void;
}

const OPEN = 1;
/** One UTF-8 encoding per message, shared by every socket: a string would be encoded again for
 * each of them (ws hands strings to the socket as they are). `binary: false` keeps it a text
 * frame, as clients expect. The push endpoint negotiates no permessage-deflate; `compress: false`
 * keeps it that way per message should that ever change, since deflate runs per socket and would
 * undo the point of encoding once. */
const FRAME = { binary: false, compress: false } as const;

function encode(message: PushMessage): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

export class PushHub {
  private readonly byDevice = new Map<string, Set<PushSocket>>();
  private readonly userOf = new Map<string, string>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly streams = new WeakMap<PushSocket, CorkableStream>();
  /** Messages waiting for this turn's write, per socket, in publication order. */
  private outbox = new Map<PushSocket, Buffer[]>();
  private flushTimer: NodeJS.Immediate | undefined;
  private readonly maxBufferedBytes: number;

  constructor(opts: PushHubOptions = {}) {
    this.maxBufferedBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  /** `stream`, when given, is the socket's underlying byte stream (see CorkableStream). */
  add(deviceId: string, userId: string, socket: PushSocket, stream?: CorkableStream): void {
    if (stream) this.streams.set(socket, stream);
    let sockets = this.byDevice.get(deviceId);
    if (!sockets) {
      sockets = new Set();
      this.byDevice.set(deviceId, sockets);
    }
    sockets.add(socket);
    this.userOf.set(deviceId, userId);
    let devices = this.byUser.get(userId);
    if (!devices) {
      devices = new Set();
      this.byUser.set(userId, devices);
    }
    devices.add(deviceId);
  }

  remove(deviceId: string, socket: PushSocket): void {
    const sockets = this.byDevice.get(deviceId);
    if (!sockets) return;
    sockets.delete(socket);
    if (sockets.size === 0) {
      this.byDevice.delete(deviceId);
      const userId = this.userOf.get(deviceId);
      this.userOf.delete(deviceId);
      const devices = userId === undefined ? undefined : this.byUser.get(userId);
      devices?.delete(deviceId);
      if (userId !== undefined && devices?.size === 0) this.byUser.delete(userId);
    }
  }

  publish(deviceIds: Iterable<string>, message: PushMessage): void {
    let data: Buffer | undefined;
    const seen = new Set<string>();
    for (const id of deviceIds) {
      if (seen.has(id)) continue;
      seen.add(id);
      const sockets = this.byDevice.get(id);
      if (!sockets) continue;
      data ??= encode(message);
      for (const socket of sockets) this.enqueue(socket, data);
    }
  }

  /** Every connected device of these people. */
  publishToUsers(userIds: Iterable<string>, message: PushMessage): void {
    const devices: string[] = [];
    for (const u of userIds) for (const d of this.byUser.get(u) ?? []) devices.push(d);
    this.publish(devices, message);
  }

  broadcast(message: PushMessage): void {
    if (this.byDevice.size === 0) return;
    const data = encode(message);
    for (const sockets of this.byDevice.values()) for (const socket of sockets) this.enqueue(socket, data);
  }

  private enqueue(socket: PushSocket, data: Buffer): void {
    const queued = this.outbox.get(socket);
    if (queued) queued.push(data);
    else this.outbox.set(socket, [data]);
    this.flushTimer ??= setImmediate(() => this.flush());
  }

  /** Writes everything published since the last flush. */
  private flush(): void {
    if (this.flushTimer !== undefined) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    const outbox = this.outbox;
    this.outbox = new Map();
    for (const [socket, messages] of outbox) {
      if (socket.readyState !== OPEN || this.dropIfBacklogged(socket)) continue;
      const stream = this.streams.get(socket);
      stream?.cork();
      try {
        for (const data of messages) send(socket, data);
      } finally {
        stream?.uncork();
      }
      this.dropIfBacklogged(socket);
    }
  }

  /** Terminates a socket whose unsent bytes pass the cap; true if it did. A closing handshake
   * would queue behind the backlog the reader is not taking, so the connection is cut instead; the
   * socket's close handler then removes it from the hub. */
  dropIfBacklogged(socket: PushSocket): boolean {
    if (socket.bufferedAmount <= this.maxBufferedBytes) return false;
    socket.terminate();
    return true;
  }

  /** Unsent bytes over all sockets: what slow readers currently cost the relay. */
  bufferedBytes(): number {
    let total = 0;
    for (const sockets of this.byDevice.values()) for (const socket of sockets) total += socket.bufferedAmount;
    return total;
  }

  /** Closes every socket of these devices (revocation) with the given close code. */
  closeDevices(deviceIds: Iterable<string>, code: number, reason: string): void {
    for (const id of deviceIds) {
      for (const socket of [...(this.byDevice.get(id) ?? [])]) {
        socket.close(code, reason);
        this.remove(id, socket);
      }
    }
  }

  /** Device ids with at least one open socket. */
  connectedDevices(): string[] {
    return [...this.byDevice.keys()];
  }

  /** Connected devices of one person. */
  connectedDevicesOf(userId: string): string[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  closeAll(code: number, reason: string): void {
    this.flush();
    this.closeDevices([...this.byDevice.keys()], code, reason);
  }
}

function send(socket: PushSocket, data: Buffer): void {
  if (socket.readyState !== OPEN) return;
  try {
    socket.send(data, FRAME);
  } catch {
    // A socket that fails to take a write is dead; the keepalive sweep removes it.
  }
}
