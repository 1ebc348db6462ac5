/** The web app's local search index (web-client/src/screens/search-index.ts): incremental adds by
 * id, results grouped by group, a serialised form that restores the same answers, and highlighting
 * that never builds markup from the text. */
import { highlight, INDEX_FORMAT, SearchIndex, snippet, type IndexedMessage } from '../web-client/src/screens/search-index.js';
import { Coverage, NOT_YET_WAIT_MS, STEP_MESSAGES, type ListedGroup, type Slice } from '../web-client/src/screens/search-coverage.js';
import { AppData } from '../web-client/src/engine/app-data.js';
import { openClientStore } from '../client-sdk/src/store/client-store.js';
import { MemoryStorage } from '../client-sdk/src/store/memory-store.js';

const msg = (id: string, groupId: string, text: string, senderName = 'Ben Weber', sentAt = 1_700_000_000_000): IndexedMessage => ({ id, groupId, senderName, sentAt, text });

const messages = [
  msg('m1', 'g_bau', 'Die Baustelle am Marktplatz ist ab Montag gesperrt.'),
  msg('m2', 'g_bau', 'Bagger kommt Dienstag zur Baustelle.', 'Anna Schmidt'),
  msg('m3', 'g_garten', 'Neue Baumschnitt-Termine im Stadtpark.'),
  msg('m4', 'g_garten', 'Urlaubsfoto vom Bodensee', 'Anna Schmidt'),
];

describe('SearchIndex', () => {
  it('adds each message once, however often it is offered', () => {
    const index = SearchIndex.empty();
    expect(index.add(messages)).toBe(4);
    expect(index.add(messages)).toBe(0);
    expect(index.add([...messages, msg('m5', 'g_bau', 'Baustelle geräumt'), msg('m5', 'g_bau', 'Baustelle geräumt')])).toBe(1);
    expect(index.size).toBe(5);
    expect(index.add([msg('m6', 'g_bau', '   ')])).toBe(0);
  });

  it('groups results by group, with word-start matches', () => {
    const index = SearchIndex.empty();
    index.add(messages);
    const groups = index.search('baust');
    expect(groups.map((g) => g.groupId)).toEqual(['g_bau']);
    expect(groups[0].hits.map((h) => h.id).sort()).toEqual(['m1', 'm2']);
    expect(index.search('anna').flatMap((g) => g.hits.map((h) => h.id)).sort()).toEqual(['m2', 'm4']);
    expect(index.search('Bodensee')[0].hits[0]).toMatchObject({ id: 'm4', groupId: 'g_garten', senderName: 'Anna Schmidt', text: 'Urlaubsfoto vom Bodensee' });
    expect(index.search('Rathaus')).toEqual([]);
    expect(index.search('   ')).toEqual([]);
  });

  it('needs every word of the query', () => {
    const index = SearchIndex.empty();
    index.add(messages);
    expect(index.search('Baustelle Bagger').flatMap((g) => g.hits.map((h) => h.id))).toEqual(['m2']);
  });

  it('restores from its serialised form with the same answers, and keeps adding incrementally', () => {
    const index = SearchIndex.empty();
    index.add(messages);
    const text = index.serialise();
    expect(JSON.parse(text).format).toBe(INDEX_FORMAT);
    const back = SearchIndex.load(text);
    expect(back.size).toBe(4);
    expect(back.search('baust')).toEqual(index.search('baust'));
    expect(back.add(messages)).toBe(0);
    expect(back.add([msg('m7', 'g_garten', 'Baustelle im Park')])).toBe(1);
    expect(back.search('baustelle').map((g) => g.groupId).sort()).toEqual(['g_bau', 'g_garten']);
  });

  it('starts empty from anything it cannot read', () => {
    expect(SearchIndex.load(undefined).size).toBe(0);
    expect(SearchIndex.load('not json').size).toBe(0);
    expect(SearchIndex.load(JSON.stringify({ format: 'other', index: '{}' })).size).toBe(0);
    expect(SearchIndex.load(JSON.stringify({ format: INDEX_FORMAT, index: '{"broken":' })).size).toBe(0);
  });

  it('forgets a group', () => {
    const index = SearchIndex.empty();
    index.add(messages);
    index.dropGroup('g_bau');
    expect(index.search('baustelle')).toEqual([]);
    expect(index.search('Bodensee')).toHaveLength(1);
  });

  it('knows which groups it holds, also after a restore', () => {
    const index = SearchIndex.empty();
    index.add(messages);
    expect([...index.groupIds()].sort()).toEqual(['g_bau', 'g_garten']);
    index.dropGroup('g_garten');
    expect([...index.groupIds()]).toEqual(['g_bau']);
    expect([...SearchIndex.load(index.serialise()).groupIds()]).toEqual(['g_bau']);
  });

  it("reads an earlier release's value (the index as a JSON string, no list of groups), also in batches", async () => {
    const index = SearchIndex.empty();
    index.add(messages);
    const earlier = JSON.stringify({ format: INDEX_FORMAT, index: JSON.stringify(JSON.parse(index.serialise()).index) });
    for (const back of [SearchIndex.load(earlier), await SearchIndex.loadAsync(earlier), await SearchIndex.loadAsync(index.serialise())]) {
      expect(back.size).toBe(4);
      expect([...back.groupIds()].sort()).toEqual(['g_bau', 'g_garten']);
      expect(back.search('baust')).toEqual(index.search('baust'));
    }
    await expect(SearchIndex.loadAsync('{"format":"agora-search-v1","index":{"broken":1}}').then((i) => i.size)).resolves.toBe(0);
  });
});

