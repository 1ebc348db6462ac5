/** Revoking one device (a lost or stolen phone) without deactivating its person. The log gets a
 * DEVICE_REVOKED entry in the same transaction as the store's change, so every member's client
 * learns it from the log, not from the relay: they remove the device from their secret groups,
 * the person's other devices send update commits, and the organisation key rotates. */
import { DeviceId, wsCloseCode } from '@agora/protocol';
import { AppError } from '../errors.js';
import type { RevokeDeviceOutcome } from '../store/types.js';
import { idParam, noBody, reply, type RouteKit } from './context.js';

const LAST_DEVICE = 'this is the person\'s last active device: deactivate the person instead';

export function revokeRoutes({ router, deps, authed, later }: RouteKit): void {
  const { store, hub, kt } = deps;

  router.post(
    '/v1/devices/:id/revoke',
    authed(async (ctx, who) => {
      const id = idParam(ctx, 'id', DeviceId, 'device');
      await noBody(ctx);
      const target = await store.getDevice(id);
      const admin = who.user.role === 'admin';
      const own = target?.userId === who.user.id;
      // Someone else's device ids tell nothing to a colleague who may not revoke them anyway.
      if (!target || (!own && !admin)) {
        if (!target && admin) throw new AppError('not_found', 'no such device');
        throw new AppError('forbidden', 'only another device of the same person or an administrator may revoke a device');
      }
      if (target.status !== 'active') throw new AppError('conflict', 'this device is revoked already');
      const owner = await store.getUser(target.userId);
      if (owner?.status !== 'active') throw new AppError('conflict', 'this device\'s person is deactivated');

      let logged = false;
      const outcome = await kt.write(async (draft): Promise<RevokeDeviceOutcome> => {
        logged = false;
        const state = draft.user(target.userId);
        // A person the log never saw (a database from before the log) has nothing to log against.
        if (!state) return store.revokeDevice(id);
        if (!state.devices.has(id)) throw new AppError('conflict', 'the key-transparency log does not show this device as active');
        if (state.devices.size <= 1) throw new AppError('conflict', LAST_DEVICE);
        // A device the person never vouched for (an administrator's invite put it on the account)
        // must not throw out the ones they did; a device may always give up its own key.
        const self = who.device.id === id;
        if (!admin && !self && !state.approved.has(who.device.id)) {
          throw new AppError('forbidden', 'this device is not approved by you itself: revoke devices from one that is');
        }
        // Only an approved device can approve another: revoking the last one would leave the
        // person's remaining devices outside their secret groups for good.
        const approvedLeft = [...state.devices.keys()].filter((d) => d !== id && state.approved.has(d));
        if (state.approved.has(id) && approvedLeft.length === 0) {
          throw new AppError('conflict', 'this is the person\'s last approved device: approve another of their devices from it first, or deactivate the person');
        }
        draft.deviceRevoked(target.userId, id, who.user.id);
        const result = await store.revokeDevice(id, draft.seal());
        logged = result === 'revoked';
        return result;
      }, () => logged);
      if (outcome === 'last_device') throw new AppError('conflict', LAST_DEVICE);
      if (outcome === 'not_active') throw new AppError('conflict', 'this device is revoked already');
      reply(ctx, 200, { deviceId: id, userId: target.userId, revoked: true });
      // Its sockets close at once (its token is refused from the store's write on); everyone else
      // hears about it after the answer and reads the rest from the log.
      hub.closeDevices([id], wsCloseCode('forbidden'), 'device revoked');
      later(ctx, () => {
        hub.broadcast({ type: 'directory' });
        hub.broadcast({ type: 'orgkeys' });
      });
    }),
  );
}
