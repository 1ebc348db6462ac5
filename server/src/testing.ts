/** Test support for the relay's own tests and multi-client scenarios that predate the SDK: a
 * device's Ed25519 key pair, a thin JSON client over global `fetch`, and enrolment and sign-in
 * done exactly as the protocol prescribes. Nothing here is used by the relay itself. */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authChallengeMessage, registerProofMessage, type RegisterResponse } from '@agora/client-sdk/protocol';
import { startRelay, type RunningRelay, type StartRelayOptions } from './relay.js';

export interface DeviceKeys {
  signPub: string;
  encPub: string;
  privateKey: KeyObject;
  sign(message: Uint8Array): string;
}

export function deviceKeys(): DeviceKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('ed25519 jwk without x');
  return {
    signPub: jwk.x,
    // The relay only stores the X25519 key; random bytes of the right length stand in for it.
    encPub: randomBytes(32).toString('base64url'),
    privateKey,
    sign: (message) => sign(null, message, privateKey).toString('base64url'),
  };
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  token?: string;
  /** Sent as is instead of JSON.stringify(body). */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
}

/** One JSON request; the answer's body is parsed when it is JSON. */
export async function call<T = Record<string, unknown>>(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let payload: string | Uint8Array | undefined;
  if (opts.raw !== undefined) payload = opts.raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(url + path, { method, headers, body: payload });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('application/json')) parsed = JSON.parse(text);
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export interface TestDevice extends DeviceKeys {
  deviceId: string;
  userId: string;
  name: string;
  role: string;
  token: string;
}

export async function signIn(url: string, device: { deviceId: string; sign(m: Uint8Array): string }): Promise<string> {
  const ch = await call<{ challenge: string }>(url, 'POST', '/v1/auth/challenge', { deviceId: device.deviceId });
  if (ch.status !== 200) throw new Error(`challenge failed: ${ch.status} ${JSON.stringify(ch.body)}`);
  const signature = device.sign(authChallengeMessage({ deviceId: device.deviceId, challenge: ch.body.challenge }));
  const tok = await call<{ token: string }>(url, 'POST', '/v1/auth/token', {
    deviceId: device.deviceId, challenge: ch.body.challenge, signature,
  });
  if (tok.status !== 200) throw new Error(`token failed: ${tok.status} ${JSON.stringify(tok.body)}`);
  return tok.body.token;
}

export function registerBody(invite: string, keys: DeviceKeys, name?: string) {
  const proof = keys.sign(registerProofMessage({ invite, signPub: keys.signPub, encPub: keys.encPub }));
  return { invite, signPub: keys.signPub, encPub: keys.encPub, proof, ...(name ? { name } : {}) };
}

/** Enrols a new device with the invite and signs it in. */
export async function enrol(url: string, invite: string, name?: string): Promise<TestDevice> {
  const keys = deviceKeys();
  const res = await call<RegisterResponse>(url, 'POST', '/v1/register', registerBody(invite, keys, name));
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  const device = { ...keys, deviceId: res.body.deviceId, userId: res.body.userId, name: res.body.name, role: res.body.role };
  return { ...device, token: await signIn(url, device) };
}

/** An invite for a new person, made by an administrator's device. */
export async function userInvite(
  url: string,
  admin: { token: string },
  name: string,
  extra: { role?: 'admin' | 'announcer' | 'member'; departmentId?: string; ttlMs?: number } = {},
): Promise<string> {
  const res = await call<{ code: string }>(url, 'POST', '/v1/invites', { kind: 'user', name, ...extra }, { token: admin.token });
  if (res.status !== 201) throw new Error(`invite failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.code;
}

/** A person's further device. */
export async function deviceInvite(url: string, by: { token: string }, userId?: string): Promise<string> {
  const res = await call<{ code: string }>(url, 'POST', '/v1/invites', { kind: 'device', ...(userId ? { userId } : {}) }, { token: by.token });
  if (res.status !== 201) throw new Error(`device invite failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.code;
}

/** A base64url string standing in for MLS bytes: the relay routes them without parsing. */
export function opaque(label: string): string {
  return Buffer.from(`${label}:${randomBytes(8).toString('hex')}`).toString('base64url');
}

export interface TestOrg {
  relay: RunningRelay;
  url: string;
  dataDir: string;
  /** The first administrator, enrolled with the bootstrap invite and signed in. */
  admin: TestDevice;
  /** Enrols a new person (user invite by the admin) and signs their device in. */
  person(name: string, extra?: { role?: 'admin' | 'announcer' | 'member'; departmentId?: string }): Promise<TestDevice>;
  close(): Promise<void>;
}

/** A relay on a free loopback port over a fresh SQLite directory, with its first admin. */
export async function startTestOrg(opts: Partial<StartRelayOptions> = {}): Promise<TestOrg> {
  const dataDir = mkdtempSync(join(tmpdir(), 'agora-relay-test-'));
  const relay = await startRelay({ port: 0, quiet: true, rateLimit: false, ...opts, dataDir });
  try {
    if (!relay.adminInvite) throw new Error('fresh relay without admin invite');
    const admin = await enrol(relay.url, relay.adminInvite, 'Admin');
    return {
      relay,
      url: relay.url,
      dataDir,
      admin,
      person: async (name, extra = {}) => enrol(relay.url, await userInvite(relay.url, admin, name, extra)),
      close: async () => {
        await relay.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await relay.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
