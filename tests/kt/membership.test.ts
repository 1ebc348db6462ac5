/** Secret groups' membership in the key-transparency log: every employee can read the log, so it
 * must not show who is in a secret group; the members themselves check each logged membership
 * against their MLS tree, and the security officer's audit key still opens the member lists. Real
 * relay (restarted in place for the tampering case), real SQLite store, real SDK clients. */
import path from 'node:path';
import Database from 'better-sqlite3';
import { AgoraClient, RelayHttp } from '@agora/client-sdk';
import { nodeFetch, nodeProfile } from '@agora/client-sdk/node';
import { KtHttp } from '../../client-sdk/src/transport/kt-http.js';
import { toB64u } from '@agora/protocol';
import { PolicySchema, decodeEntry, encodeEntry, isLegacyMembership, type Policy } from '@agora/protocol/kt';
import { audit } from '../../protocol/src/kt/audit.js';
import { auditorOpener } from '../../protocol/src/kt/auditor.js';
import { auditorPolicyEntry, newAuditorKey } from '../../protocol/src/kt/auditor-key.js';
import { PASSPHRASE } from '../helpers.js';
import { startEvilRelay, type EvilRelay } from './evil-relay.js';
import { startOrg } from './org.js';

/** The log exactly as the relay stores and serves it (GET /v1/kt/entries returns these bytes). */
function storedEntries(dataDir: string): { idx: number; entry: Buffer }[] {
  const db = new Database(path.join(dataDir, 'agora.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT idx, entry FROM kt_entries ORDER BY idx').all() as { idx: number; entry: Buffer }[];
  } finally {
    db.close();
  }
}

function membershipEntries(dataDir: string, groupId: string) {
  return storedEntries(dataDir)
    .map((row) => ({ ...row, decoded: decodeEntry(row.entry) }))
    .filter((r) => r.decoded.type === 'group-membership' && r.decoded.groupId === groupId);
}

test("the log shows a secret group's id, epochs and committers, never its member devices", async () => {
  const org = await startOrg();
  try {
    const ben = await org.join('Ben Weber');
    const cleo = await org.join('Cleo Brandt');
    const g = await org.admin.createGroup({ name: 'Bauamt intern', kind: 'secret' });
    await org.admin.addMembers(g.id, [ben.me.userId, cleo.me.userId]);
    await ben.sync();
    await cleo.sync();
    await org.admin.removeMembers(g.id, [cleo.me.userId]);
    await ben.sync();

    const members = [org.admin.me.deviceId, ben.me.deviceId, cleo.me.deviceId];
    const logged = membershipEntries(org.dataDir, g.id);
    // creation, the add, the removal, and any update commits the members sent meanwhile
    expect(logged.length).toBeGreaterThanOrEqual(3);
    expect(logged.map((r) => r.decoded.epoch)).toEqual(logged.map((_, i) => i));
    for (const { entry, decoded } of logged) {
      if (decoded.type !== 'group-membership') throw new Error('unreachable');
      expect(isLegacyMembership(decoded)).toBe(false);
      // What a non-member employee learns: the group, the epoch, who committed, and opaque bytes.
      expect(Object.keys(decoded).sort()).toEqual(['commitment', 'committerDeviceId', 'epoch', 'groupId', 'sealedForAuditors', 'signature', 'time', 'type']);
      expect(members).toContain(decoded.committerDeviceId);
      expect(decoded.sealedForAuditors).toEqual([]); // the policy names no auditor
      const text = Buffer.from(entry).toString('latin1');
      for (const id of members.filter((d) => d !== decoded.committerDeviceId)) expect(text).not.toContain(id);
    }
    // What a non-member employee's device is served by GET /v1/kt/entries is exactly these bytes.
    const dana = await org.join('Dana Roth');
    await dana.sync();
    const token = (await nodeProfile({ profileDir: org.profileOf(dana), passphrase: PASSPHRASE }).load()).token!.value;
    const served = await new KtHttp(new RelayHttp(org.relay.url, nodeFetch, async () => token), true).allEntries((await org.relay.kt.checkpoint()).size);
    expect(served.map((b) => Buffer.from(b).toString('hex'))).toEqual(storedEntries(org.dataDir).slice(0, served.length).map((r) => r.entry.toString('hex')));
    expect(served.length).toBeGreaterThan(logged.at(-1)!.idx);
    // Nowhere else in the log either: the other entries are about people and keys, not groups.
    for (const { entry } of storedEntries(org.dataDir)) {
      const e = decodeEntry(entry);
      if (e.type === 'group-membership' || e.type === 'device-added') continue;
      const text = Buffer.from(entry).toString('latin1');
      for (const id of [ben.me.deviceId, cleo.me.deviceId]) expect(text).not.toContain(id);
    }
    // The members' own checks all matched.
    for (const c of [org.admin, ben, cleo]) expect((await c.alarms()).filter((a) => a.kind === 'membership_mismatch')).toEqual([]);
  } finally {
    await org.close();
  }
}, 60_000);

