/** AgoraClient: one device's view of Agora, the driver of the client machine (engine/). The machine
 * holds the device's state and decides everything; this class performs what its operations ask for:
 * relay requests over HTTP (transport/), saving the state through a `ProfileStorage` inside one lock
 * per operation (so concurrent agora processes on one profile never lose each other's changes), and
 * the push channel of `listen`. */
import * as api from '@agora/protocol/api';
import { wsTokenProtocol, WS_PROTOCOL } from '@agora/protocol';
import { AgoraError } from './core/errors.js';
import type { Alarm } from './core/state.js';
import type { Policy } from '@agora/protocol/kt/policy';
import type { RandomSource } from '@agora/protocol/crypto/random';
import { loadCryptoProvider, type CryptoProvider } from '@agora/protocol/crypto/provider';
import type { ProfileStorage } from './state/profile.js';
import { RelayHttp, type FetchLike } from './transport/http.js';
import { Machine, loadMlsFor } from './engine/machine.js';
import { drive } from './engine/driver.js';
import type { Effect, Op } from './engine/op.js';
import type { GroupSummary, MessageView, NamedGroup, SyncReport, VerifiedPerson } from './engine/types.js';
import * as ops from './engine/index.js';

export type { GroupSummary, MessageView, SyncReport, VerifiedPerson } from './engine/types.js';
export { UPDATE_AFTER_MS, UPDATE_AFTER_RECORDS } from './engine/types.js';

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
  /** See MachineConfig.alwaysCatchUp: every send catches up first, even during `listen`. */
  alwaysCatchUp?: boolean;
  /** See MachineConfig.random (the platform's CSPRNG unless given). */
  random?: RandomSource;
  /** See MachineConfig.crypto (the provider loaded for `random` unless given). */
  crypto?: CryptoProvider;
}

/** How long a pushed entry past a gap waits for the missing ones (pushes of entries that landed
 * together may arrive out of order) before the group's log is read. */
export const PUSH_GAP_WAIT_MS = 500;

export class AgoraClient {
  private readonly m: Machine;
  private readonly http: RelayHttp;

  private constructor(private readonly deps: ClientDeps, server: string) {
    this.m = new Machine(deps.now ?? Date.now, { addGraceMs: deps.addGraceMs, rotationGraceMs: deps.rotationGraceMs, alwaysCatchUp: deps.alwaysCatchUp, random: deps.random, crypto: deps.crypto });
    // The token is the machine's to get (it signs the relay's challenge); transport asks for a new
    // one when the relay refuses the one held.
    this.http = new RelayHttp(server, deps.fetch, (fresh) => this.run(ops.ensureToken(this.m, fresh)));
  }

  /** Performs one effect of a machine operation. */
  private readonly perform = async (effect: Effect): Promise<unknown> => {
    if (effect.kind === 'persist') return this.deps.profile.save(this.m.state);
    return this.http.perform(effect.request);
  };

  /** Runs a machine operation on the state held now (no lock, no save). */
  private async run<T>(op: Op<T>): Promise<T> {
    // A head must never be saved (it lacks the messages), and an operation may need them.
    if (this.headOnly) await this.loadMessages();
    return drive(op, this.perform);
  }

  // ---------- lifecycle ----------

  static async register(deps: ClientDeps, input: { server: string; invite: string; name?: string; policy?: Policy }): Promise<AgoraClient> {
    await loadCryptoProvider();
    const release = await deps.profile.lock();
    try {
      if (await deps.profile.exists()) {
        throw new AgoraError('conflict', `a device is already registered in ${deps.profile.location}; use another --profile`);
      }
      const client = new AgoraClient(deps, input.server);
      await client.run(ops.register(client.m, input));
      await deps.profile.save(client.m.state);
      return client;
    } finally {
      await release();
    }
  }

