/** The build's last step: Subresource Integrity for every script and style sheet the page loads, the
 * service worker's shell version, and `build-manifest.json` (every file of the build with its SHA-256,
 * kt/web-build.ts). It works on the files as written, so the hashes are those of the bytes served.
 *
 * Scripts and style sheets in index.html get `integrity="sha384-…"`. Chunks loaded later by
 * `import()` cannot carry an attribute, so index.html also gets an import map whose `integrity`
 * section lists every JavaScript file of the build: browsers that support it (Chromium 127+) then
 * refuse a lazily loaded chunk whose bytes differ. The import map is the page's only inline script;
 * the relay allows exactly its hash in the Content-Security-Policy (server/src/web/). */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Plugin } from 'vite';
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';
import { makeManifest, WEB_BUILD_MANIFEST } from '@agora/protocol/kt/web-build';
import { kdfWorkerSource, SODIUM_CHUNK_META } from '../src/engine/kdf-source.js';
import { renderFirstScreens, withFirstScreen } from './first-screens.js';
import { FIRST_SCREEN_CACHE, FIRST_SCREEN_KEY } from '../src/first-screen.js';

/** In public/sw.js, replaced by the hash of every other file of the build: a new build is a new
 * service-worker script, which is what makes browsers install it. */
export const SHELL_VERSION_PLACEHOLDER = '__AGORA_SHELL_VERSION__';
/** In public/sw.js, replaced by where the page leaves its first-screen hint and the build's
 * first-screen files, the only pages the worker may answer a start with (src/first-screen.ts). */
export const FIRST_SCREEN_PLACEHOLDER = '__AGORA_FIRST_SCREEN__';
const SERVICE_WORKER = 'sw.js';

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full, base)));
    else if (entry.isFile()) out.push(path.relative(base, full).split(path.sep).join('/'));
    else throw new Error(`${full}: only plain files and directories belong in a build`);
  }
  return out;
}

const sha = (algorithm: 'sha256' | 'sha384', bytes: Uint8Array) => createHash(algorithm).update(bytes).digest();
const sri = (bytes: Uint8Array) => `sha384-${sha('sha384', bytes).toString('base64')}`;

/** Adds integrity and crossorigin to the tags that load the build's own scripts and style sheets,
 * and the import map of every JavaScript file's integrity before the first of them. */
export function addIntegrity(html: string, files: ReadonlyMap<string, Uint8Array>, base: string): string {
  const local = (url: string) => (url.startsWith(base) ? url.slice(base.length) : undefined);
  const tag = /<(script|link)\b([^>]*?)(\/?)>/g;
  const withIntegrity = html.replace(tag, (whole, name: string, attrs: string, close: string) => {
    const url = /\b(?:src|href)="([^"]+)"/.exec(attrs)?.[1];
    const rel = /\brel="([^"]+)"/.exec(attrs)?.[1];
    if (!url || /\bintegrity=/.test(attrs)) return whole;
    if (name === 'link' && rel !== 'stylesheet' && rel !== 'modulepreload') return whole;
    const file = local(url);
    const bytes = file === undefined ? undefined : files.get(file);
    if (!bytes) return whole;
    const cors = /\bcrossorigin\b/.test(attrs) ? '' : ' crossorigin';
    return `<${name}${attrs}${cors} integrity="${sri(bytes)}"${close}>`;
  });
  const scripts = [...files.keys()].filter((f) => f.endsWith('.js') && f !== SERVICE_WORKER).sort();
  const integrity: Record<string, string> = {};
  for (const f of scripts) integrity[`${base}${f}`] = sri(files.get(f)!);
  const importMap = `<script type="importmap">${JSON.stringify({ imports: {}, integrity })}</script>`;
  const first = withIntegrity.search(/<script\b|<link\b[^>]*\brel="modulepreload"/);
  if (first < 0) throw new Error('index.html loads no script');
  return `${withIntegrity.slice(0, first)}${importMap}\n    ${withIntegrity.slice(first)}`;
}

/** The SHA-256 (hex) of the canonical manifest of `files`: the service worker's version string. */
function shellVersion(files: ReadonlyMap<string, Uint8Array>): string {
  return makeManifest([...files].map(([p, bytes]) => ({ path: p, sha256: sha('sha256', bytes) }))).buildHash;
}

