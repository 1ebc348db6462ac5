/** Entsperren: the PIN or password opens the keys kept on this device. A wrong one says so and
 * keeps nothing typed elsewhere at risk: the outbox and everything received stay stored. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import { INACTIVITY_LOCK_MS } from '../engine/engine.js';
import { Field, ProblemMessage, ResetDevice, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';

export function UnlockScreen() {
  const { engine, state } = useEngine();
  const [pin, setPin] = useState('');
  const input = useRef<HTMLDivElement>(null);

  useEffect(() => {
    input.current?.querySelector('input')?.focus();
  }, [state.problem]);

  return (
    <div class="card narrow">
      <div class="lock-badge">
        <Icon name="lock" />
      </div>
      <ScreenTitle>{t('unlock.title')}</ScreenTitle>
      <p>{t('unlock.intro', { minutes: INACTIVITY_LOCK_MS / 60_000 })}</p>
      {state.problem && <ProblemMessage problem={state.problem} />}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!pin) return;
          const value = pin;
          setPin('');
          void engine.unlock(value);
        }}
      >
        <div ref={input}>
          <Field id="unlock-pin" type="password" label={t('unlock.pin')} value={pin} autocomplete="current-password" onInput={(e) => setPin(e.currentTarget.value)} />
        </div>
        <button type="submit" class="button primary">
          {t('unlock.submit')}
        </button>
      </form>
      <p class="hint">{t('unlock.forgot')}</p>
      <ResetDevice onReset={() => void engine.resetDevice()} />
    </div>
  );
}
