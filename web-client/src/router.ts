/** A small router over the History API: real URLs for every screen (so a link pasted in a message
 * opens in place and the back button does what people expect), patterns like `/gruppen/:id`, and
 * `<Link>` that navigates without a reload. Small enough not to need a library. */
import { h, type AnchorHTMLAttributes, type ComponentChildren, type TargetedMouseEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export interface Location {
  path: string;
  search: string;
  hash: string;
}

const listeners = new Set<() => void>();

function read(): Location {
  // No window when the build renders the first screens to static HTML (first-screens.tsx).
  if (typeof window === 'undefined') return { path: '/', search: '', hash: '' };
  return { path: window.location.pathname, search: window.location.search, hash: window.location.hash };
}

function notify(): void {
  for (const l of listeners) l();
}

if (typeof window !== 'undefined') window.addEventListener('popstate', notify);

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = new URL(to, window.location.href);
  if (url.origin !== window.location.origin) {
    window.location.assign(url.href);
    return;
  }
  if (url.href === window.location.href && !opts.replace) return;
  if (opts.replace) history.replaceState(null, '', url.href);
  else history.pushState(null, '', url.href);
  notify();
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const l = () => setLoc(read());
    listeners.add(l);
    l();
    return () => {
      listeners.delete(l);
    };
  }, []);
  return loc;
}

export type Params = Record<string, string>;

/** `/gruppen/:id` against `/gruppen/g_1` → { id: 'g_1' }; null when it does not match. */
export function matchPath(pattern: string, path: string): Params | null {
  const want = pattern.split('/').filter(Boolean);
  const have = path.split('/').filter(Boolean);
  if (want.length !== have.length) return null;
  const params: Params = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(':')) {
      try {
        params[want[i].slice(1)] = decodeURIComponent(have[i]);
      } catch {
        return null;
      }
    } else if (want[i] !== have[i]) {
      return null;
    }
  }
  return params;
}

/** Builds a path from a pattern: `pathTo('/gruppen/:id', { id })`. */
export function pathTo(pattern: string, params: Params = {}): string {
  return pattern.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
}

type AnchorProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { href: string; children?: ComponentChildren };

/** An ordinary link (opens in a new tab with Ctrl/⌘, middle click…) that navigates in place
 * otherwise. */
export function Link(props: AnchorProps) {
  const { href, onClick, ...rest } = props;
  return h('a', {
    ...rest,
    href,
    onClick: (e: TargetedMouseEvent<HTMLAnchorElement>) => {
      if (onClick) (onClick as (ev: TargetedMouseEvent<HTMLAnchorElement>) => void)(e);
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(href);
    },
  });
}
