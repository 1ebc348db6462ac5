/** The web app's core rules that need no browser: conversation order and de-duplication, unread
 * counts, the router's path patterns, the word catalogue (both languages complete, same
 * placeholders) and the error → words mapping. */
import { countUnread, insertInOrder, mergeRead, type Ordered } from '../web-client/src/engine/ordering.js';
import { matchPath, pathTo } from '../web-client/src/router.js';
import { words as coreWords } from '../web-client/src/i18n/catalogue.js';
import { screenWords } from '../web-client/src/screens/words.js';
import { currentLang, setLang, t, tn } from '../web-client/src/i18n/index.js';
import { problemOf } from '../web-client/src/engine/problems.js';

const m = (id: string, opts: { seq?: number; mine?: boolean } = {}): Ordered & { id: string } => ({ id, seq: opts.seq, mine: opts.mine ?? false });
const ids = (list: Ordered[]) => list.map((x) => x.id);

describe('conversation order', () => {
  it('never adds a message twice, wherever the copy comes from', () => {
    let list = [m('a'), m('b')];
    list = insertInOrder(list, m('b'));
    list = insertInOrder(list, m('c'));
    list = insertInOrder(list, m('c'));
    expect(ids(list)).toEqual(['a', 'b', 'c']);
  });

  it('places a message by its log seq when it has one, else after the others', () => {
    let list = [m('a', { seq: 1 }), m('c', { seq: 3 })];
    list = insertInOrder(list, m('b', { seq: 2 }));
    list = insertInOrder(list, m('d'));
    expect(ids(list)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a read replaces what was shown and keeps what arrived while it ran, after it', () => {
    const before = [m('a'), m('b')];
    const known = new Set(before.map((x) => x.id));
    // While the read ran, 'd' was pushed; the read returns a..c (it started before d existed).
    const current = [...before, m('d')];
    expect(ids(mergeRead([m('a'), m('b'), m('c')], current, known))).toEqual(['a', 'b', 'c', 'd']);
    // A push the read already covers is not shown twice.
    expect(ids(mergeRead([m('a'), m('b'), m('c'), m('d')], current, known))).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('unread counts', () => {
  const list = [m('a'), m('b', { mine: true }), m('c'), m('d')];
  it('counts messages from others after the last one seen', () => {
    expect(countUnread(list, { lastReadId: 'b' })).toBe(2);
    expect(countUnread(list, { lastReadId: 'd' })).toBe(0);
  });
  it('counts everything from others when nothing was seen or the marker is gone', () => {
    expect(countUnread(list, undefined)).toBe(3);
    expect(countUnread(list, { lastReadId: 'zz' })).toBe(3);
  });
  it('uses the log seq where every message has one', () => {
    const seqd = [m('a', { seq: 5 }), m('b', { seq: 6 }), m('c', { seq: 7, mine: true })];
    expect(countUnread(seqd, { lastReadId: 'unknown', lastReadSeq: 5 })).toBe(1);
  });
});

describe('router patterns', () => {
  it('matches parameters and decodes them', () => {
    expect(matchPath('/gruppen/:id', '/gruppen/g_1')).toEqual({ id: 'g_1' });
    expect(matchPath('/gruppen/:id/mitglieder', '/gruppen/g%201/mitglieder')).toEqual({ id: 'g 1' });
    expect(matchPath('/gruppen/:id', '/gruppen/g_1/mitglieder')).toBeNull();
    expect(matchPath('/', '/')).toEqual({});
    expect(matchPath('/gruppen/:id', '/gruppen/%E0%A4%A')).toBeNull();
  });
  it('builds paths with encoded parameters', () => {
    expect(pathTo('/gruppen/:id', { id: 'a/b' })).toBe('/gruppen/a%2Fb');
  });
});

describe('the catalogue', () => {
  // Every part the app's one catalogue is made of (i18n/index.ts).
  const words = { ...coreWords, ...screenWords };
  const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((x) => x[1]).sort();
  it('has every entry in German and English with the same placeholders', () => {
    for (const [key, entry] of Object.entries(words) as [string, { de: string; en: string }][]) {
      expect([key, entry.de.trim().length > 0, entry.en.trim().length > 0]).toEqual([key, true, true]);
      expect([key, placeholders(entry.de)]).toEqual([key, placeholders(entry.en)]);
    }
  });
  it('has no key in two parts (a later part would silently replace the earlier word)', () => {
    expect(Object.keys(coreWords).filter((k) => k in screenWords)).toEqual([]);
  });
  it('addresses people with "Sie", never "du"', () => {
    for (const [key, entry] of Object.entries(words) as [string, { de: string }][]) {
      expect([key, /\b(du|dich|dir|dein|deine)\b/i.test(entry.de)]).toEqual([key, false]);
    }
  });
  it('switches language and formats plurals and numbers by it', () => {
    const was = currentLang();
    try {
      setLang('de');
      expect(t('groups.title')).toBe('Gruppen');
      expect(tn('groups.members', 1)).toBe('1 Mitglied');
      expect(tn('groups.members', 1200)).toBe('1.200 Mitglieder');
      setLang('en');
      expect(tn('groups.members', 1200)).toBe('1,200 members');
    } finally {
      setLang(was);
    }
  });
});

describe('problems in words', () => {
  it('turns every failure into a catalogue entry that says what to do', () => {
    const cases: [unknown, Parameters<typeof problemOf>[1], string][] = [
      [{ code: 'network', message: 'x' }, 'send', 'problem.offlineSend'],
      [{ code: 'network', message: 'x' }, 'general', 'problem.offline'],
      [{ code: 'wrong_passphrase', message: 'x' }, 'unlock', 'problem.wrongPin'],
      [{ code: 'invite_used', message: 'x' }, 'invite', 'problem.inviteUsed'],
      [{ code: 'invite_expired', message: 'x' }, 'invite', 'problem.inviteExpired'],
      [{ code: 'not_found', message: 'x' }, 'invite', 'problem.inviteUnknown'],
      [Object.assign(new Error('full'), { name: 'QuotaExceededError' }), 'general', 'problem.quota'],
      [new TypeError('Failed to fetch dynamically imported module: /assets/browser.js'), 'general', 'problem.offline'],
      [new Error('boom'), 'general', 'problem.unexpected'],
    ];
    for (const [e, ctx, key] of cases) {
      const p = problemOf(e, ctx);
      expect(p.key).toBe(key);
      expect(p.key in coreWords).toBe(true);
    }
    expect(problemOf({ code: 'wrong_passphrase', message: 'x' }, 'unlock').detail).toBeUndefined();
    expect(problemOf(new Error('boom')).detail).toBe('boom');
  });
});
