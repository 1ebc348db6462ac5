/** The client machine: one device's state and what an operation on it needs besides the relay's
 * answers (the time, the grace periods, the key-transparency checks of this operation). It does no
 * I/O: its operations (the modules next to it) yield requests as data and are driven by a driver
 * (AgoraClient in Node and browsers; engine/driver.ts runs one operation). */
import { platformRandom, type RandomSource } from '@agora/protocol/crypto/random';
import type { ProfileState } from '../core/state.js';
import { loadMls, mlsWith, type MlsApi } from '../mls/index.js';
import { KtTrust } from './trust.js';

export interface MachineConfig {
  /** Other people's devices are added to a secret group by their owner's devices first; after this
   * grace period any member adds them, so a person whose other devices stay offline still joins. */
  addGraceMs?: number;
  /** How long after a revocation or deactivation a colleague's device (not an administrator's)
   * waits for an administrator's device to rotate the organisation key before doing it itself.
   * A device about to write a public record never waits. */
  rotationGraceMs?: number;
  /** A send to a secret group goes out at once under the epoch key this device holds (one request;
   * two when a commit landed since), without the catch-up that verifies a fresh key-transparency
   * checkpoint first. The record then carries the checkpoint of this device's last sync, so the
   * gossip that catches a relay showing people different logs lags by that much, and a log that is
   * unavailable is noticed at the next sync rather than before this record. Off by default. */
  sendWithoutCatchUp?: boolean;
  /** Where every random byte of this device's operations comes from: ids, nonces, keys, MLS secrets.
   * The platform's CSPRNG unless given; a test gives a seeded source to get byte-identical requests. */
  random?: RandomSource;
}

export class Machine {
  /** The device's state; the driver loads it before and saves it after each operation. */
  state!: ProfileState;
  /** Warnings of the current operation (the report shows them). */
  warnings: string[] = [];
  readonly trust: KtTrust;
  /** The one randomness source of this machine's operations. */
  readonly random: RandomSource;

  constructor(
    readonly now: () => number,
    readonly config: MachineConfig = {},
    state?: ProfileState,
  ) {
    this.random = config.random ?? platformRandom;
    this.trust = new KtTrust(() => this.state, now, this.random);
    if (state) this.state = state;
  }

  /** The MLS API over this machine's randomness (ts-mls loaded on first use). */
  mls(): Promise<MlsApi> {
    return mlsWith(this.random);
  }

  /** Starts an operation on `state` (as just loaded): the checkpoint is fetched and verified again
   * and alarms and warnings start empty. */
  begin(state?: ProfileState): void {
    if (state) this.state = state;
    this.warnings = [];
    this.trust.begin();
  }
}

/** groupInfo is synchronous over the lazily loaded MLS module: a profile holding group states loads
 * it before any of its operations runs. */
export async function loadMlsFor(state: ProfileState): Promise<void> {
  if (Object.values(state.groups).some((g) => g.mls)) await loadMls();
}
