/** The web app's first screen without the SDK: the profile probe that picks the invite or PIN form
 * from a plain IndexedDB read (over fake-indexeddb here, with the SDK's own backend writing the
 * database), the build step that lists the chunks to preload (the SDK's, the unlocked app's), the
 * build step that paints a first screen into index.html, and counts in words. */
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { IndexedDbBackend } from '../client-sdk/src/store/indexeddb-store.js';
import { probeProfile } from '../web-client/src/profile-probe.js';
import { addPreloadMeta, preloadChunks } from '../web-client/tools/integrity.js';
import { withFirstScreen } from '../web-client/tools/first-screens.js';
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

describe('a first screen painted into index.html', () => {
  const shell = '<!doctype html>\n<html lang="de">\n<body><div id="app"></div><noscript>x</noscript></body></html>';
  const screen = (markup: string, lang: 'de' | 'en' = 'de') => ({ file: `first/pin-${lang}.html`, screen: 'pin' as const, lang, markup });

  it('goes inside the app element, with the language of its words', () => {
    expect(withFirstScreen(shell, screen('<main><p>PIN</p></main>', 'en'))).toBe('<!doctype html>\n<html lang="en">\n<body><div id="app" data-first-screen="pin"><main><p>PIN</p></main></div><noscript>x</noscript></body></html>');
  });

  it('makes its forms submit nowhere, so Enter before the app runs cannot put a PIN into a URL', () => {
    const html = withFirstScreen(shell, screen('<form class="f"><input id="p" type="password"></form><form method="dialog"></form>'));
    expect(html).toContain('<form method="dialog" class="f">');
    expect(html.match(/method="dialog"/g)).toHaveLength(2);
  });

  it('disables its buttons until the app has replaced them, so a tap before then is not silently lost', () => {
    const html = withFirstScreen(shell, screen('<button type="submit" class="b">Weiter</button><button disabled>x</button>'));
    expect(html).toContain('<button disabled type="submit" class="b">Weiter</button><button disabled>x</button>');
  });

  it('fails the build for markup that needs a script or an inline style, or a page without one empty app element', () => {
    expect(() => withFirstScreen(shell, screen('<script>x()</script>'))).toThrow(/script, an event handler or an inline style/);
    expect(() => withFirstScreen(shell, screen('<button onclick="x()">'))).toThrow(/event handler/);
    expect(() => withFirstScreen(shell, screen('<p style="color:red">'))).toThrow(/inline style/);
    expect(() => withFirstScreen(shell.replace('<div id="app"></div>', ''), screen('<p>'))).toThrow(/one empty/);
    expect(() => withFirstScreen(shell.replace('lang="de"', 'lang="fr"'), screen('<p>'))).toThrow(/lang="de"/);
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
