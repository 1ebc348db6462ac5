/** Which part of a conversation the group screen draws. A long history is never drawn whole: a
 * phone slows down with thousands of message nodes, and the person reads a screenful at a time. The
 * window is counted from the newest message, so messages that arrive at the end do not move it:
 * `skip` newest ones are left out (0 while the person follows the conversation) and `shown` is how
 * far back it reaches. Scrolling up draws a page more at the top; past `max` drawn, the newest
 * drawn page goes (and comes back when the person scrolls down again). Pure, so it is tested on
 * its own. */

export interface MessageWindow {
  /** Distance from the end of the oldest message drawn (1 = the newest). */
  shown: number;
  /** Newest messages not drawn. */
  skip: number;
}

/** The indices of the messages drawn, as for `items.slice(start, end)`. */
export function drawnRange(length: number, w: MessageWindow): { start: number; end: number } {
  const end = Math.max(0, length - w.skip);
  return { start: Math.max(0, length - w.shown), end };
}

/** One page older at the top; the newest drawn go beyond `max`. */
export function olderPage(w: MessageWindow, length: number, page: number, max: number): MessageWindow {
  const shown = Math.min(Math.max(length, w.shown), w.shown + page);
  return { shown, skip: Math.max(w.skip, shown - max) };
}

/** One page newer at the bottom; the oldest drawn go beyond `max`. */
export function newerPage(w: MessageWindow, page: number, max: number): MessageWindow {
  const skip = Math.max(0, w.skip - page);
  return { shown: Math.min(w.shown, skip + max), skip };
}

/** The newest page, as when a group opens (and after sending, which shows the message at the end). */
export function latest(page: number): MessageWindow {
  return { shown: page, skip: 0 };
}

/** A window that draws the message at `distance` from the end (1 = the newest), moved in whole
 * pages so it is the same window for the same message; unchanged when it is drawn already. */
export function revealing(w: MessageWindow, distance: number, page: number, max: number): MessageWindow {
  if (distance > w.skip && distance <= w.shown) return w;
  const shown = Math.max(page, Math.ceil(distance / page) * page);
  return { shown, skip: Math.max(0, shown - max) };
}
