/** Suche: one field over everything this device decrypted, results grouped by group, each linking
 * to the message in its group. The index (search-index.ts) is kept by this module for the unlocked
 * session, filled from the engine's messages as they arrive and, in idle time, from every member
 * group's stored messages (search-coverage.ts), and saved through the engine's encrypted store a
 * moment after it changes. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Engine, EngineState } from '../engine/engine.js';
import { useEngine } from '../engine/hooks.js';
import { formatMessageTime, t, tn } from '../i18n/index.js';
import { Link, useLocation, navigate } from '../router.js';
import { PATHS } from '../paths.js';
import { ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { highlight, SearchIndex, snippet, type IndexedMessage } from './search-index.js';
import { Coverage, idleSlice } from './search-coverage.js';
import { messageHref } from '../views/message-anchor.js';
import { readValue, writeValue } from './values.js';

export const SEARCH_PATH = PATHS.search;
const VALUE_KEY = 'search-index';
const SAVE_AFTER_MS = 1500;

interface Live {
  owner: string;
  index: SearchIndex;
  /** Fills the index from every member group's stored messages, in idle time. */
  coverage: Coverage;
  saveTimer?: ReturnType<typeof setTimeout>;
}

let live: Live | undefined;
let loading: Promise<Live> | undefined;

async function openIndex(engine: Engine, owner: string): Promise<Live> {
  if (live?.owner === owner) return live;
  if (!loading) {
    loading = (async () => {
      // Decrypting and rebuilding the stored index waits for idle time: the first screen after
      // unlocking comes first.
      await idleSlice();
      const index = await SearchIndex.loadAsync(await readValue(engine, VALUE_KEY).catch(() => undefined));
      const stored = (groupId: string): IndexedMessage[] | undefined => engine.storedMessages(groupId)?.flatMap((m) => (m.id ? [{ id: m.id, groupId, senderName: m.senderName, sentAt: m.sentAt, text: m.text }] : []));
      const l: Live = {
        owner,
        index,
        coverage: new Coverage(index, stored, (added) => {
          if (added > 0) scheduleSave(engine, l);
          bumpVersion();
        }),
      };
      live = l;
      return l;
    })().finally(() => {
      loading = undefined;
    });
  }
  return loading;
}

/** The message lists already indexed, by group: the engine replaces a list when it changes, so an
 * unchanged list is skipped without looking at its messages. */
const indexedLists = new Map<string, readonly unknown[]>();

function newMessagesOf(state: EngineState, mayIndex: (groupId: string) => boolean): IndexedMessage[] {
  const out: IndexedMessage[] = [];
  for (const [groupId, conv] of Object.entries(state.conversations)) {
    // A group the person can no longer open is skipped, not marked: if it comes back, it is indexed.
    if (indexedLists.get(groupId) === conv.messages || !mayIndex(groupId)) continue;
    indexedLists.set(groupId, conv.messages);
    for (const m of conv.messages) if (m.id) out.push({ id: m.id, groupId, senderName: m.senderName, sentAt: m.sentAt, text: m.text });
  }
  for (const m of state.outgoing) if (m.id && m.status === 'sent' && mayIndex(m.groupId)) out.push({ id: m.id, groupId: m.groupId, senderName: m.senderName, sentAt: m.sentAt, text: m.text });
  return out;
}

function scheduleSave(engine: Engine, l: Live): void {
  if (l.saveTimer) return;
  l.saveTimer = setTimeout(() => {
    l.saveTimer = undefined;
    // Saving serialises the whole index: once at the end of a background pass, not after each slice.
    if (l.coverage.busy) {
      scheduleSave(engine, l);
      return;
    }
    // Serialising is one long task (MiniSearch has no partial form): in idle time, not while the
    // person types or scrolls. The index is filled again from the messages the device holds if
    // this write is lost.
    void idleSlice().then(() => {
      if (live !== l) return;
      return writeValue(engine, VALUE_KEY, l.index.serialise()).catch(() => undefined);
    });
  }, SAVE_AFTER_MS);
}

/** Bumped whenever messages are added, so every open search re-runs its query. */
let indexVersion = 0;
const versionListeners = new Set<(v: number) => void>();

function bumpVersion(): void {
  indexVersion += 1;
  for (const l of versionListeners) l(indexVersion);
}

