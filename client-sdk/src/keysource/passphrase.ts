/** The passphrase key source, for the CLI and for a browser without (or signed out of) a device
 * key: Argon2id over the passphrase gives a key that wraps the storage key. The derivation, its
 * parameters and their bounds are profile-crypto.ts's, shared with the single-blob profile format,
 * so there is one place that decides how expensive a guess is. */
import { AgoraError } from '../core/errors.js';
import { KdfParamsSchema, ProfileDecryptError, decryptProfile, deriveProfileKey, encryptProfile, newKdfParams, type KdfParams } from '../crypto/profile-crypto.js';
import { fromB64u, toB64u } from '@agora/protocol/encoding';
import type { StorageKey } from '../store/types.js';
import { slotAad, type KeySlot, type ProfileKeySource } from './header.js';

/** Argon2id over the passphrase with parameters already checked against KdfParamsSchema: 32 bytes,
 * exactly what deriveProfileKey gives for the same input. A browser page passes one that runs
 * deriveProfileKey in a Web Worker, so the page stays responsive during the derivation. */
export type PassphraseDerive = (passphrase: string, params: KdfParams) => Promise<Uint8Array>;

export interface PassphraseKeySourceOptions {
  /** Override the measured defaults (tests use cheap ones); still checked against the bounds. */
  kdf?: Partial<Pick<KdfParams, 'opslimit' | 'memlimit'>>;
  /** Where the derivation runs (default: deriveProfileKey, in this thread). */
  derive?: PassphraseDerive;
}

export class PassphraseKeySource implements ProfileKeySource {
  readonly kind = 'argon2id' as const;
  /** The last derived key, so a long-running process (a `listen`) pays for Argon2id once. */
  private cached: { params: string; key: Uint8Array } | undefined;

  constructor(
    private readonly passphrase: string,
    private readonly opts: PassphraseKeySourceOptions = {},
  ) {}

  private async derive(kdf: KdfParams): Promise<Uint8Array> {
    const params = JSON.stringify(kdf);
    if (this.cached?.params === params) return this.cached.key;
    const checked = KdfParamsSchema.safeParse(kdf);
    if (!checked.success) throw new AgoraError('profile_corrupt', 'the key header has invalid key-derivation parameters');
    const key = await (this.opts.derive ?? deriveProfileKey)(this.passphrase, checked.data);
    if (key.length !== 32) throw new Error(`the key derivation gave ${key.length} bytes, not 32`);
    this.cached = { params, key };
    return key;
  }

  async enroll(storageKey: StorageKey): Promise<KeySlot> {
    const kdf = KdfParamsSchema.parse({ ...newKdfParams(), ...this.opts.kdf });
    const wrapped = await encryptProfile(await this.derive(kdf), storageKey, slotAad(this.kind));
    return { kind: this.kind, kdf, wrapped: toB64u(wrapped) };
  }

  async unlock(slot: KeySlot): Promise<StorageKey> {
    if (slot.kind !== this.kind) throw new RangeError(`not a ${this.kind} slot`);
    const kek = await this.derive(slot.kdf);
    try {
      return await decryptProfile(kek, fromB64u(slot.wrapped), slotAad(this.kind));
    } catch (error) {
      if (!(error instanceof ProfileDecryptError)) throw error;
      this.cached = undefined;
      throw new AgoraError('wrong_passphrase', 'cannot unlock the profile: wrong passphrase');
    }
  }
}
