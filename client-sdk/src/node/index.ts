/** Node adapters for the SDK: the profile directory and its lock, global fetch, and the platform's
 * WebSocket where Node has one. The core never imports from here; the CLI, tests and IT scripts do. */
import os from 'node:os';
import path from 'node:path';
import { AgoraClient, type ClientDeps, type WebSocketFactory, type WebSocketLike } from '../client.js';
import { AgoraError } from '../core/errors.js';
import type { ProfileState } from '../core/state.js';
import { PassphraseKeySource, type PassphraseKeySourceOptions } from '../keysource/passphrase.js';
import { EncryptedProfile } from '../state/profile.js';
import { StoreProfile } from '../state/store-profile.js';
import type { FetchLike } from '../transport/http.js';
import { FileBlobStore } from './file-blob-store.js';
import { NodeFileBackend, nodeFileIo, type FileIo } from './file-client-store.js';

export { FileBlobStore, NodeFileBackend };

export const nodeFetch: FetchLike = (url, init) => fetch(url, init);

/** The platform's own WebSocket where it has one (Node 22 and later, browsers). Node 20 has none
 * without a flag: a Node program that listens for pushes passes a factory over the \`ws\` package
 * (the CLI does), so the SDK itself carries no WebSocket implementation. */
export function platformWebSocket(): WebSocketFactory | undefined {
  const Impl = (globalThis as { WebSocket?: new (url: string, protocols?: string | string[]) => unknown }).WebSocket;
  return Impl ? (url, protocols) => new Impl(url, protocols) as WebSocketLike : undefined;
}

export function defaultProfileDir(): string {
  return path.join(os.homedir(), '.agora');
}

/** The profile lock for Node: the lock file of the profile directory (FileBlobStore's), which names
 * the holder's pid so a lock left by a killed process is taken over. */
export function nodeProfileLock(profileDir: string, waitMs?: number): () => Promise<() => Promise<void>> {
  const file = new FileBlobStore(profileDir, waitMs);
  return () => file.lock();
}

/** The single encrypted file of earlier releases (EncryptedProfile), and where it goes once its
 * content is in the store. */
export const LEGACY_PROFILE_FILE = 'profile.json';
export const MIGRATED_PROFILE_FILE = 'profile.json.migrated';

export interface NodeProfileOptions {
  profileDir: string;
  passphrase: string;
  /** Accept an empty passphrase: the profile is then still encrypted, but under a key anyone who can
   * read the directory derives as well. Only for throwaway profiles, and only when asked by name. */
  insecureNoPassphrase?: boolean;
  lockWaitMs?: number;
  /** Argon2id parameters for a new profile (tests use cheap ones; still within the bounds). */
  kdf?: PassphraseKeySourceOptions['kdf'];
  /** The file operations (a benchmark counts the bytes written). */
  io?: FileIo;
}

/** A profile directory: the journal store of NodeFileBackend under a passphrase (Argon2id, derived
 * once per process), locked per operation by the directory's lock file. A directory that still holds
 * the single-file profile of an earlier release is imported on first use (see migrateLegacy). */
export class NodeProfile extends StoreProfile {
  private legacyChecked = false;

  constructor(private readonly node: NodeProfileOptions) {
    super({
      backend: NodeFileBackend.lazy({ dir: node.profileDir, lock: false, io: node.io }),
      keySource: new PassphraseKeySource(node.passphrase, { kdf: node.kdf }),
      lock: nodeProfileLock(node.profileDir, node.lockWaitMs),
      describe: node.profileDir,
    });
  }

  /** Refuses an empty passphrase unless asked for by name. Every operation starts with the lock, so
   * this stops it before anything happens (registration, say, before the invite is used up). */
  private checkPassphrase(): void {
    if (this.node.passphrase === '' && !this.node.insecureNoPassphrase) {
      throw new AgoraError('no_passphrase', 'AGORA_PASSPHRASE is not set: set it to protect this device\'s keys (or pass --insecure-no-passphrase to go without)');
    }
  }

  override async lock(): Promise<() => Promise<void>> {
    this.checkPassphrase();
    const release = await super.lock();
    try {
      if (!this.legacyChecked) {
        await this.migrateLegacy();
        this.legacyChecked = true;
      }
    } catch (error) {
      await release();
      throw error;
    }
    return release;
  }

  override async exists(): Promise<boolean> {
    this.checkPassphrase();
    return (await super.exists()) || (await nodeFileIo.stamp(path.join(this.node.profileDir, LEGACY_PROFILE_FILE))) !== undefined;
  }

  /** Imports a profile of the single-file format (same passphrase) into the store, reads it back and
   * compares, and only then moves the old file aside to `profile.json.migrated` (kept, not deleted:
   * its owner removes it once satisfied). Runs holding the lock; a crash at any point leaves the
   * old file in place and the import is done again (the store's save writes what differs). */
  private async migrateLegacy(): Promise<void> {
    const blobs = new FileBlobStore(this.node.profileDir);
    if ((await nodeFileIo.stamp(path.join(this.node.profileDir, LEGACY_PROFILE_FILE))) === undefined) return;
    const legacy = await new EncryptedProfile(blobs, this.node.passphrase, { insecureNoPassphrase: this.node.insecureNoPassphrase }).load();
    await this.save(legacy);
    const back = await this.load();
    if (canonicalState(back) !== canonicalState(legacy)) {
      throw new AgoraError('profile_corrupt', `importing the profile at ${this.location} into the new storage did not read back the same state; the old profile file is left in place`);
    }
    let target = path.join(this.node.profileDir, MIGRATED_PROFILE_FILE);
    if ((await nodeFileIo.stamp(target)) !== undefined) target = `${target}.${Date.now()}`;
    await nodeFileIo.rename(path.join(this.node.profileDir, LEGACY_PROFILE_FILE), target);
    await nodeFileIo.syncDir(this.node.profileDir);
  }
}

/** JSON with sorted keys and messages in log order: two states that mean the same compare equal. */
function canonicalState(state: ProfileState): string {
  const sorted = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sorted);
    if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])]));
    return value;
  };
  const groups = Object.fromEntries(Object.entries(state.groups).map(([id, g]) => [id, { ...g, messages: [...g.messages].sort((a, b) => a.seq - b.seq) }]));
  return JSON.stringify(sorted({ ...state, groups }));
}

/** The profile of a directory, as the CLI opens it (also for scripts and tests that read a
 * profile's saved state). */
export function nodeProfile(opts: NodeProfileOptions): NodeProfile {
  return new NodeProfile(opts);
}

export function nodeDeps(opts: { profileDir: string; passphrase: string; insecureNoPassphrase?: boolean; addGraceMs?: number; now?: () => number; webSocket?: WebSocketFactory }): ClientDeps {
  return {
    profile: nodeProfile({ profileDir: opts.profileDir, passphrase: opts.passphrase, insecureNoPassphrase: opts.insecureNoPassphrase }),
    fetch: nodeFetch,
    webSocket: opts.webSocket ?? platformWebSocket(),
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
