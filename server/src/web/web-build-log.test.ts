/** WEB_BUILD entries as the relay writes them: once per build change, with the snapshot every change
 * ends with, agreed between several relays on one store, and never ahead of the first administrator. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { decodeEntry, PolicySchema, type WebBuildFile } from '@agora/protocol/kt';
import { audit } from '@agora/protocol/kt/audit';
import { utf8 } from '@agora/protocol';
import { webBuildHash } from '@agora/protocol/kt/web-build';
import { KtLog } from '../kt/log.js';
import { startRelay } from '../relay.js';
import { enrol, startTestOrg, userInvite, type TestOrg } from '../testing.js';

const build = (tag: string): WebBuildFile[] => [
  { path: 'assets/index-1.js', sha256: sha256(utf8(`app ${tag}`)) },
  { path: 'index.html', sha256: sha256(utf8(`<html>${tag}`)) },
];

describe('logging web builds', () => {
  let org: TestOrg;
  let other: KtLog;
  const types = async () => (await org.relay.store.readKtEntries(0, await org.relay.store.ktSize())).map((b) => decodeEntry(b).type);

  beforeAll(async () => {
    org = await startTestOrg();
    // a second relay on the same store
    other = new KtLog({ store: org.relay.store, now: Date.now });
    await other.ready();
  });
  afterAll(async () => {
    await org.close();
  });

  it('appends the build and a snapshot once; another relay finds it logged', async () => {
    const before = await org.relay.store.ktSize();
    const first = await org.relay.kt.logWebBuild(build('a'));
    expect(first).toEqual({ index: before, buildHash: webBuildHash(build('a')), appended: true });
    expect((await types()).slice(before)).toEqual(['web-build', 'snapshot']);
    expect(await other.logWebBuild(build('a'))).toEqual({ index: before, buildHash: webBuildHash(build('a')), appended: false });
    expect(await org.relay.kt.logWebBuild(build('a'))).toMatchObject({ appended: false });
    expect(await org.relay.store.ktSize()).toBe(before + 2);
  });

  it('logs a build again when it is not the latest one, and two relays starting together log it once', async () => {
    expect(await other.logWebBuild(build('b'))).toMatchObject({ appended: true });
    expect(await org.relay.kt.logWebBuild(build('a'))).toMatchObject({ appended: true });
    const before = await org.relay.store.ktSize();
    const both = await Promise.all([org.relay.kt.logWebBuild(build('c')), other.logWebBuild(build('c'))]);
    expect(both.filter((r) => r.appended)).toHaveLength(1);
    expect(both[0].index).toBe(both[1].index);
    expect(await org.relay.store.ktSize()).toBe(before + 2);
  });

  it('the log with its builds passes the full audit, and people still register after them', async () => {
    await enrol(org.url, await userInvite(org.url, org.admin, 'Erika'));
    const { origin, vkey } = await org.relay.kt.policy();
    const policy = PolicySchema.parse({ log: { origin, vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 86_400 });
    const { checkpoint, size } = await org.relay.kt.checkpoint();
    const entries = await org.relay.store.readKtEntries(0, size);
    const report = await audit({ policy, checkpointNote: checkpoint, entries, now: Date.now() });
    expect(report.violations).toEqual([]);
    expect(report.webBuilds.map((b) => b.buildHash)).toEqual(['a', 'b', 'a', 'c'].map((t) => webBuildHash(build(t))));
    expect(report.people.map((p) => p.name).sort()).toEqual(['Admin', 'Erika']);
  });
});

describe('an empty log', () => {
  it('gets the build right after the first administrator, whose entry must stay index 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'agora-web-log-'));
    const relay = await startRelay({ port: 0, quiet: true, rateLimit: false, dataDir });
    try {
      expect(await relay.kt.logWebBuild(build('a'))).toEqual({ index: undefined, buildHash: webBuildHash(build('a')), appended: false });
      expect(await relay.store.ktSize()).toBe(0);
      await enrol(relay.url, relay.adminInvite!, 'Admin');
      const deadline = Date.now() + 5000;
      let types: string[] = [];
      while (Date.now() < deadline) {
        types = (await relay.store.readKtEntries(0, await relay.store.ktSize())).map((b) => decodeEntry(b).type);
        if (types.includes('web-build')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(types).toEqual(['user-created', 'device-added', 'snapshot', 'web-build', 'snapshot']);
    } finally {
      await relay.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
