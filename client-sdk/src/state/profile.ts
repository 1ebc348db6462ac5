/** The device's state at rest: one file of bytes behind a `BlobStore` (files in Node, IndexedDB in the
 * browser), encrypted with a key derived by Argon2id from the passphrase. The KDF parameters sit in a
 * small clear header so the key can be derived again; everything else is ciphertext. Only this
 * folder touches storage, so the SDK core stays sans-I/O and runs unchanged in browsers. */
import * as z from 'zod';
import { deriveProfileKey, decryptProfile, encryptProfile, newKdfParams, type KdfParams } from '../crypto/profile-crypto.js';
import { fromB64u, fromUtf8, toB64u, utf8 } from '@agora/protocol/encoding';
import { AgoraError } from '../core/errors.js';
import { ProfileState } from '../core/state.js';

/** Raw byte storage of one profile, with an exclusive lock so two processes on the same profile
 * never overwrite each other's changes. `write` must be atomic: after a crash the old or the new
 * bytes are there, never a mix. */
export interface BlobStore {
  read(): Promise<Uint8Array | undefined>;
  write(bytes: Uint8Array): Promise<void>;
  lock(): Promise<() => Promise<void>>;
  describe(): string;
}

const Header = z.object({
  format: z.literal('agora-profile'),
  v: z.literal(1),
  kdf: z.object({ alg: z.literal('argon2id13'), opslimit: z.number().int(), memlimit: z.number().int(), salt: z.string() }),
  ciphertext: z.string(),
});

const AAD = utf8('agora-profile-v1');

/** What the client needs from a device's persisted state, whatever holds it: the whole-file
 * `EncryptedProfile` below, or a keyed `ClientStore` that writes only what changed. `lock` spans one
 * client operation (load, change, save) so two processes or tabs on one profile never lose each
 * other's changes; every operation starts with it, so a missing secret stops it before anything
 * happens. */
export interface ProfileStorage {
  readonly location: string;
  lock(): Promise<() => Promise<void>>;
  exists(): Promise<boolean>;
  load(): Promise<ProfileState>;
  save(state: ProfileState): Promise<void>;
  /** The state without the groups' messages (each group's `messages` empty), where a storage can
   * read it for less than the whole (StoreProfile: the message records are most of a profile, and
   * each is decrypted on its own). What an app shows before its first operation needs no more;
   * such a state is never saved (AgoraClient.open with `deferMessages`). */
  loadHead?(): Promise<ProfileState>;
}

export interface EncryptedProfileOptions {
  /** Accept an empty passphrase. The profile is then still encrypted, but under a key anyone who
   * can read its bytes derives as well: the device keys are effectively in the clear. Only for
   * throwaway test profiles, and only when asked for by name. */
  insecureNoPassphrase?: boolean;
}

export class EncryptedProfile implements ProfileStorage {
  private key: Uint8Array | undefined;
  private kdf: KdfParams | undefined;

  constructor(
    private readonly blobs: BlobStore,
    private readonly passphrase: string,
    private readonly opts: EncryptedProfileOptions = {},
  ) {}

  /** Refuses to derive a key from an empty passphrase unless that was asked for by name. */
  private checkPassphrase(): void {
    if (this.passphrase === '' && !this.opts.insecureNoPassphrase) {
      throw new AgoraError('no_passphrase', 'AGORA_PASSPHRASE is not set: set it to protect this device\'s keys (or pass --insecure-no-passphrase to go without)');
    }
  }

  get location(): string {
    return this.blobs.describe();
  }

  /** Every operation on the profile starts here, so a missing passphrase stops it before anything
   * happens (registration, say, before the invite is used up). */
  async lock(): Promise<() => Promise<void>> {
    this.checkPassphrase();
    return this.blobs.lock();
  }

  async exists(): Promise<boolean> {
    return (await this.blobs.read()) !== undefined;
  }

  async load(): Promise<ProfileState> {
    const bytes = await this.blobs.read();
    if (!bytes) throw new AgoraError('not_registered', `no Agora profile at ${this.location}: run "agora register" first`);
    let header: z.infer<typeof Header>;
    try {
      header = Header.parse(JSON.parse(fromUtf8(bytes)));
    } catch {
      throw new AgoraError('profile_corrupt', `the profile at ${this.location} is not a readable Agora profile`);
    }
    if (!this.key || this.kdf?.salt !== header.kdf.salt) {
      this.checkPassphrase();
      try {
        this.key = await deriveProfileKey(this.passphrase, header.kdf);
      } catch {
        // Out-of-bounds parameters: a crafted file must not make us allocate gigabytes.
        throw new AgoraError('profile_corrupt', `the profile at ${this.location} has invalid key-derivation parameters`);
      }
      this.kdf = header.kdf;
    }
    let plain: Uint8Array;
    try {
      plain = await decryptProfile(this.key, fromB64u(header.ciphertext), AAD);
    } catch {
      this.key = undefined;
      throw new AgoraError('wrong_passphrase', 'cannot open the profile: wrong AGORA_PASSPHRASE, or the profile is damaged');
    }
    const parsed = ProfileState.safeParse(JSON.parse(fromUtf8(plain)));
    if (!parsed.success) throw new AgoraError('profile_corrupt', `the profile at ${this.location} has an unsupported format`);
    return parsed.data;
  }

  async save(state: ProfileState): Promise<void> {
    if (!this.key || !this.kdf) {
      this.checkPassphrase();
      this.kdf = newKdfParams();
      this.key = await deriveProfileKey(this.passphrase, this.kdf);
    }
    const ciphertext = await encryptProfile(this.key, utf8(JSON.stringify(state)), AAD);
    const header = { format: 'agora-profile', v: 1, kdf: this.kdf, ciphertext: toB64u(ciphertext) };
    await this.blobs.write(utf8(JSON.stringify(header)));
  }
}
