/** Roles as key-transparency facts: an administrator's device signs a ROLE_CHANGED entry; clients
 * and the security officer's audit take who is an administrator from the log, never from the relay.
 * Real relay (restarted in place when its operator forges), real SQLite store, real SDK clients. */
import path from 'node:path';
import Database from 'better-sqlite3';
import { AgoraClient } from '@agora/client-sdk';
import { nodeFetch, nodeProfile } from '@agora/client-sdk/node';
import { fromB64u, type DirectoryResponse } from '@agora/protocol';
import { PolicySchema, auditorPolicyEntry, newAuditorKey, roleChangeMessage } from '@agora/protocol/kt';
import { sign } from '@agora/protocol/crypto/device-keys';
import { KtDraft, KtState } from '../../server/src/kt/state.js';
import { runOfficerAudit } from '../../client-sdk/src/officer.js';
import { PASSPHRASE } from '../helpers.js';
import { startEvilRelay } from './evil-relay.js';
import { startOrg } from './org.js';

const kinds = async (c: AgoraClient) => (await c.alarms()).map((a) => a.kind);

test('a promotion lets the new administrator invite, a demotion takes it away, and everyone verifies both', async () => {
  const org = await startOrg();
  try {
    const bob = await org.join('Bob');
    const carol = await org.join('Carol');
    expect(await org.admin.setRole('Bob', 'admin')).toEqual({ userId: bob.me.userId, name: 'Bob', role: 'admin', inLog: true });
    await bob.sync();
    expect(bob.me.role).toBe('admin');

    // Bob's invite: Carol verifies Dave, whose creation Bob's device approved as an administrator.
    const dave = await org.join('Dave', bob);
    expect((await carol.verifyUser('Dave')).userId).toBe(dave.me.userId);

    // Bob makes the first administrator an announcer: each now vouches for the other's role in
    // the log, and a newcomer still verifies both.
    expect((await bob.setRole('Admin', 'announcer')).role).toBe('announcer');
    const erin = await org.join('Erin', bob);
    for (const who of ['Admin', 'Bob', 'Dave']) expect((await erin.verifyUser(who)).name).toBe(who);
    await org.admin.sync();
    expect(org.admin.me.role).toBe('announcer');
    await expect(org.admin.createInvite({ name: 'Frank', newPerson: true })).rejects.toMatchObject({ code: 'forbidden' });

    // The last administrator cannot step down.
    await expect(bob.setRole('Bob', 'member')).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/last active administrator/) });
    // An admin may hand the role back and then step down.
    await bob.setRole('Admin', 'admin');
    await bob.setRole('Bob', 'member');
    await bob.sync();
    expect(bob.me.role).toBe('member');
    await expect(bob.createInvite({ name: 'Frank', newPerson: true })).rejects.toMatchObject({ code: 'forbidden' });
    // Dave, approved while Bob was an administrator, still verifies for everyone.
    expect((await org.admin.verifyUser('Dave')).name).toBe('Dave');

    for (const c of [org.admin, bob, carol, dave, erin]) expect(await kinds(c)).toEqual([]);
  } finally {
    await org.close();
  }
}, 120_000);

test('a relay that only says someone is an administrator changes nothing on their device', async () => {
  const org = await startOrg();
  const proxy = await startEvilRelay(org.relay.url);
  try {
    const carol = await org.join('Carol', org.admin, proxy.url);
    const carolId = carol.me.userId;
    const promote = (body: DirectoryResponse) => {
      for (const u of body.users) if (u.id === carolId) u.role = 'admin';
    };
    proxy.set((ex) => {
      if (ex.path.startsWith('/v1/directory')) {
        const body = structuredClone(ex.body) as DirectoryResponse;
        promote(body);
        return { body };
      }
      if (ex.path.startsWith('/v1/sync')) {
        const body = structuredClone(ex.body) as { directory: DirectoryResponse };
        promote(body.directory);
        return { body };
      }
      return undefined;
    });
    await carol.sync();
    expect(carol.me.role).toBe('member');
  } finally {
    await proxy.close();
    await org.close();
  }
}, 60_000);

test("an operator's forged role change (signed by a member's own device) is refused by clients and reported by the audit", async () => {
  const org = await startOrg();
  try {
    const officer = newAuditorKey('Security officer');
    const published = (await (await fetch(`${org.relay.url}/v1/kt/policy`)).json()) as { origin: string; vkey: string };
    await org.admin.publishPolicy(PolicySchema.parse({
      log: { origin: published.origin, vkey: published.vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 86_400, auditors: [auditorPolicyEntry(officer)],
    }));
    const carol = await org.join('Carol');
    const ben = await org.join('Ben');
    const carolId = carol.me.userId;
    const carolKeys = (await nodeProfile({ profileDir: org.profileOf(carol), passphrase: PASSPHRASE }).load()).keys;
    expect((await runOfficerAudit({ server: org.relay.url, fetch: nodeFetch, key: officer })).report.violations).toEqual([]);

    // The operator stops the relay, appends a ROLE_CHANGED making Carol an administrator (signed
    // by her own device: no administrator approved it) with a snapshot that matches it, records
    // her as admin in its database and starts again; it signs checkpoints over what it holds.
    await org.close();
    const db = new Database(path.join(org.dataDir, 'agora.sqlite'));
    try {
      const state = new KtState();
      for (const row of db.prepare('SELECT entry FROM kt_entries ORDER BY idx').all() as { entry: Buffer }[]) state.apply(new Uint8Array(row.entry), false);
      const draft = new KtDraft(state, Date.now());
      const nonce = new Uint8Array(16).fill(9);
      const signature = await sign(fromB64u(carolKeys.signSeed), roleChangeMessage({ userId: carolId, role: 'admin', nonce }));
      draft.roleChanged(carolId, { role: 'admin', nonce, approverDeviceId: carol.me.deviceId, signature });
      const batch = draft.seal();
      const insert = db.prepare('INSERT INTO kt_entries (idx, entry, user_id) VALUES (?, ?, ?)');
      batch.entries.forEach((e, i) => insert.run(batch.expectedSize + i, Buffer.from(e.entry), e.userId));
      db.prepare("UPDATE users SET role = 'admin' WHERE id = ?").run(carolId);
    } finally {
      db.close();
    }
    await org.restart();

    // The relay now lets Carol act as an administrator; nobody's client believes it.
    await expect(ben.verifyUser('Carol')).rejects.toMatchObject({ code: 'forbidden' });
    expect(await kinds(ben)).toContain('bad_chain');
    await carol.sync().catch(() => undefined);
    expect(carol.me.role).toBe('member');
    const report = (await runOfficerAudit({ server: org.relay.url, fetch: nodeFetch, key: officer })).report;
    expect(report.violations.map((v) => [v.code, v.userId])).toContainEqual(['bad_role_change', carolId]);
    expect(report.people.find((p) => p.userId === carolId)?.role).toBe('member');
    expect(report.roleChanges).toEqual([]);
  } finally {
    await org.close();
  }
}, 120_000);