  /** Opens the device's profile. `deferMessages`: reads it without the groups' messages where the
   * storage can (ProfileStorage.loadHead), so an app can show its first screen without decrypting
   * every stored message first; the first operation then loads the whole state, as every operation
   * does. Until then `storedMessages` holds none. */
  static async open(deps: ClientDeps, opts: { deferMessages?: boolean } = {}): Promise<AgoraClient> {
    // The key-transparency checks are synchronous calls into the loaded provider.
    await loadCryptoProvider();
    const head = opts.deferMessages === true && deps.profile.loadHead !== undefined;
    const state = head ? await deps.profile.loadHead!() : await deps.profile.load();
    await loadMlsFor(state);
    const client = new AgoraClient(deps, state.server);
    client.m.begin(state);
    client.headOnly = head;
    return client;
  }

  /** The state held is a profile head (open with `deferMessages`) until an operation loads it all. */
  private headOnly = false;

  /** False while the state held is such a head: `storedMessages` would then hold none. */
  get messagesLoaded(): boolean {
    return !this.headOnly;
  }

  /** After `open` with `deferMessages`: loads the whole state (the stored messages) now, under the
   * profile lock, so `storedMessages` holds them; nothing when it is loaded already. Work on the
   * state held outside an operation does this first by itself. */
  async loadMessages(): Promise<void> {
    if (!this.headOnly) return;
    const release = await this.deps.profile.lock();
    try {
      const state = await this.deps.profile.load();
      await loadMlsFor(state);
      if (this.headOnly) {
        this.m.state = state;
        this.headOnly = false;
      }
    } finally {
      await release();
    }
  }

  /** Runs an operation holding the profile lock on freshly loaded state, and saves what it changed
   * (also when it failed part way: what it did up to there stands). */
  private async tx<T>(op: () => Op<T>): Promise<T> {
    const release = await this.deps.profile.lock();
    try {
      const state = await this.deps.profile.load();
      await loadMlsFor(state);
      this.m.begin(state);
      this.headOnly = false;
      try {
        return await this.run(op());
      } finally {
        await this.deps.profile.save(this.m.state);
      }
    } finally {
      await release();
    }
  }

  get me(): { userId: string; deviceId: string; name: string; role: api.Role; server: string; orgName: string } {
    const s = this.m.state;
    return { userId: s.userId, deviceId: s.deviceId, name: s.name, role: s.role, server: s.server, orgName: s.orgName };
  }

  /** True while this device cannot read the newest content of public groups: it holds no
   * organisation key yet (a new device, until a colleague's device that is online hands the key
   * over, automatically), or not the newest generation the key-transparency log shows. Read from
   * the state as of the last operation; `listen`'s `onStateChanged` says when to read it again. */
  get orgKeyWaiting(): boolean {
    const s = this.m.state;
    const held = new Set(Object.keys(s.orgKeys));
    if (held.size === 0) return true;
    const logged = Object.keys(s.kt.orgKeyLog?.generations ?? {}).map(Number);
    return logged.length > 0 && !held.has(String(Math.max(...logged)));
  }

  /** What an app shows besides messages, as one comparable string: each group's name, description
   * and this device's membership, and the organisation-key generations held. */
  private shownState(): string {
    const s = this.m.state;
    const groups = Object.values(s.groups).map((g) => [g.id, g.name, g.description, g.removed, g.mls !== null]);
    return JSON.stringify([groups, Object.keys(s.orgKeys)]);
  }

  // ---------- people and groups ----------

  /** Finds a person by id or by name, as the key-transparency log names them (see engine/directory.ts). */
  resolveUser(ref: string): Promise<api.User> {
    return this.run(ops.resolveUser(this.m, ref));
  }

  resolveGroupIn(groups: NamedGroup[], ref: string): NamedGroup {
    return ops.resolveGroupIn(this.m, groups, ref);
  }

  sync(): Promise<SyncReport> {
    return this.tx(() => ops.syncUnlocked(this.m));
  }

  listGroups(): Promise<GroupSummary[]> {
    return this.tx(() => ops.listGroups(this.m));
  }

