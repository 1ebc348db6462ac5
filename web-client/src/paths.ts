/** Paths of the screens (the route table is routes.ts). Kept apart from the route table and the
 * screens so that screens can import it without importing each other, and the route table without
 * pulling every screen's code into its chunk. */
export const PATHS = {
  start: '/',
  groups: '/gruppen',
  newGroup: '/gruppen/neu',
  group: '/gruppen/:id',
  members: '/gruppen/:id/mitglieder',
  groupSettings: '/gruppen/:id/einstellungen',
  safetyNumber: '/gruppen/:id/mitglieder/:userId/sicherheitsnummer',
  invite: '/einladung',
  settings: '/einstellungen',
  security: '/sicherheit',
  search: '/suche',
  admin: '/verwaltung',
  printSheet: '/verwaltung/druck',
} as const;
