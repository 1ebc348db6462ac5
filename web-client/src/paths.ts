/** Paths of the screens other screens link to (the route table is routes.ts). Kept apart from the
 * route table so screens can import it without importing each other. */
export const PATHS = {
  start: '/',
  groups: '/gruppen',
  newGroup: '/gruppen/neu',
  group: '/gruppen/:id',
  members: '/gruppen/:id/mitglieder',
  groupSettings: '/gruppen/:id/einstellungen',
  invite: '/einladung',
  settings: '/einstellungen',
  security: '/sicherheit',
} as const;
