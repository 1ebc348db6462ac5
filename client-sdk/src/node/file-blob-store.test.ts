import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileBlobStore } from './file-blob-store.js';
import { EncryptedProfile } from '../state/profile.js';
import { AgoraError } from '../core/errors.js';
import type { ProfileState } from '../core/state.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'agora-blob-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('FileBlobStore', () => {
  test('writes atomically and leaves no temporary file behind', async () => {
    const store = new FileBlobStore(dir);
    expect(await store.read()).toBeUndefined();
    await store.write(new TextEncoder().encode('one'));
    await store.write(new TextEncoder().encode('two'));
    expect(new TextDecoder().decode(await store.read())).toBe('two');
    expect(await readdir(dir)).toEqual(['profile.json']);
  });

  test('a half-written temporary file from a crash does not affect the profile', async () => {
    const store = new FileBlobStore(dir);
    await store.write(new TextEncoder().encode('good'));
    await writeFile(path.join(dir, 'profile.json.12345.tmp'), 'garb');
    expect(new TextDecoder().decode(await store.read())).toBe('good');
  });

  test('the lock is exclusive, and a lock left by a dead process is taken over', async () => {
    const a = new FileBlobStore(dir);
    const b = new FileBlobStore(dir, 200);
    const release = await a.lock();
    await expect(b.lock()).rejects.toMatchObject({ code: 'profile_locked' });
    await release();
    const again = await b.lock();
    await again();
    await writeFile(path.join(dir, 'profile.lock'), '999999999');
    const taken = await b.lock();
    expect((await readFile(path.join(dir, 'profile.lock'), 'utf8')).trim()).toBe(String(process.pid));
    await taken();
  });
});

describe('EncryptedProfile', () => {
  test('refuses a wrong passphrase and a damaged file with clear errors', async () => {
    const blobs = new FileBlobStore(dir);
    await blobs.write(new TextEncoder().encode('{"format":"agora-profile","v":1,"kdf":{"alg":"argon2id13","opslimit":2,"memlimit":8192,"salt":"AAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAA"}'));
    await expect(new EncryptedProfile(blobs, 'pw').load()).rejects.toMatchObject({ code: 'profile_corrupt' });
    await new EncryptedProfile(blobs, 'right').save({ v: 1 } as unknown as ProfileState);
    const err = await new EncryptedProfile(blobs, 'wrong').load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgoraError);
    expect(err).toMatchObject({ code: 'wrong_passphrase' });
    // The right passphrase opens it, and a profile of another format is refused as such.
    await expect(new EncryptedProfile(blobs, 'right').load()).rejects.toMatchObject({ code: 'profile_corrupt' });
    await blobs.write(new TextEncoder().encode('not json'));
    await expect(new EncryptedProfile(blobs, 'pw').load()).rejects.toMatchObject({ code: 'profile_corrupt' });
    await expect(new EncryptedProfile(new FileBlobStore(path.join(dir, 'none')), 'pw').load()).rejects.toMatchObject({ code: 'not_registered' });
  });
});