  groupMembers(groupRef: string): Promise<{ id: string; name: string; devices: string[]; owner: boolean }[]> {
    return this.tx(() => ops.groupMembers(this.m, groupRef));
  }

  createGroup(input: { name: string; kind: 'secret' | 'public'; department?: string; description?: string }): Promise<GroupSummary> {
    return this.tx(() => ops.createGroup(this.m, input));
  }

  /** Renames a group. A public group: on the relay (its administrators or creator). A secret group:
   * a new meta record in its log, which members accept from its owners only. */
  renameGroup(groupRef: string, name: string, description?: string): Promise<GroupSummary> {
    return this.tx(() => ops.renameGroup(this.m, groupRef, name, description));
  }

  /** Deletes a public group that belongs to no department (its administrators or creator). */
  deleteGroup(groupRef: string): Promise<void> {
    return this.tx(() => ops.deleteGroup(this.m, groupRef));
  }

  renameDepartment(ref: string, name: string): Promise<api.Department> {
    return this.tx(() => ops.renameDepartment(this.m, ref, name));
  }

  deleteDepartment(ref: string): Promise<void> {
    return this.tx(() => ops.deleteDepartment(this.m, ref));
  }

  removeDepartmentMember(deptRef: string, userRef: string): Promise<void> {
    return this.tx(() => ops.removeDepartmentMember(this.m, deptRef, userRef));
  }

  addMembers(groupRef: string, userRefs: string[]): Promise<void> {
    return this.tx(() => ops.addMembers(this.m, groupRef, userRefs));
  }

  removeMembers(groupRef: string, userRefs: string[]): Promise<void> {
    return this.tx(() => ops.removeMembers(this.m, groupRef, userRefs));
  }

  /** Sends an update commit now (`agora group update`): a fresh leaf for this device, so a copy of
   * its group state taken before stops following the group. */
  updateGroup(groupRef: string): Promise<{ epoch: number }> {
    return this.tx(() => ops.updateGroup(this.m, groupRef));
  }

  /** Names another owner of a secret group (`agora group owner add`); only an owner may. */
  addOwner(groupRef: string, userRef: string): Promise<{ owners: string[] }> {
    return this.tx(() => ops.addOwner(this.m, groupRef, userRef));
  }

  joinGroup(groupRef: string): Promise<void> {
    return this.tx(() => ops.joinGroup(this.m, groupRef));
  }

  /** Leaves a public group. A secret group cannot be left this way: one of its owners removes you. */
  leaveGroup(groupRef: string): Promise<void> {
    return this.tx(() => ops.leaveGroup(this.m, groupRef));
  }

  /** One request while `listen` keeps this device current (see Machine.isCurrent; two when a commit
   * landed that its push has not brought yet), else a catch-up first: two. */
  send(groupRef: string, text: string): Promise<{ id: string; seq: number }> {
    return this.tx(() => ops.sendText(this.m, groupRef, text));
  }

  read(groupRef: string): Promise<{ group: GroupSummary; messages: MessageView[]; warnings: string[] }> {
    return this.tx(() => ops.read(this.m, groupRef));
  }

  /** The messages this device already holds for a group (by id), oldest first: no request, no
   * lock, nothing saved. What `listen` and `read` brought in is here. */
  storedMessages(groupId: string): (MessageView & { seq: number })[] {
    return ops.storedMessages(this.m, groupId);
  }

  // ---------- administration ----------

  createInvite(input: { name: string; department?: string; role?: api.Role; newPerson?: boolean }): Promise<{ code: string; expiresAt: number; kind: 'user' | 'device'; userId?: string }> {
    return this.tx(() => ops.createInvite(this.m, input));
  }

  linkDevice(): Promise<{ code: string; expiresAt: number }> {
    return this.tx(() => ops.linkDevice(this.m));
  }

