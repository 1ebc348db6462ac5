/** Per-device delivery: the mailbox (Welcomes, history bundles) and MLS key packages. */
import { ClaimKeyPackagesRequest, HistoryRequest, LIMITS, LogQuery, UploadKeyPackagesRequest } from '@agora/client-sdk/protocol';
import { AppError } from '../errors.js';
import type { Store } from '../store/types.js';
import { mailboxView } from '../views.js';
import { body, query, reply, type RouteKit } from './context.js';

async function stockOf(store: Store, deviceId: string) {
  const { stock, hasLastResort } = await store.keyPackageStock(deviceId);
  return { stock, hasLastResort, low: stock < LIMITS.keyPackageLowWater };
}

export function deviceRoutes({ router, deps, authed, later }: RouteKit): void {
  const { store, hub, now } = deps;

  router.get(
    '/v1/mailbox',
    authed(async (ctx, who) => {
      // Same paging rules as the group log.
      const q = query(ctx, LogQuery);
      const rows = await store.readMailbox(who.device.id, q.after, q.limit);
      const head = rows.length > 0 ? rows[rows.length - 1].seq : q.after;
      reply(ctx, 200, { items: rows.map(mailboxView), head });
    }),
  );

  router.post(
    '/v1/history',
    authed(async (ctx, who) => {
      const req = await body(ctx, HistoryRequest);
      const field = 'deviceId';
      const target = await store.getDevice(req.deviceId);
      if (!target || target.userId !== who.user.id) {
        throw new AppError('invalid_field', `${field}: not a device of your own`, { field });
      }
      if (target.id === who.device.id) throw new AppError('invalid_field', `${field}: must be another device`, { field });
      if (target.status !== 'active') throw new AppError('invalid_field', `${field}: device is revoked`, { field });
      const seq = await store.appendMailbox({
        deviceId: target.id, kind: 'history', groupId: null, groupSeq: null, epoch: null, from: who.device.id,
        at: now(), payload: req.payload,
      });
      reply(ctx, 201, { seq });
      later(ctx, () => hub.publish([target.id], { type: 'mailbox' }));
    }),
  );

  router.post(
    '/v1/keypackages',
    authed(async (ctx, who) => {
      const req = await body(ctx, UploadKeyPackagesRequest);
      await store.addKeyPackages(who.device.id, req.keyPackages, req.lastResort ?? null);
      reply(ctx, 200, await stockOf(store, who.device.id));
    }),
  );

  router.get(
    '/v1/keypackages/stock',
    authed(async (ctx, who) => {
      reply(ctx, 200, await stockOf(store, who.device.id));
    }),
  );

  router.post(
    '/v1/keypackages/claim',
    authed(async (ctx) => {
      const req = await body(ctx, ClaimKeyPackagesRequest);
      // Check every device before claiming any, so a refused request consumes nothing.
      const seen = new Set<string>();
      for (const [i, deviceId] of req.deviceIds.entries()) {
        const field = `deviceIds.${i}`;
        const bad = (why: string) => new AppError('invalid_field', `${field}: ${why}`, { field });
        if (seen.has(deviceId)) throw bad('device listed twice');
        seen.add(deviceId);
        const device = await store.getDevice(deviceId);
        if (!device) throw bad('no such device');
        if (device.status !== 'active') throw bad('device is revoked');
        const user = await store.getUser(device.userId);
        if (!user || user.status !== 'active') throw bad('the device\'s owner is deactivated');
      }
      const keyPackages: { deviceId: string; keyPackage: string; lastResort: boolean }[] = [];
      const missing: string[] = [];
      for (const deviceId of req.deviceIds) {
        const claimed = await store.claimKeyPackage(deviceId);
        if (claimed) keyPackages.push({ deviceId, ...claimed });
        else missing.push(deviceId);
      }
      reply(ctx, 200, { keyPackages, missing });
      later(ctx, async () => {
        for (const { deviceId } of keyPackages) {
          const { stock, low } = await stockOf(store, deviceId);
          if (low) hub.publish([deviceId], { type: 'keypackages-low', stock });
        }
      });
    }),
  );
}
