/** The one contract every `Store` implementation passes (sqlite.test.ts, mongo.test.ts). Each test
 * gets a fresh, empty store. Concurrency tests fire calls with Promise.all: an embedded store
 * serialises them by construction, a networked one must hold the same guarantees under real races. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  isKtConflict, isNameTaken,
  type CosignatureRow, type DepartmentRow, type DeviceRow, type EnvelopeRow, type GroupRow, type InviteRow, type KtAppend,
  type MailboxRow, type Store, type UserRow,
} from './types.js';

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

function inviteRow(over: Partial<InviteRow> = {}): InviteRow {
  return {
    codeHash: 'hash-user', kind: 'user', name: 'Alice', role: 'member', departmentId: null, userId: null,
    bootstrap: false, createdBy: 'u_admin', createdAt: T0, expiresAt: T0 + HOUR, usedAt: null,
    invitePub: 'invite-pub', approverDeviceId: 'd_admin', approval: 'approval-sig', ...over,
  };
}
function deviceInput(id: string, createdAt = T0 + 1): Omit<DeviceRow, 'userId' | 'enrolledBy'> {
  return { id, signPub: `sign-${id}`, encPub: `enc-${id}`, status: 'active', createdAt };
}
function groupRow(id: string, over: Partial<GroupRow> = {}): GroupRow {
  // A secret group has no name on the relay.
  return {
    id, name: over.kind === 'public' ? `group ${id}` : null, kind: 'secret', departmentId: null, epoch: null, createdBy: 'u_a', createdAt: T0, head: 0,
    ...over,
  };
}
function departmentRows(id: string, createdAt = T0): [DepartmentRow, GroupRow, GroupRow] {
  const pub = groupRow(`g_${id}_pub`, { kind: 'public', departmentId: id, createdBy: null, createdAt });
  const sec = groupRow(`g_${id}_sec`, { kind: 'secret', departmentId: id, createdBy: null, createdAt });
  return [{ id, name: `department ${id}`, publicGroupId: pub.id, secretGroupId: sec.id, createdAt }, pub, sec];
}
/** Stand-in entries: the store keeps bytes and never reads them. */
const entry = (...bytes: number[]) => Uint8Array.from(bytes);
function kt(expectedSize: number, ...entries: [Uint8Array, string | null][]): KtAppend {
  return { expectedSize, entries: entries.map(([e, userId]) => ({ entry: e, userId })) };
}
async function expectKtConflict(p: Promise<unknown>): Promise<void> {
  let thrown: unknown;
  try {
    await p;
  } catch (err) {
    thrown = err;
  }
  expect(isKtConflict(thrown)).toBe(true);
}

function envelope(generation: number, deviceId: string, over: Partial<EnvelopeRow> = {}): EnvelopeRow {
  return { generation, deviceId, sealed: `sealed-${generation}-${deviceId}`, sealedBy: 'd_a1', at: T0, ...over };
}