/** The live index for the unlocked person, kept up to date with the engine's messages. */
function useSearchIndex(): { index?: SearchIndex; version: number } {
  const { engine, state } = useEngine();
  const owner = state.phase === 'ready' ? state.me?.userId : undefined;
  const [version, setVersion] = useState(indexVersion);
  const [index, setIndex] = useState<SearchIndex | undefined>(live?.owner === owner ? live?.index : undefined);

  useEffect(() => {
    versionListeners.add(setVersion);
    return () => {
      versionListeners.delete(setVersion);
    };
  }, []);

  useEffect(() => {
    if (!owner) {
      // Locked: the plaintext index leaves memory with the keys.
      if (live?.saveTimer) clearTimeout(live.saveTimer);
      live?.coverage.stop();
      live = undefined;
      indexedLists.clear();
      setIndex(undefined);
      return;
    }
    let on = true;
    void openIndex(engine, owner).then((l) => on && setIndex(l.index));
    return () => {
      on = false;
    };
  }, [engine, owner]);

  useEffect(() => {
    if (!index || !live || live.index !== index || !state.groups) return;
    // After the list of groups (cached, then the relay's): the coverage runs in idle time.
    if (live.coverage.setGroups(state.groups)) {
      scheduleSave(engine, live);
      bumpVersion();
    }
  }, [index, state.groups]);

  useEffect(() => {
    if (!index || !live || live.index !== index) return;
    if (index.add(newMessagesOf(state, (g) => live!.coverage.mayIndex(g))) > 0) {
      scheduleSave(engine, live);
      bumpVersion();
    }
  }, [index, state.conversations, state.outgoing, state.groups]);

  return { index, version };
}

/** Keeps the index up to date for the whole unlocked session, whichever screen is open (mounted
 * once by the layout). Renders nothing. */
export function SearchIndexer() {
  useSearchIndex();
  return null;
}

export function SearchScreen() {
  const { state } = useEngine();
  const loc = useLocation();
  const initial = new URLSearchParams(loc.search).get('q') ?? '';
  const [query, setQuery] = useState(initial);
  const { index, version } = useSearchIndex();
  const groups = state.groups ?? [];
  const results = useMemo(() => (index ? index.search(query) : []), [index, version, query]);
  const total = results.reduce((n, g) => n + g.hits.length, 0);
  const progress = index && live?.index === index ? live.coverage.progress() : undefined;

  useEffect(() => {
    // The query is in the URL, so back returns to the same results.
    const want = query.trim() ? `${SEARCH_PATH}?q=${encodeURIComponent(query.trim())}` : SEARCH_PATH;
    if (`${loc.path}${loc.search}` !== want) navigate(want, { replace: true });
  }, [query]);

  return (
    <section class="scr" aria-labelledby="scr-search-title">
      <ScreenTitle>
        <span id="scr-search-title">{t('search.title')}</span>
      </ScreenTitle>
      <form role="search" class="scr-search-form" onSubmit={(e) => e.preventDefault()}>
        <label for="scr-search-q" class="visually-hidden">
          {t('search.label')}
        </label>
        <Icon name="search" />
        <input id="scr-search-q" type="search" value={query} placeholder={t('search.placeholder')} autocomplete="off" enterkeyhint="search" onInput={(e) => setQuery(e.currentTarget.value)} aria-describedby="scr-search-scope scr-search-progress" />
      </form>
      <p id="scr-search-scope" class="scr-hint">
        {tn('search.scope', index?.size ?? 0)}
      </p>
      {/* How far the index is, so that a miss while it grows is not taken for a real one. */}
      <p id="scr-search-progress" class="scr-hint" data-testid="search-progress">
        {progress && progress.total > 0 && (progress.done < progress.total ? t('search.progress', { done: progress.done, total: progress.total }) : tn('search.complete', progress.total))}
      </p>
      <div role="status" class="scr-search-count">
        {query.trim() && index && (total === 0 ? t('search.none', { q: query.trim() }) : tn('search.count', total))}
        {!index && state.phase === 'ready' && t('search.loading')}
      </div>
      {results.map((g) => {
        const group = groups.find((x) => x.id === g.groupId);
        const headingId = `scr-search-g-${g.groupId}`;
        return (
          <section key={g.groupId} class="scr-card scr-search-group" aria-labelledby={headingId}>
            <h2 id={headingId}>
              <Icon name={group?.kind === 'secret' ? 'lock' : 'globe'} />
              {group?.name ?? t('search.unknownGroup')}
              <span class="visually-hidden"> · {group?.kind === 'secret' ? t('members.kindSecret') : t('members.kindPublic')}</span>
            </h2>
            <ul class="scr-hits">
              {g.hits.map((h) => (
                <li key={h.id}>
                  <Link href={messageHref(h.groupId, h.id)} class="scr-hit">
                    <span class="scr-hit-meta">
                      <span class="scr-name">{h.senderName}</span> · <time dateTime={new Date(h.sentAt).toISOString()}>{formatMessageTime(h.sentAt)}</time>
                    </span>
                    <span class="scr-hit-text">
                      {highlight(snippet(h.text, h.terms), h.terms).map((p, i) => (p.match ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
                    </span>
                  </Link>
                </li>
              ))}
            </ul>
          </section>
        );
      })}
    </section>
  );
}
