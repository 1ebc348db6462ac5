/** Gruppe: the conversation, newest at the bottom, with the composer fixed below it. The header
 * says at once whether the group is secret (lock icon and the words) or visible to all staff.
 * Every own message shows its state: wird gesendet / gesendet / nicht gesendet – erneut versuchen.
 * What is typed survives leaving the screen (kept per group in memory) and, once sent, sits in the
 * engine's outbox until the relay has it. */
import { Component } from 'preact';
import { useContext, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { currentLang, formatDay, formatMessageTime, formatDateTime, t, tn } from '../i18n/index.js';
import { EngineContext, useEngine } from '../engine/hooks.js';
import type { ChatItem } from '../engine/engine.js';
import type { Problem } from '../engine/problems.js';
import { Link, pathTo, useLocation } from '../router.js';
import { PATHS } from '../paths.js';
import type { RouteProps } from '../routes.js';
import { ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { useJoin } from './join.js';
import { distanceFromEnd, elementIdOf, locateMessage, messageElementId, messageIdOfHash } from './message-anchor.js';
import { drawnRange, latest, newerPage, olderPage, revealing, type MessageWindow } from './message-window.js';

/** Messages rendered at first; older ones a page at a time as the person scrolls up (long
 * histories stay fast on phones). */
const PAGE = 150;
/** At most this many messages are drawn at once, however far back the person scrolls. */
const MAX_DRAWN = 3 * PAGE;
/** How close (px) to the top or bottom edge of what is drawn the next page is drawn. */
const SENTINEL_MARGIN = '400px 0px';
/** How long a message a link pointed to stays marked. */
const TARGET_MARK_MS = 3000;
const drafts = new Map<string, string>();

function KindLine({ kind }: { kind: 'secret' | 'public' }) {
  return (
    <p class={`kind-line kind-${kind}`}>
      <Icon name={kind === 'secret' ? 'lock' : 'globe'} />
      {kind === 'secret' ? t('group.kindSecret') : t('group.kindPublic')}
    </p>
  );
}

function Status({ m, onRetry, onDiscard }: { m: ChatItem; onRetry: () => void; onDiscard: () => void }) {
  if (!m.mine) return null;
  if (m.status === 'failed') {
    return (
      <div class="msg-status failed">
        <Icon name="alert" />
        <span>{t('msg.failed')}</span>
        <button type="button" class="link-button" onClick={onRetry}>
          {t('msg.retry')}
        </button>
        <button type="button" class="link-button" onClick={onDiscard}>
          {t('msg.discard')}
        </button>
        {m.problem && <span class="msg-problem">{t(m.problem.key, m.problem.params)}</span>}
      </div>
    );
  }
  if (m.status === 'sending') return <p class="msg-status">{t('msg.sending')}</p>;
  return (
    <p class="msg-status">
      <Icon name="check" />
      {t('msg.sent')}
    </p>
  );
}

/** One message per list item; the day heading, where a new day starts, sits in the same item so
 * the list holds exactly the messages. */
interface MessageProps {
  m: ChatItem;
  day?: string;
  target?: boolean;
  marked?: boolean;
}

function Message({ m, day, target, marked }: MessageProps) {
  // The engine only, not its state: a message redraws when its own item changes, not at every
  // change of the app's state (a catch-up changes it many times a second).
  const engine = useContext(EngineContext)!;
  // The message a link points to takes the focus (tabIndex -1: reachable by script, not by Tab),
  // and keeps it focusable after the mark fades, so the focus is not lost.
  return (
    <li id={messageElementId(m)} class={`${m.mine ? 'msg mine' : 'msg'}${marked ? ' msg-target' : ''}`} data-status={m.status} tabIndex={target ? -1 : undefined}>
      {day && <p class="day">{day}</p>}
      <article aria-label={t('msg.from', { name: m.mine ? t('msg.you') : m.senderName })}>
        <header class="msg-head">
          <span class="msg-sender">{m.mine ? t('msg.you') : m.senderName}</span>
          <time dateTime={new Date(m.sentAt).toISOString()} title={formatDateTime(m.sentAt)}>
            {formatMessageTime(m.sentAt)}
          </time>
        </header>
        <p class="msg-text">{m.text}</p>
        <Status m={m} onRetry={() => m.outboxNo !== undefined && void engine.retry(m.outboxNo)} onDiscard={() => m.outboxNo !== undefined && void engine.discard(m.outboxNo)} />
      </article>
    </li>
  );
}

/** What a message shows; anything else of the item (its key, the outbox number) does not change
 * how it looks. */
function sameMessage(a: MessageProps, b: MessageProps): boolean {
  const x = a.m;
  const y = b.m;
  return (
    a.day === b.day && a.target === b.target && a.marked === b.marked &&
    (x === y || (x.key === y.key && x.id === y.id && x.text === y.text && x.sentAt === y.sentAt && x.senderName === y.senderName && x.mine === y.mine && x.status === y.status && x.problem === y.problem && x.outboxNo === y.outboxNo))
  );
}

/** A message drawn again only when what it shows changed: a conversation re-renders on every
 * message that arrives, and redrawing the hundreds on screen each time made opening a large group
 * slow. */
class MessageRow extends Component<MessageProps> {
  /** The language it was drawn in: a switch redraws it. */
  private lang = currentLang();

  override shouldComponentUpdate(next: MessageProps): boolean {
    return this.lang !== currentLang() || !sameMessage(this.props, next);
  }

  override render() {
    this.lang = currentLang();
    return <Message {...this.props} />;
  }
}

function Composer({ groupId, groupName }: { groupId: string; groupName: string }) {
  const { engine, state } = useEngine();
  const [text, setText] = useState(drafts.get(groupId) ?? '');
  const [problem, setProblem] = useState<Problem>();
  const blocked = state.alarms.length > 0;

  useEffect(() => {
    setText(drafts.get(groupId) ?? '');
  }, [groupId]);

  async function send() {
    const value = text.trim();
    if (!value || blocked) return;
    const result = await engine.send(groupId, value);
    if (result.ok) {
      drafts.delete(groupId);
      setText('');
      setProblem(undefined);
    } else {
      setProblem(result.problem);
    }
  }

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      {blocked && (
        <p class="composer-blocked" id="composer-blocked">
          <Icon name="alert" />
          <span>{t('alarm.sendingBlocked')}</span>
        </p>
      )}
      {problem && <ProblemMessage problem={problem} />}
      <div class="composer-row">
        <label for="composer-text" class="visually-hidden">
          {t('composer.label', { name: groupName })}
        </label>
        <textarea
          id="composer-text"
          rows={1}
          value={text}
          placeholder={t('composer.placeholder')}
          aria-describedby={blocked ? 'composer-blocked composer-hint' : 'composer-hint'}
          onInput={(e) => {
            setText(e.currentTarget.value);
            drafts.set(groupId, e.currentTarget.value);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void send();
            }
          }}
        />
        <button type="submit" class="button primary send" disabled={blocked}>
          <Icon name="send" />
          <span>{t('composer.send')}</span>
        </button>
      </div>
      <p id="composer-hint" class="visually-hidden">
        {t('composer.hint')}
      </p>
    </form>
  );
}

