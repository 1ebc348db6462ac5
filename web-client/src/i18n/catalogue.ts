/** Every word the app shows, German first and English beside it. People are addressed with "Sie".
 * Messages say what happened and what to do. Plurals are two entries, `.one` and `.other`, picked
 * by `tn()`; `{name}` placeholders are filled by `t()`. Append new entries at the end of a block or
 * add a block of your own; keep keys grouped by screen. */
export const words = {
  // ---- shared ----
  'common.back': { de: 'Zurück', en: 'Back' },
  'common.cancel': { de: 'Abbrechen', en: 'Cancel' },
  'common.close': { de: 'Schließen', en: 'Close' },
  'common.details': { de: 'Technische Einzelheiten', en: 'Technical details' },
  'common.skip': { de: 'Zum Inhalt springen', en: 'Skip to content' },
  'common.detailPane': { de: 'Einzelheiten', en: 'Details' },

  // ---- navigation and menu ----
  'nav.label': { de: 'Hauptnavigation', en: 'Main navigation' },
  'nav.start': { de: 'Start', en: 'Home' },
  'nav.groups': { de: 'Gruppen', en: 'Groups' },
  'menu.open': { de: 'Menü von {name}', en: 'Menu of {name}' },
  'menu.lock': { de: 'Sperren', en: 'Lock' },
  'menu.settings': { de: 'Einstellungen', en: 'Settings' },

  // ---- progress words ----
  'progress.starting': { de: 'Agora wird gestartet …', en: 'Starting Agora …' },
  'progress.loadingCrypto': { de: 'Verschlüsselung wird geladen …', en: 'Loading encryption …' },
  'progress.keys': { de: 'Schlüssel werden erzeugt …', en: 'Generating keys …' },
  'progress.unlocking': { de: 'Wird entsperrt …', en: 'Unlocking …' },
  'progress.resetting': { de: 'Die Daten dieses Geräts werden gelöscht …', en: 'Deleting this device\'s data …' },
  'progress.loadingGroups': { de: 'Ihre Gruppen werden geladen …', en: 'Loading your groups …' },

  // ---- problems: what happened and what to do ----
  'problem.offline': {
    de: 'Keine Verbindung zum Server. Prüfen Sie Ihre Internetverbindung; Agora versucht es von selbst wieder.',
    en: 'No connection to the server. Check your internet connection; Agora keeps trying by itself.',
  },
  'problem.offlineSend': {
    de: 'Keine Verbindung. Ihre Nachricht wird gesendet, sobald das Netz zurück ist.',
    en: 'No connection. Your message will be sent as soon as the network is back.',
  },
  'problem.wrongPin': {
    de: 'Die PIN oder das Passwort stimmt nicht. Bitte versuchen Sie es noch einmal.',
    en: 'The PIN or password is not correct. Please try again.',
  },
  'problem.deviceKeyGone': {
    de: 'Dieser Browser hat den Schlüssel verloren, der Sie angemeldet hielt (zum Beispiel, weil Website-Daten gelöscht wurden). Melden Sie sich mit Ihrer PIN an oder bitten Sie Ihre Verwaltung um eine neue Einladung.',
    en: 'This browser lost the key that kept you signed in (for example because site data was cleared). Sign in with your PIN or ask your administration for a new invite.',
  },
  'problem.inviteUnknown': {
    de: 'Diesen Einladungscode kennt der Server nicht. Prüfen Sie ihn auf Tippfehler oder bitten Sie Ihre Verwaltung um einen neuen Code.',
    en: 'The server does not know this invite code. Check it for typing errors or ask your administration for a new code.',
  },
  'problem.inviteInvalid': {
    de: 'Das ist kein gültiger Einladungscode. Er besteht aus 20 Buchstaben und Ziffern, zum Beispiel ABCD-EFGH-IJKL-MNOP-QRST.',
    en: 'This is not a valid invite code. It has 20 letters and digits, for example ABCD-EFGH-IJKL-MNOP-QRST.',
  },
  'problem.inviteUsed': {
    de: 'Dieser Einladungscode wurde schon benutzt. Jeder Code gilt nur einmal. Bitten Sie Ihre Verwaltung um einen neuen.',
    en: 'This invite code has already been used. Each code works only once. Ask your administration for a new one.',
  },
  'problem.inviteExpired': {
    de: 'Dieser Einladungscode ist abgelaufen. Bitten Sie Ihre Verwaltung um einen neuen.',
    en: 'This invite code has expired. Ask your administration for a new one.',
  },
  'problem.quota': {
    de: 'Der Speicher dieses Browsers ist voll. Nichts Gespeichertes geht verloren, aber Neues kann nicht gesichert werden. Geben Sie Speicherplatz frei (zum Beispiel Fotos, Videos oder nicht mehr gebrauchte Apps löschen); danach sichert Agora wieder wie gewohnt.',
    en: 'This browser\'s storage is full. Nothing stored is lost, but nothing new can be saved. Free some space (for example delete photos, videos or apps you no longer use); then Agora saves again as usual.',
  },
  'problem.quotaSend': {
    de: 'Der Speicher dieses Browsers ist voll, deshalb konnte Ihre Nachricht weder gesichert noch gesendet werden. Sie steht noch im Eingabefeld. Geben Sie Speicherplatz frei (zum Beispiel Fotos, Videos oder nicht mehr gebrauchte Apps löschen) und drücken Sie dann noch einmal „Senden“. Laden Sie die Seite vorher nicht neu, sonst ist der Text weg.',
    en: 'This browser\'s storage is full, so your message could be neither saved nor sent. It is still in the text field. Free some space (for example delete photos, videos or apps you no longer use), then press "Send" again. Do not reload the page before that, or the text is gone.',
  },
  'problem.quotaNearlyFull': {
    de: 'Der Speicher dieses Browsers ist fast voll. Geben Sie bald Speicherplatz frei, damit Agora weiter Nachrichten sichern kann.',
    en: 'This browser\'s storage is almost full. Free some space soon so Agora can keep saving messages.',
  },
  'problem.otherTab': {
    de: 'Agora ist in einem anderen Tab oder Fenster geöffnet. Schließen Sie es dort oder arbeiten Sie dort weiter.',
    en: 'Agora is open in another tab or window. Close it there or continue there.',
  },
  'problem.insecure': {
    de: 'Agora braucht eine sichere Verbindung. Diese Seite ({origin}) ist nicht mit https geschützt, deshalb kann der Browser Ihre Schlüssel nicht sicher verwahren. Bitten Sie Ihre IT, Agora unter einer https-Adresse bereitzustellen.',
    en: 'Agora needs a secure connection. This page ({origin}) is not protected by https, so the browser cannot keep your keys safe. Ask your IT to provide Agora at an https address.',
  },
  'problem.locked': { de: 'Agora ist gesperrt. Entsperren Sie es zuerst.', en: 'Agora is locked. Unlock it first.' },
  'problem.alarmBlocks': {
    de: 'Senden ist gesperrt, bis Sie die Sicherheitswarnung geprüft haben.',
    en: 'Sending is blocked until you have looked at the security warning.',
  },
  'problem.notFound': {
    de: 'Das gibt es auf dem Server nicht (mehr). Laden Sie die Seite neu.',
    en: 'This does not exist on the server (any more). Reload the page.',
  },
  'problem.invalid': {
    de: 'Die Eingabe wurde nicht angenommen. Prüfen Sie sie und versuchen Sie es erneut.',
    en: 'The input was not accepted. Check it and try again.',
  },
  'problem.forbidden': {
    de: 'Dazu fehlt Ihnen die Berechtigung. Wenden Sie sich an die Eigentümer der Gruppe oder Ihre Verwaltung.',
    en: 'You are not allowed to do this. Ask the group\'s owners or your administration.',
  },
  'problem.notMember': {
    de: 'Sie sind nicht Mitglied dieser Gruppe. Bitten Sie ein Mitglied, Sie hinzuzufügen.',
    en: 'You are not a member of this group. Ask a member to add you.',
  },
  'problem.conflict': {
    de: 'Gleichzeitig hat sich in der Gruppe etwas geändert. Versuchen Sie es in einem Moment erneut.',
    en: 'Something changed in the group at the same time. Try again in a moment.',
  },
  'problem.rateLimited': {
    de: 'Zu viele Versuche in kurzer Zeit. Warten Sie eine Minute und versuchen Sie es dann erneut.',
    en: 'Too many attempts in a short time. Wait a minute, then try again.',
  },
  'problem.corrupt': {
    de: 'Die auf diesem Gerät gespeicherten Daten sind beschädigt. Wenden Sie sich an Ihre Verwaltung; Sie brauchen eine neue Einladung für dieses Gerät.',
    en: 'The data stored on this device is damaged. Contact your administration; you need a new invite for this device.',
  },
  'problem.unexpected': {
    de: 'Etwas ist schiefgegangen. Versuchen Sie es erneut; wenn es wieder passiert, geben Sie die technischen Einzelheiten an Ihre Verwaltung weiter.',
    en: 'Something went wrong. Try again; if it happens again, pass the technical details on to your administration.',
  },

  // ---- banners ----
  'banner.offline': {
    de: 'Keine Verbindung. Sie sehen die zuletzt empfangenen Nachrichten; neue kommen, sobald das Netz zurück ist.',
    en: 'No connection. You see the messages received so far; new ones arrive as soon as the network is back.',
  },
  'banner.update': { de: 'Eine neue Version von Agora ist bereit.', en: 'A new version of Agora is ready.' },
  'banner.updateNow': { de: 'Jetzt neu laden', en: 'Reload now' },
  'alarm.bannerTitle': { de: 'Sicherheitswarnung.', en: 'Security warning.' },
  'alarm.banner.one': {
    de: 'Agora hat eine Unstimmigkeit bei Schlüsseln festgestellt. Senden ist gesperrt, bis Sie die Warnung geprüft haben.',
    en: 'Agora found an inconsistency in keys. Sending is blocked until you have looked at the warning.',
  },
  'alarm.banner.other': {
    de: 'Agora hat {n} Unstimmigkeiten bei Schlüsseln festgestellt. Senden ist gesperrt, bis Sie die Warnungen geprüft haben.',
    en: 'Agora found {n} inconsistencies in keys. Sending is blocked until you have looked at the warnings.',
  },
  'alarm.open': { de: 'Warnung ansehen', en: 'View warning' },
  'alarm.sendingBlocked': {
    de: 'Senden ist wegen der Sicherheitswarnung oben gesperrt. Ihr Text bleibt erhalten.',
    en: 'Sending is blocked because of the security warning above. Your text is kept.',
  },

  // ---- invite ----
  'invite.title': { de: 'Einladung annehmen', en: 'Accept invitation' },
  'invite.intro': {
    de: 'Mit Ihrem Einladungscode richten Sie Agora auf diesem Gerät ein. Ihre Schlüssel werden hier erzeugt und verlassen das Gerät nie.',
    en: 'Your invite code sets up Agora on this device. Your keys are generated here and never leave the device.',
  },
  'invite.code': { de: 'Einladungscode', en: 'Invite code' },
  'invite.codeHint': {
    de: 'Sie finden ihn auf dem Einladungsblatt oder in der Nachricht Ihrer Verwaltung, zum Beispiel ABCD-EFGH-IJKL-MNOP-QRST.',
    en: 'You find it on the invitation sheet or in the message from your administration, for example ABCD-EFGH-IJKL-MNOP-QRST.',
  },
  'invite.codeFromLink': { de: 'Aus dem Einladungslink übernommen.', en: 'Taken from the invitation link.' },
  'invite.codeMissing': { de: 'Bitte geben Sie Ihren Einladungscode ein.', en: 'Please enter your invite code.' },
  'invite.check': { de: 'Weiter', en: 'Continue' },
  'invite.checking': { de: 'Code wird geprüft …', en: 'Checking the code …' },
  'invite.codeValid': { de: 'Der Code ist gültig', en: 'The code is valid' },
  'invite.forPerson': { de: 'Sie werden als {name} angemeldet.', en: 'You will be signed in as {name}.' },
  'invite.forPersonUnnamed': { de: 'Ihre Verwaltung hat ein Konto für Sie angelegt.', en: 'Your administration created an account for you.' },
  'invite.forDevice': {
    de: 'Dieses Gerät wird Ihrem bestehenden Konto hinzugefügt.',
    en: 'This device will be added to your existing account.',
  },
  'invite.name': { de: 'Ihr Name', en: 'Your name' },
  'invite.nameHint': { de: 'So sehen Ihre Kolleginnen und Kollegen Sie.', en: 'This is how your colleagues see you.' },
  'invite.nameMissing': { de: 'Bitte geben Sie Ihren Namen ein.', en: 'Please enter your name.' },
  'invite.protection': { de: 'Wie soll Agora auf diesem Gerät geschützt werden?', en: 'How should Agora be protected on this device?' },
  'invite.protectPin': { de: 'Mit PIN oder Passwort', en: 'With a PIN or password' },
  'invite.protectPinHint': {
    de: 'Sie geben sie beim Öffnen ein; nach 10 Minuten ohne Benutzung sperrt sich Agora.',
    en: 'You enter it when opening Agora; after 10 minutes without use Agora locks itself.',
  },
  'invite.protectDevice': { de: 'Auf diesem Gerät angemeldet bleiben', en: 'Stay signed in on this device' },
  'invite.protectDeviceHint': {
    de: 'Ohne PIN. Wer dieses Gerät benutzen kann, kann Agora öffnen. Nur für ein persönliches, gesperrtes Gerät.',
    en: 'No PIN. Anyone who can use this device can open Agora. Only for a personal, locked device.',
  },
  'invite.pin': { de: 'PIN oder Passwort', en: 'PIN or password' },
  'invite.pinHint': { de: 'Mindestens {n} Zeichen. Merken Sie sie sich gut: niemand kann sie zurücksetzen.', en: 'At least {n} characters. Remember it well: nobody can reset it.' },
  'invite.pin2': { de: 'PIN oder Passwort wiederholen', en: 'Repeat PIN or password' },
  'invite.pinTooShort': { de: 'Bitte wählen Sie mindestens {n} Zeichen.', en: 'Please choose at least {n} characters.' },
  'invite.pinMismatch': { de: 'Die beiden Eingaben stimmen nicht überein.', en: 'The two entries do not match.' },
  'invite.submit': { de: 'Agora einrichten', en: 'Set up Agora' },
  'invite.alreadyRegistered': {
    de: 'Dieses Gerät ist bereits als {name} bei Agora angemeldet. Einen Einladungscode brauchen Sie nur auf einem neuen Gerät.',
    en: 'This device is already signed in to Agora as {name}. You only need an invite code on a new device.',
  },
  'invite.toStart': { de: 'Zur Startseite', en: 'Go to the home page' },

  // ---- unlock ----
  'unlock.title': { de: 'Entsperren', en: 'Unlock' },
  'unlock.intro': {
    de: 'Agora ist gesperrt. Geben Sie Ihre PIN oder Ihr Passwort ein. (Agora sperrt sich nach {minutes} Minuten ohne Benutzung.)',
    en: 'Agora is locked. Enter your PIN or password. (Agora locks itself after {minutes} minutes without use.)',
  },
  'unlock.pin': { de: 'PIN oder Passwort', en: 'PIN or password' },
  'unlock.submit': { de: 'Entsperren', en: 'Unlock' },
  'unlock.forgot': {
    de: 'PIN vergessen? Niemand kann sie zurücksetzen, auch nicht die Verwaltung. Bitten Sie um eine neue Einladung für dieses Gerät und setzen Sie es hier zurück.',
    en: 'Forgot your PIN? Nobody can reset it, not even the administration. Ask for a new invite for this device and reset it here.',
  },

  'reset.open': { de: 'Dieses Gerät zurücksetzen', en: 'Reset this device' },
  'reset.explain': {
    de: 'Alle Agora-Daten in diesem Browser werden gelöscht, auch ungesendete Nachrichten. Ohne PIN oder Schlüssel sind sie ohnehin nicht mehr lesbar. Auf Ihren anderen Geräten und in Ihren Gruppen bleibt alles erhalten. Danach können Sie dieses Gerät mit einer neuen Einladung einrichten.',
    en: 'All Agora data in this browser is deleted, including unsent messages. Without the PIN or key it cannot be read anyway. Everything on your other devices and in your groups stays. Afterwards you can set this device up with a new invite.',
  },
  'reset.confirm': { de: 'Endgültig zurücksetzen', en: 'Reset for good' },

  // ---- other tab, failure, not found ----
  'tab.title': { de: 'Agora ist schon geöffnet', en: 'Agora is already open' },
  'tab.elsewhere': {
    de: 'Agora ist in einem anderen Tab oder Fenster dieses Browsers geöffnet. Arbeiten Sie dort weiter, oder holen Sie Agora hierher.',
    en: 'Agora is open in another tab or window of this browser. Continue there, or bring Agora here.',
  },
  'tab.takenOver': {
    de: 'Agora wurde in einem anderen Tab geöffnet und läuft jetzt dort. Ungesendetes bleibt gespeichert.',
    en: 'Agora was opened in another tab and now runs there. Unsent messages stay saved.',
  },
  'tab.useHere': { de: 'Hier weiterarbeiten', en: 'Continue here' },
  'failed.title': { de: 'Agora konnte nicht starten', en: 'Agora could not start' },
  'failed.reload': { de: 'Neu laden', en: 'Reload' },
  'notFound.title': { de: 'Seite nicht gefunden', en: 'Page not found' },
  'notFound.text': {
    de: 'Diese Adresse gibt es in Agora nicht. Wählen Sie einen Bereich in der Navigation.',
    en: 'This address does not exist in Agora. Choose an area in the navigation.',
  },

  // ---- start ----
  'start.title': { de: 'Startseite', en: 'Home' },
  'start.greeting': { de: 'Guten Tag, {name}.', en: 'Hello, {name}.' },
  'start.newest': { de: 'Neueste Nachrichten aus Ihren Gruppen', en: 'Newest messages from your groups' },
  'start.noGroups': { de: 'Sie sind noch in keiner Gruppe.', en: 'You are not in any group yet.' },
  'start.toGroups': { de: 'Gruppen ansehen und beitreten', en: 'See and join groups' },
  'start.noMessages': { de: 'In Ihren Gruppen gibt es noch keine Nachrichten.', en: 'There are no messages in your groups yet.' },

  // ---- groups ----
  'groups.title': { de: 'Gruppen', en: 'Groups' },
  'groups.newSecret': { de: 'Neue geheime Gruppe', en: 'New secret group' },
  'groups.loading': { de: 'Gruppen werden geladen …', en: 'Loading groups …' },
  'groups.department': { de: 'Meine Abteilung', en: 'My department' },
  'groups.departmentEmpty': { de: 'Sie gehören noch keiner Abteilung an.', en: 'You do not belong to a department yet.' },
  'groups.secret': { de: 'Geheime Gruppen', en: 'Secret groups' },
  'groups.secretEmpty': {
    de: 'Sie sind in keiner geheimen Gruppe. Legen Sie eine an oder lassen Sie sich hinzufügen.',
    en: 'You are not in any secret group. Create one or ask to be added.',
  },
  'groups.public': { de: 'Öffentliche Gruppen', en: 'Public groups' },
  'groups.publicEmpty': { de: 'Es gibt noch keine öffentlichen Gruppen.', en: 'There are no public groups yet.' },
  'groups.join': { de: 'Gruppe beitreten', en: 'Join group' },
  'groups.joinNamed': { de: 'Gruppe beitreten: {name}', en: 'Join group: {name}' },
  'groups.joining': { de: 'Wird beigetreten …', en: 'Joining …' },
  'groups.members.one': { de: '{n} Mitglied', en: '{n} member' },
  'groups.members.other': { de: '{n} Mitglieder', en: '{n} members' },
  'groups.unread.one': { de: '{shown} ungelesen', en: '{shown} unread' },
  'groups.unread.other': { de: '{shown} ungelesen', en: '{shown} unread' },

  // ---- group ----
  'group.kindSecret': { de: 'Geheime Gruppe · Ende-zu-Ende-verschlüsselt', en: 'Secret group · end-to-end encrypted' },
  'group.kindPublic': { de: 'Öffentliche Gruppe · Für alle Beschäftigten sichtbar', en: 'Public group · visible to all staff' },
  'group.kindSecretShort': { de: 'geheim', en: 'secret' },
  'group.kindPublicShort': { de: 'öffentlich', en: 'public' },
  'group.members': { de: 'Mitglieder', en: 'Members' },
  'group.backToGroups': { de: 'Zurück zu den Gruppen', en: 'Back to groups' },
  'group.messages': { de: 'Nachrichten in {name}', en: 'Messages in {name}' },
  'group.loading': { de: 'Nachrichten werden geladen …', en: 'Loading messages …' },
  'group.empty': { de: 'Noch keine Nachrichten. Schreiben Sie die erste.', en: 'No messages yet. Write the first one.' },
  'group.messageGone': {
    de: 'Nachricht nicht mehr vorhanden. Sie wurde in dieser Gruppe nicht gefunden.',
    en: 'Message no longer available. It was not found in this group.',
  },
  'group.older.one': { de: '{n} ältere Nachricht anzeigen', en: 'Show {n} older message' },
  'group.older.other': { de: '{n} ältere Nachrichten anzeigen', en: 'Show {n} older messages' },
  'group.toNewest': { de: 'Zu den neuesten Nachrichten', en: 'Go to the newest messages' },
  'group.notMember': {
    de: 'Sie sind nicht Mitglied dieser öffentlichen Gruppe. Treten Sie bei, um mitzuschreiben.',
    en: 'You are not a member of this public group. Join it to write.',
  },
  'group.unknownTitle': { de: 'Gruppe nicht gefunden', en: 'Group not found' },
  'group.unknown': {
    de: 'Diese Gruppe gibt es nicht, oder Sie sind nicht (mehr) Mitglied. Geheime Gruppen sieht nur, wer dazugehört.',
    en: 'This group does not exist, or you are not (or no longer) a member. Only members see secret groups.',
  },
  'group.about': { de: 'Über diese Gruppe', en: 'About this group' },
  'group.secretExplained': {
    de: 'Nur die Mitglieder können Namen und Nachrichten lesen, auch der Server nicht.',
    en: 'Only the members can read the name and messages, not even the server.',
  },
  'group.publicExplained': {
    de: 'Alle Beschäftigten können diese Gruppe finden und lesen.',
    en: 'All staff can find and read this group.',
  },
  'group.showMembers': { de: 'Mitglieder anzeigen', en: 'Show members' },

  // ---- messages and composer ----
  'msg.you': { de: 'Sie', en: 'You' },
  'msg.today': { de: 'Heute', en: 'Today' },
  'msg.yesterday': { de: 'Gestern', en: 'Yesterday' },
  'msg.from': { de: 'Nachricht von {name}', en: 'Message from {name}' },
  'msg.sending': { de: 'wird gesendet', en: 'sending' },
  'msg.sent': { de: 'gesendet', en: 'sent' },
  'msg.failed': { de: 'nicht gesendet', en: 'not sent' },
  'msg.retry': { de: 'Erneut versuchen', en: 'Try again' },
  'msg.discard': { de: 'Verwerfen', en: 'Discard' },
  'composer.label': { de: 'Nachricht an {name}', en: 'Message to {name}' },
  'composer.placeholder': { de: 'Nachricht schreiben …', en: 'Write a message …' },
  'composer.send': { de: 'Senden', en: 'Send' },
  'composer.hint': { de: 'Eingabetaste sendet, Umschalt und Eingabetaste beginnt eine neue Zeile.', en: 'Enter sends, Shift and Enter starts a new line.' },

  // ---- new secret group ----
  'newGroup.title': { de: 'Neue geheime Gruppe', en: 'New secret group' },
  'newGroup.titleAny': { de: 'Neue Gruppe', en: 'New group' },
  'newGroup.kind': { de: 'Art der Gruppe', en: 'Kind of group' },
  'newGroup.kindSecret': { de: 'Geheime Gruppe', en: 'Secret group' },
  'newGroup.kindPublic': { de: 'Öffentliche Gruppe', en: 'Public group' },
  'newGroup.explainPublic': {
    de: 'Öffentliche Gruppe · für alle Beschäftigten sichtbar: alle können sie finden, beitreten und lesen. Ihr Name ist auch für den Server lesbar; die Nachrichten sind mit dem Schlüssel der Organisation verschlüsselt.',
    en: 'Public group · visible to all staff: everyone can find, join and read it. Its name is readable by the server too; messages are encrypted with the organisation key.',
  },
  'newGroup.explain': {
    de: 'Geheime Gruppe · Ende-zu-Ende-verschlüsselt: Name, Beschreibung und Nachrichten lesen nur die Mitglieder. Sie sind Eigentümerin oder Eigentümer und fügen danach Mitglieder hinzu.',
    en: 'Secret group · end-to-end encrypted: only members read its name, description and messages. You are its owner and add members next.',
  },
  'newGroup.name': { de: 'Name der Gruppe', en: 'Group name' },
  'newGroup.nameMissing': { de: 'Bitte geben Sie einen Namen ein.', en: 'Please enter a name.' },
  'newGroup.description': { de: 'Beschreibung (freiwillig)', en: 'Description (optional)' },
  'newGroup.descriptionHint': { de: 'Worum geht es in der Gruppe?', en: 'What is the group about?' },
  'newGroup.submit': { de: 'Gruppe anlegen', en: 'Create group' },
  'newGroup.creating': { de: 'Gruppe wird angelegt …', en: 'Creating the group …' },

  // ---- settings ----
  'settings.title': { de: 'Einstellungen', en: 'Settings' },
  'settings.account': { de: 'Konto', en: 'Account' },
  'settings.signedInAs': { de: 'Angemeldet als {name} bei {org}.', en: 'Signed in as {name} at {org}.' },
  'settings.language': { de: 'Sprache', en: 'Language' },
  'settings.lockTitle': { de: 'Sperren', en: 'Locking' },
  'settings.lockPin': {
    de: 'Agora sperrt sich nach {minutes} Minuten ohne Benutzung. Sie können es jederzeit selbst sperren.',
    en: 'Agora locks itself after {minutes} minutes without use. You can lock it yourself at any time.',
  },
  'settings.about': { de: 'Über diese Version', en: 'About this version' },
  'settings.buildHash': {
    de: 'Prüfsumme dieser Version: {hash}. Ihre Verwaltung kann sie mit dem Prüfprotokoll vergleichen.',
    en: 'Checksum of this version: {hash}. Your administration can compare it with the audit log.',
  },
  'settings.buildHashUnknown': { de: 'Die Prüfsumme dieser Version konnte nicht gelesen werden.', en: 'The checksum of this version could not be read.' },
  'settings.lockDevice': {
    de: 'Sie bleiben auf diesem Gerät angemeldet; Agora hat keine PIN. Schützen Sie das Gerät selbst mit einer Bildschirmsperre.',
    en: 'You stay signed in on this device; Agora has no PIN. Protect the device itself with a screen lock.',
  },
  'settings.stayTitle': { de: 'Angemeldet bleiben', en: 'Staying signed in' },
  'settings.stayLabel': { de: 'Auf diesem Gerät angemeldet bleiben', en: 'Stay signed in on this device' },
  'settings.stayOffText': {
    de: 'Wenn Sie das einschalten, fragt Agora in diesem Browser nicht mehr nach Ihrer PIN und sperrt sich nicht mehr von selbst. Dann kann jeder, der dieses Gerät mit diesem Browser-Profil benutzt, Agora öffnen, Ihre Nachrichten lesen und in Ihrem Namen schreiben. Schalten Sie es nur auf einem Gerät ein, das nur Sie benutzen und das mit einer Bildschirmsperre geschützt ist.',
    en: 'If you turn this on, Agora no longer asks for your PIN in this browser and no longer locks itself. Then anyone who uses this device with this browser profile can open Agora, read your messages and write in your name. Only turn it on on a device that only you use and that is protected by a screen lock.',
  },
  'settings.stayOnText': {
    de: 'Agora öffnet sich in diesem Browser ohne PIN: Jeder, der dieses Gerät mit diesem Browser-Profil benutzt, kann Agora öffnen. Ihre PIN bleibt gültig. Schalten Sie es aus, fragt Agora beim nächsten Öffnen wieder nach der PIN und sperrt sich wieder nach {minutes} Minuten ohne Benutzung.',
    en: 'Agora opens in this browser without a PIN: anyone who uses this device with this browser profile can open Agora. Your PIN stays valid. Turn it off and Agora asks for the PIN again the next time it opens, and locks itself again after {minutes} minutes without use.',
  },
  'settings.stayOnDone': { de: 'Eingeschaltet: Agora fragt in diesem Browser nicht mehr nach Ihrer PIN.', en: 'On: Agora no longer asks for your PIN in this browser.' },
  'settings.stayOffDone': { de: 'Ausgeschaltet: Beim nächsten Öffnen fragt Agora wieder nach Ihrer PIN.', en: 'Off: Agora asks for your PIN again the next time it opens.' },
  'settings.stayBusy': { de: 'Wird gespeichert …', en: 'Saving …' },
  'settings.lockStay': {
    de: 'Sie bleiben auf diesem Gerät angemeldet, deshalb sperrt sich Agora nicht von selbst. Schützen Sie das Gerät mit einer Bildschirmsperre.',
    en: 'You stay signed in on this device, so Agora does not lock itself. Protect the device with a screen lock.',
  },

  // ---- Verwaltung: changing a person's role ----
  'roles.choose': { de: 'Rolle von {name}', en: 'Role of {name}' },
  'roles.unverified': { de: '(noch nicht im Schlüsselverzeichnis bestätigt)', en: '(not yet confirmed by the key directory)' },
  'roles.confirmTitle': { de: 'Rolle von {name} ändern?', en: "Change {name}'s role?" },
  'roles.confirmWhat': {
    de: '{name} wird von „{from}“ zu „{to}“. Die Änderung wird mit dem Schlüssel dieses Geräts unterschrieben und im Schlüsselverzeichnis festgehalten; alle Geräte und der Prüfbericht sehen, wer sie vorgenommen hat.',
    en: '{name} changes from “{from}” to “{to}”. The change is signed with this device\'s key and kept in the key directory; every device and the audit report see who made it.',
  },
  'roles.confirmSelf': {
    de: 'Sie ändern Ihre eigene Rolle. Danach können Sie diese Verwaltung nicht mehr benutzen, bis eine andere Administratorin oder ein anderer Administrator Ihnen die Rolle zurückgibt.',
    en: 'You are changing your own role. Afterwards you can no longer use this administration until another administrator gives the role back to you.',
  },
  'roles.confirm': { de: 'Rolle ändern', en: 'Change role' },
  'roles.done': { de: '{name} hat jetzt die Rolle „{role}“.', en: '{name} now has the role “{role}”.' },
  'alarm.roleChangeMissing': {
    de: 'Der Server hat eine Rollenänderung angenommen, die im Schlüsselverzeichnis nicht erscheint.',
    en: 'The server accepted a role change that does not appear in the key directory.',
  },
  'officer.roleChanges': { de: 'Rollen: geändert', en: 'Roles: changed' },
  'officer.noRoleChanges': { de: 'Keine Rolle wurde geändert.', en: 'No role was changed.' },
  'officer.col.roleChange': { de: 'Rolle', en: 'Role' },
  'officer.roleChange': { de: '{from} → {to}', en: '{from} → {to}' },
  'roles.lastAdmin': {
    de: 'Die letzte Administratorin oder der letzte Administrator kann die Rolle nicht abgeben. Machen Sie zuerst eine andere Person zur Administratorin oder zum Administrator.',
    en: 'The last administrator cannot give up the role. Make someone else an administrator first.',
  },
} as const;
