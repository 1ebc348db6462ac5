/** Neue geheime Gruppe: name and optional description. Both are encrypted for the members; the
 * relay never learns them. The person who creates the group is its owner and adds members next. */
import { useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import type { Problem } from '../engine/problems.js';
import { navigate, pathTo } from '../router.js';
import { PATHS } from '../paths.js';
import { Field, ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';

export function NewGroupScreen() {
  const { engine } = useEngine();
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
      const g = await engine.createSecretGroup(name.trim(), description.trim() || undefined);
      navigate(pathTo(PATHS.group, { id: g.id }), { replace: true });
    } catch (e) {
      setProblem(engine.explain(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="screen narrow">
      <ScreenTitle back={PATHS.groups}>{t('newGroup.title')}</ScreenTitle>
      <p class="kind-line kind-secret">
        <Icon name="lock" />
        {t('newGroup.explain')}
      </p>
      {problem && <ProblemMessage problem={problem} />}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <Field id="group-name" label={t('newGroup.name')} error={error} value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
        <Field id="group-description" label={t('newGroup.description')} hint={t('newGroup.descriptionHint')} value={description} maxLength={500} onInput={(e) => setDescription(e.currentTarget.value)} />
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? t('newGroup.creating') : t('newGroup.submit')}
        </button>
      </form>
    </div>
  );
}
