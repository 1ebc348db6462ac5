/** The web app's local search index (web-client/src/screens/search-index.ts): incremental adds by
 * id, results grouped by group, a serialised form that restores the same answers, and highlighting
 * that never builds markup from the text. */
import { highlight, INDEX_FORMAT, SearchIndex, snippet, type IndexedMessage } from '../web-client/src/screens/search-index.js';

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
