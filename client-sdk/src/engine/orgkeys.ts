/** Organisation keys (public groups): generations learnt from the key-transparency log, envelopes
 * opened and handed over, and rotation. */
import * as api from '@agora/protocol/api';
import { LIMITS } from '@agora/protocol';
import { bytesEqual, fromB64u, toB64u } from '@agora/protocol/encoding';
import { type OrgKeyGenerationEntry, decodeEntry, idListHash, orgKeyGenerationMessage } from '@agora/protocol/kt/entries';
import { AgoraError } from '../core/errors.js';
import { sign, verify } from '@agora/protocol/crypto/device-keys';
import { SealedRejected, newOrgKey, openOrgKey, orgKeyCommitment, sealOrgKey } from '../crypto/orgkeys.js';
import type { OrgKeyLog } from '../core/state.js';
import { emptyOrgKeyLog, foldOrgKeyLog, generationInfo, rotationOwed, writable } from '../core/orgkey-log.js';
import { type Op, ask } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import { DEFAULT_ROTATION_GRACE_MS } from './types.js';
import { activeDevicesOf, asDevice, refreshDirectory, selfKeys } from './directory.js';

export function orgKey(mc: Machine, generation: number): Uint8Array | undefined {
  const k = mc.state.orgKeys[String(generation)];
  return k ? fromB64u(k) : undefined;
}

/** Everyone this device may seal organisation keys to: active devices of active people. */
export async function* sealableDevices(mc: Machine): Op<api.Device[]> {
  const people = mc.state.directory.users.filter((u) => u.status === 'active').map((u) => u.id);
  yield* mc.trust.ensureUsers(people);
  return people.flatMap((u) => activeDevicesOf(mc, u));
}

/** The key a sealed payload's sender signs with, as the log proves it. */
export function sealerKey(mc: Machine): (deviceId: string) => Uint8Array | undefined {
  return (deviceId: string): Uint8Array | undefined => mc.trust.device(deviceId)?.signPub;
}

/** The relay's answers are hints; what counts is the key-transparency log. This device reads the
 * log's new entries (proven complete), accepts a generation's key only if its entry is proven, its
 * creator was an active device then, the sealer is an active device now and the key matches the
 * logged commitment; and when the log shows a revocation or deactivation newer than the latest
 * generation it rotates: an administrator's device at once, a colleague's device once
 * `rotationGraceMs` passed without one, and any device at once before it writes a public record
 * (`writing`). */
export async function* syncOrgKeys(mc: Machine, opts: { writing?: boolean; fetched?: Pick<api.SyncResponse, 'orgKeys' | 'pending'> } = {}): Op<void> {
  let keys = opts.fetched?.orgKeys ?? (yield* ask(req.orgKeys()));
  yield* learnOrgKeyLog(mc, keys);
  yield* openOrgEnvelopes(mc, keys);
  const admin = mc.state.role === 'admin';
  const log = orgLog(mc);
  const next = 1 + Math.max(keys.current, ...Object.keys(log.generations).map(Number), ...Object.keys(log.createdHere).map(Number));
  const graceOver = log.lastRevocation !== null && mc.now() - log.lastRevocation.time > (mc.config.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS);
  const rotate = next === 1 ? admin : (rotationOwed(log) && (admin || opts.writing === true || graceOver)) || (admin && keys.rotationNeeded);
  if (rotate && !(yield* createOrgGeneration(mc, next))) {
    // Another device rotated first: take its generation.
    keys = yield* ask(req.orgKeys());
    yield* learnOrgKeyLog(mc, keys);
    yield* openOrgEnvelopes(mc, keys);
  }
  // After a rotation the devices waiting are others than the sync answer listed.
  const { pending } = opts.fetched && !rotate ? { pending: opts.fetched.pending } : (yield* ask(req.pending()));
  const out: api.Envelope[] = [];
  yield* mc.trust.ensureDevices(pending.map((p) => p.deviceId));
  for (const p of pending) {
    if (p.deviceId === mc.state.deviceId) continue;
    // Sealed only to a device the log proves: never to a key the relay alone vouches for.
    const target = asDevice(mc, p.deviceId);
    if (!target || target.status !== 'active') continue;
    for (const generation of p.missing) {
      const key = orgKey(mc, generation);
      if (!key) continue;
      out.push({ generation, deviceId: target.id, sealed: await sealOrg(mc, generation, key, target) });
    }
  }
  for (let i = 0; i < out.length; i += LIMITS.fanOut) yield* ask(req.uploadEnvelopes(out.slice(i, i + LIMITS.fanOut)));
}

