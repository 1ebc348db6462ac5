/** Components whose code is a chunk of its own, fetched the first time they are shown (or earlier,
 * by `preload()`): the chunk a returning person waits for then holds only the shell, the router,
 * the words and the PIN and invite forms, not every screen of the app.
 *
 * A chunk comes through `import()`, which the page's import map checks against the build's
 * integrity (tools/integrity.ts): a screen loaded later is refused like any other changed file. */
import { h, type ComponentType, type FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ChunkPending } from './views/status.js';

export interface PendingProps {
  /** Why the chunk did not load (network gone, integrity refused); absent while it is loading. */
  error?: unknown;
  /** Tries the chunk again. */
  retry: () => void;
}

export interface LazyComponent<P> extends FunctionComponent<P> {
  /** Starts loading the chunk (once); resolves when the component renders without waiting. */
  preload(): Promise<ComponentType<P>>;
}

/** The element a screen reader should be on after a navigation: the new screen's title, which the
 * shell can focus only once the screen's chunk is there. Left alone if the person has already
 * moved on (typing, tabbing) while it loaded. */
function focusTitle(): void {
  const active = document.activeElement;
  if (active && active !== document.body && active.id !== 'main') return;
  document.querySelector<HTMLElement>('#main h1')?.focus();
}

export function lazyComponent<P extends object>(load: () => Promise<ComponentType<P>>, Pending: ComponentType<PendingProps>): LazyComponent<P> {
  let loaded: ComponentType<P> | undefined;
  let loading: Promise<ComponentType<P>> | undefined;
  const preload = () => {
    loading ??= load().then(
      (component) => (loaded = component),
      (error: unknown) => {
        // A failed load (network gone mid-way) must be retryable, not remembered forever.
        loading = undefined;
        throw error;
      },
    );
    return loading;
  };

  function Lazy(props: P) {
    const [, setReady] = useState(0);
    const [error, setError] = useState<unknown>();
    const [waited, setWaited] = useState(false);
    const [attempt, setAttempt] = useState(0);
    useEffect(() => {
      if (loaded) return;
      let live = true;
      setWaited(true);
      preload().then(
        () => live && setReady((n) => n + 1),
        (e: unknown) => live && setError(e),
      );
      return () => {
        live = false;
      };
    }, [attempt]);
    useEffect(() => {
      if (loaded && waited) focusTitle();
    }, [loaded !== undefined, waited]);
    if (loaded) return h(loaded, props);
    return h(Pending, {
      error,
      retry: () => {
        setError(undefined);
        setAttempt((n) => n + 1);
      },
    });
  }
  Lazy.preload = preload;
  return Lazy;
}

/** A route's screen (routes.ts): a spinner while its chunk loads, what went wrong if it did not. */
export function screen<P extends object>(load: () => Promise<ComponentType<P>>): LazyComponent<P> {
  return lazyComponent(load, ChunkPending);
}
