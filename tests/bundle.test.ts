/** The browser bundle budget. The web app most staff use on their phones loads the SDK over mobile
 * data, so its browser entry is bundled here as a web app's bundler would (esbuild, browser
 * platform, minified ESM with code splitting) and held to three rules: no Node built-in and no
 * Node-only package reaches the bundle; the initial chunk (the entry and every chunk it imports
 * statically) stays under 150 KB gzip; the crypto libraries (libsodium, ts-mls and its HPKE
 * dependencies) are only in chunks loaded on first use. */
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Metafile, type Plugin } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BROWSER_ENTRY = 'client-sdk/src/browser.ts';
const INITIAL_BUDGET_GZIP = 150 * 1024;
/** Packages that only work in Node; a browser bundle holding them is broken or carries dead weight. */
const NODE_ONLY_PACKAGES = ['ws', 'commander'];
/** The crypto implementation: large, and needed only once a secret group or the profile key is touched. */
const LAZY_ONLY_PACKAGES = ['libsodium-wrappers-sumo', 'libsodium-sumo', 'ts-mls', '@hpke/'];

interface Chunk {
  file: string;
  bytes: number;
  gzip: number;
  initial: boolean;
  packages: string[];
}

interface BundleReport {
  /** "specifier (imported by file)" for every Node built-in the bundle would need. */
  nodeBuiltins: string[];
  /** Every import left out of the bundle (built-ins and packages that did not resolve, such as a
   * library's optional dependencies): each would break or bloat the web app's own build. */
  externals: string[];
  chunks: Chunk[];
}

const builtinPattern = new RegExp(`^(node:.*|${builtinModules.map((m) => m.replace(/[/.]/g, '\\$&')).join('|')})(/.*)?$`);
const SKIP = Symbol('resolved by esbuild');

/** Lets esbuild resolve built-in names itself (a package's `browser` field may map one to an empty
 * module, which is fine) and records those that would stay Node built-ins in the bundle. */
function builtinRecorder(found: string[]): Plugin {
  return {
    name: 'node-builtins',
    setup(b) {
      b.onResolve({ filter: builtinPattern }, async (args) => {
        if (args.pluginData === SKIP) return undefined;
        const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: SKIP });
        // Resolvable (e.g. mapped to an empty module): esbuild's own resolution applies.
        if (resolved.errors.length === 0 && !resolved.external) return undefined;
        found.push(`${args.path} (imported by ${path.relative(ROOT, args.importer)})`);
        return { path: args.path, external: true };
      });
    },
  };
}

function packageOf(input: string): string | undefined {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return m?.[1];
}

async function bundle(entry: string): Promise<BundleReport> {
  const nodeBuiltins: string[] = [];
  const outdir = path.join(os.tmpdir(), 'agora-bundle-check');
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    splitting: true,
    minify: true,
    write: false,
    metafile: true,
    outdir,
    logLevel: 'silent',
    plugins: [builtinRecorder(nodeBuiltins)],
  });
  const outputs: Metafile['outputs'] = result.metafile.outputs;
  const entryOut = Object.keys(outputs).find((k) => outputs[k].entryPoint === entry);
  if (!entryOut) throw new Error(`esbuild produced no chunk for ${entry}`);
  const initial = new Set<string>();
  const pending = [entryOut];
  while (pending.length > 0) {
    const key = pending.pop()!;
    if (initial.has(key)) continue;
    initial.add(key);
    for (const imp of outputs[key].imports) if (imp.kind === 'import-statement' && outputs[imp.path]) pending.push(imp.path);
  }
  const chunks = result.outputFiles
    .filter((f) => f.path.endsWith('.js'))
    .map((f): Chunk => {
      const key = path.relative(ROOT, f.path);
      const packages = [...new Set(Object.keys(outputs[key].inputs).map(packageOf).filter((p): p is string => p !== undefined))].sort();
      return { file: path.basename(f.path), bytes: f.contents.length, gzip: gzipSync(f.contents, { level: 9 }).length, initial: initial.has(key), packages };
    });
  const externals = [...new Set(Object.values(outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)))].sort();
  return { nodeBuiltins, externals, chunks };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const holds = (chunk: Chunk, pkg: string) => chunk.packages.some((p) => (pkg.endsWith('/') ? p.startsWith(pkg) : p === pkg));

describe('browser bundle of the SDK', () => {
  let report: BundleReport;
  beforeAll(async () => {
    report = await bundle(BROWSER_ENTRY);
    const initial = report.chunks.filter((c) => c.initial);
    const lazy = report.chunks.filter((c) => !c.initial).sort((a, b) => b.gzip - a.gzip);
    const line = (c: Chunk) => `  ${c.file.padEnd(40)} ${kb(c.bytes).padStart(9)} min ${kb(c.gzip).padStart(9)} gzip  ${c.packages.join(', ')}`;
    console.log(
      [
        `${BROWSER_ENTRY}: initial chunk ${kb(initial.reduce((s, c) => s + c.gzip, 0))} gzip (budget ${kb(INITIAL_BUDGET_GZIP)}), ` +
          `${kb(initial.reduce((s, c) => s + c.bytes, 0))} minified, in ${initial.length} files:`,
        ...initial.map(line),
        `lazily loaded chunks (${kb(lazy.reduce((s, c) => s + c.gzip, 0))} gzip in all):`,
        ...lazy.map(line),
      ].join('\n'),
    );
  });

  it('reaches no Node built-in and no Node-only package', () => {
    expect(report.nodeBuiltins).toEqual([]);
    expect(report.externals).toEqual([]);
    const nodeOnly = report.chunks.flatMap((c) => NODE_ONLY_PACKAGES.filter((p) => holds(c, p)).map((p) => `${p} in ${c.file}`));
    expect(nodeOnly).toEqual([]);
  });

  it(`keeps the initial chunk within ${kb(INITIAL_BUDGET_GZIP)} gzip`, () => {
    const initialGzip = report.chunks.filter((c) => c.initial).reduce((s, c) => s + c.gzip, 0);
    expect(initialGzip).toBeLessThanOrEqual(INITIAL_BUDGET_GZIP);
  });

  it('loads libsodium and ts-mls lazily', () => {
    const eager = report.chunks.filter((c) => c.initial).flatMap((c) => LAZY_ONLY_PACKAGES.filter((p) => holds(c, p)).map((p) => `${p} in ${c.file}`));
    expect(eager).toEqual([]);
    // They are in the bundle, only later: the SDK still has its crypto.
    for (const pkg of ['libsodium-wrappers-sumo', 'ts-mls']) expect(report.chunks.some((c) => !c.initial && holds(c, pkg))).toBe(true);
  });

  it('would notice a Node built-in or a Node-only package', async () => {
    // The Node adapters import node:os, node:path and node:fs, and the CLI's push channel imports ws:
    // the check must see all of them.
    const node = await bundle('client-sdk/src/node/index.ts');
    expect(node.nodeBuiltins).toEqual(expect.arrayContaining([expect.stringMatching(/^node:os /), expect.stringMatching(/^node:fs /)]));
    const cli = await bundle('cli/src/ws.ts');
    expect(cli.chunks.some((c) => holds(c, 'ws'))).toBe(true);
  });
});
