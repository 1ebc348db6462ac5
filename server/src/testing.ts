/** Test support for the relay's own tests and multi-client scenarios that predate the SDK: a
 * device's Ed25519 key pair, a thin JSON client over global `fetch`, and enrolment and sign-in
 * done exactly as the protocol prescribes. Nothing here is used by the relay itself. */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deviceEnrolmentMessage, idListHash, inviteApprovalMessage, inviteKeyPair, membershipCommitment, membershipMessage,
  orgKeyGenerationMessage,
} from '@agora/protocol/kt';
import {
  authChallengeMessage, fromB64u, ktReaderChallengeMessage, generateInviteCode, inviteHash, newId, toB64u, type InviteInfoResponse,
  type MembershipProof, type RegisterResponse, type Role,
} from '@agora/protocol';
import { startRelay, type RunningRelay, type StartRelayOptions } from './relay.js';
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';

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

/** Signs with the Ed25519 key an invite code derives (what the registering device does). */
export function inviteSigner(code: string): (message: Uint8Array) => string {
  const { seed, publicKey } = inviteKeyPair(code);
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: toB64u(seed), x: toB64u(publicKey) }, format: 'jwk' });
  return (message) => sign(null, message, key).toString('base64url');
}

export const codeHashOf = (code: string): string => toB64u(inviteHash(code));

/** A registration request for `code`, signed by the invite key and the device; `userId` is the
 * person's (a fresh one for a user invite). */
export function registerBody(code: string, keys: DeviceKeys, ids: { userId?: string; deviceId?: string; name?: string } = {}) {
  const userId = ids.userId ?? newId('u');
  const deviceId = ids.deviceId ?? newId('d');
  const message = deviceEnrolmentMessage({ userId, deviceId, signPub: fromB64u(keys.signPub), encPub: fromB64u(keys.encPub) });
  return {
    codeHash: codeHashOf(code), userId, deviceId, signPub: keys.signPub, encPub: keys.encPub,
    inviteSig: inviteSigner(code)(message), deviceSig: keys.sign(message), ...(ids.name ? { name: ids.name } : {}),
  };
}

/** What the relay says the invite is for, or undefined for an unknown, used or expired one. */
export async function inviteInfo(url: string, code: string): Promise<InviteInfoResponse | undefined> {
  const res = await call<InviteInfoResponse>(url, 'GET', `/v1/invites/${codeHashOf(code)}`);
  return res.status === 200 ? res.body : undefined;
}

/** registerBody with the person the invite names (a further device) or a fresh id, as the SDK does. */
export async function registration(url: string, code: string, keys: DeviceKeys, name?: string) {
  const info = await inviteInfo(url, code);
  return registerBody(code, keys, { userId: info?.userId ?? undefined, name });
}

/** Enrols a new device with the invite and signs it in. */
export async function enrol(url: string, invite: string, name?: string): Promise<TestDevice> {
  const keys = deviceKeys();
  const res = await call<RegisterResponse>(url, 'POST', '/v1/register', await registration(url, invite, keys, name));
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  const device = { ...keys, deviceId: res.body.deviceId, userId: res.body.userId, name: res.body.name, role: res.body.role };
  return { ...device, token: await signIn(url, device) };
}

export type InviteSpec =
  | { kind: 'user'; name: string; role?: Role; departmentId?: string; ttlMs?: number }
  | { kind: 'device'; userId?: string; ttlMs?: number };

/** A POST /v1/invites body made as a client makes it: a fresh code, its hash and public key, and
 * the approval signed by `by` (for a device invite, of `spec.userId` or else `by`'s own person). */
export function inviteBody(by: { userId: string; sign(m: Uint8Array): string }, spec: InviteSpec, code = generateInviteCode()) {
  const { publicKey } = inviteKeyPair(code);
  const approval = by.sign(inviteApprovalMessage(
    spec.kind === 'user'
      ? { invitePub: publicKey, kind: 'user', name: spec.name, role: spec.role ?? 'member' }
      : { invitePub: publicKey, kind: 'device', userId: spec.userId ?? by.userId },
  ));
  return { code, body: { ...spec, codeHash: codeHashOf(code), invitePub: toB64u(publicKey), approval } };
}

type Issuer = { token: string; userId: string; sign(m: Uint8Array): string };

/** An invite for a new person, made by an administrator's device. */
export async function userInvite(
  url: string,
  admin: Issuer,
  name: string,
  extra: { role?: 'admin' | 'announcer' | 'member'; departmentId?: string; ttlMs?: number } = {},
): Promise<string> {
  const { code, body } = inviteBody(admin, { kind: 'user', name, ...extra });
  const res = await call(url, 'POST', '/v1/invites', body, { token: admin.token });
  if (res.status !== 201) throw new Error(`invite failed: ${res.status} ${JSON.stringify(res.body)}`);
  return code;
}

