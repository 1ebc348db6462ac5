/** AgoraClient: one device's view of Agora. It owns the device's state (loaded and saved through
 * `EncryptedProfile` inside one lock per operation, so concurrent agora processes on one profile
 * never lose each other's changes) and drives the sans-I/O core (`core/`, `mls/`, `crypto/`) with the
 * relay's HTTP API and push channel (`transport/`). */
import * as api from './protocol/api.js';
import { LIMITS, wsTokenProtocol, WS_PROTOCOL } from './protocol/index.js';
import { fromB64u, fromUtf8, newId, toB64u, utf8 } from './protocol/encoding.js';
import { authChallengeMessage, generateInviteCode, inviteHash } from './protocol/signing.js';
import {
  deviceEnrolmentMessage, idListHash, inviteApprovalMessage, inviteKeyPair, memberSetHash, membershipMessage,
  orgKeyGenerationMessage, type InviteApproval,
} from './kt/entries.js';
import { AgoraError } from './core/errors.js';
import { emptyGroup, PROFILE_VERSION, type Alarm, type GroupLocal, type ProfileState, type StoredMessage } from './core/state.js';
import { ingestEntries } from './core/ingest.js';
import { RelayHttp, type FetchLike } from './transport/http.js';
import { KtHttp } from './transport/kt-http.js';
import { KtTrust } from './kt-trust.js';
import { PolicySchema, type Policy } from './kt/policy.js';
import type { EncryptedProfile } from './state/profile.js';
import { generateDeviceKeys, sign } from './crypto/device-keys.js';
import { sealRecord } from './crypto/records.js';
import { derivePublicGroupKey, newOrgKey, openFromDevice, openOrgKey, sealOrgKey, sealToDevice } from './crypto/orgkeys.js';
import {
  checkKeyPackage,
  createGroup as mlsCreateGroup,
  createKeyPackages,
  exportContentKey,
  groupInfo,
  joinFromWelcome,
  stageCommit,
  type DeviceLookup,
  type MlsIdentity,
} from './mls/group.js';

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
  profile: EncryptedProfile;
  fetch: FetchLike;
  webSocket?: WebSocketFactory;
  now?: () => number;
  /** Other people's devices are added to a secret group by their owner's devices first; after this
   * grace period any member adds them, so a person whose other devices stay offline still joins. */
  addGraceMs?: number;
}

