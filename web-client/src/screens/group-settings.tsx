/** Gruppe verwalten (a group's settings): renaming a group and changing its description, leaving
 * it, deleting it — each offered only to the people the relay and the group's members accept it from:
 * - a secret group: its owners rename and describe it (a meta record, encrypted to the members);
 *   nobody can leave one by themselves (an owner removes them) and the relay cannot delete one, so
 *   neither is offered;
 * - a public group of no department: its creator or an administrator renames or deletes it; any
 *   member leaves it;
 * - a department's group follows its department (renamed in Verwaltung); members may leave it;
 * - any member of a secret group may renew their device's key there at once (`agora group update`).
 * Whatever the relay still refuses is shown in words; destructive steps are confirmed first. */
import { useEffect, useState } from 'preact/hooks';
import { useEngine } from '../engine/hooks.js';
import type { CachedGroup } from '../engine/app-data.js';
import { t } from '../i18n/index.js';
import { Link, navigate, pathTo } from '../router.js';
import { PATHS } from '../paths.js';
import { Field, ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { ConfirmDialog, useAction, useLoad } from './parts.js';

export const GROUP_SETTINGS_PATH = PATHS.groupSettings;

/** The longest name and description the SDK accepts (LIMITS.nameChars, MAX_DESCRIPTION_CHARS): the
 * field stops there instead of the save failing. */
const NAME_CHARS = 120;
const DESCRIPTION_CHARS = 2_000;

export function GroupSettingsScreen({ params }: { params: Record<string, string> }) {
  const groupId = params.id;
  const { engine, state } = useEngine();
  const group = state.groups?.find((g) => g.id === groupId);
  const [done, setDone] = useState<string>();

  // The list may predate a rename or a change of owners elsewhere: read it again on arrival.
  useEffect(() => {
    void engine.refreshGroups();
  }, [groupId]);

  const title = group ? t('groupSettings.titleOf', { group: group.name }) : t('groupSettings.title');
  return (
    <section class="scr" aria-labelledby="scr-gs-title">
      <ScreenTitle back={pathTo(PATHS.group, { id: groupId })} backLabel={t('groupSettings.backToGroup')}>
        <span id="scr-gs-title">{title}</span>
      </ScreenTitle>
      {done && (
        <p role="status" class="scr-ok">
          <Icon name="check" /> {done}
        </p>
      )}
      {!group ? (
        state.groups ? <p>{t('group.unknown')}</p> : <p role="status">{t('groupSettings.loading')}</p>
      ) : (
        <>
          <p class="scr-kind">
            <Icon name={group.kind === 'secret' ? 'lock' : 'globe'} />
            {group.kind === 'secret' ? t('members.kindSecret') : t('members.kindPublic')}
          </p>
          {group.kind === 'secret' ? <SecretSettings group={group} onDone={setDone} /> : <PublicSettings group={group} onDone={setDone} />}
        </>
      )}
    </section>
  );
}

function SecretSettings({ group, onDone }: { group: CachedGroup; onDone: (words: string) => void }) {
  const { engine, state } = useEngine();
  const me = state.me?.userId;
  // Owners as this device's own processing of the group's commits established them.
  const members = useLoad(() => engine.run((c) => c.groupMembers(group.id)), [group.id]);
  const list = members.data ?? [];
  // A group whose owners this device does not know (made by an older release) lets any member.
  const mayRename = list.some((m) => m.id === me && m.owner) || (members.data !== undefined && !list.some((m) => m.owner));
  return (
    <>
      {members.problem && <ProblemMessage problem={members.problem} />}
      {members.loading && !members.data && <p role="status">{t('groupSettings.loading')}</p>}
      {members.data && (
        <section class="scr-card" aria-labelledby="scr-gs-name">
          <h2 id="scr-gs-name">{t('groupSettings.nameTitle')}</h2>
          {group.isMember && mayRename ? (
            <MetaForm group={group} withDescription onDone={onDone} />
          ) : (
            <>
              {group.description && <p>{group.description}</p>}
              <p class="scr-hint">{group.isMember ? t('groupSettings.onlyOwners') : t('groupSettings.notMember')}</p>
            </>
          )}
        </section>
      )}
      {group.isMember && <RefreshKey groupId={group.id} />}
      {group.isMember && (
        <section class="scr-card" aria-labelledby="scr-gs-leave">
          <h2 id="scr-gs-leave">{t('groupSettings.leaveTitle')}</h2>
          <p>{t('groupSettings.leaveSecret')}</p>
          <Link class="button" href={pathTo(PATHS.members, { id: group.id })}>
            <Icon name="members" />
            {t('groupSettings.toMembers')}
          </Link>
        </section>
      )}
    </>
  );
}

/** A fresh key for this device in the group now (an update commit), rather than at the next
 * periodic one: a copy of this device's state taken before stops following the group. */
function RefreshKey({ groupId }: { groupId: string }) {
  const { engine } = useEngine();
  const action = useAction();
  const [done, setDone] = useState(false);
  async function refresh() {
    setDone(false);
    const ok = await action.run(async () => {
      await engine.run((c) => c.updateGroup(groupId));
      return true;
    });
    if (ok) setDone(true);
  }
  return (
    <section class="scr-card" aria-labelledby="scr-gs-key">
      <h2 id="scr-gs-key">{t('groupSettings.keyTitle')}</h2>
      <p>{t('groupSettings.keyText')}</p>
      {action.problem && <ProblemMessage problem={action.problem} />}
      {done && (
        <p role="status" class="scr-ok">
          <Icon name="check" /> {t('groupSettings.keyDone')}
        </p>
      )}
      <button type="button" class="button" disabled={action.busy} onClick={() => void refresh()}>
        {action.busy ? t('groupSettings.keyBusy') : t('groupSettings.key')}
      </button>
    </section>
  );
}

function PublicSettings({ group, onDone }: { group: CachedGroup; onDone: (words: string) => void }) {
  const { engine, state } = useEngine();
  const [confirm, setConfirm] = useState<'leave' | 'delete'>();
  const action = useAction();
  const department = group.departmentId !== null;
  const manager = !department && (state.me?.role === 'admin' || (group.createdBy !== undefined && group.createdBy === state.me?.userId));

  async function leave() {
    const ok = await action.run(async () => {
      await engine.run((c) => c.leaveGroup(group.id));
      return true;
    });
    setConfirm(undefined);
    if (!ok) return;
    await engine.refreshGroups();
    onDone(t('groupSettings.left', { group: group.name }));
  }

  async function remove() {
    const ok = await action.run(async () => {
      await engine.run((c) => c.deleteGroup(group.id));
      return true;
    });
    setConfirm(undefined);
    if (!ok) return;
    await engine.refreshGroups();
    navigate(PATHS.groups, { replace: true });
  }

  return (
    <>
      <section class="scr-card" aria-labelledby="scr-gs-name">
        <h2 id="scr-gs-name">{t('groupSettings.nameTitle')}</h2>
        {manager ? (
          <MetaForm group={group} onDone={onDone} />
        ) : (
          <p class="scr-hint">{department ? t('groupSettings.department') : t('groupSettings.onlyCreator')}</p>
        )}
      </section>
      {action.problem && <ProblemMessage problem={action.problem} />}
      {group.isMember && (
        <section class="scr-card" aria-labelledby="scr-gs-leave">
          <h2 id="scr-gs-leave">{t('groupSettings.leaveTitle')}</h2>
          <p>{t('groupSettings.leaveText')}</p>
          <button type="button" class="button scr-danger-text" onClick={() => setConfirm('leave')}>
            {t('groupSettings.leave')}
          </button>
        </section>
      )}
      {manager && (
        <section class="scr-card" aria-labelledby="scr-gs-delete">
          <h2 id="scr-gs-delete">{t('groupSettings.deleteTitle')}</h2>
          <p>{t('groupSettings.deleteText')}</p>
          <button type="button" class="button scr-danger-text" onClick={() => setConfirm('delete')}>
            {t('groupSettings.delete')}
          </button>
        </section>
      )}
      {confirm === 'leave' && (
        <ConfirmDialog
          title={t('groupSettings.leaveConfirmTitle', { group: group.name })}
          confirmLabel={t('groupSettings.leaveConfirm')}
          danger
          busy={action.busy}
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => void leave()}
        >
          <p>{t('groupSettings.leaveText')}</p>
        </ConfirmDialog>
      )}
      {confirm === 'delete' && (
        <ConfirmDialog
          title={t('groupSettings.deleteConfirmTitle', { group: group.name })}
          confirmLabel={t('groupSettings.deleteConfirm')}
          danger
          busy={action.busy}
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => void remove()}
        >
          <p>{t('groupSettings.deleteText')}</p>
        </ConfirmDialog>
      )}
    </>
  );
}

