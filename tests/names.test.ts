/** Names decide whom people add and where they write. These scenarios run real clients against a
 * real relay behind the misbehaving proxy (tests/kt/evil-relay.ts): a person's name comes from
 * their key-transparency entries, never from the relay's directory alone; a secret group's name and
 * description are encrypted to its members and never reach the relay, in any request, answer or
 * file. */
import { readFile, stat } from 'node:fs/promises';
import type { AgoraError } from '@agora/client-sdk';
import type { DirectoryResponse } from '@agora/protocol';
import { filesUnder, runCli } from './helpers.js';
import { evilRelayWorld } from './kt/evil-world.js';

const env = evilRelayWorld();
const { join } = env;

async function failure(p: Promise<unknown>): Promise<AgoraError> {
  try {
    await p;
  } catch (e) {
    return e as AgoraError;
  }
  throw new Error('expected a failure');
}

/** The byte forms a string could take in a file or a JSON body. */
function forms(text: string): Buffer[] {
  const b = Buffer.from(text, 'utf8');
  return [b, Buffer.from(text, 'utf16le'), Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url')), Buffer.from(b.toString('hex'))];
}

/** A directory in which the relay renames one person and hides another (users and devices). */
function renameAndHide(renamed: string, as: string, hidden: string) {
  return (ex: { path: string; body: unknown }) => {
    if (!ex.path.startsWith('/v1/directory')) return undefined;
    const body = structuredClone(ex.body) as DirectoryResponse;
    body.users = body.users.filter((u) => u.id !== hidden).map((u) => (u.id === renamed ? { ...u, name: as } : u));
    body.devices = body.devices.filter((d) => d.userId !== hidden);
    return { body };
  };
}

test('a relay that renames Mallory to "Ben Weber" and hides Ben cannot get Mallory added', async () => {
  const alice = await join('Alice Adler');
  const ben = await join('Ben Weber');
  const mallory = await join('Mallory Mertens');
  const g = await alice.client.createGroup({ name: 'Baustelle Nord', kind: 'secret' });

  env.proxy.set(renameAndHide(mallory.userId, 'Ben Weber', ben.userId));
  const err = await failure(alice.client.addMembers(g.id, ['Ben Weber']));
  expect(err.code).toBe('no_such_user');
  expect(err.message).toMatch(/key-transparency log/);
  const alarms = await alice.client.alarms();
  expect(alarms.some((a) => a.kind === 'name_mismatch' && a.message.includes('Mallory Mertens') && a.message.includes('Ben Weber'))).toBe(true);
  expect(env.proxy.seen.filter((e) => e.method === 'POST' && e.path.includes(`/groups/${g.id}/commits`))).toHaveLength(0);

  // The command line says so in one line and exits non-zero.
  const cli = await runCli(['group', 'add', g.id, 'Ben Weber'], { profile: alice.dir });
  expect(cli.code).not.toBe(0);
  expect(cli.stderr.trim().split('\n')).toHaveLength(1);
  expect(cli.stderr).toMatch(/no person named "Ben Weber" in the key-transparency log/);
  expect(env.proxy.seen.filter((e) => e.method === 'POST' && e.path.includes(`/groups/${g.id}/commits`))).toHaveLength(0);

  env.proxy.set(undefined);
  expect((await alice.client.groupMembers(g.id)).map((m) => m.name)).toEqual(['Alice Adler']);
  // Honest again: the name finds Ben, whatever its case and spacing.
  await alice.client.addMembers(g.id, ['ben  WEBER']);
  expect((await alice.client.groupMembers(g.id)).map((m) => m.name).sort()).toEqual(['Alice Adler', 'Ben Weber']);
  expect((await mallory.client.listGroups()).some((x) => x.id === g.id)).toBe(false);
});

test('names shown come from the log: a relay renaming a member changes nothing shown and raises an alarm', async () => {
  const carla = await join('Carla Conrad');
  const dirk = await join('Dirk Dorn');
  const g = await carla.client.createGroup({ name: 'Kanalnetz', kind: 'secret' });
  await carla.client.addMembers(g.id, ['Dirk Dorn']);
  await dirk.client.send(g.id, 'Hallo');

  env.proxy.set((ex) => {
    if (!ex.path.startsWith('/v1/directory')) return undefined;
    const body = structuredClone(ex.body) as DirectoryResponse;
    for (const u of body.users) if (u.id === dirk.userId) u.name = 'Amtsleitung';
    return { body };
  });
  const members = await carla.client.groupMembers(g.id);
  expect(members.find((m) => m.id === dirk.userId)?.name).toBe('Dirk Dorn');
  const read = await carla.client.read(g.id);
  expect(read.messages.map((m) => m.senderName)).toEqual(['Dirk Dorn']);
  // the relay's name finds nobody
  expect((await failure(carla.client.addMembers(g.id, ['Amtsleitung']))).code).toBe('no_such_user');
  expect((await carla.client.alarms()).some((a) => a.kind === 'name_mismatch' && a.message.includes('Amtsleitung'))).toBe(true);
});

test('a secret group is named in its log, encrypted: members see it, the relay never does', async () => {
  const name = 'Sanierung Rathaus Ostflügel 2027';
  const description = 'Vertrauliche Vorbereitung Ausschreibung Los 4';
  const renamed = 'Ostflügel Abstimmung intern';
  const erik = await join('Erik Ebert');
  const frida = await join('Frida Fuchs');
  const gerd = await join('Gerd Graf');
  const seenBefore = env.proxy.seen.length;

  const g = await erik.client.createGroup({ name, kind: 'secret', description });
  expect(g.name).toBe(name);
  expect((await erik.client.listGroups()).find((x) => x.id === g.id)?.name).toBe(name);
  // found by its name, whatever the case
  await erik.client.send(name.toUpperCase(), 'erste Nachricht');
  // Frida joins later: the name follows the commit that added her.
  await erik.client.addMembers(name, ['Frida Fuchs']);
  await frida.client.sync();
  const fridas = await frida.client.listGroups();
  expect(fridas.find((x) => x.id === g.id)).toMatchObject({ name, description, kind: 'secret', isMember: true });
  // Only an owner renames it; Frida is a member, not an owner.
  expect((await failure(frida.client.renameGroup(g.id, 'Meins'))).code).toBe('forbidden');
  await erik.client.renameGroup(name, renamed);
  await frida.client.sync();
  expect((await frida.client.listGroups()).find((x) => x.id === g.id)).toMatchObject({ name: renamed, description });
  expect((await frida.client.read(renamed)).messages.map((m) => m.text)).toEqual([]);
  // The relay cannot keep secret names unique, so the client refuses a name it can see.
  expect((await failure(frida.client.createGroup({ name: renamed.toLowerCase(), kind: 'secret' }))).code).toBe('conflict');
  // An outsider sees no group of that name.
  expect((await gerd.client.listGroups()).some((x) => x.id === g.id || x.name === renamed)).toBe(false);

  const exchanges = env.proxy.seen.slice(seenBefore);
  expect(exchanges.some((e) => e.path === '/v1/groups' && e.method === 'POST')).toBe(true);
  const needles = [name, description, renamed].flatMap(forms);
  for (const e of exchanges) {
    const text = JSON.stringify([e.request ?? null, e.body ?? null]);
    for (const n of needles) expect(text.includes(n.toString('latin1'))).toBe(false);
  }
  const views = exchanges.filter((e) => e.path.startsWith('/v1/groups') && e.method === 'GET').flatMap((e) => {
    const b = e.body as { groups?: { id: string; name: unknown }[]; id?: string; name?: unknown };
    return b.groups ?? (b.id ? [b as { id: string; name: unknown }] : []);
  });
  expect(views.filter((v) => v.id === g.id).length).toBeGreaterThan(0);
  for (const v of views.filter((x) => x.id === g.id)) expect(v.name).toBeNull();

  let scanned = 0;
  for (const f of await filesUnder(env.world.dataDir)) {
    if (!(await stat(f)).isFile()) continue;
    const content = await readFile(f);
    scanned += content.length;
    for (const n of needles) expect(content.includes(n)).toBe(false);
  }
  expect(scanned).toBeGreaterThan(10_000);
});

test('a department\'s secret group is called after the department until its members name it', async () => {
  const hanna = await join('Hanna Haas');
  const dept = await env.admin.createDepartment('Vermessung');
  await env.admin.addDepartmentMember('Vermessung', 'Hanna Haas');
  const groups = await hanna.client.listGroups();
  expect(groups.find((x) => x.id === dept.secretGroupId)?.name).toBe('Vermessung (secret)');
  expect(groups.find((x) => x.id === dept.publicGroupId)?.name).toBe('Vermessung');
  await env.admin.renameDepartment('vermessung', 'Geodäsie');
  expect((await hanna.client.listGroups()).find((x) => x.id === dept.publicGroupId)?.name).toBe('Geodäsie');
  expect((await failure(env.admin.createDepartment('GEODÄSIE'))).code).toBe('conflict');
});

test('rename and delete from the command line; a bad or taken name is one line and a non-zero exit', async () => {
  const cli = async (...args: string[]) => runCli(args, { profile: env.adminDir });
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    expect({ args, code: r.code, stderr: r.stderr }).toMatchObject({ code: 0, stderr: '' });
    return r.stdout.trim();
  };
  await ok('admin', 'department', 'create', 'Stadtgrün');
  await ok('admin', 'department', 'create', 'Kämmerei');
  expect(await ok('admin', 'department', 'rename', 'stadtgrün', 'Grünflächen')).toBe('Grünflächen');
  await ok('admin', 'department', 'delete', 'Grünflächen');
  expect(await ok('admin', 'department', 'list')).not.toContain('Grünflächen');
  const gid = await ok('group', 'create', 'Fahrradgruppe', '--kind', 'public');
  expect(await ok('group', 'rename', gid, 'Radgruppe')).toBe('Radgruppe');
  await ok('group', 'delete', 'radgruppe');
  expect(await ok('group', 'list')).not.toContain('Radgruppe');
  for (const args of [['admin', 'department', 'create', 'Grün\u202eamt'], ['admin', 'department', 'create', 'KÄMMEREI']]) {
    const r = await cli(...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/name: /);
  }
});
