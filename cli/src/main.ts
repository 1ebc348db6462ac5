/** The `agora` command line: everything a person or an IT script does. Its words, flags and output
 * are a contract (scripts and acceptance tests depend on them): results on stdout, one line per
 * failure on stderr, non-zero exit on any failure. */
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';
import { platformRandom } from '@agora/protocol/crypto/random';
import { createInterface } from 'node:readline';
import { Command, CommanderError } from 'commander';
import { AgoraClient, type ClientDeps } from '@agora/client-sdk';
import { AgoraError } from '@agora/client-sdk';
import { defaultProfileDir, nodeDeps } from '@agora/client-sdk/node';
import type { Role } from '@agora/protocol/api';
import { loadPolicy, registerKtCommands } from './kt-commands.js';
import { listUsers } from './admin-users.js';
import { oneLine } from './text.js';
import * as z from 'zod';
import { wsFactory } from './ws.js';

interface GlobalOpts {
  profile?: string;
  json?: boolean;
  insecureNoPassphrase?: boolean;
}

/** A failure as one line (its message may carry a relay's words). */
function failureLine(message: string): string {
  return oneLine(message) || 'failed';
}

const program = new Command();
program
  .name('agora')
  .description('Agora: end-to-end encrypted intranet groups')
  .option('--profile <dir>', "this device's state directory", defaultProfileDir())
  .option('--json', 'machine-readable output on stdout')
  .option('--insecure-no-passphrase', 'allow an empty AGORA_PASSPHRASE: the profile, with this device\'s keys, is then effectively unencrypted')
  // Usage mistakes are failures like any other: one line on stderr (subcommands inherit this).
  .configureOutput({ outputError: (text, write) => write(`agora: ${failureLine(text.replace(/^error: /, ''))} (see agora --help)\n`) })
  .exitOverride();

function globals(): GlobalOpts {
  return program.opts<GlobalOpts>();
}

/** The profile's passphrase. Without one the profile's encryption protects nothing, so that takes
 * the explicit flag, and is said on every run. */
function passphrase(): string {
  const p = process.env.AGORA_PASSPHRASE ?? '';
  if (p !== '') return p;
  if (!globals().insecureNoPassphrase) {
    throw new AgoraError('no_passphrase', 'AGORA_PASSPHRASE is not set: set it to protect this device\'s keys (or pass --insecure-no-passphrase to go without)');
  }
  warn(['--insecure-no-passphrase: AGORA_PASSPHRASE is empty, so anyone who can read the profile directory can use this device\'s keys']);
  return '';
}

/** A profile's deps, kept for the life of the process: their profile keeps the key Argon2id derived
 * from the passphrase, so the many commands of one `agora shell` unlock it once. */
const opened = new Map<string, ClientDeps>();

function deps(): ClientDeps {
  const addGrace = process.env.AGORA_ADD_GRACE_MS;
  const profileDir = globals().profile ?? defaultProfileDir();
  const pass = passphrase();
  const insecure = Boolean(globals().insecureNoPassphrase);
  const key = JSON.stringify([profileDir, insecure]);
  let d = opened.get(key);
  if (!d) {
    // Each CLI command is its own operation, and `listen` sends nothing: keeping a listening process
    // current for one-request sends (a sync every 90 s) would make no send faster.
    d = { ...nodeDeps({ profileDir, passphrase: pass, insecureNoPassphrase: insecure, addGraceMs: addGrace ? Number(addGrace) : undefined, webSocket: wsFactory }), alwaysCatchUp: true };
    opened.set(key, d);
  }
  return d;
}

/** The exit code the command being run asks for besides failing (the audit's 3 for violations). */
let commandExit = 0;

async function client(): Promise<AgoraClient> {
  return AgoraClient.open(deps());
}

function out(text: string, json?: unknown): void {
  if (globals().json) process.stdout.write(JSON.stringify(json === undefined ? text : json) + '\n');
  else if (text) process.stdout.write(text + '\n');
}

function warn(lines: string[]): void {
  for (const l of lines) process.stderr.write(`agora: warning: ${l}\n`);
}