/** The generation a public record is written under: the highest one held whose log entry comes
 * after the latest revocation or deactivation (the person who left may hold any older one) and
 * whose key matches the logged commitment (checked again here: a profile may hold keys stored before
 * every way in checked them). */
export function writableOrgGeneration(mc: Machine): { generation: number; key: Uint8Array } {
  const held = Object.keys(mc.state.orgKeys).map(Number).sort((a, b) => b - a);
  if (held.length === 0) throw new AgoraError('no_key', 'this device has no organisation key yet: a colleague\'s device must be online to hand it over (try "agora sync" later)');
  const log = orgLog(mc);
  for (const generation of held) {
    if (!writable(log, generation)) continue;
    const key = orgKey(mc, generation)!;
    const logged = log.generations[String(generation)]?.keyCommitment;
    if (logged && !bytesEqual(orgKeyCommitment(mc.state.orgId, generation, key), fromB64u(logged))) {
      mc.trust.alarm('orgkey_substitution', `the key this device holds for organisation-key generation ${generation} is not the one its creator logged: not used`);
      continue;
    }
    return { generation, key };
  }
  throw new AgoraError('no_key', `this device does not hold the organisation key generation that follows the latest revocation in the key-transparency log yet (it holds ${held[0]}); nothing was sent: try again once a colleague's device has handed it over`);
}

export function orgLog(mc: Machine): OrgKeyLog {
  return (mc.state.kt.orgKeyLog ??= emptyOrgKeyLog(0));
}

/** Reads the key-transparency log from where this device stopped, proven complete, and learns
 * revocations and generations from it. The first time it starts at the entry of the generation
 * the relay calls current (every revocation before that entry is settled by it), or at the
 * beginning when that is not a generation entry the log proves. */
export async function* learnOrgKeyLog(mc: Machine, hint: api.OrgKeysResponse): Op<void> {
  yield* mc.trust.refresh();
  let log = mc.state.kt.orgKeyLog;
  let tail: { index: number; bytes: Uint8Array }[];
  if (!log) {
    const at = hint.generations.find((g) => g.generation === hint.current)?.index ?? 0;
    tail = yield* mc.trust.tail(at);
    const first = tail[0] ? decodeEntry(tail[0].bytes) : undefined;
    if (at > 0 && !(first?.type === 'orgkey-generation' && first.generation === hint.current)) tail = yield* mc.trust.tail(0);
    log = emptyOrgKeyLog(tail[0]?.index ?? 0);
  } else {
    tail = yield* mc.trust.tail(log.scannedTo);
  }
  const creators = tail.map((e) => decodeEntry(e.bytes)).flatMap((e) => (e.type === 'orgkey-generation' ? [e.creatorDeviceId] : []));
  yield* mc.trust.ensureDevices(creators);
  const folded = await foldOrgKeyLog(log, tail, (e, index, ctx) => checkGenerationEntry(mc, e, index, ctx));
  for (const r of folded.refused) {
    mc.trust.alarm('bad_generation', `the key-transparency log holds organisation-key generation ${r.generation} (entry ${r.index}) that is refused: ${r.reason}`, [mc.trust.checkpointNote ?? '']);
  }
  mc.state.kt.orgKeyLog = folded.log;
}

/** Why a generation entry cannot be trusted, or undefined. Its creator must have been an active
 * device of an active person at the entry and must have signed it; a creator who is not an
 * administrator may only have settled a revocation newer than the generation before. */
