/** Full-screen states outside the normal shell: starting up or working (with words for what is
 * happening), another tab in charge, and a failure to start. */
import { t } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import { ProblemMessage, ResetDevice, ScreenTitle } from '../ui/common.js';
import { problemOf } from '../engine/problems.js';
import type { PendingProps } from '../lazy.js';

export function ProgressScreen() {
  const { state } = useEngine();
  return (
    <div class="card narrow center" role="status" aria-live="polite">
      <div class="spinner" aria-hidden="true" />
      <p class="progress-words">{t(state.progress ?? 'progress.starting')}</p>
    </div>
  );
}

export function OtherTabScreen() {
  const { engine, state } = useEngine();
  return (
    <div class="card narrow">
      <ScreenTitle>{t('tab.title')}</ScreenTitle>
      <p>{state.tabTakenOver ? t('tab.takenOver') : t('tab.elsewhere')}</p>
      <button type="button" class="button primary" onClick={() => void engine.takeOver()}>
        {t('tab.useHere')}
      </button>
    </div>
  );
}

/** Failures after which this device's data can no longer be opened: the way out is a reset. */
const UNRECOVERABLE = new Set(['problem.deviceKeyGone', 'problem.corrupt']);

export function FailedScreen() {
  const { engine, state } = useEngine();
  return (
    <div class="card narrow">
      <ScreenTitle>{t('failed.title')}</ScreenTitle>
      {state.problem && <ProblemMessage problem={state.problem} />}
      <button type="button" class="button primary" onClick={() => window.location.reload()}>
        {t('failed.reload')}
      </button>
      {state.problem && UNRECOVERABLE.has(state.problem.key) && <ResetDevice onReset={() => void engine.resetDevice()} />}
    </div>
  );
}

export function NotFoundScreen() {
  return (
    <div class="screen">
      <ScreenTitle>{t('notFound.title')}</ScreenTitle>
      <p>{t('notFound.text')}</p>
    </div>
  );
}

/** A part of the app whose code is still on its way (lazy.tsx), or did not arrive: the spinner, or
 * what went wrong and a button to try again. */
export function ChunkPending({ error, retry }: PendingProps) {
  if (!error) {
    return (
      <div class="card narrow center" aria-busy="true">
        <div class="spinner" aria-hidden="true" />
      </div>
    );
  }
  return (
    <div class="card narrow">
      <ProblemMessage problem={problemOf(error)} />
      <button type="button" class="button primary" onClick={retry}>
        {t('failed.reload')}
      </button>
    </div>
  );
}
