/** A real relay on SQLite with its first administrator, restartable in place (same port, same data
 * directory) for the tests in which its operator edits the database and starts it again. */
import { rm } from 'node:fs/promises';
import { AgoraClient } from '@agora/client-sdk';
import { nodeDeps } from '@agora/client-sdk/node';
import type { Policy } from '@agora/protocol/kt';
import { startRelay, type RunningRelay } from '@agora/server';
import { PASSPHRASE, tempDir } from '../helpers.js';

export interface Org {
  readonly relay: RunningRelay;
  dataDir: string;
  admin: AgoraClient;
  /** A new person invited by `by` (the administrator by default), registered at `via` (a proxy in
   * front of the relay) or at the relay itself. */
  join(name: string, by?: AgoraClient, via?: string): Promise<AgoraClient>;
  /** The profile directory of a client this org registered. */
  profileOf(c: AgoraClient): string;
  /** Closes the relay and starts it again on the same port and data directory. */
  restart(): Promise<void>;
  /** Closes the relay; its data stays (a test may edit it and `restart`) until the file's tests end. */
  close(): Promise<void>;
}

// Removed once the importing test file is done: a test closes the relay to edit its database.
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** `policyFor` gives the policy every device registers with (the relay's published one otherwise). */
export async function startOrg(policyFor?: (relay: RunningRelay) => Promise<Policy>): Promise<Org> {
  const dataDir = await tempDir('org-relay');
  dirs.push(dataDir);
  const start = (port: number) => startRelay({ port, host: '127.0.0.1', dataDir, quiet: true, rateLimit: false });
  let relay = await start(0);
  const policy = policyFor ? await policyFor(relay) : undefined;
  const profiles = new Map<AgoraClient, string>();
  const register = async (invite: string, name: string, via?: string) => {
    const profileDir = await tempDir('org-profile');
    dirs.push(profileDir);
    const client = await AgoraClient.register(nodeDeps({ profileDir, passphrase: PASSPHRASE, addGraceMs: 0 }), { server: via ?? relay.url, invite, name, policy });
    profiles.set(client, profileDir);
    return client;
  };
  const admin = await register(relay.adminInvite!, 'Admin');
  return {
    get relay() {
      return relay;
    },
    dataDir,
    admin,
    profileOf: (c) => profiles.get(c)!,
    async join(name, by = admin, via) {
      const { code } = await by.createInvite({ name, newPerson: true });
      return register(code, name, via);
    },
    async restart() {
      const port = relay.port;
      await relay.close();
      relay = await start(port);
    },
    close: () => relay.close(),
  };
}
