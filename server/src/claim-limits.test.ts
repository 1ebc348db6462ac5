import { describe, expect, it } from '@jest/globals';
import { ClaimLimits } from './claim-limits.js';

describe('KeyPackage claim limits', () => {
  const config = { devicesPerMinute: 60, devicesBurst: 5, perTargetPerHour: 2 };

  it('bounds the devices one person claims, refilling over time', () => {
    let t = 0;
    const limits = new ClaimLimits(config, () => t);
    expect(limits.take('u_a', ['d1', 'd2', 'd3', 'd4'])).toEqual({ ok: true });
    // 1 token left: a claim of two is refused whole.
    expect(limits.take('u_a', ['d5', 'd6'])).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(limits.take('u_a', ['d5'])).toEqual({ ok: true });
    expect(limits.take('u_b', ['d5'])).toEqual({ ok: true });
    t += 2_000; // 60 per minute: two more
    expect(limits.take('u_a', ['d7', 'd8'])).toEqual({ ok: true });
    expect(limits.take('u_a', ['d9']).ok).toBe(false);
  });

  it('bounds the claims of one target by one person, and a refused request takes nothing', () => {
    let t = 0;
    const limits = new ClaimLimits(config, () => t);
    expect(limits.take('u_a', ['d1']).ok).toBe(true);
    expect(limits.take('u_a', ['d1']).ok).toBe(true);
    const refused = limits.take('u_a', ['d2', 'd1']);
    expect(refused).toEqual({ ok: false, retryAfterSeconds: 1800, target: 'd1' });
    // d2's bucket and the person's bucket were left alone: both of d2's claims are still there.
    expect(limits.take('u_a', ['d2']).ok).toBe(true);
    expect(limits.take('u_a', ['d2']).ok).toBe(true);
    expect(limits.take('u_a', ['d2']).ok).toBe(false);
    expect(limits.take('u_b', ['d1']).ok).toBe(true);
    t += 1_800_001;
    expect(limits.take('u_a', ['d1']).ok).toBe(true);
  });
});
