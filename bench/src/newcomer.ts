/** (c) A new device joins an organisation of 1,000 devices: how long until it reads the public
 * groups. The administrator, the colleague whose device hands over the organisation key and the
 * newcomer are real SDK clients (AgoraClient through registerNodeClient, with encrypted profiles on
 * disk); the other 998 devices are registered over HTTP with real keys and proofs, which is all a
 * public group needs of them. */
import { performance } from 'node:perf_hooks';
import { LIMITS, type AgoraClient, type GroupSummary } from '@agora/client-sdk';
import { registerNodeClient } from '@agora/client-sdk/node';
import { measureKdf, measureOrgKeySeal } from '../../client-sdk/dist/crypto/measure.js';
import { createInvites, pool, profileDevice, registerRawDevice, PASSPHRASE, TempDirs } from './devices.js';
import { startServer, type ServerHandle } from './server-worker.js';
import { num, type Section } from './report.js';

export interface NewcomerOptions {
  /** Devices in the organisation before the newcomer arrives (administrator and colleague included). */
  devices: number;
  groups: string[];
  messagesPerGroup: number;
}

export const DEFAULT_NEWCOMER: NewcomerOptions = {
  devices: 1000,
  groups: ['Site news', 'Welcome', 'Holiday photos'],
  messagesPerGroup: 30,
};

const seconds = (ms: number) => `${num(ms / 1000)} s`;
const millis = (ms: number) => `${num(ms)} ms`;

function text(group: string, i: number): string {
  return `${group} #${i + 1}: ${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(3).slice(0, 150)}`;
}