program
  .command('register')
  .description("create this device's keys and register it with an invite code")
  .requiredOption('--server <url>', 'the relay, e.g. http://127.0.0.1:8080')
  .requiredOption('--invite <code>', 'the one-time invite code')
  .option('--name <name>', 'your display name (used with the first admin invite)')
  .option('--policy <file>', "the organisation's key-transparency policy (from the security officer)")
  .action(async (o: { server: string; invite: string; name?: string; policy?: string }) => {
    const policy = o.policy ? await loadPolicy(o.policy) : undefined;
    const c = await AgoraClient.register(deps(), { server: o.server, invite: o.invite, name: o.name, policy });
    if (!policy) warn(['no --policy file: trusting the key-transparency log key the relay named at registration (ask your security officer for the policy file and run "agora policy set FILE")']);
    const me = c.me;
    out(me.userId, { userId: me.userId, deviceId: me.deviceId, name: me.name, role: me.role });
  });

const admin = program.command('admin').description('administration (admins only)');
admin
  .command('invite')
  .description('a one-time invite code for a new person (or a further device of an existing one)')
  .requiredOption('--name <name>', "the person's display name")
  .option('--department <dept>', 'department id or name')
  .option('--role <role>', 'admin | announcer | member')
  .option('--new-person', 'invite a new person even if someone of this name exists')
  .action(async (o: { name: string; department?: string; role?: string; newPerson?: boolean }) => {
    if (o.role && !['admin', 'announcer', 'member'].includes(o.role)) throw new AgoraError('usage', `--role must be admin, announcer or member`);
    const c = await client();
    const inv = await c.createInvite({ name: o.name, department: o.department, role: o.role as Role | undefined, newPerson: o.newPerson });
    if (inv.kind === 'device' && !globals().json) {
      process.stderr.write(`agora: ${o.name} already has an account: this code adds a further device for them (use --new-person for another person)\n`);
    }
    out(inv.code, inv);
  });
const dept = admin.command('department').description('departments');
dept
  .command('create <name>')
  .description('create a department with its public group and a reserved secret group')
  .action(async (name: string) => {
    const d = await (await client()).createDepartment(name);
    out(d.id, d);
  });
dept
  .command('add-member <dept> <user>')
  .description('add a person to a department')
  .action(async (deptRef: string, user: string) => {
    await (await client()).addDepartmentMember(deptRef, user);
    out('', { ok: true });
  });
dept
  .command('remove-member <dept> <user>')
  .description('take a person out of a department (they keep reading its public group until they leave it)')
  .action(async (deptRef: string, user: string) => {
    await (await client()).removeDepartmentMember(deptRef, user);
    out('', { ok: true });
  });
dept
  .command('rename <dept> <name>')
  .description('rename a department (and its public group)')
  .action(async (deptRef: string, name: string) => {
    const d = await (await client()).renameDepartment(deptRef, name);
    out(d.name, d);
  });
dept
  .command('delete <dept>')
  .description('delete an empty department with its public group (a secret group its members created stays theirs)')
  .action(async (deptRef: string) => {
    await (await client()).deleteDepartment(deptRef);
    out('', { ok: true });
  });
dept
  .command('list')
  .description('list departments')
  .action(async () => {
    const ds = await (await client()).departments();
    out(ds.map((d) => `${d.id}\t${d.name}\t${d.members.length} members`).join('\n'), ds);
  });
admin
  .command('deactivate <user>')
  .description('deactivate a person: revoke their devices, rotate the organisation key, remove them from groups')
  .action(async (user: string) => {
    const r = await (await client()).deactivate(user);
    out(`revoked ${r.revokedDevices.length} device(s)`, r);
  });
admin
  .command('role <user> <role>')
  .description("change a person's role (member | announcer | admin), signed by this device and shown in the key-transparency log")
  .action(async (user: string, role: string) => {
    if (!['admin', 'announcer', 'member'].includes(role)) throw new AgoraError('usage', 'the role must be member, announcer or admin');
    const r = await (await client()).setRole(user, role as Role);
    out(`${r.name} is now ${r.role}${r.inLog ? '' : ' (not yet in a checkpoint the witnesses cosigned)'}`, r);
  });
admin
  .command('users')
  .description("list people and their devices, each with the role the key-transparency log proves (exit code 3 where the relay's role differs)")
  .action(async () => {
    const c = await client();
    const d = await c.directory();
    const listing = listUsers(d, await c.verifiedRoles());
    out(listing.text, { users: listing.users, devices: d.devices });
    warn(listing.warnings);
    if (listing.warnings.length > 0) commandExit = 3;
  });