export function storeContract(
  name: string,
  open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>,
): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    /** Registers a person through a fresh user invite and returns the created rows. */
    async function addUser(userId: string, deviceId: string, over: Partial<InviteRow> = {}, at = T0 + 1) {
      await store.createInvite(inviteRow({ codeHash: `hash-${userId}`, name: `name ${userId}`, ...over }));
      const out = await store.register({
        codeHash: `hash-${userId}`, now: at, userId, userName: null, device: deviceInput(deviceId, at),
      });
      if (!out.ok) throw new Error(`test setup: register failed (${out.reason})`);
      return out;
    }
    /** A secret group at epoch 0 whose only member is device d_a1 of user u_a. */
    async function secretGroup(id = 'g_s'): Promise<void> {
      await store.createGroup(groupRow(id), { deviceId: 'd_a1', userId: 'u_a' });
    }
    const commitInput = (over: Partial<Parameters<Store['applyCommit']>[0]> = {}): Parameters<Store['applyCommit']>[0] => ({
      groupId: 'g_s', expectedEpoch: 0, sender: 'd_a1', at: T0 + 10, payload: 'commit-bytes', added: [], removed: [],
      welcome: null, ...over,
    });

    describe('meta', () => {
      it('stores, overwrites and reads named values', async () => {
        expect(await store.getMeta('k')).toBeUndefined();
        await store.setMeta('k', 'one');
        expect(await store.getMeta('k')).toBe('one');
        await store.setMeta('k', 'two');
        expect(await store.getMeta('k')).toBe('two');
        expect(await store.getMeta('other')).toBeUndefined();
      });

      it('setMetaIfAbsent: the first writer wins and everyone gets the stored value', async () => {
        expect(await store.setMetaIfAbsent('secret', 'first')).toBe('first');
        expect(await store.setMetaIfAbsent('secret', 'second')).toBe('first');
        expect(await store.getMeta('secret')).toBe('first');
        await store.setMeta('set', 'existing');
        expect(await store.setMetaIfAbsent('set', 'new')).toBe('existing');
      });

      it('setMetaIfAbsent: concurrent writers all see one winner', async () => {
        const values = Array.from({ length: 10 }, (_, i) => `v${i}`);
        const got = await Promise.all(values.map((v) => store.setMetaIfAbsent('race', v)));
        const stored = await store.getMeta('race');
        expect(values).toContain(stored);
        expect(got).toEqual(values.map(() => stored));
      });
    });

    describe('organisation bootstrap', () => {
      const org = { id: 'o_1', name: 'Bau GmbH', createdAt: T0 };
      const adminInvite = inviteRow({ codeHash: 'hash-boot', name: null, role: 'admin', createdBy: null, bootstrap: true });

      it('creates the organisation with its bootstrap invite exactly once', async () => {
        expect(await store.getOrg()).toBeUndefined();
        expect(await store.bootstrapOrg(org, adminInvite)).toBe(true);
        expect(await store.getOrg()).toEqual(org);
        expect(await store.getInvite('hash-boot')).toEqual(adminInvite);

        const other = inviteRow({ codeHash: 'hash-boot-2', bootstrap: true });
        expect(await store.bootstrapOrg({ id: 'o_2', name: 'Other', createdAt: T0 + 5 }, other)).toBe(false);
        expect(await store.getOrg()).toEqual(org);
        expect(await store.getInvite('hash-boot-2')).toBeUndefined();
      });

      it('concurrent bootstraps: exactly one succeeds', async () => {
        const results = await Promise.all([1, 2, 3].map((i) =>
          store.bootstrapOrg({ id: `o_${i}`, name: `Org ${i}`, createdAt: T0 }, inviteRow({ codeHash: `hash-b${i}`, bootstrap: true }))));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true) + 1;
        expect((await store.getOrg())?.id).toBe(`o_${winner}`);
        for (const i of [1, 2, 3]) {
          expect((await store.getInvite(`hash-b${i}`)) !== undefined).toBe(i === winner);
        }
      });

      it('registering the bootstrap invite creates an admin enrolled by bootstrap', async () => {
        await store.bootstrapOrg(org, adminInvite);
        const out = await store.register({
          codeHash: 'hash-boot', now: T0 + 100, userId: 'u_admin', userName: 'Ada Admin', device: deviceInput('d_admin', T0 + 100),
        });
        const user: UserRow = { id: 'u_admin', name: 'Ada Admin', role: 'admin', status: 'active', createdAt: T0 + 100 };
        const device: DeviceRow = { ...deviceInput('d_admin', T0 + 100), userId: 'u_admin', enrolledBy: 'bootstrap' };
        expect(out).toEqual({ ok: true, user, device, invite: { ...adminInvite, usedAt: T0 + 100 } });
        expect(await store.getUser('u_admin')).toEqual(user);
        expect(await store.getDevice('d_admin')).toEqual(device);
        expect((await store.getInvite('hash-boot'))?.usedAt).toBe(T0 + 100);
      });
    });

    describe('invites and registration', () => {
      it('stores and returns invites exactly', async () => {
        const inv = inviteRow({ codeHash: 'hash-x', role: 'announcer', departmentId: 'dep_1', expiresAt: T0 + 7 * HOUR });
        await store.createInvite(inv);
        expect(await store.getInvite('hash-x')).toEqual(inv);
        expect(await store.getInvite('hash-unknown')).toBeUndefined();
        const dev = inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_a' });
        await store.createInvite(dev);
        expect(await store.getInvite('hash-dev')).toEqual(dev);
      });

      it('rejects a second invite with the same code hash', async () => {
        await store.createInvite(inviteRow());
        await expect(store.createInvite(inviteRow({ name: 'Mallory' }))).rejects.toBeTruthy();
        expect((await store.getInvite('hash-user'))?.name).toBe('Alice');
      });

      it('a user invite creates the person with its role and the device', async () => {
        await store.createInvite(inviteRow({ role: 'announcer' }));
        const out = await store.register({
          codeHash: 'hash-user', now: T0 + 50, userId: 'u_alice', userName: null, device: deviceInput('d_alice', T0 + 50),
        });
        expect(out.ok).toBe(true);
        if (!out.ok) return;
        expect(out.user).toEqual({ id: 'u_alice', name: 'Alice', role: 'announcer', status: 'active', createdAt: T0 + 50 });
        expect(out.device).toEqual({ ...deviceInput('d_alice', T0 + 50), userId: 'u_alice', enrolledBy: 'user-invite' });
        expect(out.invite).toEqual(inviteRow({ role: 'announcer', usedAt: T0 + 50 }));
        expect(await store.getUser('u_alice')).toEqual(out.user);
        expect(await store.getDevice('d_alice')).toEqual(out.device);
        expect(await store.getInvite('hash-user')).toEqual(out.invite);
      });

      it('a user invite without a role makes a member; a name given at registration wins', async () => {
        await store.createInvite(inviteRow({ role: null }));
        const out = await store.register({
          codeHash: 'hash-user', now: T0 + 1, userId: 'u_alice', userName: 'Alice Chosen', device: deviceInput('d_alice'),
        });
        expect(out.ok && out.user.role).toBe('member');
        expect(out.ok && out.user.name).toBe('Alice Chosen');
      });

      it('a user invite with a department joins the department and its public group', async () => {
        const [dept, pub, sec] = departmentRows('dep_bau');
        await store.createDepartment(dept, pub, sec);
        await addUser('u_alice', 'd_alice', { departmentId: 'dep_bau' });
        expect(await store.listDepartmentMembers('dep_bau')).toEqual(['u_alice']);
        expect(await store.listUserDepartments('u_alice')).toEqual(['dep_bau']);
        expect(await store.listPublicMembers(pub.id)).toEqual(['u_alice']);
        expect(await store.listGroupDevices(sec.id)).toEqual([]);
        expect(await store.listUserGroupIds('u_alice')).toEqual([pub.id]);
      });

      it('an invite is consumed once: the second registration reports used and writes nothing', async () => {
        await addUser('u_alice', 'd_alice');
        const again = await store.register({
          codeHash: 'hash-u_alice', now: T0 + 2, userId: 'u_bob', userName: 'Bob', device: deviceInput('d_bob'),
        });
        expect(again).toEqual({ ok: false, reason: 'used' });
        expect(await store.getUser('u_bob')).toBeUndefined();
        expect(await store.getDevice('d_bob')).toBeUndefined();
        expect((await store.listUsers()).map((u) => u.id)).toEqual(['u_alice']);
      });

      it('an expired invite reports expired (at and after expiresAt) and writes nothing', async () => {
        await store.createInvite(inviteRow());
        for (const now of [T0 + HOUR, T0 + 2 * HOUR]) {
          const out = await store.register({
            codeHash: 'hash-user', now, userId: 'u_alice', userName: null, device: deviceInput('d_alice'),
          });
          expect(out).toEqual({ ok: false, reason: 'expired' });
        }
        expect(await store.listUsers()).toEqual([]);
        expect(await store.listDevices()).toEqual([]);
        expect((await store.getInvite('hash-user'))?.usedAt).toBeNull();
        // one millisecond before expiry it still works
        const ok = await store.register({
          codeHash: 'hash-user', now: T0 + HOUR - 1, userId: 'u_alice', userName: null, device: deviceInput('d_alice'),
        });
        expect(ok.ok).toBe(true);
      });

      it('an unknown invite reports not_found', async () => {
        const out = await store.register({
          codeHash: 'hash-nope', now: T0, userId: 'u_alice', userName: 'A', device: deviceInput('d_alice'),
        });
        expect(out).toEqual({ ok: false, reason: 'not_found' });
        expect(await store.listUsers()).toEqual([]);
      });

      it('is all or nothing: a failing device insert leaves the invite unused and no user behind', async () => {
        await addUser('u_alice', 'd_taken');
        await store.createInvite(inviteRow({ codeHash: 'hash-bob', name: 'Bob' }));
        await expect(store.register({
          codeHash: 'hash-bob', now: T0 + 5, userId: 'u_bob', userName: null, device: deviceInput('d_taken'),
        })).rejects.toBeTruthy();
        expect(await store.getUser('u_bob')).toBeUndefined();
        expect((await store.getInvite('hash-bob'))?.usedAt).toBeNull();
        expect((await store.getDevice('d_taken'))?.userId).toBe('u_alice');
      });

      it('concurrent registrations with one invite: exactly one succeeds', async () => {
        await store.createInvite(inviteRow());
        const outs = await Promise.all([1, 2, 3, 4, 5].map((i) => store.register({
          codeHash: 'hash-user', now: T0 + 1, userId: `u_${i}`, userName: null, device: deviceInput(`d_${i}`),
        })));
        expect(outs.filter((o) => o.ok)).toHaveLength(1);
        expect(outs.filter((o) => !o.ok)).toEqual([1, 2, 3, 4].map(() => ({ ok: false, reason: 'used' })));
        expect(await store.listUsers()).toHaveLength(1);
        expect(await store.listDevices()).toHaveLength(1);
      });

      it('a device invite adds a further device to the existing person', async () => {
        const { user } = await addUser('u_alice', 'd_alice1');
        await store.createInvite(inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_alice' }));
        const out = await store.register({
          codeHash: 'hash-dev', now: T0 + 20, userId: 'u_ignored', userName: 'Ignored', device: deviceInput('d_alice2', T0 + 20),
        });
        expect(out).toEqual({
          ok: true, user,
          device: { ...deviceInput('d_alice2', T0 + 20), userId: 'u_alice', enrolledBy: 'device-invite' },
          invite: inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_alice', usedAt: T0 + 20 }),
        });
        expect(await store.getUser('u_ignored')).toBeUndefined();
        expect(await store.getUser('u_alice')).toEqual(user);
        expect((await store.listDevices({ userId: 'u_alice' })).map((d) => d.id)).toEqual(['d_alice1', 'd_alice2']);
      });

      it('a device invite for a deactivated person reports user_inactive and writes nothing', async () => {
        await addUser('u_alice', 'd_alice1');
        await store.createInvite(inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_alice' }));
        await store.deactivateUser('u_alice');
        const out = await store.register({
          codeHash: 'hash-dev', now: T0 + 20, userId: 'u_x', userName: null, device: deviceInput('d_alice2'),
        });
        expect(out).toEqual({ ok: false, reason: 'user_inactive' });
        expect(await store.getDevice('d_alice2')).toBeUndefined();
        expect((await store.getInvite('hash-dev'))?.usedAt).toBeNull();
      });
    });

    describe('users and devices', () => {
      it('lists users and devices in creation order and filters devices by user', async () => {
        await addUser('u_b', 'd_b1', {}, T0 + 1);
        await addUser('u_a', 'd_a1', {}, T0 + 2);
        await store.createInvite(inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_b' }));
        await store.register({ codeHash: 'hash-dev', now: T0 + 3, userId: 'u_x', userName: null, device: deviceInput('d_b2', T0 + 3) });
        expect((await store.listUsers()).map((u) => u.id)).toEqual(['u_b', 'u_a']);
        expect((await store.listDevices()).map((d) => d.id)).toEqual(['d_b1', 'd_a1', 'd_b2']);
        expect((await store.listDevices({ userId: 'u_b' })).map((d) => d.id)).toEqual(['d_b1', 'd_b2']);
        expect(await store.listDevices({ userId: 'u_nobody' })).toEqual([]);
        expect(await store.getUser('u_nobody')).toBeUndefined();
        expect(await store.getDevice('d_nobody')).toBeUndefined();
      });

      it('deactivateUser marks the person deactivated and revokes exactly their active devices', async () => {
        await addUser('u_a', 'd_a1');
        await addUser('u_b', 'd_b1');
        await store.createInvite(inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_a' }));
        await store.register({ codeHash: 'hash-dev', now: T0 + 3, userId: 'u_x', userName: null, device: deviceInput('d_a2') });

        expect(await store.deactivateUser('u_a')).toEqual(['d_a1', 'd_a2']);
        expect((await store.getUser('u_a'))?.status).toBe('deactivated');
        expect((await store.listDevices({ userId: 'u_a' })).map((d) => d.status)).toEqual(['revoked', 'revoked']);
        expect((await store.getUser('u_b'))?.status).toBe('active');
        expect((await store.getDevice('d_b1'))?.status).toBe('active');
        // nothing left to revoke
        expect(await store.deactivateUser('u_a')).toEqual([]);
        expect(await store.deactivateUser('u_nobody')).toEqual([]);
      });

      it('revokeDevice revokes one active device, never a person\'s last one', async () => {
        await addUser('u_a', 'd_a1');
        expect(await store.revokeDevice('d_a1')).toBe('last_device');
        expect((await store.getDevice('d_a1'))?.status).toBe('active');
        await store.createInvite(inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_a' }));
        await store.register({ codeHash: 'hash-dev', now: T0 + 3, userId: 'u_x', userName: null, device: deviceInput('d_a2') });
        expect(await store.revokeDevice('d_a2')).toBe('revoked');
        expect((await store.listDevices({ userId: 'u_a' })).map((d) => d.status)).toEqual(['active', 'revoked']);
        expect(await store.revokeDevice('d_a2')).toBe('not_active');
        expect(await store.revokeDevice('d_a1')).toBe('last_device');
        expect(await store.revokeDevice('d_nobody')).toBe('not_active');
        expect((await store.getUser('u_a'))?.status).toBe('active');
      });
    });

    describe('unique names, rename and delete', () => {
      async function expectNameTaken(p: Promise<unknown>, kind: 'person' | 'department' | 'group'): Promise<void> {
        let thrown: unknown;
        try {
          await p;
        } catch (err) {
          thrown = err;
        }
        expect(isNameTaken(thrown)).toBe(true);
        expect((thrown as { kind?: string }).kind).toBe(kind);
      }
      const dept = (id: string, name: string): [DepartmentRow, GroupRow, GroupRow] => {
        const [d, pub, sec] = departmentRows(id);
        return [{ ...d, name }, { ...pub, name }, sec];
      };
      const publicGroup = (id: string, name: string) => groupRow(id, { kind: 'public', name });

      it('person names are unique by case, normal form and spacing; a clash writes nothing', async () => {
        await addUser('u_a', 'd_a1', { name: 'Anna Müller' });
        // NFD spelling, other case, doubled space
        await store.createInvite(inviteRow({ codeHash: 'hash-u_b', name: 'ANNA  Mu\u0308ller' }));
        await expectNameTaken(store.register({ codeHash: 'hash-u_b', now: T0 + 2, userId: 'u_b', userName: null, device: deviceInput('d_b1') }), 'person');
        expect(await store.getUser('u_b')).toBeUndefined();
        expect(await store.getDevice('d_b1')).toBeUndefined();
        expect((await store.getInvite('hash-u_b'))?.usedAt).toBeNull();
        await addUser('u_c', 'd_c1', { name: 'Anna Müller-Lang' });
      });

      it('department names are unique; a clash writes neither the department nor its groups', async () => {
        await store.createDepartment(...dept('dep_a', 'Bauamt'));
        const second = dept('dep_b', 'bauamt');
        await expectNameTaken(store.createDepartment(...second), 'department');
        expect(await store.getDepartment('dep_b')).toBeUndefined();
        expect(await store.getGroup(second[1].id)).toBeUndefined();
        expect(await store.getGroup(second[2].id)).toBeUndefined();
      });

      it('a public group cannot take a department\'s or another public group\'s name; secret groups carry none', async () => {
        await store.createDepartment(...dept('dep_a', 'Bauamt'));
        await expectNameTaken(store.createGroup(publicGroup('g_p1', 'BAUAMT')), 'group');
        await store.createGroup(publicGroup('g_p2', 'Café'));
        await expectNameTaken(store.createGroup(publicGroup('g_p3', 'cafe\u0301')), 'group');
        expect(await store.getGroup('g_p3')).toBeUndefined();
        // a secret group handed a name keeps none, so two of them never clash
        await store.createGroup(groupRow('g_s1', { name: 'Geheim' }));
        await store.createGroup(groupRow('g_s2', { name: 'Geheim' }));
        expect((await store.getGroup('g_s1'))?.name).toBeNull();
        expect((await store.listGroups()).filter((g) => g.kind === 'secret').map((g) => g.name)).toEqual([null, null, null]);
      });

      it('concurrent creations of one name: exactly one wins', async () => {
        const names = ['Einkauf', 'einkauf', 'EINKAUF', ' Einkauf', 'Einkauf '];
        const results = await Promise.allSettled(names.map((n, i) => store.createDepartment(...dept(`dep_${i}`, n.trim()))));
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(isNameTaken(r.reason)).toBe(true);
        expect(await store.listDepartments()).toHaveLength(1);
      });

      it('renameDepartment renames the department and its public group together, or nothing', async () => {
        const [d, pub] = dept('dep_a', 'Bauamt');
        await store.createDepartment(...dept('dep_a', 'Bauamt'));
        await store.createDepartment(...dept('dep_b', 'Kasse'));
        expect(await store.renameDepartment('dep_a', 'Bauverwaltung')).toBe(true);
        expect((await store.getDepartment('dep_a'))?.name).toBe('Bauverwaltung');
        expect((await store.getGroup(pub.id))?.name).toBe('Bauverwaltung');
        await expectNameTaken(store.renameDepartment('dep_a', 'KASSE'), 'department');
        await store.createGroup(publicGroup('g_news', 'News'));
        await expectNameTaken(store.renameDepartment('dep_a', 'news'), 'group');
        expect((await store.getDepartment('dep_a'))?.name).toBe('Bauverwaltung');
        expect((await store.getGroup(pub.id))?.name).toBe('Bauverwaltung');
        // the old name is free again
        await store.createGroup(publicGroup('g_old', d.name));
        expect(await store.renameDepartment('dep_nope', 'X')).toBe(false);
      });

      it('renameGroup renames public groups only and keeps names unique', async () => {
        await store.createGroup(publicGroup('g_a', 'News'));
        await store.createGroup(publicGroup('g_b', 'Sport'));
        await secretGroup('g_s');
        expect(await store.renameGroup('g_a', 'Neuigkeiten')).toBe(true);
        expect((await store.getGroup('g_a'))?.name).toBe('Neuigkeiten');
        await expectNameTaken(store.renameGroup('g_a', 'SPORT'), 'group');
        expect((await store.getGroup('g_a'))?.name).toBe('Neuigkeiten');
        expect(await store.renameGroup('g_s', 'Geheim')).toBe(false);
        expect((await store.getGroup('g_s'))?.name).toBeNull();
        expect(await store.renameGroup('g_nope', 'X')).toBe(false);
      });

      it('deleteDepartment: refused while anyone is in it; then its public group and unused secret group go', async () => {
        const [, pub, sec] = dept('dep_a', 'Bauamt');
        await store.createDepartment(...dept('dep_a', 'Bauamt'));
        await store.addDepartmentMember('dep_a', 'u_a');
        await store.appendRecord({ groupId: pub.id, epoch: 1, sender: 'd_a1', at: T0, payload: 'post' });
        expect(await store.deleteDepartment('dep_a')).toBe('has_members');
        expect(await store.getDepartment('dep_a')).toBeDefined();
        await store.removeDepartmentMember('dep_a', 'u_a');
        expect(await store.listDepartmentMembers('dep_a')).toEqual([]);
        expect(await store.deleteDepartment('dep_a')).toBe('deleted');
        expect(await store.getDepartment('dep_a')).toBeUndefined();
        expect(await store.getGroup(pub.id)).toBeUndefined();
        expect(await store.getGroup(sec.id)).toBeUndefined();
        expect(await store.readLog(pub.id, 0, 10)).toEqual([]);
        expect(await store.listUserGroupIds('u_a')).toEqual([]);
        expect(await store.deleteDepartment('dep_a')).toBe('not_found');
        // the name is free again
        await store.createDepartment(...dept('dep_b', 'bauamt'));
      });

      it('deleteDepartment keeps a secret group its members created, no longer tied to the department', async () => {
        const [, , sec] = dept('dep_a', 'Bauamt');
        await store.createDepartment(...dept('dep_a', 'Bauamt'));
        expect(await store.initSecretGroup(sec.id, { deviceId: 'd_a1', userId: 'u_a' }, T0)).toBe(true);
        expect(await store.deleteDepartment('dep_a')).toBe('deleted');
        const kept = await store.getGroup(sec.id);
        expect(kept).toMatchObject({ kind: 'secret', departmentId: null, epoch: 0 });
        expect((await store.listGroupDevices(sec.id)).map((d) => d.deviceId)).toEqual(['d_a1']);
      });

      it('deleteGroup deletes a group outside departments with its members and log', async () => {
        await store.createGroup(publicGroup('g_a', 'News'));
        await store.addPublicMembers('g_a', ['u_a', 'u_b']);
        await store.appendRecord({ groupId: 'g_a', epoch: 1, sender: 'd_a1', at: T0, payload: 'post' });
        await store.createDepartment(...dept('dep_a', 'Bauamt'));
        const [, pub] = dept('dep_a', 'Bauamt');
        expect(await store.deleteGroup(pub.id)).toBe(false);
        expect(await store.deleteGroup('g_a')).toBe(true);
        expect(await store.getGroup('g_a')).toBeUndefined();
        expect(await store.listPublicMembers('g_a')).toEqual([]);
        expect(await store.readLog('g_a', 0, 10)).toEqual([]);
        expect(await store.deleteGroup('g_a')).toBe(false);
        await store.createGroup(publicGroup('g_b', 'news'));
      });
    });

    describe('directory changes', () => {
      const ids = (c: { users: { id: string }[]; devices: { id: string }[] }) => ({ users: c.users.map((u) => u.id), devices: c.devices.map((d) => d.id) });

      it('stamps every change of a person or device and lists those after a cursor', async () => {
        const empty = await store.directoryChanges(0);
        expect(ids(empty)).toEqual({ users: [], devices: [] });
        await addUser('u_a', 'd_a1', {}, T0 + 1);
        await addUser('u_b', 'd_b1', {}, T0 + 2);
        const first = await store.directoryChanges(empty.seq);
        expect(first.seq).toBeGreaterThan(empty.seq);
        expect(ids(first)).toEqual({ users: ['u_a', 'u_b'], devices: ['d_a1', 'd_b1'] });
        expect(ids(await store.directoryChanges(first.seq))).toEqual({ users: [], devices: [] });

        // a further device
        await store.createInvite(inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_a' }));
        await store.register({ codeHash: 'hash-dev', now: T0 + 3, userId: 'u_x', userName: null, device: deviceInput('d_a2', T0 + 3) });
        const second = await store.directoryChanges(first.seq);
        expect(second.devices.map((d) => d.id)).toEqual(['d_a2']);
        expect(second.seq).toBeGreaterThan(first.seq);

        // a revocation
        expect(await store.revokeDevice('d_a2')).toBe('revoked');
        const third = await store.directoryChanges(second.seq);
        expect(third.devices.map((d) => [d.id, d.status])).toEqual([['d_a2', 'revoked']]);
        expect(third.users.map((u) => u.id)).not.toContain('u_b');

        // department membership is part of a person's entry
        const [dept, pub, sec] = departmentRows('dep_bau');
        await store.createDepartment(dept, pub, sec);
        await store.addDepartmentMember('dep_bau', 'u_b');
        const fourth = await store.directoryChanges(third.seq);
        expect(ids(fourth)).toEqual({ users: ['u_b'], devices: [] });
        await store.addDepartmentMember('dep_bau', 'u_b');
        expect(ids(await store.directoryChanges(fourth.seq))).toEqual({ users: [], devices: [] });
        await store.removeDepartmentMember('dep_bau', 'u_b');
        const fifth = await store.directoryChanges(fourth.seq);
        expect(ids(fifth)).toEqual({ users: ['u_b'], devices: [] });

        // a deactivation: the person and every device it revoked
        await store.deactivateUser('u_b');
        const sixth = await store.directoryChanges(fifth.seq);
        expect(ids(sixth)).toEqual({ users: ['u_b'], devices: ['d_b1'] });
        expect(sixth.users[0].status).toBe('deactivated');
        // rows come back in the shape of the listing, without bookkeeping fields
        expect(sixth.users[0]).toEqual(await store.getUser('u_b'));
        expect(sixth.devices[0]).toEqual(await store.getDevice('d_b1'));
      });

      it('a failed write stamps nothing', async () => {
        await addUser('u_a', 'd_a1');
        const before = await store.directoryChanges(0);
        expect(await store.revokeDevice('d_a1')).toBe('last_device');
        await store.createInvite(inviteRow({ codeHash: 'hash-same', name: 'name u_a' }));
        await expect(store.register({ codeHash: 'hash-same', now: T0 + 5, userId: 'u_c', userName: null, device: deviceInput('d_c1') })).rejects.toBeTruthy();
        const after = await store.directoryChanges(before.seq);
        expect(ids(after)).toEqual({ users: [], devices: [] });
      });
    });

    describe('departments', () => {
      it('creates the department with its public group and its reserved secret group', async () => {
        const [dept, pub, sec] = departmentRows('dep_bau');
        await store.createDepartment(dept, pub, sec);
        expect(await store.getDepartment('dep_bau')).toEqual(dept);
        expect(await store.listDepartments()).toEqual([dept]);
        expect(await store.getGroup(pub.id)).toEqual(pub);
        expect(await store.getGroup(sec.id)).toEqual(sec);
        expect((await store.getGroup(sec.id))?.epoch).toBeNull();
        expect(await store.getDepartment('dep_nope')).toBeUndefined();
      });

      it('creation is all or nothing', async () => {
        const [dept, pub, sec] = departmentRows('dep_bau');
        await store.createDepartment(dept, pub, sec);
        const [, pub2, sec2] = departmentRows('dep_other');
        await expect(store.createDepartment({ ...dept, name: 'again' }, pub2, sec2)).rejects.toBeTruthy();
        expect(await store.getGroup(pub2.id)).toBeUndefined();
        expect(await store.getGroup(sec2.id)).toBeUndefined();
        expect(await store.listDepartments()).toEqual([dept]);
      });

      it('lists departments in creation order', async () => {
        const b = departmentRows('dep_b', T0 + 1);
        const a = departmentRows('dep_a', T0 + 2);
        await store.createDepartment(...b);
        await store.createDepartment(...a);
        expect((await store.listDepartments()).map((d) => d.id)).toEqual(['dep_b', 'dep_a']);
      });

      it('addDepartmentMember joins the department and its public group, idempotently', async () => {
        const [dept, pub, sec] = departmentRows('dep_bau');
        const [dept2, pub2, sec2] = departmentRows('dep_it');
        await store.createDepartment(dept, pub, sec);
        await store.createDepartment(dept2, pub2, sec2);
        await store.addDepartmentMember('dep_bau', 'u_b');
        await store.addDepartmentMember('dep_bau', 'u_a');
        await store.addDepartmentMember('dep_bau', 'u_a');
        await store.addDepartmentMember('dep_it', 'u_a');
        expect(await store.listDepartmentMembers('dep_bau')).toEqual(['u_a', 'u_b']);
        expect(await store.listDepartmentMembers('dep_it')).toEqual(['u_a']);
        expect(await store.listUserDepartments('u_a')).toEqual(['dep_bau', 'dep_it']);
        expect(await store.listPublicMembers(pub.id)).toEqual(['u_a', 'u_b']);
        expect(await store.listPublicMembers(pub2.id)).toEqual(['u_a']);
        // the secret group is joined through MLS commits, never by the relay
        expect(await store.listGroupDevices(sec.id)).toEqual([]);
        expect(await store.listUserGroupIds('u_a')).toEqual([pub.id, pub2.id].sort());
        expect(await store.listDepartmentMembers('dep_nope')).toEqual([]);
      });

      it('addDepartmentMember rejects an unknown department and writes nothing', async () => {
        await expect(store.addDepartmentMember('dep_nope', 'u_a')).rejects.toBeTruthy();
        expect(await store.listUserDepartments('u_a')).toEqual([]);
      });
    });

    describe('groups', () => {
      it('creates public groups and secret groups with and without a creator', async () => {
        const pub = groupRow('g_pub', { kind: 'public' });
        await store.createGroup(pub);
        await store.createGroup(groupRow('g_sec', { createdAt: T0 + 1 }), { deviceId: 'd_a1', userId: 'u_a' });
        await store.createGroup(groupRow('g_res', { createdAt: T0 + 2 }));
        expect(await store.getGroup('g_pub')).toEqual(pub);
        expect(await store.getGroup('g_sec')).toEqual(groupRow('g_sec', { createdAt: T0 + 1, epoch: 0 }));
        expect(await store.getGroup('g_res')).toEqual(groupRow('g_res', { createdAt: T0 + 2, epoch: null }));
        expect((await store.listGroups()).map((g) => g.id)).toEqual(['g_pub', 'g_sec', 'g_res']);
        expect(await store.listGroupDevices('g_sec')).toEqual([{ groupId: 'g_sec', deviceId: 'd_a1', userId: 'u_a', sinceSeq: 0 }]);
        expect(await store.getGroupDevice('g_sec', 'd_a1')).toEqual({ groupId: 'g_sec', deviceId: 'd_a1', userId: 'u_a', sinceSeq: 0 });
        expect(await store.getGroupDevice('g_sec', 'd_b1')).toBeUndefined();
        expect(await store.listGroupDevices('g_res')).toEqual([]);
        expect(await store.getGroup('g_nope')).toBeUndefined();
      });

      it('rejects a duplicate group id', async () => {
        await store.createGroup(groupRow('g_1', { kind: 'public' }));
        await expect(store.createGroup(groupRow('g_1', { name: 'again' }), { deviceId: 'd_a1', userId: 'u_a' })).rejects.toBeTruthy();
        expect((await store.getGroup('g_1'))?.name).toBe('group g_1');
        expect(await store.listGroupDevices('g_1')).toEqual([]);
      });

      it('initSecretGroup: the first creator wins', async () => {
        await store.createGroup(groupRow('g_res'));
        expect(await store.initSecretGroup('g_res', { deviceId: 'd_a1', userId: 'u_a' }, T0 + 5)).toBe(true);
        expect(await store.initSecretGroup('g_res', { deviceId: 'd_b1', userId: 'u_b' }, T0 + 6)).toBe(false);
        expect((await store.getGroup('g_res'))?.epoch).toBe(0);
        expect(await store.listGroupDevices('g_res')).toEqual([{ groupId: 'g_res', deviceId: 'd_a1', userId: 'u_a', sinceSeq: 0 }]);
      });

      it('initSecretGroup: concurrent creators, one winner', async () => {
        await store.createGroup(groupRow('g_res'));
        const got = await Promise.all(['a', 'b', 'c'].map((x) =>
          store.initSecretGroup('g_res', { deviceId: `d_${x}1`, userId: `u_${x}` }, T0)));
        expect(got.filter(Boolean)).toHaveLength(1);
        const winner = ['a', 'b', 'c'][got.indexOf(true)];
        expect((await store.listGroupDevices('g_res')).map((d) => d.deviceId)).toEqual([`d_${winner}1`]);
      });

      it('initSecretGroup refuses public, already created and unknown groups', async () => {
        await store.createGroup(groupRow('g_pub', { kind: 'public' }));
        await secretGroup('g_sec');
        const b = { deviceId: 'd_b1', userId: 'u_b' };
        expect(await store.initSecretGroup('g_pub', b, T0)).toBe(false);
        expect(await store.initSecretGroup('g_sec', b, T0)).toBe(false);
        expect(await store.initSecretGroup('g_nope', b, T0)).toBe(false);
        expect((await store.getGroup('g_pub'))?.epoch).toBeNull();
        expect(await store.listGroupDevices('g_pub')).toEqual([]);
        expect((await store.listGroupDevices('g_sec')).map((d) => d.deviceId)).toEqual(['d_a1']);
      });

      it('public members: add idempotently, list sorted, remove', async () => {
        await store.createGroup(groupRow('g_pub', { kind: 'public' }));
        await store.addPublicMembers('g_pub', ['u_c', 'u_a']);
        await store.addPublicMembers('g_pub', ['u_a', 'u_b']);
        await store.addPublicMembers('g_pub', []);
        expect(await store.listPublicMembers('g_pub')).toEqual(['u_a', 'u_b', 'u_c']);
        await store.removePublicMembers('g_pub', ['u_b', 'u_nobody']);
        await store.removePublicMembers('g_pub', []);
        expect(await store.listPublicMembers('g_pub')).toEqual(['u_a', 'u_c']);
        expect(await store.listPublicMembers('g_nope')).toEqual([]);
      });

      it('addPublicMembers rejects an unknown group', async () => {
        await expect(store.addPublicMembers('g_nope', ['u_a'])).rejects.toBeTruthy();
        expect(await store.listUserGroupIds('u_a')).toEqual([]);
      });

      it('listUserGroupIds: joined public groups plus secret groups holding one of the user\'s devices', async () => {
        await store.createGroup(groupRow('g_p1', { kind: 'public' }));
        await store.createGroup(groupRow('g_p2', { kind: 'public' }));
        await secretGroup('g_s1');
        await store.createGroup(groupRow('g_s2'), { deviceId: 'd_b1', userId: 'u_b' });
        await store.addPublicMembers('g_p2', ['u_a']);
        await store.addPublicMembers('g_p1', ['u_b']);
        expect(await store.listUserGroupIds('u_a')).toEqual(['g_p2', 'g_s1']);
        expect(await store.listUserGroupIds('u_b')).toEqual(['g_p1', 'g_s2']);
        expect(await store.listUserGroupIds('u_c')).toEqual([]);
      });
    });

    describe('applyCommit', () => {
      it('bumps the epoch, appends the commit, adds devices from its seq and sends one Welcome each', async () => {
        await secretGroup();
        const out = await store.applyCommit(commitInput({
          added: [{ deviceId: 'd_b1', userId: 'u_b' }, { deviceId: 'd_c1', userId: 'u_c' }], welcome: 'welcome-bytes',
        }));
        expect(out).toEqual({ ok: true, seq: 1, epoch: 1 });
        expect(await store.getGroup('g_s')).toEqual(groupRow('g_s', { epoch: 1, head: 1 }));
        // the commit is logged under the epoch it was built on
        expect(await store.readLog('g_s', 0, 10)).toEqual([{
          groupId: 'g_s', seq: 1, kind: 'commit', epoch: 0, sender: 'd_a1', at: T0 + 10, payload: 'commit-bytes',
          added: ['d_b1', 'd_c1'], removed: [],
        }]);
        expect(await store.listGroupDevices('g_s')).toEqual([
          { groupId: 'g_s', deviceId: 'd_a1', userId: 'u_a', sinceSeq: 0 },
          { groupId: 'g_s', deviceId: 'd_b1', userId: 'u_b', sinceSeq: 1 },
          { groupId: 'g_s', deviceId: 'd_c1', userId: 'u_c', sinceSeq: 1 },
        ]);
        for (const d of ['d_b1', 'd_c1']) {
          const welcome: MailboxRow = {
            deviceId: d, seq: 1, kind: 'welcome', groupId: 'g_s', groupSeq: 1, epoch: 1, from: 'd_a1', at: T0 + 10,
            payload: 'welcome-bytes',
          };
          expect(await store.readMailbox(d, 0, 10)).toEqual([welcome]);
        }
        expect(await store.readMailbox('d_a1', 0, 10)).toEqual([]);
        expect(await store.listUserGroupIds('u_c')).toEqual(['g_s']);
      });

      it('added devices start reading at the commit that added them, after earlier records', async () => {
        await secretGroup();
        for (let i = 0; i < 3; i++) {
          await store.appendRecord({ groupId: 'g_s', epoch: 0, sender: 'd_a1', at: T0 + i, payload: `r${i}` });
        }
        await store.appendMailbox({ deviceId: 'd_b1', kind: 'history', groupId: null, groupSeq: null, epoch: null, from: 'd_x', at: T0, payload: 'h' });
        const out = await store.applyCommit(commitInput({ added: [{ deviceId: 'd_b1', userId: 'u_b' }], welcome: 'w' }));
        expect(out).toEqual({ ok: true, seq: 4, epoch: 1 });
        expect((await store.getGroupDevice('g_s', 'd_b1'))?.sinceSeq).toBe(4);
        const mail = await store.readMailbox('d_b1', 0, 10);
        expect(mail.map((m) => [m.seq, m.kind, m.groupSeq, m.epoch])).toEqual([[1, 'history', null, null], [2, 'welcome', 4, 1]]);
      });

      it('a record expecting an epoch is written only while the group is at it', async () => {
        await secretGroup();
        expect(await store.appendRecord({ groupId: 'g_s', epoch: 0, sender: 'd_a1', at: T0, payload: 'r0', expectEpoch: 0 })).toBe(1);
        await store.applyCommit(commitInput({ expectedEpoch: 0, removed: [] }));
        await expect(store.appendRecord({ groupId: 'g_s', epoch: 0, sender: 'd_a1', at: T0 + 1, payload: 'late', expectEpoch: 0 }))
          .rejects.toMatchObject({ name: 'StaleEpoch', epoch: 1 });
        expect((await store.readLog('g_s', 0, 10)).map((e) => e.payload)).toEqual(['r0', 'commit-bytes']);
        expect(await store.appendRecord({ groupId: 'g_s', epoch: 1, sender: 'd_a1', at: T0 + 2, payload: 'r1', expectEpoch: 1 })).toBe(3);
      });

      it('without a Welcome nothing goes to mailboxes', async () => {
        await secretGroup();
        const out = await store.applyCommit(commitInput({ added: [{ deviceId: 'd_b1', userId: 'u_b' }] }));
        expect(out.ok).toBe(true);
        expect(await store.readMailbox('d_b1', 0, 10)).toEqual([]);
        expect((await store.getGroupDevice('g_s', 'd_b1'))?.sinceSeq).toBe(1);
      });

      it('removes devices; a removed device can no longer commit', async () => {
        await secretGroup();
        await store.applyCommit(commitInput({ added: [{ deviceId: 'd_b1', userId: 'u_b' }] }));
        const out = await store.applyCommit(commitInput({ expectedEpoch: 1, removed: ['d_b1'], at: T0 + 20, payload: 'c2' }));
        expect(out).toEqual({ ok: true, seq: 2, epoch: 2 });
        expect(await store.getGroupDevice('g_s', 'd_b1')).toBeUndefined();
        expect((await store.listGroupDevices('g_s')).map((d) => d.deviceId)).toEqual(['d_a1']);
        expect(await store.listUserGroupIds('u_b')).toEqual([]);
        const log = await store.readLog('g_s', 1, 10);
        expect(log).toEqual([{ groupId: 'g_s', seq: 2, kind: 'commit', epoch: 1, sender: 'd_a1', at: T0 + 20, payload: 'c2', added: [], removed: ['d_b1'] }]);
        expect(await store.applyCommit(commitInput({ expectedEpoch: 2, sender: 'd_b1' }))).toEqual({ ok: false, reason: 'not_member' });
      });

      it('a device removed and re-added in one commit stays, from the new seq', async () => {
        await secretGroup();
        await store.applyCommit(commitInput({ added: [{ deviceId: 'd_b1', userId: 'u_b' }] }));
        await store.applyCommit(commitInput({ expectedEpoch: 1, removed: ['d_b1'], added: [{ deviceId: 'd_b1', userId: 'u_b' }] }));
        expect(await store.getGroupDevice('g_s', 'd_b1')).toEqual({ groupId: 'g_s', deviceId: 'd_b1', userId: 'u_b', sinceSeq: 2 });
      });

      it('a stale or future epoch is refused with the current epoch and changes nothing', async () => {
        await secretGroup();
        await store.applyCommit(commitInput());
        for (const expectedEpoch of [0, 5]) {
          const out = await store.applyCommit(commitInput({ expectedEpoch, added: [{ deviceId: 'd_b1', userId: 'u_b' }], welcome: 'w' }));
          expect(out).toEqual({ ok: false, reason: 'stale_epoch', epoch: 1 });
        }
        expect(await store.getGroup('g_s')).toEqual(groupRow('g_s', { epoch: 1, head: 1 }));
        expect(await store.readLog('g_s', 0, 10)).toHaveLength(1);
        expect(await store.getGroupDevice('g_s', 'd_b1')).toBeUndefined();
        expect(await store.readMailbox('d_b1', 0, 10)).toEqual([]);
      });

      it('a sender that is not a member device is refused and changes nothing', async () => {
        await secretGroup();
        const out = await store.applyCommit(commitInput({ sender: 'd_mallory', added: [{ deviceId: 'd_m2', userId: 'u_m' }], welcome: 'w' }));
        expect(out).toEqual({ ok: false, reason: 'not_member' });
        expect(await store.getGroup('g_s')).toEqual(groupRow('g_s', { epoch: 0, head: 0 }));
        expect(await store.listGroupDevices('g_s')).toHaveLength(1);
        expect(await store.readMailbox('d_m2', 0, 10)).toEqual([]);
      });

      it('unknown, public and reserved groups report not_found', async () => {
        await store.createGroup(groupRow('g_pub', { kind: 'public' }));
        await store.createGroup(groupRow('g_res'));
        for (const groupId of ['g_nope', 'g_pub', 'g_res']) {
          expect(await store.applyCommit(commitInput({ groupId }))).toEqual({ ok: false, reason: 'not_found' });
        }
        expect((await store.getGroup('g_pub'))?.head).toBe(0);
      });

      it('two concurrent commits on the same epoch: exactly one wins', async () => {
        await secretGroup();
        await store.applyCommit(commitInput({ added: [{ deviceId: 'd_b1', userId: 'u_b' }] }));
        const [x, y] = await Promise.all([
          store.applyCommit(commitInput({ expectedEpoch: 1, payload: 'from-a', added: [{ deviceId: 'd_c1', userId: 'u_c' }], welcome: 'w' })),
          store.applyCommit(commitInput({ expectedEpoch: 1, sender: 'd_b1', payload: 'from-b', removed: ['d_a1'] })),
        ]);
        const wins = [x, y].filter((o) => o.ok);
        expect(wins).toEqual([{ ok: true, seq: 2, epoch: 2 }]);
        expect([x, y].filter((o) => !o.ok)).toEqual([{ ok: false, reason: 'stale_epoch', epoch: 2 }]);
        const log = await store.readLog('g_s', 1, 10);
        expect(log).toHaveLength(1);
        expect(log[0].payload).toBe(x.ok ? 'from-a' : 'from-b');
        const devices = (await store.listGroupDevices('g_s')).map((d) => d.deviceId);
        expect(devices).toEqual(x.ok ? ['d_a1', 'd_b1', 'd_c1'] : ['d_b1']);
        expect(await store.readMailbox('d_c1', 0, 10)).toHaveLength(x.ok ? 1 : 0);
        expect(await store.getGroup('g_s')).toEqual(groupRow('g_s', { epoch: 2, head: 2 }));
      });

      it('many concurrent commits built on one epoch still advance it by exactly one', async () => {
        await secretGroup();
        const outs = await Promise.all(Array.from({ length: 8 }, (_, i) =>
          store.applyCommit(commitInput({ payload: `c${i}` }))));
        expect(outs.filter((o) => o.ok)).toEqual([{ ok: true, seq: 1, epoch: 1 }]);
        expect((await store.getGroup('g_s'))?.epoch).toBe(1);
      });
    });

    describe('group log', () => {
      it('appendRecord numbers records per group from 1 and maintains head', async () => {
        await secretGroup('g_1');
        await secretGroup('g_2');
        expect(await store.appendRecord({ groupId: 'g_1', epoch: 0, sender: 'd_a1', at: T0 + 1, payload: 'p1' })).toBe(1);
        expect(await store.appendRecord({ groupId: 'g_1', epoch: 0, sender: 'd_a1', at: T0 + 2, payload: 'p2' })).toBe(2);
        expect(await store.appendRecord({ groupId: 'g_2', epoch: 0, sender: 'd_a1', at: T0 + 3, payload: 'q1' })).toBe(1);
        expect((await store.getGroup('g_1'))?.head).toBe(2);
        expect((await store.getGroup('g_2'))?.head).toBe(1);
        const log = await store.readLog('g_1', 0, 10);
        expect(log).toEqual([
          { groupId: 'g_1', seq: 1, kind: 'record', epoch: 0, sender: 'd_a1', at: T0 + 1, payload: 'p1' },
          { groupId: 'g_1', seq: 2, kind: 'record', epoch: 0, sender: 'd_a1', at: T0 + 2, payload: 'p2' },
        ]);
        // records carry no membership change fields at all
        expect(Object.keys(log[0]).sort()).toEqual(['at', 'epoch', 'groupId', 'kind', 'payload', 'sender', 'seq']);
      });

      it('records and commits share one gapless sequence', async () => {
        await secretGroup();
        await store.appendRecord({ groupId: 'g_s', epoch: 0, sender: 'd_a1', at: T0, payload: 'r1' });
        await store.applyCommit(commitInput());
        await store.appendRecord({ groupId: 'g_s', epoch: 1, sender: 'd_a1', at: T0, payload: 'r2' });
        expect((await store.readLog('g_s', 0, 10)).map((e) => [e.seq, e.kind, e.epoch])).toEqual([
          [1, 'record', 0], [2, 'commit', 0], [3, 'record', 1],
        ]);
      });

      it('public groups have a log too', async () => {
        await store.createGroup(groupRow('g_pub', { kind: 'public' }));
        expect(await store.appendRecord({ groupId: 'g_pub', epoch: 3, sender: 'd_a1', at: T0, payload: 'post' })).toBe(1);
        expect((await store.readLog('g_pub', 0, 10))[0]).toEqual({
          groupId: 'g_pub', seq: 1, kind: 'record', epoch: 3, sender: 'd_a1', at: T0, payload: 'post',
        });
      });

      it('appendRecord rejects an unknown group', async () => {
        await expect(store.appendRecord({ groupId: 'g_nope', epoch: 0, sender: 'd_a1', at: T0, payload: 'x' })).rejects.toBeTruthy();
        expect(await store.readLog('g_nope', 0, 10)).toEqual([]);
      });

      it('50 concurrent appends get seqs 1..50, each stored under its own seq', async () => {
        await secretGroup();
        const seqs = await Promise.all(Array.from({ length: 50 }, (_, i) =>
          store.appendRecord({ groupId: 'g_s', epoch: 0, sender: 'd_a1', at: T0 + i, payload: `p${i}` })));
        expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
        const log = await store.readLog('g_s', 0, 100);
        expect(log.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
        for (let i = 0; i < 50; i++) expect(log[seqs[i] - 1].payload).toBe(`p${i}`);
        expect((await store.getGroup('g_s'))?.head).toBe(50);
      });

      it('concurrent appends across groups: per-group gapless seqs, each record under the seq its caller got', async () => {
        const groups = ['g_1', 'g_2', 'g_3'];
        for (const g of groups) await secretGroup(g);
        await store.createGroup(groupRow('g_pub', { kind: 'public' }));
        groups.push('g_pub');
        const calls = Array.from({ length: 60 }, (_, i) => ({ groupId: groups[(i * 7) % groups.length], payload: `p${i}` }));
        const unknown = store.appendRecord({ groupId: 'g_nope', epoch: 0, sender: 'd_a1', at: T0, payload: 'lost' });
        const seqs = await Promise.all(calls.map((c, i) => store.appendRecord({ ...c, epoch: 0, sender: 'd_a1', at: T0 + i })));
        // a record for a group that does not exist fails alone; the others in flight with it stand
        await expect(unknown).rejects.toBeTruthy();
        for (const g of groups) {
          const mine = calls.map((c, i) => ({ ...c, seq: seqs[i] })).filter((c) => c.groupId === g);
          expect(mine.map((c) => c.seq).sort((a, b) => a - b)).toEqual(mine.map((_, i) => i + 1));
          const log = await store.readLog(g, 0, 100);
          expect(log.map((e) => [e.seq, e.payload])).toEqual(
            [...mine].sort((a, b) => a.seq - b.seq).map((c) => [c.seq, c.payload]),
          );
          expect((await store.getGroup(g))?.head).toBe(mine.length);
        }
        expect(await store.readLog('g_nope', 0, 10)).toEqual([]);
      });

      it('appends racing a commit: records and the commit still share one gapless sequence', async () => {
        await secretGroup();
        const records = Array.from({ length: 10 }, (_, i) =>
          store.appendRecord({ groupId: 'g_s', epoch: 0, sender: 'd_a1', at: T0 + i, payload: `r${i}` }));
        const commit = store.applyCommit(commitInput());
        const [seqs, out] = await Promise.all([Promise.all(records), commit]);
        if (!out.ok) throw new Error('the commit was refused');
        const log = await store.readLog('g_s', 0, 100);
        expect(log.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
        expect(log[out.seq - 1].kind).toBe('commit');
        seqs.forEach((seq, i) => expect(log[seq - 1]).toMatchObject({ kind: 'record', payload: `r${i}` }));
        expect(await store.getGroup('g_s')).toMatchObject({ epoch: 1, head: 11 });
      });

      it('readLog pages by afterSeq and limit', async () => {
        await secretGroup();
        for (let i = 1; i <= 5; i++) await store.appendRecord({ groupId: 'g_s', epoch: 0, sender: 'd_a1', at: T0, payload: `p${i}` });
        const seqs = async (after: number, limit: number) => (await store.readLog('g_s', after, limit)).map((e) => e.seq);
        expect(await seqs(0, 2)).toEqual([1, 2]);
        expect(await seqs(2, 2)).toEqual([3, 4]);
        expect(await seqs(4, 2)).toEqual([5]);
        expect(await seqs(5, 2)).toEqual([]);
        expect(await seqs(0, 100)).toEqual([1, 2, 3, 4, 5]);
        expect(await seqs(0, 0)).toEqual([]);
        expect(await store.readLog('g_other', 0, 10)).toEqual([]);
      });
    });

    describe('mailbox', () => {
      const item = (deviceId: string, payload: string): Omit<MailboxRow, 'seq'> => ({
        deviceId, kind: 'history', groupId: 'g_s', groupSeq: null, epoch: 3, from: 'd_a1', at: T0, payload,
      });

      it('numbers items per device from 1 and returns them exactly', async () => {
        expect(await store.appendMailbox(item('d_b1', 'one'))).toBe(1);
        expect(await store.appendMailbox(item('d_b1', 'two'))).toBe(2);
        expect(await store.appendMailbox(item('d_c1', 'other'))).toBe(1);
        const noGroup: Omit<MailboxRow, 'seq'> = { ...item('d_b1', 'three'), groupId: null, epoch: null, kind: 'welcome', groupSeq: 7 };
        expect(await store.appendMailbox(noGroup)).toBe(3);
        expect(await store.readMailbox('d_b1', 0, 10)).toEqual([
          { ...item('d_b1', 'one'), seq: 1 }, { ...item('d_b1', 'two'), seq: 2 }, { ...noGroup, seq: 3 },
        ]);
        expect(await store.readMailbox('d_c1', 0, 10)).toEqual([{ ...item('d_c1', 'other'), seq: 1 }]);
        expect(await store.readMailbox('d_nobody', 0, 10)).toEqual([]);
      });

      it('pages by afterSeq and limit', async () => {
        for (let i = 1; i <= 5; i++) await store.appendMailbox(item('d_b1', `p${i}`));
        const seqs = async (after: number, limit: number) => (await store.readMailbox('d_b1', after, limit)).map((m) => m.seq);
        expect(await seqs(0, 3)).toEqual([1, 2, 3]);
        expect(await seqs(3, 3)).toEqual([4, 5]);
        expect(await seqs(5, 3)).toEqual([]);
        expect(await seqs(0, 0)).toEqual([]);
      });

      it('concurrent appends to one device get distinct gapless seqs', async () => {
        const seqs = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendMailbox(item('d_b1', `p${i}`))));
        expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        const items = await store.readMailbox('d_b1', 0, 100);
        for (let i = 0; i < 20; i++) expect(items[seqs[i] - 1].payload).toBe(`p${i}`);
      });
    });

    describe('key packages', () => {
      it('a device without packages has no stock and nothing to claim', async () => {
        expect(await store.keyPackageStock('d_b1')).toEqual({ stock: 0, hasLastResort: false });
        expect(await store.claimKeyPackage('d_b1')).toBeUndefined();
      });

      it('claims regular packages first in, first out, then keeps returning the last-resort package', async () => {
        await store.addKeyPackages('d_b1', ['kp1', 'kp2'], 'lr1');
        await store.addKeyPackages('d_b1', ['kp3'], null);
        expect(await store.keyPackageStock('d_b1')).toEqual({ stock: 3, hasLastResort: true });
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'kp1', lastResort: false });
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'kp2', lastResort: false });
        expect(await store.keyPackageStock('d_b1')).toEqual({ stock: 1, hasLastResort: true });
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'kp3', lastResort: false });
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'lr1', lastResort: true });
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'lr1', lastResort: true });
        expect(await store.keyPackageStock('d_b1')).toEqual({ stock: 0, hasLastResort: true });
      });

      it('a new last-resort package replaces the old one; null keeps it', async () => {
        await store.addKeyPackages('d_b1', [], 'lr1');
        await store.addKeyPackages('d_b1', [], 'lr2');
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'lr2', lastResort: true });
        await store.addKeyPackages('d_b1', ['kp9'], null);
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'kp9', lastResort: false });
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'lr2', lastResort: true });
      });

      it('without a last-resort package, claims run dry', async () => {
        await store.addKeyPackages('d_b1', ['kp1'], null);
        expect(await store.keyPackageStock('d_b1')).toEqual({ stock: 1, hasLastResort: false });
        expect(await store.claimKeyPackage('d_b1')).toEqual({ keyPackage: 'kp1', lastResort: false });
        expect(await store.claimKeyPackage('d_b1')).toBeUndefined();
      });

      it('keeps devices apart', async () => {
        await store.addKeyPackages('d_b1', ['b-kp'], 'b-lr');
        await store.addKeyPackages('d_c1', ['c-kp'], null);
        expect(await store.claimKeyPackage('d_c1')).toEqual({ keyPackage: 'c-kp', lastResort: false });
        expect(await store.claimKeyPackage('d_c1')).toBeUndefined();
        expect(await store.keyPackageStock('d_b1')).toEqual({ stock: 1, hasLastResort: true });
      });

      it('concurrent claims never hand out the same package twice', async () => {
        const kps = Array.from({ length: 10 }, (_, i) => `kp${i}`);
        await store.addKeyPackages('d_b1', kps, 'lr');
        const got = await Promise.all(Array.from({ length: 15 }, () => store.claimKeyPackage('d_b1')));
        const regular = got.filter((g) => g && !g.lastResort).map((g) => g!.keyPackage);
        expect([...regular].sort()).toEqual([...kps].sort());
        expect(got.filter((g) => g?.lastResort)).toEqual(Array.from({ length: 5 }, () => ({ keyPackage: 'lr', lastResort: true })));
        expect(await store.keyPackageStock('d_b1')).toEqual({ stock: 0, hasLastResort: true });
      });
    });

    describe('organisation-key generations', () => {
      it('starts at generation 0 and accepts only current + 1', async () => {
        expect(await store.currentGeneration()).toBe(0);
        expect(await store.listGenerations()).toEqual([]);
        expect(await store.createGeneration({ generation: 2, createdBy: 'd_a1', createdAt: T0 }, [])).toBe(false);
        expect(await store.createGeneration({ generation: 0, createdBy: 'd_a1', createdAt: T0 }, [])).toBe(false);
        const g1 = { generation: 1, createdBy: 'd_a1', createdAt: T0 };
        expect(await store.createGeneration(g1, [envelope(1, 'd_a1'), envelope(1, 'd_b1')])).toBe(true);
        expect(await store.currentGeneration()).toBe(1);
        expect(await store.createGeneration({ ...g1, createdBy: 'd_b1' }, [envelope(1, 'd_c1')])).toBe(false);
        expect(await store.createGeneration({ generation: 3, createdBy: 'd_a1', createdAt: T0 }, [])).toBe(false);
        const g2 = { generation: 2, createdBy: 'd_b1', createdAt: T0 + 1 };
        expect(await store.createGeneration(g2, [envelope(2, 'd_b1')])).toBe(true);
        expect(await store.currentGeneration()).toBe(2);
        expect(await store.listGenerations()).toEqual([g1, g2]);
        expect(await store.listEnvelopes('d_b1')).toEqual([envelope(1, 'd_b1'), envelope(2, 'd_b1')]);
        // the refused generation wrote none of its envelopes
        expect(await store.listEnvelopes('d_c1')).toEqual([]);
      });

      it('concurrent creators of the next generation: exactly one wins, with its envelopes', async () => {
        const outs = await Promise.all(['d_a1', 'd_b1', 'd_c1'].map((by) =>
          store.createGeneration({ generation: 1, createdBy: by, createdAt: T0 }, [envelope(1, 'd_x', { sealedBy: by, sealed: `by-${by}` })])));
        expect(outs.filter(Boolean)).toHaveLength(1);
        const winner = ['d_a1', 'd_b1', 'd_c1'][outs.indexOf(true)];
        expect(await store.listGenerations()).toEqual([{ generation: 1, createdBy: winner, createdAt: T0 }]);
        expect(await store.listEnvelopes('d_x')).toEqual([envelope(1, 'd_x', { sealedBy: winner, sealed: `by-${winner}` })]);
      });

      it('rejects envelopes that belong to another generation', async () => {
        await expect(store.createGeneration({ generation: 1, createdBy: 'd_a1', createdAt: T0 }, [envelope(2, 'd_b1')])).rejects.toBeTruthy();
        expect(await store.currentGeneration()).toBe(0);
      });
    });

    describe('envelopes', () => {
      beforeEach(async () => {
        await store.createGeneration({ generation: 1, createdBy: 'd_a1', createdAt: T0 }, [envelope(1, 'd_a1')]);
        await store.createGeneration({ generation: 2, createdBy: 'd_a1', createdAt: T0 }, [envelope(2, 'd_a1')]);
      });

      it('putEnvelopes is idempotent: an existing (generation, device) envelope is left as is', async () => {
        await store.putEnvelopes([envelope(2, 'd_b1', { sealedBy: 'd_c1' }), envelope(1, 'd_b1')]);
        await store.putEnvelopes([envelope(1, 'd_b1', { sealed: 'replacement', sealedBy: 'd_mallory', at: T0 + 9 })]);
        await store.putEnvelopes([]);
        expect(await store.listEnvelopes('d_b1')).toEqual([envelope(1, 'd_b1'), envelope(2, 'd_b1', { sealedBy: 'd_c1' })]);
        expect(await store.listEnvelopes('d_nobody')).toEqual([]);
      });

      it('putEnvelopes rejects a generation that does not exist and stores none of the batch', async () => {
        await expect(store.putEnvelopes([envelope(1, 'd_b1'), envelope(7, 'd_b1')])).rejects.toBeTruthy();
        expect(await store.listEnvelopes('d_b1')).toEqual([]);
      });

      it('listEnvelopeKeys lists every (device, generation) pair', async () => {
        await store.putEnvelopes([envelope(2, 'd_b1'), envelope(1, 'd_c1')]);
        expect(await store.listEnvelopeKeys()).toEqual([
          { deviceId: 'd_a1', generation: 1 }, { deviceId: 'd_a1', generation: 2 },
          { deviceId: 'd_b1', generation: 2 }, { deviceId: 'd_c1', generation: 1 },
        ]);
      });

      it('refuseEnvelope drops exactly the reported envelope and bars its sealer from that place', async () => {
        const poisoned = envelope(2, 'd_b1', { sealedBy: 'd_m1', sealed: 'poison' });
        await store.putEnvelopes([poisoned, envelope(1, 'd_b1', { sealedBy: 'd_m1' })]);
        // another sealer or another text than the stored one drops nothing and bars no one
        expect(await store.refuseEnvelope({ generation: 2, deviceId: 'd_b1', sealedBy: 'd_c1', sealed: 'poison' })).toBe(false);
        expect(await store.refuseEnvelope({ generation: 2, deviceId: 'd_b1', sealedBy: 'd_m1', sealed: 'other' })).toBe(false);
        expect(await store.listEnvelopes('d_b1')).toEqual([envelope(1, 'd_b1', { sealedBy: 'd_m1' }), poisoned]);

        expect(await store.refuseEnvelope({ generation: 2, deviceId: 'd_b1', sealedBy: 'd_m1', sealed: 'poison' })).toBe(true);
        expect(await store.refuseEnvelope({ generation: 2, deviceId: 'd_b1', sealedBy: 'd_m1', sealed: 'poison' })).toBe(false);
        expect(await store.listEnvelopeKeys()).not.toContainEqual({ deviceId: 'd_b1', generation: 2 });
        // the refused sealer cannot fill the place again; the refusal touches no other place
        await store.putEnvelopes([envelope(2, 'd_b1', { sealedBy: 'd_m1', sealed: 'poison again' }), envelope(2, 'd_c1', { sealedBy: 'd_m1' })]);
        expect(await store.listEnvelopes('d_b1')).toEqual([envelope(1, 'd_b1', { sealedBy: 'd_m1' })]);
        expect(await store.listEnvelopes('d_c1')).toEqual([envelope(2, 'd_c1', { sealedBy: 'd_m1' })]);
        // any other device's envelope does
        await store.putEnvelopes([envelope(2, 'd_b1', { sealedBy: 'd_c1', sealed: 'honest' })]);
        expect(await store.listEnvelopes('d_b1')).toEqual([envelope(1, 'd_b1', { sealedBy: 'd_m1' }), envelope(2, 'd_b1', { sealedBy: 'd_c1', sealed: 'honest' })]);
      });
    });

    describe('key-transparency log', () => {
      it('numbers entries from 0 and reads them by range, by index and by user', async () => {
        expect(await store.ktSize()).toBe(0);
        expect(await store.readKtEntries(0, 10)).toEqual([]);
        await store.appendKt(kt(0, [entry(1), 'u_a'], [entry(2, 2), 'u_a'], [entry(3), null]));
        await store.appendKt(kt(3, [entry(4), 'u_b'], [entry(5, 5, 5), 'u_a']));
        expect(await store.ktSize()).toBe(5);
        expect(await store.readKtEntries(0, 10)).toEqual([entry(1), entry(2, 2), entry(3), entry(4), entry(5, 5, 5)]);
        expect(await store.readKtEntries(1, 3)).toEqual([entry(2, 2), entry(3)]);
        expect(await store.readKtEntries(3, 3)).toEqual([]);
        expect(await store.getKtEntries([4, 0, 2])).toEqual([entry(5, 5, 5), entry(1), entry(3)]);
        await expect(store.getKtEntries([5])).rejects.toBeTruthy();
        expect(await store.listKtUserIndexes('u_a')).toEqual([0, 1, 4]);
        expect(await store.listKtUserIndexes('u_b')).toEqual([3]);
        expect(await store.listKtUserIndexes('u_nobody')).toEqual([]);
      });

      it('refuses a batch computed for another log size and writes none of it', async () => {
        await store.appendKt(kt(0, [entry(1), null]));
        await expectKtConflict(store.appendKt(kt(0, [entry(9), null])));
        await expectKtConflict(store.appendKt(kt(2, [entry(9), null])));
        expect(await store.readKtEntries(0, 10)).toEqual([entry(1)]);
      });

      it('concurrent batches for the same size: exactly one is stored', async () => {
        const outs = await Promise.allSettled([1, 2, 3, 4].map((i) => store.appendKt(kt(0, [entry(i), null], [entry(i, i), null]))));
        expect(outs.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        for (const o of outs) if (o.status === 'rejected') expect(isKtConflict(o.reason)).toBe(true);
        const stored = await store.readKtEntries(0, 10);
        expect(stored).toHaveLength(2);
        expect(stored[1]).toEqual(entry(stored[0][0], stored[0][0]));
      });

      it('register appends with a successful registration only, atomically', async () => {
        await store.createInvite(inviteRow());
        await expectKtConflict(store.register({
          codeHash: 'hash-user', now: T0 + 1, userId: 'u_alice', userName: null, device: deviceInput('d_alice'), kt: kt(5, [entry(1), 'u_alice']),
        }));
        expect(await store.getUser('u_alice')).toBeUndefined();
        expect(await store.getDevice('d_alice')).toBeUndefined();
        expect((await store.getInvite('hash-user'))?.usedAt).toBeNull();
        expect(await store.ktSize()).toBe(0);

        const ok = await store.register({
          codeHash: 'hash-user', now: T0 + 1, userId: 'u_alice', userName: null, device: deviceInput('d_alice'),
          kt: kt(0, [entry(1), 'u_alice'], [entry(2), 'u_alice'], [entry(3), null]),
        });
        expect(ok.ok).toBe(true);
        expect(await store.listKtUserIndexes('u_alice')).toEqual([0, 1]);
        const used = await store.register({
          codeHash: 'hash-user', now: T0 + 2, userId: 'u_bob', userName: null, device: deviceInput('d_bob'), kt: kt(3, [entry(4), 'u_bob']),
        });
        expect(used).toEqual({ ok: false, reason: 'used' });
        expect(await store.ktSize()).toBe(3);
      });

      it('deactivateUser appends only for the devices it revokes, atomically', async () => {
        await addUser('u_a', 'd_a1');
        await expect(store.deactivateUser('u_a', { append: kt(0, [entry(1), 'u_a']), revoking: ['d_a1', 'd_other'] })).rejects.toBeTruthy();
        expect((await store.getUser('u_a'))?.status).toBe('active');
        expect((await store.getDevice('d_a1'))?.status).toBe('active');
        await expectKtConflict(store.deactivateUser('u_a', { append: kt(4, [entry(1), 'u_a']), revoking: ['d_a1'] }));
        expect((await store.getUser('u_a'))?.status).toBe('active');
        expect(await store.ktSize()).toBe(0);

        expect(await store.deactivateUser('u_a', { append: kt(0, [entry(1), 'u_a'], [entry(2), 'u_a'], [entry(3), null]), revoking: ['d_a1'] })).toEqual(['d_a1']);
        expect(await store.listKtUserIndexes('u_a')).toEqual([0, 1]);
        // a second deactivation has nothing to log
        await expect(store.deactivateUser('u_a', { append: kt(3, [entry(4), 'u_a']), revoking: [] })).rejects.toBeTruthy();
        expect(await store.ktSize()).toBe(3);
      });

      it('setUserRole changes an active person\'s role with its entry, atomically, and never removes the last admin', async () => {
        await addUser('u_a', 'd_a1', { role: 'admin' }, T0 + 1);
        await addUser('u_b', 'd_b1', { role: 'member' }, T0 + 2);
        const before = (await store.directoryChanges(0)).seq;
        await expectKtConflict(store.setUserRole('u_b', 'admin', kt(3, [entry(1), 'u_b'])));
        expect((await store.getUser('u_b'))?.role).toBe('member');
        expect(await store.setUserRole('u_b', 'admin', kt(0, [entry(1), 'u_b'], [entry(2), null]))).toBe('changed');
        expect((await store.getUser('u_b'))?.role).toBe('admin');
        expect(await store.listKtUserIndexes('u_b')).toEqual([0]);
        expect((await store.directoryChanges(before)).users.map((u) => [u.id, u.role])).toEqual([['u_b', 'admin']]);
        // refusals write nothing
        expect(await store.setUserRole('u_b', 'admin', kt(2, [entry(3), 'u_b']))).toBe('unchanged');
        expect(await store.setUserRole('u_nobody', 'admin', kt(2, [entry(3), 'u_nobody']))).toBe('not_active');
        expect(await store.setUserRole('u_a', 'member', kt(2, [entry(3), 'u_a'], [entry(4), null]))).toBe('changed');
        expect(await store.setUserRole('u_b', 'announcer', kt(4, [entry(5), 'u_b']))).toBe('last_admin');
        expect((await store.getUser('u_b'))?.role).toBe('admin');
        await store.deactivateUser('u_a');
        expect(await store.setUserRole('u_a', 'admin', kt(4, [entry(5), 'u_a']))).toBe('not_active');
        expect(await store.ktSize()).toBe(4);
      });

      it('revokeDevice appends with the revocation only, atomically', async () => {
        await addUser('u_a', 'd_a1');
        await store.createInvite(inviteRow({ codeHash: 'hash-dev', kind: 'device', name: null, role: null, userId: 'u_a' }));
        await store.register({ codeHash: 'hash-dev', now: T0 + 3, userId: 'u_x', userName: null, device: deviceInput('d_a2') });
        await expectKtConflict(store.revokeDevice('d_a2', kt(4, [entry(1), 'u_a'])));
        expect((await store.getDevice('d_a2'))?.status).toBe('active');
        expect(await store.revokeDevice('d_a2', kt(0, [entry(1), 'u_a'], [entry(2), null]))).toBe('revoked');
        expect(await store.listKtUserIndexes('u_a')).toEqual([0]);
        // refused: nothing appended
        expect(await store.revokeDevice('d_a1', kt(2, [entry(3), 'u_a']))).toBe('last_device');
        expect(await store.revokeDevice('d_a2', kt(2, [entry(3), 'u_a']))).toBe('not_active');
        expect(await store.ktSize()).toBe(2);
      });

      it('applyCommit appends with an accepted commit only', async () => {
        await secretGroup();
        await expectKtConflict(store.applyCommit(commitInput({ kt: kt(1, [entry(1), null]) })));
        expect(await store.getGroup('g_s')).toEqual(groupRow('g_s', { epoch: 0, head: 0 }));
        expect(await store.readLog('g_s', 0, 10)).toEqual([]);
        expect(await store.applyCommit(commitInput({ kt: kt(0, [entry(1), null], [entry(2), null]) }))).toEqual({ ok: true, seq: 1, epoch: 1 });
        expect(await store.applyCommit(commitInput({ kt: kt(2, [entry(3), null]) }))).toEqual({ ok: false, reason: 'stale_epoch', epoch: 1 });
        expect(await store.applyCommit(commitInput({ expectedEpoch: 1, sender: 'd_x', kt: kt(2, [entry(3), null]) }))).toEqual({ ok: false, reason: 'not_member' });
        expect(await store.readKtEntries(0, 10)).toEqual([entry(1), entry(2)]);
      });

      it('group creation, reserved-group initialisation and org-key generations append atomically', async () => {
        await expectKtConflict(store.createGroup(groupRow('g_1'), { deviceId: 'd_a1', userId: 'u_a' }, kt(3, [entry(1), null])));
        expect(await store.getGroup('g_1')).toBeUndefined();
        await store.createGroup(groupRow('g_1'), { deviceId: 'd_a1', userId: 'u_a' }, kt(0, [entry(1), null]));
        await store.createGroup(groupRow('g_res'));
        await expectKtConflict(store.initSecretGroup('g_res', { deviceId: 'd_a1', userId: 'u_a' }, T0, kt(0, [entry(2), null])));
        expect((await store.getGroup('g_res'))?.epoch).toBeNull();
        expect(await store.initSecretGroup('g_res', { deviceId: 'd_a1', userId: 'u_a' }, T0, kt(1, [entry(2), null]))).toBe(true);
        expect(await store.initSecretGroup('g_res', { deviceId: 'd_b1', userId: 'u_b' }, T0, kt(2, [entry(9), null]))).toBe(false);

        const g1 = { generation: 1, createdBy: 'd_a1', createdAt: T0 };
        await expectKtConflict(store.createGeneration(g1, [envelope(1, 'd_a1')], kt(0, [entry(3), null])));
        expect(await store.currentGeneration()).toBe(0);
        expect(await store.listEnvelopes('d_a1')).toEqual([]);
        expect(await store.createGeneration(g1, [envelope(1, 'd_a1')], kt(2, [entry(3), null]))).toBe(true);
        expect(await store.createGeneration(g1, [], kt(3, [entry(9), null]))).toBe(false);
        expect(await store.readKtEntries(0, 10)).toEqual([entry(1), entry(2), entry(3)]);
      });

      it('keeps one cosignature per size and witness key, the newest', async () => {
        const cosig = (size: number, vkey: string, timestamp: number): CosignatureRow => ({
          size, vkey, name: `w-${vkey}`, line: `— w-${vkey} ${timestamp}\n`, timestamp,
        });
        await store.putCosignature(cosig(5, 'b', 100));
        await store.putCosignature(cosig(5, 'a', 100));
        await store.putCosignature(cosig(6, 'a', 50));
        await store.putCosignature(cosig(5, 'b', 200));
        await store.putCosignature(cosig(5, 'a', 90));
        expect(await store.listCosignatures(5)).toEqual([cosig(5, 'a', 100), cosig(5, 'b', 200)]);
        expect(await store.listCosignatures(6)).toEqual([cosig(6, 'a', 50)]);
        expect(await store.listCosignatures(7)).toEqual([]);
        expect(await store.latestCosignedSize(1)).toBe(6);
        expect(await store.latestCosignedSize(2)).toBe(5);
        expect(await store.latestCosignedSize(3)).toBeUndefined();
        // Counting only chosen witnesses: others' cosignatures of a newer size do not move the answer.
        expect(await store.latestCosignedSize(1, ['a'])).toBe(6);
        expect(await store.latestCosignedSize(1, ['b'])).toBe(5);
        expect(await store.latestCosignedSize(2, ['a', 'b', 'a'])).toBe(5);
        expect(await store.latestCosignedSize(2, ['a', 'z'])).toBeUndefined();
        expect(await store.latestCosignedSize(1, [])).toBeUndefined();
      });
    });
  });
}
