/** The app's single wrapper around the SDK's AgoraClient. Screens never talk to the SDK; they read
 * `EngineState` (an immutable snapshot, replaced on every change) and call the methods here.
 *
 * What it adds to the client, and why it lives here rather than in a screen:
 * - the device's life cycle: no profile → invite; profile → unlock (PIN/password, or automatically
 *   with the browser's non-extractable key); lock on demand and after INACTIVITY_LOCK_MS;
 * - one tab at a time: a Web Lock held for the tab's life; a second tab says so and offers to take
 *   over (the first one then steps back instead of both writing the same profile);
 * - the live connection: `client.listen` in a loop that survives network loss and sign-in
 *   failures, and reports online/offline for the banner;
 * - messages keyed by id, so the catch-up after a reconnect never shows one twice; kept in log
 *   order (the order `read` and the push channel deliver them in, or by seq where the SDK gives it);
 * - the outbox: a typed message is stored (encrypted) before it is sent and removed only when the
 *   relay accepted it, so a reload, a lost network or a crash loses nothing;
 * - unread counts from a per-group "last seen" marker, and a cache of each group's newest messages
 *   for an instant first screen and for reading without a network;
 * - key-transparency alarms block sending until the person has dealt with them. */
import { loadSdk, type Alarm, type AgoraClient, type GroupSummary, type MessageView, type Sdk } from './sdk.js';
import { AppData, CACHE_PER_GROUP, type CachedGroup, type CachedMessage, type GroupMemo, type OutboxItem } from './app-data.js';
import { isNetworkError, isQuotaError, problemOf, type Context, type Problem } from './problems.js';
import { countUnread, insertInOrder, mergeRead } from './ordering.js';
import type { MessageKey } from '../i18n/index.js';
import { dropKdf, passphraseSource, prepareKdf } from './kdf.js';
import { rememberScreen, rememberedScreen } from './screen-hint.js';
import type { FirstScreen } from '../first-screen.js';
import { probeProfile, type ProfileHint } from '../profile-probe.js';
import { nextPaint } from '../preload.js';
import type { ClientDeps, ProfileKeySource, StoreProfile, WebSocketLike } from '@agora/client-sdk/browser';

/** IndexedDB database of the device's profile (the SDK's store). */
export const PROFILE_DB = 'agora-profile';
/** Web Lock the SDK takes around each operation on the profile. */
export const PROFILE_LOCK = 'agora-profile';
/** Web Lock held by the one tab that runs Agora. */
export const TAB_LOCK = 'agora-tab';
/** A PIN-protected profile locks itself after this long without a touch or key press. */
export const INACTIVITY_LOCK_MS = 10 * 60_000;
/** How often a message waiting for the network is tried again without any other trigger. */
const OUTBOX_RETRY_MS = 20_000;
/** Groups read in the background after unlocking, to fill the start page and unread counts. */
const BACKGROUND_READS = 12;

export type Phase = 'starting' | 'welcome' | 'locked' | 'busy' | 'ready' | 'other-tab' | 'failed';
export type Connection = 'connecting' | 'online' | 'offline';

export interface Me {
  userId: string;
  deviceId: string;
  name: string;
  role: string;
  orgName: string;
}

export interface ChatItem {
  /** Stable across the message's life: the record id once known, else the outbox position. */
  key: string;
  id?: string;
  seq?: number;
  groupId: string;
  sender: string;
  senderName: string;
  sentAt: number;
  text: string;
  mine: boolean;
  /** received: in the group's log. sending: in the outbox, being sent or waiting for the network.
   * sent: the relay accepted it (its copy from the log has not come back yet). failed: refused. */
  status: 'received' | 'sending' | 'sent' | 'failed';
  outboxNo?: number;
  problem?: Problem;
}

export interface Conversation {
  messages: ChatItem[];
  /** True once read from the relay in this session (else: the cached copy). */
  fresh: boolean;
  loading: boolean;
  problem?: Problem;
}

export interface EngineState {
  phase: Phase;
  /** Words for what is happening while phase is 'busy' or 'starting'. */
  progress?: MessageKey;
  /** The failure of the last thing the person asked for on the current screen (invite, unlock). */
  problem?: Problem;
  /** A failure that concerns the whole app (storage full, …), shown as a banner. */
  banner?: Problem;
  unlockKind?: 'pin' | 'device';
  /** The profile has a PIN/password slot (so "stay signed in" can be turned off again). */
  hasPin?: boolean;
  /** phase 'other-tab': true when this tab was running and another one took over. */
  tabTakenOver?: boolean;
  me?: Me;
  groups?: CachedGroup[];
  groupsLoading: boolean;
  groupsProblem?: Problem;
  unread: Record<string, number>;
  connection: Connection;
  /** A new version of the app is installed and waits; the banner offers to switch. */
  updateReady: boolean;
  /** Messages in the outbox that wait for the network. */
  waiting: number;
  alarms: Alarm[];
  /** This device has no organisation key yet (or not the newest): public groups stay unreadable
   * until a colleague's device, online, hands it over. Updated live. */
  orgKeyWaiting?: boolean;
  conversations: Record<string, Conversation>;
  /** Outbox items and sent messages not yet back from the log, oldest first. */
  outgoing: ChatItem[];
}

export interface RegisterInput {
  code: string;
  /** Only the bootstrap invite takes it; others carry the name the administrator chose. */
  name?: string;
  secret: { kind: 'pin'; value: string } | { kind: 'device' };
}

