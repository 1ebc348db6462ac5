/** AgoraClient: one device's view of Agora. It owns the device's state (loaded and saved through
 * a `ProfileStorage` inside one lock per operation, so concurrent agora processes on one profile
 * never lose each other's changes) and drives the sans-I/O core (`core/`, `mls/`, `crypto/`) with the
 * relay's HTTP API and push channel (`transport/`). */
import * as api from './protocol/api.js';
import { LIMITS, wsTokenProtocol, WS_PROTOCOL } from './protocol/index.js';
import { nameProblem, sameName } from './protocol/names.js';
import { fromB64u, fromUtf8, newId, toB64u, utf8 } from './protocol/encoding.js';
import { authChallengeMessage, generateInviteCode, inviteHash } from './protocol/signing.js';
import {
  deviceApprovalMessage, deviceEnrolmentMessage, idListHash, inviteApprovalMessage, inviteKeyPair, membershipMessage,
  orgKeyGenerationMessage, type InviteApproval,
} from './kt/entries.js';
import { AgoraError } from './core/errors.js';
import { emptyGroup, PROFILE_VERSION, type Alarm, type GroupLocal, type ProfileState, type StoredMessage } from './core/state.js';
import { ingestEntries, type IngestContext, type IngestResult } from './core/ingest.js';
import { decodeWelcomeInfo, encodeWelcomeInfo, sealOwners } from './core/roles.js';
import { membershipCheckFor, membershipOf } from './core/membership.js';
import { sealForAuditors } from './kt/auditor.js';
import { checkClaimAnswer, ClaimMismatch } from './core/claims.js';
import { RelayHttp, type FetchLike } from './transport/http.js';
import { KtHttp, witnessQuery, witnessSelection } from './transport/kt-http.js';
import { KtTrust } from './kt-trust.js';
import { PolicySchema, type Policy } from './kt/policy.js';
import type { ProfileStorage } from './state/profile.js';
import { generateDeviceKeys, sign } from './crypto/device-keys.js';
import { MAX_DESCRIPTION_CHARS, sealRecord, type MetaBody } from './crypto/records.js';
import { derivePublicGroupKey, newOrgKey, openFromDevice, openOrgKey, sealOrgKey, sealToDevice } from './crypto/orgkeys.js';
import { orgKeyCommitment, SealedRejected } from './crypto/orgkeys.js';
import { decodeEntry, type OrgKeyGenerationEntry } from './kt/entries.js';
import { verify } from './crypto/device-keys.js';
import { bytesEqual } from './protocol/encoding.js';
import type { OrgKeyLog } from './core/state.js';
import { emptyOrgKeyLog, foldOrgKeyLog, generationInfo, rotationOwed, writable } from './core/orgkey-log.js';
import {
  checkKeyPackage,
  createGroup as mlsCreateGroup,
  createKeyPackages,
  exportContentKey,
  groupInfo,
  joinFromWelcome,
  loadMls,
  stageCommit,
  type DeviceLookup,
  type MlsIdentity,
} from './mls/index.js';

/** groupInfo is synchronous over the lazily loaded MLS module: a profile holding group states loads
 * it before any of its operations runs. */
async function loadMlsFor(state: ProfileState): Promise<void> {
  if (Object.values(state.groups).some((g) => g.mls)) await loadMls();
}

/** The part of a WebSocket both `ws` (Node) and browsers provide. */
export interface WebSocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(): void;
}
export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

export interface ClientDeps {
  profile: ProfileStorage;
  fetch: FetchLike;
  webSocket?: WebSocketFactory;
  now?: () => number;
  /** Other people's devices are added to a secret group by their owner's devices first; after this
   * grace period any member adds them, so a person whose other devices stay offline still joins. */
  addGraceMs?: number;
  /** How long after a revocation or deactivation a colleague's device (not an administrator's)
   * waits for an administrator's device to rotate the organisation key before doing it itself.
   * A device about to write a public record never waits. */
  rotationGraceMs?: number;
}

/** An administrator usually deactivates from a device that rotates at once; this only covers the
 * case where that device went away before it could. */
const DEFAULT_ROTATION_GRACE_MS = 15 * 60_000;

/** A group as the client shows it: a secret group's name is filled in from its members' meta record. */
type NamedGroup = api.GroupView & { name: string };

export interface GroupSummary {
  id: string;
  name: string;
  /** Secret groups: the description in the group's latest meta record, if any. */
  description?: string;
  kind: 'secret' | 'public';
  departmentId: string | null;
  isMember: boolean;
  epoch: number | null;
  members: number;
}

export interface MessageView {
  id: string;
  sender: string;
  senderName: string;
  sentAt: number;
  text: string;
}

export interface SyncReport {
  newMessages: { groupId: string; message: MessageView }[];
  warnings: string[];
}

const HISTORY_FORMAT = 'agora-history-v1';
/** How long a pushed entry past a gap waits for the missing ones (pushes of entries that landed
 * together may arrive out of order) before the group's log is read. */
export const PUSH_GAP_WAIT_MS = 500;
/** Every member device refreshes its leaf with an update commit after at most this long (at
 * least four fifths of it)... */
export const UPDATE_AFTER_MS = 7 * 24 * 3600 * 1000;
/** ...or after sending this many records in the group, whichever comes first (docs/protocol.md). */
export const UPDATE_AFTER_RECORDS = 1_000;

export class AgoraClient {
  private state!: ProfileState;
  private readonly now: () => number;
  private readonly http: RelayHttp;
  private readonly trust: KtTrust;
  private warnings: string[] = [];

  private constructor(private readonly deps: ClientDeps, server: string) {
    this.now = deps.now ?? Date.now;
    this.http = new RelayHttp(server, deps.fetch, (fresh) => this.ensureToken(fresh));
    this.trust = new KtTrust(() => this.state, new KtHttp(this.http, true), this.now);
  }

  // ---------- lifecycle ----------

  static async register(deps: ClientDeps, input: { server: string; invite: string; name?: string; policy?: Policy }): Promise<AgoraClient> {
    const release = await deps.profile.lock();
    try {
      if (await deps.profile.exists()) {
        throw new AgoraError('conflict', `a device is already registered in ${deps.profile.location}; use another --profile`);
      }
      const keys = await generateDeviceKeys();
      const signPub = toB64u(keys.signPub);
      const encPub = toB64u(keys.encPub);
      const open = new RelayHttp(input.server, deps.fetch);
      // The device signs its enrolment (ids and both keys) with its own key and with the invite's
      // key, derived from the code, which never leaves this device.
      const invite = inviteKeyPair(input.invite);
      const codeHash = toB64u(inviteHash(input.invite));
      const info = await open.inviteInfo(codeHash);
      if (toB64u(invite.publicKey) !== info.invitePub) {
        throw new AgoraError('bad_signature', 'the relay answered with another invite than this code: not registering');
      }
      const userId = info.kind === 'device' && info.userId ? info.userId : newId('u');
      const deviceId = newId('d');
      const enrolment = deviceEnrolmentMessage({ userId, deviceId, signPub: keys.signPub, encPub: keys.encPub });
      const inviteSig = toB64u(await sign(invite.seed, enrolment));
      const deviceSig = toB64u(await sign(keys.signSeed, enrolment));
      // The organisation's key-transparency policy: from the security officer's file, or else the
      // log key the relay names now (trust on first use, no witnesses).
      const policy = input.policy ?? PolicySchema.parse(await (async () => {
        const p = await new KtHttp(open).policy();
        return { log: { origin: p.origin, vkey: p.vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 86_400 };
      })());
      const reg = await open.register({ codeHash, userId, deviceId, name: input.name, signPub, encPub, inviteSig, deviceSig });
      const client = new AgoraClient(deps, input.server);
      client.state = {
        v: PROFILE_VERSION,
        server: input.server.replace(/\/+$/, ''),
        orgId: reg.orgId,
        orgName: reg.orgName,
        userId: reg.userId,
        deviceId: reg.deviceId,
        name: reg.name,
        role: reg.role,
        keys: { signPub, signSeed: toB64u(keys.signSeed), encPub, encSecret: toB64u(keys.encSecret) },
        keyPackages: [],
        directory: { users: [], devices: [] },
        groups: {},
        orgKeys: {},
        mailboxCursor: 0,
        directorySeq: 0,
        sentCounters: {},
        historySentTo: [],
        kt: { policy, policySource: input.policy ? 'file' : 'relay', checkpoint: null, users: {}, knownOwnDevices: [reg.deviceId], alarms: [], orgKeyLog: null, unloggedSince: {} },
        token: null,
      };
      await deps.profile.save(client.state);
      await client.refreshDirectory();
      // The person's devices that existed before this one are known to it.
      client.state.kt.knownOwnDevices.push(...client.state.directory.devices.filter((d) => d.userId === reg.userId && d.id !== reg.deviceId).map((d) => d.id));
      await client.topUpKeyPackages(true);
      await deps.profile.save(client.state);
      await client.syncUnlocked();
      await deps.profile.save(client.state);
      return client;
    } finally {
      await release();
    }
  }

  static async open(deps: ClientDeps): Promise<AgoraClient> {
    const state = await deps.profile.load();
    await loadMlsFor(state);
    const client = new AgoraClient(deps, state.server);
    client.state = state;
    return client;
  }

  /** Runs `fn` holding the profile lock on freshly loaded state, and saves what it changed. */
  private async tx<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.deps.profile.lock();
    try {
      this.state = await this.deps.profile.load();
      await loadMlsFor(this.state);
      this.trust.begin();
      try {
        return await fn();
      } finally {
        await this.deps.profile.save(this.state);
      }
    } finally {
      await release();
    }
  }

  get me(): { userId: string; deviceId: string; name: string; role: api.Role; server: string; orgName: string } {
    const s = this.state;
    return { userId: s.userId, deviceId: s.deviceId, name: s.name, role: s.role, server: s.server, orgName: s.orgName };
  }

  // ---------- authentication ----------

  private async ensureToken(fresh = false): Promise<string> {
    const t = this.state.token;
    if (!fresh && t && t.expiresAt - 60_000 > this.now()) return t.value;
    const open = new RelayHttp(this.state.server, this.deps.fetch);
    const { challenge } = await open.challenge(this.state.deviceId);
    const signature = toB64u(await sign(fromB64u(this.state.keys.signSeed), authChallengeMessage({ deviceId: this.state.deviceId, challenge })));
    const token = await open.token_({ deviceId: this.state.deviceId, challenge, signature });
    this.state.token = { value: token.token, expiresAt: token.expiresAt };
    return token.token;
  }

  // ---------- directory ----------

  private async refreshDirectory(): Promise<void> {
    this.state.directory = await this.http.directory();
  }

