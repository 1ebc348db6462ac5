/** The words of "Gruppe verwalten" (rename, describe, renew the key, leave, delete), of the
 * newcomer's hint while the organisation key is on its way, and of "Dieses Gerät" under
 * Einstellungen. German first, English beside it; spread into the one catalogue (i18n/index.ts). */
export const groupSettingsWords = {
  // ---- Einstellungen der Gruppe ----
  'groupSettings.open': { de: 'Gruppe verwalten', en: 'Manage group' },
  'groupSettings.title': { de: 'Gruppe verwalten', en: 'Manage group' },
  'groupSettings.titleOf': { de: 'Gruppe verwalten: {group}', en: 'Manage group: {group}' },
  'groupSettings.backToGroup': { de: 'Zurück zur Gruppe', en: 'Back to the group' },
  'groupSettings.loading': { de: 'Wird geladen …', en: 'Loading …' },
  'groupSettings.nameTitle': { de: 'Name und Beschreibung', en: 'Name and description' },
  'groupSettings.name': { de: 'Name der Gruppe', en: 'Group name' },
  'groupSettings.nameMissing': { de: 'Bitte geben Sie einen Namen ein.', en: 'Please enter a name.' },
  'groupSettings.description': { de: 'Beschreibung (freiwillig)', en: 'Description (optional)' },
  'groupSettings.descriptionHint': { de: 'Worum geht es in der Gruppe?', en: 'What is the group about?' },
  'groupSettings.save': { de: 'Speichern', en: 'Save' },
  'groupSettings.saving': { de: 'Wird gespeichert …', en: 'Saving …' },
  'groupSettings.unchanged': { de: 'Es gibt nichts zu speichern: Name und Beschreibung sind unverändert.', en: 'Nothing to save: the name and description are unchanged.' },
  'groupSettings.saved': {
    de: 'Gespeichert. Alle Mitglieder sehen den neuen Namen, sobald ihr Gerät online ist.',
    en: 'Saved. Every member sees the new name as soon as their device is online.',
  },
  'groupSettings.secretMeta': {
    de: 'Name und Beschreibung werden verschlüsselt an die Mitglieder geschickt; der Server erfährt sie nicht.',
    en: 'The name and description are sent encrypted to the members; the server never learns them.',
  },
  'groupSettings.publicMeta': {
    de: 'Der Name einer öffentlichen Gruppe ist für alle Beschäftigten sichtbar. Eine Beschreibung haben nur geheime Gruppen.',
    en: 'A public group\'s name is visible to all staff. Only secret groups have a description.',
  },
  'groupSettings.onlyOwners': {
    de: 'Nur die Eigentümer dieser Gruppe können ihren Namen und ihre Beschreibung ändern.',
    en: 'Only the owners of this group can change its name and description.',
  },
  'groupSettings.onlyCreator': {
    de: 'Nur wer diese Gruppe angelegt hat und die Verwaltung können sie umbenennen oder löschen.',
    en: 'Only the person who created this group and the administrators can rename or delete it.',
  },
  'groupSettings.department': {
    de: 'Diese Gruppe gehört zu einer Abteilung: Ihr Name folgt dem der Abteilung. Die Verwaltung benennt Abteilungen um.',
    en: 'This group belongs to a department: its name follows the department\'s. Administrators rename departments.',
  },
  'groupSettings.leaveTitle': { de: 'Gruppe verlassen', en: 'Leave the group' },
  'groupSettings.leaveText': {
    de: 'Sie erhalten dann keine Nachrichten dieser Gruppe mehr. Weil sie öffentlich ist, können Sie jederzeit wieder beitreten.',
    en: 'You then no longer receive this group\'s messages. As it is public, you can join again at any time.',
  },
  'groupSettings.leave': { de: 'Gruppe verlassen', en: 'Leave the group' },
  'groupSettings.leaveConfirmTitle': { de: '„{group}“ verlassen?', en: 'Leave "{group}"?' },
  'groupSettings.leaveConfirm': { de: 'Verlassen', en: 'Leave' },
  'groupSettings.leaveSecret': {
    de: 'Eine geheime Gruppe können Sie nicht selbst verlassen: Bitten Sie einen Eigentümer der Gruppe, Sie unter „Mitglieder“ zu entfernen.',
    en: 'You cannot leave a secret group yourself: ask an owner of the group to remove you under "Members".',
  },
  'groupSettings.notMember': { de: 'Sie sind nicht Mitglied dieser Gruppe.', en: 'You are not a member of this group.' },
  'groupSettings.left': { de: 'Sie haben „{group}“ verlassen.', en: 'You left "{group}".' },
  'groupSettings.deleteTitle': { de: 'Gruppe löschen', en: 'Delete the group' },
  'groupSettings.deleteText': {
    de: 'Die Gruppe verschwindet mit allen Nachrichten für alle Beschäftigten. Das lässt sich nicht rückgängig machen.',
    en: 'The group disappears with all its messages for all staff. This cannot be undone.',
  },
  'groupSettings.delete': { de: 'Gruppe löschen', en: 'Delete the group' },
  'groupSettings.deleteConfirmTitle': { de: '„{group}“ endgültig löschen?', en: 'Delete "{group}" for good?' },
  'groupSettings.deleteConfirm': { de: 'Endgültig löschen', en: 'Delete for good' },
  'groupSettings.deleted': { de: '„{group}“ wurde gelöscht.', en: '"{group}" was deleted.' },
  'groupSettings.keyTitle': { de: 'Schlüssel dieses Geräts erneuern', en: 'Renew this device\'s key' },
  'groupSettings.keyText': {
    de: 'Agora erneuert den Schlüssel dieses Geräts in der Gruppe regelmäßig von selbst. Erneuern Sie ihn jetzt, wenn Sie befürchten, dass jemand die Daten dieses Geräts kopiert hat: Eine solche Kopie kann danach nichts Neues mehr lesen.',
    en: 'Agora renews this device\'s key in the group regularly by itself. Renew it now if you fear someone copied this device\'s data: such a copy can then read nothing new.',
  },
  'groupSettings.key': { de: 'Schlüssel jetzt erneuern', en: 'Renew the key now' },
  'groupSettings.keyBusy': { de: 'Wird erneuert …', en: 'Renewing …' },
  'groupSettings.keyDone': { de: 'Der Schlüssel wurde erneuert.', en: 'The key was renewed.' },
  'groupSettings.toMembers': { de: 'Zu den Mitgliedern', en: 'To the members' },

  // ---- the newcomer's hint (Start, Gruppen) ----
  'orgKey.waitingTitle': { de: 'Öffentliche Gruppen noch nicht lesbar', en: 'Public groups not readable yet' },
  'orgKey.waiting': {
    de: 'Sie können die öffentlichen Gruppen lesen, sobald ein Kollege online war — das geschieht automatisch.',
    en: 'You can read the public groups as soon as a colleague has been online — this happens automatically.',
  },

  // ---- Einstellungen: this device ----
  'settings.deviceTitle': { de: 'Dieses Gerät', en: 'This device' },
  'settings.roleLabel': { de: 'Rolle', en: 'Role' },
  'settings.departmentLabel': { de: 'Abteilung', en: 'Department' },
  'settings.departmentNone': { de: 'keiner Abteilung zugeordnet', en: 'in no department' },
  'settings.departmentUnknown': { de: 'gerade nicht abrufbar (keine Verbindung?)', en: 'not available right now (no connection?)' },
  'settings.serverLabel': { de: 'Server', en: 'Server' },
  'settings.userIdLabel': { de: 'Personenkennung', en: 'Person ID' },
  'settings.deviceIdLabel': { de: 'Gerätekennung', en: 'Device ID' },
} as const;