  /** Vouches for another device of this person that somebody else's invite put on the account. */
  approveDevice(deviceId: string): Promise<{ deviceId: string }> {
    return this.tx(() => ops.approveDevice(this.m, deviceId));
  }

  /** Revokes one device (a lost or stolen phone) of this person, or of anyone from an
   * administrator's device. */
  revokeDevice(deviceId: string): Promise<{ deviceId: string; userId: string }> {
    return this.tx(() => ops.revokeDevice(this.m, deviceId));
  }

  /** This person's devices as the key-transparency log shows them. */
  listOwnDevices(): Promise<VerifiedPerson['devices']> {
    return this.tx(() => ops.listOwnDevices(this.m));
  }

  createDepartment(name: string): Promise<api.Department> {
    return this.tx(() => ops.createDepartment(this.m, name));
  }

  addDepartmentMember(deptRef: string, userRef: string): Promise<void> {
    return this.tx(() => ops.addDepartmentMember(this.m, deptRef, userRef));
  }

  departments(): Promise<api.Department[]> {
    return this.tx(() => ops.departments(this.m));
  }

  directory(): Promise<api.DirectoryResponse> {
    return this.tx(() => ops.directory(this.m));
  }

  /** Deactivates a person: the relay revokes their devices at once; this admin device then rotates
   * the organisation key and removes them from the secret groups it is in. */
  deactivate(userRef: string): Promise<{ revokedDevices: string[] }> {
    return this.tx(() => ops.deactivate(this.m, userRef));
  }

  /** Gives a person (id or name) another role, as a signed key-transparency entry the relay logs,
   * and checks this device's verified log shows it (`inLog: false` while the policy's witnesses
   * have not cosigned it yet). The last administrator cannot be demoted. */
  setRole(userRef: string, role: api.Role): Promise<{ userId: string; name: string; role: api.Role; inLog: boolean }> {
    return this.tx(() => ops.setRole(this.m, userRef, role));
  }

  /** Every person's role as the key-transparency log proves it (`verified: false`: the relay's word,
   * for someone the log does not prove yet). */
  verifiedRoles(): Promise<{ userId: string; role: api.Role; verified: boolean }[]> {
    return this.tx(() => ops.verifiedRoles(this.m));
  }

  // ---------- key transparency ----------

  /** Verifies a person's keys in the key-transparency log and says which devices are trusted. */
  verifyUser(userRef: string): Promise<VerifiedPerson> {
    return this.tx(() => ops.verifyUser(this.m, userRef));
  }

  alarms(opts: { clear?: boolean } = {}): Promise<Alarm[]> {
    return this.tx(() => ops.alarms(this.m, opts));
  }

  /** Replaces the key-transparency policy (the security officer's file). */
  setPolicy(policy: Policy): Promise<void> {
    return this.tx(() => ops.setPolicy(this.m, policy));
  }

  /** Publishes the security officer's policy file on the relay (administrators). */
  publishPolicy(policy: Policy): Promise<void> {
    return this.tx(() => ops.publishPolicy(this.m, policy));
  }

  // ---------- live ----------

