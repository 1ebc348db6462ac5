/** The web app's own records, kept encrypted in a ClientStore like the rest of the device's state
 * (never in localStorage: an unsent message of a secret group is as confidential as a received one):
 * - the outbox: every message typed and not yet accepted by the relay, so a reload, a lost
 *   network or a crash loses nothing;
 * - per group, the last message the person has seen (for unread counts) and the newest messages
 *   received, so the app shows them at once after unlocking, and without a network at all.
 * Partitions are prefixed `app:` so they never meet the SDK's own records in the same store. */
import type { ClientStore, GroupSummary } from '@agora/client-sdk/browser';

export interface OutboxItem {
  /** Position in the outbox: also the order of sending. */
  n: number;
  groupId: string;
  text: string;
  createdAt: number;
  /** 'failed' = the relay refused it for a reason a retry at once will not fix; the person decides. */
  state: 'pending' | 'failed';
  /** The error code of the last failure, so the screen can say what happened. */
  error?: string;
}

export interface CachedMessage {
  id: string;
  sender: string;
  senderName: string;
  sentAt: number;
  text: string;
  seq?: number;
}

export interface GroupMemo {
  /** The newest message the person has had on screen in this group. */
  lastReadId: string | null;
  lastReadSeq?: number;
  /** The newest messages, oldest first (at most CACHE_PER_GROUP). */
  recent: CachedMessage[];
}

export const CACHE_PER_GROUP = 200;

const OUTBOX = 'app:outbox';
const MEMO = 'app:memo';
const GROUPS = 'app:groups';
const KV = 'app:kv';

/** The group list as last seen, for the first screen before (or without) the network: the SDK's
 * summary without the MLS epoch, which is the engine's business. */
export type CachedGroup = Omit<GroupSummary, 'epoch'>;

function asCachedGroup(v: unknown): CachedGroup | undefined {
  if (!isRecord(v)) return undefined;
  const { id, name, description, kind, departmentId, isMember, members, createdBy } = v;
  if (typeof id !== 'string' || typeof name !== 'string' || (kind !== 'secret' && kind !== 'public')) return undefined;
  if (typeof isMember !== 'boolean' || typeof members !== 'number' || (departmentId !== null && typeof departmentId !== 'string')) return undefined;
  return {
    id, name, kind, departmentId, isMember, members,
    description: typeof description === 'string' ? description : undefined,
    createdBy: typeof createdBy === 'string' ? createdBy : undefined,
  };
}
const enc = new TextEncoder();
const dec = new TextDecoder();

function encode(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The store is this device's own, encrypted and authenticated; the checks only keep a record
 * written by an older version of the app from breaking the screen. */
function asOutboxItem(v: unknown): OutboxItem | undefined {
  if (!isRecord(v)) return undefined;
  const { n, groupId, text, createdAt, state, error } = v;
  if (typeof n !== 'number' || typeof groupId !== 'string' || typeof text !== 'string' || typeof createdAt !== 'number') return undefined;
  if (state !== 'pending' && state !== 'failed') return undefined;
  return { n, groupId, text, createdAt, state, error: typeof error === 'string' ? error : undefined };
}

function asCached(v: unknown): CachedMessage | undefined {
  if (!isRecord(v)) return undefined;
  const { id, sender, senderName, sentAt, text, seq } = v;
  if (typeof id !== 'string' || typeof sender !== 'string' || typeof senderName !== 'string' || typeof sentAt !== 'number' || typeof text !== 'string') return undefined;
  return { id, sender, senderName, sentAt, text, seq: typeof seq === 'number' ? seq : undefined };
}

function asMemo(v: unknown): GroupMemo {
  if (!isRecord(v)) return { lastReadId: null, recent: [] };
  const recent = Array.isArray(v.recent) ? v.recent.map(asCached).filter((m): m is CachedMessage => m !== undefined) : [];
  return {
    lastReadId: typeof v.lastReadId === 'string' ? v.lastReadId : null,
    lastReadSeq: typeof v.lastReadSeq === 'number' ? v.lastReadSeq : undefined,
    recent,
  };
}

function parse(bytes: Uint8Array | undefined): unknown {
  if (!bytes) return undefined;
  try {
    return JSON.parse(dec.decode(bytes));
  } catch {
    return undefined;
  }
}

export class AppData {
  constructor(private readonly store: ClientStore) {}

  async outbox(): Promise<OutboxItem[]> {
    return this.store.read(['outbox'], async (tx) => {
      const out: OutboxItem[] = [];
      let query: Parameters<typeof tx.range>[1] | undefined = { part: OUTBOX };
      while (query) {
        const page = await tx.range('outbox', query);
        for (const e of page.entries) {
          const item = asOutboxItem(parse(e.value));
          if (item) out.push(item);
        }
        query = page.next;
      }
      return out;
    });
  }

  async putOutbox(item: OutboxItem): Promise<void> {
    await this.store.transaction(['outbox'], 'readwrite', async (tx) => {
      tx.put('outbox', [OUTBOX, item.n], encode(item));
    });
  }

  async deleteOutbox(n: number): Promise<void> {
    await this.store.transaction(['outbox'], 'readwrite', async (tx) => {
      tx.delete('outbox', [OUTBOX, n]);
    });
  }

  async memos(groupIds: readonly string[]): Promise<Record<string, GroupMemo>> {
    return this.store.read(['outbox'], async (tx) => {
      const out: Record<string, GroupMemo> = {};
      for (const id of groupIds) {
        const bytes = await tx.get('outbox', `${MEMO}:${id}`);
        if (bytes) out[id] = asMemo(parse(bytes));
      }
      return out;
    });
  }

  async putMemo(groupId: string, memo: GroupMemo): Promise<void> {
    const trimmed: GroupMemo = { ...memo, recent: memo.recent.slice(-CACHE_PER_GROUP) };
    await this.store.transaction(['outbox'], 'readwrite', async (tx) => {
      tx.put('outbox', `${MEMO}:${groupId}`, encode(trimmed));
    });
  }

  async groups(): Promise<CachedGroup[] | undefined> {
    const v = parse(await this.store.read(['outbox'], (tx) => tx.get('outbox', GROUPS)));
    if (!Array.isArray(v)) return undefined;
    return v.map(asCachedGroup).filter((g): g is CachedGroup => g !== undefined);
  }

  async putGroups(groups: readonly CachedGroup[]): Promise<void> {
    await this.store.transaction(['outbox'], 'readwrite', async (tx) => {
      tx.put('outbox', GROUPS, encode(groups));
    });
  }

  /** A small value of a screen's own (a search index, marks), kept encrypted like the rest. */
  async value(key: string): Promise<string | undefined> {
    const v = parse(await this.store.read(['outbox'], (tx) => tx.get('outbox', `${KV}:${key}`)));
    return typeof v === 'string' ? v : undefined;
  }

  async putValue(key: string, value: string): Promise<void> {
    await this.store.transaction(['outbox'], 'readwrite', async (tx) => {
      tx.put('outbox', `${KV}:${key}`, encode(value));
    });
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
