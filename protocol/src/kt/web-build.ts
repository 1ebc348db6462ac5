/** What identifies a build of the web app: its manifest (every file the relay serves with the file's
 * SHA-256) and the build hash derived from it. The build writes `build-manifest.json`, the relay
 * checks the files against it and logs them in a WEB_BUILD entry, `agora audit` compares the served
 * files with the log, and the app shows the build hash it runs.
 *
 * The build hash is SHA-256 over the manifest's canonical text: one line per file, sorted by path,
 * `<sha256 hex><two spaces><path>\n` — exactly what `sha256sum` prints — so anyone can recompute it
 * from a checkout's build with coreutils (`cd web-client/dist && sha256sum $(files) | sha256sum`),
 * and JSON formatting never changes it. */
import * as z from 'zod';
import { utf8 } from '../encoding.js';
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';
import { compareIds, decodeEntry, ENTRY_TYPE, isWebPath, MAX_WEB_BUILD_FILES, type WebBuildFile } from './entries.js';

/** Where the manifest lives in the build output and on the site; it is not a file of the build itself. */
export const WEB_BUILD_MANIFEST = 'build-manifest.json';
export const WEB_BUILD_MANIFEST_VERSION = 1;

const Hex256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

export const WebBuildManifestSchema = z.object({
  version: z.literal(WEB_BUILD_MANIFEST_VERSION),
  /** webBuildHash() of `files`; a reader recomputes it and refuses a manifest where it differs. */
  buildHash: Hex256,
  /** path → SHA-256 hex of the file's bytes. */
  files: z.record(z.string().refine(isWebPath, 'a relative web path without dot segments'), Hex256)
    .refine((f) => Object.keys(f).length >= 1 && Object.keys(f).length <= MAX_WEB_BUILD_FILES, `1 to ${MAX_WEB_BUILD_FILES} files`)
    .refine((f) => !Object.hasOwn(f, WEB_BUILD_MANIFEST), 'the manifest does not list itself'),
});
export type WebBuildManifest = z.infer<typeof WebBuildManifestSchema>;

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(hex: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new RangeError('not lowercase hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The files sorted by path, as the log entry holds them. */
export function sortedBuildFiles(files: Iterable<WebBuildFile>): WebBuildFile[] {
  return [...files].sort((a, b) => compareIds(a.path, b.path));
}

/** The manifest's files as entries of the log. */
export function manifestFiles(m: WebBuildManifest): WebBuildFile[] {
  return sortedBuildFiles(Object.entries(m.files).map(([path, hex]) => ({ path, sha256: fromHex(hex) })));
}

/** The canonical text the build hash is taken over (see the module comment). */
export function canonicalManifestText(files: Iterable<WebBuildFile>): string {
  return sortedBuildFiles(files).map((f) => `${toHex(f.sha256)}  ${f.path}\n`).join('');
}

/** SHA-256 (hex) of the canonical manifest text: the one value that names a build. */
export function webBuildHash(files: Iterable<WebBuildFile>): string {
  return toHex(crypto().sha256(utf8(canonicalManifestText(files))));
}

/** The manifest of a set of files (sorted, with its build hash), as the build writes it. */
export function makeManifest(files: Iterable<WebBuildFile>): WebBuildManifest {
  const sorted = sortedBuildFiles(files);
  const map: Record<string, string> = {};
  for (const f of sorted) map[f.path] = toHex(f.sha256);
  return { version: WEB_BUILD_MANIFEST_VERSION, buildHash: webBuildHash(sorted), files: map };
}

/** Parses a manifest's JSON text and checks its build hash; throws with the reason otherwise. */
export function parseManifest(text: string): WebBuildManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebBuildError('the build manifest is not JSON');
  }
  const parsed = WebBuildManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new WebBuildError(`the build manifest is invalid: ${issue.path.map(String).join('.') || 'manifest'}: ${issue.message}`);
  }
  if (webBuildHash(manifestFiles(parsed.data)) !== parsed.data.buildHash) throw new WebBuildError('the build manifest names a build hash its files do not give');
  return parsed.data;
}

export class WebBuildError extends Error {
  override name = 'WebBuildError';
}

/** A build as the log holds it. */
export interface LoggedWebBuild {
  index: number;
  at: number;
  buildHash: string;
  files: WebBuildFile[];
}

/** The WEB_BUILD entries of a log, oldest first. Entries that do not decode are the audit's business
 * (it reports them); here they are skipped. */
export function loggedWebBuilds(entries: readonly Uint8Array[]): LoggedWebBuild[] {
  const out: LoggedWebBuild[] = [];
  entries.forEach((bytes, index) => {
    // the type byte is the second one: only WEB_BUILD entries are decoded
    if (bytes[1] !== ENTRY_TYPE['web-build']) return;
    try {
      const e = decodeEntry(bytes);
      if (e.type === 'web-build') out.push({ index, at: e.time, buildHash: webBuildHash(e.files), files: e.files });
    } catch {
      // reported by the audit as malformed_entry
    }
  });
  return out;
}

