/** Limits on KeyPackage claims. A claim consumes a package of somebody else's device, so an
 * employee who claimed in a loop could empty colleagues' stocks and push everyone onto their
 * last-resort packages. Two token buckets bound that: per claiming person, devices claimed (a
 * sustained rate, with a burst that still lets one commit form a large group), and per claiming
 * person and target device, claims per hour (below the stock between a top-up and the low-water
 * mark, so one colleague cannot drain a device that is offline). A request is checked against
 * every bucket before any token is taken: a refused claim costs nothing and claims nothing. */
import { LIMITS } from '@agora/protocol';

interface Bucket {
  tokens: number;
  at: number;
}

export interface ClaimLimitConfig {
  /** Devices one person may claim: refill per minute and burst. */
  devicesPerMinute: number;
  devicesBurst: number;
  /** Claims of one target device by one person: refill per hour, also the burst. */
  perTargetPerHour: number;
}

export const DEFAULT_CLAIM_LIMITS: ClaimLimitConfig = {
  devicesPerMinute: LIMITS.claimDevicesPerMinute,
  devicesBurst: LIMITS.claimDevicesBurst,
  perTargetPerHour: LIMITS.claimsPerTargetPerHour,
};

export type ClaimVerdict = { ok: true } | { ok: false; retryAfterSeconds: number; target?: string };

/** Buckets whose tokens are full again hold nothing worth keeping; swept past this many. */
const SWEEP_THRESHOLD = 50_000;

/** Whole seconds to wait, at least one; the tolerance absorbs floating-point dust in the rates. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000 - 1e-6));
}

export class ClaimLimits {
  private readonly claimers = new Map<string, Bucket>();
  private readonly pairs = new Map<string, Bucket>();

  constructor(
    private readonly config: ClaimLimitConfig = DEFAULT_CLAIM_LIMITS,
    /** Monotonic milliseconds, like the relay's other rate limits. */
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Takes one token per target from the claimer's bucket and one from each (claimer, target)
   * bucket, or none at all if any of them is short. */
  take(claimer: string, targets: readonly string[]): ClaimVerdict {
    const now = this.clock();
    const perMs = { claimer: this.config.devicesPerMinute / 60_000, pair: this.config.perTargetPerHour / 3_600_000 };
    const own = this.bucket(this.claimers, claimer, this.config.devicesBurst, perMs.claimer, now);
    if (own.tokens < targets.length) {
      return { ok: false, retryAfterSeconds: seconds((targets.length - own.tokens) / perMs.claimer) };
    }
    const pairs: Bucket[] = [];
    for (const t of targets) {
      const b = this.bucket(this.pairs, `${claimer}\n${t}`, this.config.perTargetPerHour, perMs.pair, now);
      if (b.tokens < 1) return { ok: false, retryAfterSeconds: seconds((1 - b.tokens) / perMs.pair), target: t };
      pairs.push(b);
    }
    own.tokens -= targets.length;
    for (const b of pairs) b.tokens -= 1;
    return { ok: true };
  }

  private bucket(map: Map<string, Bucket>, key: string, burst: number, perMs: number, now: number): Bucket {
    let b = map.get(key);
    if (!b) {
      if (map.size >= SWEEP_THRESHOLD) this.sweep(map, burst, perMs, now);
      b = { tokens: burst, at: now };
      map.set(key, b);
      return b;
    }
    b.tokens = Math.min(burst, b.tokens + Math.max(0, now - b.at) * perMs);
    b.at = now;
    return b;
  }

  private sweep(map: Map<string, Bucket>, burst: number, perMs: number, now: number): void {
    for (const [key, b] of map) {
      if (b.tokens + Math.max(0, now - b.at) * perMs >= burst) map.delete(key);
    }
  }
}
