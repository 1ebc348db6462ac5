/* Structure of the web app (web-client/src):
 *   main.tsx        paints the shell, then starts the engine (crypto loads after the first paint)
 *   app.tsx         picks the screen by the engine's phase (starting / invite / unlock / other tab /
 *                   failed); once unlocked, the lazily loaded shell.tsx picks it by URL from the
 *                   route table, inside the Layout
 *   routes.ts       the route table (path → screen chunk, tab bar, avatar menu, detail pane);
 *                   paths.ts holds the paths; router.ts is the small History-API router; lazy.tsx
 *                   loads a screen's chunk when it is first shown (or ahead, by preload())
 *   engine/         the one wrapper around the SDK's AgoraClient (engine.ts), its React-style hook
 *                   useEngine() (hooks.ts), the app's encrypted records (app-data.ts: outbox,
 *                   last-read, message cache), error → words (problems.ts), the lazy SDK (sdk.ts)
 *   i18n/           t('key'), tn() for plurals, Intl formatting; one catalogue, German and English
 *   ui/             the layout (top bar, avatar menu, nav, banners, detail pane), icons, form parts
 *   views/          the core screens: invite, unlock, start, groups, group, new group, settings
 *   screens/        further screens (members, security, administration, search) plugged in
 *                   through routes.ts
 *   styles.css      all styling (no inline styles: the Content-Security-Policy forbids them) */
import { useEffect, useRef } from 'preact/hooks';
import { currentLang, setLang, useLang } from './i18n/index.js';
import { EngineContext, useEngine } from './engine/hooks.js';
import type { Engine } from './engine/engine.js';
import { useLocation } from './router.js';
import { lazyComponent } from './lazy.js';
import { InviteScreen } from './views/invite.js';
import { UnlockScreen } from './views/unlock.js';
import { ChunkPending, FailedScreen, OtherTabScreen, ProgressScreen } from './views/status.js';

/** Screens without the shell (nothing to navigate to before the profile is open). */
function Bare({ children }: { children: preact.ComponentChildren }) {
  const other = currentLang() === 'de' ? 'en' : 'de';
  return (
    <main id="main" class="bare" tabIndex={-1}>
      <div class="bare-top">
        <p class="bare-brand" aria-hidden="true">
          <span class="brand-mark">A</span> Agora
        </p>
        <button type="button" class="link-button" lang={other} onClick={() => setLang(other)}>
          {other === 'en' ? 'English' : 'Deutsch'}
        </button>
      </div>
      {children}
    </main>
  );
}

/** Everything behind the PIN (layout, route table, screens) is a chunk of its own: the first screen
 * of a returning person or a new device never waits for it. */
const UnlockedApp = lazyComponent(
  () => import('./shell.js').then((m) => m.UnlockedApp),
  (props) => (
    <Bare>
      <ChunkPending {...props} />
    </Bare>
  ),
);

/** Fetches the unlocked app and the screen for the current address ahead of the unlock, once the
 * first screen has painted (main.tsx). */
export function preloadUnlocked(): void {
  void UnlockedApp.preload()
    .then(() => import('./shell.js'))
    .then((m) => m.preloadRoute(window.location.pathname))
    // Tried again when it is shown; a failure is reported there.
    .catch(() => undefined);
}

function Root() {
  const { engine, state } = useEngine();
  const loc = useLocation();
  useLang();
  const firstPath = useRef(true);

  // Any touch or key press postpones the inactivity lock.
  useEffect(() => {
    const seen = () => engine.activity();
    window.addEventListener('pointerdown', seen, { passive: true });
    window.addEventListener('keydown', seen, { passive: true });
    return () => {
      window.removeEventListener('pointerdown', seen);
      window.removeEventListener('keydown', seen);
    };
  }, [engine]);

  // After a navigation (or unlocking, or any other change of phase) the focus goes to the new
  // screen's title, so screen readers announce it.
  useEffect(() => {
    if (firstPath.current) {
      firstPath.current = false;
      return;
    }
    // The unlock screen puts the focus in its PIN field itself.
    if (state.phase === 'locked') return;
    const target = document.querySelector<HTMLElement>('#main h1') ?? document.getElementById('main');
    target?.focus({ preventScroll: false });
  }, [loc.path, state.phase]);

  useEffect(() => {
    if (state.phase !== 'ready') document.title = 'Agora';
  }, [state.phase]);

  switch (state.phase) {
    case 'starting':
    case 'busy':
      return (
        <Bare>
          <ProgressScreen />
        </Bare>
      );
    case 'welcome':
      return (
        <Bare>
          <InviteScreen />
        </Bare>
      );
    case 'locked':
      return (
        <Bare>
          <UnlockScreen />
        </Bare>
      );
    case 'other-tab':
      return (
        <Bare>
          <OtherTabScreen />
        </Bare>
      );
    case 'failed':
      return (
        <Bare>
          <FailedScreen />
        </Bare>
      );
    case 'ready':
      return <UnlockedApp />;
  }
}

export function App({ engine }: { engine: Engine }) {
  return (
    <EngineContext.Provider value={engine}>
      <Root />
    </EngineContext.Provider>
  );
}