export function GroupScreen({ params }: RouteProps) {
  const { engine, state } = useEngine();
  const id = params.id;
  const group = state.groups?.find((g) => g.id === id);
  const conv = state.conversations[id];
  const items = engine.chat(id);
  const [win, setWin] = useState<MessageWindow>(() => latest(PAGE));
  const list = useRef<HTMLDivElement>(null);
  const top = useRef<HTMLDivElement>(null);
  const bottom = useRef<HTMLDivElement>(null);
  /** A message drawn before and after a change of the window, and where it was on screen: the
   * list is scrolled back so it stays put (the person's place is kept while pages come and go). */
  const keep = useRef<{ elementId: string; top: number } | undefined>(undefined);
  const atBottom = useRef(true);
  const { joining, problem: joinProblem, join } = useJoin(id);
  const { hash } = useLocation();
  const targetId = messageIdOfHash(hash);
  const anchor = targetId === undefined ? undefined : locateMessage(items, targetId, win.shown, PAGE, conv?.fresh === true && !conv.loading);
  const distance = targetId === undefined ? undefined : distanceFromEnd(items, targetId);
  const { start, end } = drawnRange(items.length, win);
  const visible = items.slice(start, end);
  /** The group and fragment whose message was already brought into view (once per link). */
  const reached = useRef<string | undefined>(undefined);
  const pendingTarget = targetId !== undefined && reached.current !== `${id}${hash}` && anchor?.state !== 'missing';
  const [focused, setFocused] = useState<string>();
  const [marked, setMarked] = useState<string>();

  useEffect(() => {
    engine.showing(id);
    if (!state.conversations[id]?.fresh) void engine.openGroup(id);
    return () => engine.showing(undefined);
  }, [id]);

  useEffect(() => {
    if (conv?.fresh) engine.markRead(id);
  }, [items.length]);

  // Stay at the newest message unless the person scrolled up to read older ones.
  useLayoutEffect(() => {
    const el = list.current;
    if (el && atBottom.current && !pendingTarget && win.skip === 0) el.scrollTop = el.scrollHeight;
    // Also when the list first appears: a group missing from the cached list is drawn only once
    // the relay's list has it, with its messages already there.
  }, [items.length, id, group !== undefined]);

  /** Changes the window keeping `still` (a message drawn before and after) where it is on screen. */
  function moveWindow(next: MessageWindow, still: ChatItem | undefined) {
    const el = still && document.getElementById(messageElementId(still));
    keep.current = el ? { elementId: el.id, top: el.getBoundingClientRect().top } : undefined;
    setWin(next);
  }
  const olderNow = () => moveWindow(olderPage(win, items.length, PAGE, MAX_DRAWN), visible[0]);
  const newerNow = () => moveWindow(newerPage(win, PAGE, MAX_DRAWN), visible[visible.length - 1]);
  const paging = useRef({ olderNow, newerNow, more: start > 0, less: win.skip > 0 });
  paging.current = { olderNow, newerNow, more: start > 0, less: win.skip > 0 };

  useLayoutEffect(() => {
    const k = keep.current;
    keep.current = undefined;
    const el = k && document.getElementById(k.elementId);
    if (k && el && list.current) list.current.scrollTop += el.getBoundingClientRect().top - k.top;
    else if (!k && list.current && atBottom.current && win.skip === 0) list.current.scrollTop = list.current.scrollHeight;
  }, [win]);

  // Sentinels at both ends of what is drawn: reaching one (scrolling, or the keyboard) draws the
  // next page there. The buttons beside them do the same for those who prefer them.
  useEffect(() => {
    const root = list.current;
    if (!root || typeof IntersectionObserver === 'undefined') return;
    const observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          if (e.target === top.current && paging.current.more) paging.current.olderNow();
          if (e.target === bottom.current && paging.current.less) paging.current.newerNow();
        }
      },
      { root, rootMargin: SENTINEL_MARGIN },
    );
    if (top.current) observer.observe(top.current);
    if (bottom.current) observer.observe(bottom.current);
    return () => observer.disconnect();
  }, [id, group !== undefined, start > 0, win.skip > 0]);

  // A link to one message (`#m-<id>`, e.g. from Suche): draw older pages until it is drawn, then
  // scroll it into view, mark it for a moment and move the focus to it, so a screen reader reads
  // the message the person came for rather than the screen's title.
  useEffect(() => {
    if (!pendingTarget || targetId === undefined || anchor?.state !== 'found' || distance === undefined) return;
    const want = revealing(win, distance, PAGE, MAX_DRAWN);
    if (want !== win) {
      setWin(want);
      return;
    }
    // After the shell's own move of the focus to the title, which follows every navigation.
    const timer = setTimeout(() => {
      const el = document.getElementById(elementIdOf(targetId));
      if (!el) return;
      reached.current = `${id}${hash}`;
      atBottom.current = false;
      el.scrollIntoView({ block: 'center' });
      setFocused(targetId);
      setMarked(targetId);
      requestAnimationFrame(() => el.focus({ preventScroll: true }));
    }, 0);
    return () => clearTimeout(timer);
  }, [id, hash, pendingTarget, anchor?.state, distance, win]);

  useEffect(() => {
    if (marked === undefined) return;
    const timer = setTimeout(() => setMarked(undefined), TARGET_MARK_MS);
    return () => clearTimeout(timer);
  }, [marked]);

  if (!group && !state.groups) return <p role="status">{t('groups.loading')}</p>;
  if (!group) {
    return (
      <div class="screen">
        <ScreenTitle back={PATHS.groups}>{t('group.unknownTitle')}</ScreenTitle>
        <p>{t('group.unknown')}</p>
      </div>
    );
  }

  return (
    <div class="chat">
      <header class="chat-head">
        <ScreenTitle back={PATHS.groups} backLabel={t('group.backToGroups')}>
          {group.name}
        </ScreenTitle>
        <div class="chat-head-row">
          <KindLine kind={group.kind} />
          <span class="chat-head-actions">
            <Link href={pathTo(PATHS.members, { id })} class="button small">
              <Icon name="members" />
              {t('group.members')}
            </Link>
            <Link href={pathTo(PATHS.groupSettings, { id })} class="button small">
              {t('groupSettings.open')}
            </Link>
          </span>
        </div>
      </header>
      {/* No network is said once, by the banner above; the cached messages stay readable. */}
      {conv?.problem && conv.problem.key !== 'problem.offline' && !(conv.problem.key === 'problem.notMember' && !group.isMember) && (
        <ProblemMessage problem={conv.problem} polite />
      )}
      {!group.isMember && group.kind === 'public' && (
        <div class="join-box">
          <p>{t('group.notMember')}</p>
          {joinProblem && <ProblemMessage problem={joinProblem} />}
          <button
            type="button"
            class="button primary"
            disabled={joining}
            onClick={() => void join()}
          >
            {joining ? t('groups.joining') : t('groups.join')}
          </button>
        </div>
      )}
      <div
        class="messages"
        ref={list}
        role="log"
        aria-label={t('group.messages', { name: group.name })}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
        }}
      >
        {start > 0 && (
          <p class="older">
            <button type="button" class="button" onClick={olderNow}>
              {tn('group.older', start)}
            </button>
          </p>
        )}
        {targetId !== undefined && anchor?.state === 'missing' && (
          <p class="gone" role="status">
            <Icon name="alert" />
            {t('group.messageGone')}
          </p>
        )}
        {visible.length === 0 && <p class="empty">{conv?.loading || !conv ? t('group.loading') : t('group.empty')}</p>}
        <div ref={top} class="sentinel" aria-hidden="true" />
        <ol class="message-list">
          {visible.map((m, i) => {
            const newDay = i === 0 || new Date(visible[i - 1].sentAt).toDateString() !== new Date(m.sentAt).toDateString();
            const ref = m.id ?? m.key;
            return <MessageRow key={m.key} m={m} day={newDay ? formatDay(m.sentAt) : undefined} target={ref === focused} marked={ref === marked} />;
          })}
        </ol>
        <div ref={bottom} class="sentinel" aria-hidden="true" />
        {win.skip > 0 && (
          <p class="older">
            <button
              type="button"
              class="button"
              onClick={() => {
                atBottom.current = true;
                moveWindow(latest(PAGE), undefined);
              }}
            >
              {t('group.toNewest')}
            </button>
          </p>
        )}
      </div>
      {(group.isMember || group.kind === 'secret') && <Composer groupId={id} groupName={group.name} />}
    </div>
  );
}

/** The right-hand pane on wide screens: what the group is and who is in it. */
export function GroupDetail({ params }: RouteProps) {
  const { state } = useEngine();
  const group = state.groups?.find((g) => g.id === params.id);
  if (!group) return null;
  return (
    <div class="detail-card">
      <h2>{t('group.about')}</h2>
      <KindLine kind={group.kind} />
      {group.description && <p>{group.description}</p>}
      <p>{tn('groups.members', group.members)}</p>
      <p>{group.kind === 'secret' ? t('group.secretExplained') : t('group.publicExplained')}</p>
      <p class="detail-actions">
        <Link class="button" href={pathTo(PATHS.members, { id: group.id })}>
          {t('group.showMembers')}
        </Link>
        <Link class="button" href={pathTo(PATHS.groupSettings, { id: group.id })}>
          {t('groupSettings.open')}
        </Link>
      </p>
    </div>
  );
}