export interface InviteInfo {
  kind: 'user' | 'device';
  /** The organisation's first administrator: the only person who names themselves. */
  bootstrap: boolean;
  /** The name the administrator gave the person (user invites). */
  name: string | null;
}

type Listener = (s: EngineState) => void;

const initial: EngineState = {
  phase: 'starting',
  progress: 'progress.starting',
  groupsLoading: false,
  updateReady: false,
  unread: {},
  connection: 'connecting',
  waiting: 0,
  alarms: [],
  conversations: {},
  outgoing: [],
};

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A message as the conversation holds it. `seq` (its log position, which orders it) comes with
 * every message the SDK reports; a cached copy written by an older version of the app may lack it. */
function toItem(groupId: string, m: Omit<MessageView, 'seq'> & { seq?: number }, me: string | undefined): ChatItem {
  return {
    key: m.id,
    id: m.id,
    seq: m.seq,
    groupId,
    sender: m.sender,
    senderName: m.senderName,
    sentAt: m.sentAt,
    text: m.text,
    mine: m.sender === me,
    status: 'received',
  };
}

function toCached(m: ChatItem): CachedMessage {
  return { id: m.id ?? m.key, sender: m.sender, senderName: m.senderName, sentAt: m.sentAt, text: m.text, seq: m.seq };
}

function summaryToCached(g: GroupSummary): CachedGroup {
  return { id: g.id, name: g.name, description: g.description, kind: g.kind, departmentId: g.departmentId, isMember: g.isMember, members: g.members, createdBy: g.createdBy };
}

export class Engine {
  private current: EngineState = initial;
  private readonly listeners = new Set<Listener>();
  private sdk: Sdk | undefined;
  private client: AgoraClient | undefined;
  private app: AppData | undefined;
  private profile: StoreProfile | undefined;
  private listenAbort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private outbox: OutboxItem[] = [];
  private memos: Record<string, GroupMemo> = {};
  private memoTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private flushing: Promise<void> | undefined;
  private retryTimer: ReturnType<typeof setInterval> | undefined;
  private idleTimer: ReturnType<typeof setInterval> | undefined;
  private lastActivity = Date.now();
  private visibleGroup: string | undefined;
  private readonly messageListeners = new Set<(groupId: string, message: ChatItem) => void>();
  private applyUpdate: (() => void) | undefined;
  private socketNo = 0;
  private openSocket = 0;
  private releaseTab: (() => void) | undefined;
  /** Bumped on lock and tab loss, so work started before it does not write into the new state. */
  private session = 0;
  /** Whether this tab holds the tab lock; the forms shown from the remembered hint wait for it
   * before they open or create anything. */
  private tabHeld: Promise<boolean> = Promise.resolve(true);

