/** Fetches the web app a relay serves — its build manifest, the site root and every file of the
 * build the log says it serves — and compares it with the key-transparency log's WEB_BUILD entries
 * (protocol kt/web-build.ts). Used by `agora audit` and usable from a browser. */
import {
  checkServedWebApp, loggedWebBuilds, parseManifest, pathsToFetch, WEB_BUILD_MANIFEST, WebBuildError,
  type WebAppCheck, type WebBuildManifest,
} from '@agora/protocol/kt/web-build';
import { AgoraError } from '../core/errors.js';

/** A `fetch` that gives bytes; the platform's own fits. */
export type BytesFetch = (url: string, init: { method: 'GET'; cache?: 'no-store'; redirect?: 'error' }) => Promise<{
  status: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}>;

export interface WebAppAudit extends WebAppCheck {
  /** How many builds the log holds. */
  logged: number;
  /** The latest logged build, if any. */
  latest?: { index: number; at: number; buildHash: string };
  /** False if the relay serves no build manifest (it runs without the web app). */
  served: boolean;
}

/** Compares what `server` serves at `/` with the WEB_BUILD entries among `entries` (the whole log,
 * as the audit downloaded it). */
export async function auditWebApp(server: string, entries: readonly Uint8Array[], fetchBytes: BytesFetch): Promise<WebAppAudit> {
  const base = server.replace(/\/+$/, '');
  const get = async (path: string): Promise<Uint8Array | null> => {
    let res;
    try {
      // no redirects: a file of the build is served at its own path or not at all
      res = await fetchBytes(`${base}/${path.split('/').map(encodeURIComponent).join('/')}`, { method: 'GET', cache: 'no-store', redirect: 'error' });
    } catch (e) {
      throw new AgoraError('network', `cannot fetch the web app from ${base}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (res.status !== 200) return null;
    return new Uint8Array(await res.arrayBuffer());
  };
  const logged = loggedWebBuilds(entries);
  const latestBuild = logged.at(-1);
  const latest = latestBuild && { index: latestBuild.index, at: latestBuild.at, buildHash: latestBuild.buildHash };
  const manifestBytes = await get(WEB_BUILD_MANIFEST);
  if (manifestBytes === null) {
    return { logged: logged.length, ...(latest ? { latest } : {}), served: false, matching: 0, findings: [] };
  }
  const manifestText = new TextDecoder().decode(manifestBytes);
  let manifest: WebBuildManifest | undefined;
  try {
    manifest = parseManifest(manifestText);
  } catch (e) {
    if (!(e instanceof WebBuildError)) throw e;
  }
  const files = new Map<string, Uint8Array | null>();
  for (const path of pathsToFetch(logged, manifest)) files.set(path, await get(path));
  const check = await checkServedWebApp(logged, { manifestText, files });
  return { ...check, logged: logged.length, ...(latest ? { latest } : {}), served: true };
}