export async function checkGenerationEntry(mc: Machine, e: OrgKeyGenerationEntry, index: number, ctx: { previous: number | null; lastRevocation: number | null }): Promise<string | undefined> {
  const active = mc.trust.deviceActiveAt(e.creatorDeviceId, index);
  if (active === undefined) return `its creator ${e.creatorDeviceId} is not a device the log shows`;
  if (!active) return `its creator ${e.creatorDeviceId} was revoked or deactivated`;
  const creator = mc.trust.device(e.creatorDeviceId)!;
  if (!(await verify(creator.signPub, orgKeyGenerationMessage(e.generation, e.deviceSetHash, e.keyCommitment), e.signature))) return 'its signature does not verify';
  // The role the creator held when they made it: an administrator demoted later still made it as one.
  const role = mc.trust.roleAt(creator.userId, index);
  if (role !== 'admin' && ctx.previous !== null && !(ctx.lastRevocation !== null && ctx.lastRevocation > ctx.previous)) {
    return 'it was created by a colleague who is not an administrator while no revocation was pending';
  }
  return undefined;
}

/** The verified log entry of a generation: from the scan, or proven on its own at the position
 * `index` names (the relay's or a history bundle's hint, for a generation older than where this
 * device began to read the log). */
export async function* loggedGeneration(mc: Machine, generation: number, index: number | undefined): Op<OrgKeyLog['generations'][string] | undefined> {
  const log = orgLog(mc);
  const known = log.generations[String(generation)];
  if (known) return known;
  if (index === undefined || index >= log.scannedTo) return undefined;
  const e = decodeEntry(yield* mc.trust.provenEntry(index));
  if (e.type !== 'orgkey-generation' || e.generation !== generation) {
    mc.trust.alarm('bad_generation', `the relay named log entry ${index} as organisation-key generation ${generation}, which it is not`, [mc.trust.checkpointNote ?? '']);
    return undefined;
  }
  yield* mc.trust.ensureDevices([e.creatorDeviceId]);
  const reason = await checkGenerationEntry(mc, e, index, { previous: null, lastRevocation: null });
  if (reason) {
    mc.trust.alarm('bad_generation', `organisation-key generation ${generation} (entry ${index}) is refused: ${reason}`, [mc.trust.checkpointNote ?? '']);
    return undefined;
  }
  return (log.generations[String(generation)] = generationInfo(e, index));
}

export async function* openOrgEnvelopes(mc: Machine, keys: api.OrgKeysResponse): Op<void> {
  const waiting = keys.envelopes.filter((e) => !mc.state.orgKeys[String(e.generation)]);
  yield* mc.trust.ensureDevices(waiting.map((e) => e.sealedBy));
  for (const env of waiting) {
    const g = env.generation;
    if (mc.state.orgKeys[String(g)]) continue;
    const logged = yield* loggedGeneration(mc, g, keys.generations.find((x) => x.generation === g)?.index);
    if (!logged) {
      mc.warnings.push(`an organisation key envelope for generation ${g} was ignored: the key-transparency log does not prove that generation`);
      continue;
    }
    const source = 'an organisation key envelope';
    if (!orgKeySourceAllowed(mc, g, logged, env.sealedBy, source)) {
      yield* reportRefusedEnvelope(mc, env);
      continue;
    }
    let opened;
    try {
      opened = await openOrgKey({ sealed: env.sealed, expectedGeneration: g, self: selfKeys(mc), sealerSignPub: sealerKey(mc) });
    } catch (e) {
      // The relay stores what devices sealed: an envelope that does not open as addressed was
      // swapped on the way or sealed wrongly by a colleague's device.
      mc.trust.alarm('orgkey_substitution', `an organisation key envelope for generation ${g} from device ${env.sealedBy} was refused (${e instanceof SealedRejected ? e.reason : 'undecodable'})`);
      yield* reportRefusedEnvelope(mc, env);
      continue;
    }
    if (!orgKeyMatchesLog(mc, g, logged, opened.key, env.sealedBy, source)) {
      yield* reportRefusedEnvelope(mc, env);
      continue;
    }
    mc.state.orgKeys[String(g)] = toB64u(opened.key);
  }
}