test('a relay that logs a membership its members did not commit to: every member alarms', async () => {
  const org = await startOrg();
  try {
    const ben = await org.join('Ben Weber');
    const cleo = await org.join('Cleo Brandt');
    const dana = await org.join('Dana Roth');
    const g = await org.admin.createGroup({ name: 'Personalrat', kind: 'secret' });
    await org.admin.addMembers(g.id, [ben.me.userId, cleo.me.userId]);
    await ben.sync();
    await cleo.sync();
    await org.admin.sync();
    // This commit adds Dana; nobody has seen a checkpoint that includes its entry yet.
    const seen = membershipEntries(org.dataDir, g.id).length;
    await org.admin.addMembers(g.id, [dana.me.userId]);
    const before = membershipEntries(org.dataDir, g.id);
    expect(before.length).toBeGreaterThan(seen);

    // The operator rewrites the logged commitment in the database and restarts the relay, which
    // rebuilds its tree from the rewritten entries and signs checkpoints over them.
    const target = before[before.length - 1];
    const forged = decodeEntry(target.entry);
    if (forged.type !== 'group-membership' || isLegacyMembership(forged)) throw new Error('unreachable');
    forged.commitment = forged.commitment.map((b, i) => (i === 0 ? b ^ 1 : b));
    await org.close();
    const db = new Database(path.join(org.dataDir, 'agora.sqlite'));
    db.prepare('UPDATE kt_entries SET entry = ? WHERE idx = ?').run(Buffer.from(encodeEntry(forged)), target.idx);
    db.close();
    await org.restart();

    for (const c of [org.admin, ben, cleo, dana]) await c.sync();
    for (const [who, c] of [['Admin', org.admin], ['Ben', ben], ['Cleo', cleo], ['Dana', dana]] as const) {
      const kinds = (await c.alarms()).map((a) => a.kind);
      expect([who, kinds]).toEqual([who, expect.arrayContaining(['membership_mismatch'])]);
    }
  } finally {
    await org.close();
  }
}, 90_000);

