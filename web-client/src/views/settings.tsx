/** Einstellungen: language, locking, and who is signed in on this device. */
import { useEffect, useState } from 'preact/hooks';
import { LANGS, setLang, t, useLang, type Lang } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import { INACTIVITY_LOCK_MS, type Me } from '../engine/engine.js';
import { roleWord, useLoad } from '../screens/parts.js';
import { ProblemMessage, ScreenTitle } from '../ui/common.js';
import type { Problem } from '../engine/problems.js';
import { Icon } from '../ui/icons.js';

const LANG_NAMES: Record<Lang, string> = { de: 'Deutsch', en: 'English' };

export function LanguageChoice() {
  const lang = useLang();
  return (
    <fieldset class="choices">
      <legend>{t('settings.language')}</legend>
      {LANGS.map((l) => (
        <label class="choice" key={l} lang={l}>
          <input type="radio" name="lang" value={l} checked={lang === l} onChange={() => setLang(l)} />
          <span>{LANG_NAMES[l]}</span>
        </label>
      ))}
    </fieldset>
  );
}

/** The build this page runs, as the key-transparency log records it. Loaded on demand: the
 * manifest check needs the protocol's schemas, which are not part of the first chunk. */
function BuildHash() {
  const [hash, setHash] = useState<string | null>();
  useEffect(() => {
    import('../build-info.js')
      .then(async ({ loadBuildInfo, formatBuildHash }) => setHash(formatBuildHash((await loadBuildInfo()).buildHash)))
      .catch(() => setHash(null));
  }, []);
  if (hash === undefined) return null;
  return <p>{hash ? t('settings.buildHash', { hash }) : t('settings.buildHashUnknown')}</p>;
}

/** "Auf diesem Gerät angemeldet bleiben", for a person who signed up with a PIN: on, this browser
 * profile opens Agora without the PIN; off, the PIN is asked again. The words say plainly who can
 * then open Agora, before and after the switch. */
function StaySignedIn() {
  const { engine, state } = useEngine();
  /** The state asked for, shown while the key header is rewritten. */
  const [asked, setAsked] = useState<boolean>();
  const [done, setDone] = useState<'on' | 'off'>();
  const [problem, setProblem] = useState<Problem>();
  const on = asked ?? state.unlockKind === 'device';
  const minutes = INACTIVITY_LOCK_MS / 60_000;
  const change = async (next: boolean) => {
    setAsked(next);
    setDone(undefined);
    setProblem(undefined);
    try {
      await engine.setStaySignedIn(next);
      setDone(next ? 'on' : 'off');
    } catch (e) {
      setProblem(engine.explain(e));
    } finally {
      setAsked(undefined);
    }
  };
  return (
    <section aria-labelledby="settings-stay">
      <h2 id="settings-stay">{t('settings.stayTitle')}</h2>
      <label class="choice">
        <input type="checkbox" checked={on} disabled={asked !== undefined} aria-describedby="settings-stay-text" onChange={(e) => void change(e.currentTarget.checked)} />
        <span>{t('settings.stayLabel')}</span>
      </label>
      <p id="settings-stay-text">{state.unlockKind === 'device' ? t('settings.stayOnText', { minutes }) : t('settings.stayOffText')}</p>
      <p role="status">{asked !== undefined ? t('settings.stayBusy') : done === 'on' ? t('settings.stayOnDone') : done === 'off' ? t('settings.stayOffDone') : ''}</p>
      {problem && <ProblemMessage problem={problem} />}
    </section>
  );
}

/** Who and where this device is (what `agora whoami` prints): for the person who supports them. */
function ThisDevice({ me }: { me: Me }) {
  const { engine } = useEngine();
  const departments = useLoad(() => engine.run((c) => c.departments()), [me.userId]);
  const mine = departments.data?.filter((d) => d.members.includes(me.userId)).map((d) => d.name);
  return (
    <>
      <h3>{t('settings.deviceTitle')}</h3>
      <dl class="device-facts">
        <dt>{t('settings.roleLabel')}</dt>
        <dd>{roleWord(me.role)}</dd>
        <dt>{t('settings.departmentLabel')}</dt>
        <dd>{mine === undefined ? (departments.problem ? t('settings.departmentUnknown') : '…') : mine.length > 0 ? mine.join(', ') : t('settings.departmentNone')}</dd>
        <dt>{t('settings.serverLabel')}</dt>
        <dd>{location.origin}</dd>
        <dt>{t('settings.userIdLabel')}</dt>
        <dd>
          <code>{me.userId}</code>
        </dd>
        <dt>{t('settings.deviceIdLabel')}</dt>
        <dd>
          <code>{me.deviceId}</code>
        </dd>
      </dl>
    </>
  );
}

export function SettingsScreen() {
  const { engine, state } = useEngine();
  return (
    <div class="screen narrow">
      <ScreenTitle>{t('settings.title')}</ScreenTitle>
      <section aria-labelledby="settings-account">
        <h2 id="settings-account">{t('settings.account')}</h2>
        <p>{t('settings.signedInAs', { name: state.me?.name ?? '', org: state.me?.orgName ?? '' })}</p>
        {state.me && <ThisDevice me={state.me} />}
      </section>
      <LanguageChoice />
      <section aria-labelledby="settings-lock">
        <h2 id="settings-lock">{t('settings.lockTitle')}</h2>
        {state.unlockKind === 'pin' ? (
          <>
            <p>{t('settings.lockPin', { minutes: INACTIVITY_LOCK_MS / 60_000 })}</p>
            <button type="button" class="button" onClick={() => void engine.lock()}>
              <Icon name="lock" />
              {t('menu.lock')}
            </button>
          </>
        ) : (
          <p>{t(state.hasPin ? 'settings.lockStay' : 'settings.lockDevice')}</p>
        )}
      </section>
      {state.hasPin && <StaySignedIn />}
      <section aria-labelledby="settings-about">
        <h2 id="settings-about">{t('settings.about')}</h2>
        <BuildHash />
      </section>
    </div>
  );
}