/** Names the page's `<meta>` listing the chunks fetched after the first paint, which
 * web-client/src/preload.ts turns into modulepreload links (their integrity comes from the import map). */
export const PRELOAD_META = 'agora-preload';
/** The modules the app loads lazily and needs soon after the first screen, in the order they are
 * wanted: the SDK (engine/sdk.ts; the unlock and the invite need it) and the unlocked app's shell
 * (app.tsx loads shell.tsx). */
export const PRELOADED_MODULES: readonly RegExp[] = [/client-sdk[\\/]dist[\\/]browser\.js$/, /web-client[\\/]src[\\/]shell\.tsx$/];

interface ChunkInfo {
  fileName: string;
  imports: readonly string[];
}

/** For each of `modules` in turn, its chunk and every chunk that one imports statically, minus those
 * the entry (or an earlier module) already loads: fetched together after the first paint instead
 * of one round trip per level of imports. */
export function preloadChunks(
  chunks: ReadonlyMap<string, ChunkInfo & { isEntry: boolean; facadeModuleId: string | null }>,
  modules: readonly RegExp[] = PRELOADED_MODULES,
): string[] {
  const closure = (start: string[], seen: Set<string>) => {
    const found: string[] = [];
    const todo = [...start];
    while (todo.length > 0) {
      const name = todo.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      found.push(name);
      todo.push(...(chunks.get(name)?.imports ?? []));
    }
    return found;
  };
  const seen = new Set<string>();
  closure([...chunks.values()].filter((c) => c.isEntry).map((c) => c.fileName), seen);
  const out: string[] = [];
  for (const module of modules) {
    const start = [...chunks.values()].filter((c) => !c.isEntry && c.facadeModuleId !== null && module.test(c.facadeModuleId)).map((c) => c.fileName);
    out.push(...closure(start, seen).sort());
  }
  return out;
}

export function addPreloadMeta(html: string, files: readonly string[], base: string): string {
  if (files.length === 0) return html;
  const meta = `<meta name="${PRELOAD_META}" content="${files.map((f) => `${base}${f}`).join(' ')}" />`;
  return html.replace('</title>', `</title>\n    ${meta}`);
}

/** The chunk of the libsodium the page imports (protocol/crypto/sodium.ts). */
const SODIUM_MODULE = /libsodium-wrappers-sumo[\\/]dist[\\/]modules-sumo-esm[\\/]libsodium-wrappers\.mjs$/;
/** libsodium's Emscripten code, the only place that asks for a CommonJS module. */
const SODIUM_CORE = /libsodium-sumo[\\/]dist[\\/]modules-sumo-esm[\\/]libsodium-sumo\.mjs$/;
const SODIUM_NODE_CRYPTO = 'require("crypto")';

/** Keeps the libsodium chunk free of imports, so that the key-derivation worker can run its exact
 * bytes from a blob: URL (engine/kdf-source.ts). Its one import was the bundler's CommonJS helper,
 * there only for the `require("crypto")` of libsodium's Node fallback, which the browser build
 * resolves to an empty object; this writes that empty object in its place, so the code behaves as
 * before (browsers take the `crypto.getRandomValues` path first, and without it both fail the same
 * way). */
export function sodiumStandalone(): Plugin {
  return {
    name: 'agora-sodium-standalone',
    apply: 'build',
    transform(code, id) {
      if (!SODIUM_CORE.test(id)) return null;
      const count = code.split(SODIUM_NODE_CRYPTO).length - 1;
      if (count !== 1) throw new Error(`${id}: expected one ${SODIUM_NODE_CRYPTO}, found ${count}; see tools/integrity.ts`);
      return { code: code.replace(SODIUM_NODE_CRYPTO, '{}'), map: null };
    },
  };
}

