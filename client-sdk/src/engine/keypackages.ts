/** This device's KeyPackages on the relay, and claiming other devices' packages for a commit. */
import * as api from '@agora/protocol/api';
import { LIMITS } from '@agora/protocol';
import { AgoraError } from '../core/errors.js';
import { ClaimMismatch, checkClaimAnswer } from '../core/claims.js';
import { checkKeyPackage } from '../mls/index.js';
import { type Op, ask } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import { identity, mlsLookup, nameOf } from './directory.js';

/** `known`: the relay's stock as a sync answer gave it. */
export async function* topUpKeyPackages(mc: Machine, initial = false, known?: api.SyncResponse['keyPackages']): Op<void> {
  const stock = initial ? { stock: 0, hasLastResort: false, low: true } : (known ?? (yield* ask(req.keyPackageStock())));
  if (!stock.low && stock.hasLastResort) return;
  const count = Math.max(0, LIMITS.keyPackageTarget - stock.stock);
  const mls = await mc.mls();
  const fresh = count > 0 ? await mls.createKeyPackages(identity(mc), count) : [];
  const lastResort = stock.hasLastResort ? undefined : (await mls.createKeyPackages(identity(mc), 1, { lastResort: true }))[0];
  yield* ask(req.uploadKeyPackages(fresh.map((k) => k.publicPackage), lastResort?.publicPackage));
  mc.state.keyPackages.push(...fresh.map((k) => ({ ...k, lastResort: false })));
  if (lastResort) {
    mc.state.keyPackages = mc.state.keyPackages.filter((k) => !k.lastResort);
    mc.state.keyPackages.push({ ...lastResort, lastResort: true });
  }
}

/** Claims one KeyPackage per device for a change of `groupId` and returns exactly those, checked
 * against the log. An answer that is not exactly what was asked for aborts the change with an
 * alarm. A device without packages is an error for an explicit add (`fail`: nobody is silently
 * left out) and is retried on a later sync for background maintenance (`later`). */
export async function* claimPackages(mc: Machine, groupId: string, devices: api.Device[], whenMissing: 'fail' | 'later'): Op<string[]> {
  const requested = devices.map((d) => d.id);
  const answer = yield* ask(req.claimKeyPackages(groupId, requested));
  let checked;
  try {
    checked = await checkClaimAnswer(requested, answer, (kp, deviceId) => checkKeyPackage(kp, deviceId, mlsLookup(mc)));
  } catch (e) {
    if (!(e instanceof ClaimMismatch)) throw e;
    const a = mc.trust.alarm('claim_mismatch', `${e.message}: the relay's KeyPackage answer is not what this device asked for, so nothing was changed`, [
      JSON.stringify({ groupId, requested, answer: answer.keyPackages.map((k) => k.deviceId), missing: answer.missing }),
    ]);
    throw new AgoraError('forbidden', `not changing the group: ${a.message}`);
  }
  const missingNames = () => checked.missing.map((d) => `${nameOf(mc, mc.trust.device(d)?.userId ?? d)} (device ${d})`).join(', ');
  if (checked.missing.length > 0 && whenMissing === 'fail') {
    throw new AgoraError('no_key', `nobody was added: ${missingNames()} has no KeyPackages left; try again once that device has been online`);
  }
  if (checked.missing.length > 0) mc.warnings.push(`not added yet, no KeyPackages left: ${missingNames()}`);
  return checked.packages.map((p) => p.keyPackage);
}
