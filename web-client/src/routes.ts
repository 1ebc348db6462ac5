/** The app's screens by URL. Adding a screen is one entry here (and its words in the catalogue).
 * - `nav`: an item of the bottom tab bar (phone) and the left sidebar (desktop), in `order`;
 * - `menu`: an item of the person's menu behind the avatar; `admin` hides it from non-admins;
 * - `section`: which nav item is shown as current on this route;
 * - `detail`: what the right pane shows on wide screens (hidden on phones).
 * Routes are matched in order; the first match wins. All routes need an unlocked profile except the
 * invite, which the shell shows whenever the device has none. */
import type { ComponentType } from 'preact';
import type { MessageKey } from './i18n/index.js';
import type { Params } from './router.js';
import type { IconName } from './ui/icons.js';
import { StartScreen } from './views/start.js';
import { GroupsScreen } from './views/groups.js';
import { GroupScreen, GroupDetail } from './views/group.js';
import { NewGroupScreen } from './views/new-group.js';
import { SettingsScreen } from './views/settings.js';
import { InviteScreen } from './views/invite.js';
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

export const routes: RouteDef[] = [
  { path: PATHS.start, component: StartScreen, section: 'start', nav: { label: 'nav.start', icon: 'home', order: 10 } },
  { path: PATHS.groups, component: GroupsScreen, section: 'gruppen', nav: { label: 'nav.groups', icon: 'groups', order: 20 } },
  { path: PATHS.newGroup, component: NewGroupScreen, section: 'gruppen' },
  { path: PATHS.group, component: GroupScreen, section: 'gruppen', detail: GroupDetail },
  { path: PATHS.invite, component: InviteScreen },
  { path: PATHS.settings, component: SettingsScreen, section: 'menu', menu: { label: 'menu.settings', order: 90 } },
  ...screenRoutes,
];