  /** One request for everything an operation starts from (GET /v1/sync): the directory's changes
   * are applied and the checkpoint is verified here; the other parts are hints each step checks
   * exactly as it checks the answer of their own endpoint. The cursor names what this device
   * applied, so an answer lost on the way is asked for again unchanged. */
  private async fetchSync(): Promise<api.SyncResponse> {
    const answer = await this.http.sync(`${this.state.directorySeq}.${this.state.mailboxCursor}`, witnessQuery(witnessSelection(this.trust.policy)));
    const { full, users, devices } = answer.directory;
    if (full) {
      this.state.directory = { users, devices };
    } else if (users.length > 0 || devices.length > 0) {
      const merge = <T extends { id: string; createdAt: number }>(held: T[], changed: T[]): T[] => {
        const byId = new Map(held.map((x) => [x.id, x]));
        for (const x of changed) byId.set(x.id, x);
        // The relay's order, as a whole directory would come.
        return [...byId.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      };
      this.state.directory = { users: merge(this.state.directory.users, users), devices: merge(this.state.directory.devices, devices) };
    }
    this.state.directorySeq = Number(answer.cursor.split('.')[0]);
    // Before anything else is decided on it: fails closed when the log cannot be verified.
    await this.trust.refresh(answer.checkpoint?.checkpoint);
    return answer;
  }

  private device(deviceId: string): api.Device | undefined {
    return this.state.directory.devices.find((d) => d.id === deviceId);
  }

  private user(userId: string): api.User | undefined {
    return this.state.directory.users.find((u) => u.id === userId);
  }

  /** A person's active devices with the keys the key-transparency log proves (call
   * `trust.ensureUsers` first); devices the log does not show are not there. */
  private activeDevicesOf(userId: string): api.Device[] {
    return this.trust.activeDevicesOf(userId).map((d) => this.asDevice(d.deviceId)!);
  }

  /** A person's devices that may join their secret groups: active and vouched for by their own
   * devices (see KtTrust.approvedDevicesOf). */
  private approvedDevicesOf(userId: string): api.Device[] {
    return this.trust.approvedDevicesOf(userId).map((d) => this.asDevice(d.deviceId)!);
  }

  /** A device with its verified keys, in the directory's shape; undefined if not verified. */
  private asDevice(deviceId: string): api.Device | undefined {
    const t = this.trust.device(deviceId);
    if (!t) return undefined;
    const v = this.state.kt.users[t.userId]?.devices.find((d) => d.deviceId === deviceId);
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
  private readonly mlsLookup: DeviceLookup = (deviceId) => {
    const d = this.trust.device(deviceId);
    return d ? { userId: d.userId, signPub: d.signPub } : undefined;
  };

  private get identity(): MlsIdentity {
    return {
      userId: this.state.userId,
      deviceId: this.state.deviceId,
      signPub: fromB64u(this.state.keys.signPub),
      signSeed: fromB64u(this.state.keys.signSeed),
    };
  }

  /** A person's name as their key-transparency entries give it once this device verified them;
   * until then the directory's, which is only a hint. */
  private nameOf(userId: string): string {
    return this.state.kt.users[userId]?.name ?? this.user(userId)?.name ?? userId;
  }

  /** Finds a person by id or by name. A name is matched against the name in each candidate's
   * verified key-transparency entries, never against the relay's directory alone: the directory
   * only suggests whom to look up (with the people this device verified before, in case the relay
   * hides someone), and a directory name the log contradicts raises an alarm and matches nobody. */
  async resolveUser(ref: string): Promise<api.User> {
    const users = this.state.directory.users;
    const byId = users.find((u) => u.id === ref);
    if (byId) return { ...byId, name: this.nameOf(byId.id) };
    const candidates = new Set<string>();
    for (const u of users) if (sameName(u.name, ref)) candidates.add(u.id);
    for (const [id, v] of Object.entries(this.state.kt.users)) if (sameName(v.name, ref)) candidates.add(id);
    if (candidates.size === 0) throw new AgoraError('no_such_user', `no person "${ref}" in this organisation`);
    const before = this.trust.raised.length;
    const unverified = await this.trust.ensureUsers(candidates);
    const size = this.state.kt.checkpoint?.size;
    const named = [...candidates].flatMap((id) => {
      const v = this.state.kt.users[id];
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
    const why = this.trust.raised.slice(before).map((a) => a.message).join('; ');
    if (unverified.length > 0) {
      // Someone of that name may exist, but the log does not prove who: fail closed, as for keys.
      throw new AgoraError('forbidden', `"${ref}" could not be verified in the key-transparency log${why ? ` (${why})` : ''}`);
    }
    throw new AgoraError('no_such_user', `no person named "${ref}" in the key-transparency log${why ? ` (${why})` : ''}`);
  }

  private async resolveUsers(refs: string[]): Promise<api.User[]> {
    const out: api.User[] = [];
    for (const ref of refs) out.push(await this.resolveUser(ref));
    return out;
  }

  // ---------- key packages ----------

  /** `known`: the relay's stock as a sync answer gave it. */
  private async topUpKeyPackages(initial = false, known?: api.SyncResponse['keyPackages']): Promise<void> {
    const stock = initial ? { stock: 0, hasLastResort: false, low: true } : (known ?? await this.http.keyPackageStock());
    if (!stock.low && stock.hasLastResort) return;
    const count = Math.max(0, LIMITS.keyPackageTarget - stock.stock);
    const fresh = count > 0 ? await createKeyPackages(this.identity, count) : [];
    const lastResort = stock.hasLastResort ? undefined : (await createKeyPackages(this.identity, 1, { lastResort: true }))[0];
    await this.http.uploadKeyPackages(fresh.map((k) => k.publicPackage), lastResort?.publicPackage);
    this.state.keyPackages.push(...fresh.map((k) => ({ ...k, lastResort: false })));
    if (lastResort) {
      this.state.keyPackages = this.state.keyPackages.filter((k) => !k.lastResort);
      this.state.keyPackages.push({ ...lastResort, lastResort: true });
    }
  }

  // ---------- organisation keys (public groups) ----------

  private orgKey(generation: number): Uint8Array | undefined {
    const k = this.state.orgKeys[String(generation)];
    return k ? fromB64u(k) : undefined;
  }

  /** Everyone this device may seal organisation keys to: active devices of active people. */
  private async sealableDevices(): Promise<api.Device[]> {
    const people = this.state.directory.users.filter((u) => u.status === 'active').map((u) => u.id);
    await this.trust.ensureUsers(people);
    return people.flatMap((u) => this.activeDevicesOf(u));
  }

  private sealerKey = (deviceId: string): Uint8Array | undefined => this.trust.device(deviceId)?.signPub;

  private selfKeys() {
    return { deviceId: this.state.deviceId, encPub: fromB64u(this.state.keys.encPub), encSecret: fromB64u(this.state.keys.encSecret) };
  }

  /** The relay's answers are hints; what counts is the key-transparency log. This device reads the
   * log's new entries (proven complete), accepts a generation's key only if its entry is proven, its
   * creator was an active device then, the sealer is an active device now and the key matches the
   * logged commitment; and when the log shows a revocation or deactivation newer than the latest
   * generation it rotates: an administrator's device at once, a colleague's device once
   * `rotationGraceMs` passed without one, and any device at once before it writes a public record
   * (`writing`). */
  private async syncOrgKeys(opts: { writing?: boolean; fetched?: Pick<api.SyncResponse, 'orgKeys' | 'pending'> } = {}): Promise<void> {
    let keys = opts.fetched?.orgKeys ?? await this.http.orgKeys();
    await this.learnOrgKeyLog(keys);
    await this.openOrgEnvelopes(keys);
    const admin = this.state.role === 'admin';
    const log = this.orgLog();
    const next = 1 + Math.max(keys.current, ...Object.keys(log.generations).map(Number), ...Object.keys(log.createdHere).map(Number));
    const graceOver = log.lastRevocation !== null && this.now() - log.lastRevocation.time > (this.deps.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS);
    const rotate = next === 1 ? admin : (rotationOwed(log) && (admin || opts.writing === true || graceOver)) || (admin && keys.rotationNeeded);
    if (rotate && !(await this.createOrgGeneration(next))) {
      // Another device rotated first: take its generation.
      keys = await this.http.orgKeys();
      await this.learnOrgKeyLog(keys);
      await this.openOrgEnvelopes(keys);
    }
    // After a rotation the devices waiting are others than the sync answer listed.
    const { pending } = opts.fetched && !rotate ? { pending: opts.fetched.pending } : await this.http.pending();
    const out: api.Envelope[] = [];
    await this.trust.ensureDevices(pending.map((p) => p.deviceId));
    for (const p of pending) {
      if (p.deviceId === this.state.deviceId) continue;
      // Sealed only to a device the log proves: never to a key the relay alone vouches for.
      const target = this.asDevice(p.deviceId);
      if (!target || target.status !== 'active') continue;
      for (const generation of p.missing) {
        const key = this.orgKey(generation);
        if (!key) continue;
        out.push({ generation, deviceId: target.id, sealed: await this.sealOrg(generation, key, target) });
      }
    }
    for (let i = 0; i < out.length; i += LIMITS.fanOut) await this.http.uploadEnvelopes(out.slice(i, i + LIMITS.fanOut));
  }

  /** The generation a public record is written under: the highest one held whose log entry comes
   * after the latest revocation or deactivation (the person who left may hold any older one) and
   * whose key matches the logged commitment (checked again here: a profile may hold keys stored before
   * every way in checked them). */
  private writableOrgGeneration(): { generation: number; key: Uint8Array } {
    const held = Object.keys(this.state.orgKeys).map(Number).sort((a, b) => b - a);
    if (held.length === 0) throw new AgoraError('no_key', 'this device has no organisation key yet: a colleague\'s device must be online to hand it over (try "agora sync" later)');
    const log = this.orgLog();
    for (const generation of held) {
      if (!writable(log, generation)) continue;
      const key = this.orgKey(generation)!;
      const logged = log.generations[String(generation)]?.keyCommitment;
      if (logged && !bytesEqual(orgKeyCommitment(this.state.orgId, generation, key), fromB64u(logged))) {
        this.trust.alarm('orgkey_substitution', `the key this device holds for organisation-key generation ${generation} is not the one its creator logged: not used`);
        continue;
      }
      return { generation, key };
    }
    throw new AgoraError('no_key', `this device does not hold the organisation key generation that follows the latest revocation in the key-transparency log yet (it holds ${held[0]}); nothing was sent: try again once a colleague's device has handed it over`);
  }

  private orgLog(): OrgKeyLog {
    return (this.state.kt.orgKeyLog ??= emptyOrgKeyLog(0));
  }

  /** Reads the key-transparency log from where this device stopped, proven complete, and learns
   * revocations and generations from it. The first time it starts at the entry of the generation
   * the relay calls current (every revocation before that entry is settled by it), or at the
   * beginning when that is not a generation entry the log proves. */
  private async learnOrgKeyLog(hint: api.OrgKeysResponse): Promise<void> {
    await this.trust.refresh();
    let log = this.state.kt.orgKeyLog;
    let tail: { index: number; bytes: Uint8Array }[];
    if (!log) {
      const at = hint.generations.find((g) => g.generation === hint.current)?.index ?? 0;
      tail = await this.trust.tail(at);
      const first = tail[0] ? decodeEntry(tail[0].bytes) : undefined;
      if (at > 0 && !(first?.type === 'orgkey-generation' && first.generation === hint.current)) tail = await this.trust.tail(0);
      log = emptyOrgKeyLog(tail[0]?.index ?? 0);
    } else {
      tail = await this.trust.tail(log.scannedTo);
    }
    const creators = tail.map((e) => decodeEntry(e.bytes)).flatMap((e) => (e.type === 'orgkey-generation' ? [e.creatorDeviceId] : []));
    await this.trust.ensureDevices(creators);
    const folded = await foldOrgKeyLog(log, tail, (e, index, ctx) => this.checkGenerationEntry(e, index, ctx));
    for (const r of folded.refused) {
      this.trust.alarm('bad_generation', `the key-transparency log holds organisation-key generation ${r.generation} (entry ${r.index}) that is refused: ${r.reason}`, [this.trust.checkpointNote ?? '']);
    }
    this.state.kt.orgKeyLog = folded.log;
  }

  /** Why a generation entry cannot be trusted, or undefined. Its creator must have been an active
   * device of an active person at the entry and must have signed it; a creator who is not an
   * administrator may only have settled a revocation newer than the generation before. */
  private async checkGenerationEntry(e: OrgKeyGenerationEntry, index: number, ctx: { previous: number | null; lastRevocation: number | null }): Promise<string | undefined> {
    const active = this.trust.deviceActiveAt(e.creatorDeviceId, index);
    if (active === undefined) return `its creator ${e.creatorDeviceId} is not a device the log shows`;
    if (!active) return `its creator ${e.creatorDeviceId} was revoked or deactivated`;
    const creator = this.trust.device(e.creatorDeviceId)!;
    if (!(await verify(creator.signPub, orgKeyGenerationMessage(e.generation, e.deviceSetHash, e.keyCommitment), e.signature))) return 'its signature does not verify';
    const role = this.state.kt.users[creator.userId]?.role;
    if (role !== 'admin' && ctx.previous !== null && !(ctx.lastRevocation !== null && ctx.lastRevocation > ctx.previous)) {
      return 'it was created by a colleague who is not an administrator while no revocation was pending';
    }
    return undefined;
  }

  /** The verified log entry of a generation: from the scan, or proven on its own at the position
   * `index` names (the relay's or a history bundle's hint, for a generation older than where this
   * device began to read the log). */
  private async loggedGeneration(generation: number, index: number | undefined): Promise<OrgKeyLog['generations'][string] | undefined> {
    const log = this.orgLog();
    const known = log.generations[String(generation)];
    if (known) return known;
    if (index === undefined || index >= log.scannedTo) return undefined;
    const e = decodeEntry(await this.trust.provenEntry(index));
    if (e.type !== 'orgkey-generation' || e.generation !== generation) {
      this.trust.alarm('bad_generation', `the relay named log entry ${index} as organisation-key generation ${generation}, which it is not`, [this.trust.checkpointNote ?? '']);
      return undefined;
    }
    await this.trust.ensureDevices([e.creatorDeviceId]);
    const reason = await this.checkGenerationEntry(e, index, { previous: null, lastRevocation: null });
    if (reason) {
      this.trust.alarm('bad_generation', `organisation-key generation ${generation} (entry ${index}) is refused: ${reason}`, [this.trust.checkpointNote ?? '']);
      return undefined;
    }
    return (log.generations[String(generation)] = generationInfo(e, index));
  }

  private async openOrgEnvelopes(keys: api.OrgKeysResponse): Promise<void> {
    const waiting = keys.envelopes.filter((e) => !this.state.orgKeys[String(e.generation)]);
    await this.trust.ensureDevices(waiting.map((e) => e.sealedBy));
    for (const env of waiting) {
      const g = env.generation;
      if (this.state.orgKeys[String(g)]) continue;
      const logged = await this.loggedGeneration(g, keys.generations.find((x) => x.generation === g)?.index);
      if (!logged) {
        this.warnings.push(`an organisation key envelope for generation ${g} was ignored: the key-transparency log does not prove that generation`);
        continue;
      }
      const source = 'an organisation key envelope';
      if (!this.orgKeySourceAllowed(g, logged, env.sealedBy, source)) {
        await this.reportRefusedEnvelope(env);
        continue;
      }
      let opened;
      try {
        opened = await openOrgKey({ sealed: env.sealed, expectedGeneration: g, self: this.selfKeys(), sealerSignPub: this.sealerKey });
      } catch (e) {
        // The relay stores what devices sealed: an envelope that does not open as addressed was
        // swapped on the way or sealed wrongly by a colleague's device.
        this.trust.alarm('orgkey_substitution', `an organisation key envelope for generation ${g} from device ${env.sealedBy} was refused (${e instanceof SealedRejected ? e.reason : 'undecodable'})`);
        await this.reportRefusedEnvelope(env);
        continue;
      }
      if (!this.orgKeyMatchesLog(g, logged, opened.key, env.sealedBy, source)) {
        await this.reportRefusedEnvelope(env);
        continue;
      }
      this.state.orgKeys[String(g)] = toB64u(opened.key);
    }
  }

  /** Whether device `from` may hand over generation `g`'s key at all; raises orgkey_substitution
   * when not. A device revoked (or whose person was deactivated) before the generation's entry never
   * held its key: whatever it hands over is refused. One revoked later did hold it, and what it
   * handed over while active (a colleague's hand-over to a newcomer) is still good when the key
   * matches the logged commitment; without a commitment to check (version-1 entries) it is not.
   * The one rule for envelopes and history bundles. */
  private orgKeySourceAllowed(g: number, logged: OrgKeyLog['generations'][string], from: string, source: string): boolean {
    const inactiveSince = this.trust.inactiveSince(from);
    if (inactiveSince === undefined || (inactiveSince !== null && (inactiveSince < logged.index || logged.keyCommitment === null))) {
      this.trust.alarm('orgkey_substitution', `${source} for generation ${g} sealed by device ${from}, which is revoked, deactivated or unknown to the log, was refused`);
      return false;
    }
    return true;
  }

  /** Whether `key` is the one generation `g`'s creator committed to in the log (version-1 entries
   * commit to none: then orgKeySourceAllowed alone decides); raises orgkey_substitution when not. */
  private orgKeyMatchesLog(g: number, logged: OrgKeyLog['generations'][string], key: Uint8Array, from: string, source: string): boolean {
    if (logged.keyCommitment === null || bytesEqual(orgKeyCommitment(this.state.orgId, g, key), fromB64u(logged.keyCommitment))) return true;
    this.trust.alarm('orgkey_substitution', `device ${from} sealed another key for organisation-key generation ${g} than the one its creator logged (${source}): refused`);
    return false;
  }

  /** Tells the relay this device refused its envelope, so that the relay drops it and a colleague's
   * device seals the generation again on its next sync: otherwise the relay keeps the first envelope
   * per (generation, device) for good and this device would never get that generation. */
  private async reportRefusedEnvelope(env: api.StoredEnvelope): Promise<void> {
    try {
      await this.http.refuseEnvelope({ generation: env.generation, sealedBy: env.sealedBy, sealed: env.sealed });
    } catch (e) {
      this.warnings.push(`could not report the refused organisation key envelope for generation ${env.generation} (${(e as Error).message}); it is reported again on the next sync`);
    }
  }

  private sealOrg(generation: number, key: Uint8Array, target: api.Device): Promise<string> {
    return sealOrgKey({
      generation,
      key,
      recipient: { deviceId: target.id, encPub: fromB64u(target.encPub) },
      sealer: { deviceId: this.state.deviceId, signSeed: fromB64u(this.state.keys.signSeed) },
    });
  }

  /** Creates generation `generation`, sealed to the active devices the log shows, and logs its key
   * commitment. False if another generation was created first. */
  private async createOrgGeneration(generation: number): Promise<boolean> {
    await this.refreshDirectory();
    const key = newOrgKey();
    const envelopes = [];
    const devices = await this.sealableDevices();
    const sealedAt = this.state.kt.checkpoint?.size ?? 0;
    for (const d of devices) envelopes.push({ deviceId: d.id, sealed: await this.sealOrg(generation, key, d) });
    // The key-transparency log records who the generation was sealed to and a commitment to the
    // key, as this device signs them; every recipient checks the key it opens against it.
    const deviceSetHash = idListHash(envelopes.map((e) => e.deviceId));
    const keyCommitment = orgKeyCommitment(this.state.orgId, generation, key);
    const signature = toB64u(await sign(fromB64u(this.state.keys.signSeed), orgKeyGenerationMessage(generation, deviceSetHash, keyCommitment)));
    try {
      await this.http.createGeneration({ generation, envelopes, deviceSetHash: toB64u(deviceSetHash), keyCommitment: toB64u(keyCommitment), signature });
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'conflict') return false;
      throw e;
    }
    this.state.orgKeys[String(generation)] = toB64u(key);
    this.orgLog().createdHere[String(generation)] = sealedAt;
    return true;
  }

  // ---------- mailbox: Welcomes and history ----------

  /** `fetched`: the first page as a sync answer gave it (items this device took since are skipped). */
  private async syncMailbox(fetched?: api.SyncResponse['mailbox']): Promise<void> {
    let page = fetched;
    for (;;) {
      const items = page ? page.items.filter((i) => i.seq > this.state.mailboxCursor) : (await this.http.mailbox(this.state.mailboxCursor)).items;
      const more = page ? page.more : items.length > 0;
      page = undefined;
      if (items.length === 0 && !more) return;
      await this.trust.ensureDevices(items.map((i) => i.from));
      for (const item of items) {
        this.state.mailboxCursor = item.seq;
        if (item.kind === 'welcome' && item.groupId) await this.acceptWelcome(item);
        else if (item.kind === 'history') await this.acceptHistory(item);
      }
      if (!more) return;
    }
  }

  private async acceptWelcome(item: api.MailboxItem): Promise<void> {
    const groupId = item.groupId!;
    try {
      // The relay's member list is only a hint of whom to verify first; MLS then checks every leaf.
      const hint = await this.http.group(groupId).catch(() => undefined);
      if (hint) await this.trust.ensureDevices(hint.memberDevices);
      const joined = await this.withVerifiedLookup((lookup) => joinFromWelcome(item.payload, this.state.keyPackages, lookup));
      if (joined.groupId !== groupId) throw new Error('welcome for another group');
      const used = this.state.keyPackages.find((k) => k.ref === joined.usedRef);
      if (used && !used.lastResort) this.state.keyPackages = this.state.keyPackages.filter((k) => k.ref !== joined.usedRef);
      const previous = this.state.groups[groupId];
      const group = previous ?? emptyGroup({ id: groupId, name: '', kind: 'secret', departmentId: null });
      const joinSeq = item.groupSeq ?? 0;
      // Content keys are kept by the relay's epoch, which runs ahead of the MLS epoch by the
      // commits the members voided: the commit that added this device says which one starts here.
      // (A relay that lies about it only makes records fail to open here, visibly.)
      const { entries } = await this.http.log(groupId, Math.max(0, joinSeq - 1), 1);
      const joinCommit = entries.find((e) => e.seq === joinSeq && e.kind === 'commit');
      const epoch = joinCommit ? joinCommit.epoch + 1 : joined.epoch;
      group.mls = toB64u(joined.state);
      group.removed = false;
      group.epochKeys[String(epoch)] = toB64u(await exportContentKey(joined.state));
      group.logEpoch = epoch;
      group.cursorEpoch = epoch;
      group.lastCommitSeq = joinSeq;
      // The tree this device joined must be the one the log commits to for that epoch.
      group.membershipChecks.push(await membershipCheckFor(joined.state, epoch, joinCommit?.sender ?? item.from));
      // The adder's Welcome says who the owners are (and what the group is called), so this device
      // applies the owner rule from the first commit on, as every other member does. A Welcome
      // without it (an older release) leaves it to the next commit, which states the set.
      const info = joined.welcomeInfo ? decodeWelcomeInfo(joined.welcomeInfo, new Set(groupInfo(joined.state).members.map((m) => m.userId))) : undefined;
      group.owners = info?.owners ?? [];
      if (info?.name !== undefined) {
        group.name = info.name;
        group.description = info.description ?? null;
      }
      group.pcs = { at: this.now(), sent: 0, revokedOwn: this.revokedOwnDevices() };
      group.cursor = Math.max(previous?.removed ? group.cursor : 0, joinSeq);
      // Entries before the join are read again if a history bundle gives their keys.
      group.readableFrom = joinSeq;
      this.state.groups[groupId] = group;
    } catch (e) {
      this.warnings.push(`could not join group ${groupId} from its Welcome: ${(e as Error).message}`);
    }
  }

  /** Runs an MLS operation with the verified-key lookup; if it met devices not verified yet, verifies
   * their owners in the key-transparency log and tries once more. */
  private async withVerifiedLookup<T>(fn: (lookup: DeviceLookup) => Promise<T>): Promise<T> {
    const tried = new Set<string>();
    for (;;) {
      const missed = new Set<string>();
      const lookup: DeviceLookup = (id) => {
        const d = this.mlsLookup(id);
        if (!d && !tried.has(id)) missed.add(id);
        return d;
      };
      try {
        return await fn(lookup);
      } catch (e) {
        // MLS stops at the first unknown leaf: verify what it met and go again, until nothing new.
        if (missed.size === 0) throw e;
        for (const id of missed) tried.add(id);
        await this.trust.ensureDevices(missed);
      }
    }
  }

  private async acceptHistory(item: api.MailboxItem): Promise<void> {
    const sender = this.trust.device(item.from);
    if (!sender || sender.userId !== this.state.userId) {
      this.warnings.push('ignored a history bundle that did not come from one of your own devices');
      return;
    }
    try {
      const { payload } = await openFromDevice({ purpose: 'history', sealed: item.payload, self: this.selfKeys(), sealerSignPub: this.sealerKey });
      const bundle = JSON.parse(fromUtf8(payload)) as { format: string; groups: Record<string, { name: string; kind: 'secret' | 'public'; epochKeys: Record<string, string> }>; orgKeys: Record<string, string>; orgKeyIndexes?: Record<string, number> };
      if (bundle.format !== HISTORY_FORMAT) throw new Error('unknown history format');
      await this.acceptHistoryOrgKeys(item.from, bundle.orgKeys ?? {}, bundle.orgKeyIndexes ?? {});
      for (const [groupId, g] of Object.entries(bundle.groups)) {
        const local = (this.state.groups[groupId] ??= emptyGroup({ id: groupId, name: g.name, kind: g.kind, departmentId: null }));
        let gained = false;
        for (const [epoch, key] of Object.entries(g.epochKeys)) {
          if (!local.epochKeys[epoch]) {
            local.epochKeys[epoch] = key;
            gained = true;
          }
        }
        if (gained) {
          // Re-read from the person's join point (the relay clamps to it): records refused for
          // want of a key open now.
          local.cursor = 0;
          local.readableFrom = 0;
          // The log starts at epoch 0; the commits read again move it on from there.
          local.cursorEpoch = 0;
          local.rejected = local.rejected.filter((r) => !r.reason.startsWith('no key'));
        }
      }
    } catch (e) {
      this.warnings.push(`a history bundle could not be opened: ${(e as Error).message}`);
    }
  }

  /** Organisation keys from a history bundle pass the same checks as keys from envelopes: the
   * generation's entry proven in the log (at the position the bundle names when it is older than
   * this device's scan), the sending device allowed to hand it over, the key the logged one. A
   * generation already held keeps its key. */
  private async acceptHistoryOrgKeys(from: string, orgKeys: Record<string, string>, indexes: Record<string, number>): Promise<void> {
    const source = 'a history bundle';
    for (const [gen, encoded] of Object.entries(orgKeys)) {
      const g = Number(gen);
      if (!Number.isSafeInteger(g) || g < 1 || String(g) !== gen || this.state.orgKeys[gen]) continue;
      let key: Uint8Array;
      try {
        key = fromB64u(encoded);
      } catch {
        key = new Uint8Array(0);
      }
      const index = indexes[gen];
      const logged = await this.loggedGeneration(g, Number.isSafeInteger(index) ? index : undefined);
      if (!logged) {
        this.warnings.push(`organisation key generation ${g} from a history bundle was ignored: the key-transparency log does not prove that generation`);
        continue;
      }
      if (key.length !== 32) {
        this.trust.alarm('orgkey_substitution', `${source} from device ${from} held a malformed key for organisation-key generation ${g}: refused`);
        continue;
      }
      if (!this.orgKeySourceAllowed(g, logged, from, source) || !this.orgKeyMatchesLog(g, logged, key, from, source)) continue;
      this.state.orgKeys[gen] = toB64u(key);
    }
  }

  private async sendHistoryTo(target: api.Device): Promise<void> {
    const groups: Record<string, { name: string; kind: 'secret' | 'public'; epochKeys: Record<string, string> }> = {};
    for (const g of Object.values(this.state.groups)) {
      if (g.kind === 'secret' && g.mls && !g.removed) groups[g.id] = { name: g.name, kind: g.kind, epochKeys: g.epochKeys };
    }
    // Where each generation sits in the log, for a recipient whose own scan starts later.
    const orgKeyIndexes = Object.fromEntries(Object.keys(this.state.orgKeys).flatMap((g) => {
      const index = this.state.kt.orgKeyLog?.generations[g]?.index;
      return index === undefined ? [] : [[g, index]];
    }));
    const payload = utf8(JSON.stringify({ format: HISTORY_FORMAT, groups, orgKeys: this.state.orgKeys, orgKeyIndexes }));
    const sealed = await sealToDevice({
      purpose: 'history',
      payload,
      recipient: { deviceId: target.id, encPub: fromB64u(target.encPub) },
      sealer: { deviceId: this.state.deviceId, signSeed: fromB64u(this.state.keys.signSeed) },
    });
    await this.http.sendHistory(target.id, sealed);
    this.state.historySentTo.push(target.id);
  }

  // ---------- groups ----------

  /** `fetched`: the list as a sync answer gave it. */
  private async fetchGroups(fetched?: api.GroupView[]): Promise<NamedGroup[]> {
    const groups = fetched ?? (await this.http.groups()).groups;
    for (const g of groups) {
      const local = this.state.groups[g.id];
      if (local) {
        // A secret group's name comes from its members' meta record, never from the relay.
        if (g.kind === 'public' && g.name !== null) local.name = g.name;
        local.departmentId = g.departmentId;
      }
    }
    return groups.map((g) => this.named(g, groups));
  }

  /** The name a group is shown and found by. A public group's is the relay's (public anyway); a
   * secret group's is the latest meta record its members wrote into its log, which only members
   * can read. A department's secret group nobody named yet is called after the department. */
  private named(g: api.GroupView, all: api.GroupView[] = []): NamedGroup {
    if (g.kind === 'public') return { ...g, name: g.name ?? g.id };
    const local = this.state.groups[g.id]?.name;
    if (local) return { ...g, name: local };
    const department = g.departmentId === null ? undefined : all.find((x) => x.kind === 'public' && x.departmentId === g.departmentId);
    return { ...g, name: department?.name ? `${department.name} (secret)` : `secret group ${g.id}` };
  }

  resolveGroupIn(groups: NamedGroup[], ref: string): NamedGroup {
    const byId = groups.find((g) => g.id === ref);
    if (byId) return byId;
    const byName = groups.filter((g) => sameName(g.name, ref));
    if (byName.length === 1) return byName[0];
    if (byName.length > 1) throw new AgoraError('ambiguous', `several groups are named "${ref}": use the group id`);
    throw new AgoraError('no_such_group', `no group "${ref}" that you can see`);
  }

  /** Resolves a group the caller can see; for a group id it cannot see, says whether it exists. */
  private async findGroup(ref: string, fetched?: api.SyncResponse): Promise<NamedGroup> {
    let groups = await this.fetchGroups(fetched?.groups);
    const byName = api.GroupId.safeParse(ref).success ? undefined : groups.filter((g) => sameName(g.name, ref));
    if (byName?.length === 0 && groups.some((g) => g.kind === 'secret' && g.isMember)) {
      // A secret group's name is in its log: one this device just joined (a Welcome waiting) or
      // that was renamed since is found only after reading it.
      await this.syncMailbox(fetched?.mailbox);
      for (const g of groups) if (g.kind === 'secret' && this.groupOfMine(g)) await this.syncGroupLog(g.id, fetched ? g.head : undefined);
      groups = groups.map((g) => this.named(g, groups));
    }
    try {
      return this.resolveGroupIn(groups, ref);
    } catch (e) {
      if (!(e instanceof AgoraError && e.code === 'no_such_group') || !api.GroupId.safeParse(ref).success) throw e;
    }
    try {
      return this.named(await this.http.group(ref));
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'forbidden') {
        throw new AgoraError('not_a_member', `you are not a member of the secret group ${ref}`);
      }
      if (e instanceof AgoraError && e.code === 'not_found') throw new AgoraError('no_such_group', `no group "${ref}"`);
      throw e;
    }
  }

  private localGroup(g: api.GroupView): GroupLocal {
    // A secret group's local name stays empty until a meta record names it.
    const name = g.kind === 'public' ? (g.name ?? '') : '';
    return (this.state.groups[g.id] ??= emptyGroup({ id: g.id, name, kind: g.kind, departmentId: g.departmentId }));
  }

  /** Reads a group's log from this device's cursor and applies it. `head`: the log's last seq as the
   * relay listed it just before (a sync answer); the log is read only up to there. A relay that
   * understates it only delays entries, as one that withholds them from the log read would. */
  private async syncGroupLog(groupId: string, head?: number): Promise<StoredMessage[]> {
    const local = this.state.groups[groupId];
    if (!local || (local.kind === 'secret' && (!local.mls || local.removed))) return [];
    const out: StoredMessage[] = [];
    for (;;) {
      const current = this.state.groups[groupId];
      const after = this.logAfter(current);
      if (head !== undefined && after >= head) break;
      const { entries } = await this.http.log(groupId, after);
      if (entries.length === 0) break;
      const before = current.cursor;
      await this.trust.ensureDevices(this.involvedDevices(current, entries));
      const result = await ingestEntries(current, entries, this.ingestContext(groupId));
      await this.keepIngested(groupId, result);
      out.push(...result.messages);
      if (result.group.cursor === before) break;
      if (result.group.removed) break;
    }
    return out;
  }

  /** Every key ingesting these entries uses: senders, added devices and the group's current
   * members. Each must be one the key-transparency log proves. */
  private involvedDevices(local: GroupLocal, entries: api.LogEntry[]): Set<string> {
    const involved = new Set(entries.flatMap((e) => [e.sender, ...(e.added ?? [])]));
    if (local.mls) for (const m of this.members(local.mls)) involved.add(m.deviceId);
    return involved;
  }

  private ingestContext(groupId: string): IngestContext {
    return {
      selfDeviceId: this.state.deviceId,
      device: (id) => this.asDevice(id),
      mlsLookup: this.mlsLookup,
      publicKey: (gen) => {
        const k = this.orgKey(gen);
        return k ? derivePublicGroupKey(k, groupId) : undefined;
      },
      revoked: (id) => this.trust.device(id)?.active === false,
    };
  }

  /** Keeps an ingest result as the group's state, raising alarms for refused commits and comparing
   * the checkpoints the senders carried with this device's own. */
  private async keepIngested(groupId: string, result: IngestResult): Promise<void> {
    this.state.groups[groupId] = result.group;
    for (const r of result.refusedCommits) {
      // A member's modified client or the relay itself: either way the people should know.
      this.trust.alarm('commit_refused', `${result.group.name}: a commit (entry ${r.seq}) from device ${r.sender} was refused and voided: ${r.reason}`, [
        JSON.stringify({ groupId, seq: r.seq, sender: r.sender }),
      ]);
    }
    const distinct = new Map(result.checkpoints.map((c) => [c.note, c.senderDevice]));
    for (const [note, sender] of distinct) await this.trust.compareGossip(note, this.nameOf(this.device(sender)?.userId ?? sender));
  }

  /** The log position after which this device reads a group next. */
  private logAfter(local: GroupLocal): number {
    return Math.max(local.cursor, local.readableFrom > 0 ? local.readableFrom - 1 : 0);
  }

  /** Applies pushed entries that continue a group's log right after this device's position, with
   * no request. Undefined when they must come from the log read instead: the group is not one this
   * device reads, a key involved is not already proven by the key-transparency log on this device
   * (proving it takes requests), or ingesting refuses anything (a forged or replayed entry, a
   * commit this device cannot process). The read then decides, exactly as for any log entry, so a
   * push can never make this device skip the entry the log holds at that position. */
  private async applyPushed(groupId: string, entries: api.LogEntry[]): Promise<StoredMessage[] | undefined> {
    const current = this.state.groups[groupId];
    if (!current || (current.kind === 'secret' && (!current.mls || current.removed))) return undefined;
    if (entries.length === 0 || entries[0].seq !== this.logAfter(current) + 1) return undefined;
    for (const id of this.involvedDevices(current, entries)) if (!this.trust.device(id)) return undefined;
    const result = await ingestEntries(current, entries, this.ingestContext(groupId));
    const refused = result.group.rejected.length !== current.rejected.length || result.refusedCommits.length > 0;
    if (refused || result.group.cursor !== entries[entries.length - 1].seq) return undefined;
    await this.keepIngested(groupId, result);
    return result.messages;
  }

  private groupOfMine(g: api.GroupView): boolean {
    if (g.kind === 'public') return g.isMember;
    const local = this.state.groups[g.id];
    return Boolean(local?.mls && !local.removed);
  }

  private members(state: string): { deviceId: string; userId: string }[] {
    return groupInfo(fromB64u(state)).members;
  }

  /** The relay's epoch of a group's current state (profiles from before it was kept: the MLS epoch). */
  private logEpochOf(local: GroupLocal): number {
    return local.logEpoch ?? groupInfo(fromB64u(local.mls!)).epoch;
  }

  /** How many of this person's devices the log shows revoked: a new one calls for update commits. */
  private revokedOwnDevices(): number {
    return (this.state.kt.users[this.state.userId]?.devices ?? []).filter((d) => d.revokedIndex !== null).length;
  }

  /** Owners decide who else is in a group; a group whose owners this device does not know (from an
   * older release) keeps the old rule that any member may. */
  private mayChangeOthers(local: GroupLocal): boolean {
    return local.owners.length === 0 || local.owners.includes(this.state.userId);
  }

  /** Post-compromise security: whether this device should refresh its leaf in the group now. The
   * period is spread over its last fifth by device and group, so members that joined together do
   * not all update at the same moment. */
  private updateDue(local: GroupLocal): boolean {
    if (local.pcs.at === 0) {
      // A group from before update commits: start its clock now rather than have every member of
      // every group update at once after the upgrade.
      local.pcs = { at: this.now(), sent: 0, revokedOwn: this.revokedOwnDevices() };
      return false;
    }
    let h = 0;
    for (const c of `${this.state.deviceId}/${local.id}`) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    const period = UPDATE_AFTER_MS * (0.8 + 0.2 * ((h % 1000) / 1000));
    return this.now() - local.pcs.at >= period || local.pcs.sent >= UPDATE_AFTER_RECORDS || this.revokedOwnDevices() > local.pcs.revokedOwn;
  }

  /** Sends an update commit (a fresh leaf and path for this device; optionally a new owner set),
   * retried over races with other commits like any change. */
  private async updateCommit(g: api.GroupView, owners?: string[]): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      await this.syncGroupLog(g.id);
      const local = this.state.groups[g.id];
      if (!local?.mls || local.removed) throw new AgoraError('not_a_member', `this device is not a member of the secret group ${g.id}`);
      try {
        await this.commitChange(g.id, [], [], { update: true, owners });
        return;
      } catch (e) {
        if (e instanceof AgoraError && e.code === 'stale_epoch') continue;
        throw e;
      }
    }
    throw new AgoraError('conflict', `the group ${g.id} is changing too fast; try again`);
  }