/** Whether device `from` may hand over generation `g`'s key at all; raises orgkey_substitution
 * when not. A device revoked (or whose person was deactivated) before the generation's entry never
 * held its key: whatever it hands over is refused. One revoked later did hold it, and what it
 * handed over while active (a colleague's hand-over to a newcomer) is still good when the key
 * matches the logged commitment; without a commitment to check (version-1 entries) it is not.
 * The one rule for envelopes and history bundles. */
export function orgKeySourceAllowed(mc: Machine, g: number, logged: OrgKeyLog['generations'][string], from: string, source: string): boolean {
  const inactiveSince = mc.trust.inactiveSince(from);
  if (inactiveSince === undefined || (inactiveSince !== null && (inactiveSince < logged.index || logged.keyCommitment === null))) {
    mc.trust.alarm('orgkey_substitution', `${source} for generation ${g} sealed by device ${from}, which is revoked, deactivated or unknown to the log, was refused`);
    return false;
  }
  return true;
}

/** Whether `key` is the one generation `g`'s creator committed to in the log (version-1 entries
 * commit to none: then orgKeySourceAllowed alone decides); raises orgkey_substitution when not. */
export function orgKeyMatchesLog(mc: Machine, g: number, logged: OrgKeyLog['generations'][string], key: Uint8Array, from: string, source: string): boolean {
  if (logged.keyCommitment === null || bytesEqual(orgKeyCommitment(mc.state.orgId, g, key), fromB64u(logged.keyCommitment))) return true;
  mc.trust.alarm('orgkey_substitution', `device ${from} sealed another key for organisation-key generation ${g} than the one its creator logged (${source}): refused`);
  return false;
}

/** Tells the relay this device refused its envelope, so that the relay drops it and a colleague's
 * device seals the generation again on its next sync: otherwise the relay keeps the first envelope
 * per (generation, device) for good and this device would never get that generation. */
export async function* reportRefusedEnvelope(mc: Machine, env: api.StoredEnvelope): Op<void> {
  try {
    yield* ask(req.refuseEnvelope({ generation: env.generation, sealedBy: env.sealedBy, sealed: env.sealed }));
  } catch (e) {
    mc.warnings.push(`could not report the refused organisation key envelope for generation ${env.generation} (${(e as Error).message}); it is reported again on the next sync`);
  }
}

export function sealOrg(mc: Machine, generation: number, key: Uint8Array, target: api.Device): Promise<string> {
  return sealOrgKey({
    generation,
    key,
    recipient: { deviceId: target.id, encPub: fromB64u(target.encPub) },
    sealer: { deviceId: mc.state.deviceId, signSeed: fromB64u(mc.state.keys.signSeed) },
    random: mc.random,
  });
}

/** Creates generation `generation`, sealed to the active devices the log shows, and logs its key
 * commitment. False if another generation was created first. */
export async function* createOrgGeneration(mc: Machine, generation: number): Op<boolean> {
  yield* refreshDirectory(mc);
  const key = newOrgKey(mc.random);
  const envelopes = [];
  const devices = yield* sealableDevices(mc);
  const sealedAt = mc.state.kt.checkpoint?.size ?? 0;
  for (const d of devices) envelopes.push({ deviceId: d.id, sealed: await sealOrg(mc, generation, key, d) });
  // The key-transparency log records who the generation was sealed to and a commitment to the
  // key, as this device signs them; every recipient checks the key it opens against it.
  const deviceSetHash = idListHash(envelopes.map((e) => e.deviceId));
  const keyCommitment = orgKeyCommitment(mc.state.orgId, generation, key);
  const signature = toB64u(await sign(fromB64u(mc.state.keys.signSeed), orgKeyGenerationMessage(generation, deviceSetHash, keyCommitment)));
  try {
    yield* ask(req.createGeneration({ generation, envelopes, deviceSetHash: toB64u(deviceSetHash), keyCommitment: toB64u(keyCommitment), signature }));
  } catch (e) {
    if (e instanceof AgoraError && e.code === 'conflict') return false;
    throw e;
  }
  mc.state.orgKeys[String(generation)] = toB64u(key);
  orgLog(mc).createdHere[String(generation)] = sealedAt;
  return true;
}
