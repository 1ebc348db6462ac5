/** Organisation-key generations for public groups. The relay keeps sealed envelopes per device
 * and tells devices who is still missing which generation; it never holds an opened key. */
import { idListHash, orgKeyGenerationMessage } from '@agora/protocol/kt';
import { CreateGenerationRequest, LIMITS, RefuseEnvelopeRequest, UploadEnvelopesRequest, bytesEqual, fromB64u, type OrgKeysResponse, type PendingResponse } from '@agora/protocol';
import { verifyEd25519 } from '../auth.js';
import { AppError } from '../errors.js';
import type { EnvelopeRow, Store } from '../store/types.js';
import { envelopeView } from '../views.js';
import { ROTATION_META } from './admin.js';
import type { KtLog } from '../kt/log.js';
import { body, reply, type RouteKit } from './context.js';

/** Refuses an envelope for a device that is revoked or belongs to a deactivated person: sealing
 * a key to a leaver is exactly what a rotation is meant to stop. */
async function requireRecipient(store: Store, deviceId: string, field: string): Promise<void> {
  const device = await store.getDevice(deviceId);
  if (!device) throw new AppError('invalid_field', `${field}: no such device`, { field });
  if (device.status !== 'active') throw new AppError('invalid_field', `${field}: device is revoked`, { field });
  const user = await store.getUser(device.userId);
  if (!user || user.status !== 'active') {
    throw new AppError('invalid_field', `${field}: the device's owner is deactivated`, { field });
  }
}

/** The device's envelopes, the current generation and where the generations sit in the log. */
export async function orgKeysAnswer(store: Store, kt: KtLog, deviceId: string): Promise<OrgKeysResponse> {
  const [current, flag, envelopes, logged] = await Promise.all([
    store.currentGeneration(),
    store.getMeta(ROTATION_META),
    store.listEnvelopes(deviceId),
    kt.orgKeyGenerations(),
  ]);
  // The log positions of the generations this device holds envelopes for, and of the current
  // one: the device proves each entry in the log before it accepts that generation's key.
  const wanted = new Set([...envelopes.map((e) => e.generation), ...(current > 0 ? [current] : [])]);
  const generations = [...wanted].sort((a, b) => a - b).flatMap((generation) => {
    const index = logged.indexes.get(generation);
    return index === undefined ? [] : [{ generation, index }];
  }).slice(-LIMITS.fanOut);
  return { current, rotationNeeded: flag === '1' || logged.rotationDue, envelopes: envelopes.map(envelopeView), generations };
}

/** Active devices of active people still missing one or more generations. */
export async function pendingEnvelopes(store: Store): Promise<PendingResponse['pending']> {
  const [current, devices, users, keys] = await Promise.all([
    store.currentGeneration(),
    store.listDevices(),
    store.listUsers(),
    store.listEnvelopeKeys(),
  ]);
  const activeUsers = new Set(users.filter((u) => u.status === 'active').map((u) => u.id));
  const have = new Set(keys.map((k) => `${k.generation}:${k.deviceId}`));
  const pending: PendingResponse['pending'] = [];
  for (const device of devices) {
    if (device.status !== 'active' || !activeUsers.has(device.userId)) continue;
    const missing: number[] = [];
    for (let g = 1; g <= current; g++) if (!have.has(`${g}:${device.id}`)) missing.push(g);
    if (missing.length > 0) pending.push({ deviceId: device.id, missing });
  }
  return pending;
}

