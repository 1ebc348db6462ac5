/** Shared harness for multi-client scenarios: a real relay on a loopback port with a real store in a
 * temporary data directory, and SDK clients each with their own profile directory. */
import { mkdtemp, readdir, rm, readFile } from 'node:fs/promises';
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRelay, type RunningRelay } from '@agora/server';
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps, nodeFetch, nodeProfile } from '@agora/client-sdk/node';
import { wsFactory } from '../cli/src/ws.js';
import type { Policy } from '@agora/protocol/kt';
import { fromB64u, toB64u } from '@agora/protocol';
import { sign } from '../protocol/src/crypto/device-keys.js';
import { authChallengeMessage } from '../protocol/src/signing.js';
import { groupInfo } from '../client-sdk/src/mls/group.js';
import { RelayHttp } from '../client-sdk/src/transport/http.js';

/** Node 20 has no WebSocket of its own; tests that listen for pushes use the CLI's. */
export { wsFactory };
import type { ProfileState } from '../client-sdk/src/core/state.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PASSPHRASE = 'correct horse battery staple';

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `agora-${prefix}-`));
}

/** A registered device as the tests use it: its client, profile directory and ids. */
export interface Person { client: AgoraClient; dir: string; userId: string; deviceId: string }

/** How a device registers: through the misbehaving relay at `via` rather than directly, on the
 * clock `now`, with its own key-transparency `policy` instead of the published one. */
export interface RegisterOptions { via?: string; now?: () => number; policy?: Policy }

/** Registers a device with `invite`. */
export async function registerPerson(world: World, invite: string, name?: string, opts: RegisterOptions = {}): Promise<Person> {
  const { client, profileDir: dir } = await world.register(invite, name, opts);
  return { client, dir, userId: client.me.userId, deviceId: client.me.deviceId };
}

/** A new person, invited by `inviter` and registered as above. */
export async function invitePerson(world: World, inviter: AgoraClient, name: string, opts: RegisterOptions = {}): Promise<Person> {
  const { code } = await inviter.createInvite({ name, newPerson: true });
  return registerPerson(world, code, name, opts);
}

export interface World {
  url: string;
  dataDir: string;
  adminInvite: string;
  /** The web app the relay serves (with `webDir`) and its build's log entry. */
  web?: RunningRelay['web'];
  close(): Promise<void>;
  /** Registers a device in a fresh profile directory (removed on close). */
  register(invite: string, name?: string, opts?: RegisterOptions): Promise<{ client: AgoraClient; profileDir: string }>;
  /** Opens another handle on an existing profile (as a second process would). */
  open(profileDir: string): Promise<AgoraClient>;
}

export async function startWorld(opts: { addGraceMs?: number; webDir?: string } = {}): Promise<World> {
  const dataDir = await tempDir('relay');
  const relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, quiet: true, webDir: opts.webDir });
  const adminInvite = relay.adminInvite ?? (await readFile(path.join(dataDir, 'admin-invite.txt'), 'utf8')).trim();
  const dirs: string[] = [dataDir];
  const depsFor = (profileDir: string, now?: () => number) => nodeDeps({ profileDir, passphrase: PASSPHRASE, addGraceMs: opts.addGraceMs ?? 0, now, webSocket: wsFactory });
  return {
    url: relay.url,
    dataDir,
    adminInvite,
    web: relay.web,
    async close() {
      await relay.close();
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
    async register(invite, name, { via, now, policy } = {}) {
      const profileDir = await tempDir('profile');
      dirs.push(profileDir);
      const client = await AgoraClient.register(depsFor(profileDir, now), { server: via ?? relay.url, invite, name, policy });
      return { client, profileDir };
    },
    open(profileDir) {
      return AgoraClient.open(depsFor(profileDir));
    },
  };
}

/** Every file below `dir` (a relay's data directory, a profile), for scans of what was written. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

/** A device's saved state, read as a second process would (for assertions on keys and groups). */
export function profileState(profileDir: string): Promise<ProfileState> {
  return nodeProfile({ profileDir, passphrase: PASSPHRASE }).load();
}

/** A device's token, taken as its own client takes it (a challenge signed with the device's key). */
export async function deviceToken(url: string, profileDir: string): Promise<string> {
  const { deviceId, keys } = await profileState(profileDir);
  const open = new RelayHttp(url, nodeFetch);
  const { challenge } = await open.challenge(deviceId);
  const signature = toB64u(await sign(fromB64u(keys.signSeed), authChallengeMessage({ deviceId, challenge })));
  return (await open.token_({ deviceId, challenge, signature })).token;
}

/** The relay's API as a device, signed in with its own key but without its client's checks: a
 * colleague's device that misbehaves, or a look at what the relay itself answers. */
export async function rawRelayAs(url: string, profileDir: string): Promise<RelayHttp> {
  const token = await deviceToken(url, profileDir);
  return new RelayHttp(url, nodeFetch, async () => token);
}

/** The people in the MLS tree a device holds for a secret group (user ids, once each, sorted): whom
 * that device encrypts to. */
export async function treeUsers(profileDir: string, groupId: string): Promise<string[]> {
  const mls = (await profileState(profileDir)).groups[groupId].mls!;
  return [...new Set(groupInfo(fromB64u(mls)).members.map((m) => m.userId))].sort();
}

/** Starts the real `agora` CLI (the built bin) with the tests' passphrase and no grace period. */
export function spawnCli(args: string[], opts: { profile?: string; env?: Record<string, string>; stdin?: 'ignore' | 'pipe' } = {}): ChildProcessByStdio<Writable | null, Readable, Readable> {
  const argv = [path.join(ROOT, 'cli/bin/agora.js'), ...(opts.profile ? ['--profile', opts.profile] : []), ...args];
  const env = { ...process.env, AGORA_PASSPHRASE: PASSPHRASE, AGORA_ADD_GRACE_MS: '0', ...opts.env };
  return opts.stdin === 'pipe' ? spawn(process.execPath, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the real `agora` CLI (the built bin), with `input` on its stdin, and returns its output and exit code. */
export function runCli(args: string[], opts: { profile?: string; env?: Record<string, string>; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, { ...opts, stdin: opts.input === undefined ? 'ignore' : 'pipe' });
    child.stdin?.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Starts the built relay as its own process (for restart and kill -9 scenarios). */
export async function spawnRelay(dataDir: string, port = 0): Promise<{ child: ChildProcess; url: string; port: number; stdout: () => string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'server/dist/main.js')], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${out}`)), 20_000);
    const check = () => {
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', () => reject(new Error(`relay exited: ${out}`)));
  });
  return { child, url, port: Number(new URL(url).port), stdout: () => out };
}
