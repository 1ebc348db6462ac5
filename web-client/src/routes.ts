/** The app's screens by URL. Adding a screen is one entry here (and its words in the catalogue).
 * - `nav`: an item of the bottom tab bar (phone) and the left sidebar (desktop), in `order`;
 * - `menu`: an item of the person's menu behind the avatar; `admin` hides it from non-admins;
 * - `section`: which nav item is shown as current on this route;
 * - `detail`: what the right pane shows on wide screens (hidden on phones).
 * Routes are matched in order; the first match wins. All routes need an unlocked profile except the
 * invite, which the shell shows whenever the device has none.
 *
 * Each screen is a chunk of its own (`screen()`, lazy.tsx): it is fetched when first shown,
 * or ahead of that by `preload()`. */
import type { ComponentType } from 'preact';
import type { MessageKey } from './i18n/index.js';
import type { Params } from './router.js';
import type { IconName } from './ui/icons.js';
import { InviteScreen } from './views/invite.js';
import { screen } from './lazy.js';
import { screenRoutes } from './screens/routes.js';

export interface RouteProps {
  params: Params;
}

export type Section = 'start' | 'gruppen' | 'dokumente' | 'suche' | 'menu';

export interface RouteDef {
  path: string;
  component: ComponentType<RouteProps>;
  nav?: { label: MessageKey; icon: IconName; order: number };
  menu?: { label: MessageKey; order: number; admin?: boolean };
  section?: Section;
  detail?: ComponentType<RouteProps>;
}

export { PATHS } from './paths.js';
import { PATHS } from './paths.js';

const group = () => import('./views/group.js');

export const routes: RouteDef[] = [
  { path: PATHS.start, component: screen(() => import('./views/start.js').then((m) => m.StartScreen)), section: 'start', nav: { label: 'nav.start', icon: 'home', order: 10 } },
  { path: PATHS.groups, component: screen(() => import('./views/groups.js').then((m) => m.GroupsScreen)), section: 'gruppen', nav: { label: 'nav.groups', icon: 'groups', order: 20 } },
  { path: PATHS.newGroup, component: screen(() => import('./views/new-group.js').then((m) => m.NewGroupScreen)), section: 'gruppen' },
  { path: PATHS.group, component: screen(() => group().then((m) => m.GroupScreen)), section: 'gruppen', detail: screen(() => group().then((m) => m.GroupDetail)) },
  { path: PATHS.invite, component: InviteScreen },
  { path: PATHS.settings, component: screen(() => import('./views/settings.js').then((m) => m.SettingsScreen)), section: 'menu', menu: { label: 'menu.settings', order: 90 } },
  ...screenRoutes,
];
