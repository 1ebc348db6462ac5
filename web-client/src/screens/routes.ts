/** The routes of the members, security, administration and search screens, spread into the app's
 * route table (routes.ts). Each screen is a chunk of its own, loaded when first shown. */
import type { RouteDef } from '../routes.js';
import { screen } from '../lazy.js';
import { PATHS } from '../paths.js';

export const screenRoutes: RouteDef[] = [
  { path: PATHS.members, component: screen(() => import('./members.js').then((m) => m.MembersScreen)), section: 'gruppen' },
  { path: PATHS.safetyNumber, component: screen(() => import('./safety.js').then((m) => m.SafetyNumberScreen)), section: 'gruppen' },
  { path: PATHS.groupSettings, component: screen(() => import('./group-settings.js').then((m) => m.GroupSettingsScreen)), section: 'gruppen' },
  { path: PATHS.search, component: screen(() => import('./search.js').then((m) => m.SearchScreen)), section: 'suche', nav: { label: 'nav.search', icon: 'search', order: 40 } },
  { path: PATHS.security, component: screen(() => import('./security.js').then((m) => m.SecurityScreen)), section: 'menu', menu: { label: 'menu.security', order: 50 } },
  { path: PATHS.admin, component: screen(() => import('./admin.js').then((m) => m.AdminScreen)), section: 'menu', menu: { label: 'menu.admin', order: 60, admin: true } },
  { path: PATHS.printSheet, component: screen(() => import('./admin.js').then((m) => m.PrintSheetScreen)), section: 'menu' },
];
