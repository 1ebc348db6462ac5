/** Pieces the members, security, administration and search screens share: loading data through the
 * engine with its failure in words, a confirmation dialog that says what will happen, and the
 * verification state as icon plus word (never colour alone). */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { useEngine } from '../engine/hooks.js';
import type { Problem } from '../engine/problems.js';
import { loadSdk, type Sdk } from '../engine/sdk.js';
import { t } from '../i18n/index.js';
import type { Verification } from './verification.js';
import './screens.css';

export interface Loaded<T> {
  data?: T;
  problem?: Problem;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when the screen opens (and on `reload`), keeping the last data while it reloads. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const { engine } = useEngine();
  const [state, setState] = useState<{ data?: T; problem?: Problem; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (e: unknown) => live && setState((s) => ({ data: s.data, problem: engine.explain(e), loading: false })),
    );
    return () => {
      live = false;
    };
    // `load` is a new closure on every render; `deps` say when it means something new.
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

export interface Action {
  busy: boolean;
  problem?: Problem;
  run: <T>(fn: () => Promise<T>) => Promise<T | undefined>;
  clear: () => void;
}

/** One action of a screen: `busy` while it runs, its failure in words afterwards. */
export function useAction(): Action {
  const { engine } = useEngine();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | undefined>();
  const run = useCallback(
    async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
      setBusy(true);
      setProblem(undefined);
      try {
        return await fn();
      } catch (e) {
        setProblem(engine.explain(e));
        return undefined;
      } finally {
        setBusy(false);
      }
    },
    [engine],
  );
  return { busy, problem, run, clear: () => setProblem(undefined) };
}

/** A modal dialog (the browser's own <dialog>: focus is trapped and Escape cancels) that says what
 * the action will do before it is done. */
export function ConfirmDialog(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog ref={ref} class="scr-dialog" aria-labelledby="scr-dialog-title" onCancel={(e) => {
      e.preventDefault();
      props.onCancel();
    }}>
      <h2 id="scr-dialog-title">{props.title}</h2>
      <div class="scr-dialog-body">{props.children}</div>
      <div class="scr-actions">
        <button type="button" class="button" onClick={props.onCancel}>
          {t('common.cancel')}
        </button>
        <button type="button" class={props.danger ? 'button scr-danger' : 'button primary'} onClick={props.onConfirm} disabled={props.busy}>
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

const BADGE: Record<Verification, { key: 'verify.state.checking' | 'verify.state.verified' | 'verify.state.unchecked' | 'verify.state.changed' | 'verify.state.failed'; d: string }> = {
  checking: { key: 'verify.state.checking', d: 'M12 3a9 9 0 1 0 9 9h-2a7 7 0 1 1-7-7z' },
  verified: { key: 'verify.state.verified', d: 'M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5zm-1.5 14.2L6.8 12.5l1.4-1.4 2.3 2.3 5.3-5.3 1.4 1.4z' },
  unchecked: { key: 'verify.state.unchecked', d: 'M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5zm0 2.2 6 2.2V11c0 4-2.6 7.6-6 8.9-3.4-1.3-6-4.9-6-8.9V6.4z' },
  changed: { key: 'verify.state.changed', d: 'M12 2 1 21h22zm-1 7h2v6h-2zm0 8h2v2h-2z' },
  failed: { key: 'verify.state.failed', d: 'M12 2 1 21h22zm-1 7h2v6h-2zm0 8h2v2h-2z' },
};

export function VerificationBadge({ state }: { state: Verification }) {
  const b = BADGE[state];
  return (
    <span class={`scr-badge scr-badge-${state}`}>
      <svg class="icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
        <path d={b.d} fill="currentColor" />
      </svg>
      {t(b.key)}
    </span>
  );
}

/** Groups digits or letters for reading aloud: "12345 67890 …". Screen readers get the whole as one
 * named unit ("Sicherheitsnummer: 12345 67890 …") instead of a grid of loose groups. */
export function Grouped({ parts, label, className }: { parts: string[]; label: string; className?: string }) {
  return (
    <p class={className ? `scr-grouped ${className}` : 'scr-grouped'} role="img" aria-label={`${label}: ${parts.join(' ')}`}>
      {parts.map((p, i) => (
        <span key={i} aria-hidden="true">
          {p}
        </span>
      ))}
    </p>
  );
}

export function roleWord(role: string): string {
  return role === 'admin' ? t('role.admin') : role === 'announcer' ? t('role.announcer') : t('role.member');
}

export function statusWord(status: string): string {
  return status === 'active' ? t('status.active') : t('status.deactivated');
}

/** The text of the file just chosen in `input`. The choice is cleared at once: the page keeps no
 * other copy of a key file, and choosing the same file again is noticed. */
export async function takeChosenFile(input: HTMLInputElement): Promise<string | undefined> {
  const file = input.files?.[0];
  input.value = '';
  return file?.text();
}

export type Policy = Awaited<ReturnType<Sdk['parsePolicyFile']>>;

/** A key-transparency policy file chosen in `input`, checked and handed to `use` (publish it to the
 * organisation, or apply it to this device) as one action; undefined when nothing was chosen or
 * it failed (the failure in words is the action's `problem`). */
export async function applyPolicyFile(input: HTMLInputElement, action: Pick<Action, 'run'>, use: (policy: Policy) => Promise<unknown>): Promise<Policy | undefined> {
  const text = await takeChosenFile(input);
  if (text === undefined) return undefined;
  return action.run(async () => {
    const policy = await (await loadSdk()).parsePolicyFile(text);
    await use(policy);
    return policy;
  });
}