describe('Coverage: every member group, in slices', () => {
  const many = (groupId: string, n: number, word = 'Rundschreiben') => Array.from({ length: n }, (_, i) => msg(`${groupId}-${i}`, groupId, `${word} Nummer ${i} aus ${groupId}`));
  const listed = (id: string, isMember = true, kind: ListedGroup['kind'] = 'secret'): ListedGroup => ({ id, kind, isMember });

  /** Slices handed out by hand, each with no time left (as an idle callback at its timeout), so
   * that every slice does exactly one step. */
  function manualSlices() {
    const waiting: ((s: Slice) => void)[] = [];
    return {
      wait: () => new Promise<Slice>((resolve) => waiting.push(resolve)),
      /** Grants `n` slices, one after the other, letting each one's step run. */
      async grant(n: number) {
        for (let i = 0; i < n; i++) {
          for (let tries = 0; waiting.length === 0 && tries < 20; tries++) await Promise.resolve();
          const next = waiting.shift();
          if (!next) return;
          next(() => 0);
          for (let k = 0; k < 5; k++) await Promise.resolve();
        }
      },
      get pending() {
        return waiting.length;
      },
    };
  }

  it('indexes the stored messages of every member group, a step per slice, and says how far it is', async () => {
    const inA = 2 * STEP_MESSAGES + Math.floor(STEP_MESSAGES / 2);
    const inB = STEP_MESSAGES - 5;
    const stored: Record<string, IndexedMessage[]> = { g_a: many('g_a', inA), g_b: many('g_b', inB, 'Streusalz'), g_pub: many('g_pub', 5) };
    const index = SearchIndex.empty();
    const slices = manualSlices();
    const reads: string[] = [];
    const changes: number[] = [];
    const coverage = new Coverage(index, (g) => (reads.push(g), stored[g] ?? []), (added) => changes.push(added), slices.wait);
    expect(coverage.progress()).toEqual({ done: 0, total: 0 });
    // Before the first list of groups, live messages of any group go in.
    expect(coverage.mayIndex('g_anything')).toBe(true);
    // Not joined: a public group is not covered (the device holds nothing of it).
    coverage.setGroups([listed('g_a'), listed('g_b'), listed('g_pub', false, 'public')]);
    expect(coverage.progress()).toEqual({ done: 0, total: 2 });
    expect(index.size).toBe(0);
    await slices.grant(1); // reads g_a's stored messages
    expect(reads).toEqual(['g_a']);
    await slices.grant(1); // the first step of them
    expect(index.size).toBe(STEP_MESSAGES);
    expect(coverage.progress()).toEqual({ done: 0, total: 2 });
    await slices.grant(2);
    expect(index.size).toBe(inA);
    expect(coverage.progress()).toEqual({ done: 1, total: 2 });
    await slices.grant(2);
    expect(coverage.progress()).toEqual({ done: 2, total: 2 });
    expect(index.search('Streusalz')[0].groupId).toBe('g_b');
    expect(changes.reduce((a, b) => a + b, 0)).toBe(inA + inB);
    expect(reads).toEqual(['g_a', 'g_b']);
    expect(slices.pending).toBe(0);
  });

  it('skips what the index holds already, and covers a group joined later', async () => {
    const stored: Record<string, IndexedMessage[]> = { g_a: many('g_a', 20), g_new: many('g_new', 3, 'Winterdienst') };
    const index = SearchIndex.empty();
    index.add(stored.g_a.slice(0, 15));
    const changes: number[] = [];
    const coverage = new Coverage(index, (g) => stored[g] ?? [], (added) => changes.push(added), async () => () => 0);
    coverage.setGroups([listed('g_a')]);
    await coverage.run();
    expect(changes.reduce((a, b) => a + b, 0)).toBe(5);
    expect(coverage.progress()).toEqual({ done: 1, total: 1 });
    coverage.setGroups([listed('g_a'), listed('g_new')]);
    expect(coverage.progress()).toEqual({ done: 1, total: 2 });
    await coverage.run();
    expect(coverage.progress()).toEqual({ done: 2, total: 2 });
    expect(index.search('Winterdienst').map((g) => g.groupId)).toEqual(['g_new']);
  });

  it('waits while the device is still loading its stored messages, instead of taking none for all', async () => {
    const held = many('g_a', 12, 'Streusalz');
    let loaded = false;
    const pauses: number[] = [];
    const index = SearchIndex.empty();
    const coverage = new Coverage(
      index,
      (g) => (loaded ? (g === 'g_a' ? held : []) : undefined),
      () => undefined,
      async () => () => 0,
      async (ms) => {
        pauses.push(ms);
        // The device finishes loading while the pass waits for the second time.
        if (pauses.length === 2) loaded = true;
      },
    );
    coverage.setGroups([listed('g_a')]);
    await coverage.run();
    expect(pauses).toEqual([NOT_YET_WAIT_MS, NOT_YET_WAIT_MS]);
    expect(index.size).toBe(12);
    expect(coverage.progress()).toEqual({ done: 1, total: 1 });
  });

  it('drops the groups the person can no longer open, keeps a public group they left', async () => {
    const stored: Record<string, IndexedMessage[]> = { g_secret: many('g_secret', 10, 'Haushalt'), g_pub: many('g_pub', 10, 'Sommerfest'), g_gone: many('g_gone', 10, 'Altpapier') };
    const index = SearchIndex.empty();
    const changes: number[] = [];
    const coverage = new Coverage(index, (g) => stored[g] ?? [], (added) => changes.push(added), async () => () => 0);
    coverage.setGroups([listed('g_secret'), listed('g_pub', true, 'public'), listed('g_gone', true, 'public')]);
    await coverage.run();
    expect(index.size).toBe(30);
    // Removed from the secret group (listed, no longer a member), left the public one, the third deleted.
    expect(coverage.setGroups([listed('g_secret', false), listed('g_pub', false, 'public')])).toBe(true);
    expect(index.search('Haushalt')).toEqual([]);
    expect(index.search('Altpapier')).toEqual([]);
    expect(index.search('Sommerfest').map((g) => g.groupId)).toEqual(['g_pub']);
    expect([...index.groupIds()]).toEqual(['g_pub']);
    expect(coverage.progress()).toEqual({ done: 0, total: 0 });
    expect(coverage.mayIndex('g_secret')).toBe(false);
    expect(coverage.mayIndex('g_pub')).toBe(true);
    // Nothing more to drop: no change reported.
    expect(coverage.setGroups([listed('g_pub', false, 'public')])).toBe(false);
  });

  it('abandons a group that leaves the list half-way, and stops on lock', async () => {
    const stored: Record<string, IndexedMessage[]> = { g_big: many('g_big', 500), g_b: many('g_b', 5) };
    const index = SearchIndex.empty();
    const slices = manualSlices();
    const coverage = new Coverage(index, (g) => stored[g] ?? [], () => undefined, slices.wait);
    coverage.setGroups([listed('g_big'), listed('g_b')]);
    await slices.grant(3);
    expect(index.size).toBe(2 * STEP_MESSAGES);
    coverage.setGroups([listed('g_b')]);
    expect(index.size).toBe(0);
    await slices.grant(3);
    expect(index.size).toBe(5);
    expect([...index.groupIds()]).toEqual(['g_b']);
    expect(coverage.progress()).toEqual({ done: 1, total: 1 });

    const other = new Coverage(SearchIndex.empty(), (g) => stored[g] ?? [], () => undefined, slices.wait);
    other.setGroups([listed('g_big')]);
    other.stop();
    await slices.grant(1);
    await expect(other.run()).resolves.toBeUndefined();
    expect(other.progress()).toEqual({ done: 0, total: 1 });
  });
});

