/** Token buckets keyed by device id or client address. Each key refills at `perSecond` up to
 * `burst`; a request takes one token. Keys whose bucket has refilled completely carry no state
 * worth keeping, so they are swept once the map grows, which bounds memory under address churn. */

export interface BucketConfig {
  perSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

const SWEEP_THRESHOLD = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly clock: () => number;

  constructor(
    private readonly config: BucketConfig,
    /** Monotonic milliseconds; separate from the relay's injectable `now` so tests that move the
     * wall clock do not starve or flood the buckets. */
    clock: () => number = () => performance.now(),
  ) {
    if (!(config.perSecond > 0) || !(config.burst >= 1)) throw new Error('rate limit needs perSecond > 0 and burst >= 1');
    this.clock = clock;
  }

  take(key: string): TakeResult {
    const now = this.clock();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= SWEEP_THRESHOLD) this.sweep(now);
      bucket = { tokens: this.config.burst, at: now };
      this.buckets.set(key, bucket);
    } else {
      this.refill(bucket, now);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.config.perSecond));
    return { ok: false, retryAfterSeconds };
  }

  get size(): number {
    return this.buckets.size;
  }

  private refill(bucket: Bucket, now: number): void {
    const elapsed = Math.max(0, now - bucket.at) / 1000;
    bucket.tokens = Math.min(this.config.burst, bucket.tokens + elapsed * this.config.perSecond);
    bucket.at = now;
  }

  private sweep(now: number): void {
    for (const [key, bucket] of this.buckets) {
      this.refill(bucket, now);
      if (bucket.tokens >= this.config.burst) this.buckets.delete(key);
    }
  }
}
