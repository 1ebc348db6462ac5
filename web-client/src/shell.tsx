/** The unlocked app: the layout (top bar, navigation, banners, detail pane) around the screen the
 * route table picks for the URL, and the words of its screens. A chunk of its own (app.tsx loads it
 * lazily), fetched after the first screen has painted: the PIN and invite forms never wait for it. */
import { useEffect } from 'preact/hooks';
import { addWords, t } from './i18n/index.js';
import { screenWords } from './screens/words.js';
import { matchPath, useLocation, type Params } from './router.js';
import { routes, type RouteDef } from './routes.js';
import { PATHS } from './paths.js';
import { Layout } from './ui/layout.js';
import { NotFoundScreen } from './views/status.js';

addWords(screenWords);

function findRoute(path: string): { route: RouteDef; params: Params } | undefined {
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (params) return { route, params };
  }
  return undefined;
}

export function UnlockedApp() {
  const loc = useLocation();
  const found = findRoute(loc.path);

  useEffect(() => {
    document.title = found?.route.nav ? `${t(found.route.nav.label)} – Agora` : 'Agora';
  });

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

/** Fetches the chunks of the screen (and its detail pane) for `path`, so that unlocking draws it at
 * once instead of a spinner first. */
export function preloadRoute(path: string): Promise<unknown> {
  const found = findRoute(path);
  const parts = [found?.route.component, found?.route.detail] as (Partial<{ preload(): Promise<unknown> }> | undefined)[];
  return Promise.all(parts.map((c) => c?.preload?.()));
}
