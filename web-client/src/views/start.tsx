/** Start: the newest messages of the person's groups, newest first, each linking into its group. */
import { formatMessageTime, t } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import { Link, pathTo } from '../router.js';
import { PATHS } from '../paths.js';
import { ScreenTitle } from '../ui/common.js';
import { KindLabel } from './groups.js';
import { OrgKeyHint } from './org-key-hint.js';

const NEWEST = 20;

export function StartScreen() {
  const { engine, state } = useEngine();
  const recent = engine.recent(NEWEST);
  const byId = new Map((state.groups ?? []).map((g) => [g.id, g]));
  const memberOf = (state.groups ?? []).filter((g) => g.isMember).length;
  return (
    <div class="screen">
      <ScreenTitle>{t('start.title')}</ScreenTitle>
      <p class="greeting">{t('start.greeting', { name: state.me?.name ?? '' })}</p>
      <OrgKeyHint />
      <section aria-labelledby="start-newest">
        <h2 id="start-newest">{t('start.newest')}</h2>
        {recent.length === 0 ? (
          !state.groups ? (
            <p role="status">{t('groups.loading')}</p>
          ) : memberOf === 0 ? (
            <p>
              {t('start.noGroups')} <Link href={PATHS.groups}>{t('start.toGroups')}</Link>
            </p>
          ) : (
            <p>{t('start.noMessages')}</p>
          )
        ) : (
          <ul class="feed">
            {recent.map((m) => {
              const g = byId.get(m.groupId);
              return (
                <li key={`${m.groupId}-${m.key}`}>
                  <Link href={pathTo(PATHS.group, { id: m.groupId })} class="feed-item">
                    <span class="feed-group">
                      {g?.name ?? ''} {g && <KindLabel kind={g.kind} />}
                    </span>
                    <span class="feed-text">{m.text}</span>
                    <span class="feed-meta">
                      {m.mine ? t('msg.you') : m.senderName} · <time dateTime={new Date(m.sentAt).toISOString()}>{formatMessageTime(m.sentAt)}</time>
                    </span>
                  </Link>
                </li>
              );
            })}
          </ul>
        )}
      </section>
    </div>
  );
}