  get state(): EngineState {
    return this.current;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private set(patch: Partial<EngineState>): void {
    this.current = { ...this.current, ...patch };
    for (const l of this.listeners) l(this.current);
  }

  // ---------- start, tabs ----------

  /** Called once, at the page's start: finds out what this device has and loads the crypto after
   * the first paint. `shown`: the screen the page already shows (its static first screen), used
   * when this device remembers none. */
  async start(shown?: FirstScreen): Promise<void> {
    if (typeof window !== 'undefined') {
      window.addEventListener('online', () => this.wake?.());
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible') {
          this.checkIdle();
          if (this.visibleGroup) this.markRead(this.visibleGroup);
        }
      });
    }
    // The form shown last time is up in the first render; the checks below correct it if needed.
    this.presetScreen(rememberedScreen() ?? shown);
    // Both ask the browser process, which can take a few hundred ms at the first call of a page:
    // in parallel. A tab that has the profile open holds the lock through its registration.
    const profile = probeProfile(PROFILE_DB);
    this.tabHeld = this.acquireTab(false);
    if (!(await this.tabHeld)) {
      this.set({ phase: 'other-tab', tabTakenOver: false, progress: undefined });
      return;
    }
    await this.discover(profile);
  }

  /** The phase a first screen shows before anything is known: the form remembered from last time
   * or painted in the page (start() above), or the same for the build's static copies of the first
   * screens (prerender.tsx). 'starting' keeps the starting phase. Nothing else is touched. */
  presetScreen(hint: FirstScreen | undefined): void {
    if (hint === 'pin') this.set({ phase: 'locked', unlockKind: 'pin', progress: undefined });
    else if (hint === 'welcome') this.set({ phase: 'welcome', progress: undefined });
  }

  /** Takes over from another tab that runs Agora (it steps back and says so). */
  async takeOver(): Promise<void> {
    this.set({ phase: 'starting', progress: 'progress.starting' });
    await this.acquireTab(true);
    await this.discover();
  }

  private acquireTab(steal: boolean): Promise<boolean> {
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
    // Without Web Locks (very old browsers) a second tab cannot be detected; the SDK's own
    // per-operation lock then still keeps the profile consistent.
    if (!locks) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      locks
        .request(TAB_LOCK, steal ? { steal: true } : { ifAvailable: true }, (lock) => {
          if (!lock) {
            resolve(false);
            return undefined;
          }
          resolve(true);
          return new Promise<void>((release) => {
            this.releaseTab = release;
          });
        })
        .catch(() => {
          // The lock was stolen: another tab took over.
          this.releaseTab = undefined;
          void this.stepBack();
        });
    });
  }

  private async stepBack(): Promise<void> {
    await this.shutDown();
    this.set({ ...initial, phase: 'other-tab', tabTakenOver: true, progress: undefined, connection: 'offline' });
  }

  private async discover(probed?: Promise<ProfileHint>): Promise<void> {
    // Browsers offer WebCrypto, Web Locks and service workers only to secure pages (https, or
    // localhost): without them keys cannot be kept safely, so say so instead of failing later.
    if (typeof window !== 'undefined' && !window.isSecureContext) {
      this.set({ phase: 'failed', progress: undefined, problem: { key: 'problem.insecure', params: { origin: location.origin } } });
      return;
    }
    // The first screen depends only on what the profile database holds: a plain read of it shows the
    // invite or PIN form at once, while the SDK's chunks load in the background (they are awaited
    // on submit). The SDK still checks the header below before anything is opened.
    const hint = await (probed ?? probeProfile(PROFILE_DB));
    rememberScreen(hint === 'none' ? 'welcome' : hint === 'pin' ? 'pin' : undefined);
    // A form from the remembered hint that matched may already have been sent: leave that work be.
    if (this.current.phase === 'busy' && ((hint === 'none' && this.current.unlockKind === undefined) || hint === 'pin')) return;
    if (hint === 'none') {
      // The SDK's chunks are being preloaded (preload.ts); registering imports them.
      this.set({ phase: 'welcome', progress: undefined });
      return;
    }
    if (hint === 'pin') {
      this.set({ phase: 'locked', unlockKind: 'pin', progress: undefined });
      prepareKdf();
    } else if (this.current.phase === 'locked' || this.current.phase === 'welcome') {
      // The remembered form was stale: wait for the SDK's answer below.
      this.set({ phase: 'starting', progress: 'progress.starting' });
    }
    // The crypto is parsed after the first screen has painted, not in its way.
    await nextPaint();
    try {
      if (hint !== 'pin') this.set({ progress: 'progress.loadingCrypto' });
      const sdk = await this.loadSdk();
      const backend = await sdk.IndexedDbBackend.open({ name: PROFILE_DB });
      let kinds: string[] = [];
      try {
        const bytes = await backend.readHeader();
        if (bytes) kinds = sdk.parseKeyHeader(bytes, backend.describe()).slots.map((s) => s.kind);
      } finally {
        await backend.close();
      }
      if (kinds.length === 0) {
        rememberScreen('welcome');
        this.set({ phase: 'welcome', progress: undefined });
        return;
      }
      const hasPin = kinds.includes('argon2id');
      if (kinds.includes('webcrypto-aes-gcm')) {
        try {
          await this.openWith(new sdk.WebCryptoKeySource(), 'device', hasPin);
          return;
        } catch (e) {
          // The browser lost its key (site data partly cleared): the PIN, if there is one, still opens.
          if (!hasPin) throw e;
        }
      }
      // With the 'pin' hint the form is already up (and may be in use): leave it alone.
      if (hint !== 'pin') {
        this.set({ phase: 'locked', unlockKind: 'pin', progress: undefined });
        prepareKdf();
      }
    } catch (e) {
      this.set({ phase: 'failed', progress: undefined, problem: problemOf(e) });
    }
  }

  private async loadSdk(): Promise<Sdk> {
    this.sdk ??= await loadSdk();
    return this.sdk;
  }

  // ---------- profile: invite, unlock, lock ----------

  private async makeProfile(keySource: ProfileKeySource): Promise<StoreProfile> {
    const sdk = await this.loadSdk();
    const backend = await sdk.IndexedDbBackend.open({ name: PROFILE_DB });
    return new sdk.StoreProfile({ backend, keySource, lock: sdk.webLock(PROFILE_LOCK) });
  }

  private deps(profile: StoreProfile): ClientDeps {
    const session = this.session;
    return {
      profile,
      fetch: (url, init) => fetch(url, init),
      webSocket: (url, protocols) => {
        const ws = new WebSocket(url, protocols);
        const id = ++this.socketNo;
        ws.addEventListener('open', () => {
          if (session !== this.session) return;
          this.openSocket = id;
          this.set({ connection: 'online' });
          this.onReconnected();
        });
        ws.addEventListener('close', () => {
          // Only the newest connection speaks for the network: an old one may close late.
          if (session === this.session && this.openSocket === id) this.set({ connection: 'offline' });
        });
        // The SDK sets the on* handlers; a browser WebSocket has them with DOM event types.
        return ws as unknown as WebSocketLike;
      },
    };
  }

  /** Asks the relay what an invite code is for, before the person chooses a PIN: a mistyped, used
   * or expired code is reported at once. Only the code's hash leaves the device. */
  async checkInvite(code: string): Promise<{ ok: true; info: InviteInfo } | { ok: false; problem: Problem }> {
    try {
      const sdk = await this.loadSdk();
      const http = new sdk.RelayHttp(location.origin, (url, init) => fetch(url, init));
      // WebCrypto's SHA-256 rather than the SDK's inviteHash, which needs libsodium loaded: the
      // answer comes before its download on a slow connection (the KDF worker fetches it next).
      const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', sdk.inviteHashInput(code.trim()) as Uint8Array<ArrayBuffer>));
      const info = await http.inviteInfo(sdk.toB64u(hash));
      if (info.expiresAt < Date.now()) return { ok: false, problem: { key: 'problem.inviteExpired' } };
      // A PIN is chosen next: its derivation's worker can start loading now.
      prepareKdf();
      return { ok: true, info: { kind: info.kind, bootstrap: info.bootstrap, name: info.name } };
    } catch (e) {
      return { ok: false, problem: problemOf(e, 'invite') };
    }
  }

  async register(input: RegisterInput): Promise<void> {
    if (!(await this.tabHeld)) return;
    const code = input.code.trim();
    const name = input.name?.trim() || undefined;
    this.set({ phase: 'busy', progress: 'progress.loadingCrypto', problem: undefined });
    let profile: StoreProfile | undefined;
    try {
      const sdk = await this.loadSdk();
      const keySource = input.secret.kind === 'pin' ? passphraseSource(sdk, input.secret.value) : new sdk.WebCryptoKeySource();
      profile = await this.makeProfile(keySource);
      this.set({ progress: 'progress.keys' });
      const client = await sdk.AgoraClient.register(this.deps(profile), { server: location.origin, invite: code, name });
      // Keys live only here: ask the browser not to evict this site's storage under pressure.
      void navigator.storage?.persist?.().catch(() => false);
      rememberScreen(input.secret.kind === 'pin' ? 'pin' : undefined);
      await this.opened(client, profile, input.secret.kind === 'pin' ? 'pin' : 'device', input.secret.kind === 'pin');
    } catch (e) {
      // Registered, but a later step (first sync) failed: the device exists; open it normally.
      if (profile && !isQuotaError(e) && (await profile.exists().catch(() => false))) {
        await profile.close().catch(() => undefined);
        this.set({ phase: 'locked', unlockKind: input.secret.kind === 'pin' ? 'pin' : 'device', progress: undefined });
        if (input.secret.kind === 'pin') await this.unlock(input.secret.value);
        else await this.discover();
        return;
      }
      await profile?.close().catch(() => undefined);
      this.set({ phase: 'welcome', progress: undefined, problem: problemOf(e, 'invite') });
    }
  }

  async unlock(pin: string): Promise<void> {
    // A form shown from the remembered hint can be sent before the tab lock is known.
    if (!(await this.tabHeld)) return;
    this.set({ phase: 'busy', progress: 'progress.unlocking', problem: undefined });
    try {
      const sdk = await this.loadSdk();
      await this.openWith(passphraseSource(sdk, pin), 'pin', true);
    } catch (e) {
      this.set({ phase: 'locked', progress: undefined, problem: problemOf(e, 'unlock') });
      prepareKdf();
    }
  }

  private async openWith(keySource: ProfileKeySource, kind: 'pin' | 'device', hasPin: boolean): Promise<void> {
    const sdk = await this.loadSdk();
    const profile = await this.makeProfile(keySource);
    try {
      // Without the stored messages: the conversations' newest come from the app's own cache
      // (memos) at once, and the first operation (the catch-up below) loads the rest.
      const client = await sdk.AgoraClient.open(this.deps(profile), { deferMessages: true });
      await this.opened(client, profile, kind, hasPin);
    } catch (e) {
      // Nothing may keep using a profile that is closed here (opened() failed half-way).
      if (this.profile === profile) {
        this.client = undefined;
        this.app = undefined;
        this.profile = undefined;
      }
      await profile.close().catch(() => undefined);
      throw e;
    }
  }

  private async opened(client: AgoraClient, profile: StoreProfile, kind: 'pin' | 'device', hasPin: boolean): Promise<void> {
    this.set({ progress: 'progress.loadingGroups' });
    dropKdf();
    // The app's records share the profile's store (and so its one Argon2id unlock): opening the
    // client has loaded the profile, which opened the store.
    const store = profile.store;
    if (!store) throw new Error('the profile store is not open after loading the profile');
    const app = new AppData(store);
    this.client = client;
    this.app = app;
    this.profile = profile;
    this.outbox = await app.outbox();
    const groups = await app.groups();
    this.memos = await app.memos((groups ?? []).filter((g) => g.isMember).map((g) => g.id));
    const me = client.me;
    const conversations: Record<string, Conversation> = {};
    for (const [id, memo] of Object.entries(this.memos)) {
      conversations[id] = { messages: memo.recent.map((m) => toItem(id, m, me.userId)), fresh: false, loading: false };
    }
    this.lastActivity = Date.now();
    this.set({
      phase: 'ready',
      progress: undefined,
      problem: undefined,
      unlockKind: kind,
      hasPin,
      me: { userId: me.userId, deviceId: me.deviceId, name: me.name, role: me.role, orgName: me.orgName },
      groups,
      conversations,
      orgKeyWaiting: client.orgKeyWaiting,
      outgoing: this.outbox.map((o) => this.outboxItem(o, o.state === 'failed' ? 'failed' : 'sending')),
      connection: 'connecting',
    });
    this.recount();
    this.idleTimer = setInterval(() => this.checkIdle(), 30_000);
    this.retryTimer = setInterval(() => {
      if (this.current.waiting > 0) void this.flushOutbox();
    }, OUTBOX_RETRY_MS);
    // Opened without the SDK's stored messages, so the memos drew the first screen at once; they
    // load now, first, before an operation or the search index reads them. A failure here is the
    // first operation's to report.
    await client.loadMessages().catch(() => undefined);
    if (this.client !== client) return;
    void this.checkStorage();
    void this.refreshAlarms();
    this.listen();
    void this.refreshGroups().then(() => this.readInBackground());
    void this.flushOutbox();
  }

  /** Forgets this device's Agora data (a forgotten PIN, a lost "stay signed in" key): without the
   * key it can never be read again, and a new invite needs an empty profile. The person's other
   * devices and the groups on the relay are untouched. */
  async resetDevice(): Promise<void> {
    await this.shutDown();
    this.set({ ...initial, phase: 'busy', progress: 'progress.resetting', connection: 'offline' });
    try {
      const sdk = await this.loadSdk();
      // The "stay signed in" keys too: they open nothing once the profile is gone.
      for (const name of [PROFILE_DB, sdk.DEVICE_KEY_DB]) {
        await new Promise<void>((resolve, reject) => {
          const req = indexedDB.deleteDatabase(name);
          req.onsuccess = () => resolve();
          req.onerror = () => reject(req.error ?? new Error(`cannot delete ${name}`));
          // Another connection (a tab closing right now) delays it; deletion goes ahead when it closes.
          req.onblocked = () => undefined;
        });
      }
      rememberScreen('welcome');
      this.set({ phase: 'welcome', progress: undefined, unlockKind: undefined });
    } catch (e) {
      this.set({ phase: 'failed', progress: undefined, problem: problemOf(e) });
    }
  }

  /** "Auf diesem Gerät angemeldet bleiben", turned on or off after signing up with a PIN. On: a
   * slot wrapped by a new non-extractable key of this browser joins the PIN's slot, so this browser
   * profile opens Agora without asking, and the inactivity lock stops (it would reopen at once).
   * Off: those slots leave the key header and their browser keys are deleted, so they can never
   * open it again; the PIN is asked at the next start and the inactivity lock is back. The PIN's
   * slot is never touched, and only the key header changes, not the stored data. */
  async setStaySignedIn(on: boolean): Promise<void> {
    const profile = this.profile;
    if (!profile || !this.current.hasPin) throw Object.assign(new Error('Agora is locked or has no PIN'), { code: 'profile_locked' });
    const sdk = await this.loadSdk();
    const device = new sdk.WebCryptoKeySource();
    const isDevice = (slot: { kind: string }) => slot.kind === 'webcrypto-aes-gcm';
    // Slots of keys this browser lost (site data partly cleared) go too: they open nothing.
    const stale = (await this.keyHeader()).slots.filter(isDevice);
    if (stale.length > 0) await profile.removeUnlockMethods(isDevice);
    for (const slot of stale) await device.forget(slot).catch(() => undefined);
    if (on) await profile.addUnlockMethod(device);
    this.lastActivity = Date.now();
    rememberScreen(on ? undefined : 'pin');
    this.set({ unlockKind: on ? 'device' : 'pin' });
  }

  /** The profile's clear key header as stored now. */
  private async keyHeader(): Promise<ReturnType<Sdk['parseKeyHeader']>> {
    const sdk = await this.loadSdk();
    const backend = await sdk.IndexedDbBackend.open({ name: PROFILE_DB });
    try {
      const bytes = await backend.readHeader();
      if (!bytes) throw Object.assign(new Error('no key header on this device'), { code: 'profile_corrupt' });
      return sdk.parseKeyHeader(bytes, backend.describe());
    } finally {
      await backend.close();
    }
  }

  /** Locks on demand: the keys leave memory; the outbox and everything received stay on disk. */
  async lock(): Promise<void> {
    const kind = this.current.unlockKind;
    await this.shutDown();
    this.set({ ...initial, phase: kind === 'device' ? 'starting' : 'locked', unlockKind: kind, progress: undefined, connection: 'offline' });
    if (kind === 'device') await this.discover();
    else prepareKdf();
  }

  private async shutDown(): Promise<void> {
    this.session += 1;
    this.listenAbort?.abort();
    this.listenAbort = undefined;
    clearInterval(this.idleTimer);
    clearInterval(this.retryTimer);
    for (const [groupId, timer] of this.memoTimers) {
      clearTimeout(timer);
      await this.saveMemo(groupId);
    }
    this.memoTimers.clear();
    await this.flushing?.catch(() => undefined);
    const profile = this.profile;
    this.client = undefined;
    this.app = undefined;
    this.profile = undefined;
    this.outbox = [];
    this.memos = {};
    this.visibleGroup = undefined;
    await profile?.close().catch(() => undefined);
  }

  /** Any touch or key press: postpones the inactivity lock. */
  activity(): void {
    this.lastActivity = Date.now();
  }

  private checkIdle(): void {
    if (this.current.phase === 'ready' && this.current.unlockKind === 'pin' && Date.now() - this.lastActivity > INACTIVITY_LOCK_MS) {
      void this.lock();
    }
  }

  // ---------- live ----------

  private listen(): void {
    const client = this.client;
    if (!client) return;
    const abort = new AbortController();
    this.listenAbort = abort;
    const session = this.session;
    void (async () => {
      let backoff = 1_000;
      while (!abort.signal.aborted) {
        try {
          if (this.current.connection !== 'online') this.set({ connection: 'connecting' });
          await client.listen({
            signal: abort.signal,
            onMessage: (groupId, _name, m) => {
              if (session === this.session) this.received(groupId, m);
            },
            onWarning: (w) => {
              if (session === this.session) this.warned(w);
            },
            onStateChanged: () => {
              if (session === this.session) this.stateChanged(client);
            },
          });
        } catch (e) {
          if (abort.signal.aborted || session !== this.session) break;
          this.set({ connection: 'offline' });
          if (isQuotaError(e)) this.set({ banner: problemOf(e) });
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            void sleep(backoff, abort.signal).then(resolve);
          });
          this.wake = undefined;
          backoff = Math.min(backoff * 2, 15_000);
          continue;
        }
        backoff = 1_000;
      }
    })();
  }

  private onReconnected(): void {
    void this.flushOutbox();
    void this.refreshGroups();
  }

  /** A group was renamed, created, left or deleted, or an organisation key arrived: the list and
   * the newcomer's hint follow without a reload. */
  private stateChanged(client: AgoraClient): void {
    if (this.current.orgKeyWaiting !== client.orgKeyWaiting) this.set({ orgKeyWaiting: client.orgKeyWaiting });
    void this.refreshGroups();
  }

  private warned(w: string): void {
    if (w.startsWith('ALARM')) void this.refreshAlarms();
    else if (/cannot reach the relay/.test(w)) this.set({ connection: 'offline' });
  }

  private received(groupId: string, m: MessageView): void {
    const me = this.current.me?.userId;
    const item = toItem(groupId, m, me);
    const conv = this.current.conversations[groupId] ?? { messages: [], fresh: false, loading: false };
    if (conv.messages.some((x) => x.id === item.id)) return;
    const outgoing = this.current.outgoing.filter((o) => o.id !== item.id);
    this.set({
      conversations: { ...this.current.conversations, [groupId]: { ...conv, messages: insertInOrder(conv.messages, item) } },
      outgoing,
    });
    for (const l of this.messageListeners) l(groupId, item);
    if (!this.current.groups?.some((g) => g.id === groupId)) void this.refreshGroups();
    if (this.visibleGroup === groupId && document.visibilityState === 'visible') this.markRead(groupId);
    else this.recount();
    this.scheduleMemo(groupId);
  }

  // ---------- groups and conversations ----------

  async refreshGroups(): Promise<void> {
    const client = this.client;
    const app = this.app;
    if (!client || !app) return;
    const session = this.session;
    this.set({ groupsLoading: true });
    try {
      const groups = (await client.listGroups()).map(summaryToCached);
      if (session !== this.session) return;
      const missing = groups.filter((g) => g.isMember && !this.memos[g.id]).map((g) => g.id);
      Object.assign(this.memos, await app.memos(missing));
      this.set({ groups, groupsLoading: false, groupsProblem: undefined });
      await app.putGroups(groups);
      this.recount();
    } catch (e) {
      if (session !== this.session) return;
      this.set({ groupsLoading: false, groupsProblem: problemOf(e) });
      if (isNetworkError(e)) this.set({ connection: 'offline' });
      if (isQuotaError(e)) this.set({ banner: problemOf(e) });
    }
  }

  private async readInBackground(): Promise<void> {
    const groups = (this.current.groups ?? []).filter((g) => g.isMember).slice(0, BACKGROUND_READS);
    for (const g of groups) {
      if (!this.client || this.current.connection === 'offline') return;
      if (this.current.conversations[g.id]?.fresh) continue;
      await this.openGroup(g.id);
    }
  }

  /** Reads a group from the relay (catching up on everything new) and merges it with what arrived
   * live meanwhile. The cached copy stays on screen while this runs and if it fails. */
  async openGroup(groupId: string): Promise<void> {
    const client = this.client;
    if (!client) return;
    const session = this.session;
    const before = this.current.conversations[groupId] ?? { messages: [], fresh: false, loading: false };
    const knownBefore = new Set(before.messages.map((m) => m.id));
    this.set({ conversations: { ...this.current.conversations, [groupId]: { ...before, loading: true, problem: undefined } } });
    try {
      const { messages, group } = await client.read(groupId);
      if (session !== this.session) return;
      // The read's own view of the group is fresher than the list (members added meanwhile).
      const groups = this.current.groups?.map((g) => (g.id === groupId ? { ...g, name: group.name, members: group.members, isMember: group.isMember } : g));
      if (groups) this.set({ groups });
      const me = this.current.me?.userId;
      const read = messages.map((m) => toItem(groupId, m, me));
      const readIds = new Set(read.map((m) => m.id));
      const now = this.current.conversations[groupId] ?? before;
      const merged = mergeRead(read, now.messages, knownBefore);
      this.set({
        conversations: { ...this.current.conversations, [groupId]: { messages: merged, fresh: true, loading: false } },
        outgoing: this.current.outgoing.filter((o) => !(o.id && readIds.has(o.id))),
      });
      if (this.visibleGroup === groupId) this.markRead(groupId);
      else this.recount();
      this.scheduleMemo(groupId);
    } catch (e) {
      if (session !== this.session) return;
      const conv = this.current.conversations[groupId] ?? before;
      this.set({ conversations: { ...this.current.conversations, [groupId]: { ...conv, loading: false, problem: problemOf(e) } } });
      if (isNetworkError(e)) this.set({ connection: 'offline' });
      void this.refreshAlarms();
    }
  }

  /** The group on screen (or none): its messages count as seen while the page is visible. */
  showing(groupId: string | undefined): void {
    this.visibleGroup = groupId;
    if (groupId) this.markRead(groupId);
  }

  markRead(groupId: string): void {
    const conv = this.current.conversations[groupId];
    const last = conv?.messages[conv.messages.length - 1];
    const memo = this.memos[groupId] ?? { lastReadId: null, recent: [] };
    if (last?.id && memo.lastReadId !== last.id) {
      this.memos[groupId] = { ...memo, lastReadId: last.id, lastReadSeq: last.seq };
      this.scheduleMemo(groupId);
    }
    this.recount();
  }

  private recount(): void {
    const unread: Record<string, number> = {};
    for (const g of this.current.groups ?? []) {
      if (g.isMember) unread[g.id] = countUnread(this.current.conversations[g.id]?.messages ?? [], this.memos[g.id]);
    }
    this.set({ unread });
  }

  private scheduleMemo(groupId: string): void {
    if (this.memoTimers.has(groupId)) return;
    this.memoTimers.set(groupId, setTimeout(() => {
      this.memoTimers.delete(groupId);
      void this.saveMemo(groupId);
    }, 400));
  }

  private async saveMemo(groupId: string): Promise<void> {
    const app = this.app;
    if (!app) return;
    const conv = this.current.conversations[groupId];
    const memo: GroupMemo = {
      ...(this.memos[groupId] ?? { lastReadId: null }),
      recent: (conv?.messages ?? []).slice(-CACHE_PER_GROUP).map(toCached),
    };
    this.memos[groupId] = memo;
    try {
      await app.putMemo(groupId, memo);
    } catch (e) {
      if (isQuotaError(e)) this.set({ banner: problemOf(e) });
    }
  }

  async joinGroup(groupId: string): Promise<void> {
    await this.run((c) => c.joinGroup(groupId));
    await this.refreshGroups();
    await this.openGroup(groupId);
  }

  /** Offered to administrators only: a public group is seen by all staff, so the app keeps creating
   * them with the people who curate the intranet (the relay and `agora group create --public` let
   * anyone). The creator is a member at once. */
  async createPublicGroup(name: string): Promise<GroupSummary> {
    const g = await this.run((c) => c.createGroup({ name, kind: 'public' }));
    await this.refreshGroups();
    return g;
  }

  async createSecretGroup(name: string, description?: string): Promise<GroupSummary> {
    const g = await this.run((c) => c.createGroup({ name, kind: 'secret', description: description || undefined }));
    await this.refreshGroups();
    return g;
  }

  // ---------- sending ----------

  /** True when sending is blocked until the person has dealt with a key-transparency alarm. */
  get sendingBlocked(): boolean {
    return this.current.alarms.length > 0;
  }

  private outboxItem(o: OutboxItem, status: ChatItem['status']): ChatItem {
    const me = this.current.me;
    return {
      key: `outbox-${o.n}`,
      groupId: o.groupId,
      sender: me?.userId ?? '',
      senderName: me?.name ?? '',
      sentAt: o.createdAt,
      text: o.text,
      mine: true,
      status,
      outboxNo: o.n,
      problem: o.state === 'failed' ? problemOf({ code: o.error ?? 'internal', message: o.error ?? '' }, 'send') : undefined,
    };
  }

  private updateOutgoing(n: number, patch: Partial<ChatItem>): void {
    this.set({ outgoing: this.current.outgoing.map((o) => (o.outboxNo === n ? { ...o, ...patch } : o)) });
  }

  /** Stores the message in the outbox, then sends it. Resolves false (and keeps nothing) only if
   * it could not even be stored; the composer then keeps the text. */
  async send(groupId: string, text: string): Promise<{ ok: true } | { ok: false; problem: Problem }> {
    const app = this.app;
    if (!app) return { ok: false, problem: { key: 'problem.locked' } };
    if (this.sendingBlocked) return { ok: false, problem: { key: 'problem.alarmBlocks' } };
    const n = Math.max(0, ...this.outbox.map((o) => o.n), ...this.current.outgoing.map((o) => o.outboxNo ?? 0)) + 1;
    const item: OutboxItem = { n, groupId, text, createdAt: Date.now(), state: 'pending' };
    try {
      await app.putOutbox(item);
    } catch (e) {
      // Nothing was stored: the composer keeps the text, and its words say so.
      if (!isQuotaError(e)) return { ok: false, problem: problemOf(e, 'send') };
      const problem = problemOf(e);
      this.set({ banner: problem });
      return { ok: false, problem: { ...problem, key: 'problem.quotaSend' } };
    }
    this.outbox.push(item);
    this.set({ outgoing: [...this.current.outgoing, this.outboxItem(item, 'sending')] });
    void this.flushOutbox();
    return { ok: true };
  }

  async retry(n: number): Promise<void> {
    const item = this.outbox.find((o) => o.n === n);
    if (!item || !this.app) return;
    item.state = 'pending';
    item.error = undefined;
    try {
      await this.app.putOutbox(item);
    } catch (e) {
      // The stored copy still says "failed"; sending it now is still right (it is in the outbox).
      if (isQuotaError(e)) this.set({ banner: problemOf(e) });
    }
    this.updateOutgoing(n, { status: 'sending', problem: undefined });
    await this.flushOutbox();
  }

  /** Drops a message the relay refused, at the person's request. */
  async discard(n: number): Promise<void> {
    if (!this.app) return;
    await this.app.deleteOutbox(n);
    this.outbox = this.outbox.filter((o) => o.n !== n);
    this.set({ outgoing: this.current.outgoing.filter((o) => o.outboxNo !== n) });
  }

  private flushOutbox(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushLoop(): Promise<void> {
    const session = this.session;
    let waiting = 0;
    try {
      for (;;) {
        const client = this.client;
        const app = this.app;
        if (!client || !app || session !== this.session || this.sendingBlocked) return;
        const item = this.outbox.find((o) => o.state === 'pending');
        if (!item) return;
        try {
          const { id, seq } = await client.send(item.groupId, item.text);
          // The relay answered: the network is back even if the push channel has not reconnected yet.
          if (this.current.connection === 'offline') {
            this.set({ connection: 'connecting' });
            this.wake?.();
          }
          this.outbox = this.outbox.filter((o) => o !== item);
          await app.deleteOutbox(item.n).catch(() => undefined);
          if (session !== this.session) return;
          const echoed = this.current.conversations[item.groupId]?.messages.some((m) => m.id === id);
          if (echoed) this.set({ outgoing: this.current.outgoing.filter((o) => o.outboxNo !== item.n) });
          else this.updateOutgoing(item.n, { status: 'sent', id, seq, key: `outbox-${item.n}` });
        } catch (e) {
          if (session !== this.session) return;
          if (isNetworkError(e)) {
            waiting = this.outbox.filter((o) => o.state === 'pending').length;
            this.set({ connection: 'offline' });
            return;
          }
          // A full quota while the SDK saved its state: say so everywhere, not only at the message.
          if (isQuotaError(e)) this.set({ banner: problemOf(e) });
          item.state = 'failed';
          item.error = isQuotaError(e) ? 'quota_exceeded' : typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'internal';
          await app.putOutbox(item).catch(() => undefined);
          this.updateOutgoing(item.n, { status: 'failed', problem: problemOf(e, 'send') });
          await this.refreshAlarms();
        }
      }
    } finally {
      if (session === this.session) this.set({ waiting });
    }
  }

  // ---------- alarms, storage ----------

  async refreshAlarms(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const session = this.session;
    try {
      const alarms = await client.alarms();
      if (session !== this.session) return;
      const wasBlocked = this.sendingBlocked;
      this.set({ alarms });
      if (wasBlocked && !this.sendingBlocked) void this.flushOutbox();
    } catch {
      // Reading alarms is local; a failure here shows up on the next operation anyway.
    }
  }

  private async checkStorage(): Promise<void> {
    try {
      const est = await navigator.storage?.estimate?.();
      if (est?.quota && est.usage !== undefined && est.usage / est.quota > 0.9) this.set({ banner: { key: 'problem.quotaNearlyFull' } });
    } catch {
      // No estimate in this browser: the quota error itself is still caught where it happens.
    }
  }

  /** The service worker installed a new build: offered to the person, applied when they choose
   * (a reload; the outbox keeps whatever is unsent). */
  offerUpdate(apply: () => void): void {
    this.applyUpdate = apply;
    this.set({ updateReady: true });
  }

  async update(): Promise<void> {
    const apply = this.applyUpdate;
    if (!apply) return;
    await this.flushing?.catch(() => undefined);
    apply();
  }

  dismissBanner(): void {
    this.set({ banner: undefined });
  }

  // ---------- for other screens ----------

  /** A small value of a screen's own (a search index, verification marks), kept encrypted with the
   * device's state. */
  async appValue(key: string): Promise<string | undefined> {
    return this.app?.value(key);
  }

  async putAppValue(key: string, value: string): Promise<void> {
    if (!this.app) throw Object.assign(new Error('Agora is locked'), { code: 'profile_locked' });
    await this.app.putValue(key, value);
  }

  /** Every message the SDK holds for a group on this device, oldest first, read from its unlocked
   * state (no request): for the search index, which covers more than the screens keep in memory.
   * Undefined while the stored messages are still being loaded after unlocking (ask again later). */
  storedMessages(groupId: string): ChatItem[] | undefined {
    const client = this.client;
    if (!client) return [];
    if (!client.messagesLoaded) return undefined;
    const me = this.current.me?.userId;
    return client.storedMessages(groupId).map((m) => toItem(groupId, m, me));
  }

  /** Calls `listener` for every message that arrives live or in a catch-up (once per message id
   * and session); returns the function that stops it. */
  onMessage(listener: (groupId: string, message: ChatItem) => void): () => void {
    this.messageListeners.add(listener);
    return () => {
      this.messageListeners.delete(listener);
    };
  }

  /** Runs one AgoraClient operation for a screen (members, invites, security…). Errors are thrown
   * as they are; turn them into words with `problemOf(e, context)`. Alarms are re-read after every
   * operation, since any of them may have checked the key-transparency log. */
  async run<T>(fn: (client: AgoraClient) => Promise<T>): Promise<T> {
    const client = this.client;
    if (!client) throw Object.assign(new Error('Agora is locked'), { code: 'profile_locked' });
    try {
      return await fn(client);
    } catch (e) {
      if (isNetworkError(e)) this.set({ connection: 'offline' });
      if (isQuotaError(e)) this.set({ banner: problemOf(e) });
      throw e;
    } finally {
      void this.refreshAlarms();
    }
  }

  /** The problem text for an error, for screens that show their own. */
  explain(e: unknown, context: Context = 'general'): Problem {
    return problemOf(e, context);
  }

  /** Everything shown in a group, in order: the log's messages, then this device's outgoing ones. */
  chat(groupId: string): ChatItem[] {
    const received = this.current.conversations[groupId]?.messages ?? [];
    return [...received, ...this.current.outgoing.filter((o) => o.groupId === groupId)];
  }

  /** The newest messages across the person's groups, newest first. */
  recent(limit: number): ChatItem[] {
    const all: ChatItem[] = [];
    for (const g of this.current.groups ?? []) {
      if (!g.isMember) continue;
      const list = this.current.conversations[g.id]?.messages ?? [];
      all.push(...list.slice(-limit));
    }
    return all.sort((a, b) => b.sentAt - a.sentAt).slice(0, limit);
  }
}