export async function newcomerSection(opts: NewcomerOptions = DEFAULT_NEWCOMER): Promise<Section> {
  const dirs = new TempDirs();
  let server: ServerHandle | undefined;
  const timing: Record<string, number> = {};
  const time = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const r = await f();
    timing[name] = performance.now() - t;
    return r;
  };
  let newcomerMessages = 0;
  let envelopesAfter = -1;
  try {
    const setupStart = performance.now();
    server = await startServer({ kind: 'relay', dataDir: await dirs.make('newcomer-relay') });
    const url = server.url;
    const client = async (invite: string, name?: string) =>
      registerNodeClient({ profileDir: await dirs.make('profile'), passphrase: PASSPHRASE, server: url, invite, name });

    // --- setup (timed for the record, not part of the measurement) ---
    const adminDir = await dirs.make('admin');
    const admin = await registerNodeClient({ profileDir: adminDir, passphrase: PASSPHRASE, server: url, invite: server.adminInvite!, name: 'Admin' });
    const groups: GroupSummary[] = [];
    for (const name of opts.groups) groups.push(await admin.createGroup({ name, kind: 'public' }));
    const adminDevice = await profileDevice(url, adminDir);
    // Invites: the colleague, the bulk of the organisation, and the newcomer's (created in advance,
    // as an administrator hands a new person a code before their first day).
    const invites = await time('setup: invites', () => createInvites(adminDevice, 'Employee', opts.devices));
    const colleague = await client(invites[0]);
    await time('setup: register bulk devices', () => pool(invites.slice(1, opts.devices - 1), 8, (code) => registerRawDevice(url, code)));
    const newcomerInvite = invites[opts.devices - 1];

    // The administrator's device seals organisation-key generation 1 to everyone who registered
    // since it was created: one device handing keys to 999 newcomers.
    await time('seal to all', () => admin.sync());
    const pendingAfterSeal = (await adminDevice.http.pending()).pending.length;
    if (pendingAfterSeal !== 0) throw new Error(`after the administrator's sync ${pendingAfterSeal} devices still miss the organisation key`);
    await colleague.sync();

    // Content: the administrator and the colleague take turns posting.
    await time('setup: post messages', async () => {
      for (const g of groups) {
        for (let i = 0; i < opts.messagesPerGroup; i++) await (i % 2 ? colleague : admin).send(g.id, text(g.name, i));
      }
    });
    timing['setup: total'] = performance.now() - setupStart;
    const kdfMs = await measureKdf();
    timing.sealOneUs = await measureOrgKeySeal(500);

    // --- measured: the newcomer's first minutes ---
    const start = performance.now();
    const newcomer: AgoraClient = await time('register', () => client(newcomerInvite));
    await time('colleague sync', () => colleague.sync());
    envelopesAfter = (await adminDevice.http.pending()).pending.length;
    for (const [i, g] of groups.entries()) {
      const read = await time(`read ${i}`, () => newcomer.read(g.id));
      const expected = Array.from({ length: opts.messagesPerGroup }, (_, k) => text(g.name, k));
      const got = read.messages.map((m) => m.text);
      if (got.length !== expected.length || got.some((t, k) => t !== expected[k])) {
        throw new Error(`the newcomer read ${got.length} of ${expected.length} messages in "${g.name}", or other texts (warnings: ${read.warnings.join('; ')})`);
      }
      newcomerMessages += got.length;
    }
    timing.total = performance.now() - start;
    timing.kdf = kdfMs;
  } finally {
    await server?.close();
    await dirs.cleanup();
  }
  if (envelopesAfter !== 0) throw new Error(`after the colleague's sync ${envelopesAfter} devices still miss the organisation key`);

  const n = opts.devices;
  const readTotal = opts.groups.reduce((s, _, i) => s + timing[`read ${i}`], 0);
  return {
    title: `(c) A new device joins an organisation of ${n.toLocaleString('en-US')} devices`,
    findings: [
      `From registration to having read all ${opts.groups.length} public groups (${newcomerMessages} messages, every one opened and its signature checked): ${seconds(timing.total)} — registering ${seconds(timing.register)}, a colleague's device handing over the organisation key ${seconds(timing['colleague sync'])}, reading ${seconds(readTotal)}.`,
      `Handing the organisation key to ${n - 1} devices at once (one device's sync sealing generation 1 for everyone who registered since it was created) took ${seconds(timing['seal to all'])}, of which the ${n - 1} seals themselves are ≈ ${seconds(((n - 1) * timing.sealOneUs) / 1000)}; the remaining ${seconds(timing['seal to all'] - ((n - 1) * timing.sealOneUs) / 1000)} is the rest of that sync on the device and the relay (directory, pending list, checking each newcomer's keys in the key-transparency log, upload, group logs, profile save).`,
    ],
    how: [
      `A real relay (\`startRelay\`, SQLite in a temporary directory, rate limiting off) runs in a worker thread. The first administrator registers through the SDK (\`registerNodeClient\`: device keys, proof, profile encrypted under an Argon2id key, ${LIMITS.keyPackageTarget} MLS KeyPackages and a last-resort one, first sync, which creates organisation-key generation 1) and creates ${opts.groups.length} public groups. It then issues ${n.toLocaleString('en-US')} invites over \`POST /v1/invites\` (each code made on its device, which signs its approval of the invite key); one colleague registers through the SDK, ${(n - 2).toLocaleString('en-US')} more devices register over \`POST /v1/register\` with real keys and both enrolment signatures, exactly as the SDK makes them (they upload no KeyPackages, which public groups do not need), and the last invite is kept for the newcomer. The administrator's next \`sync()\` seals generation 1 to the ${n - 1} devices (timed below as "seal to all"); the colleague syncs to receive it; the administrator and the colleague then post ${opts.messagesPerGroup} messages in each public group through \`AgoraClient.send\`. None of this setup is in the measurement.`,
      `Measured, one step after the other on the wall clock: (1) the newcomer registers (\`registerNodeClient\` with the invite: invite lookup, key generation, enrolment signatures, directory of ${n.toLocaleString('en-US')} devices, KeyPackages, profile key derivation and saves, first sync — at this point no colleague has sealed the organisation key to it yet); (2) the colleague's device runs \`sync()\`, finds the newcomer among the devices missing generation 1 and seals it to the newcomer's key, checked against the directory; (3) the newcomer opens each public group with \`AgoraClient.read\`, which syncs (opening its envelope on the first read), fetches the group's log and opens and verifies every record. Each read is checked to return exactly the posted texts. In real use the colleague's device reacts to the relay's \`directory\` push rather than being told to sync; that wait (one push and one sync) is not modelled. The Argon2id profile-key derivation that registration includes was measured on its own with \`measureKdf\`.`,
    ],
    tables: [
      {
        caption: 'Measured: the newcomer',
        headers: ['step', 'wall time'],
        rows: [
          ['1. newcomer registers (registerNodeClient)', millis(timing.register)],
          ['… of which one Argon2id profile-key derivation (measured separately)', millis(timing.kdf)],
          ['2. colleague\'s device syncs and seals the org key to the newcomer', millis(timing['colleague sync'])],
          ...opts.groups.map((g, i) => [`3.${i + 1} newcomer reads "${g}" (${opts.messagesPerGroup} messages)${i === 0 ? ', opening its org-key envelope' : ''}`, millis(timing[`read ${i}`])]),
          ['total, registration to all public groups read', millis(timing.total)],
        ],
      },
      {
        caption: 'Setup (not part of the measurement above)',
        headers: ['step', 'wall time'],
        rows: [
          [`administrator creates ${n.toLocaleString('en-US')} invites over HTTP (8 in flight)`, seconds(timing['setup: invites'])],
          [`${(n - 2).toLocaleString('en-US')} devices register over HTTP (8 in flight)`, seconds(timing['setup: register bulk devices'])],
          [`**administrator's sync seals the org key to ${n - 1} devices**`, seconds(timing['seal to all'])],
          [`… of which sealing alone (${n - 1} × ${num(timing.sealOneUs)} µs per envelope, measured separately with measureOrgKeySeal)`, seconds(((n - 1) * timing.sealOneUs) / 1000)],
          [`${opts.groups.length * opts.messagesPerGroup} messages posted through AgoraClient.send`, seconds(timing['setup: post messages'])],
          ['whole setup', seconds(timing['setup: total'])],
        ],
      },
    ],
  };
}
