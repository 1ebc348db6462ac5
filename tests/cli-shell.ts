/** One long-lived `agora shell` per device, for CLI scenarios that run many commands: the profile
 * is unlocked (Argon2id) and the CLI loaded once per process instead of once per command, and each
 * command still yields its own exit code, stdout and stderr (see `agora shell --help`). */
import { randomBytes } from 'node:crypto';
import { spawnCli } from './helpers.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliShell {
  /** Runs one command as `agora ARGS` would; calls may overlap (they run one after another). */
  run(args: string[]): Promise<CliResult>;
  /** Ends the input and resolves with the shell's exit code. */
  close(): Promise<number>;
}

const shells = new Set<CliShell>();

/** A shell on `profile` (none: commands that use no profile, like `witness` and `audit`). */
export function startCliShell(opts: { profile?: string; env?: Record<string, string> } = {}): CliShell {
  const marker = `END-${randomBytes(8).toString('hex')}`;
  const child = spawnCli(['shell', '--marker', marker], { ...opts, stdin: 'pipe' });
  const stdin = child.stdin!;
  const end = new RegExp(`(^|\\n)${marker} (\\d+)\\n`);
  const waiting: { resolve: (r: CliResult) => void; reject: (e: Error) => void }[] = [];
  let stdout = '';
  let stderr = '';
  let started = false;
  let exited: number | undefined;

  /** The next command's output on one stream, up to its end line, if all there. */
  const cut = (text: string): { out: string; code: number; rest: string } | undefined => {
    const m = end.exec(text);
    return m ? { out: text.slice(0, m.index + m[1].length), code: Number(m[2]), rest: text.slice(m.index + m[0].length) } : undefined;
  };
  const settle = () => {
    if (!started) {
      if (!stdout.startsWith(`${marker}\n`)) return;
      stdout = stdout.slice(marker.length + 1);
      started = true;
    }
    for (;;) {
      const out = cut(stdout);
      const err = cut(stderr);
      if (!out || !err || waiting.length === 0) return;
      stdout = out.rest;
      stderr = err.rest;
      const next = waiting.shift()!;
      if (out.code !== err.code) next.reject(new Error(`agora shell: end lines disagree (${out.code} on stdout, ${err.code} on stderr)`));
      else next.resolve({ code: out.code, stdout: out.out, stderr: err.out });
    }
  };
  child.stdout.on('data', (d) => {
    stdout += d;
    settle();
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    settle();
  });
  const exit = new Promise<number>((resolve) => {
    child.on('close', (code) => {
      exited = code ?? -1;
      for (const w of waiting.splice(0)) w.reject(new Error(`agora shell exited ${exited} before answering: ${stderr}`));
      resolve(exited);
    });
  });

  const shell: CliShell = {
    run(args) {
      if (exited !== undefined) return Promise.reject(new Error(`agora shell exited ${exited}`));
      const result = new Promise<CliResult>((resolve, reject) => waiting.push({ resolve, reject }));
      stdin.write(JSON.stringify(args) + '\n');
      return result;
    },
    close() {
      shells.delete(shell);
      stdin.end();
      return exit;
    },
  };
  shells.add(shell);
  return shell;
}

/** Ends every shell still open (for afterAll). */
export async function closeCliShells(): Promise<void> {
  await Promise.all([...shells].map((s) => s.close()));
}
