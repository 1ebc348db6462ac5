/** GET /v1/sync: what a device reads when it wakes up, in one request. Each part is exactly what
 * its own endpoint answers (the device checks each the same way); the directory and the mailbox
 * come as changes after the device's cursor. The relay keeps no per-device sync state: the cursor
 * is the device's, so an answer that never arrived is simply asked for again. */
import { LIMITS, SyncQuery, type SyncResponse } from '@agora/protocol';
import { AppError } from '../errors.js';
import { mailboxView } from '../views.js';
import { directoryAnswer } from './account.js';
import { query, reply, type RouteKit } from './context.js';
import { stockOf } from './devices.js';
import { visibleGroups } from './groups.js';
import { checkpointAnswer } from './kt.js';
import { orgKeysAnswer, pendingEnvelopes } from './orgkeys.js';

export function syncRoutes({ router, deps, authed }: RouteKit): void {
  const { store, kt } = deps;

  router.get(
    '/v1/sync',
    authed(async (ctx, who) => {
      const q = query(ctx, SyncQuery);
      const [dirAfter, mailboxAfter] = (q.cursor ?? '0.0').split('.').map(Number);
      // The counter is read with (or before) the rows, so a change is never behind the cursor given out.
      const changes = await store.directoryChanges(dirAfter);
      // A cursor this relay never gave out (0, or from before a restore from backup) gets everyone.
      const full = dirAfter === 0 || dirAfter > changes.seq;
      const directory = await directoryAnswer(store, full ? undefined : changes);
      const mailbox = await store.readMailbox(who.device.id, mailboxAfter, LIMITS.logPageSize);
      const [orgKeys, pending, groups, checkpoint, keyPackages] = await Promise.all([
        orgKeysAnswer(store, kt, who.device.id),
        pendingEnvelopes(store),
        visibleGroups(store, who),
        checkpointAnswer(kt, { witness: q.witness, quorum: q.quorum }).catch((e: unknown) => {
          if (e instanceof AppError && e.code === 'not_found') return null;
          throw e;
        }),
        stockOf(store, who.device.id),
      ]);
      const mailboxHead = mailbox.length > 0 ? mailbox[mailbox.length - 1].seq : mailboxAfter;
      const answer: SyncResponse = {
        cursor: `${changes.seq}.${mailboxHead}`,
        directory: { full, ...directory },
        orgKeys,
        pending,
        mailbox: { items: mailbox.map(mailboxView), more: mailbox.length === LIMITS.logPageSize },
        groups,
        checkpoint,
        keyPackages,
      };
      reply(ctx, 200, answer);
    }),
  );
}