describe('the index at rest', () => {
  it('is stored encrypted with the device state: no message text, sender or group id in the stored bytes', async () => {
    const disk = new MemoryStorage();
    const key = crypto.getRandomValues(new Uint8Array(32));
    const index = SearchIndex.empty();
    index.add([...messages, msg('m9', 'g_geheim_ausschuss', 'Kündigung Hausmeister Weidenfeld vertraulich', 'Quirin Ostermeier')]);
    let store = await openClientStore({ backend: disk.backend(), key });
    await new AppData(store).putValue('search-index', index.serialise());
    await store.close();

    const raw = disk.records().map((r) => Buffer.from(r.value).toString('latin1')).join('\n');
    expect(raw.length).toBeGreaterThan(0);
    for (const clear of ['Weidenfeld', 'weidenfeld', 'Ostermeier', 'ostermeier', 'g_geheim_ausschuss', 'Baustelle', 'baustelle', 'Bodensee', INDEX_FORMAT]) {
      expect({ clear, found: raw.includes(clear) }).toEqual({ clear, found: false });
    }
    // The same as UTF-16, in case a backend stored strings.
    expect(disk.records().some((r) => Buffer.from(r.value).toString('utf16le').includes('Weidenfeld'))).toBe(false);

    store = await openClientStore({ backend: disk.backend(), key });
    const back = SearchIndex.load(await new AppData(store).value('search-index'));
    await store.close();
    expect(back.search('weidenfeld')[0].hits[0]).toMatchObject({ id: 'm9', groupId: 'g_geheim_ausschuss', senderName: 'Quirin Ostermeier' });
    expect(back.size).toBe(5);
  });
});

describe('highlight and snippet', () => {
  it('marks the matched words, case-insensitively, and keeps the text whole', () => {
    const parts = highlight('Die Baustelle, die BAUSTELLE und <b>x</b>', ['baustelle']);
    expect(parts.map((p) => p.text).join('')).toBe('Die Baustelle, die BAUSTELLE und <b>x</b>');
    expect(parts.filter((p) => p.match).map((p) => p.text)).toEqual(['Baustelle', 'BAUSTELLE']);
    expect(highlight('a (b) c', ['(b)']).filter((p) => p.match).map((p) => p.text)).toEqual(['(b)']);
    expect(highlight('text', [])).toEqual([{ text: 'text', match: false }]);
  });

  it('cuts a long text around the first match', () => {
    const long = `${'x '.repeat(200)}Baustelle${' y'.repeat(200)}`;
    const s = snippet(long, ['baustelle'], 20);
    expect(s).toContain('Baustelle');
    expect(s.startsWith('…') && s.endsWith('…')).toBe(true);
    expect(s.length).toBeLessThan(60);
    expect(snippet('kurz', ['kurz'])).toBe('kurz');
  });
});
