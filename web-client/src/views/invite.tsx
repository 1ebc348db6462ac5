/** Einladung annehmen: the code (filled in from the link or QR code), then — for the first
 * administrator only — the name, then how this device is protected. The code is checked with the
 * relay before anything else, so a mistyped or used code is reported before a PIN is chosen.
 *
 * Links carry the code in the fragment (`/einladung#CODE`), which browsers never send to a server,
 * so it stays out of the relay's and proxies' logs; `?code=` is accepted for QR scanners that drop
 * fragments. What was typed is kept in memory while keys are generated, so a failure loses nothing. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import type { InviteInfo } from '../engine/engine.js';
import type { Problem } from '../engine/problems.js';
import { Field, ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Link, navigate } from '../router.js';
import { PATHS } from '../paths.js';

/** Minimum length of a PIN or password: six digits is what phones ask for their own PIN. */
export const MIN_SECRET_CHARS = 6;

interface Draft {
  code: string;
  name: string;
  protection: 'pin' | 'device';
  pin: string;
  pin2: string;
  info?: InviteInfo;
}

/** Survives the screen being replaced by the progress screen (and back, on failure). */
const draft: Draft = { code: '', name: '', protection: 'pin', pin: '', pin2: '' };

function codeFromUrl(): string {
  // The build's static copy of this screen (first-screens.tsx) has no address and no code.
  if (typeof window === 'undefined') return '';
  const fromHash = decodeURIComponent(window.location.hash.replace(/^#/, ''));
  if (fromHash) return fromHash;
  return new URLSearchParams(window.location.search).get('code') ?? '';
}

export function InviteScreen() {
  const { engine, state } = useEngine();
  const [code, setCode] = useState(() => codeFromUrl() || draft.code);
  const [fromLink] = useState(() => codeFromUrl() !== '');
  const [info, setInfo] = useState<InviteInfo | undefined>(draft.info);
  const [name, setName] = useState(draft.name);
  const [protection, setProtection] = useState(draft.protection);
  const [pin, setPin] = useState(draft.pin);
  const [pin2, setPin2] = useState(draft.pin2);
  const [checking, setChecking] = useState(false);
  const [problem, setProblem] = useState<Problem | undefined>(state.problem);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const nextRef = useRef<HTMLHeadingElement>(null);
  const checks = useRef(0);

  Object.assign(draft, { code, name, protection, pin, pin2, info });

  // A code from the link is checked at once.
  useEffect(() => {
    if (fromLink && !info && state.phase === 'welcome') void check();
  }, []);

  useEffect(() => setProblem(state.problem), [state.problem]);

  // Opening another invite link while this screen is open changes only the fragment, which loads
  // nothing: the new code replaces the old one and is checked like a code from a fresh load.
  useEffect(() => {
    const onHash = () => {
      const next = codeFromUrl();
      if (!next || next === draft.code || engine.state.phase !== 'welcome') return;
      setCode(next);
      setInfo(undefined);
      void check(next);
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  if (state.phase === 'ready') {
    return (
      <div class="card narrow">
        <ScreenTitle>{t('invite.title')}</ScreenTitle>
        <p>{t('invite.alreadyRegistered', { name: state.me?.name ?? '' })}</p>
        <Link class="button" href={PATHS.start}>
          {t('invite.toStart')}
        </Link>
      </div>
    );
  }

  async function check(value = code) {
    const c = value.trim();
    if (!c) {
      setErrors({ code: t('invite.codeMissing') });
      return;
    }
    setErrors({});
    setProblem(undefined);
    setChecking(true);
    const mine = ++checks.current;
    const answer = await engine.checkInvite(c);
    // Only the answer about the newest code counts (another link may have arrived meanwhile).
    if (mine !== checks.current) return;
    setChecking(false);
    if (answer.ok) {
      setInfo(answer.info);
      // Move on for keyboard and screen-reader users.
      setTimeout(() => nextRef.current?.focus(), 0);
    } else {
      setInfo(undefined);
      setProblem(answer.problem);
    }
  }

  async function submit() {
    const found: Record<string, string> = {};
    if (info?.bootstrap && !name.trim()) found.name = t('invite.nameMissing');
    if (protection === 'pin') {
      if (pin.length < MIN_SECRET_CHARS) found.pin = t('invite.pinTooShort', { n: MIN_SECRET_CHARS });
      else if (pin !== pin2) found.pin2 = t('invite.pinMismatch');
    }
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    await engine.register({ code, name: info?.bootstrap ? name : undefined, secret: protection === 'pin' ? { kind: 'pin', value: pin } : { kind: 'device' } });
    if (engine.state.phase === 'ready') {
      Object.assign(draft, { code: '', name: '', pin: '', pin2: '', info: undefined });
      // Replacing the entry also drops the code from the browser's history.
      navigate(PATHS.start, { replace: true });
    }
  }

  return (
    <div class="card narrow">
      <ScreenTitle>{t('invite.title')}</ScreenTitle>
      <p>{t('invite.intro')}</p>
      {problem && <ProblemMessage problem={problem} />}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void check();
        }}
      >
        <Field
          id="invite-code"
          label={t('invite.code')}
          hint={fromLink ? t('invite.codeFromLink') : t('invite.codeHint')}
          error={errors.code}
          value={code}
          autocomplete="one-time-code"
          autocapitalize="characters"
          spellcheck={false}
          onInput={(e) => {
            setCode(e.currentTarget.value);
            setInfo(undefined);
          }}
        />
        {!info && (
          <button type="submit" class="button primary" disabled={checking}>
            {checking ? t('invite.checking') : t('invite.check')}
          </button>
        )}
      </form>

      {info && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <h2 tabIndex={-1} ref={nextRef}>
            {t('invite.codeValid')}
          </h2>
          {info.bootstrap ? (
            <Field
              id="invite-name"
              label={t('invite.name')}
              hint={t('invite.nameHint')}
              error={errors.name}
              value={name}
              autocomplete="name"
              onInput={(e) => setName(e.currentTarget.value)}
            />
          ) : (
            <p>{info.kind === 'device' ? t('invite.forDevice') : info.name ? t('invite.forPerson', { name: info.name }) : t('invite.forPersonUnnamed')}</p>
          )}

          <fieldset class="choices">
            <legend>{t('invite.protection')}</legend>
            <label class="choice">
              <input type="radio" name="protection" value="pin" checked={protection === 'pin'} onChange={() => setProtection('pin')} />
              <span>
                <strong>{t('invite.protectPin')}</strong>
                <span class="hint">{t('invite.protectPinHint')}</span>
              </span>
            </label>
            <label class="choice">
              <input type="radio" name="protection" value="device" checked={protection === 'device'} onChange={() => setProtection('device')} />
              <span>
                <strong>{t('invite.protectDevice')}</strong>
                <span class="hint">{t('invite.protectDeviceHint')}</span>
              </span>
            </label>
          </fieldset>

          {protection === 'pin' && (
            <>
              <Field
                id="invite-pin"
                type="password"
                label={t('invite.pin')}
                hint={t('invite.pinHint', { n: MIN_SECRET_CHARS })}
                error={errors.pin}
                value={pin}
                autocomplete="new-password"
                onInput={(e) => setPin(e.currentTarget.value)}
              />
              <Field
                id="invite-pin2"
                type="password"
                label={t('invite.pin2')}
                error={errors.pin2}
                value={pin2}
                autocomplete="new-password"
                onInput={(e) => setPin2(e.currentTarget.value)}
              />
            </>
          )}
          <button type="submit" class="button primary">
            {t('invite.submit')}
          </button>
        </form>
      )}
    </div>
  );
}