const group = program.command('group').description('groups');
group
  .command('create <name>')
  .description('create a group')
  .requiredOption('--kind <kind>', 'secret | public')
  .option('--department <dept>', 'department id or name')
  .option('--description <text>', 'secret groups: a description, encrypted with the name to the members')
  .action(async (name: string, o: { kind: string; department?: string; description?: string }) => {
    if (o.kind !== 'secret' && o.kind !== 'public') throw new AgoraError('usage', '--kind must be secret or public');
    const g = await (await client()).createGroup({ name, kind: o.kind, department: o.department, description: o.description });
    out(g.id, g);
  });
group
  .command('rename <group> <name>')
  .description('rename a group (public: its creator or an admin; secret: its owners, encrypted to its members)')
  .option('--description <text>', 'secret groups: a description, encrypted with the name')
  .action(async (g: string, name: string, o: { description?: string }) => {
    const r = await (await client()).renameGroup(g, name, o.description);
    out(r.name, r);
  });
group
  .command('delete <group>')
  .description('delete a public group that belongs to no department (its creator or an admin)')
  .action(async (g: string) => {
    await (await client()).deleteGroup(g);
    out('', { ok: true });
  });
group
  .command('add <group> <users...>')
  .description('add people to a group')
  .action(async (g: string, users: string[]) => {
    await (await client()).addMembers(g, users);
    out('', { ok: true });
  });
group
  .command('remove <group> <users...>')
  .description('remove people from a group')
  .action(async (g: string, users: string[]) => {
    await (await client()).removeMembers(g, users);
    out('', { ok: true });
  });
group
  .command('join <group>')
  .description('join a public group')
  .action(async (g: string) => {
    await (await client()).joinGroup(g);
    out('', { ok: true });
  });
group
  .command('leave <group>')
  .description('leave a public group (a secret group: one of its owners removes you)')
  .action(async (g: string) => {
    await (await client()).leaveGroup(g);
    out('', { ok: true });
  });
group
  .command('list')
  .description('groups you can see')
  .action(async () => {
    const gs = await (await client()).listGroups();
    out(gs.map((g) => `${g.id}\t${g.kind}\t${g.name}${g.isMember ? '' : '\t(not a member)'}`).join('\n'), gs);
  });
group
  .command('members <group>')
  .description("a group's members")
  .action(async (g: string) => {
    const ms = await (await client()).groupMembers(g);
    out(ms.map((m) => `${m.id}\t${m.name}${m.owner ? '\towner' : ''}`).join('\n'), ms);
  });
group
  .command('update <group>')
  .description('send an update commit now: a fresh key for this device in a secret group')
  .action(async (g: string) => {
    const r = await (await client()).updateGroup(g);
    out(`epoch ${r.epoch}`, r);
  });
const owner = group.command('owner').description("a secret group's owners (who add and remove other people)");
owner
  .command('add <group> <user>')
  .description('name another owner of a secret group (owners only)')
  .action(async (g: string, user: string) => {
    const r = await (await client()).addOwner(g, user);
    out('', { ok: true, owners: r.owners });
  });

program
  .command('send <group> <text>')
  .description('send a message to a group')
  .action(async (g: string, text: string) => {
    const r = await (await client()).send(g, text);
    out('', r);
  });
program
  .command('read <group>')
  .description("sync, then print the group's messages oldest first")
  .action(async (g: string) => {
    const r = await (await client()).read(g);
    warn(r.warnings);
    out(r.messages.map((m) => `${m.senderName}: ${m.text}`).join('\n'), r.messages);
  });
program
  .command('sync')
  .description('fetch everything new')
  .action(async () => {
    const r = await (await client()).sync();
    warn(r.warnings);
    out(`${r.newMessages.length} new message(s)`, { newMessages: r.newMessages.length });
  });
