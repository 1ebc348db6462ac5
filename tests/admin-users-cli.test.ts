/** `agora admin users` shows each person's role as the key-transparency log proves it, never the
 * relay's word: the built CLI against a real relay, through the misbehaving proxy
 * (tests/kt/evil-relay.ts) that claims roles the log does not show. */
import { newId, type DirectoryResponse, type Role } from '@agora/protocol';
import { runCli, type Person } from './helpers.js';
import { evilRelayWorld } from './kt/evil-world.js';

const env = evilRelayWorld();
let ida: Person;
let mallory: Person;

beforeAll(async () => {
  // Ida runs the command, through the proxy; the log makes her an administrator.
  ida = await env.join('Ida Admin');
  await env.admin.setRole('Ida Admin', 'admin');
  mallory = await env.join('Mallory Member');
}, 120_000);

const users = (args: string[] = []) => runCli([...args, 'admin', 'users'], { profile: ida.dir });
const rowOf = (stdout: string, userId: string) => stdout.split('\n').find((l) => l.startsWith(`${userId}\t`))?.split('\t');
/** The requests that asked the log about people: one per person (GET), or several people in one (POST). */
const ktUserLookups = (from: number) => env.proxy.seen.slice(from).filter((e) => e.path.startsWith('/v1/kt/users')).map((e) => `${e.method} ${e.path.split('?')[0].replace(/u_[A-Za-z0-9_-]+/, ':id')}`);

/** The relay's directory with `edit` applied to its people. */
function directoryClaims(edit: (users: DirectoryResponse['users']) => DirectoryResponse['users']) {
  env.proxy.set((ex) => {
    if (!ex.path.startsWith('/v1/directory') || ex.status !== 200) return undefined;
    const body = structuredClone(ex.body) as DirectoryResponse;
    return { body: { ...body, users: edit(body.users) } };
  });
}

const withRole = (userId: string, role: Role) => (list: DirectoryResponse['users']) => list.map((u) => (u.id === userId ? { ...u, role } : u));

test('an honest relay: every role from the log, exit 0; a second listing asks the log nothing new', async () => {
  const start = env.proxy.seen.length;
  const r = await users();
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(3);
  expect(rowOf(r.stdout, ida.userId)).toEqual([ida.userId, 'Ida Admin', 'admin', 'active', '1 device(s)']);
  expect(rowOf(r.stdout, mallory.userId)?.[2]).toBe('member');
  // Everyone is looked up in the log in one request (besides the directory, the checkpoint and its
  // consistency proof), and nobody again while the log has not grown.
  expect(ktUserLookups(start)).toEqual(['POST /v1/kt/users']);
  expect(env.proxy.seen.length - start).toBeLessThanOrEqual(5);
  const again = env.proxy.seen.length;
  expect((await users()).code).toBe(0);
  expect(ktUserLookups(again)).toEqual([]);
  expect(env.proxy.seen.length - again).toBeLessThanOrEqual(3);
}, 120_000);

test('a relay that calls a member an administrator (and an administrator a member): the log\'s roles, the difference marked, exit 3', async () => {
  directoryClaims((list) => withRole(ida.userId, 'member')(withRole(mallory.userId, 'admin')(list)));
  const r = await users();
  expect(r.code).toBe(3);
  expect(rowOf(r.stdout, mallory.userId)?.[2]).toBe('member (relay says admin)');
  expect(rowOf(r.stdout, ida.userId)?.[2]).toBe('admin (relay says member)');
  expect(r.stderr).toMatch(new RegExp(`Mallory Member \\(${mallory.userId}\\): relay says admin, log says member`));
  expect(r.stderr).toMatch(/Ida Admin .*: relay says member, log says admin/);
  expect(r.stderr.trim().split('\n').every((l) => l.startsWith('agora: warning: '))).toBe(true);

  const json = await users(['--json']);
  expect(json.code).toBe(3);
  const listed = (JSON.parse(json.stdout) as { users: { id: string; role: Role | null; relayRole: Role }[] }).users;
  expect(listed.find((u) => u.id === mallory.userId)).toMatchObject({ role: 'member', relayRole: 'admin' });
  expect(listed.find((u) => u.id === ida.userId)).toMatchObject({ role: 'admin', relayRole: 'member' });
}, 120_000);

