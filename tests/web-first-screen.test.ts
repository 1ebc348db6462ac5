/** The web app's first screen without the SDK: the profile probe that picks the invite or PIN form
 * from a plain IndexedDB read (over fake-indexeddb here, with the SDK's own backend writing the
 * database), the build step that lists the chunks to preload (the SDK's, the unlocked app's), and counts in words. */
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { IndexedDbBackend } from '../client-sdk/src/store/indexeddb-store.js';
import { probeProfile } from '../web-client/src/profile-probe.js';
import { addPreloadMeta, blockRenderOnEntry, preloadChunks } from '../web-client/tools/integrity.js';
import { addWords, setLang, t, tn } from '../web-client/src/i18n/index.js';
import { screenWords } from '../web-client/src/screens/words.js';

const NAME = 'agora-profile';
const header = (...kinds: string[]) => new TextEncoder().encode(JSON.stringify({ format: 'agora-key-header', v: 1, slots: kinds.map((kind) => ({ kind })) }));

async function withHeader(idb: IDBFactory, bytes?: Uint8Array): Promise<void> {
  const backend = await IndexedDbBackend.open({ name: NAME, env: { indexedDB: idb, IDBKeyRange } });
  if (bytes) await backend.writeHeader(bytes);
  await backend.close();
}

describe('profile probe', () => {
  it('finds no profile in a browser that never ran Agora, and does not create the database', async () => {
    const idb = new IDBFactory();
    await expect(probeProfile(NAME, idb)).resolves.toBe('none');
    expect((await idb.databases()).map((d) => d.name)).toEqual([]);
  });

  it('treats a database without a key header as no profile (as the engine does)', async () => {
    const idb = new IDBFactory();
    await withHeader(idb);
    await expect(probeProfile(NAME, idb)).resolves.toBe('none');
  });

  it('says "pin" only when every slot is a passphrase slot', async () => {
    const idb = new IDBFactory();
    await withHeader(idb, header('argon2id'));
    await expect(probeProfile(NAME, idb)).resolves.toBe('pin');

    const device = new IDBFactory();
    await withHeader(device, header('argon2id', 'webcrypto-aes-gcm'));
    await expect(probeProfile(NAME, device)).resolves.toBe('other');
  });

  it('leaves a damaged header and a browser without databases() to the SDK', async () => {
    const idb = new IDBFactory();
    await withHeader(idb, new TextEncoder().encode('{not json'));
    await expect(probeProfile(NAME, idb)).resolves.toBe('other');
    const old = { open: idb.open.bind(idb) } as unknown as IDBFactory;
    await expect(probeProfile(NAME, old)).resolves.toBe('other');
    await expect(probeProfile(NAME, undefined)).resolves.toBe('other');
  });
});

describe('chunks preloaded after the first paint', () => {
  const chunk = (fileName: string, imports: string[], isEntry = false, facadeModuleId: string | null = null) => [fileName, { fileName, imports, isEntry, facadeModuleId }] as const;

  it('lists the SDK chunk and its static imports, not what the entry already loads', () => {
    const chunks = new Map([
      chunk('assets/index.js', ['assets/runtime.js'], true, '/w/web-client/src/main.tsx'),
      chunk('assets/runtime.js', []),
      chunk('assets/browser.js', ['assets/runtime.js', 'assets/index.js', 'assets/zod.js', 'assets/sodium.js'], false, '/w/client-sdk/dist/browser.js'),
      chunk('assets/zod.js', ['assets/runtime.js']),
      chunk('assets/sodium.js', []),
      chunk('assets/libsodium.js', [], false, '/w/node_modules/libsodium-wrappers/x.js'),
    ]);
    expect(preloadChunks(chunks)).toEqual(['assets/browser.js', 'assets/sodium.js', 'assets/zod.js']);
    expect(preloadChunks(new Map([chunk('assets/index.js', [], true)]))).toEqual([]);
  });

  it("then the unlocked app's shell and its imports, each chunk once, not the screens it loads lazily", () => {
    const chunks = new Map([
      chunk('assets/index.js', ['assets/runtime.js'], true, '/w/web-client/src/main.tsx'),
      chunk('assets/runtime.js', []),
      chunk('assets/browser.js', ['assets/zod.js'], false, '/w/client-sdk/dist/browser.js'),
      chunk('assets/zod.js', []),
      chunk('assets/shell.js', ['assets/zod.js', 'assets/layout.js', 'assets/runtime.js'], false, '/w/web-client/src/shell.tsx'),
      chunk('assets/layout.js', []),
      chunk('assets/start.js', [], false, '/w/web-client/src/views/start.tsx'),
    ]);
    expect(preloadChunks(chunks)).toEqual(['assets/browser.js', 'assets/zod.js', 'assets/layout.js', 'assets/shell.js']);
  });

  it('writes them into a meta element, no script', () => {
    const html = '<head><title>Agora</title></head>';
    expect(addPreloadMeta(html, ['assets/a.js', 'assets/b.js'], '/')).toBe('<head><title>Agora</title>\n    <meta name="agora-preload" content="/assets/a.js /assets/b.js" /></head>');
    expect(addPreloadMeta(html, [], '/')).toBe(html);
  });
});

describe('the entry script', () => {
  it('holds back rendering until it has run, so no empty frame is painted before the first screen', () => {
    const html = '<head><script type="module" crossorigin src="/assets/index-x.js"></script><script type="importmap">{}</script></head>';
    expect(blockRenderOnEntry(html)).toBe('<head><script type="module" blocking="render" crossorigin src="/assets/index-x.js"></script><script type="importmap">{}</script></head>');
  });
  it('is exactly one: the build fails otherwise', () => {
    expect(() => blockRenderOnEntry('<head></head>')).toThrow(/one entry script, found 0/);
    const two = '<script type="module" src="/a.js"></script><script type="module" src="/b.js"></script>';
    expect(() => blockRenderOnEntry(two)).toThrow(/found 2/);
  });
});

describe('counts in words', () => {
  afterEach(() => setLang('de'));
  it("has the screens' words only once the chunk that brings them has added them", () => {
    expect(() => t('search.title')).toThrow(/no words for search\.title yet/);
    addWords(screenWords);
    expect(t('search.title')).toBe('Suche');
  });
  it('uses the plural rules of the language', () => {
    expect(tn('search.scope', 1)).toContain('(1 Nachricht)');
    expect(tn('search.scope', 2)).toContain('(2 Nachrichten)');
    expect(tn('security.entries', 1)).toBe('1 Eintrag');
    setLang('en');
    expect(tn('search.scope', 1)).toContain('(1 message)');
    expect(tn('security.entries', 1_234)).toBe('1,234 entries');
  });
});
