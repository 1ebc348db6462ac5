/** Links to one message (`/gruppen/<id>#m-<messageId>`, from Suche): the address the search screen
 * writes is the one the group screen reads back, the element id matches it, and a message older
 * than the drawn page is reached by drawing older pages, or reported missing once the group's
 * full read is in. */
import { elementIdOf, locateMessage, messageElementId, messageHref, messageIdOfHash } from '../web-client/src/views/message-anchor.js';

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, key: `r${i}` }));

describe('message links', () => {
  it('round-trips ids with characters a URL must escape', () => {
    const id = 'rec/1 ä#x';
    const href = messageHref('g_1', id);
    expect(href.startsWith('/gruppen/g_1#m-')).toBe(true);
    const hash = href.slice(href.indexOf('#'));
    expect(messageIdOfHash(hash)).toBe(id);
    expect(elementIdOf(id)).toBe(messageElementId({ id, key: 'other' }));
  });

  it('ignores fragments that name no message', () => {
    expect(messageIdOfHash('')).toBeUndefined();
    expect(messageIdOfHash('#main')).toBeUndefined();
    expect(messageIdOfHash('#m-')).toBeUndefined();
    expect(messageIdOfHash('#m-%E0%A4%A')).toBeUndefined();
  });

  it('an unsent message is named by its key until it has a record id', () => {
    expect(messageElementId({ key: 'outbox-3' })).toBe('m-outbox-3');
    expect(locateMessage([{ key: 'outbox-3' }], 'outbox-3', 150, 150, true)).toEqual({ state: 'found', shown: 150 });
    // Once it has an id, its old key no longer names it.
    expect(locateMessage([{ id: 'r9', key: 'outbox-3' }], 'outbox-3', 150, 150, true)).toEqual({ state: 'missing' });
  });
});

describe('finding the linked message among drawn pages', () => {
  it('leaves the page as it is when the message is drawn', () => {
    expect(locateMessage(items(400), 'r399', 150, 150, true)).toEqual({ state: 'found', shown: 150 });
    expect(locateMessage(items(400), 'r250', 150, 150, true)).toEqual({ state: 'found', shown: 150 });
  });

  it('draws older pages, a page at a time, until an old message is drawn', () => {
    // r249 is the 151st newest: one more page.
    expect(locateMessage(items(400), 'r249', 150, 150, true)).toEqual({ state: 'found', shown: 300 });
    // r0 is the 400th newest: two more pages.
    expect(locateMessage(items(400), 'r0', 150, 150, true)).toEqual({ state: 'found', shown: 450 });
    expect(locateMessage(items(400), 'r0', 300, 150, true)).toEqual({ state: 'found', shown: 450 });
  });

  it('waits for the full read, then says the message is gone', () => {
    expect(locateMessage(items(10), 'nope', 150, 150, false)).toEqual({ state: 'waiting' });
    expect(locateMessage(items(10), 'nope', 150, 150, true)).toEqual({ state: 'missing' });
    expect(locateMessage([], 'nope', 150, 150, true)).toEqual({ state: 'missing' });
  });
});