test('a person the log does not know is listed without a role, exit 3', async () => {
  const eve = newId('u');
  directoryClaims((list) => [...list, { id: eve, name: 'Eve Extra\nforged\trow', role: 'admin', status: 'active', departments: [], createdAt: Date.now() }]);
  const r = await users();
  expect(r.code).toBe(3);
  // The relay's name stays on its own row and in its own column.
  expect(rowOf(r.stdout, eve)).toEqual([eve, 'Eve Extra forged row', 'unverified (relay says admin)', 'active', '0 device(s)']);
  expect(r.stdout.trim().split('\n')).toHaveLength(4);
  expect(r.stderr).toMatch(/the key-transparency log does not show Eve Extra forged row/);
  const json = JSON.parse((await users(['--json'])).stdout) as { users: { id: string; role: Role | null }[] };
  expect(json.users.find((u) => u.id === eve)?.role).toBeNull();
}, 120_000);

test('a relay that swaps two people\'s answers in the batched log lookup gets neither role shown', async () => {
  // The log grows (a newcomer), so everyone is looked up again, in one request.
  const nina = await env.join('Nina Newcomer');
  env.proxy.set((ex) => {
    if (ex.method !== 'POST' || ex.path !== '/v1/kt/users' || ex.status !== 200) return undefined;
    const body = structuredClone(ex.body) as { size: number; users: { userId: string; user: unknown }[] };
    const a = body.users.find((u) => u.userId === ida.userId)!;
    const b = body.users.find((u) => u.userId === mallory.userId)!;
    [a.user, b.user] = [b.user, a.user];
    return { body };
  });
  const start = env.proxy.seen.length;
  const r = await users();
  expect(ktUserLookups(start)[0]).toBe('POST /v1/kt/users');
  // Each swapped answer fails its proof against the checkpoint: both people are unverified, the
  // relay's roles are not shown as theirs, and the command fails.
  expect(r.code).toBe(3);
  expect(rowOf(r.stdout, ida.userId)?.[2]).toBe('unverified (relay says admin)');
  expect(rowOf(r.stdout, mallory.userId)?.[2]).toBe('unverified (relay says member)');
  expect(rowOf(r.stdout, nina.userId)?.[2]).toBe('member');
}, 120_000);

test('a relay claim of a role the log does not show: the log\'s role throughout, an alarm once the claim outlasts the grace', async () => {
  let clock = Date.now();
  const olga = await env.join('Olga Observer', { now: () => clock });
  directoryClaims(withRole(mallory.userId, 'admin'));
  const malloryRole = async () => (await olga.client.verifiedRoles()).find((r) => r.userId === mallory.userId);
  const kinds = async () => (await olga.client.alarms()).map((a) => a.kind);
  // Within the grace the claim may be a role change the verified checkpoint does not hold yet.
  expect(await malloryRole()).toEqual({ userId: mallory.userId, role: 'member', verified: true });
  expect(await kinds()).not.toContain('role_mismatch');
  // A minute on (the grace without witnesses), the relay still says so: an alarm naming Mallory.
  clock += 61_000;
  expect(await malloryRole()).toEqual({ userId: mallory.userId, role: 'member', verified: true });
  const alarm = (await olga.client.alarms()).find((a) => a.kind === 'role_mismatch');
  expect(alarm?.subject).toEqual({ userId: mallory.userId, name: 'Mallory Member' });
  expect(alarm?.message).toMatch(/relay says Mallory Member is admin, but the key-transparency log says member/);
  // An honest relay again: no new alarm, and the claim is forgotten.
  env.proxy.set(undefined);
  await olga.client.alarms({ clear: true });
  clock += 61_000;
  await malloryRole();
  expect(await kinds()).not.toContain('role_mismatch');
}, 120_000);
