import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from '../encoding.js';
import { decodeEntry, encodeEntry, EntryError, isWebPath, type WebBuildFile } from './entries.js';
import {
  canonicalManifestText, checkServedWebApp, loggedWebBuilds, makeManifest, parseManifest, pathsToFetch, toHex, webBuildHash,
  WebBuildError, type LoggedWebBuild,
} from './web-build.js';

const file = (path: string, content: string): WebBuildFile & { bytes: Uint8Array } => ({ path, sha256: sha256(utf8(content)), bytes: utf8(content) });
const A = [file('index.html', '<html>'), file('assets/index-abc.js', 'app()'), file('sw.js', 'sw')];
const sorted = (fs: WebBuildFile[]) => [...fs].sort((a, b) => (a.path < b.path ? -1 : 1)).map(({ path, sha256: h }) => ({ path, sha256: h }));

describe('WEB_BUILD entries', () => {
  test('round-trip in one canonical encoding', () => {
    const e = { type: 'web-build' as const, time: 1_700_000_000_000, files: sorted(A) };
    const bytes = encodeEntry(e);
    expect(bytes[0]).toBe(1);
    expect(bytes[1]).toBe(9);
    expect(decodeEntry(bytes)).toEqual(e);
    // trailing bytes, truncation
    expect(() => decodeEntry(new Uint8Array([...bytes, 0]))).toThrow(EntryError);
    expect(() => decodeEntry(bytes.slice(0, -1))).toThrow(EntryError);
  });

  test('refuse unsorted, repeated, empty and unsafe file lists', () => {
    const t = 0;
    const files = sorted(A);
    expect(() => encodeEntry({ type: 'web-build', time: t, files: [files[1], files[0], files[2]] })).toThrow(/sorted/);
    expect(() => encodeEntry({ type: 'web-build', time: t, files: [files[0], files[0]] })).toThrow(/sorted/);
    expect(() => encodeEntry({ type: 'web-build', time: t, files: [] })).toThrow(EntryError);
    for (const path of ['../etc/passwd', '/index.html', 'a//b', 'assets/./x.js', '.env', 'a\\b', 'a b', '']) {
      expect(isWebPath(path)).toBe(false);
      expect(() => encodeEntry({ type: 'web-build', time: t, files: [{ path, sha256: files[0].sha256 }] })).toThrow(EntryError);
    }
    expect(() => encodeEntry({ type: 'web-build', time: t, files: [{ path: 'index.html', sha256: new Uint8Array(31) }] })).toThrow(/32 bytes/);
    expect(isWebPath('assets/index-Ab_1~@+.js')).toBe(true);
  });
});

describe('the build hash and the manifest', () => {
  test('the build hash is SHA-256 of the sha256sum text of the files, sorted by path', () => {
    const text = canonicalManifestText(A);
    expect(text).toBe(`${toHex(A[1].sha256)}  assets/index-abc.js\n${toHex(A[0].sha256)}  index.html\n${toHex(A[2].sha256)}  sw.js\n`);
    expect(webBuildHash(A)).toBe(toHex(sha256(utf8(text))));
    expect(webBuildHash([...A].reverse())).toBe(webBuildHash(A));
  });

  test('a manifest whose build hash its files do not give, or that lists bad paths, is refused', () => {
    const m = makeManifest(A);
    expect(parseManifest(JSON.stringify(m))).toEqual(m);
    expect(() => parseManifest(JSON.stringify({ ...m, buildHash: '0'.repeat(64) }))).toThrow(WebBuildError);
    expect(() => parseManifest(JSON.stringify({ ...m, files: { ...m.files, '../x': '0'.repeat(64) } }))).toThrow(/files/);
    expect(() => parseManifest(JSON.stringify({ ...m, files: { ...m.files, 'build-manifest.json': '0'.repeat(64) } }))).toThrow(WebBuildError);
    expect(() => parseManifest('not json')).toThrow(WebBuildError);
  });
});

describe('checking a served app against the log', () => {
  const log = (files: WebBuildFile[], index: number): LoggedWebBuild => ({ index, at: 0, buildHash: webBuildHash(files), files: sorted(files) });
  const serve = (files: (WebBuildFile & { bytes: Uint8Array })[], manifestOf = files) => ({
    manifestText: JSON.stringify(makeManifest(manifestOf)),
    files: new Map<string, Uint8Array | null>([['', files.find((f) => f.path === 'index.html')!.bytes], ...files.map((f) => [f.path, f.bytes] as [string, Uint8Array])]),
  });

  test('the logged build, served as logged, is clean; every file and the site root count', async () => {
    const r = await checkServedWebApp([log(A, 5)], serve(A));
    expect(r.findings).toEqual([]);
    expect(r.matching).toBe(4);
    expect(r.comparedWith).toEqual({ index: 5, buildHash: webBuildHash(A) });
  });

  test('an older logged build served instead of the latest is reported', async () => {
    const B = [A[0], file('assets/index-abc.js', 'app2()'), A[2]];
    const r = await checkServedWebApp([log(A, 5), log(B, 9)], serve(A));
    expect(r.findings.map((f) => f.code)).toEqual(['web_build_not_latest']);
  });

  test('a changed file under an unchanged manifest is reported by path', async () => {
    const tampered = [A[0], { ...A[1], bytes: utf8('evil()') }, A[2]];
    const r = await checkServedWebApp([log(A, 5)], serve(tampered, A));
    expect(r.findings).toEqual([expect.objectContaining({ code: 'web_file_mismatch', path: 'assets/index-abc.js' })]);
  });

  test('a missing file, and files outside the logged build, are reported', async () => {
    const extra = [...A, file('assets/extra.js', 'x')];
    const served = serve(extra);
    (served.files as Map<string, Uint8Array | null>).set('sw.js', null);
    const r = await checkServedWebApp([log(A, 5)], served);
    expect(r.findings.map((f) => [f.code, f.path]).sort()).toEqual([['web_build_not_logged', undefined], ['web_file_missing', 'sw.js'], ['web_file_unlisted', 'assets/extra.js']]);
    expect(pathsToFetch([log(A, 5)], makeManifest(extra)).sort()).toEqual(['', 'assets/extra.js', 'assets/index-abc.js', 'index.html', 'sw.js']);
  });

  test("the log's builds are read from its entries", () => {
    const entries = [encodeEntry({ type: 'snapshot', time: 1, userCount: 0, snapshotRoot: new Uint8Array(32) }), encodeEntry({ type: 'web-build', time: 2, files: sorted(A) })];
    expect(loggedWebBuilds(entries)).toEqual([{ index: 1, at: 2, buildHash: webBuildHash(A), files: sorted(A) }]);
  });
});
