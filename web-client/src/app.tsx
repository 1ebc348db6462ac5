/* Structure of the web app (web-client/src):
 *   main.tsx        paints the shell, then starts the engine (crypto loads after the first paint)
 *   app.tsx         picks the screen: by the engine's phase (starting / invite / unlock / other tab /
 *                   failed), and once unlocked by URL from the route table, inside the Layout
 *   routes.ts       the route table (path → screen, tab bar, avatar menu, detail pane); paths.ts
 *                   holds the paths screens link to; router.ts is the small History-API router
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
import { currentLang, setLang, t, useLang } from './i18n/index.js';
import { EngineContext, useEngine } from './engine/hooks.js';
import type { Engine } from './engine/engine.js';
import { matchPath, useLocation, type Params } from './router.js';
import { routes, type RouteDef } from './routes.js';
import { PATHS } from './paths.js';
import { Layout } from './ui/layout.js';
import { InviteScreen } from './views/invite.js';
import { UnlockScreen } from './views/unlock.js';
import { FailedScreen, NotFoundScreen, OtherTabScreen, ProgressScreen } from './views/status.js';

function findRoute(path: string): { route: RouteDef; params: Params } | undefined {
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (params) return { route, params };
  }
  return undefined;
}

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

  const found = state.phase === 'ready' ? findRoute(loc.path) : undefined;

  useEffect(() => {
    document.title = found?.route.nav ? `${t(found.route.nav.label)} – Agora` : 'Agora';
  });

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
      break;
  }

  if (!found) {
    return (
      <Layout>
        <NotFoundScreen />
      </Layout>
    );
  }
  const { route, params } = found;
  const Screen = route.component;
  const Detail = route.detail;
  return (
    <Layout section={route.section} detail={Detail ? <Detail params={params} /> : undefined} chat={route.path === PATHS.group}>
      <Screen params={params} />
    </Layout>
  );
}

export function App({ engine }: { engine: Engine }) {
  return (
    <EngineContext.Provider value={engine}>
      <Root />
    </EngineContext.Provider>
  );
}
