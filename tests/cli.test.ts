/** The `agora` CLI contract, end to end: a real relay, the built CLI, one profile directory per
 * device. Each device's commands run in its own `agora shell` (one process and one unlock per
 * device); what must hold of a process on its own (exit codes, `listen`) runs as one. */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startRelay } from '@agora/server';
import { ROOT, PASSPHRASE, runCli, tempDir } from './helpers.js';
import { closeCliShells, startCliShell, type CliShell } from './cli-shell.js';

let relay: Awaited<ReturnType<typeof startRelay>>;
let server: string;
const profiles: Record<string, string> = {};
const shells: Record<string, CliShell> = {};

/** `who`'s shell; the officer's has no profile (witness and audit keep their own files). */
function sh(who: string): CliShell {
  return (shells[who] ??= startCliShell(who === 'officer' ? {} : { profile: profiles[who] }));
}

async function ok(args: string[], who: string): Promise<string> {
  const r = await sh(who).run(args);
  if (r.code !== 0) throw new Error(`agora ${args.join(' ')} (as ${who}) exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir: await tempDir('cli-relay'), quiet: true });
  server = relay.url;
  for (const who of ['admin', 'anna', 'ben', 'cem', 'anna2']) profiles[who] = await tempDir(`cli-${who}`);
});

afterAll(async () => {
  await closeCliShells();
  await relay.close();
});

describe('agora CLI', () => {
  let gid = '';

  test('register the first admin with the bootstrap invite', async () => {
    const userId = await ok(['register', '--server', server, '--invite', relay.adminInvite!, '--name', 'IT Admin'], 'admin');
    expect(userId).toMatch(/^u_[A-Za-z0-9_-]{22}$/);
  });

  test('departments, invites and registration of three people', async () => {
    const dept = await ok(['admin', 'department', 'create', 'Bauamt'], 'admin');
    expect(dept).toMatch(/^dep_/);
    for (const [who, name] of [['anna', 'Anna Schmidt'], ['ben', 'Ben Weber'], ['cem', 'Cem Yilmaz']]) {
      const code = await ok(['admin', 'invite', '--name', name, '--department', 'Bauamt'], 'admin');
      expect(code).toMatch(/^[A-Z0-9-]{16,}$/);
      const id = await ok(['register', '--server', server, '--invite', code], who);
      expect(id).toMatch(/^u_/);
    }
    const users = JSON.parse(await ok(['--json', 'admin', 'users'], 'admin'));
    expect(users.users.map((u: { name: string }) => u.name).sort()).toEqual(['Anna Schmidt', 'Ben Weber', 'Cem Yilmaz', 'IT Admin']);
  });

  test('a three-person secret group: create, add, send, read', async () => {
    gid = await ok(['group', 'create', 'Baustellen', '--kind', 'secret'], 'anna');
    expect(gid).toMatch(/^g_/);
    await ok(['group', 'add', 'Baustellen', 'Ben Weber', 'Cem Yilmaz'], 'anna');
    await ok(['send', 'Baustellen', 'Kran kommt Montag'], 'anna');
    await ok(['send', gid, 'Danke!'], 'ben');
    await ok(['send', 'Baustellen', 'Ich bin dabei'], 'cem');
    // Independent processes run side by side (each on its own profile, or waiting for its lock).
    const [reads, jsonRead, members, listed] = await Promise.all([
      Promise.all(['anna', 'ben', 'cem'].map((who) => ok(['read', 'Baustellen'], who))),
      ok(['--json', 'read', gid], 'ben'),
      ok(['group', 'members', 'Baustellen'], 'cem'),
      ok(['--json', 'group', 'list'], 'ben'),
    ]);
    for (const text of reads) expect(text).toBe('Anna Schmidt: Kran kommt Montag\nBen Weber: Danke!\nCem Yilmaz: Ich bin dabei');
    const json = JSON.parse(jsonRead);
    expect(json).toHaveLength(3);
    expect(Object.keys(json[0]).sort()).toEqual(['id', 'sender', 'senderName', 'sentAt', 'seq', 'text']);
    expect(json[0]).toMatchObject({ senderName: 'Anna Schmidt', text: 'Kran kommt Montag' });
    expect(members.split('\n').map((l) => l.split('\t')[1]).sort()).toEqual(['Anna Schmidt', 'Ben Weber', 'Cem Yilmaz']);
    const list = JSON.parse(listed);
    expect(list.find((g: { id: string }) => g.id === gid)).toMatchObject({ kind: 'secret', isMember: true });
  });

  test("the department's reserved secret group is created by its first member, not by the admin", async () => {
    const [anna, admin] = (await Promise.all([ok(['--json', 'group', 'list'], 'anna'), ok(['--json', 'group', 'list'], 'admin')])).map((j) => JSON.parse(j));
    expect(anna.find((g: { name: string }) => g.name === 'Bauamt (secret)')).toMatchObject({ kind: 'secret', isMember: true });
    expect(admin.find((g: { name: string; isMember: boolean }) => g.name === 'Bauamt (secret)' && g.isMember)).toBeUndefined();
  });

  test('the admin cannot read the secret group', async () => {
    const r = await sh('admin').run(['read', 'Baustellen']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('remove: the removed person reads nothing new', async () => {
    await ok(['group', 'remove', 'Baustellen', 'Cem Yilmaz'], 'anna');
    await ok(['send', 'Baustellen', 'nur fuer Anna und Ben'], 'anna');
    expect((await ok(['read', 'Baustellen'], 'ben')).split('\n').at(-1)).toBe('Anna Schmidt: nur fuer Anna und Ben');
    const r = await sh('cem').run(['read', gid]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('nur fuer Anna und Ben');
  });

  test('public groups: department group and join by oneself', async () => {
    const pub = await ok(['group', 'create', 'Kantine', '--kind', 'public'], 'admin');
    expect(pub).toMatch(/^g_/);
    await ok(['group', 'join', 'Kantine'], 'cem');
    await ok(['send', 'Kantine', 'Heute Kuchen'], 'admin');
    expect(await ok(['read', 'Kantine'], 'cem')).toBe('IT Admin: Heute Kuchen');
    await ok(['send', 'Bauamt', 'Willkommen im Bauamt'], 'ben');
    expect(await ok(['read', 'Bauamt'], 'anna')).toBe('Ben Weber: Willkommen im Bauamt');
  });

  test('a second device via device link joins the person\'s groups', async () => {
    const code = await ok(['device', 'link'], 'anna');
    const id = await ok(['register', '--server', server, '--invite', code], 'anna2');
    await ok(['sync'], 'anna');
    expect(id).toBe(await ok(['--json', 'whoami'], 'anna').then((j) => JSON.parse(j).userId));
    const lines = (await ok(['read', 'Baustellen'], 'anna2')).split('\n');
    expect(lines[0]).toBe('Anna Schmidt: Kran kommt Montag');
    expect(lines.at(-1)).toBe('Anna Schmidt: nur fuer Anna und Ben');
  });

  test('a second device via an admin invite for an existing person', async () => {
    profiles.ben2 = await tempDir('cli-ben2');
    const r = await sh('admin').run(['admin', 'invite', '--name', 'Ben Weber']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('further device');
    await ok(['register', '--server', server, '--invite', r.stdout.trim()], 'ben2');
    await ok(['sync'], 'ben');
    // Not approved by one of Ben's own devices, it joins none of his secret groups; Ben's first
    // device is told a device was added to his account by an admin's invite, and how to approve it.
    const ben2Id = JSON.parse(await ok(['--json', 'whoami'], 'ben2')).deviceId as string;
    expect((await sh('ben2').run(['read', 'Baustellen'])).code).not.toBe(0);
    const alarms = await ok(['alarms'], 'ben');
    expect(alarms).toContain('approved by IT Admin');
    expect(alarms).toContain(`agora device approve ${ben2Id}`);
    // Ben approves it from his first device: it joins his groups and receives his history.
    expect(await ok(['device', 'approve', ben2Id], 'ben')).toBe(`approved ${ben2Id}`);
    expect((await ok(['read', 'Baustellen'], 'ben2')).split('\n')).toContain('Anna Schmidt: Kran kommt Montag');
    await ok(['send', 'Baustellen', 'vom Handy'], 'ben2');
    expect((await ok(['read', 'Baustellen'], 'anna')).split('\n').at(-1)).toBe('Ben Weber: vom Handy');
  });

  test('listen prints messages as they arrive', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'cli/bin/agora.js'), '--profile', profiles.ben, 'listen', 'Baustellen'], {
      env: { ...process.env, AGORA_PASSPHRASE: PASSPHRASE },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    try {
      // Ben's listener holds his profile only between events, so the send from Anna goes through.
      await new Promise((r) => setTimeout(r, 1500));
      await ok(['send', 'Baustellen', 'live!'], 'anna');
      const deadline = Date.now() + 15_000;
      while (!out.includes('Anna Schmidt: live!') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain('Anna Schmidt: live!');
    } finally {
      child.kill('SIGTERM');
    }
  });

  test('key transparency from the command line: verify, witness, audit', async () => {
    const v = await ok(['verify', 'Ben Weber'], 'anna');
    expect(v).toMatch(/^Ben Weber \(u_.*\): active/);
    expect(v.split('\n').filter((l) => l.includes('key ')).length).toBe(2);
    const keyFile = path.join(profiles.admin, 'witness.json');
    // A new witness key is made and named, but the relay lets it in only once the published policy lists it.
    const first = await sh('officer').run(['witness', '--server', server, '--key', keyFile, '--name', 'officer', '--once']);
    expect(first.code).not.toBe(0);
    const witnessLine = /officer\+[0-9a-f]{8}\+\S+/.exec(first.stderr)?.[0];
    expect(witnessLine).toBeDefined();
    expect(first.stderr.trim().split('\n').at(-1)).toMatch(/not a witness in the organisation's published key-transparency policy/);
    const auditKey = path.join(profiles.admin, 'auditor.json');
    const keygen = await sh('officer').run(['audit', 'keygen', auditKey, '--name', 'Security officer']);
    expect(keygen.code).toBe(0);
    const auditor = JSON.parse(keygen.stdout);
    expect(Object.keys(auditor).sort()).toEqual(['encPub', 'name', 'signPub']);
    expect((await sh('officer').run(['audit', 'keygen', auditKey])).code).not.toBe(0); // never overwritten
    // Without a key the audit cannot read the log at all.
    expect((await sh('officer').run(['audit', '--server', server])).code).not.toBe(0);
    const { origin, vkey } = (await (await fetch(`${server}/v1/kt/policy`)).json()) as { origin: string; vkey: string };
    const policyFile = path.join(profiles.admin, 'policy.json');
    await writeFile(policyFile, JSON.stringify({ log: { origin, vkey }, witnesses: [{ name: 'officer', vkey: witnessLine }], auditors: [auditor], quorum: 0, maxCheckpointAgeSeconds: 86400 }));
    expect((await sh('anna').run(['policy', 'publish', policyFile])).code).not.toBe(0); // administrators only
    expect(await ok(['policy', 'publish', policyFile], 'admin')).toBe('published');
    const w = await sh('officer').run(['witness', '--server', server, '--key', keyFile, '--once']);
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/^— officer [A-Za-z0-9+/=]+\n$/);
    // The audit's exit code is checked on a process of its own.
    const audit = await runCli(['--json', 'audit', '--server', server, '--key', auditKey, '--since', path.join(profiles.admin, 'audit.json')]);
    const report = JSON.parse(audit.stdout);
    expect(report.people.map((p: { name: string }) => p.name)).toContain('Anna Schmidt');
    expect(report.groups.length).toBeGreaterThan(0);
    // Devices added outside working hours or beyond the policy are violations: exit code 3.
    expect(audit.code).toBe(report.violations.length > 0 ? 3 : 0);
    const again = JSON.parse((await sh('officer').run(['--json', 'audit', '--server', server, '--key', auditKey, '--since', path.join(profiles.admin, 'audit.json')])).stdout);
    expect(again.deviceChanges).toEqual([]);
    expect((await ok(['alarms'], 'anna'))).toBe('no alarms');
  });

  test('every failure exits non-zero with one clear line on stderr', async () => {
    // Independent invocations, side by side in the two shells (each answers with the exit code the
    // command has on its own); the last one below is a process of its own.
    const failures: ReturnType<CliShell['run']>[] = [];
    for (const [args, who] of [
      [['read', 'no such group'], 'anna'],
      [['group', 'add', 'Baustellen', 'Nobody Here'], 'anna'],
      [['admin', 'department', 'create', 'X'], 'ben'],
      [['register', '--server', server, '--invite', 'AAAA-BBBB-CCCC-DDDD-EEEE'], 'anna'],
      [['group', 'join', 'Baustellen'], 'ben'],
    ] as const) {
      failures.push(sh(who).run([...args]));
    }
    for (const r of await Promise.all(failures)) {
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^agora: /);
    }
    const wrong = await runCli(['read', 'Baustellen'], { profile: profiles.anna, env: { AGORA_PASSPHRASE: 'wrong' } });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/passphrase/i);
  });
});
