/** `agora witness` and `agora audit`: the key-transparency tools that run without an employee's
 * account — on the security officer's own machine. Each signs in to the relay with its own key,
 * which the organisation's published policy must name (witnesses: `witnesses`, the audit:
 * `auditors`). */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { AgoraError } from '@agora/client-sdk';
import { nodeFetch } from '@agora/client-sdk/node';
import { KtHttp, readerKtHttp } from '@agora/client-sdk';
import type { WebAppAudit } from '@agora/client-sdk';
import { AuditSinceSchema, runOfficerAudit } from '@agora/client-sdk';
import { AuditorKeySchema, auditorPolicyEntry, newAuditorKey } from '@agora/protocol/kt/auditor-key';
import { fromB64u } from '@agora/protocol/encoding';
import { KtError } from '@agora/protocol/kt/checkpoint';
import { PolicySchema, type Policy } from '@agora/protocol/kt/policy';
import { parseCheckpoint, parseNote } from '@agora/protocol/kt/note';
import type { AuditReport } from '@agora/protocol/kt/audit';
import { newWitnessKey, witnessStep, witnessVkey, WitnessKeySchema, WitnessStateSchema, type WitnessKey, type WitnessState } from '@agora/protocol/kt/witness';
import * as z from 'zod';

async function readJson<S extends z.ZodType>(file: string, schema: S, what: string): Promise<z.infer<S> | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const parsed = schema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new AgoraError('usage', `${file} is not a valid ${what}: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  await fs.rename(tmp, file);
}

export async function loadPolicy(file: string): Promise<Policy> {
  const p = await readJson(file, PolicySchema, 'key-transparency policy');
  if (!p) throw new AgoraError('usage', `no policy file at ${file}`);
  return p;
}

function formatWebApp(w: WebAppAudit, t: (ms: number) => string): string[] {
  const lines = ['Web app:'];
  if (w.latest) lines.push(`  latest logged build ${w.latest.buildHash} (entry ${w.latest.index}, ${t(w.latest.at)}; ${w.logged} build(s) logged)`);
  else lines.push('  no build logged');
  if (!w.served) lines.push('  the relay serves no web app');
  else if (w.servedBuildHash) lines.push(`  served build ${w.servedBuildHash}: ${w.matching} file(s) match the log${w.findings.length ? `, ${w.findings.length} problem(s)` : ''}`);
  return lines;
}

function formatReport(r: AuditReport, web?: WebAppAudit): string {
  const lines: string[] = [];
  const t = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
  lines.push(`Log ${r.checkpoint.origin}: ${r.checkpoint.size} entries, root ${r.checkpoint.root}`);
  lines.push(`Witnesses counted: ${r.checkpoint.witnesses.length ? r.checkpoint.witnesses.join(', ') : 'none'}`);
  lines.push(r.since ? `Since the last audit (${t(r.since.at)}, ${r.since.size} entries):` : 'First audit: everything since the start of the log:');
  if (r.deviceChanges.length === 0) lines.push('  no device added or revoked');
  for (const c of r.deviceChanges) {
    const by = c.approvedBy ? ` ${c.change === 'approved' ? 'by' : 'approved by'} ${c.approvedBy.name} (device ${c.approvedBy.deviceId})` : c.change === 'added' ? ' (bootstrap: no approver)' : '';
    lines.push(`  ${t(c.at)}  ${c.name}: device ${c.deviceId} ${c.change}${c.via ? ` via ${c.via}` : ''}${by}${c.fingerprint ? `, key ${c.fingerprint}` : ''}`);
  }
  for (const c of r.roleChanges) {
    lines.push(`  ${t(c.at)}  ${c.name}: role ${c.from} -> ${c.to}, approved by ${c.approvedBy.name ?? c.approvedBy.deviceId} (device ${c.approvedBy.deviceId})`);
  }
  lines.push('People:');
  for (const p of r.people) lines.push(`  ${p.name} (${p.userId}): ${p.role}, ${p.status}, ${p.activeDevices} active device(s)`);
  lines.push('Secret groups (who could read, from when):');
  if (r.groups.length === 0) lines.push('  none');
  for (const g of r.groups) {
    lines.push(`  ${g.groupId}`);
    for (const h of g.history) {
      const names = h.members ? [...new Set(h.members.map((m) => m.name ?? m.deviceId))].join(', ') : 'membership sealed (not for this audit key)';
      lines.push(`    ${t(h.at)} epoch ${h.epoch} by ${h.committer.name ?? h.committer.deviceId}: ${names}`);
    }
  }
  if (web) lines.push(...formatWebApp(web, t));
  if (r.sealed.changes > 0) lines.push(`Membership sealed: ${r.sealed.changes} change(s) in ${r.sealed.groups} group(s) could not be opened with this audit key`);
  for (const n of r.notes) lines.push(`Note: ${n}`);
  lines.push(r.violations.length === 0 ? 'No violations.' : `${r.violations.length} violation(s):`);
  for (const v of r.violations) lines.push(`  [${v.code}]${v.index !== undefined ? ` entry ${v.index}:` : ''} ${v.message}`);
  return lines.join('\n');
}

/** `exitCode` sets the exit code of the command being run (a shell runs many in one process, so no
 * command sets the process's own). */
export function registerKtCommands(program: Command, opts: { json: () => boolean; warn: (line: string) => void; exitCode: (code: number) => void }): void {
  program
    .command('witness')
    .description('run an independent witness that cosigns the log only while it stays append-only')
    .requiredOption('--server <url>', 'the relay')
    .requiredOption('--key <file>', "the witness's key file (created if missing)")
    .option('--name <name>', 'the witness name, when creating the key', `witness-${os.hostname().replace(/[^A-Za-z0-9.-]/g, '-')}`)
    .option('--log-key <vkey>', "the log's verifier key (default: from --policy, else the relay's on first contact)")
    .option('--policy <file>', 'the organisation policy file (for the log key)')
    .option('--once', 'check and cosign once, then exit')
    .option('--interval <seconds>', 'seconds between checks', '30')
    .action(async (o: { server: string; key: string; name: string; logKey?: string; policy?: string; once?: boolean; interval: string }) => {
      let key = await readJson(o.key, WitnessKeySchema, 'witness key');
      if (!key) {
        await fs.mkdir(path.dirname(path.resolve(o.key)), { recursive: true, mode: 0o700 });
        key = newWitnessKey(o.name);
        await writeJson(o.key, key);
        opts.warn(`created witness key ${o.key}; add this line to the organisation's policy: ${witnessVkey(key)}`);
      }
      const stateFile = `${o.key}.state.json`;
      const kt = readerKtHttp(o.server, nodeFetch, 'witness', fromB64u(key.seed));
      const logVkey = o.logKey ?? (o.policy ? (await loadPolicy(o.policy)).log.vkey : undefined);
      const interval = Math.max(1, Number(o.interval)) * 1000;
      for (;;) {
        if (o.once) return round(kt, key, stateFile, logVkey, opts);
        // A running witness outlives a relay restart or a bad answer: it reports and tries again.
        await round(kt, key, stateFile, logVkey, opts).catch((e: unknown) => opts.warn((e as Error).message));
        await new Promise((r) => setTimeout(r, interval));
      }
    });

  const auditCmd = program
    .command('audit')
    .description('download, replay and verify the whole key-transparency log; report changes and violations')
    // --server and --key are checked in the action: `audit keygen` needs neither.
    .option('--server <url>', 'the relay')
    .option('--key <file>', "the auditor's key file (see `agora audit keygen FILE`); the published policy must list it")
    .option('--policy <file>', 'the organisation policy file')
    .option('--since <file>', 'state of the previous audit (read, then updated)')
    .option('--no-web-app', 'do not fetch and check the web app the relay serves')
    .action(async (o: { server?: string; key?: string; policy?: string; since?: string; webApp: boolean }) => {
      if (!o.server) throw new AgoraError('usage', "required option '--server <url>' not specified");
      if (!o.key) throw new AgoraError('usage', "required option '--key <file>' not specified (create one with `agora audit keygen FILE`)");
      const key = await readJson(o.key, AuditorKeySchema, 'auditor key');
      if (!key) throw new AgoraError('usage', `no auditor key file at ${o.key} (create one with \`agora audit keygen ${o.key}\`)`);
      const policy = o.policy ? await loadPolicy(o.policy) : undefined;
      const since = o.since ? await readJson(o.since, AuditSinceSchema, 'audit state') : undefined;
      const { report, webApp } = await runOfficerAudit({
        server: o.server,
        fetch: nodeFetch,
        key,
        policy,
        since,
        onRelayPolicy: (p) => opts.warn(`no --policy file: trusting the log key the relay names (${p.log.vkey}); witnesses and freshness are not checked`),
        webAppFetch: o.webApp ? fetch : undefined,
      });
      if (o.since) await writeJson(o.since, report.next);
      process.stdout.write((opts.json() ? JSON.stringify(webApp ? { ...report, webApp } : report, null, 2) : formatReport(report, webApp)) + '\n');
      if (report.violations.length > 0) opts.exitCode(3);
    });

  auditCmd
    // The file is an argument, not --key: that option belongs to `audit` itself, which would take it.
    .command('keygen <file>')
    .description("create the security officer's audit key file and print its entry for the policy's `auditors`")
    .option('--name <name>', 'a label for reports', 'Security officer')
    .action(async (file: string, o: { name: string }) => {
      if (await readJson(file, AuditorKeySchema, 'auditor key')) throw new AgoraError('conflict', `${file} exists already; not overwriting an audit key`);
      await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
      const key = newAuditorKey(o.name);
      await writeJson(file, key);
      const entry = auditorPolicyEntry(key);
      opts.warn(`created auditor key ${file}; add this entry to "auditors" in the organisation's policy file and have an administrator publish it`);
      process.stdout.write(JSON.stringify(entry, null, opts.json() ? undefined : 2) + '\n');
    });
}

