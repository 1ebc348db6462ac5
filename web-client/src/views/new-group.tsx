/** Neue geheime Gruppe: name and optional description. Both are encrypted for the members; the
 * relay never learns them. The person who creates the group is its owner and adds members next.
 * Administrators may create a public group here instead (every employee can see and join it; its
 * name is the relay's to see and it carries no description), as `agora group create --public`. */
import { useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import type { Problem } from '../engine/problems.js';
import { navigate, pathTo } from '../router.js';
import { PATHS } from '../paths.js';
import { Field, ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';

export function NewGroupScreen() {
  const { engine, state } = useEngine();
  const mayCreatePublic = state.me?.role === 'admin';
  const [kind, setKind] = useState<'secret' | 'public'>('secret');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<string>();
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);

  async function submit() {
    if (!name.trim()) {
      setError(t('newGroup.nameMissing'));
      return;
    }
    setError(undefined);
    setProblem(undefined);
    setBusy(true);
    try {
      const g =
        kind === 'public' && mayCreatePublic ? await engine.createPublicGroup(name.trim()) : await engine.createSecretGroup(name.trim(), description.trim() || undefined);
      navigate(pathTo(PATHS.group, { id: g.id }), { replace: true });
    } catch (e) {
      setProblem(engine.explain(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="screen narrow">
      <ScreenTitle back={PATHS.groups}>{mayCreatePublic ? t('newGroup.titleAny') : t('newGroup.title')}</ScreenTitle>
      {problem && <ProblemMessage problem={problem} />}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {mayCreatePublic && (
          <fieldset class="choices">
            <legend>{t('newGroup.kind')}</legend>
            <label class="choice">
              <input type="radio" name="group-kind" value="secret" checked={kind === 'secret'} onChange={() => setKind('secret')} />
              <span>
                <strong>{t('newGroup.kindSecret')}</strong>
              </span>
            </label>
            <label class="choice">
              <input type="radio" name="group-kind" value="public" checked={kind === 'public'} onChange={() => setKind('public')} />
              <span>
                <strong>{t('newGroup.kindPublic')}</strong>
              </span>
            </label>
          </fieldset>
        )}
        <p class={`kind-line kind-${kind}`}>
          <Icon name={kind === 'secret' ? 'lock' : 'globe'} />
          {kind === 'secret' ? t('newGroup.explain') : t('newGroup.explainPublic')}
        </p>
        <Field id="group-name" label={t('newGroup.name')} error={error} value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
        {kind === 'secret' && (
          <Field id="group-description" label={t('newGroup.description')} hint={t('newGroup.descriptionHint')} value={description} maxLength={500} onInput={(e) => setDescription(e.currentTarget.value)} />
        )}
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? t('newGroup.creating') : t('newGroup.submit')}
        </button>
      </form>
    </div>
  );
}