export function buildIntegrity(): Plugin {
  let outDir = '';
  let root = '';
  let base = '/';
  let preload: string[] = [];
  let sodiumChunk: string | undefined;
  return {
    name: 'agora-build-integrity',
    apply: 'build',
    enforce: 'post',
    configResolved(config) {
      root = config.root;
      outDir = path.resolve(config.root, config.build.outDir);
      base = config.base;
    },
    generateBundle(_options, bundle) {
      const chunks = new Map<string, ChunkInfo & { isEntry: boolean; facadeModuleId: string | null }>();
      for (const out of Object.values(bundle)) {
        if (out.type === 'chunk') chunks.set(out.fileName, { fileName: out.fileName, imports: out.imports, isEntry: out.isEntry, facadeModuleId: out.facadeModuleId });
      }
      // The worker's bundle goes through here too; only the page's bundle has these chunks.
      const found = preloadChunks(chunks);
      if (found.length > 0) preload = found;
      for (const out of Object.values(bundle)) {
        if (out.type !== 'chunk' || out.facadeModuleId === null || !SODIUM_MODULE.test(out.facadeModuleId)) continue;
        // The key-derivation worker runs this chunk from a blob: URL, where an import would not resolve.
        if (out.imports.length > 0 || out.dynamicImports.length > 0) {
          throw new Error(`${out.fileName} imports ${[...out.imports, ...out.dynamicImports].join(', ')}: the key-derivation worker needs it self-contained`);
        }
        sodiumChunk = out.fileName;
      }
    },
    async closeBundle() {
      // The manifest's build hash is the key-transparency module's SHA-256, from the loaded provider.
      await loadCryptoProvider();
      const names = (await listFiles(outDir)).filter((f) => f !== WEB_BUILD_MANIFEST);
      const files = new Map<string, Uint8Array>();
      for (const name of names.sort()) files.set(name, await fs.readFile(path.join(outDir, name)));
      if (!files.has('index.html')) throw new Error('the build has no index.html');

      if (!sodiumChunk) throw new Error('the build has no libsodium chunk for the key-derivation worker');
      const worker = names.find((f) => /^assets\/kdf\.worker-[\w-]+\.js$/.test(f));
      if (!worker) throw new Error('the build has no key-derivation worker');
      // What every page will compose: a chunk of another shape fails here rather than in each browser.
      kdfWorkerSource(Buffer.from(files.get(sodiumChunk)!).toString('utf8'), Buffer.from(files.get(worker)!).toString('utf8'));
      const sodiumMeta = `<meta name="${SODIUM_CHUNK_META}" content="${base}${sodiumChunk}" />`;
      const page = addPreloadMeta(Buffer.from(files.get('index.html')!).toString('utf8'), preload, base).replace('</title>', `</title>\n    ${sodiumMeta}`);
      const shell = addIntegrity(page, files, base);
      const firstScreens = await renderFirstScreens(root);
      if (!firstScreens.some((s) => s.file === 'index.html')) throw new Error('no first screen is index.html');
      for (const screen of firstScreens) {
        const html = withFirstScreen(shell, screen);
        files.set(screen.file, Buffer.from(html, 'utf8'));
        await fs.mkdir(path.dirname(path.join(outDir, screen.file)), { recursive: true });
        await fs.writeFile(path.join(outDir, screen.file), html);
      }

      const sw = files.get(SERVICE_WORKER);
      if (sw) {
        const text = Buffer.from(sw).toString('utf8');
        for (const placeholder of [SHELL_VERSION_PLACEHOLDER, FIRST_SCREEN_PLACEHOLDER]) {
          if (!text.includes(placeholder)) throw new Error(`${SERVICE_WORKER} lacks ${placeholder}`);
        }
        const others = new Map([...files].filter(([name]) => name !== SERVICE_WORKER));
        const firstScreen = JSON.stringify({ cache: FIRST_SCREEN_CACHE, key: FIRST_SCREEN_KEY, files: firstScreens.map((s) => `${base}${s.file}`).sort() });
        const versioned = text.replaceAll(SHELL_VERSION_PLACEHOLDER, shellVersion(others)).replaceAll(FIRST_SCREEN_PLACEHOLDER, firstScreen);
        files.set(SERVICE_WORKER, Buffer.from(versioned, 'utf8'));
        await fs.writeFile(path.join(outDir, SERVICE_WORKER), versioned);
      }

      const manifest = makeManifest([...files].map(([p, bytes]) => ({ path: p, sha256: sha('sha256', bytes) })));
      await fs.writeFile(path.join(outDir, WEB_BUILD_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    },
  };
}
