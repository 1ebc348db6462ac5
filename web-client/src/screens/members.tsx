/** Mitglieder: who is in a group, and for each person whether this device checked their keys —
 * in the key-transparency log (always, automatically) and in person (the safety number). A group's
 * owners add people by name from the directory and remove them, after saying what that means. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { useEngine } from '../engine/hooks.js';
import { t } from '../i18n/index.js';
import { Link, pathTo } from '../router.js';
import { PATHS } from '../paths.js';
import { ProblemMessage, ScreenTitle, initials } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { ConfirmDialog, useAction, useLoad, VerificationBadge } from './parts.js';
import { loadMarks, verificationOf, type Verification, type VerifiedUser } from './verification.js';

export const MEMBERS_PATH = PATHS.members;
export const SAFETY_PATH = PATHS.safetyNumber;

/** Verifying someone asks the relay for their log entries and proofs: done for this many members
 * when the screen opens, for the rest on request (a department's group may have hundreds). */
const AUTO_VERIFY = 40;
/** A verification is reused for this long when the person comes back to the list. */
const VERIFY_FRESH_MS = 5 * 60_000;

interface Member {
  id: string;
  name: string;
  devices: string[];
  owner: boolean;
}

const verified = new Map<string, { v?: VerifiedUser; failed?: boolean; at: number }>();

/** Verifies a person through the engine, reusing a recent answer. */
export async function verifyPerson(run: <T>(fn: (c: import('../engine/sdk.js').AgoraClient) => Promise<T>) => Promise<T>, userId: string, fresh = false): Promise<VerifiedUser | undefined> {
  const held = verified.get(userId);
  if (!fresh && held && Date.now() - held.at < VERIFY_FRESH_MS) return held.v;
  try {
    const v = await run((c) => c.verifyUser(userId));
    verified.set(userId, { v, at: Date.now() });
    return v;
  } catch (e) {
    // Refused (the log does not prove this person's keys): an alarm was raised; the screen says so.
    if ((e as { code?: string }).code === 'forbidden') {
      verified.set(userId, { failed: true, at: Date.now() });
      return undefined;
    }
    throw e;
  }
}

export function forgetVerified(userId: string): void {
  verified.delete(userId);
}

