/** The Node profile directory: the journal store under a passphrase, locked per operation, shared by
 * several processes, and imported from the single-file profile of earlier releases. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AgoraError } from '../core/errors.js';
import { EncryptedProfile } from '../state/profile.js';
import { GROUP, message, sampleState } from '../state/test-state.js';
import { FileBlobStore } from './file-blob-store.js';
import { LEGACY_PROFILE_FILE, MIGRATED_PROFILE_FILE, nodeProfile } from './index.js';

const PASS = 'correct horse battery staple';
const cheap = { opslimit: 1, memlimit: 8 * 1024 * 1024 };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'agora-node-profile-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown>): Promise<string> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AgoraError);
  return (error as AgoraError).code;
}

const sorted = <T extends { groups: Record<string, { messages: { seq: number }[] }> }>(s: T): T => {
  const copy = structuredClone(s);
  for (const g of Object.values(copy.groups)) g.messages.sort((a, b) => a.seq - b.seq);
  return copy;
};

describe('Node profile directory', () => {
  it('imports a profile written by the single-file format, checks it, and moves the old file aside', async () => {
    const legacyState = sampleState(40);
    legacyState.groups[GROUP].messages.reverse();
    // Written by the real code of the earlier release (its default Argon2id parameters).
    await new EncryptedProfile(new FileBlobStore(dir), PASS).save(legacyState);
    const legacyBytes = await readFile(path.join(dir, LEGACY_PROFILE_FILE));

    // A wrong passphrase imports nothing and leaves the old file as it was.
    expect(await codeOf(nodeProfile({ profileDir: dir, passphrase: 'wrong', kdf: cheap }).load())).toBe('wrong_passphrase');
    expect(await readFile(path.join(dir, LEGACY_PROFILE_FILE))).toEqual(legacyBytes);

    const profile = nodeProfile({ profileDir: dir, passphrase: PASS, kdf: cheap });
    expect(await profile.exists()).toBe(true);
    expect(await profile.load()).toEqual(sorted(legacyState));
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(expect.arrayContaining(['key-header', 'store.journal', MIGRATED_PROFILE_FILE]));
    expect(files).not.toContain(LEGACY_PROFILE_FILE);
    // Kept, not deleted: byte for byte the old profile.
    expect(await readFile(path.join(dir, MIGRATED_PROFILE_FILE))).toEqual(legacyBytes);

    // Later opens read the store; changes go to the store only.
    const again = nodeProfile({ profileDir: dir, passphrase: PASS });
    const release = await again.lock();
    const s = await again.load();
    s.groups[GROUP].messages.push(message(41));
    await again.save(s);
    await release();
    expect((await nodeProfile({ profileDir: dir, passphrase: PASS }).load()).groups[GROUP].messages.length).toBe(41);
  });

  it('an import cut short before the old file was moved is done again, keeping both old copies', async () => {
    const legacyState = sampleState(5);
    await new EncryptedProfile(new FileBlobStore(dir), PASS).save(legacyState);
    await nodeProfile({ profileDir: dir, passphrase: PASS, kdf: cheap }).load();
    // As if the process died between the import and the rename: the old file is there again.
    await copyFile(path.join(dir, MIGRATED_PROFILE_FILE), path.join(dir, LEGACY_PROFILE_FILE));
    expect(await nodeProfile({ profileDir: dir, passphrase: PASS }).load()).toEqual(sorted(legacyState));
    const files = await readdir(dir);
    expect(files).not.toContain(LEGACY_PROFILE_FILE);
    expect(files.filter((f) => f.startsWith(MIGRATED_PROFILE_FILE)).length).toBe(2);
  });

  it('refuses an empty passphrase unless asked for by name', async () => {
    expect(await codeOf(nodeProfile({ profileDir: dir, passphrase: '' }).lock())).toBe('no_passphrase');
    expect(await codeOf(nodeProfile({ profileDir: dir, passphrase: '' }).exists())).toBe('no_passphrase');
    const insecure = nodeProfile({ profileDir: dir, passphrase: '', insecureNoPassphrase: true, kdf: cheap });
    await insecure.save(sampleState(1));
    expect((await nodeProfile({ profileDir: dir, passphrase: '', insecureNoPassphrase: true }).load()).name).toBe('Alice');
    expect(await codeOf(nodeProfile({ profileDir: path.join(dir, 'none'), passphrase: PASS }).load())).toBe('not_registered');
  });

  it('two handles on one directory (two processes) see each other’s saves, one operation at a time', async () => {
    const a = nodeProfile({ profileDir: dir, passphrase: PASS, kdf: cheap });
    const b = nodeProfile({ profileDir: dir, passphrase: PASS, kdf: cheap });
    await a.save(sampleState(3));
    for (let i = 4; i <= 9; i++) {
      const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
      const release = await writer.lock();
      const s = await writer.load();
      s.groups[GROUP].messages.push(message(i));
      await writer.save(s);
      // The other handle waits for the lock meanwhile.
      let took = false;
      const waiting = reader.lock().then((r) => {
        took = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 100));
      expect(took).toBe(false);
      await release();
      const releaseReader = await waiting;
      expect((await reader.load()).groups[GROUP].messages.map((m) => m.seq)).toEqual(Array.from({ length: i }, (_, k) => k + 1));
      await releaseReader();
    }
  });
});
