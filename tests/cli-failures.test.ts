/** The CLI refuses to keep a profile without a passphrase unless told so by name, and every failure
 * (relay down, unknown group or person, usage mistake, hostile relay text) is one line on stderr
 * and a non-zero exit, in a process of its own as in `agora shell`. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRelay } from '@agora/server';
import { runCli, tempDir } from './helpers.js';
import { closeCliShells, startCliShell, type CliShell } from './cli-shell.js';

let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
let server: string;
const profiles: Record<string, string> = {};
const shells: Record<string, CliShell> = {};

/** `who`'s shell (`noPassphrase`: one with AGORA_PASSPHRASE empty). */
function sh(who: string, noPassphrase = false): CliShell {
  return (shells[`${who}${noPassphrase ? ' without passphrase' : ''}`] ??= startCliShell({ profile: profiles[who], env: noPassphrase ? { AGORA_PASSPHRASE: '' } : undefined }));
}

function oneLine(r: { code: number; stdout: string; stderr: string }, pattern?: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^agora: \S/);
  if (pattern) expect(r.stderr).toMatch(pattern);
}

async function ok(args: string[], who: string): Promise<string> {
  const r = await sh(who).run(args);
  if (r.code !== 0) throw new Error(`agora ${args.join(' ')} (as ${who}) exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir: await tempDir('cli-fail-relay'), quiet: true });
  server = relay.url;
  for (const who of ['admin', 'ina', 'nobody']) profiles[who] = await tempDir(`cli-fail-${who}`);
});

afterAll(async () => {
  await closeCliShells();
  await relay?.close();
});

describe('agora without a passphrase', () => {
  test('refuses to create a profile, before the invite is used up', async () => {
    oneLine(
      await runCli(['register', '--server', server, '--invite', relay!.adminInvite!, '--name', 'IT Admin'], { profile: profiles.admin, env: { AGORA_PASSPHRASE: '' } }),
      /AGORA_PASSPHRASE is not set.*--insecure-no-passphrase/,
    );
    // the same invite still works once the passphrase is there
    expect(await ok(['register', '--server', server, '--invite', relay!.adminInvite!, '--name', 'IT Admin'], 'admin')).toMatch(/^u_/);
  });

  test('refuses to open a profile', async () => {
    const runs = await Promise.all([['whoami'], ['sync']].map((args) => sh('admin', true).run(args)));
    for (const r of runs) oneLine(r, /AGORA_PASSPHRASE is not set/);
  });

  test('goes ahead only with --insecure-no-passphrase, warning on every run', async () => {
    const code = await ok(['admin', 'invite', '--name', 'Ina Test'], 'admin');
    const reg = await sh('ina', true).run(['--insecure-no-passphrase', 'register', '--server', server, '--invite', code]);
    expect(reg.code).toBe(0);
    expect(reg.stderr).toContain('agora: warning: --insecure-no-passphrase: ');
    const who = await sh('ina', true).run(['--insecure-no-passphrase', 'whoami']);
    expect(who.code).toBe(0);
    expect(who.stdout).toContain('Ina Test');
    expect(who.stderr).toContain('--insecure-no-passphrase');
    // the flag is needed every time, not only at creation
    oneLine(await sh('ina', true).run(['whoami']), /AGORA_PASSPHRASE is not set/);
  });
});

describe('agora shell', () => {
  /** One stream of a shell's output cut at its end lines: each command's text and exit code. */
  function commands(text: string, marker: string): { out: string; code: number }[] {
    const done: { out: string; code: number }[] = [];
    let out = '';
    for (const line of text.split('\n').slice(0, -1)) {
      const end = line.startsWith(`${marker} `) ? /^\S+ (\d+)$/.exec(line) : null;
      if (end) {
        done.push({ out, code: Number(end[1]) });
        out = '';
      } else out += `${line}\n`;
    }
    expect(out).toBe('');
    return done;
  }
  const failed = (c: { out: string; code: number }) => ({ code: c.code, stdout: '', stderr: c.out });

  test('each line is a command of its own: its exit code, stdout and stderr; a failing one ends only itself', async () => {
    const lines = ['whoami', 'grup list', '["--json", "whoami"]', "send 'No Such Group' \"hallo\"", '', '# skipped', 'send "unterminated', 'shell', 'whoami'];
    const r = await runCli(['shell'], { profile: profiles.admin, input: lines.join('\n') + '\n' });
    expect(r.code).toBe(0);
    const marker = r.stdout.split('\n')[0];
    expect(marker).toMatch(/^agora-end-[0-9a-f]{24}$/);
    const out = commands(r.stdout.slice(marker.length + 1), marker);
    const err = commands(r.stderr, marker);
    expect(out.map((c) => c.code)).toEqual([0, 2, 0, 1, 2, 2, 0]);
    expect(err.map((c) => c.code)).toEqual([0, 2, 0, 1, 2, 2, 0]);
    expect(out[0].out).toMatch(/^IT Admin \(u_\S+, device \S+, admin\) at http:\/\/127\.0\.0\.1:\d+\n$/);
    expect(out[6].out).toBe(out[0].out);
    expect(JSON.parse(out[2].out)).toMatchObject({ name: 'IT Admin', role: 'admin' });
    for (const i of [1, 3, 4, 5]) expect(out[i].out).toBe('');
    for (const i of [0, 2, 6]) expect(err[i].out).toBe('');
    oneLine(failed(err[1]), /unknown command 'grup'/);
    oneLine(failed(err[3]), /No Such Group/);
    oneLine(failed(err[4]), /unterminated " quote/);
    oneLine(failed(err[5]), /already in agora shell/);
  });

  test('a wrong passphrase fails each command, and the shell goes on', async () => {
    const r = await runCli(['shell', '--marker', 'END-0123456789'], { profile: profiles.admin, env: { AGORA_PASSPHRASE: 'wrong' }, input: 'whoami\nsync\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('END-0123456789\nEND-0123456789 1\nEND-0123456789 1\n');
    const err = commands(r.stderr, 'END-0123456789');
    expect(err.map((c) => c.code)).toEqual([1, 1]);
    for (const c of err) oneLine(failed(c), /wrong passphrase/);
  });
});

describe('agora failures', () => {
  test('send, group add and usage mistakes: one line each', async () => {
    // The usage mistake's exit code 2 is the process's own; the others run in the shells.
    const [noGroup, noGroupAdd, unregistered, usage, typo] = await Promise.all([
      sh('admin').run(['send', 'No Such Group', 'hallo']),
      sh('admin').run(['group', 'add', 'No Such Group', 'Ina Test']),
      sh('nobody').run(['sync']),
      runCli(['send', 'Leitung'], { profile: profiles.admin }),
      sh('admin').run(['grup', 'list']),
    ]);
    oneLine(noGroup);
    oneLine(noGroupAdd);
    oneLine(unregistered, /agora register/);
    oneLine(usage, /missing required argument/);
    expect(usage.code).toBe(2);
    oneLine(typo, /unknown command/);
    await ok(['group', 'create', 'Leitung', '--kind', 'secret'], 'admin');
    oneLine(await sh('admin').run(['group', 'add', 'Leitung', 'Nobody Here']));
  });

  test("a relay's answer cannot add lines or terminal escapes", async () => {
    const hostile: Server = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'bad_request', message: 'refused\nagora: all is fine\u001b[2J\u202e' } }));
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
      const r = await runCli(['register', '--server', url, '--invite', 'AAAA-BBBB-CCCC-DDDD-EEEE'], { profile: await tempDir('cli-fail-hostile') });
      oneLine(r, /refused agora: all is fine/);
      expect(r.stderr).not.toMatch(/[\u001b\u202e]/);
    } finally {
      hostile.close();
    }
  });

  test('with the relay down, send, sync and group add name the unreachable relay', async () => {
    await relay!.close();
    relay = undefined;
    const runs = await Promise.all([['sync'], ['send', 'Leitung', 'hallo'], ['group', 'add', 'Leitung', 'Ina Test']].map((args) => sh('admin').run(args)));
    for (const r of runs) oneLine(r, /cannot reach the relay|unavailable/);
  });
});