  /** Keeps each secret group's devices in line with its people: adds their new devices (this
   * person's own at once; others' after a grace period), removes revoked devices and deactivated
   * people. Races with other members are settled by the relay's epoch check. */
  private async maintainSecretGroup(g: api.GroupView): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const local = this.state.groups[g.id];
      if (!local?.mls || local.removed) return;
      const members = this.members(local.mls);
      const inTree = new Set(members.map((m) => m.deviceId));
      const people = new Set(members.map((m) => m.userId));
      await this.trust.ensureUsers(people);
      // Removed only on the log's word (revoked device, deactivated person): a person the log
      // cannot verify right now is left alone rather than dropped.
      const remove = members
        .filter((m) => m.deviceId !== this.state.deviceId)
        .filter((m) => this.trust.device(m.deviceId)?.active === false)
        .map((m) => m.deviceId);
      const grace = this.deps.addGraceMs ?? 120_000;
      const add = [...people]
        .flatMap((u) => this.approvedDevicesOf(u))
        .filter((d) => !inTree.has(d.id))
        .filter((d) => d.userId === this.state.userId || this.now() - d.createdAt > grace);
      if (remove.length === 0 && add.length === 0) return;
      try {
        // Other people's devices only from an owner: every member voids such an add by anyone else.
        await this.commitChange(g.id, this.mayChangeOthers(local) ? add : add.filter((d) => d.userId === this.state.userId), remove);
        return;
      } catch (e) {
        if (e instanceof AgoraError && e.code === 'stale_epoch') {
          await this.syncGroupLog(g.id);
          continue;
        }
        throw e;
      }
    }
  }

  /** Claims one KeyPackage per device for a change of `groupId` and returns exactly those, checked
   * against the log. An answer that is not exactly what was asked for aborts the change with an
   * alarm. A device without packages is an error for an explicit add (`fail`: nobody is silently
   * left out) and is retried on a later sync for background maintenance (`later`). */
  private async claimPackages(groupId: string, devices: api.Device[], whenMissing: 'fail' | 'later'): Promise<string[]> {
    const requested = devices.map((d) => d.id);
    const answer = await this.http.claimKeyPackages(groupId, requested);
    let checked;
    try {
      checked = await checkClaimAnswer(requested, answer, (kp, deviceId) => checkKeyPackage(kp, deviceId, this.mlsLookup));
    } catch (e) {
      if (!(e instanceof ClaimMismatch)) throw e;
      const a = this.trust.alarm('claim_mismatch', `${e.message}: the relay's KeyPackage answer is not what this device asked for, so nothing was changed`, [
        JSON.stringify({ groupId, requested, answer: answer.keyPackages.map((k) => k.deviceId), missing: answer.missing }),
      ]);
      throw new AgoraError('forbidden', `not changing the group: ${a.message}`);
    }
    const missingNames = () => checked.missing.map((d) => `${this.nameOf(this.trust.device(d)?.userId ?? d)} (device ${d})`).join(', ');
    if (checked.missing.length > 0 && whenMissing === 'fail') {
      throw new AgoraError('no_key', `nobody was added: ${missingNames()} has no KeyPackages left; try again once that device has been online`);
    }
    if (checked.missing.length > 0) this.warnings.push(`not added yet, no KeyPackages left: ${missingNames()}`);
    return checked.packages.map((p) => p.keyPackage);
  }

  /** Claims KeyPackages, stages the commit, sends it, and merges only once the relay accepted it. */
  private async commitChange(
    groupId: string,
    addDevices: api.Device[],
    removeDevices: string[],
    opts: { whenMissing?: 'fail' | 'later'; update?: boolean; owners?: string[] } = {},
  ): Promise<number> {
    const local = this.state.groups[groupId];
    if (!local?.mls) throw new AgoraError('not_a_member', 'this device is not a member of that secret group');
    const packages = addDevices.length > 0 ? await this.claimPackages(groupId, addDevices, opts.whenMissing ?? 'later') : [];
    if (packages.length === 0 && removeDevices.length === 0 && !opts.update) return this.logEpochOf(local);
    const epoch = this.logEpochOf(local);
    const key = local.epochKeys[String(epoch)];
    if (!key) throw new AgoraError('no_key', 'this device lacks the current epoch key of that group');
    const owners = opts.owners ?? local.owners;
    const welcomeInfo = packages.length > 0
      ? encodeWelcomeInfo({ owners, ...(local.name ? { name: local.name } : {}), ...(local.name && local.description !== null ? { description: local.description } : {}) })
      : undefined;
    const staged = await stageCommit(
      fromB64u(local.mls),
      { add: packages, remove: removeDevices, update: opts.update, authenticatedData: await sealOwners(owners, fromB64u(key), groupId), welcomeInfo },
      this.mlsLookup,
    );
    // After commits every member voided, the relay's routing and the tree can differ: devices a
    // voided add had it route to are dropped, and leaves a voided removal cut off are routed again
    // (declared as added, without a Welcome: they hold the group state). Members ignore both when
    // they compare the declared lists with the MLS change.
    const tree = new Set(groupInfo(fromB64u(local.mls)).members.map((m) => m.deviceId));
    const routed = await this.http.group(groupId).then((v) => new Set(v.memberDevices), () => undefined);
    const stale = routed ? [...routed].filter((d) => !tree.has(d) && !staged.added.includes(d)) : [];
    const cutOff = routed ? [...tree].filter((d) => !routed.has(d) && !staged.removed.includes(d)) : [];
    // Kept (and saved) until the relay answers: if the answer is lost, the commit is recognised in
    // the log later and this staged state merged then (a device cannot process its own commit).
    local.pendingCommit = { epoch, commit: staged.commit, staged: toB64u(staged.staged) };
    await this.deps.profile.save(this.state);
    let res;
    try {
      res = await this.http.commit(groupId, {
        epoch,
        commit: staged.commit,
        welcome: staged.welcome,
        added: [...staged.added, ...cutOff],
        removed: [...staged.removed, ...stale],
        membership: await this.signMembership(groupId, epoch + 1, staged.staged),
      });
    } catch (e) {
      // A 4xx is a refusal: the commit is not in the log. Otherwise nobody knows yet.
      const status = e instanceof AgoraError ? e.details.status : undefined;
      if (status !== undefined && status >= 400 && status < 500) local.pendingCommit = null;
      throw e;
    }
    local.pendingCommit = null;
    local.mls = toB64u(staged.staged);
    local.epochKeys[String(res.epoch)] = toB64u(await exportContentKey(staged.staged));
    local.membershipChecks.push(await membershipCheckFor(staged.staged, res.epoch, this.state.deviceId));
    // Entries before this commit that are not read yet are still of the epoch it was built on.
    local.cursorEpoch ??= epoch;
    local.logEpoch = res.epoch;
    local.lastCommitSeq = res.seq;
    local.owners = [...new Set(owners)].sort();
    // Every commit refreshes the committer's own path only when it carries one (updates, removals).
    if (staged.removed.length > 0 || staged.added.length === 0) local.pcs = { ...local.pcs, at: this.now(), sent: 0, revokedOwn: this.revokedOwnDevices() };
    if (staged.added.length > 0 && local.metaSeq > 0) {
      // Newcomers read the log from the commit that added them on: the group's name (encrypted, in
      // a meta record) must follow it, or they would never learn what the group is called.
      try {
        await this.deps.profile.save(this.state);
        await this.sendMeta(groupId, local.description === null ? { name: local.name } : { name: local.name, description: local.description });
      } catch (e) {
        this.warnings.push(`the group's name could not be sent to the people just added to group ${groupId}: ${(e as Error).message}`);
      }
    }
    if (staged.added.length > 0) {
      // An update that puts this device's path back into the tree the adds left partly blank (and
      // states the owner set for devices joining from a Welcome of an older release).
      try {
        await this.deps.profile.save(this.state);
        return await this.commitChange(groupId, [], [], { update: true });
      } catch (e) {
        if (!(e instanceof AgoraError && e.code === 'stale_epoch')) this.warnings.push(`the update after adding to group ${groupId} failed: ${(e as Error).message}`);
      }
    }
    return res.epoch;
  }

  /** The member devices of `state` (a secret group's MLS state from the relay's epoch `epoch` on) for
   * the key-transparency log: committed under the epoch's salt and signed, and sealed to the
   * auditors of the policy. The log shows the list to nobody else. */
  private async signMembership(groupId: string, epoch: number, state: Uint8Array): Promise<api.MembershipProof> {
    const { members, salt, commitment } = await membershipOf(state);
    const sealed = await sealForAuditors(this.trust.policy.auditors, salt, members);
    return {
      commitment: toB64u(commitment),
      sealedForAuditors: sealed.map((s) => ({ auditor: toB64u(s.auditor), sealed: toB64u(s.sealed) })),
      signature: toB64u(await sign(fromB64u(this.state.keys.signSeed), membershipMessage(groupId, epoch, commitment))),
    };
  }

  /** Matches the log's membership entries against the MLS trees this device saw (own commits and
   * others'); a difference or a missing entry is an alarm (KtTrust.checkMembership). */
  private async checkMemberships(): Promise<void> {
    for (const g of Object.values(this.state.groups)) {
      if (g.kind !== 'secret' || g.membershipChecks.length === 0) continue;
      const left: GroupLocal['membershipChecks'] = [];
      for (const c of g.membershipChecks) {
        if ((await this.trust.checkMembership(g.id, g.name || g.id, c)) === 'pending') left.push(c);
      }
      g.membershipChecks = left;
    }
  }

  private async initReservedGroup(g: api.GroupView): Promise<void> {
    // The MLS group exists before the relay hears of it: the logged commitment is over its salt.
    const state = await mlsCreateGroup(g.id, this.identity);
    try {
      await this.http.initSecretGroup(g.id, await this.signMembership(g.id, 0, state));
    } catch (e) {
      if (e instanceof AgoraError && (e.code === 'conflict' || e.code === 'forbidden')) return;
      throw e;
    }
    const local = this.localGroup(g);
    local.mls = toB64u(state);
    local.epochKeys['0'] = toB64u(await exportContentKey(state));
    local.membershipChecks.push(await membershipCheckFor(state, 0, this.state.deviceId));
    this.founded(local);
  }

  /** A secret group this device just created: its person is the first owner. */
  private founded(local: GroupLocal): void {
    local.logEpoch = 0;
    local.cursorEpoch = 0;
    local.lastCommitSeq = 0;
    local.owners = [this.state.userId];
    local.pcs = { at: this.now(), sent: 0, revokedOwn: this.revokedOwnDevices() };
  }

  // ---------- sync ----------

  /** `fetched`: the sync answer the caller started its operation from (else one is fetched). */
  private async syncUnlocked(only?: string, fetched?: api.SyncResponse): Promise<SyncReport> {
    this.warnings = [];
    const answer = fetched ?? await this.fetchSync();
    await this.trust.monitorSelf();
    await this.syncOrgKeys({ fetched: answer });
    await this.syncMailbox(answer.mailbox);
    const groups = await this.fetchGroups(answer.groups);
    const newMessages: SyncReport['newMessages'] = [];
    const initialised = new Set<string>();
    for (const g of groups) {
      if (g.kind === 'secret' && g.epoch === null && g.departmentId) {
        const dept = this.user(this.state.userId)?.departments ?? [];
        if (dept.includes(g.departmentId)) {
          await this.initReservedGroup(g);
          initialised.add(g.id);
        }
      }
    }
    for (const g of groups) {
      if (only && g.id !== only) continue;
      if (!this.groupOfMine(g) && !(only && g.kind === 'public')) continue;
      this.localGroup(g);
      // Only logs that moved are read; one this sync just created has no head in the answer yet.
      const msgs = await this.syncGroupLog(g.id, initialised.has(g.id) ? undefined : g.head);
      for (const m of msgs) newMessages.push({ groupId: g.id, message: this.view(m) });
      if (g.kind === 'secret') await this.maintainSecretGroup(g);
      const local = this.state.groups[g.id];
      if (g.kind === 'secret' && local?.mls && !local.removed && this.updateDue(local)) {
        try {
          await this.updateCommit(g);
        } catch (e) {
          this.warnings.push(`${local.name}: the periodic update commit failed (${(e as Error).message}); it is tried again on the next sync`);
        }
      }
    }
    await this.checkMemberships();
    // History goes only to devices this person vouched for (device link or approval), not to one
    // an administrator's invite put on their account.
    for (const d of this.approvedDevicesOf(this.state.userId)) {
      if (d.id === this.state.deviceId || this.state.historySentTo.includes(d.id)) continue;
      try {
        await this.sendHistoryTo(d);
      } catch (e) {
        this.warnings.push(`could not hand your history to your device ${d.id}: ${(e as Error).message}`);
      }
    }
    await this.topUpKeyPackages(false, answer.keyPackages);
    return { newMessages, warnings: [...this.trust.raised.map((a) => `ALARM: ${a.message}`), ...this.warnings, ...this.groupWarnings(only)] };
  }

  private groupWarnings(only?: string): string[] {
    const out: string[] = [];
    for (const g of Object.values(this.state.groups)) {
      if (only && g.id !== only) continue;
      for (const gap of g.gaps) out.push(`${g.name}: records ${gap.from}–${gap.to} from device ${gap.senderDevice} never arrived`);
    }
    return out;
  }

  sync(): Promise<SyncReport> {
    return this.tx(() => this.syncUnlocked());
  }

  private view(m: StoredMessage): MessageView {
    return { id: m.id, sender: m.sender, senderName: this.nameOf(m.sender), sentAt: m.sentAt, text: m.text };
  }

  // ---------- public operations ----------

  async listGroups(): Promise<GroupSummary[]> {
    return this.tx(async () => {
      let groups = await this.fetchGroups();
      // Secret groups this device belongs to but has no name for yet (just joined): the name is
      // in their logs.
      const unnamed = groups.filter((g) => g.kind === 'secret' && g.isMember && !this.state.groups[g.id]?.metaSeq);
      if (unnamed.length > 0) {
        await this.syncMailbox();
        for (const g of unnamed) if (this.groupOfMine(g)) await this.syncGroupLog(g.id);
        groups = groups.map((g) => this.named(g, groups));
      }
      return groups.map((g) => this.summary(g));
    });
  }

  async groupMembers(groupRef: string): Promise<{ id: string; name: string; devices: string[]; owner: boolean }[]> {
    return this.tx(async () => {
      await this.refreshDirectory();
      const g = await this.findGroup(groupRef);
      const view = await this.http.group(g.id);
      if (g.kind === 'secret') {
        await this.syncMailbox();
        await this.syncGroupLog(g.id);
      }
      // Owners as this device's own processing of the group's commits established them.
      const owners = g.kind === 'secret' ? (this.state.groups[g.id]?.owners ?? []) : [];
      return view.members.map((u) => ({
        id: u,
        name: this.nameOf(u),
        devices: view.kind === 'secret' ? view.memberDevices.filter((d) => this.device(d)?.userId === u) : [],
        owner: owners.includes(u),
      }));
    });
  }

  async createGroup(input: { name: string; kind: 'secret' | 'public'; department?: string; description?: string }): Promise<GroupSummary> {
    return this.tx(async () => {
      const meta = this.checkedMeta(input.name, input.description);
      if (input.kind === 'public' && input.description !== undefined) {
        throw new AgoraError('usage', 'description: only a secret group carries one (encrypted with its name)');
      }
      let departmentId: string | undefined;
      if (input.department) departmentId = await this.resolveDepartment(input.department);
      if (input.kind === 'secret') {
        // The relay cannot keep secret-group names unique (it never sees them), so the client
        // refuses a name it can already see: groups, and departments (whose groups carry theirs).
        const clash = (await this.fetchGroups()).find((x) => sameName(x.name, meta.name));
        if (clash) throw new AgoraError('conflict', `a group named "${clash.name}" exists already: choose another name`);
      }
      // A secret group's creator names it, to sign its first membership (itself, epoch 0).
      const id = input.kind === 'secret' ? newId('g') : undefined;
      const state = id ? await mlsCreateGroup(id, this.identity) : undefined;
      const membership = id && state ? await this.signMembership(id, 0, state) : undefined;
      // A secret group's name goes only into its log, encrypted (below); the relay gets none.
      const g = await this.http.createGroup({ id, name: id ? undefined : meta.name, kind: input.kind, departmentId, membership });
      const local = this.localGroup(g);
      if (g.kind === 'secret' && state) {
        local.mls = toB64u(state);
        local.epochKeys['0'] = toB64u(await exportContentKey(state));
        local.membershipChecks.push(await membershipCheckFor(state, 0, this.state.deviceId));
        this.founded(local);
        await this.sendMeta(g.id, meta);
        // This person's other devices join at once.
        await this.refreshDirectory();
        await this.maintainSecretGroup(g);
      }
      return { id: g.id, name: meta.name, kind: g.kind, departmentId: g.departmentId, isMember: true, epoch: g.epoch, members: 1 };
    });
  }

  /** A name and description as the relay and every reader will accept them (refused here, with the
   * reason, rather than by the relay or by the group's members). */
  private checkedMeta(name: string, description?: string): MetaBody {
    const trimmed = name.trim();
    const problem = trimmed.length === 0 ? 'must not be empty' : trimmed.length > LIMITS.nameChars ? `must be at most ${LIMITS.nameChars} characters` : nameProblem(trimmed);
    if (problem) throw new AgoraError('usage', `name: ${problem}`);
    if (description !== undefined && description.length > MAX_DESCRIPTION_CHARS) {
      throw new AgoraError('usage', `description: must be at most ${MAX_DESCRIPTION_CHARS} characters`);
    }
    return description === undefined ? { name: trimmed } : { name: trimmed, description };
  }

  /** Writes a secret group's name (and description) into its log, encrypted under the current
   * epoch like any record, so only members read it; retried under a newer epoch if a commit wins. */
  private async sendMeta(groupId: string, meta: MetaBody): Promise<void> {
    const g = { id: groupId, name: meta.name };
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.syncGroupLog(g.id);
      const local = this.state.groups[g.id];
      if (!local?.mls || local.removed) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
      const epoch = this.logEpochOf(local);
      const key = fromB64u(local.epochKeys[String(epoch)]);
      const counter = (this.state.sentCounters[g.id] ?? 0) + 1;
      const record = {
        v: 1 as const, id: newId('r'), groupId: g.id, epoch, senderUserId: this.state.userId, senderDeviceId: this.state.deviceId,
        counter, sentAt: this.now(), type: 'meta' as const, body: meta, kt: this.trust.checkpointNote,
      };
      const ciphertext = await sealRecord({ record, key, signSeed: fromB64u(this.state.keys.signSeed) });
      this.state.sentCounters[g.id] = counter;
      await this.deps.profile.save(this.state);
      try {
        const { seq } = await this.http.appendRecord(g.id, { epoch, ciphertext });
        if (seq > local.metaSeq) {
          local.name = meta.name;
          local.description = meta.description ?? null;
          local.metaSeq = seq;
        }
        return;
      } catch (e) {
        if (e instanceof AgoraError && (e.code === 'stale_epoch' || e.code === 'conflict')) continue;
        throw e;
      }
    }
    throw new AgoraError('conflict', `"${g.name}" is changing too fast; try again`);
  }

  /** Renames a group. A public group: on the relay (its administrators or creator). A secret group:
   * a new meta record in its log, which members accept from its owners only. */
  async renameGroup(groupRef: string, name: string, description?: string): Promise<GroupSummary> {
    return this.tx(async () => {
      const meta = this.checkedMeta(name, description);
      const groups = await this.fetchGroups();
      const g = await this.findGroup(groupRef);
      if (g.kind === 'public') {
        if (description !== undefined) throw new AgoraError('usage', 'description: only a secret group carries one (encrypted with its name)');
        const v = this.named(await this.http.renameGroup(g.id, meta.name));
        return this.summary(v);
      }
      if (!this.groupOfMine(g)) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
      await this.syncGroupLog(g.id);
      const local = this.localGroup(g);
      if (local.owners.length > 0 && !local.owners.includes(this.state.userId)) {
        throw new AgoraError('forbidden', `only an owner of "${g.name}" may rename it`);
      }
      const clash = groups.find((x) => x.id !== g.id && sameName(x.name, meta.name));
      if (clash) throw new AgoraError('conflict', `a group named "${clash.name}" exists already: choose another name`);
      // A rename without a description keeps the one the group has.
      await this.sendMeta(g.id, description === undefined && local.description !== null ? { ...meta, description: local.description } : meta);
      return this.summary({ ...g, name: meta.name });
    });
  }

  /** Deletes a public group that belongs to no department (its administrators or creator). */
  async deleteGroup(groupRef: string): Promise<void> {
    await this.tx(async () => {
      const g = await this.findGroup(groupRef);
      await this.http.deleteGroup(g.id);
      delete this.state.groups[g.id];
    });
  }

  async renameDepartment(ref: string, name: string): Promise<api.Department> {
    return this.tx(async () => this.http.renameDepartment(await this.resolveDepartment(ref), this.checkedMeta(name).name));
  }

  async deleteDepartment(ref: string): Promise<void> {
    await this.tx(async () => this.http.deleteDepartment(await this.resolveDepartment(ref)));
  }

  async removeDepartmentMember(deptRef: string, userRef: string): Promise<void> {
    await this.tx(async () => {
      await this.refreshDirectory();
      const departmentId = await this.resolveDepartment(deptRef);
      await this.http.removeDepartmentMember(departmentId, (await this.resolveUser(userRef)).id);
    });
  }

  private summary(g: NamedGroup): GroupSummary {
    const isMember = g.kind === 'secret' ? this.groupOfMine(g) : g.isMember;
    const description = g.kind === 'secret' ? this.state.groups[g.id]?.description : null;
    return {
      id: g.id, name: g.name, kind: g.kind, departmentId: g.departmentId, isMember, epoch: g.epoch, members: g.members.length,
      ...(description ? { description } : {}),
    };
  }

  private async resolveDepartment(ref: string): Promise<string> {
    const { departments } = await this.http.departments();
    const hit = departments.filter((d) => d.id === ref || sameName(d.name, ref));
    if (hit.length !== 1) throw new AgoraError(hit.length ? 'ambiguous' : 'not_found', `no single department "${ref}"`);
    return hit[0].id;
  }

  async addMembers(groupRef: string, userRefs: string[]): Promise<void> {
    await this.tx(async () => {
      await this.refreshDirectory();
      const g = await this.findGroup(groupRef);
      const users = await this.resolveUsers(userRefs);
      for (const u of users) if (u.status !== 'active') throw new AgoraError('forbidden', `${u.name} is deactivated`);
      if (g.kind === 'public') {
        await this.http.addPublicMembers(g.id, users.map((u) => u.id));
        return;
      }
      // Fail closed: nobody is added to a secret group with keys the log does not prove.
      const unverified = await this.trust.ensureUsers(users.map((u) => u.id));
      if (unverified.length > 0) {
        const names = unverified.map((id) => this.nameOf(id)).join(', ');
        throw new AgoraError('forbidden', `not adding ${names}: their keys could not be verified in the key-transparency log${this.trust.raised.length ? ` (${this.trust.raised.at(-1)!.message})` : ''}`);
      }
      // Nobody is silently left out: a person none of whose devices may join is an error.
      const noDevice = users.filter((u) => this.approvedDevicesOf(u.id).length === 0);
      if (noDevice.length > 0) {
        throw new AgoraError('forbidden', `not adding ${noDevice.map((u) => this.nameOf(u.id)).join(', ')}: no active device of theirs is approved by their own devices`);
      }
      await this.syncOrgKeys(); // a colleague's duty: hand the organisation key to waiting devices
      await this.changeSecretMembers(g, (members) => ({
        add: users.flatMap((u) => this.approvedDevicesOf(u.id)).filter((d) => !members.has(d.id)),
        remove: [],
      }));
    });
  }

  async removeMembers(groupRef: string, userRefs: string[]): Promise<void> {
    await this.tx(async () => {
      await this.refreshDirectory();
      const g = await this.findGroup(groupRef);
      const users = await this.resolveUsers(userRefs);
      if (g.kind === 'public') {
        await this.http.removePublicMembers(g.id, users.map((u) => u.id));
        return;
      }
      if (users.some((u) => u.id === this.state.userId)) {
        throw new AgoraError('usage', 'you cannot remove yourself with this device; ask another member to remove you');
      }
      const ids = new Set(users.map((u) => u.id));
      await this.changeSecretMembers(g, (_members, tree) => ({ add: [], remove: tree.filter((m) => ids.has(m.userId)).map((m) => m.deviceId) }));
    });
  }

  /** Sends an update commit now (`agora group update`): a fresh leaf for this device, so a copy of
   * its group state taken before stops following the group. */
  async updateGroup(groupRef: string): Promise<{ epoch: number }> {
    return this.tx(async () => {
      const g = await this.findGroup(groupRef);
      if (g.kind !== 'secret') throw new AgoraError('usage', `"${g.name}" is a public group: only secret groups have update commits`);
      await this.syncMailbox();
      await this.updateCommit(g);
      return { epoch: this.logEpochOf(this.state.groups[g.id]) };
    });
  }

  /** Names another owner of a secret group (`agora group owner add`); only an owner may. The new
   * owner set travels in an update commit, so every member applies it at the same place in the log. */
  async addOwner(groupRef: string, userRef: string): Promise<{ owners: string[] }> {
    return this.tx(async () => {
      await this.refreshDirectory();
      const g = await this.findGroup(groupRef);
      if (g.kind !== 'secret') throw new AgoraError('usage', `"${g.name}" is a public group: owners exist in secret groups`);
      const [user] = await this.resolveUsers([userRef]);
      await this.syncMailbox();
      for (let attempt = 0; attempt < 8; attempt++) {
        await this.syncGroupLog(g.id);
        const local = this.state.groups[g.id];
        if (!local?.mls || local.removed) throw new AgoraError('not_a_member', `this device is not a member of "${g.name}"`);
        if (!this.mayChangeOthers(local)) throw new AgoraError('forbidden', `only an owner of "${g.name}" may name owners`);
        if (!this.members(local.mls).some((m) => m.userId === user.id)) throw new AgoraError('usage', `${user.name} is not a member of "${g.name}": add them first`);
        const owners = [...new Set([...local.owners, this.state.userId, user.id])].sort();
        try {
          await this.commitChange(g.id, [], [], { update: true, owners });
          return { owners };
        } catch (e) {
          if (e instanceof AgoraError && e.code === 'stale_epoch') continue;
          throw e;
        }
      }
      throw new AgoraError('conflict', `"${g.name}" is changing too fast; try again`);
    });
  }

  private async changeSecretMembers(
    g: api.GroupView,
    plan: (members: Set<string>, tree: { deviceId: string; userId: string }[]) => { add: api.Device[]; remove: string[] },
  ): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      await this.syncMailbox();
      await this.syncGroupLog(g.id);
      const local = this.state.groups[g.id];
      if (!local?.mls || local.removed) throw new AgoraError('not_a_member', `this device is not a member of "${g.name}"`);
      const tree = this.members(local.mls);
      const { add, remove } = plan(new Set(tree.map((m) => m.deviceId)), tree);
      if (add.length === 0 && remove.length === 0) return;
      // Every member's client voids a commit against the owner rule; refusing here says why.
      const others = add.some((d) => d.userId !== this.state.userId) || remove.some((d) => tree.find((m) => m.deviceId === d)?.userId !== this.state.userId);
      if (others && !this.mayChangeOthers(local)) {
        throw new AgoraError('forbidden', `only the owners of "${g.name}" may add or remove other people (owners: ${local.owners.map((u) => this.nameOf(u)).join(', ')})`);
      }
      try {
        // Asked for by the person at the keyboard: a device that cannot be added is an error.
        await this.commitChange(g.id, add, remove, { whenMissing: 'fail' });
        return;
      } catch (e) {
        if (e instanceof AgoraError && e.code === 'stale_epoch') continue;
        throw e;
      }
    }
    throw new AgoraError('conflict', `"${g.name}" is changing too fast; try again`);
  }

  async joinGroup(groupRef: string): Promise<void> {
    await this.tx(async () => {
      const g = await this.findGroup(groupRef);
      if (g.kind === 'secret') throw new AgoraError('forbidden', `"${g.name}" is a secret group: only its members can add you`);
      await this.http.joinGroup(g.id);
      this.localGroup(g);
    });
  }

  async send(groupRef: string, text: string): Promise<{ id: string; seq: number }> {
    if (text.length === 0) throw new AgoraError('usage', 'the message is empty');
    return this.tx(async () => {
      const answer = await this.fetchSync();
      const g = await this.findGroup(groupRef, answer);
      // Every send also does a colleague's duty: hand the organisation key to new devices waiting
      // for it, so newcomers can read public groups as soon as anyone is active. Before a public
      // record it also rotates the key at once if the log shows a revocation not yet settled.
      await this.syncOrgKeys({ writing: g.kind === 'public', fetched: answer });
      if (g.kind === 'secret') await this.syncMailbox(answer.mailbox);
      for (let attempt = 0; attempt < 5; attempt++) {
        // After a refused record the relay's head is no longer known: read up to the end.
        await this.syncGroupLog(g.id, attempt === 0 ? g.head : undefined);
        const local = this.localGroup(g);
        let epoch: number;
        let key: Uint8Array;
        if (g.kind === 'secret') {
          if (!local.mls || local.removed) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
          if (attempt === 0 && this.updateDue(local)) {
            // Post-compromise security by volume (and time): refresh this device's leaf first. A
            // failed update does not hold the message back; the next send or sync tries again.
            await this.updateCommit(g).catch(() => undefined);
            continue;
          }
          // The relay's epoch: it refuses (409) a record of any other, and readers too.
          epoch = this.logEpochOf(local);
          key = fromB64u(local.epochKeys[String(epoch)]);
        } else {
          const w = this.writableOrgGeneration();
          epoch = w.generation;
          key = derivePublicGroupKey(w.key, g.id);
        }
        const counter = (this.state.sentCounters[g.id] ?? 0) + 1;
        const record = {
          v: 1 as const,
          id: newId('r'),
          groupId: g.id,
          epoch,
          senderUserId: this.state.userId,
          senderDeviceId: this.state.deviceId,
          counter,
          sentAt: this.now(),
          type: 'text' as const,
          body: { text },
          kt: this.trust.checkpointNote,
        };
        const ciphertext = await sealRecord({ record, key, signSeed: fromB64u(this.state.keys.signSeed) });
        // The counter is spent before the send, and saved: if the answer is lost, the next record
        // leaves a visible gap instead of reusing the counter (which readers refuse as a replay).
        this.state.sentCounters[g.id] = counter;
        await this.deps.profile.save(this.state);
        try {
          const { seq } = await this.http.appendRecord(g.id, { epoch, ciphertext });
          if (g.kind === 'secret') local.pcs.sent += 1;
          return { id: record.id, seq };
        } catch (e) {
          // A commit landed between our catch-up and the send: catch up again and re-encrypt.
          if (e instanceof AgoraError && (e.code === 'stale_epoch' || e.code === 'conflict')) continue;
          throw e;
        }
      }
      throw new AgoraError('conflict', `"${g.name}" is changing too fast; try again`);
    });
  }

  async read(groupRef: string): Promise<{ group: GroupSummary; messages: MessageView[]; warnings: string[] }> {
    return this.tx(async () => {
      const answer = await this.fetchSync();
      const g = await this.findGroup(groupRef, answer);
      if (g.kind === 'secret' && !this.groupOfMine(g)) {
        // A Welcome may be waiting.
        await this.syncMailbox(answer.mailbox);
        if (!this.groupOfMine(g)) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
      }
      const report = await this.syncUnlocked(g.id, answer);
      const local = this.state.groups[g.id];
      const messages = (local?.messages ?? []).slice().sort((a, b) => a.seq - b.seq).map((m) => this.view(m));
      const rejected = (local?.rejected ?? []).map((r) => `${g.name}: entry ${r.seq} from device ${r.sender} was refused: ${r.reason}`);
      return {
        group: { id: g.id, name: g.name, kind: g.kind, departmentId: g.departmentId, isMember: true, epoch: g.epoch, members: g.members.length },
        messages,
        warnings: [...report.warnings, ...rejected],
      };
    });
  }

  // ---------- administration ----------

  async createInvite(input: { name: string; department?: string; role?: api.Role; newPerson?: boolean }): Promise<{ code: string; expiresAt: number; kind: 'user' | 'device'; userId?: string }> {
    return this.tx(async () => {
      await this.refreshDirectory();
      const existing = input.newPerson ? [] : this.state.directory.users.filter((u) => sameName(u.name, input.name) && u.status === 'active');
      if (existing.length === 1 && !input.department && !input.role) {
        const inv = await this.issueInvite({ kind: 'device', userId: existing[0].id });
        return { ...inv, userId: existing[0].id };
      }
      const departmentId = input.department ? await this.resolveDepartment(input.department) : undefined;
      return this.issueInvite({ kind: 'user', name: input.name, departmentId, role: input.role ?? 'member' });
    });
  }

  async linkDevice(): Promise<{ code: string; expiresAt: number }> {
    return this.tx(() => this.issueInvite({ kind: 'device', userId: this.state.userId }));
  }

  /** Vouches for another device of this person that somebody else's invite (an administrator's)
   * put on the account, so that it joins this person's secret groups. Signed over the keys the
   * key-transparency log shows for it, never over what the relay's directory says. */
  async approveDevice(deviceId: string): Promise<{ deviceId: string }> {
    return this.tx(async () => {
      await this.refreshDirectory();
      const me = this.state.userId;
      if ((await this.trust.ensureUsers([me])).length > 0) {
        throw new AgoraError('forbidden', 'your own entries in the key-transparency log could not be verified: not approving anything');
      }
      const devices = this.state.kt.users[me].devices;
      const target = devices.find((d) => d.deviceId === deviceId);
      if (!target) throw new AgoraError('not_found', `the key-transparency log shows no device ${deviceId} of yours`);
      if (target.revokedIndex !== null) throw new AgoraError('usage', `device ${deviceId} is revoked`);
      if (target.approvedIndex != null) throw new AgoraError('conflict', `device ${deviceId} is approved already`);
      if (devices.find((d) => d.deviceId === this.state.deviceId)?.approvedIndex == null) {
        throw new AgoraError('forbidden', 'this device was not approved by you itself: approve devices from one that was');
      }
      const message = deviceApprovalMessage({ userId: me, deviceId, signPub: fromB64u(target.signPub), encPub: fromB64u(target.encPub) });
      await this.http.approveDevice(deviceId, toB64u(await sign(fromB64u(this.state.keys.signSeed), message)));
      // This device adds it to the groups it is in at once (after verifying the grown log again);
      // other members on their next sync.
      this.trust.begin();
      await this.syncUnlocked();
      return { deviceId };
    });
  }

  /** Revokes one device (a lost or stolen phone) of this person, or of anyone from an
   * administrator's device. The relay refuses the device at once; what follows comes from the
   * log's DEVICE_REVOKED entry, which this device then checks is really there: members remove the
   * device from their secret groups, this person's other devices send update commits in theirs,
   * and the organisation key rotates. A device may revoke itself (then nothing more runs here). */
  async revokeDevice(deviceId: string): Promise<{ deviceId: string; userId: string }> {
    return this.tx(async () => {
      if (!api.DeviceId.safeParse(deviceId).success) throw new AgoraError('usage', `"${deviceId}" is not a device id (d_…)`);
      const res = await this.http.revokeDevice(deviceId);
      if (deviceId === this.state.deviceId) return { deviceId, userId: res.userId };
      this.trust.begin();
      await this.syncUnlocked();
      await this.trust.ensureUsers([res.userId]);
      if (this.trust.device(deviceId)?.active !== false) {
        const a = this.trust.alarm('revocation_missing', `the relay said device ${deviceId} is revoked, but the key-transparency log does not show it: members keep it in their groups`);
        throw new AgoraError('forbidden', a.message);
      }
      return { deviceId, userId: res.userId };
    });
  }

  /** This person's devices as the key-transparency log shows them. */
  async listOwnDevices(): Promise<Awaited<ReturnType<AgoraClient['verifyUser']>>['devices']> {
    return (await this.verifyUser(this.state.userId)).devices;
  }

  /** Makes an invite code on this device and registers it with the relay by hash, with the
   * invite's public key and this device's approval of what it is for. */
  private async issueInvite(
    req: { kind: 'user'; name: string; departmentId?: string; role: api.Role } | { kind: 'device'; userId: string },
  ): Promise<{ code: string; expiresAt: number; kind: 'user' | 'device' }> {
    const code = generateInviteCode();
    const { publicKey } = inviteKeyPair(code);
    const approved: InviteApproval =
      req.kind === 'user' ? { invitePub: publicKey, kind: 'user', name: req.name, role: req.role } : { invitePub: publicKey, kind: 'device', userId: req.userId };
    const approval = toB64u(await sign(fromB64u(this.state.keys.signSeed), inviteApprovalMessage(approved)));
    const res = await this.http.createInvite({ ...req, codeHash: toB64u(inviteHash(code)), invitePub: toB64u(publicKey), approval });
    return { code, expiresAt: res.expiresAt, kind: res.kind };
  }

  async createDepartment(name: string): Promise<api.Department> {
    return this.tx(() => this.http.createDepartment(name));
  }

  async addDepartmentMember(deptRef: string, userRef: string): Promise<void> {
    await this.tx(async () => {
      await this.refreshDirectory();
      const departmentId = await this.resolveDepartment(deptRef);
      await this.http.addDepartmentMember(departmentId, (await this.resolveUser(userRef)).id);
    });
  }

  async departments(): Promise<api.Department[]> {
    return this.tx(async () => (await this.http.departments()).departments);
  }

  async directory(): Promise<api.DirectoryResponse> {
    return this.tx(async () => {
      await this.refreshDirectory();
      return this.state.directory;
    });
  }

  /** Deactivates a person: the relay revokes their devices at once; this admin device then rotates
   * the organisation key so they cannot read new public content, and removes them from the secret
   * groups it is in (other groups' members do so on their next sync). */
  async deactivate(userRef: string): Promise<{ revokedDevices: string[] }> {
    return this.tx(async () => {
      await this.refreshDirectory();
      const user = await this.resolveUser(userRef);
      if (user.id === this.state.userId) throw new AgoraError('usage', 'you cannot deactivate yourself');
      const res = await this.http.deactivate(user.id);
      await this.syncUnlocked();
      return { revokedDevices: res.revokedDevices };
    });
  }

  // ---------- key transparency ----------

  /** Verifies a person's keys in the key-transparency log and says which devices are trusted. */
  async verifyUser(userRef: string): Promise<{ userId: string; name: string; status: string; devices: { deviceId: string; fingerprint: string; active: boolean; approvedBy: string; addedAt: number; vouched: boolean }[]; checkpointSize: number; quorum: number }> {
    return this.tx(async () => {
      await this.refreshDirectory();
      const user = await this.resolveUser(userRef);
      const failed = await this.trust.ensureUsers([user.id]);
      if (failed.length > 0) {
        const why = this.trust.raised.at(-1)?.message ?? 'the log has no entries for this person';
        throw new AgoraError('forbidden', `${user.name}'s keys could not be verified: ${why}`);
      }
      const v = this.state.kt.users[user.id];
      const { fingerprint } = await import('./kt/audit.js');
      const devices = [];
      for (const d of v.devices) {
        devices.push({
          deviceId: d.deviceId,
          fingerprint: await fingerprint(fromB64u(d.signPub)),
          active: v.status === 'active' && d.revokedIndex === null,
          approvedBy: d.approverUserId ? this.nameOf(d.approverUserId) : 'bootstrap',
          addedAt: d.addedAt,
          // Whether the person's own devices vouch for it: only then does it join their secret groups.
          vouched: d.approvedIndex != null,
        });
      }
      return { userId: user.id, name: v.name, status: v.status, devices, checkpointSize: this.state.kt.checkpoint!.size, quorum: this.trust.policy.quorum };
    });
  }

  async alarms(opts: { clear?: boolean } = {}): Promise<Alarm[]> {
    return this.tx(async () => {
      const list = [...this.state.kt.alarms];
      if (opts.clear) this.state.kt.alarms = [];
      return list;
    });
  }

  /** Replaces the key-transparency policy (the security officer's file). */
  async setPolicy(policy: Policy): Promise<void> {
    await this.tx(async () => {
      this.state.kt.policy = policy;
      this.state.kt.policySource = 'file';
    });
  }

  /** Publishes the security officer's policy file on the relay (administrators): the relay then
   * lets the witnesses and auditors it names read the log, and takes cosignatures only from its
   * witnesses. It changes no device's own policy. */
  async publishPolicy(policy: Policy): Promise<void> {
    await this.tx(async () => {
      if (this.state.role !== 'admin') throw new AgoraError('forbidden', 'only an administrator may publish the policy');
      await new KtHttp(this.http, true).publish(policy);
    });
  }

  // ---------- live ----------

  /** Stays connected and reports messages as they arrive; catches up over HTTP after every
   * (re)connect, so nothing sent while disconnected is missed. Resolves when `signal` aborts.
   *
   * A pushed log entry that is the next one of a group this device reads is applied on the spot,
   * with no request (see applyPushed). Pushes are queued while a sync or catch-up runs and merged
   * after it: entries the new position already covers are dropped, the rest applied in log order.
   * An entry past a gap waits PUSH_GAP_WAIT_MS for the missing ones, then that group's log is read
   * once. Any other push (directory, mailbox, organisation keys…) runs the one-request sync. */
  async listen(opts: { group?: string; signal: AbortSignal; onMessage: (groupId: string, groupName: string, m: MessageView) => void; onWarning?: (w: string) => void }): Promise<void> {
    if (!this.deps.webSocket) throw new AgoraError('usage', 'no WebSocket implementation available');
    let only: string | undefined;
    if (opts.group) {
      await this.tx(async () => {
        only = (await this.findGroup(opts.group!)).id;
      });
    }
    let queue = Promise.resolve();
    const emit = (report: SyncReport) => {
      for (const { groupId, message } of report.newMessages) {
        if (only && groupId !== only) continue;
        opts.onMessage(groupId, this.state.groups[groupId]?.name ?? groupId, message);
      }
      for (const w of report.warnings) opts.onWarning?.(w);
    };
    /** Pushed entries not applied yet, by group and seq. */
    const pending = new Map<string, Map<number, api.LogEntry>>();
    /** Groups whose gap outlasted its wait: their log is read. */
    const overdue = new Set<string>();
    const gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
    let syncWanted = false;
    let drainQueued = false;
    const drain = (): void => {
      if (drainQueued) return;
      drainQueued = true;
      queue = queue
        .then(async () => {
          drainQueued = false;
          try {
            if (syncWanted) {
              syncWanted = false;
              emit(await this.tx(() => this.syncUnlocked()));
            }
            if (pending.size > 0 || overdue.size > 0) emit(await this.tx(() => this.applyPending(pending, overdue)));
          } finally {
            // Also after a failed round: entries still waiting get their read when the wait ends.
            for (const [groupId, waiting] of pending) {
              if (waiting.size === 0) {
                pending.delete(groupId);
                clearTimeout(gapTimers.get(groupId));
                gapTimers.delete(groupId);
              } else if (!gapTimers.has(groupId) && !opts.signal.aborted) {
                gapTimers.set(groupId, setTimeout(() => {
                  gapTimers.delete(groupId);
                  if (!pending.has(groupId)) return;
                  overdue.add(groupId);
                  drain();
                }, PUSH_GAP_WAIT_MS));
              }
            }
          }
        })
        .catch((e: unknown) => opts.onWarning?.((e as Error).message));
    };
    const catchUp = (): Promise<void> => {
      syncWanted = true;
      drain();
      return queue;
    };
    await catchUp();
    let backoff = 250;
    while (!opts.signal.aborted) {
      const token = await this.tx(() => this.ensureToken());
      const url = this.state.server.replace(/^http/, 'ws') + '/v1/ws';
      await new Promise<void>((resolve) => {
        const ws = this.deps.webSocket!(url, [WS_PROTOCOL, wsTokenProtocol(token)]);
        const stop = () => ws.close();
        opts.signal.addEventListener('abort', stop, { once: true });
        ws.onopen = () => {
          backoff = 250;
          void catchUp();
        };
        ws.onmessage = (ev) => {
          let msg: api.PushMessage;
          try {
            msg = api.PushMessage.parse(JSON.parse(String(ev.data)));
          } catch {
            return;
          }
          if (msg.type === 'entry') {
            if (only && msg.groupId !== only) return;
            let waiting = pending.get(msg.groupId);
            if (!waiting) pending.set(msg.groupId, (waiting = new Map()));
            // A duplicate push of one seq keeps the first copy: the log read settles any dispute.
            if (!waiting.has(msg.entry.seq)) waiting.set(msg.entry.seq, msg.entry);
            drain();
            return;
          }
          void catchUp();
        };
        ws.onerror = () => undefined;
        ws.onclose = () => {
          opts.signal.removeEventListener('abort', stop);
          resolve();
        };
      });
      if (opts.signal.aborted) break;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
    for (const t of gapTimers.values()) clearTimeout(t);
    gapTimers.clear();
    await queue;
  }

  /** Applies the queued pushed entries (see listen): per group, drops what this device's position
   * covers, applies the run that continues it, and reads the log of a group whose entries cannot be
   * applied locally or whose gap is overdue. Entries left waiting are past a gap. */
  private async applyPending(pending: Map<string, Map<number, api.LogEntry>>, overdue: Set<string>): Promise<SyncReport> {
    this.warnings = [];
    const newMessages: SyncReport['newMessages'] = [];
    for (const groupId of new Set([...pending.keys(), ...overdue])) {
      const waiting = pending.get(groupId) ?? new Map<number, api.LogEntry>();
      let read = overdue.delete(groupId);
      const dropCovered = () => {
        const local = this.state.groups[groupId];
        const after = local ? this.logAfter(local) : Infinity;
        for (const seq of waiting.keys()) if (seq <= after) waiting.delete(seq);
        return after;
      };
      if (!read) {
        const after = dropCovered();
        const run: api.LogEntry[] = [];
        for (let seq = after + 1; waiting.has(seq); seq++) run.push(waiting.get(seq)!);
        if (run.length > 0) {
          const msgs = await this.applyPushed(groupId, run);
          if (msgs) for (const m of msgs) newMessages.push({ groupId, message: this.view(m) });
          else read = true;
        }
      }
      if (read) {
        // What waited before the read and is still ahead of it is not in the log: dropped. Pushes
        // that arrive during the read stay queued for the next round. A read that fails drops
        // them too rather than retry on a timer: the sync on reconnect reads every group that moved.
        const before = [...waiting.keys()];
        // Up to the newest pushed entry: one page, instead of a second read to find the end.
        const head = before.length > 0 ? Math.max(...before) : undefined;
        try {
          for (const m of await this.syncGroupLog(groupId, head)) newMessages.push({ groupId, message: this.view(m) });
        } finally {
          for (const seq of before) waiting.delete(seq);
        }
      }
      dropCovered();
    }
    return { newMessages, warnings: [...this.trust.raised.map((a) => `ALARM: ${a.message}`), ...this.warnings] };
  }
}
