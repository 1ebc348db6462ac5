/** The build of the app this page runs: its build-manifest.json and the build hash (SHA-256 over the
 * manifest's canonical text, protocol/src/kt/web-build.ts), recomputed here with WebCrypto rather
 * than taken from the manifest's own field. Under the service worker the manifest comes from the
 * worker's cache, which holds the build whose every file it checked against that manifest, so the
 * hash shown is the one of the code served to this tab. The key-transparency log records each build
 * the relay starts serving; `agora audit` compares the served files with it. */

/** Where the build puts its manifest (WEB_BUILD_MANIFEST in the protocol). */
const MANIFEST_URL = '/build-manifest.json';

export interface BuildInfo {
  /** 64 hex characters. */
  buildHash: string;
  /** How many files the build has (besides the manifest). */
  files: number;
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetches the manifest and computes the build hash. Throws if the manifest is missing, malformed, or
 * names a build hash that its files do not give. */
export async function loadBuildInfo(fetchFn: typeof fetch = fetch): Promise<BuildInfo> {
  // The manifest's rules come with the key-transparency code (zod, the entry encodings): loaded when
  // the hash is shown, not with the app's first screen.
  const [{ canonicalManifestText, manifestFiles, WebBuildManifestSchema }, response] = await Promise.all([
    import('@agora/protocol/kt/web-build'),
    fetchFn(MANIFEST_URL),
  ]);
  if (!response.ok) throw new Error(`${MANIFEST_URL}: HTTP ${response.status}`);
  const manifest = WebBuildManifestSchema.parse(await response.json());
  const text = canonicalManifestText(manifestFiles(manifest));
  const buildHash = hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  if (buildHash !== manifest.buildHash) throw new Error('the build manifest names a build hash its files do not give');
  return { buildHash, files: Object.keys(manifest.files).length };
}

/** The hash in groups of four for reading aloud and comparing ("9749 9867 4341 …"); `groups`
 * limits how many (the full hash has 16). */
export function formatBuildHash(buildHash: string, groups = 16): string {
  return (buildHash.match(/.{1,4}/g) ?? []).slice(0, groups).join(' ');
}