export function MembersScreen({ params }: { params: Record<string, string> }) {
  const groupId = params.id;
  const { engine, state } = useEngine();
  const group = state.groups?.find((g) => g.id === groupId);
  const me = state.me?.userId;
  const members = useLoad(() => engine.run((c) => c.groupMembers(groupId)), [groupId]);
  const [states, setStates] = useState<Record<string, Verification>>({});
  const [verifyAll, setVerifyAll] = useState(false);
  const [removing, setRemoving] = useState<Member | undefined>();
  const [promoting, setPromoting] = useState<Member | undefined>();
  const action = useAction();

  const list = members.data ?? [];
  const iAmOwner = list.some((m) => m.id === me && m.owner);
  const canManage = group?.kind === 'secret' && iAmOwner;

  useEffect(() => {
    let live = true;
    void (async () => {
      const marks = await loadMarks(engine);
      const todo = list.filter((m) => m.id !== me).slice(0, verifyAll ? undefined : AUTO_VERIFY);
      for (const m of todo) {
        if (!live) return;
        setStates((s) => ({ ...s, [m.id]: s[m.id] ?? 'checking' }));
        let next: Verification;
        try {
          const v = await verifyPerson((fn) => engine.run(fn), m.id);
          next = v ? verificationOf(marks[m.id], v) : 'failed';
        } catch {
          // Not reachable now (offline): left as not checked; the list itself says what failed.
          next = 'unchecked';
        }
        if (live) setStates((s) => ({ ...s, [m.id]: next }));
      }
    })();
    return () => {
      live = false;
    };
  }, [members.data, verifyAll]);

  // A person an unhandled alarm is about shows as changed, whatever the log check said.
  const alarmed = useMemo(() => new Set(state.alarms.flatMap((a) => (a.subject ? [a.subject.userId] : []))), [state.alarms]);
  const sorted = useMemo(() => [...list].sort((a, b) => Number(b.id === me) - Number(a.id === me) || a.name.localeCompare(b.name)), [list, me]);
  const unverifiedLeft = !verifyAll && list.filter((m) => m.id !== me).length > AUTO_VERIFY;

  // The group list (and with it every member count on screen, such as the detail pane's) was read
  // before this change; read it again along with the member list.
  function membershipChanged() {
    members.reload();
    void engine.refreshGroups();
  }

  async function remove(m: Member) {
    const ok = await action.run(async () => {
      await engine.run((c) => c.removeMembers(groupId, [m.id]));
      return true;
    });
    setRemoving(undefined);
    if (ok) membershipChanged();
  }

  async function promote(m: Member) {
    const ok = await action.run(async () => {
      await engine.run((c) => c.addOwner(groupId, m.id));
      return true;
    });
    setPromoting(undefined);
    if (ok) members.reload();
  }

  const title = group ? t('members.titleOf', { group: group.name }) : t('members.title');
  return (
    <section class="scr" aria-labelledby="scr-members-title">
      <ScreenTitle back={pathTo('/gruppen/:id', { id: groupId })} backLabel={t('members.backToGroup')}>
        <span id="scr-members-title">{title}</span>
      </ScreenTitle>
      {group && (
        <p class="scr-kind">
          <Icon name={group.kind === 'secret' ? 'lock' : 'globe'} />
          {group.kind === 'secret' ? t('members.kindSecret') : t('members.kindPublic')}
        </p>
      )}
      {members.problem && <ProblemMessage problem={members.problem} />}
      {action.problem && <ProblemMessage problem={action.problem} />}
      {members.loading && !members.data && <p role="status">{t('members.loading')}</p>}
      {members.data && (
        <>
          <p class="scr-hint">{t('members.explain')}</p>
          <ul class="scr-list" aria-label={t('members.listLabel', { n: list.length })}>
            {sorted.map((m) => (
              <li key={m.id} class="scr-row">
                <span class="scr-avatar" aria-hidden="true">
                  {initials(m.name)}
                </span>
                <span class="scr-row-main">
                  <span class="scr-name">
                    {m.name}
                    {m.id === me && <span class="scr-tag">{t('members.you')}</span>}
                    {m.owner && <span class="scr-tag">{t('members.owner')}</span>}
                  </span>
                  {m.id !== me && <VerificationBadge state={alarmed.has(m.id) ? 'changed' : (states[m.id] ?? 'unchecked')} />}
                </span>
                {m.id !== me && (
                  <span class="scr-row-actions">
                    <Link class="button" href={pathTo(SAFETY_PATH, { id: groupId, userId: m.id })} aria-label={t('members.compareWith', { name: m.name })}>
                      {t('members.compare')}
                    </Link>
                    {canManage && !m.owner && (
                      <button type="button" class="button" onClick={() => setPromoting(m)} aria-label={t('members.makeOwnerWho', { name: m.name })}>
                        {t('members.makeOwner')}
                      </button>
                    )}
                    {canManage && (
                      <button type="button" class="button scr-danger-text" onClick={() => setRemoving(m)} aria-label={t('members.removeWho', { name: m.name })}>
                        {t('members.remove')}
                      </button>
                    )}
                  </span>
                )}
              </li>
            ))}
          </ul>
          {unverifiedLeft && (
            <button type="button" class="button" onClick={() => setVerifyAll(true)}>
              {t('members.verifyAll', { n: list.length - 1 })}
            </button>
          )}
          {canManage && <AddPeople groupId={groupId} members={list} onAdded={membershipChanged} />}
          {!canManage && group?.kind === 'secret' && <p class="scr-hint">{t('members.onlyOwners')}</p>}
        </>
      )}
      {promoting && (
        <ConfirmDialog
          title={t('members.makeOwnerTitle', { name: promoting.name })}
          confirmLabel={t('members.makeOwnerConfirm')}
          busy={action.busy}
          onCancel={() => setPromoting(undefined)}
          onConfirm={() => void promote(promoting)}
        >
          <p>{t('members.makeOwnerWhat', { name: promoting.name })}</p>
        </ConfirmDialog>
      )}
      {removing && (
        <ConfirmDialog
          title={t('members.removeTitle', { name: removing.name })}
          confirmLabel={t('members.removeConfirm')}
          danger
          busy={action.busy}
          onCancel={() => setRemoving(undefined)}
          onConfirm={() => void remove(removing)}
        >
          <p>{t('members.removeWhat', { name: removing.name, group: group?.name ?? '' })}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function AddPeople({ groupId, members, onAdded }: { groupId: string; members: Member[]; onAdded: () => void }) {
  const { engine } = useEngine();
  const [query, setQuery] = useState('');
  const [added, setAdded] = useState<string | undefined>();
  const directory = useLoad(() => engine.run((c) => c.directory()), []);
  const action = useAction();
  const inGroup = new Set(members.map((m) => m.id));
  const q = query.trim().toLocaleLowerCase();
  const matches = q
    ? (directory.data?.users ?? []).filter((u) => u.status === 'active' && !inGroup.has(u.id) && u.name.toLocaleLowerCase().includes(q)).slice(0, 20)
    : [];

  async function add(userId: string, name: string) {
    const ok = await action.run(async () => {
      await engine.run((c) => c.addMembers(groupId, [userId]));
      return true;
    });
    if (ok) {
      setAdded(name);
      setQuery('');
      onAdded();
    }
  }

  return (
    <section class="scr-card" aria-labelledby="scr-add-title">
      <h2 id="scr-add-title">{t('members.addTitle')}</h2>
      <div class="field" role="search">
        <label for="scr-add-query">{t('members.addSearch')}</label>
        <input id="scr-add-query" type="search" autocomplete="off" value={query} onInput={(e) => setQuery(e.currentTarget.value)} aria-describedby="scr-add-hint" />
        <p class="hint" id="scr-add-hint">
          {t('members.addHint')}
        </p>
      </div>
      {directory.problem && <ProblemMessage problem={directory.problem} />}
      {action.problem && <ProblemMessage problem={action.problem} />}
      {added && (
        <p role="status" class="scr-ok">
          <Icon name="check" /> {t('members.added', { name: added })}
        </p>
      )}
      {q && (
        <ul class="scr-list" aria-label={t('members.addResults')}>
          {matches.length === 0 && <li class="scr-empty">{t('members.addNone')}</li>}
          {matches.map((u) => (
            <li key={u.id} class="scr-row">
              <span class="scr-avatar" aria-hidden="true">
                {initials(u.name)}
              </span>
              <span class="scr-row-main">
                <span class="scr-name">{u.name}</span>
              </span>
              <button type="button" class="button primary" disabled={action.busy} onClick={() => void add(u.id, u.name)} aria-label={t('members.addWho', { name: u.name })}>
                {t('members.add')}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
