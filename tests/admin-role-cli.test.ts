/** `agora admin role PERSON ROLE` end to end: a real relay and the built CLI, one profile per device. */
import { startRelay } from '@agora/server';
import { runCli, tempDir } from './helpers.js';

let relay: Awaited<ReturnType<typeof startRelay>>;
const profiles: Record<string, string> = {};

async function ok(args: string[], who: string): Promise<string> {
  const r = await runCli(args, { profile: profiles[who] });
  if (r.code !== 0) throw new Error(`agora ${args.join(' ')} (as ${who}) exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir: await tempDir('role-cli-relay'), quiet: true, rateLimit: false });
  for (const who of ['admin', 'ben']) profiles[who] = await tempDir(`role-cli-${who}`);
  await ok(['register', '--server', relay.url, '--invite', relay.adminInvite!, '--name', 'IT Admin'], 'admin');
  const code = await ok(['admin', 'invite', '--name', 'Ben Weber'], 'admin');
  await ok(['register', '--server', relay.url, '--invite', code], 'ben');
}, 120_000);

afterAll(async () => {
  await relay.close();
});

test('an administrator changes a role; a wrong role, a member and the last administrator are refused in one line', async () => {
  expect(await ok(['admin', 'role', 'Ben Weber', 'announcer'], 'admin')).toBe('Ben Weber is now announcer');
  const users = JSON.parse(await ok(['--json', 'admin', 'users'], 'admin')) as { users: { name: string; role: string }[] };
  expect(users.users.find((u) => u.name === 'Ben Weber')?.role).toBe('announcer');

  const wrong = await runCli(['admin', 'role', 'Ben Weber', 'owner'], { profile: profiles.admin });
  expect(wrong.code).not.toBe(0);
  expect(wrong.stderr.trim().split('\n')).toEqual([expect.stringMatching(/member, announcer or admin/)]);

  const member = await runCli(['admin', 'role', 'IT Admin', 'member'], { profile: profiles.ben });
  expect(member.code).not.toBe(0);
  expect(member.stderr).toMatch(/administrator/);

  const last = await runCli(['admin', 'role', 'IT Admin', 'member'], { profile: profiles.admin });
  expect(last.code).not.toBe(0);
  expect(last.stderr).toMatch(/last active administrator/);
}, 120_000);
