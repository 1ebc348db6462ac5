/** Gruppen: the person's department groups, their secret groups and the public groups, each with
 * its kind in words (not colour alone) and the number of unread messages. */
import { useEffect } from 'preact/hooks';
import { t, tn } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import type { CachedGroup } from '../engine/app-data.js';
import { Link, navigate, pathTo } from '../router.js';
import { PATHS } from '../paths.js';
import { ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { useJoin } from './join.js';
import { OrgKeyHint } from './org-key-hint.js';
import type { MessageKey } from '../i18n/index.js';

export function KindLabel({ kind }: { kind: 'secret' | 'public' }) {
  return (
    <span class={`kind kind-${kind}`}>
      <Icon name={kind === 'secret' ? 'lock' : 'globe'} />
      {kind === 'secret' ? t('group.kindSecretShort') : t('group.kindPublicShort')}
    </span>
  );
}

function UnreadBadge({ n }: { n: number }) {
  if (n <= 0) return null;
  return <span class="badge">{tn('groups.unread', n, { shown: n > 99 ? '99+' : String(n) })}</span>;
}

function GroupRow({ g, unread }: { g: CachedGroup; unread: number }) {
  const { joining, problem, join } = useJoin(g.id);
  const href = pathTo(PATHS.group, { id: g.id });
  return (
    <li class="group-row">
      <Link href={href} class="group-link">
        <span class="group-text">
          <span class="group-name">{g.name}</span>
          <span class="group-meta">
            <KindLabel kind={g.kind} />
            <span>{tn('groups.members', g.members)}</span>
          </span>
        </span>
        <UnreadBadge n={unread} />
      </Link>
      {!g.isMember && g.kind === 'public' && (
        <button
          type="button"
          class="button"
          disabled={joining}
          aria-label={t('groups.joinNamed', { name: g.name })}
          onClick={async () => {
            if (await join()) navigate(href);
          }}
        >
          {joining ? t('groups.joining') : t('groups.join')}
        </button>
      )}
      {problem && <ProblemMessage problem={problem} />}
    </li>
  );
}

function Section({ title, groups, unread, empty }: { title: MessageKey; groups: CachedGroup[]; unread: Record<string, number>; empty: MessageKey }) {
  const id = `section-${title}`;
  return (
    <section aria-labelledby={id} class="group-section">
      <h2 id={id}>{t(title)}</h2>
      {groups.length === 0 ? (
        <p class="muted">{t(empty)}</p>
      ) : (
        <ul class="group-list">
          {groups.map((g) => (
            <GroupRow key={g.id} g={g} unread={unread[g.id] ?? 0} />
          ))}
        </ul>
      )}
    </section>
  );
}

export function sortGroups(groups: CachedGroup[]): CachedGroup[] {
  return [...groups].sort((a, b) => a.name.localeCompare(b.name));
}

export function GroupsScreen() {
  const { engine, state } = useEngine();
  // Being added to a group sends no message: the list is read again whenever it is opened.
  useEffect(() => {
    void engine.refreshGroups();
  }, []);
  const groups = sortGroups(state.groups ?? []);
  const department = groups.filter((g) => g.departmentId !== null && g.isMember);
  const rest = groups.filter((g) => !department.includes(g));
  const secret = rest.filter((g) => g.kind === 'secret' && g.isMember);
  const open = rest.filter((g) => g.kind === 'public');
  return (
    <div class="screen">
      <div class="title-row">
        <ScreenTitle>{t('groups.title')}</ScreenTitle>
        <Link href={PATHS.newGroup} class="button primary">
          <Icon name="plus" />
          {t('groups.newSecret')}
        </Link>
      </div>
      <OrgKeyHint />
      {state.groupsProblem && !state.groups && <ProblemMessage problem={state.groupsProblem} />}
      {!state.groups ? (
        <p role="status">{t('groups.loading')}</p>
      ) : (
        <>
          <Section title="groups.department" groups={department} unread={state.unread} empty="groups.departmentEmpty" />
          <Section title="groups.secret" groups={secret} unread={state.unread} empty="groups.secretEmpty" />
          <Section title="groups.public" groups={open} unread={state.unread} empty="groups.publicEmpty" />
        </>
      )}
    </div>
  );
}
