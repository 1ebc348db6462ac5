/** Gruppe: the conversation, newest at the bottom, with the composer fixed below it. The header
 * says at once whether the group is secret (lock icon and the words) or visible to all staff.
 * Every own message shows its state: wird gesendet / gesendet / nicht gesendet – erneut versuchen.
 * What is typed survives leaving the screen (kept per group in memory) and, once sent, sits in the
 * engine's outbox until the relay has it. */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { formatDay, formatMessageTime, formatDateTime, t, tn } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import type { ChatItem } from '../engine/engine.js';
import type { Problem } from '../engine/problems.js';
import { Link, pathTo, useLocation } from '../router.js';
import { PATHS } from '../paths.js';
import type { RouteProps } from '../routes.js';
import { ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { useJoin } from './join.js';
import { elementIdOf, locateMessage, messageElementId, messageIdOfHash } from './message-anchor.js';

/** Messages rendered at first; older ones on request (long histories stay fast on phones). */
const PAGE = 150;
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
function Message({ m, day, target, marked }: { m: ChatItem; day?: string; target?: boolean; marked?: boolean }) {
  const { engine } = useEngine();
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
  const [shown, setShown] = useState(PAGE);
  const list = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const { joining, problem: joinProblem, join } = useJoin(id);
  const { hash } = useLocation();
  const targetId = messageIdOfHash(hash);
  const anchor = targetId === undefined ? undefined : locateMessage(items, targetId, shown, PAGE, conv?.fresh === true && !conv.loading);
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
    if (el && atBottom.current && !pendingTarget) el.scrollTop = el.scrollHeight;
  }, [items.length, id]);

  // A link to one message (`#m-<id>`, e.g. from Suche): draw older pages until it is drawn, then
  // scroll it into view, mark it for a moment and move the focus to it, so a screen reader reads
  // the message the person came for rather than the screen's title.
  useEffect(() => {
    if (!pendingTarget || targetId === undefined || anchor?.state !== 'found') return;
    if (anchor.shown !== shown) {
      setShown(anchor.shown);
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
  }, [id, hash, pendingTarget, anchor?.state, anchor?.state === 'found' ? anchor.shown : 0, shown]);

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

  const visible = items.slice(-shown);
  return (
    <div class="chat">
      <header class="chat-head">
        <ScreenTitle back={PATHS.groups} backLabel={t('group.backToGroups')}>
          {group.name}
        </ScreenTitle>
        <div class="chat-head-row">
          <KindLine kind={group.kind} />
          <Link href={pathTo(PATHS.members, { id })} class="button small">
            <Icon name="members" />
            {t('group.members')}
          </Link>
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
        {items.length > shown && (
          <p class="older">
            <button type="button" class="button" onClick={() => setShown((n) => n + PAGE)}>
              {tn('group.older', items.length - shown)}
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
        <ol class="message-list">
          {visible.map((m, i) => {
            const newDay = i === 0 || new Date(visible[i - 1].sentAt).toDateString() !== new Date(m.sentAt).toDateString();
            const ref = m.id ?? m.key;
            return <Message key={m.key} m={m} day={newDay ? formatDay(m.sentAt) : undefined} target={ref === focused} marked={ref === marked} />;
          })}
        </ol>
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
      <Link class="button" href={pathTo(PATHS.members, { id: group.id })}>
        {t('group.showMembers')}
      </Link>
    </div>
  );
}