test('the security officer opens the sealed member lists with the audit key; without it they stay sealed', async () => {
  const officer = newAuditorKey('Security officer');
  let policy: Policy | undefined;
  const org = await startOrg(async (relay) => {
    const p = await relay.kt.policy();
    policy = PolicySchema.parse({
      log: { origin: p.origin, vkey: p.vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 86_400, auditors: [auditorPolicyEntry(officer)],
    });
    return policy;
  });
  try {
    const ben = await org.join('Ben Weber');
    const cleo = await org.join('Cleo Brandt');
    const g = await org.admin.createGroup({ name: 'Bauamt intern', kind: 'secret' });
    await org.admin.addMembers(g.id, [ben.me.userId, cleo.me.userId]);
    await ben.sync();
    await org.admin.removeMembers(g.id, [cleo.me.userId]);
    await ben.sync();

    if (!policy) throw new Error('unreachable');
    const { checkpoint } = await org.relay.kt.checkpoint();
    const entries = storedEntries(org.dataDir).map((r) => new Uint8Array(r.entry));

    // Sealed, the lists are in the entries (one copy each) but no member id is readable.
    for (const { entry, decoded } of membershipEntries(org.dataDir, g.id)) {
      if (decoded.type !== 'group-membership' || isLegacyMembership(decoded)) throw new Error('unreachable');
      expect(decoded.sealedForAuditors).toHaveLength(1);
      const text = Buffer.from(entry).toString('latin1');
      for (const id of [ben.me.deviceId, cleo.me.deviceId].filter((d) => d !== decoded.committerDeviceId)) expect(text).not.toContain(id);
    }
    const opened = await audit({ policy, checkpointNote: checkpoint, entries, now: Date.now(), auditor: await auditorOpener(officer) });
    expect(opened.violations).toEqual([]);
    expect(opened.sealed).toEqual({ groups: 0, changes: 0 });
    const history = opened.groups.find((x) => x.groupId === g.id)!.history;
    const names = history.map((h) => [h.epoch, h.committer.name, [...new Set(h.members!.map((m) => m.name))].sort()]);
    // Update commits may come in between; the changes of membership read as the group's history.
    const distinct = names.filter((n, i) => i === 0 || JSON.stringify(n[2]) !== JSON.stringify(names[i - 1][2]));
    expect(distinct).toEqual([
      [0, 'Admin', ['Admin']],
      [1, 'Admin', ['Admin', 'Ben Weber', 'Cleo Brandt']],
      [expect.any(Number), 'Admin', ['Admin', 'Ben Weber']],
    ]);

    const sealed = await audit({ policy, checkpointNote: checkpoint, entries, now: Date.now() });
    expect(sealed.violations).toEqual([]);
    expect(sealed.sealed).toEqual({ groups: 1, changes: history.length });
    expect(sealed.groups.find((x) => x.groupId === g.id)!.history.map((h) => h.members)).toEqual(history.map(() => null));

    // Another auditor's key opens nothing, and the audit says the lists were not sealed for it.
    const stranger = await audit({ policy, checkpointNote: checkpoint, entries, now: Date.now(), auditor: await auditorOpener(newAuditorKey('Someone else')) });
    expect(stranger.violations.map((v) => v.code)).toEqual(history.map(() => 'membership_not_sealed_for_auditor'));
  } finally {
    await org.close();
  }
}, 60_000);

test('a relay that withholds a membership entry, or serves another one: the members alarm (not before the log could have it)', async () => {
  const org = await startOrg();
  // One misbehaving proxy per victim, each with its own lie.
  const toBen = await startEvilRelay(org.relay.url);
  const toCleo = await startEvilRelay(org.relay.url);
  try {
    const via = (proxy: EvilRelay, name: string) => org.join(name, org.admin, proxy.url);
    const ben = await via(toBen, 'Ben Weber');
    const cleo = await via(toCleo, 'Cleo Brandt');
    const dana = await org.join('Dana Roth');
    const g = await org.admin.createGroup({ name: 'Personalrat', kind: 'secret' });
    await org.admin.addMembers(g.id, [ben.me.userId, cleo.me.userId]);
    await ben.sync();
    await cleo.sync();
    const mismatches = async (c: AgoraClient) => (await c.alarms()).filter((a) => a.kind === 'membership_mismatch').map((a) => a.message);
    expect(await mismatches(ben)).toEqual([]);
    expect(await mismatches(cleo)).toEqual([]);
    const known = membershipEntries(org.dataDir, g.id).length;

    const lookup = (path: string) => {
      const m = new RegExp(`^/v1/kt/groups/${g.id}/membership\\?epoch=(\\d+)&size=(\\d+)$`).exec(path);
      return m && Number(m[1]) >= known ? { epoch: Number(m[1]), size: Number(m[2]) } : undefined;
    };
    // Ben's relay says the log has no entry for the new epochs; Cleo's serves the previous epoch's.
    toBen.set((ex) => (lookup(ex.path) ? { status: 404, body: { error: { code: 'not_found', message: 'no membership entry' } } } : undefined));
    toCleo.set(async (ex) => {
      const q = lookup(ex.path);
      if (!q) return undefined;
      const older = await org.relay.kt.membership(g.id, q.epoch - 1, q.size);
      return { body: { index: older.index, entry: toB64u(older.entry), proof: older.proof.map(toB64u) } };
    });
    await org.admin.addMembers(g.id, [dana.me.userId]);
    await ben.sync();
    await cleo.sync();
    // A missing entry counts only against a checkpoint fetched after this device saw the commit
    // (witnessed checkpoints lag behind the log): no alarm in the sync that saw it.
    expect(await mismatches(ben)).toEqual([]);
    expect((await mismatches(cleo)).join('\n')).toMatch(/another entry than the membership/);
    await ben.sync();
    expect((await mismatches(ben)).join('\n')).toMatch(/has no membership entry/);
  } finally {
    await toBen.close();
    await toCleo.close();
    await org.close();
  }
}, 90_000);
