/** Per-device delivery: the mailbox (Welcomes, history bundles) and MLS key packages. */
import { deviceApprovalMessage } from '@agora/protocol/kt';
import {
  ApproveDeviceRequest, ClaimKeyPackagesRequest, HistoryRequest, LIMITS, LogQuery, UploadKeyPackagesRequest, fromB64u, toB64u,
} from '@agora/protocol';
import { verifyEd25519 } from '../auth.js';
import { ClaimLimits } from '../claim-limits.js';
import { AppError } from '../errors.js';
import type { Store } from '../store/types.js';
import { mailboxView } from '../views.js';
import { body, query, reply, type RouteKit } from './context.js';

export async function stockOf(store: Store, deviceId: string) {
  const { stock, hasLastResort } = await store.keyPackageStock(deviceId);
  return { stock, hasLastResort, low: stock < LIMITS.keyPackageLowWater };
}

export function deviceRoutes({ router, deps, authed, later }: RouteKit): void {
  const { store, hub, now, kt } = deps;
  const claimLimits = new ClaimLimits();

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
    '/v1/devices/approve',
    authed(async (ctx, who) => {
      const req = await body(ctx, ApproveDeviceRequest);
      const bad = (field: string, why: string) => new AppError('invalid_field', `${field}: ${why}`, { field });
      const target = await store.getDevice(req.deviceId);
      if (!target || target.userId !== who.user.id) throw bad('deviceId', 'not a device of your own');
      if (target.id === who.device.id) throw bad('deviceId', 'must be another device');
      if (target.status !== 'active') throw bad('deviceId', 'device is revoked');
      await kt.write(async (draft) => {
        // The log's view decides: the keys the approval covers are the logged ones, and only a device
        // the person already vouches for may vouch for another.
        const state = draft.user(who.user.id);
        const keys = state?.devices.get(target.id);
        if (!state || !keys) throw bad('deviceId', 'the key-transparency log does not show this device yet');
        if (state.approved.has(target.id)) throw new AppError('conflict', 'deviceId: approved already', { field: 'deviceId' });
        const approver = state.devices.get(who.device.id);
        if (!approver || !state.approved.has(who.device.id)) {
          throw new AppError('forbidden', 'this device is not approved by you itself: approve devices from one that is');
        }
        const message = deviceApprovalMessage({ userId: who.user.id, deviceId: target.id, signPub: keys.signPub, encPub: keys.encPub });
        if (!verifyEd25519(toB64u(approver.signPub), message, req.signature)) {
          throw new AppError('bad_signature', 'signature: does not verify for this device and the logged keys', { field: 'signature' });
        }
        draft.deviceApproved(who.user.id, target.id, who.device.id, fromB64u(req.signature));
        // The entry is the whole change: the approval lives in the log, nowhere else.
        await store.appendKt(draft.seal());
      }, () => true);
      reply(ctx, 200, { deviceId: target.id, approved: true });
      // Members' devices add it to the person's secret groups on their next sync.
      later(ctx, () => hub.broadcast({ type: 'directory' }));
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
    authed(async (ctx, who) => {
      const req = await body(ctx, ClaimKeyPackagesRequest);
      // Packages are for adding devices to a secret group, which only its member devices can do.
      const group = await store.getGroup(req.groupId);
      if (!group || group.kind !== 'secret' || !(await store.getGroupDevice(group.id, who.device.id))) {
        throw new AppError('forbidden', 'groupId: only a member device of that secret group may claim KeyPackages for it', { field: 'groupId' });
      }
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
      const allowed = claimLimits.take(who.user.id, req.deviceIds);
      if (!allowed.ok) {
        const field = allowed.target ? `deviceIds.${req.deviceIds.indexOf(allowed.target)}` : 'deviceIds';
        throw new AppError('rate_limited', `${field}: too many KeyPackage claims, try again later`, {
          field,
          headers: { 'Retry-After': String(allowed.retryAfterSeconds) },
        });
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