program
  .command('listen [group]')
  .description('stay connected and print messages as they arrive')
  .action(async (g?: string) => {
    const c = await client();
    const ctl = new AbortController();
    const stop = () => ctl.abort();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, stop);
    try {
      await c.listen({
        group: g,
        signal: ctl.signal,
        onMessage: (groupId, groupName, m) => {
          if (globals().json) process.stdout.write(JSON.stringify({ groupId, group: groupName, ...m }) + '\n');
          else process.stdout.write(g ? `${m.senderName}: ${m.text}\n` : `[${groupName}] ${m.senderName}: ${m.text}\n`);
        },
        onWarning: (w) => warn([w]),
      });
    } finally {
      // In a shell the process goes on: a later Ctrl-C is the shell's again.
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.removeListener(sig, stop);
    }
  });

const device = program.command('device').description("this person's devices");
device
  .command('link')
  .description('a one-time code to register a further device of yours')
  .action(async () => {
    const inv = await (await client()).linkDevice();
    out(inv.code, inv);
  });
device
  .command('approve <deviceId>')
  .description("vouch for a device of yours that an administrator's invite added, so it joins your secret groups")
  .action(async (deviceId: string) => {
    const r = await (await client()).approveDevice(deviceId);
    out(`approved ${r.deviceId}`, r);
  });
device
  .command('revoke <deviceId>')
  .description('revoke a lost or stolen device (yours, or anyone\'s for administrators): refused by the relay at once, removed from groups, keys rotated')
  .action(async (deviceId: string) => {
    const r = await (await client()).revokeDevice(deviceId);
    out(`revoked ${r.deviceId}`, r);
  });
device
  .command('list')
  .description('your devices as the key-transparency log shows them')
  .action(async () => {
    const c = await client();
    const devices = await c.listOwnDevices();
    const mine = c.me.deviceId;
    out(
      devices
        .map((d) => `${d.deviceId}${d.deviceId === mine ? ' (this device)' : ''}\tkey ${d.fingerprint}\tadded ${new Date(d.addedAt).toISOString()}\t${d.vouched ? 'approved' : 'not approved'}\t${d.active ? 'active' : 'revoked'}`)
        .join('\n'),
      devices,
    );
  });

program
  .command('verify <user>')
  .description("check a person's keys in the key-transparency log")
  .action(async (user: string) => {
    const v = await (await client()).verifyUser(user);
    const lines = [`${v.name} (${v.userId}): ${v.status}, verified at log size ${v.checkpointSize}`];
    for (const d of v.devices) {
      lines.push(`  ${d.deviceId}  key ${d.fingerprint}  ${d.active ? 'active' : 'revoked'}  approved by ${d.approvedBy}  added ${new Date(d.addedAt).toISOString()}${d.vouched ? '' : "  not yet approved by the person's own devices"}`);
    }
    out(lines.join('\n'), v);
  });
program
  .command('alarms')
  .description('what key-transparency checks found (forks, unknown devices, substituted keys)')
  .option('--clear', 'forget them after printing')
  .action(async (o: { clear?: boolean }) => {
    const list = await (await client()).alarms({ clear: o.clear });
    out(list.length === 0 ? 'no alarms' : list.map((a) => `${new Date(a.at).toISOString()}  [${a.kind}] ${a.message}`).join('\n'), list);
  });
const policyCmd = program.command('policy').description("the organisation's key-transparency policy");
policyCmd
  .command('set <file>')
  .description('load the policy file from the security officer')
  .action(async (file: string) => {
    await (await client()).setPolicy(await loadPolicy(file));
    out('', { ok: true });
  });
policyCmd
  .command('publish <file>')
  .description("publish the security officer's policy file on the relay (admins): names the witnesses and auditors that may read the log")
  .action(async (file: string) => {
    await (await client()).publishPolicy(await loadPolicy(file));
    out('published', { ok: true });
  });

program
  .command('whoami')
  .description('this device and its person')
  .action(async () => {
    const me = (await client()).me;
    out(`${me.name} (${me.userId}, device ${me.deviceId}, ${me.role}) at ${me.server}`, me);
  });

registerKtCommands(program, { json: () => Boolean(globals().json), warn: (line) => warn([line]), exitCode: (code) => (commandExit = code) });