/** Name (and, for a secret group, description) with one save. */
function MetaForm({ group, withDescription, onDone }: { group: CachedGroup; withDescription?: boolean; onDone: (words: string) => void }) {
  const { engine } = useEngine();
  const [name, setName] = useState(group.name);
  const [description, setDescription] = useState(group.description ?? '');
  const [error, setError] = useState<string>();
  const action = useAction();

  async function save() {
    const n = name.trim();
    const d = description.trim();
    if (!n) {
      setError(t('groupSettings.nameMissing'));
      return;
    }
    setError(undefined);
    if (n === group.name && (!withDescription || d === (group.description ?? ''))) {
      onDone(t('groupSettings.unchanged'));
      return;
    }
    const ok = await action.run(async () => {
      await engine.run((c) => c.renameGroup(group.id, n, withDescription ? d : undefined));
      return true;
    });
    if (!ok) return;
    await engine.refreshGroups();
    onDone(t('groupSettings.saved'));
  }

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      {withDescription && <p class="scr-hint">{t('groupSettings.secretMeta')}</p>}
      {!withDescription && <p class="scr-hint">{t('groupSettings.publicMeta')}</p>}
      {action.problem && <ProblemMessage problem={action.problem} />}
      <Field id="gs-name" label={t('groupSettings.name')} error={error} value={name} maxLength={NAME_CHARS} onInput={(e) => setName(e.currentTarget.value)} />
      {withDescription && (
        <Field
          id="gs-description"
          label={t('groupSettings.description')}
          hint={t('groupSettings.descriptionHint')}
          value={description}
          maxLength={DESCRIPTION_CHARS}
          onInput={(e) => setDescription(e.currentTarget.value)}
        />
      )}
      <button type="submit" class="button primary" disabled={action.busy}>
        {action.busy ? t('groupSettings.saving') : t('groupSettings.save')}
      </button>
    </form>
  );
}
