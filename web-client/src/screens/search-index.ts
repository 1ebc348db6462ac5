/** The local full-text index behind Suche: MiniSearch over the messages this device decrypted. It
 * only ever sees plaintext this device already holds, and it is persisted (serialised) through the
 * engine's encrypted store like the rest of the device's state — never in the clear. Messages are
 * added incrementally by id, so the index grows as messages arrive and a message is never indexed
 * twice. */
import MiniSearch, { type SearchResult } from 'minisearch';

export const INDEX_FORMAT = 'agora-search-v1';

export interface IndexedMessage {
  id: string;
  groupId: string;
  senderName: string;
  sentAt: number;
  text: string;
}

export interface Hit {
  id: string;
  groupId: string;
  senderName: string;
  sentAt: number;
  text: string;
  score: number;
  /** The query terms as found in the text, for highlighting. */
  terms: string[];
}

export interface HitGroup {
  groupId: string;
  hits: Hit[];
}

const OPTIONS = {
  idField: 'id',
  fields: ['text', 'senderName'],
  storeFields: ['groupId', 'senderName', 'sentAt', 'text'],
  searchOptions: { boost: { text: 2 }, prefix: true, fuzzy: 0.2, combineWith: 'AND' as const },
};

function fresh(): MiniSearch<IndexedMessage> {
  return new MiniSearch<IndexedMessage>(OPTIONS);
}

type PlainIndex = Parameters<typeof MiniSearch.loadJS>[0];

/** The stored wrapper's parts, or undefined for anything that is not this format. The index is a
 * JSON string in values written by earlier releases, an object since. */
function unwrap(serialised: string | undefined): { index: string | PlainIndex; groups?: string[] } | undefined {
  if (!serialised) return undefined;
  const wrapper = JSON.parse(serialised) as { format?: unknown; index?: unknown; groups?: unknown };
  if (wrapper.format !== INDEX_FORMAT) return undefined;
  const groups = Array.isArray(wrapper.groups) && wrapper.groups.every((g) => typeof g === 'string') ? (wrapper.groups as string[]) : undefined;
  if (typeof wrapper.index === 'string') return { index: wrapper.index, groups };
  if (typeof wrapper.index === 'object' && wrapper.index !== null) return { index: wrapper.index as PlainIndex, groups };
  return undefined;
}

export class SearchIndex {
  /** The groups with entries, kept beside the index: MiniSearch can list them only by a match-all
   * search over every document. */
  private readonly groups: Set<string>;

  private constructor(private index: MiniSearch<IndexedMessage>, groups?: Iterable<string>) {
    this.groups = new Set(groups ?? index.search(MiniSearch.wildcard).map((r) => String(r.groupId)));
  }

  static empty(): SearchIndex {
    return new SearchIndex(fresh());
  }

  /** Restores a serialised index; anything unreadable (another format, a damaged value) starts an
   * empty one, which the messages the device holds fill again. */
  static load(serialised: string | undefined): SearchIndex {
    try {
      const stored = unwrap(serialised);
      if (!stored) return SearchIndex.empty();
      const index = typeof stored.index === 'string' ? MiniSearch.loadJSON<IndexedMessage>(stored.index, OPTIONS) : MiniSearch.loadJS<IndexedMessage>(stored.index, OPTIONS);
      return new SearchIndex(index, stored.groups);
    } catch {
      return SearchIndex.empty();
    }
  }

  /** As `load`, rebuilding the index in batches that let the page draw in between. */
  static async loadAsync(serialised: string | undefined): Promise<SearchIndex> {
    try {
      const stored = unwrap(serialised);
      if (!stored) return SearchIndex.empty();
      const index = typeof stored.index === 'string' ? await MiniSearch.loadJSONAsync<IndexedMessage>(stored.index, OPTIONS) : await MiniSearch.loadJSAsync<IndexedMessage>(stored.index, OPTIONS);
      return new SearchIndex(index, stored.groups);
    } catch {
      return SearchIndex.empty();
    }
  }

  serialise(): string {
    // The index as a nested object, not a JSON string inside JSON: one pass, no escaping.
    return JSON.stringify({ format: INDEX_FORMAT, index: this.index, groups: [...this.groups] });
  }

  get size(): number {
    return this.index.documentCount;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** The groups that have messages in the index. */
  groupIds(): ReadonlySet<string> {
    return this.groups;
  }

  /** Adds the messages not indexed yet; returns how many were new. */
  add(messages: readonly IndexedMessage[]): number {
    const seen = new Set<string>();
    const todo = messages.filter((m) => {
      if (!m.text.trim() || this.index.has(m.id) || seen.has(m.id)) return false;
      seen.add(m.id);
      return true;
    });
    for (const m of todo) this.groups.add(m.groupId);
    if (todo.length > 0) this.index.addAll(todo.map((m) => ({ id: m.id, groupId: m.groupId, senderName: m.senderName, sentAt: m.sentAt, text: m.text })));
    return todo.length;
  }

  /** Forgets a group's messages (the person left it, or it was deleted). */
  dropGroup(groupId: string): void {
    const ids: string[] = [];
    // Stored fields are reachable through a match-all search: MiniSearch keeps no per-field lookup.
    for (const r of this.index.search(MiniSearch.wildcard)) if (r.groupId === groupId) ids.push(String(r.id));
    if (ids.length > 0) this.index.discardAll(ids);
    this.groups.delete(groupId);
  }

  /** Results for `query`, grouped by group (the group with the best hit first), each group's hits
   * best first; at most `limit` hits in all. */
  search(query: string, limit = 100): HitGroup[] {
    const q = query.trim();
    if (!q) return [];
    const results: SearchResult[] = this.index.search(q).slice(0, limit);
    const byGroup = new Map<string, Hit[]>();
    for (const r of results) {
      const hit: Hit = {
        id: String(r.id),
        groupId: String(r.groupId),
        senderName: String(r.senderName),
        sentAt: Number(r.sentAt),
        text: String(r.text),
        score: r.score,
        terms: r.terms,
      };
      const list = byGroup.get(hit.groupId) ?? [];
      list.push(hit);
      byGroup.set(hit.groupId, list);
    }
    return [...byGroup].map(([groupId, hits]) => ({ groupId, hits }));
  }
}

/** Splits `text` into pieces, marking those that match one of `terms` (case-insensitive, as whole
 * words or word starts), for highlighting without building markup from strings. */
export function highlight(text: string, terms: readonly string[]): { text: string; match: boolean }[] {
  const words = [...new Set(terms.map((t) => t.toLocaleLowerCase()).filter(Boolean))].sort((a, b) => b.length - a.length);
  if (words.length === 0) return [{ text, match: false }];
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`(${escaped.join('|')})`, 'giu');
  return text
    .split(re)
    .filter((p) => p !== '')
    .map((p) => ({ text: p, match: words.includes(p.toLocaleLowerCase()) }));
}

/** A window of `text` around its first match, so a long message shows where it matched. */
export function snippet(text: string, terms: readonly string[], around = 80): string {
  const lower = text.toLocaleLowerCase();
  const at = Math.min(...terms.map((t) => lower.indexOf(t.toLocaleLowerCase())).filter((i) => i >= 0), Number.MAX_SAFE_INTEGER);
  if (at === Number.MAX_SAFE_INTEGER || text.length <= 2 * around) return text.length <= 2 * around ? text : `${text.slice(0, 2 * around)}…`;
  const start = Math.max(0, at - around);
  const end = Math.min(text.length, at + around);
  return `${start > 0 ? '…' : ''}${text.slice(start, end)}${end < text.length ? '…' : ''}`;
}