const SHELL_HELP = `
Reads one command per line from stdin and runs it as "agora" would, in this one process: the
profile is unlocked (Argon2id over AGORA_PASSPHRASE) once, not once per command. A line is either
words as a shell would split them ('single' and "double" quotes, backslash escapes) or a JSON array
of strings, e.g. ["send","Baustellen","Kran kommt Montag"]. Blank lines and lines starting with #
are skipped. Global options given before "shell" apply to every line; a line may add its own.

Output: first one line on stdout, the marker (--marker, or a random one). After each command, its
results on stdout and its failure or warning lines on stderr, each followed on its own stream by
the line "MARKER CODE", CODE being the exit code the command would have had on its own (0, 1, 2,
3). A failing command ends only itself. At the end of input the shell exits 0.

Example:
  printf '%s\\n' 'group list' 'send Baustellen "Kran kommt Montag"' | agora shell --marker END-7f3a9c1e`;

program.addHelpText('after', '\nMany commands with one unlock of the profile (scripts): agora shell --help');

/** A line of `agora shell` as arguments: a JSON array of strings, or shell-like words. */
function shellWords(line: string): string[] {
  const text = line.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new AgoraError('usage', 'a line starting with [ must be a JSON array of strings');
    }
    const args = z.array(z.string()).safeParse(parsed);
    if (!args.success) throw new AgoraError('usage', 'a line starting with [ must be a JSON array of strings');
    return args.data;
  }
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) word += text[++i];
      else word += ch;
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word ??= '';
      if (ch === "'" || ch === '"') quote = ch;
      else if (ch === '\\' && i + 1 < text.length) word += text[++i];
      else word += ch;
    }
  }
  if (quote) throw new AgoraError('usage', `unterminated ${quote} quote`);
  if (word !== undefined) words.push(word);
  return words;
}

let inShell = false;

program
  .command('shell')
  .description('run many commands, one per line on stdin, in one process that unlocks the profile once')
  .option('--marker <word>', 'the end-of-command marker: 8 to 64 letters, digits, . _ - (default: a random one)')
  .addHelpText('after', SHELL_HELP)
  .action(async (o: { marker?: string }) => {
    if (inShell) throw new AgoraError('usage', 'already in agora shell');
    if (o.marker !== undefined && !/^[A-Za-z0-9._-]{8,64}$/.test(o.marker)) throw new AgoraError('usage', '--marker must be 8 to 64 letters, digits, dots, underscores or dashes');
    // Random unless chosen: output (a message's text) cannot then end a command early.
    const marker = o.marker ?? `agora-end-${Buffer.from(platformRandom(12)).toString('hex')}`;
    const g = globals();
    const prefix = ['--profile', g.profile ?? defaultProfileDir(), ...(g.insecureNoPassphrase ? ['--insecure-no-passphrase'] : []), ...(g.json ? ['--json'] : [])];
    inShell = true;
    process.stdout.write(`${marker}\n`);
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      let code: number;
      try {
        code = await runCommand([...prefix, ...shellWords(line)], 'user');
      } catch (e) {
        code = fail(e);
      }
      process.stdout.write(`${marker} ${code}\n`);
      process.stderr.write(`${marker} ${code}\n`);
    }
    commandExit = 0;
  });

/** The one place a failure becomes output: one line on stderr; returns the exit code (2 for a usage
 * mistake). Commander has printed its own line already. */
function fail(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
  // An unexpected error's further lines are detail (a stack, a schema dump); an AgoraError's message
  // may carry a relay's words, which are kept but cannot break the line.
  const message = e instanceof AgoraError ? e.message : `unexpected failure: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`;
  process.stderr.write(`agora: ${failureLine(message)}\n`);
  return e instanceof AgoraError && e.code === 'usage' ? 2 : 1;
}

/** Runs one command line and returns its exit code; commands never exit the process themselves. */
async function runCommand(argv: string[], from: 'node' | 'user'): Promise<number> {
  commandExit = 0;
  try {
    // Every command but --help verifies or signs something, and the key-transparency code does it
    // synchronously with the loaded provider.
    await loadCryptoProvider();
    await program.parseAsync(argv, { from });
    return commandExit;
  } catch (e) {
    return fail(e);
  }
}

async function main(): Promise<void> {
  // A failure outside the command's own promise (a stray callback) still ends as one line.
  const stray = (e: unknown) => {
    process.exitCode = fail(e);
    process.exit();
  };
  process.on('uncaughtException', stray);
  process.on('unhandledRejection', stray);
  process.exitCode = await runCommand(process.argv, 'node');
}

await main();
