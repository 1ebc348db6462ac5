/** Small pieces every screen uses: a screen title that takes the focus after navigation, a
 * problem message in words (with the technical detail folded away), and a labelled form field. */
import type { ComponentChildren, TargetedEvent } from 'preact';
import { t } from '../i18n/index.js';
import type { Problem } from '../engine/problems.js';
import { Link } from '../router.js';
import { Icon } from './icons.js';

export function ScreenTitle({ children, back, backLabel }: { children: ComponentChildren; back?: string; backLabel?: string }) {
  return (
    <div class="screen-title">
      {back && (
        <Link href={back} class="icon-button back">
          <Icon name="back" />
          <span class="visually-hidden">{backLabel ?? t('common.back')}</span>
        </Link>
      )}
      {/* tabIndex -1: the shell moves the focus here after a navigation, for screen readers. */}
      <h1 tabIndex={-1}>{children}</h1>
    </div>
  );
}

export function ProblemMessage({ problem, id, polite }: { problem: Problem; id?: string; polite?: boolean }) {
  return (
    <div class="problem" id={id} role={polite ? 'status' : 'alert'}>
      <Icon name="alert" />
      <div>
        <p>{t(problem.key, problem.params)}</p>
        {problem.detail && <TechDetails>{problem.detail}</TechDetails>}
      </div>
    </div>
  );
}

/** The technical words behind a message ("Technische Einzelheiten"), folded away: for whoever
 * supports the person, not in the way of the plain words. */
export function TechDetails({ children }: { children: ComponentChildren }) {
  return (
    <details>
      <summary>{t('common.details')}</summary>
      <code>{children}</code>
    </details>
  );
}

export interface FieldProps {
  id: string;
  label: string;
  hint?: string;
  error?: string;
  value: string;
  onInput: (e: TargetedEvent<HTMLInputElement, Event>) => void;
  type?: 'text' | 'password' | 'search';
  autocomplete?: string;
  autocapitalize?: 'none' | 'off' | 'on' | 'sentences' | 'words' | 'characters';
  spellcheck?: boolean;
  maxLength?: number;
  placeholder?: string;
  required?: boolean;
}

export function Field({ id, label, hint, error, type, ...input }: FieldProps) {
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  const common = { id, 'aria-describedby': described, 'aria-invalid': error ? true : undefined, ...input };
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {type === 'password' ? <input type="password" {...common} /> : type === 'search' ? <input type="search" {...common} /> : <input type="text" {...common} />}
      {error && (
        <p class="field-error" id={`${id}-error`}>
          <Icon name="alert" /> {error}
        </p>
      )}
    </div>
  );
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = parts[0]?.[0] ?? '?';
  const last = parts.length > 1 ? parts[parts.length - 1][0] : '';
  return (first + last).toUpperCase();
}

/** "Dieses Gerät zurücksetzen": two steps, the second after saying what is lost and what stays. */
export function ResetDevice({ onReset }: { onReset: () => void }) {
  return (
    <details class="reset">
      <summary>{t('reset.open')}</summary>
      <p>{t('reset.explain')}</p>
      <button type="button" class="button danger" onClick={onReset}>
        {t('reset.confirm')}
      </button>
    </details>
  );
}
