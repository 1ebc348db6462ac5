import type { ProfileState } from '../core/state.js';
import { EncryptedProfile, type BlobStore } from './profile.js';

/** A profile's bytes in memory, counting what reaches storage. */
class MemoryBlobs implements BlobStore {
  bytes: Uint8Array | undefined;
  writes = 0;
  locks = 0;
  async read() {
    return this.bytes;
  }
  async write(bytes: Uint8Array) {
    this.writes++;
    this.bytes = bytes;
  }
  async lock() {
    this.locks++;
    return async () => undefined;
  }
  describe() {
    return 'memory';
  }
}

const state = { v: 1 } as unknown as ProfileState;

describe('EncryptedProfile without a passphrase', () => {
  test('refuses to lock, save or load, and touches nothing', async () => {
    const blobs = new MemoryBlobs();
    const profile = new EncryptedProfile(blobs, '');
    for (const attempt of [() => profile.lock(), () => profile.save(state)]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'no_passphrase', message: expect.stringContaining('AGORA_PASSPHRASE') });
    }
    expect(blobs.locks).toBe(0);
    expect(blobs.writes).toBe(0);

    await new EncryptedProfile(blobs, 'a passphrase').save(state);
    await expect(new EncryptedProfile(blobs, '').load()).rejects.toMatchObject({ code: 'no_passphrase' });
  });

  test('goes ahead when asked for by name', async () => {
    const blobs = new MemoryBlobs();
    const profile = new EncryptedProfile(blobs, '', { insecureNoPassphrase: true });
    await (await profile.lock())();
    await profile.save(state);
    // It decrypts (this stand-in state then fails the format check, which comes after decryption);
    // with a passphrase the same bytes do not even decrypt.
    await expect(new EncryptedProfile(blobs, '', { insecureNoPassphrase: true }).load()).rejects.toMatchObject({ code: 'profile_corrupt' });
    await expect(new EncryptedProfile(blobs, 'x').load()).rejects.toMatchObject({ code: 'wrong_passphrase' });
  });
});