  /** Stays connected and reports messages as they arrive; catches up over HTTP after every
   * (re)connect, so nothing sent while disconnected is missed. Resolves when `signal` aborts.
   *
   * A pushed log entry that is the next one of a group this device reads is applied on the spot,
   * with no request (see applyPushed). Pushes are queued while a sync or catch-up runs and merged
   * after it: entries the new position already covers are dropped, the rest applied in log order.
   * An entry past a gap waits PUSH_GAP_WAIT_MS for the missing ones, then that group's log is read
   * once. Any other push (directory, mailbox, organisation keys…) runs the one-request sync.
   *
   * While the channel is open the device stays current (Machine.isCurrent), so `send` takes one
   * request: the sync on (re)connect verifies a checkpoint, and another sync runs before that
   * verification leaves the window (about every 90 s), or as soon as a push announces a change.
   *
   * `onStateChanged` is called after a catch-up the relay announced (a (re)connect, a push for new
   * or renamed groups, the directory, organisation keys) and after any round that changed a
   * group's name, description or this device's membership, or the organisation keys held: the
   * moment for an app to read `listGroups` and `orgKeyWaiting` again. */
  async listen(opts: {
    group?: string;
    signal: AbortSignal;
    onMessage: (groupId: string, groupName: string, m: MessageView) => void;
    onWarning?: (w: string) => void;
    onStateChanged?: () => void;
  }): Promise<void> {
    if (!this.deps.webSocket) throw new AgoraError('usage', 'no WebSocket implementation available');
    let only: string | undefined;
    if (opts.group) {
      only = (await this.tx(() => ops.findGroup(this.m, opts.group!))).id;
    }
    let queue = Promise.resolve();
    const emit = (report: SyncReport) => {
      for (const { groupId, message } of report.newMessages) {
        if (only && groupId !== only) continue;
        opts.onMessage(groupId, this.m.state.groups[groupId]?.name ?? groupId, message);
      }
      for (const w of report.warnings) opts.onWarning?.(w);
    };
    /** Pushed entries not applied yet, by group and seq. */
    const pending = new Map<string, Map<number, api.LogEntry>>();
    /** Groups whose gap outlasted its wait: their log is read. */
    const overdue = new Set<string>();
    const gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
    let syncWanted = false;
    /** The relay said something changed (or the channel just opened): its group list may differ in
     * ways this device's state does not show, such as a public group created or renamed. */
    let announced = true;
    let drainQueued = false;
    /** The sync that keeps the device current (see keepCurrent). */
    let refreshTimer: ReturnType<typeof setTimeout> | undefined;
    const keepCurrent = (): void => {
      clearTimeout(refreshTimer);
      refreshTimer = undefined;
      const due = this.m.refreshDueInMs();
      if (due === undefined || opts.signal.aborted) return;
      // A sync that failed (the log unavailable, the relay unreachable) is tried again after a
      // pause, not in a loop; sends meanwhile catch up first and fail closed on their own.
      refreshTimer = setTimeout(() => {
        refreshTimer = undefined;
        void catchUp();
      }, Math.max(due, this.m.currentWindowMs / 8));
    };
    const drain = (): void => {
      if (drainQueued) return;
      drainQueued = true;
      queue = queue
        .then(async () => {
          drainQueued = false;
          try {
            let before = '';
            if (syncWanted) {
              syncWanted = false;
              const wasAnnounced = announced;
              announced = false;
              emit(await this.tx(() => {
                before = this.shownState();
                return ops.syncUnlocked(this.m);
              }));
              if (wasAnnounced || this.shownState() !== before) opts.onStateChanged?.();
            }
            if (pending.size > 0 || overdue.size > 0) {
              emit(await this.tx(() => {
                before = this.shownState();
                return ops.applyPending(this.m, pending, overdue);
              }));
              if (this.shownState() !== before) opts.onStateChanged?.();
            }
          } finally {
            keepCurrent();
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
      const token = await this.tx(() => ops.ensureToken(this.m));
      const url = this.m.state.server.replace(/^http/, 'ws') + '/v1/ws';
      await new Promise<void>((resolve) => {
        const ws = this.deps.webSocket!(url, [WS_PROTOCOL, wsTokenProtocol(token)]);
        const stop = () => ws.close();
        opts.signal.addEventListener('abort', stop, { once: true });
        ws.onopen = () => {
          backoff = 250;
          // Before the catch-up: the checkpoint it verifies is the first that may make the device
          // current, since from here on pushes announce what changes.
          this.m.channelOpened();
          announced = true;
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
          this.m.changeNoticed();
          announced = true;
          void catchUp();
        };
        ws.onerror = () => undefined;
        ws.onclose = () => {
          this.m.channelClosed();
          keepCurrent();
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
    this.m.channelClosed();
    await queue;
    clearTimeout(refreshTimer);
  }
}
