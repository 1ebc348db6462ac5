/** Node adapters for the SDK: profile files, global fetch and the `ws` WebSocket client. The core
 * never imports from here; the CLI, tests and IT scripts do. */
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { AgoraClient, type ClientDeps, type WebSocketFactory, type WebSocketLike } from '../client.js';
import { EncryptedProfile } from '../state/profile.js';
import type { FetchLike } from '../transport/http.js';
import { FileBlobStore } from './file-blob-store.js';

export { FileBlobStore };

export const nodeFetch: FetchLike = (url, init) => fetch(url, init);

export const nodeWebSocket: WebSocketFactory = (url, protocols) => new WebSocket(url, protocols) as unknown as WebSocketLike;

export function defaultProfileDir(): string {
  return path.join(os.homedir(), '.agora');
}

export function nodeDeps(opts: { profileDir: string; passphrase: string; insecureNoPassphrase?: boolean; addGraceMs?: number; now?: () => number }): ClientDeps {
  return {
    profile: new EncryptedProfile(new FileBlobStore(opts.profileDir), opts.passphrase, { insecureNoPassphrase: opts.insecureNoPassphrase }),
    fetch: nodeFetch,
    webSocket: nodeWebSocket,
    addGraceMs: opts.addGraceMs,
    now: opts.now,
  };
}

export async function openNodeClient(opts: { profileDir: string; passphrase: string; addGraceMs?: number }): Promise<AgoraClient> {
  return AgoraClient.open(nodeDeps(opts));
}

export async function registerNodeClient(opts: { profileDir: string; passphrase: string; server: string; invite: string; name?: string; addGraceMs?: number }): Promise<AgoraClient> {
  return AgoraClient.register(nodeDeps(opts), { server: opts.server, invite: opts.invite, name: opts.name });
}
