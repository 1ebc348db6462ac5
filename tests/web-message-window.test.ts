/** The group screen's drawn window over a long conversation: a page at a time at either end, never
 * more than the maximum drawn, and a linked message always inside it. */
import { drawnRange, latest, newerPage, olderPage, revealing, type MessageWindow } from '../web-client/src/views/message-window.js';

const PAGE = 150;
const MAX = 450;
const count = (length: number, w: MessageWindow) => {
  const { start, end } = drawnRange(length, w);
  return end - start;
};

describe('message window', () => {
  it('draws the newest page of a long conversation, and no more than the maximum however far back one scrolls', () => {
    const length = 10_000;
    let w = latest(PAGE);
    expect(drawnRange(length, w)).toEqual({ start: 9_850, end: 10_000 });
    for (let i = 0; i < 100; i++) {
      const before = drawnRange(length, w).start;
      w = olderPage(w, length, PAGE, MAX);
      const now = drawnRange(length, w);
      expect(count(length, w)).toBeLessThanOrEqual(MAX);
      // The message that was the oldest drawn is still drawn (the place is kept), or the start was reached.
      expect(now.start <= before && before < now.end).toBe(true);
    }
    expect(drawnRange(length, w)).toEqual({ start: 0, end: MAX });
    // And back down to the newest, the same bound.
    while (w.skip > 0) {
      const last = drawnRange(length, w).end - 1;
      w = newerPage(w, PAGE, MAX);
      expect(count(length, w)).toBeLessThanOrEqual(MAX);
      expect(drawnRange(length, w).start).toBeLessThanOrEqual(last);
    }
    expect(drawnRange(length, w)).toEqual({ start: length - MAX, end: length });
  });

  it('a short conversation is drawn whole, and paging does nothing', () => {
    const w = latest(PAGE);
    expect(drawnRange(40, w)).toEqual({ start: 0, end: 40 });
    expect(drawnRange(40, olderPage(w, 40, PAGE, MAX))).toEqual({ start: 0, end: 40 });
    expect(newerPage(w, PAGE, MAX)).toEqual(w);
  });

  it('messages arriving at the end do not move a window that follows the newest', () => {
    const w = latest(PAGE);
    expect(drawnRange(500, w)).toEqual({ start: 350, end: 500 });
    expect(drawnRange(501, w)).toEqual({ start: 351, end: 501 });
  });

  it('reveals a linked message wherever it is, in whole pages, and keeps a window that has it', () => {
    const length = 10_000;
    for (const distance of [1, 150, 151, 160, 449, 451, 5_000, 10_000]) {
      const w = revealing(latest(PAGE), distance, PAGE, MAX);
      const { start, end } = drawnRange(length, w);
      expect(start <= length - distance && length - distance < end).toBe(true);
      expect(end - start).toBeLessThanOrEqual(MAX);
    }
    const here = latest(PAGE);
    expect(revealing(here, 20, PAGE, MAX)).toBe(here);
    // A link to a newer message than those drawn (the person had scrolled far up).
    const far = revealing(here, 9_000, PAGE, MAX);
    const back = revealing(far, 3, PAGE, MAX);
    expect(drawnRange(length, back).end).toBe(length);
  });
});
