/** Devices for the benchmarks, enrolled and signed in exactly as the SDK does it (AgoraClient's
 * issueInvite and register: the issuing device approves the invite key derived from the code; the new
 * device signs its enrolment with that invite key and with its own key; challenge-response for a
 * bearer token), but without a profile on disk, so hundreds of them cost seconds. Keys come from the
 * SDK's own device-key code (libsodium). */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RelayHttp, authChallengeMessage, generateInviteCode, inviteHash, newId, toB64u, fromB64u } from '@agora/client-sdk';
import { deviceEnrolmentMessage, inviteApprovalMessage, inviteKeyPair } from '@agora/protocol/kt';
import { nodeFetch, nodeProfile } from '@agora/client-sdk/node';
import { generateDeviceKeys, sign } from '@agora/protocol/crypto/device-keys';

export const PASSPHRASE = 'bench passphrase, not a secret';

const live = new Set<string>();

/** Temporary directories removed by `cleanup`, also when the run fails half-way. */
export class TempDirs {
  private readonly dirs: string[] = [];
  async make(prefix: string, base = os.tmpdir()): Promise<string> {
    const dir = await mkdtemp(path.join(base, `agora-bench-${prefix}-`));
    this.dirs.push(dir);
    live.add(dir);
    return dir;
  }
  async cleanup(): Promise<void> {
    const dirs = this.dirs.splice(0);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    for (const d of dirs) live.delete(d);
  }
}

/** For an interrupted run (Ctrl-C) or a failure: removes every temporary directory still there. */
export function removeAllTempDirsNow(): void {
  for (const d of live) rmSync(d, { recursive: true, force: true });
  live.clear();
}

export interface RawDevice {
  deviceId: string;
  userId: string;
  signSeed: Uint8Array;
  /** Authenticated API of this device. */
  http: RelayHttp;
  token(): Promise<string>;
}

/** Signs in with the device's key and keeps the token until shortly before it expires. */
function tokenSource(server: string, deviceId: string, signSeed: Uint8Array): () => Promise<string> {
  const open = new RelayHttp(server, nodeFetch);
  let cached: { value: string; expiresAt: number } | undefined;
  return async () => {
    if (cached && cached.expiresAt - 60_000 > Date.now()) return cached.value;
    const { challenge } = await open.challenge(deviceId);
    const signature = toB64u(await sign(signSeed, authChallengeMessage({ deviceId, challenge })));
    const t = await open.token_({ deviceId, challenge, signature });
    cached = { value: t.token, expiresAt: t.expiresAt };
    return t.token;
  };
}

export async function registerRawDevice(server: string, code: string): Promise<RawDevice> {
  const keys = await generateDeviceKeys();
  const open = new RelayHttp(server, nodeFetch);
  const invite = inviteKeyPair(code);
  const codeHash = toB64u(inviteHash(code));
  const info = await open.inviteInfo(codeHash);
  if (toB64u(invite.publicKey) !== info.invitePub) throw new Error('the relay answered with another invite than this code');
  const userId = info.kind === 'device' && info.userId ? info.userId : newId('u');
  const deviceId = newId('d');
  const enrolment = deviceEnrolmentMessage({ userId, deviceId, signPub: keys.signPub, encPub: keys.encPub });
  const reg = await open.register({
    codeHash,
    userId,
    deviceId,
    signPub: toB64u(keys.signPub),
    encPub: toB64u(keys.encPub),
    inviteSig: toB64u(await sign(invite.seed, enrolment)),
    deviceSig: toB64u(await sign(keys.signSeed, enrolment)),
  });
  const token = tokenSource(server, reg.deviceId, keys.signSeed);
  return { deviceId: reg.deviceId, userId: reg.userId, signSeed: keys.signSeed, http: new RelayHttp(server, nodeFetch, token), token };
}

/** The API of a device whose SDK profile is on disk (e.g. the administrator's), as an IT script on
 * that device would use it: the same keys, its own sign-in. */
export async function profileDevice(server: string, profileDir: string): Promise<RawDevice> {
  const state = await nodeProfile({ profileDir, passphrase: PASSPHRASE }).load();
  const signSeed = fromB64u(state.keys.signSeed);
  const token = tokenSource(server, state.deviceId, signSeed);
  return { deviceId: state.deviceId, userId: state.userId, signSeed, http: new RelayHttp(server, nodeFetch, token), token };
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the order of results. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** Creates `count` invites for new people, named `${prefix} 0001` etc.: the code is made on the
 * issuing device, which approves its invite key; the relay gets the hash, the key and the approval. */
export async function createInvites(issuer: RawDevice, prefix: string, count: number, concurrency = 8): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${prefix} ${String(i + 1).padStart(4, '0')}`);
  return pool(names, concurrency, async (name) => {
    const code = generateInviteCode();
    const { publicKey } = inviteKeyPair(code);
    const approval = toB64u(await sign(issuer.signSeed, inviteApprovalMessage({ invitePub: publicKey, kind: 'user', name, role: 'member' })));
    await issuer.http.createInvite({ kind: 'user', name, role: 'member', codeHash: toB64u(inviteHash(code)), invitePub: toB64u(publicKey), approval });
    return code;
  });
}