/** A person's further device. */
export async function deviceInvite(url: string, by: Issuer, userId?: string): Promise<string> {
  const { code, body } = inviteBody(by, { kind: 'device', ...(userId ? { userId } : {}) });
  const res = await call(url, 'POST', '/v1/invites', body, { token: by.token });
  if (res.status !== 201) throw new Error(`device invite failed: ${res.status} ${JSON.stringify(res.body)}`);
  return code;
}

/** A secret group's member devices from `epoch` on, committed with a random salt (these tests run
 * no MLS) and signed by `by` (duplicates dropped). */
export function membership(by: { sign(m: Uint8Array): string }, groupId: string, epoch: number, members: string[]): MembershipProof {
  const commitment = membershipCommitment(new Uint8Array(randomBytes(32)), [...new Set(members)]);
  return { commitment: toB64u(commitment), sealedForAuditors: [], signature: by.sign(membershipMessage(groupId, epoch, commitment)) };
}

/** A POST /v1/groups body for a secret group: its id chosen and its first membership signed by `by`. */
/** A secret group's name stays with its members (encrypted in its log), so `_name` only labels the
 * call and is never sent. */
export function secretGroupBody(by: { deviceId: string; sign(m: Uint8Array): string }, _name: string, departmentId?: string) {
  const id = newId('g');
  return { id, kind: 'secret' as const, ...(departmentId ? { departmentId } : {}), membership: membership(by, id, 0, [by.deviceId]) };
}

/** A commit body whose signed membership is the group's member devices (as `by` sees them) after
 * the declared adds and removals; opaque MLS bytes unless given. */
export async function commitBody(
  url: string,
  by: { token: string; deviceId: string; sign(m: Uint8Array): string },
  groupId: string,
  c: { epoch: number; added?: string[]; removed?: string[]; welcome?: string; commit?: string },
) {
  const view = await call<{ memberDevices?: string[] }>(url, 'GET', `/v1/groups/${groupId}`, undefined, { token: by.token });
  const current = view.status === 200 ? (view.body.memberDevices ?? []) : [by.deviceId];
  const removed = new Set(c.removed ?? []);
  const after = current.filter((d) => !removed.has(d)).concat(c.added ?? []);
  return {
    commit: opaque('commit'), added: [], removed: [], ...c,
    membership: membership(by, groupId, c.epoch + 1, after.length > 0 ? after : [by.deviceId]),
  };
}

/** A POST /v1/orgkeys/generations body signed by `by`. */
export function generationBody(by: { sign(m: Uint8Array): string }, generation: number, envelopes: { deviceId: string; sealed: string }[] = []) {
  const hash = idListHash([...new Set(envelopes.map((e) => e.deviceId))]);
  // Stands in for orgKeyCommitment(orgId, generation, key): the relay logs it without checking it.
  const keyCommitment = new Uint8Array(randomBytes(32));
  return {
    generation, envelopes, deviceSetHash: toB64u(hash), keyCommitment: toB64u(keyCommitment),
    signature: by.sign(orgKeyGenerationMessage(generation, hash, keyCommitment)),
  };
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

/** Signs a witness or auditor in with its 32-byte Ed25519 seed, as `agora witness` and `agora audit` do. */
export async function readerToken(url: string, role: 'witness' | 'auditor', seed: Uint8Array): Promise<string> {
  const crypto = await loadCryptoProvider();
  const key = toB64u(crypto.ed25519PublicKey(seed));
  const ch = await call<{ challenge: string }>(url, 'POST', '/v1/kt/auth/challenge', { role, key });
  if (ch.status !== 200) throw new Error(`kt challenge failed: ${ch.status} ${JSON.stringify(ch.body)}`);
  const signature = toB64u(crypto.ed25519Sign(seed, ktReaderChallengeMessage({ role, key, challenge: ch.body.challenge })));
  const tok = await call<{ token: string }>(url, 'POST', '/v1/kt/auth/token', { role, key, challenge: ch.body.challenge, signature });
  if (tok.status !== 200) throw new Error(`kt token failed: ${tok.status} ${JSON.stringify(tok.body)}`);
  return tok.body.token;
}

/** Publishes a key-transparency policy for the relay's own log with these witnesses and auditors. */
export async function publishKtPolicy(
  url: string,
  admin: { token: string },
  extra: { witnesses?: { name: string; vkey: string }[]; auditors?: { name: string; signPub: string; encPub: string }[]; quorum?: number } = {},
): Promise<void> {
  const { origin, vkey } = (await call<{ origin: string; vkey: string }>(url, 'GET', '/v1/kt/policy')).body;
  const policy = { log: { origin, vkey }, witnesses: extra.witnesses ?? [], auditors: extra.auditors ?? [], quorum: extra.quorum ?? 0, maxCheckpointAgeSeconds: 3600 };
  const res = await call(url, 'POST', '/v1/kt/policy', policy, { token: admin.token });
  if (res.status !== 200) throw new Error(`publishing the policy failed: ${res.status} ${JSON.stringify(res.body)}`);
}