export interface GroupSummary {
  id: string;
  name: string;
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
        sentCounters: {},
        historySentTo: [],
        kt: { policy, policySource: input.policy ? 'file' : 'relay', checkpoint: null, users: {}, knownOwnDevices: [reg.deviceId], alarms: [] },
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
    const client = new AgoraClient(deps, state.server);
    client.state = state;
    return client;
  }

  /** Runs `fn` holding the profile lock on freshly loaded state, and saves what it changed. */
  private async tx<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.deps.profile.lock();
    try {
      this.state = await this.deps.profile.load();
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

  private nameOf(userId: string): string {
    return this.user(userId)?.name ?? userId;
  }

  resolveUser(ref: string): api.User {
    const users = this.state.directory.users;
    const byId = users.find((u) => u.id === ref);
    if (byId) return byId;
    const byName = users.filter((u) => u.name === ref);
    const active = byName.filter((u) => u.status === 'active');
    const pick = active.length > 0 ? active : byName;
    if (pick.length === 1) return pick[0];
    if (pick.length > 1) throw new AgoraError('ambiguous', `several people are named "${ref}": use their user id`);
    throw new AgoraError('no_such_user', `no person "${ref}" in this organisation`);
  }

  // ---------- key packages ----------

  private async topUpKeyPackages(initial = false): Promise<void> {
    const stock = initial ? { stock: 0, hasLastResort: false, low: true } : await this.http.keyPackageStock();
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

  private currentOrgGeneration(): number {
    return Math.max(0, ...Object.keys(this.state.orgKeys).map(Number));
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

  private async syncOrgKeys(): Promise<void> {
    const keys = await this.http.orgKeys();
    await this.trust.ensureDevices(keys.envelopes.filter((e) => !this.state.orgKeys[String(e.generation)]).map((e) => e.sealedBy));
    for (const env of keys.envelopes) {
      if (this.state.orgKeys[String(env.generation)]) continue;
      try {
        const opened = await openOrgKey({ sealed: env.sealed, expectedGeneration: env.generation, self: this.selfKeys(), sealerSignPub: this.sealerKey });
        this.state.orgKeys[String(opened.generation)] = toB64u(opened.key);
      } catch {
        this.warnings.push(`an organisation key envelope for generation ${env.generation} failed verification and was ignored`);
      }
    }
    const admin = this.state.role === 'admin';
    if (admin && (keys.current === 0 || keys.rotationNeeded)) await this.createOrgGeneration(keys.current + 1);
    const { pending } = await this.http.pending();
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

  private sealOrg(generation: number, key: Uint8Array, target: api.Device): Promise<string> {
    return sealOrgKey({
      generation,
      key,
      recipient: { deviceId: target.id, encPub: fromB64u(target.encPub) },
      sealer: { deviceId: this.state.deviceId, signSeed: fromB64u(this.state.keys.signSeed) },
    });
  }

  private async createOrgGeneration(generation: number): Promise<void> {
    await this.refreshDirectory();
    const key = newOrgKey();
    const envelopes = [];
    for (const d of await this.sealableDevices()) envelopes.push({ deviceId: d.id, sealed: await this.sealOrg(generation, key, d) });
    // The key-transparency log records who the generation was sealed to, as this device signs it.
    const deviceSetHash = idListHash(envelopes.map((e) => e.deviceId));
    const signature = toB64u(await sign(fromB64u(this.state.keys.signSeed), orgKeyGenerationMessage(generation, deviceSetHash)));
    try {
      await this.http.createGeneration({ generation, envelopes, deviceSetHash: toB64u(deviceSetHash), signature });
      this.state.orgKeys[String(generation)] = toB64u(key);
    } catch (e) {
      if (!(e instanceof AgoraError && e.code === 'conflict')) throw e;
    }
  }

  // ---------- mailbox: Welcomes and history ----------

  private async syncMailbox(): Promise<void> {
    for (;;) {
      const { items } = await this.http.mailbox(this.state.mailboxCursor);
      if (items.length === 0) return;
      await this.trust.ensureDevices(items.map((i) => i.from));
      for (const item of items) {
        this.state.mailboxCursor = item.seq;
        if (item.kind === 'welcome' && item.groupId) await this.acceptWelcome(item);
        else if (item.kind === 'history') await this.acceptHistory(item);
      }
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
      const group = previous ?? emptyGroup({ id: groupId, name: groupId, kind: 'secret', departmentId: null });
      group.mls = toB64u(joined.state);
      group.removed = false;
      group.epochKeys[String(joined.epoch)] = toB64u(await exportContentKey(joined.state));
      const joinSeq = item.groupSeq ?? 0;
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
      const bundle = JSON.parse(fromUtf8(payload)) as { format: string; groups: Record<string, { name: string; kind: 'secret' | 'public'; epochKeys: Record<string, string> }>; orgKeys: Record<string, string> };
      if (bundle.format !== HISTORY_FORMAT) throw new Error('unknown history format');
      for (const [gen, key] of Object.entries(bundle.orgKeys ?? {})) this.state.orgKeys[gen] ??= key;
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
          local.rejected = local.rejected.filter((r) => !r.reason.startsWith('no key'));
        }
      }
    } catch (e) {
      this.warnings.push(`a history bundle could not be opened: ${(e as Error).message}`);
    }
  }

  private async sendHistoryTo(target: api.Device): Promise<void> {
    const groups: Record<string, { name: string; kind: 'secret' | 'public'; epochKeys: Record<string, string> }> = {};
    for (const g of Object.values(this.state.groups)) {
      if (g.kind === 'secret' && g.mls && !g.removed) groups[g.id] = { name: g.name, kind: g.kind, epochKeys: g.epochKeys };
    }
    const payload = utf8(JSON.stringify({ format: HISTORY_FORMAT, groups, orgKeys: this.state.orgKeys }));
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

  private async fetchGroups(): Promise<api.GroupView[]> {
    const { groups } = await this.http.groups();
    for (const g of groups) {
      const local = this.state.groups[g.id];
      if (local) {
        local.name = g.name;
        local.departmentId = g.departmentId;
      }
    }
    return groups;
  }

  resolveGroupIn(groups: api.GroupView[], ref: string): api.GroupView {
    const byId = groups.find((g) => g.id === ref);
    if (byId) return byId;
    const byName = groups.filter((g) => g.name === ref);
    if (byName.length === 1) return byName[0];
    if (byName.length > 1) throw new AgoraError('ambiguous', `several groups are named "${ref}": use the group id`);
    throw new AgoraError('no_such_group', `no group "${ref}" that you can see`);
  }

  /** Resolves a group the caller can see; for a group id it cannot see, says whether it exists. */
  private async findGroup(ref: string): Promise<api.GroupView> {
    const groups = await this.fetchGroups();
    try {
      return this.resolveGroupIn(groups, ref);
    } catch (e) {
      if (!(e instanceof AgoraError && e.code === 'no_such_group') || !api.GroupId.safeParse(ref).success) throw e;
    }
    try {
      return await this.http.group(ref);
    } catch (e) {
      if (e instanceof AgoraError && e.code === 'forbidden') {
        throw new AgoraError('not_a_member', `you are not a member of the secret group ${ref}`);
      }
      if (e instanceof AgoraError && e.code === 'not_found') throw new AgoraError('no_such_group', `no group "${ref}"`);
      throw e;
    }
  }

  private localGroup(g: api.GroupView): GroupLocal {
    return (this.state.groups[g.id] ??= emptyGroup({ id: g.id, name: g.name, kind: g.kind, departmentId: g.departmentId }));
  }

  /** Reads a group's log from this device's cursor and applies it. */
  private async syncGroupLog(groupId: string): Promise<StoredMessage[]> {
    const local = this.state.groups[groupId];
    if (!local || (local.kind === 'secret' && (!local.mls || local.removed))) return [];
    const out: StoredMessage[] = [];
    for (;;) {
      const current = this.state.groups[groupId];
      const { entries } = await this.http.log(groupId, Math.max(current.cursor, current.readableFrom > 0 ? current.readableFrom - 1 : 0));
      if (entries.length === 0) break;
      const before = current.cursor;
      // Every key used below is one the key-transparency log proves: senders, added devices and
      // the group's current members.
      const involved = new Set(entries.flatMap((e) => [e.sender, ...(e.added ?? [])]));
      if (current.mls) for (const m of this.members(current.mls)) involved.add(m.deviceId);
      await this.trust.ensureDevices(involved);
      const result = await ingestEntries(current, entries, {
        selfDeviceId: this.state.deviceId,
        device: (id) => this.asDevice(id),
        mlsLookup: this.mlsLookup,
        publicKey: (gen) => {
          const k = this.orgKey(gen);
          return k ? derivePublicGroupKey(k, groupId) : undefined;
        },
      });
      this.state.groups[groupId] = result.group;
      out.push(...result.messages);
      const distinct = new Map(result.checkpoints.map((c) => [c.note, c.senderDevice]));
      for (const [note, sender] of distinct) await this.trust.compareGossip(note, this.nameOf(this.device(sender)?.userId ?? sender));
      if (result.group.cursor === before) break;
      if (result.group.removed) break;
    }
    return out;
  }

  private groupOfMine(g: api.GroupView): boolean {
    if (g.kind === 'public') return g.isMember;
    const local = this.state.groups[g.id];
    return Boolean(local?.mls && !local.removed);
  }

  private members(state: string): { deviceId: string; userId: string }[] {
    return groupInfo(fromB64u(state)).members;
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
        .flatMap((u) => this.activeDevicesOf(u))
        .filter((d) => !inTree.has(d.id))
        .filter((d) => d.userId === this.state.userId || this.now() - d.createdAt > grace);
      if (remove.length === 0 && add.length === 0) return;
      try {
        await this.commitChange(g.id, add, remove);
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

  /** Claims KeyPackages, stages the commit, sends it, and merges only once the relay accepted it. */
  private async commitChange(groupId: string, addDevices: api.Device[], removeDevices: string[]): Promise<number> {
    const local = this.state.groups[groupId];
    if (!local?.mls) throw new AgoraError('not_a_member', 'this device is not a member of that secret group');
    const packages: string[] = [];
    const added: string[] = [];
    if (addDevices.length > 0) {
      const claimed = await this.http.claimKeyPackages(addDevices.map((d) => d.id));
      for (const kp of claimed.keyPackages) {
        try {
          await checkKeyPackage(kp.keyPackage, kp.deviceId, this.mlsLookup);
          packages.push(kp.keyPackage);
          added.push(kp.deviceId);
        } catch (e) {
          this.warnings.push(`device ${kp.deviceId} of ${this.nameOf(this.device(kp.deviceId)?.userId ?? '')} offered an invalid key package and was not added (${(e as Error).message})`);
        }
      }
      for (const d of claimed.missing) this.warnings.push(`device ${d} has no key packages left and was not added yet`);
    }
    if (packages.length === 0 && removeDevices.length === 0) return groupInfo(fromB64u(local.mls)).epoch;
    const staged = await stageCommit(fromB64u(local.mls), { add: packages, remove: removeDevices }, this.mlsLookup);
    const members = groupInfo(staged.staged).members.map((m) => m.deviceId);
    // Kept (and saved) until the relay answers: if the answer is lost, the commit is recognised in
    // the log later and this staged state merged then (a device cannot process its own commit).
    local.pendingCommit = { epoch: staged.epoch, commit: staged.commit, staged: toB64u(staged.staged) };
    await this.deps.profile.save(this.state);
    let res;
    try {
      res = await this.http.commit(groupId, {
        epoch: staged.epoch,
        commit: staged.commit,
        welcome: staged.welcome,
        added: staged.added,
        removed: staged.removed,
        membership: await this.signMembership(groupId, staged.epoch + 1, members),
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
    return res.epoch;
  }

  /** The member devices of a secret group from `epoch` on, signed for the key-transparency log. */
  private async signMembership(groupId: string, epoch: number, members: string[]): Promise<api.MembershipProof> {
    const message = membershipMessage(groupId, epoch, memberSetHash(members));
    return { members, signature: toB64u(await sign(fromB64u(this.state.keys.signSeed), message)) };
  }

  private async initReservedGroup(g: api.GroupView): Promise<void> {
    try {
      await this.http.initSecretGroup(g.id, await this.signMembership(g.id, 0, [this.state.deviceId]));
    } catch (e) {
      if (e instanceof AgoraError && (e.code === 'conflict' || e.code === 'forbidden')) return;
      throw e;
    }
    const state = await mlsCreateGroup(g.id, this.identity);
    const local = this.localGroup(g);
    local.mls = toB64u(state);
    local.epochKeys['0'] = toB64u(await exportContentKey(state));
  }

  // ---------- sync ----------

  private async syncUnlocked(only?: string): Promise<SyncReport> {
    this.warnings = [];
    await this.refreshDirectory();
    await this.trust.refresh();
    await this.trust.monitorSelf();
    await this.syncOrgKeys();
    await this.syncMailbox();
    const groups = await this.fetchGroups();
    const newMessages: SyncReport['newMessages'] = [];
    for (const g of groups) {
      if (g.kind === 'secret' && g.epoch === null && g.departmentId) {
        const dept = this.user(this.state.userId)?.departments ?? [];
        if (dept.includes(g.departmentId)) await this.initReservedGroup(g);
      }
    }
    for (const g of groups) {
      if (only && g.id !== only) continue;
      if (!this.groupOfMine(g) && !(only && g.kind === 'public')) continue;
      this.localGroup(g);
      const msgs = await this.syncGroupLog(g.id);
      for (const m of msgs) newMessages.push({ groupId: g.id, message: this.view(m) });
      if (g.kind === 'secret') await this.maintainSecretGroup(g);
    }
    for (const d of this.activeDevicesOf(this.state.userId)) {
      if (d.id === this.state.deviceId || this.state.historySentTo.includes(d.id)) continue;
      // History goes only to devices this person approved themselves (device link), not to one
      // an administrator's invite put on their account.
      if (this.state.kt.users[this.state.userId]?.devices.find((x) => x.deviceId === d.id)?.approverUserId !== this.state.userId) continue;
      try {
        await this.sendHistoryTo(d);
      } catch (e) {
        this.warnings.push(`could not hand your history to your device ${d.id}: ${(e as Error).message}`);
      }
    }
    await this.topUpKeyPackages();
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
      const groups = await this.fetchGroups();
      return groups.map((g) => ({
        id: g.id,
        name: g.name,
        kind: g.kind,
        departmentId: g.departmentId,
        isMember: g.kind === 'secret' ? this.groupOfMine(g) : g.isMember,
        epoch: g.epoch,
        members: g.members.length,
      }));
    });
  }

  async groupMembers(groupRef: string): Promise<{ id: string; name: string; devices: string[] }[]> {
    return this.tx(async () => {
      await this.refreshDirectory();
      const g = await this.findGroup(groupRef);
      const view = await this.http.group(g.id);
      return view.members.map((u) => ({
        id: u,
        name: this.nameOf(u),
        devices: view.kind === 'secret' ? view.memberDevices.filter((d) => this.device(d)?.userId === u) : [],
      }));
    });
  }

  async createGroup(input: { name: string; kind: 'secret' | 'public'; department?: string }): Promise<GroupSummary> {
    return this.tx(async () => {
      let departmentId: string | undefined;
      if (input.department) departmentId = await this.resolveDepartment(input.department);
      // A secret group's creator names it, to sign its first membership (itself, epoch 0).
      const id = input.kind === 'secret' ? newId('g') : undefined;
      const membership = id ? await this.signMembership(id, 0, [this.state.deviceId]) : undefined;
      const g = await this.http.createGroup({ id, name: input.name, kind: input.kind, departmentId, membership });
      const local = this.localGroup(g);
      if (g.kind === 'secret') {
        const state = await mlsCreateGroup(g.id, this.identity);
        local.mls = toB64u(state);
        local.epochKeys['0'] = toB64u(await exportContentKey(state));
        // This person's other devices join at once.
        await this.refreshDirectory();
        await this.maintainSecretGroup(g);
      }
      return { id: g.id, name: g.name, kind: g.kind, departmentId: g.departmentId, isMember: true, epoch: g.epoch, members: 1 };
    });
  }

  private async resolveDepartment(ref: string): Promise<string> {
    const { departments } = await this.http.departments();
    const hit = departments.filter((d) => d.id === ref || d.name === ref);
    if (hit.length !== 1) throw new AgoraError(hit.length ? 'ambiguous' : 'not_found', `no single department "${ref}"`);
    return hit[0].id;
  }

  async addMembers(groupRef: string, userRefs: string[]): Promise<void> {
    await this.tx(async () => {
      await this.refreshDirectory();
      const g = await this.findGroup(groupRef);
      const users = userRefs.map((u) => this.resolveUser(u));
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
      await this.syncOrgKeys(); // a colleague's duty: hand the organisation key to waiting devices
      await this.changeSecretMembers(g, (members) => ({
        add: users.flatMap((u) => this.activeDevicesOf(u.id)).filter((d) => !members.has(d.id)),
        remove: [],
      }));
    });
  }

  async removeMembers(groupRef: string, userRefs: string[]): Promise<void> {
    await this.tx(async () => {
      await this.refreshDirectory();
      const g = await this.findGroup(groupRef);
      const users = userRefs.map((u) => this.resolveUser(u));
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
      try {
        await this.commitChange(g.id, add, remove);
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
      await this.refreshDirectory();
      const g = await this.findGroup(groupRef);
      await this.trust.refresh(); // fails closed when the log cannot be verified
      // Every send also does a colleague's duty: hand the organisation key to new devices waiting
      // for it, so newcomers can read public groups as soon as anyone is active.
      await this.syncOrgKeys();
      if (g.kind === 'secret') await this.syncMailbox();
      for (let attempt = 0; attempt < 5; attempt++) {
        await this.syncGroupLog(g.id);
        const local = this.localGroup(g);
        let epoch: number;
        let key: Uint8Array;
        if (g.kind === 'secret') {
          if (!local.mls || local.removed) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
          epoch = groupInfo(fromB64u(local.mls)).epoch;
          key = fromB64u(local.epochKeys[String(epoch)]);
        } else {
          epoch = this.currentOrgGeneration();
          const k = this.orgKey(epoch);
          if (!k) throw new AgoraError('no_key', 'this device has no organisation key yet: a colleague\'s device must be online to hand it over (try "agora sync" later)');
          key = derivePublicGroupKey(k, g.id);
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
      const g = await this.findGroup(groupRef);
      if (g.kind === 'secret' && !this.groupOfMine(g)) {
        // A Welcome may be waiting.
        await this.syncMailbox();
        if (!this.groupOfMine(g)) throw new AgoraError('not_a_member', `you are not a member of the secret group "${g.name}"`);
      }
      const report = await this.syncUnlocked(g.id);
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
      const existing = input.newPerson ? [] : this.state.directory.users.filter((u) => u.name === input.name && u.status === 'active');
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
      await this.http.addDepartmentMember(departmentId, this.resolveUser(userRef).id);
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
      const user = this.resolveUser(userRef);
      if (user.id === this.state.userId) throw new AgoraError('usage', 'you cannot deactivate yourself');
      const res = await this.http.deactivate(user.id);
      await this.syncUnlocked();
      return { revokedDevices: res.revokedDevices };
    });
  }

  // ---------- key transparency ----------

  /** Verifies a person's keys in the key-transparency log and says which devices are trusted. */
  async verifyUser(userRef: string): Promise<{ userId: string; name: string; status: string; devices: { deviceId: string; fingerprint: string; active: boolean; approvedBy: string; addedAt: number }[]; checkpointSize: number; quorum: number }> {
    return this.tx(async () => {
      await this.refreshDirectory();
      const user = this.resolveUser(userRef);
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

  // ---------- live ----------

  /** Stays connected and reports messages as they arrive; catches up over HTTP after every
   * (re)connect, so nothing sent while disconnected is missed. Resolves when `signal` aborts. */
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
    const catchUp = (): Promise<void> =>
      (queue = queue.then(() => this.tx(() => this.syncUnlocked()).then(emit)).catch((e: unknown) => opts.onWarning?.((e as Error).message)));
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
          if (msg.type === 'entry' && only && msg.groupId !== only) return;
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
    await queue;
  }
}