async function round(kt: KtHttp, key: WitnessKey, stateFile: string, logVkey: string | undefined, opts: { warn: (line: string) => void }): Promise<void> {
  const previous: WitnessState | null = (await readJson(stateFile, WitnessStateSchema, 'witness state')) ?? null;
  const pinned = previous?.logVkey ?? logVkey ?? (await kt.policy()).vkey;
  const { checkpoint } = await kt.checkpoint();
  const next = parseCheckpoint(parseNote(checkpoint).text);
  const proof =
    previous && previous.size > 0 && next.size > previous.size ? (await kt.consistency(previous.size, next.size)).proof.map(fromB64u) : [];
  let step;
  try {
    step = witnessStep({ key, previous, logVkey: pinned, noteText: checkpoint, consistencyProof: proof, nowMs: Date.now() });
  } catch (e) {
    if (e instanceof KtError) {
      opts.warn(`ALARM: ${e.message}`);
      if (previous) opts.warn(`evidence — last checkpoint this witness cosigned:\n${previous.note}`);
      opts.warn(`evidence — checkpoint the relay shows now:\n${checkpoint}`);
      throw new AgoraError('forbidden', `refusing to cosign: ${e.message}`);
    }
    throw e;
  }
  await kt.cosign({ checkpoint, cosignature: step.cosignature, vkey: witnessVkey(key) });
  await writeJson(stateFile, step.state);
  process.stdout.write(step.cosignature.trimEnd() + '\n');
}
