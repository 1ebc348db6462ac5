/** Node adapter: a profile directory holding `profile.json` (the encrypted blob), written atomically
 * (temp file, fsync, rename, fsync of the directory), and `profile.lock`, an exclusive lock file
 * naming the holder's pid so a lock left by a killed process is taken over. */
import { promises as fs, constants } from 'node:fs';
import path from 'node:path';
import type { BlobStore } from '../state/profile.js';
import { AgoraError } from '../core/errors.js';

export class FileBlobStore implements BlobStore {
  private readonly file: string;
  private readonly lockFile: string;

  constructor(private readonly dir: string, private readonly lockWaitMs = 60_000) {
    this.file = path.join(dir, 'profile.json');
    this.lockFile = path.join(dir, 'profile.lock');
  }

  describe(): string {
    return this.dir;
  }

  async read(): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await fs.readFile(this.file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, this.file);
    const dirHandle = await fs.open(this.dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  async lock(): Promise<() => Promise<void>> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const deadline = Date.now() + this.lockWaitMs;
    for (;;) {
      try {
        const handle = await fs.open(this.lockFile, 'wx', 0o600);
        await handle.writeFile(String(process.pid));
        await handle.close();
        return async () => {
          await fs.rm(this.lockFile, { force: true });
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      if (await this.lockIsStale()) {
        await fs.rm(this.lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new AgoraError('profile_locked', `the profile at ${this.dir} is in use by another agora process`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private async lockIsStale(): Promise<boolean> {
    try {
      const text = (await fs.readFile(this.lockFile, 'utf8')).trim();
      // A lock just created may not hold its pid yet: only an old empty one is abandoned.
      if (!text) return Date.now() - (await fs.stat(this.lockFile)).mtimeMs > 5_000;
      const pid = Number(text);
      if (!Number.isInteger(pid) || pid <= 0) return true;
      if (pid === process.pid) return false;
      process.kill(pid, 0);
      return false;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'ESRCH' || code === 'ENOENT';
    }
  }
}
