/** The client machine: one device's state and what an operation on it needs besides the relay's
 * answers (the time, the grace periods, the key-transparency checks of this operation). It does no
 * I/O: its operations (the modules next to it) yield requests as data and are driven by a driver
 * (AgoraClient in Node and browsers; engine/driver.ts runs one operation). */
import { platformRandom, type RandomSource } from '@agora/protocol/crypto/random';
import type { CryptoProvider } from '@agora/protocol/crypto/provider';
import type { ProfileState } from '../core/state.js';
import { loadMls, mlsWith, type MlsApi } from '../mls/index.js';
import { KtTrust } from './trust.js';
import type { Op } from './op.js';

export interface MachineConfig {
  /** Other people's devices are added to a secret group by their owner's devices first; after this
   * grace period any member adds them, so a person whose other devices stay offline still joins. */
  addGraceMs?: number;
  /** How long after a revocation or deactivation a colleague's device (not an administrator's)
   * waits for an administrator's device to rotate the organisation key before doing it itself.
   * A device about to write a public record never waits. */
  rotationGraceMs?: number;
  /** Every send catches up first (a sync that verifies a fresh key-transparency checkpoint), even
   * while this device is current (see Machine.isCurrent): two requests per send whatever the push
   * channel says. For tests and scripts that want the send of a device that does not listen. */
  alwaysCatchUp?: boolean;
  /** Where every random byte of this device's operations comes from: ids, nonces, keys, MLS secrets.
   * The platform's CSPRNG unless given; a test gives a seeded source to get byte-identical requests.
   * With `crypto`, its source is the machine's, and this must be left out or be the same. */
  random?: RandomSource;
  /** The crypto provider of this device's operations (already loaded: loadCryptoProvider): the MLS
   * layer runs over it and the machine's randomness is its `random`. Without it the machine uses the
   * provider loaded for `random`. The libraries' pure steps (hashes, signatures with a given key,
   * verification, AEAD) compute the same bytes whichever provider runs them, and take the loaded one. */
  crypto?: CryptoProvider;
}

/** How long a checkpoint this device verified keeps it current while its push channel is open:
 * a send in that time goes out in one request, under keys it verified then (see isCurrent). It is
 * what the steady send costs in key transparency: the checkpoint a record carries as gossip (which
 * catches a relay that shows people different logs) is at most this old, and a log that became
 * unavailable is noticed by a send at most this late (the send then fails closed as any other).
 * Two minutes add little to the age of checkpoint every device already accepts (the policy's
 * maxCheckpointAgeSeconds, typically an hour: a relay may show anyone a checkpoint that old), and
 * keep a listening device current at the price of one GET /v1/sync about every 90 s (about 1.5 KB
 * when nothing changed, docs/performance.md). The window is capped at half of maxCheckpointAgeSeconds, so a
 * policy that tolerates little staleness gets a shorter one. */
export const CURRENT_WINDOW_MS = 120_000;

export class Machine {
  /** The device's state; the driver loads it before and saves it after each operation. */
  state!: ProfileState;
  /** Warnings of the current operation (the report shows them). */
  warnings: string[] = [];
  readonly trust: KtTrust;
  /** Whether the driver's push channel is open. In memory only, as the two below: a process that
   * starts anew has heard no pushes. */
  private channelOpen = false;
  /** How many times the push channel opened or announced a change that a sync applies. */
  private notices = 0;
  /** The notices that the last sync to complete had seen when it started: it applied them. */
  private caughtUpTo = -1;
  /** The one randomness source of this machine's operations. */
  readonly random: RandomSource;

  constructor(
    readonly now: () => number,
    readonly config: MachineConfig = {},
    state?: ProfileState,
  ) {
    if (config.crypto && config.random && config.random !== config.crypto.random) {
      throw new RangeError('MachineConfig: random and crypto.random are two sources; give one');
    }
    this.random = config.crypto?.random ?? config.random ?? platformRandom;
    this.trust = new KtTrust(() => this.state, now, this.random);
    if (state) this.state = state;
  }

  /** The MLS API over this machine's crypto provider and randomness (ts-mls loaded on first use). */
  mls(): Promise<MlsApi> {
    return mlsWith(this.config.crypto ?? this.random);
  }

  /** Starts an operation on `state` (as just loaded): the checkpoint is fetched and verified again
   * and alarms and warnings start empty. */
  begin(state?: ProfileState): void {
    if (state) this.state = state;
    this.warnings = [];
    this.trust.begin();
  }

  /** The driver's push channel opened: from here on the relay's pushes tell this device what
   * changes, so once a sync that starts after this has completed it may be current (isCurrent). */
  channelOpened(): void {
    this.channelOpen = true;
    this.notices += 1;
  }

  /** The push channel closed: nothing tells this device what changes any more. */
  channelClosed(): void {
    this.channelOpen = false;
  }

  /** The push channel announced a change that a sync applies (anything but a group's log entry):
   * until a sync that starts after it has completed, sends catch up first. */
  changeNoticed(): void {
    this.notices += 1;
  }

  /** Runs a sync (`op`, from its own fetch on): when it completes having verified a checkpoint,
   * what the push channel announced before it started is applied. */
  async *catchUp<T>(op: Op<T>): Op<T> {
    const covers = this.notices;
    const verified = this.trust.verifications.count;
    const result = yield* op;
    if (this.trust.verifications.count > verified) this.caughtUpTo = Math.max(this.caughtUpTo, covers);
    return result;
  }

  /** The freshness window of a verified checkpoint (CURRENT_WINDOW_MS, or half the policy's
   * maxCheckpointAgeSeconds when that is less). */
  get currentWindowMs(): number {
    return Math.min(CURRENT_WINDOW_MS, this.trust.policy.maxCheckpointAgeSeconds * 500);
  }

  /** Whether this device's view is current, so a send may go out in one request (under the keys
   * it holds, trusting none anew): the push channel is open; a sync that started after it opened
   * and after the last change it announced has completed, verifying a checkpoint; no check of the
   * log failed since; and the last checkpoint was verified less than currentWindowMs ago.
   * Otherwise a send catches up first. */
  isCurrent(): boolean {
    const v = this.trust.verifications;
    return !this.config.alwaysCatchUp && this.channelOpen && this.caughtUpTo === this.notices
      && v.lastAt >= 0 && this.now() - v.lastAt < this.currentWindowMs;
  }

  /** In how many ms the driver should sync to keep this device current: three quarters into the
   * window, so a sync on a slow link ends before the window does; 0 when it is not current now.
   * Undefined while the push channel is closed (nothing to keep current). */
  refreshDueInMs(): number | undefined {
    if (!this.channelOpen || this.config.alwaysCatchUp) return undefined;
    if (!this.isCurrent()) return 0;
    return Math.max(0, this.trust.verifications.lastAt + Math.floor((this.currentWindowMs * 3) / 4) - this.now());
  }
}

/** groupInfo is synchronous over the lazily loaded MLS module: a profile holding group states loads
 * it before any of its operations runs. */
export async function loadMlsFor(state: ProfileState): Promise<void> {
  if (Object.values(state.groups).some((g) => g.mls)) await loadMls();
}
