/** The routes of the members, security, administration and search screens, spread into the app's
 * route table (routes.ts). */
import type { RouteDef } from '../routes.js';
import { AdminScreen, ADMIN_PATH, PrintSheetScreen, PRINT_PATH } from './admin.js';
import { MembersScreen, MEMBERS_PATH, SAFETY_PATH } from './members.js';
import { GroupSettingsScreen, GROUP_SETTINGS_PATH } from './group-settings.js';
import { SafetyNumberScreen } from './safety.js';
import { SearchScreen, SEARCH_PATH } from './search.js';
import { SecurityScreen, SECURITY_PATH } from './security.js';

export const screenRoutes: RouteDef[] = [
  { path: MEMBERS_PATH, component: MembersScreen, section: 'gruppen' },
  { path: SAFETY_PATH, component: SafetyNumberScreen, section: 'gruppen' },
  { path: GROUP_SETTINGS_PATH, component: GroupSettingsScreen, section: 'gruppen' },
  { path: SEARCH_PATH, component: SearchScreen, section: 'suche', nav: { label: 'nav.search', icon: 'search', order: 40 } },
  { path: SECURITY_PATH, component: SecurityScreen, section: 'menu', menu: { label: 'menu.security', order: 50 } },
  { path: ADMIN_PATH, component: AdminScreen, section: 'menu', menu: { label: 'menu.admin', order: 60, admin: true } },
  { path: PRINT_PATH, component: PrintSheetScreen, section: 'menu' },
];