export type WebAppFindingCode =
  | 'web_manifest_invalid'
  | 'web_build_not_logged'
  | 'web_build_not_latest'
  | 'web_file_mismatch'
  | 'web_file_missing'
  | 'web_file_unlisted';

export interface WebAppFinding {
  code: WebAppFindingCode;
  message: string;
  path?: string;
}

/** What a relay served: its manifest's text (undefined if it served none) and, per path fetched,
 * the bytes (null when the request failed). `/` is fetched as `path: ''`. */
export interface ServedWebApp {
  manifestText: string | undefined;
  files: ReadonlyMap<string, Uint8Array | null>;
}

export interface WebAppCheck {
  /** The build hash the served manifest names (undefined without a valid manifest). */
  servedBuildHash?: string;
  /** The logged build the served files were compared with: the one the manifest names, else the latest. */
  comparedWith?: { index: number; buildHash: string };
  /** Paths whose served bytes hash to what the log says. */
  matching: number;
  findings: WebAppFinding[];
}

/** The paths to fetch to check a served app: `''` (the site root, which must be index.html), then
 * every file of the logged build (the latest, or the one the served manifest names) and of the served
 * manifest. */
export function pathsToFetch(logged: readonly LoggedWebBuild[], manifest: WebBuildManifest | undefined): string[] {
  const paths = new Set<string>(['']);
  const named = manifest ? logged.find((b) => b.buildHash === manifest.buildHash) : undefined;
  for (const f of (named ?? logged.at(-1))?.files ?? []) paths.add(f.path);
  for (const p of Object.keys(manifest?.files ?? {})) paths.add(p);
  return [...paths];
}

/** Compares a served app with the log: the served build must be the latest logged one, and every
 * file of it — and the site root, which is its index.html — must hash to what the log holds.
 * `digest` is SHA-256 (given, so browsers can use WebCrypto). */
export async function checkServedWebApp(
  logged: readonly LoggedWebBuild[],
  served: ServedWebApp,
  digest: (bytes: Uint8Array) => Promise<Uint8Array> | Uint8Array = (bytes) => crypto().sha256(bytes),
): Promise<WebAppCheck> {
  const findings: WebAppFinding[] = [];
  let manifest: WebBuildManifest | undefined;
  if (served.manifestText !== undefined) {
    try {
      manifest = parseManifest(served.manifestText);
    } catch (e) {
      if (!(e instanceof WebBuildError)) throw e;
      findings.push({ code: 'web_manifest_invalid', message: `the served ${WEB_BUILD_MANIFEST}: ${e.message}`, path: WEB_BUILD_MANIFEST });
    }
  }
  const latest = logged.at(-1);
  const named = manifest ? logged.find((b) => b.buildHash === manifest.buildHash) : undefined;
  if (manifest && !named) {
    findings.push({ code: 'web_build_not_logged', message: `the relay serves web build ${manifest.buildHash}, which the key-transparency log never recorded` });
  } else if (manifest && named && latest && named !== latest && named.buildHash !== latest.buildHash) {
    findings.push({ code: 'web_build_not_latest', message: `the relay serves web build ${named.buildHash} (logged at entry ${named.index}), not the latest logged build ${latest.buildHash}` });
  }
  const reference = named ?? latest;
  if (!reference) return { servedBuildHash: manifest?.buildHash, matching: 0, findings };
  const expected = new Map(reference.files.map((f) => [f.path, toHex(f.sha256)]));
  let matching = 0;
  const check = async (path: string, shown: string) => {
    const want = expected.get(path);
    const bytes = served.files.get(shown);
    if (bytes === undefined || bytes === null) {
      findings.push({ code: 'web_file_missing', message: `${shown || '/'}: could not be fetched from the relay`, path: shown });
    } else if (want === undefined) {
      findings.push({ code: 'web_file_unlisted', message: `${shown}: served but not part of the logged build`, path: shown });
    } else if (toHex(await digest(bytes)) !== want) {
      findings.push({ code: 'web_file_mismatch', message: `${shown || '/'}: the served bytes do not match the logged build ${reference.buildHash}`, path: shown });
    } else {
      matching++;
    }
  };
  for (const f of reference.files) await check(f.path, f.path);
  if (expected.has('index.html')) await check('index.html', '');
  const reported = new Set(findings.map((f) => f.path));
  for (const [path, hex] of Object.entries(manifest?.files ?? {})) {
    if (reported.has(path)) continue;
    if (!expected.has(path)) findings.push({ code: 'web_file_unlisted', message: `${path}: listed in the served manifest but not part of the logged build`, path });
    else if (expected.get(path) !== hex) findings.push({ code: 'web_file_mismatch', message: `${path}: the served manifest gives another hash than the logged build`, path });
  }
  return { servedBuildHash: manifest?.buildHash, comparedWith: { index: reference.index, buildHash: reference.buildHash }, matching, findings };
}