export function orgKeyRoutes({ router, deps, authed, later }: RouteKit): void {
  const { store, hub, now, kt } = deps;

  router.get(
    '/v1/orgkeys',
    authed(async (ctx, who) => reply(ctx, 200, await orgKeysAnswer(store, kt, who.device.id))),
  );

  router.post(
    '/v1/orgkeys/generations',
    authed(async (ctx, who) => {
      // Administrators rotate at any time. Any other active employee's device may create the next
      // generation only when the log shows a revocation or deactivation newer than the latest
      // generation: then the rotation is owed, and no administrator's device has to be online for
      // a leaver to be shut out (the first generation created wins; the rest get a conflict).
      const admin = who.user.role === 'admin';
      if (!admin && !(await kt.orgKeyGenerations()).rotationDue) {
        throw new AppError('forbidden', 'only an administrator may rotate the organisation key while no revocation is pending');
      }
      const req = await body(ctx, CreateGenerationRequest);
      const current = await store.currentGeneration();
      if (req.generation !== current + 1) {
        throw new AppError('conflict', `the next generation is ${current + 1}`);
      }
      const at = now();
      const seen = new Set<string>();
      const envelopes: EnvelopeRow[] = [];
      for (const [i, e] of req.envelopes.entries()) {
        const field = `envelopes.${i}.deviceId`;
        if (seen.has(e.deviceId)) throw new AppError('invalid_field', `${field}: device listed twice`, { field });
        seen.add(e.deviceId);
        await requireRecipient(store, e.deviceId, field);
        envelopes.push({ generation: req.generation, deviceId: e.deviceId, sealed: e.sealed, sealedBy: who.device.id, at });
      }
      // The log records which devices the generation was sealed to, as the creating device signed it.
      const deviceSetHash = fromB64u(req.deviceSetHash);
      if (!bytesEqual(deviceSetHash, idListHash([...seen]))) {
        throw new AppError('invalid_field', 'deviceSetHash: not the hash of the envelopes\' devices', { field: 'deviceSetHash' });
      }
      const keyCommitment = fromB64u(req.keyCommitment);
      if (!verifyEd25519(who.device.signPub, orgKeyGenerationMessage(req.generation, deviceSetHash, keyCommitment), req.signature)) {
        throw new AppError('invalid_field', 'signature: does not verify with this device\'s key', { field: 'signature' });
      }
      const created = await kt.write(async (draft) => {
        // Checked again against the state the entry is drafted on: another generation may have
        // settled the revocation meanwhile.
        if (!admin && !draft.rotationDue) throw new AppError('conflict', 'another generation was created first');
        draft.orgKeyGeneration({
          generation: req.generation, creatorDeviceId: who.device.id, deviceSetHash, keyCommitment, signature: fromB64u(req.signature),
        });
        return store.createGeneration({ generation: req.generation, createdBy: who.device.id, createdAt: at }, envelopes, draft.seal());
      }, (ok) => ok);
      if (!created) throw new AppError('conflict', 'another generation was created first');
      await store.setMeta(ROTATION_META, '0');
      reply(ctx, 201, { generation: req.generation });
      later(ctx, () => hub.broadcast({ type: 'orgkeys' }));
    }),
  );

  router.post(
    '/v1/orgkeys/envelopes',
    authed(async (ctx, who) => {
      const req = await body(ctx, UploadEnvelopesRequest);
      const current = await store.currentGeneration();
      const at = now();
      const envelopes: EnvelopeRow[] = [];
      for (const [i, e] of req.envelopes.entries()) {
        if (e.generation > current) {
          const field = `envelopes.${i}.generation`;
          throw new AppError('invalid_field', `${field}: the current generation is ${current}`, { field });
        }
        await requireRecipient(store, e.deviceId, `envelopes.${i}.deviceId`);
        envelopes.push({ generation: e.generation, deviceId: e.deviceId, sealed: e.sealed, sealedBy: who.device.id, at });
      }
      await store.putEnvelopes(envelopes);
      reply(ctx, 200, { accepted: envelopes.length });
      later(ctx, () => hub.publish(envelopes.map((e) => e.deviceId), { type: 'orgkeys' }));
    }),
  );

  router.post(
    '/v1/orgkeys/refused',
    authed(async (ctx, who) => {
      // Only the recipient speaks for its own envelope, and only for the exact one it was served:
      // nobody can strip a colleague's key, and a report of an envelope the relay never stored (the
      // relay swapped it on the way) drops nothing. The next colleague's device that syncs seals the
      // generation to this device again.
      const req = await body(ctx, RefuseEnvelopeRequest);
      const dropped = await store.refuseEnvelope({ generation: req.generation, deviceId: who.device.id, sealedBy: req.sealedBy, sealed: req.sealed });
      reply(ctx, 200, { dropped });
      if (dropped) later(ctx, () => hub.broadcast({ type: 'orgkeys' }));
    }),
  );

  router.get(
    '/v1/orgkeys/pending',
    authed(async (ctx) => reply(ctx, 200, { pending: await pendingEnvelopes(store) })),
  );
}
