/** In-process push: which WebSocket belongs to which device. Messages are serialised once and
 * written to every open socket of the addressed devices; a push is a hint to fetch, never the only
 * copy, so a device that misses one catches up from the log or mailbox. */
import type { PushMessage } from '@agora/client-sdk/protocol';

/** The part of a `ws` socket the hub uses, so the hub can be exercised without a network. */
export interface PushSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

const OPEN = 1;

export class PushHub {
  private readonly byDevice = new Map<string, Set<PushSocket>>();
  private readonly userOf = new Map<string, string>();
  private readonly byUser = new Map<string, Set<string>>();

  add(deviceId: string, userId: string, socket: PushSocket): void {
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
    let data: string | undefined;
    const seen = new Set<string>();
    for (const id of deviceIds) {
      if (seen.has(id)) continue;
      seen.add(id);
      const sockets = this.byDevice.get(id);
      if (!sockets) continue;
      data ??= JSON.stringify(message);
      for (const socket of sockets) send(socket, data);
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
    const data = JSON.stringify(message);
    for (const sockets of this.byDevice.values()) for (const socket of sockets) send(socket, data);
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
    this.closeDevices([...this.byDevice.keys()], code, reason);
  }
}

function send(socket: PushSocket, data: string): void {
  if (socket.readyState !== OPEN) return;
  try {
    socket.send(data);
  } catch {
    // A socket that fails to take a write is dead; the keepalive sweep removes it.
  }
}
