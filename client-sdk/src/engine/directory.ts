/** The relay's directory (a hint for ids and names), the one-request sync that starts most
 * operations, and the devices and people as the key-transparency log proves them. */
import * as api from '@agora/protocol/api';
import { sameName } from '@agora/protocol/names';
import { fromB64u, toB64u } from '@agora/protocol/encoding';
import { AgoraError } from '../core/errors.js';
import type { DeviceLookup, MlsIdentity } from '../mls/index.js';
import { type Op, ask } from './op.js';
import { req, witnessQuery, witnessSelection } from './requests.js';
import type { Machine } from './machine.js';

export async function* refreshDirectory(mc: Machine): Op<void> {
  mc.state.directory = yield* ask(req.directory());
}

/** One request for everything an operation starts from (GET /v1/sync): the directory's changes
 * are applied and the checkpoint is verified here; the other parts are hints each step checks
 * exactly as it checks the answer of their own endpoint. The cursor names what this device
 * applied, so an answer lost on the way is asked for again unchanged. */
export async function* fetchSync(mc: Machine): Op<api.SyncResponse> {
  const answer = yield* ask(req.sync(`${mc.state.directorySeq}.${mc.state.mailboxCursor}`, witnessQuery(witnessSelection(mc.trust.policy))));
  const { full, users, devices } = answer.directory;
  if (full) {
    mc.state.directory = { users, devices };
  } else if (users.length > 0 || devices.length > 0) {
    const merge = <T extends { id: string; createdAt: number }>(held: T[], changed: T[]): T[] => {
      const byId = new Map(held.map((x) => [x.id, x]));
      for (const x of changed) byId.set(x.id, x);
      // The relay's order, as a whole directory would come.
      return [...byId.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    };
    mc.state.directory = { users: merge(mc.state.directory.users, users), devices: merge(mc.state.directory.devices, devices) };
  }
  mc.state.directorySeq = Number(answer.cursor.split('.')[0]);
  // Before anything else is decided on it: fails closed when the log cannot be verified.
  yield* mc.trust.refresh(answer.checkpoint?.checkpoint);
  yield* followOwnRole(mc);
  return answer;
}

/** When the directory hints that this person's role changed, the log decides: verifying their own
 * entries sets the role this device acts with (KtTrust.keepVerified); a relay that only claims a
 * change changes nothing. */
export async function* followOwnRole(mc: Machine): Op<void> {
  const listed = mc.state.directory.users.find((u) => u.id === mc.state.userId);
  if (listed && listed.role !== mc.state.role) yield* mc.trust.ensureUsers([mc.state.userId]);
}

export function device(mc: Machine, deviceId: string): api.Device | undefined {
  return mc.state.directory.devices.find((d) => d.id === deviceId);
}

export function user(mc: Machine, userId: string): api.User | undefined {
  return mc.state.directory.users.find((u) => u.id === userId);
}

/** A person's active devices with the keys the key-transparency log proves (call
 * `trust.ensureUsers` first); devices the log does not show are not there. */
export function activeDevicesOf(mc: Machine, userId: string): api.Device[] {
  return mc.trust.activeDevicesOf(userId).map((d) => asDevice(mc, d.deviceId)!);
}

/** A person's devices that may join their secret groups: active and vouched for by their own
 * devices (see KtTrust.approvedDevicesOf). */
export function approvedDevicesOf(mc: Machine, userId: string): api.Device[] {
  return mc.trust.approvedDevicesOf(userId).map((d) => asDevice(mc, d.deviceId)!);
}

/** A device with its verified keys, in the directory's shape; undefined if not verified. */
export function asDevice(mc: Machine, deviceId: string): api.Device | undefined {
  const t = mc.trust.device(deviceId);
  if (!t) return undefined;
  const v = mc.state.kt.users[t.userId]?.devices.find((d) => d.deviceId === deviceId);
  return {
    id: deviceId,
    userId: t.userId,
    signPub: toB64u(t.signPub),
    encPub: toB64u(t.encPub),
    status: t.active ? 'active' : 'revoked',
    createdAt: v?.addedAt ?? 0,
    enrolledBy: v?.via === 'bootstrap' ? 'bootstrap' : v?.via === 'device-invite' ? 'device-invite' : 'user-invite',
  };
}

/** The MLS authentication service: a leaf is accepted only with the key the log proves for it. */
export function mlsLookup(mc: Machine): DeviceLookup {
  return (deviceId) => {
    const d = mc.trust.device(deviceId);
    return d ? { userId: d.userId, signPub: d.signPub } : undefined;
  };
}

export function identity(mc: Machine): MlsIdentity {
  return {
    userId: mc.state.userId,
    deviceId: mc.state.deviceId,
    signPub: fromB64u(mc.state.keys.signPub),
    signSeed: fromB64u(mc.state.keys.signSeed),
  };
}

/** A person's name as their key-transparency entries give it once this device verified them;
 * until then the directory's, which is only a hint. */
export function nameOf(mc: Machine, userId: string): string {
  return mc.state.kt.users[userId]?.name ?? user(mc, userId)?.name ?? userId;
}

/** Finds a person by id or by name. A name is matched against the name in each candidate's
 * verified key-transparency entries, never against the relay's directory alone: the directory
 * only suggests whom to look up (with the people this device verified before, in case the relay
 * hides someone), and a directory name the log contradicts raises an alarm and matches nobody. */
export async function* resolveUser(mc: Machine, ref: string): Op<api.User> {
  const users = mc.state.directory.users;
  const byId = users.find((u) => u.id === ref);
  if (byId) return { ...byId, name: nameOf(mc, byId.id) };
  const candidates = new Set<string>();
  for (const u of users) if (sameName(u.name, ref)) candidates.add(u.id);
  for (const [id, v] of Object.entries(mc.state.kt.users)) if (sameName(v.name, ref)) candidates.add(id);
  if (candidates.size === 0) throw new AgoraError('no_such_user', `no person "${ref}" in this organisation`);
  const before = mc.trust.raised.length;
  const unverified = yield* mc.trust.ensureUsers(candidates);
  const size = mc.state.kt.checkpoint?.size;
  const named = [...candidates].flatMap((id) => {
    const v = mc.state.kt.users[id];
    return v && v.size === size && sameName(v.name, ref) ? [{ id, v }] : [];
  });
  const active = named.filter((n) => n.v.status === 'active');
  const pick = active.length > 0 ? active : named;
  if (pick.length > 1) throw new AgoraError('ambiguous', `several people are named "${ref}": use their user id`);
  if (pick.length === 1) {
    const { id, v } = pick[0];
    const listed = users.find((u) => u.id === id);
    return { id, name: v.name, role: v.role, status: v.status, departments: listed?.departments ?? [], createdAt: listed?.createdAt ?? 0 };
  }
  const why = mc.trust.raised.slice(before).map((a) => a.message).join('; ');
  if (unverified.length > 0) {
    // Someone of that name may exist, but the log does not prove who: fail closed, as for keys.
    throw new AgoraError('forbidden', `"${ref}" could not be verified in the key-transparency log${why ? ` (${why})` : ''}`);
  }
  throw new AgoraError('no_such_user', `no person named "${ref}" in the key-transparency log${why ? ` (${why})` : ''}`);
}

export async function* resolveUsers(mc: Machine, refs: string[]): Op<api.User[]> {
  const out: api.User[] = [];
  for (const ref of refs) out.push(yield* resolveUser(mc, ref));
  return out;
}

/** Runs an MLS operation with the verified-key lookup; if it met devices not verified yet, verifies
 * their owners in the key-transparency log and tries once more. */
export async function* withVerifiedLookup<T>(mc: Machine, fn: (lookup: DeviceLookup) => Promise<T>): Op<T> {
  const tried = new Set<string>();
  for (;;) {
    const missed = new Set<string>();
    const lookup: DeviceLookup = (id) => {
      const d = mlsLookup(mc)(id);
      if (!d && !tried.has(id)) missed.add(id);
      return d;
    };
    try {
      return await fn(lookup);
    } catch (e) {
      // MLS stops at the first unknown leaf: verify what it met and go again, until nothing new.
      if (missed.size === 0) throw e;
      for (const id of missed) tried.add(id);
      yield* mc.trust.ensureDevices(missed);
    }
  }
}

/** This device's own encryption keys, to open what was sealed to it. */
export function selfKeys(mc: Machine): { deviceId: string; encPub: Uint8Array; encSecret: Uint8Array } {
  return { deviceId: mc.state.deviceId, encPub: fromB64u(mc.state.keys.encPub), encSecret: fromB64u(mc.state.keys.encSecret) };
}
