/** The CLI refuses to keep a profile without a passphrase unless told so by name, and every failure
 * (relay down, unknown group or person, usage mistake, hostile relay text) is one line on stderr
 * and a non-zero exit. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRelay } from '@agora/server';
import { runCli, tempDir } from './helpers.js';

let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
let server: string;
const profiles: Record<string, string> = {};

function oneLine(r: { code: number; stdout: string; stderr: string }, pattern?: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^agora: \S/);
  if (pattern) expect(r.stderr).toMatch(pattern);
}

async function ok(args: string[], who: string, env?: Record<string, string>): Promise<string> {
  const r = await runCli(args, { profile: profiles[who], env });
  if (r.code !== 0) throw new Error(`agora ${args.join(' ')} (as ${who}) exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir: await tempDir('cli-fail-relay'), quiet: true });
  server = relay.url;
  for (const who of ['admin', 'ina', 'nobody']) profiles[who] = await tempDir(`cli-fail-${who}`);
});

afterAll(async () => {
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
    const runs = await Promise.all([['whoami'], ['sync']].map((args) => runCli(args, { profile: profiles.admin, env: { AGORA_PASSPHRASE: '' } })));
    for (const r of runs) oneLine(r, /AGORA_PASSPHRASE is not set/);
  });

  test('goes ahead only with --insecure-no-passphrase, warning on every run', async () => {
    const code = await ok(['admin', 'invite', '--name', 'Ina Test'], 'admin');
    const reg = await runCli(['--insecure-no-passphrase', 'register', '--server', server, '--invite', code], { profile: profiles.ina, env: { AGORA_PASSPHRASE: '' } });
    expect(reg.code).toBe(0);
    expect(reg.stderr).toContain('agora: warning: --insecure-no-passphrase: ');
    const who = await runCli(['--insecure-no-passphrase', 'whoami'], { profile: profiles.ina, env: { AGORA_PASSPHRASE: '' } });
    expect(who.code).toBe(0);
    expect(who.stdout).toContain('Ina Test');
    expect(who.stderr).toContain('--insecure-no-passphrase');
    // the flag is needed every time, not only at creation
    oneLine(await runCli(['whoami'], { profile: profiles.ina, env: { AGORA_PASSPHRASE: '' } }), /AGORA_PASSPHRASE is not set/);
  });
});

describe('agora failures', () => {
  test('send, group add and usage mistakes: one line each', async () => {
    // Independent failures run side by side (separate processes, as separate invocations are).
    const [noGroup, noGroupAdd, unregistered, usage, typo] = await Promise.all([
      runCli(['send', 'No Such Group', 'hallo'], { profile: profiles.admin }),
      runCli(['group', 'add', 'No Such Group', 'Ina Test'], { profile: profiles.admin }),
      runCli(['sync'], { profile: profiles.nobody }),
      runCli(['send', 'Leitung'], { profile: profiles.admin }),
      runCli(['grup', 'list'], { profile: profiles.admin }),
    ]);
    oneLine(noGroup);
    oneLine(noGroupAdd);
    oneLine(unregistered, /agora register/);
    oneLine(usage, /missing required argument/);
    expect(usage.code).toBe(2);
    oneLine(typo, /unknown command/);
    await ok(['group', 'create', 'Leitung', '--kind', 'secret'], 'admin');
    oneLine(await runCli(['group', 'add', 'Leitung', 'Nobody Here'], { profile: profiles.admin }));
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
    const runs = await Promise.all([['sync'], ['send', 'Leitung', 'hallo'], ['group', 'add', 'Leitung', 'Ina Test']].map((args) => runCli(args, { profile: profiles.admin })));
    for (const r of runs) oneLine(r, /cannot reach the relay|unavailable/);
  });
});
