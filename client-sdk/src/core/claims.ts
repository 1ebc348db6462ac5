/** Checks the relay's answer to a KeyPackage claim against the request. The answer decides who can
 * read a secret group from the next epoch on, so it must name exactly the devices asked for: a
 * device the claimer did not ask for (say, the operator's own, log-proven device appended to the
 * answer), a requested device left out without being declared missing, a device named twice, or a
 * package whose leaf is not the requested device with the key the log proves for it, all make the
 * whole answer worthless. The caller aborts the change and raises an alarm; nothing is added. */
import type { ClaimKeyPackagesResponse } from '@agora/protocol/api';

export class ClaimMismatch extends Error {
  override name = 'ClaimMismatch';
  constructor(message: string, readonly deviceId: string) {
    super(message);
  }
}

export interface CheckedClaim {
  /** In the order of the request. */
  packages: { deviceId: string; keyPackage: string }[];
  /** Requested devices the relay says have no package left (not even a last-resort one). */
  missing: string[];
}

/** `checkPackage` verifies one package for one device (credential, log key, signatures, lifetime)
 * and throws if it does not hold. */
export async function checkClaimAnswer(
  requested: readonly string[],
  answer: ClaimKeyPackagesResponse,
  checkPackage: (keyPackage: string, deviceId: string) => Promise<void>,
): Promise<CheckedClaim> {
  const asked = new Set(requested);
  const seen = new Set<string>();
  const take = (deviceId: string): void => {
    if (!asked.has(deviceId)) throw new ClaimMismatch(`the relay answered with device ${deviceId}, which was not asked for`, deviceId);
    if (seen.has(deviceId)) throw new ClaimMismatch(`the relay answered twice for device ${deviceId}`, deviceId);
    seen.add(deviceId);
  };
  const byDevice = new Map<string, string>();
  for (const kp of answer.keyPackages) {
    take(kp.deviceId);
    byDevice.set(kp.deviceId, kp.keyPackage);
  }
  for (const d of answer.missing) take(d);
  for (const d of requested) {
    if (!seen.has(d)) throw new ClaimMismatch(`the relay's answer left out device ${d}`, d);
  }
  const packages: CheckedClaim['packages'] = [];
  for (const deviceId of requested) {
    const keyPackage = byDevice.get(deviceId);
    if (keyPackage === undefined) continue;
    try {
      await checkPackage(keyPackage, deviceId);
    } catch (e) {
      throw new ClaimMismatch(`the KeyPackage served for device ${deviceId} is not that device's (${(e as Error).message})`, deviceId);
    }
    packages.push({ deviceId, keyPackage });
  }
  return { packages, missing: requested.filter((d) => !byDevice.has(d)) };
}
